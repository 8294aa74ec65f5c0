import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../../../src/errors.ts';
import { DB_FILE_NAME, MEMORY, openSqliteStore, storeError, type SqliteStore } from '../../../../src/store/sqlite.ts';
import { API_KEY_PATTERN, type AttestationRecord, type ReceiptRecord } from '../../../../src/store/store.ts';

const root = mkdtempSync(join(tmpdir(), 'attestgate-store-'));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

let n = 0;
const freshDir = (): string => join(root, `d${n++}`);
const open: SqliteStore[] = [];
function openStore(dataDir = freshDir(), clock?: () => number): SqliteStore {
  const s = openSqliteStore(clock === undefined ? { dataDir } : { dataDir, clock });
  open.push(s);
  return s;
}
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function rejection(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (e: unknown) {
    if (AppError.is(e)) return e;
    throw new Error(`not an AppError: ${String(e)}`);
  }
  throw new Error('did not reject');
}

function thrown(fn: () => unknown): AppError {
  try {
    fn();
  } catch (e: unknown) {
    if (AppError.is(e)) return e;
    throw new Error(`not an AppError: ${String(e)}`);
  }
  throw new Error('did not throw');
}

const att: AttestationRecord = {
  id: 'att-1',
  backend: 'enclave-1',
  created_at: 1_700_000_000_000,
  verdict: 'affirming',
  ear_jwt: 'eyJ.a.b',
  evidence_sha256: 'ab'.repeat(32),
  record_json: '{"tee":"tdx"}',
};
const rcp: ReceiptRecord = { id: 'r-1', attestation_id: 'att-1', backend: 'enclave-1', model: 'iris', created_at: 1_700_000_000_001, body_json: '{"x":1}' };

describe('SqliteStore: files and durability', () => {
  it('creates the data directory 0700 and the database 0600, in WAL with synchronous FULL', () => {
    const dir = join(freshDir(), 'nested');
    const s = openStore(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, DB_FILE_NAME)).mode & 0o777).toBe(0o600);
    expect(s.file).toBe(join(dir, DB_FILE_NAME));
    expect(s.diagnostics()).toEqual({ journal_mode: 'wal', synchronous: 'FULL', schema_version: 1 });
  });

  it('keeps everything across close and reopen', async () => {
    const dir = freshDir();
    const a = openSqliteStore({ dataDir: dir });
    const key = await a.createApiKey('acme');
    await a.putAttestation(att);
    await a.putReceipt(rcp);
    const hex = await a.putBlob(new Uint8Array([1, 2, 3]));
    await a.putCollateral('tcb:00906ED50000', new Uint8Array([9]), 5);
    await a.close();
    const b = openStore(dir);
    expect(await b.verifyApiKey(key.secret)).toEqual({ tenant: 'acme', id: key.id });
    expect(await b.getAttestation('att-1')).toEqual(att);
    expect(await b.getReceipt('r-1')).toEqual(rcp);
    expect(await b.getBlob(hex)).toEqual(new Uint8Array([1, 2, 3]));
    expect(await b.getCollateral('tcb:00906ED50000')).toEqual({ bytes: new Uint8Array([9]), expires_at: 5 });
  });

  it('works in memory', async () => {
    const s = openStore(MEMORY);
    expect(s.file).toBe(':memory:');
    await s.putAttestation(att);
    expect(await s.getAttestation(att.id)).toEqual(att);
  });
});

describe('SqliteStore: API keys', () => {
  it('creates ag_<id>_<secret>, stores only its SHA-256, and verifies it', async () => {
    const dir = freshDir();
    const s = openStore(dir, () => 1234);
    const k = await s.createApiKey('acme');
    expect(k.secret).toMatch(API_KEY_PATTERN);
    expect(k.secret.startsWith(`ag_${k.id}_`)).toBe(true);
    expect(k.tenant).toBe('acme');
    expect(await s.verifyApiKey(k.secret)).toEqual({ tenant: 'acme', id: k.id });

    const raw = new Database(join(dir, DB_FILE_NAME), { readonly: true });
    const rows = raw.prepare('SELECT * FROM api_keys').all();
    raw.close();
    const secretPart = k.secret.slice(`ag_${k.id}_`.length);
    expect(JSON.stringify(rows)).not.toContain(secretPart);
    expect(rows).toEqual([{ id: k.id, tenant: 'acme', digest: createHash('sha256').update(k.secret).digest(), created_at: 1234, revoked_at: null }]);
  });

  it('rejects a wrong secret, an unknown id and malformed keys', async () => {
    const s = openStore();
    const k = await s.createApiKey('acme');
    const last = k.secret.at(-1) === 'A' ? 'B' : 'A';
    expect(await s.verifyApiKey(k.secret.slice(0, -1) + last)).toBeUndefined();
    expect(await s.verifyApiKey(`ag_0000000000000000_${k.secret.slice(20)}`)).toBeUndefined();
    for (const bad of ['', 'ag_', k.secret + 'x', k.secret.slice(0, -1), k.secret.toUpperCase(), ` ${k.secret}`, `Bearer ${k.secret}`]) {
      expect(await s.verifyApiKey(bad), bad).toBeUndefined();
    }
  });

  it('revokes: the key stops working, the first revocation time stays, unknown ids say false', async () => {
    let now = 10;
    const s = openStore(freshDir(), () => now);
    const k = await s.createApiKey('acme');
    const other = await s.createApiKey('beta.team-1');
    now = 20;
    expect(await s.revokeApiKey(k.id)).toBe(true);
    now = 30;
    expect(await s.revokeApiKey(k.id)).toBe(true);
    expect(await s.revokeApiKey('ffffffffffffffff')).toBe(false);
    expect(await s.verifyApiKey(k.secret)).toBeUndefined();
    expect(await s.verifyApiKey(other.secret)).toEqual({ tenant: 'beta.team-1', id: other.id });
    const list = await s.listApiKeys();
    expect(list).toHaveLength(2);
    expect(list).toContainEqual({ id: k.id, tenant: 'acme', created_at: 10, revoked_at: 20 });
    expect(list).toContainEqual({ id: other.id, tenant: 'beta.team-1', created_at: 10, revoked_at: null });
    expect(JSON.stringify(list)).not.toContain('ag_');
  });

  it('refuses invalid tenant names with ERR_BAD_REQUEST', async () => {
    const s = openStore(MEMORY);
    for (const t of ['', 'a b', '-x', 'x'.repeat(65), 'ten\nant']) {
      expect((await rejection(s.createApiKey(t))).code, JSON.stringify(t)).toBe('ERR_BAD_REQUEST');
    }
  });
});

describe('SqliteStore: records', () => {
  it('stores write-once attestation records: same content is a no-op, different content ERR_INTERNAL', async () => {
    const s = openStore(MEMORY);
    await s.putAttestation(att);
    await s.putAttestation({ ...att });
    const e = await rejection(s.putAttestation({ ...att, verdict: 'contraindicated' }));
    expect(e.code).toBe('ERR_INTERNAL');
    expect(e.message).toContain('write-once');
    expect(await s.getAttestation(att.id)).toEqual(att);
    expect(await s.getAttestation('nope')).toBeUndefined();
  });

  it('checks attestation fields', async () => {
    const s = openStore(MEMORY);
    expect((await rejection(s.putAttestation({ ...att, evidence_sha256: 'AB'.repeat(32) }))).code).toBe('ERR_INTERNAL');
    expect((await rejection(s.putAttestation({ ...att, id: '' }))).code).toBe('ERR_INTERNAL');
    expect((await rejection(s.putAttestation({ ...att, created_at: 1.5 }))).code).toBe('ERR_INTERNAL');
  });

  it('stores write-once receipts', async () => {
    const s = openStore(MEMORY);
    await s.putReceipt(rcp);
    await s.putReceipt(rcp);
    expect((await rejection(s.putReceipt({ ...rcp, body_json: '{"x":2}' }))).code).toBe('ERR_INTERNAL');
    expect(await s.getReceipt(rcp.id)).toEqual(rcp);
    expect(await s.getReceipt('nope')).toBeUndefined();
  });

  it('commits receipts without an fsync of their own and leaves the connection at synchronous FULL for everything else', async () => {
    const s = openStore();
    await s.putReceipt({ ...rcp, id: 'nosync-1' });
    expect(s.diagnostics().synchronous).toBe('FULL');
    // Also after a failed batch.
    await rejection(s.putReceipt({ ...rcp, id: 'nosync-1', body_json: '{"x":3}' }));
    expect(s.diagnostics().synchronous).toBe('FULL');
    expect(await s.getReceipt('nosync-1')).toEqual({ ...rcp, id: 'nosync-1' });
  });

  it('group-commits receipts: concurrent puts share a transaction, a write-once conflict fails only its own put, close commits what is queued', async () => {
    const dir = freshDir();
    const s = openStore(dir);
    const many = Array.from({ length: 200 }, (_, i): ReceiptRecord => ({ ...rcp, id: `g-${i}` }));
    const puts = many.map((r) => s.putReceipt(r));
    // Nothing is committed before the event loop turns: a put resolves only after its commit.
    const raw = new Database(join(dir, DB_FILE_NAME), { readonly: true });
    const count = (): number => (raw.prepare('SELECT COUNT(*) AS n FROM receipts').get() as { n: number }).n;
    expect(count()).toBe(0);
    await Promise.all(puts);
    expect(count()).toBe(200);
    // In one batch: a conflicting write fails alone; the others in its batch commit.
    const [ok1, bad, ok2] = await Promise.allSettled([s.putReceipt({ ...rcp, id: 'h-1' }), s.putReceipt({ ...many[0]!, body_json: '{"x":9}' }), s.putReceipt({ ...rcp, id: 'h-2' })]);
    expect([ok1.status, bad.status, ok2.status]).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(((bad as PromiseRejectedResult).reason as AppError).code).toBe('ERR_INTERNAL');
    expect(await s.getReceipt('h-2')).toMatchObject({ id: 'h-2' });
    // Invalid input is refused at once, before any batch.
    expect((await rejection(s.putReceipt({ ...rcp, id: '' }))).code).toBe('ERR_INTERNAL');
    // close() commits a put that is still queued.
    const last = s.putReceipt({ ...rcp, id: 'at-close' });
    await s.close();
    await last;
    expect(count()).toBe(203);
    raw.close();
  });

  it('caches collateral: replaced by key, returned expired or not, as a plain Uint8Array copy', async () => {
    const s = openStore(MEMORY);
    const bytes = new Uint8Array([1, 2, 3, 4]);
    await s.putCollateral('k', bytes.subarray(1, 3), 100);
    const got = await s.getCollateral('k');
    expect(got).toEqual({ bytes: new Uint8Array([2, 3]), expires_at: 100 });
    expect(Buffer.isBuffer(got?.bytes)).toBe(false);
    await s.putCollateral('k', new Uint8Array([7]), 50);
    expect(await s.getCollateral('k')).toEqual({ bytes: new Uint8Array([7]), expires_at: 50 });
    expect(await s.getCollateral('other')).toBeUndefined();
    expect((await rejection(s.putCollateral('', bytes, 1))).code).toBe('ERR_INTERNAL');
    expect((await rejection(s.putCollateral('k', bytes, -1))).code).toBe('ERR_INTERNAL');
  });

  it('stores blobs by SHA-256 and checks the digest on the way out', async () => {
    const dir = freshDir();
    const s = openStore(dir);
    const bytes = new TextEncoder().encode('evidence');
    const hex = await s.putBlob(bytes);
    expect(hex).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(await s.putBlob(bytes)).toBe(hex);
    expect(await s.getBlob(hex)).toEqual(bytes);
    expect(await s.getBlob(hex.toUpperCase())).toBeUndefined();
    expect(await s.getBlob('00'.repeat(32))).toBeUndefined();
    expect(await s.getBlob('../etc/passwd')).toBeUndefined();

    const raw = new Database(join(dir, DB_FILE_NAME));
    raw.prepare('UPDATE blobs SET bytes = ? WHERE sha256 = ?').run(Buffer.from('tampered'), hex);
    raw.close();
    const e = await rejection(s.getBlob(hex));
    expect(e.code).toBe('ERR_STORE_IO');
    expect(e.message).toContain('does not match its digest');
  });
});

describe('SqliteStore: failures become ERR_STORE_IO with advice', () => {
  it('a corrupt database file', () => {
    const dir = freshDir();
    mkdirSync(dir);
    writeFileSync(join(dir, DB_FILE_NAME), 'this is not a database, '.repeat(100));
    const e = thrown(() => openSqliteStore({ dataDir: dir }));
    expect(e.code).toBe('ERR_STORE_IO');
    expect(e.message).toContain(join(dir, DB_FILE_NAME));
    expect(e.message).toContain('corrupt or not an attestgate database (SQLITE_NOTADB): restore it from a backup');
  });

  it('a data directory that is a file', () => {
    const p = freshDir();
    writeFileSync(p, 'x');
    const e = thrown(() => openSqliteStore({ dataDir: p }));
    expect(e.code).toBe('ERR_STORE_IO');
    expect(e.message).toMatch(/not a usable directory \((EEXIST|ENOTDIR)\): point ATTESTGATE_DATA_DIR at a directory/);
  });

  it('a database from a newer gateway', () => {
    const dir = freshDir();
    openSqliteStore({ dataDir: dir }).close().catch(() => undefined);
    const raw = new Database(join(dir, DB_FILE_NAME));
    raw.pragma('user_version = 99');
    raw.close();
    const e = thrown(() => openSqliteStore({ dataDir: dir }));
    expect(e.code).toBe('ERR_STORE_IO');
    expect(e.message).toContain('schema version 99');
  });

  it('a closed store', async () => {
    const s = openSqliteStore({ dataDir: MEMORY });
    await s.close();
    await s.close();
    const e = await rejection(s.getReceipt('x'));
    expect(e.code).toBe('ERR_STORE_IO');
    expect(e.message).toBe('store: read receipt: the store is closed');
  });

  it.each([
    ['SQLITE_READONLY', '/d/attestgate.db is not writable (SQLITE_READONLY): make the data directory and its files writable'],
    ['SQLITE_READONLY_DIRECTORY', '/d/attestgate.db is not writable (SQLITE_READONLY_DIRECTORY)'],
    ['SQLITE_CANTOPEN', 'cannot open /d/attestgate.db (SQLITE_CANTOPEN)'],
    ['SQLITE_FULL', 'no space left for /d/attestgate.db (SQLITE_FULL): free disk space'],
    ['SQLITE_CORRUPT', '/d/attestgate.db is corrupt or not an attestgate database (SQLITE_CORRUPT)'],
    ['SQLITE_BUSY', '/d/attestgate.db is locked by another process (SQLITE_BUSY): run one gateway per data directory'],
    ['SQLITE_IOERR_FSYNC', 'I/O error on /d/attestgate.db (SQLITE_IOERR_FSYNC)'],
    ['SQLITE_MISMATCH', 'unexpected error on /d/attestgate.db (SQLITE_MISMATCH)'],
  ])('maps %s', (code, want) => {
    const e = storeError(new Database.SqliteError('driver text', code), 'store receipt', '/d/attestgate.db');
    expect(e.code).toBe('ERR_STORE_IO');
    expect(e.httpStatus).toBe(503);
    expect(e.expose).toBe(false);
    expect(e.message).toContain(`store: store receipt: ${want}`);
    expect(e.details).toEqual({ code, where: '/d/attestgate.db' });
  });

  it('maps file-system errors and passes AppErrors through', () => {
    const enospc = Object.assign(new Error('no space'), { code: 'ENOSPC' });
    expect(storeError(enospc, 'open', '/d').message).toBe('store: open: no space left for /d (ENOSPC): free disk space or raise the quota; writes fail until then');
    const eacces = Object.assign(new Error('denied'), { code: 'EACCES' });
    expect(storeError(eacces, 'open', '/d').message).toContain('/d is not writable (EACCES)');
    const app = new AppError('ERR_INTERNAL', 'x');
    expect(storeError(app, 'open', '/d')).toBe(app);
    expect(storeError('weird', 'open', '/d').message).toBe('store: open: unexpected error on /d');
  });

  it('a read-only data directory (as an unprivileged user), never a crash', () => {
    // Root ignores permission bits, so when the tests run as root the probe runs as `nobody`.
    const base = mkdtempSync(join(tmpdir(), 'attestgate-ro-'));
    try {
      chmodSync(base, 0o755);
      const empty = join(base, 'empty');
      mkdirSync(empty);
      const existing = join(base, 'existing');
      const seed = openSqliteStore({ dataDir: existing });
      seed.close().catch(() => undefined);
      chmodSync(existing, 0o755);
      chmodSync(join(existing, DB_FILE_NAME), 0o644);
      // The file writable, its directory not: SQLite cannot create the -wal and -shm files.
      const dirOnly = join(base, 'dir-only');
      openSqliteStore({ dataDir: dirOnly }).close().catch(() => undefined);
      chmodSync(join(dirOnly, DB_FILE_NAME), 0o666);
      for (const d of [empty, existing, dirOnly]) chmodSync(d, 0o555);
      const probe = join(base, 'probe.mts');
      writeFileSync(
        probe,
        `import { openSqliteStore } from ${JSON.stringify(pathToFileURL(join(import.meta.dirname, '../../../../src/store/sqlite.ts')).href)};
const out = {};
for (const [name, dir] of [['empty', ${JSON.stringify(empty)}], ['existing', ${JSON.stringify(existing)}], ['dirOnly', ${JSON.stringify(dirOnly)}]]) {
  try {
    const s = openSqliteStore({ dataDir: dir });
    try { await s.putBlob(new Uint8Array([1])); out[name] = 'wrote'; }
    catch (e) { out[name] = e.code + ' ' + e.message; }
  } catch (e) { out[name] = e.code + ' ' + e.message; }
}
process.stdout.write(JSON.stringify(out));
`,
      );
      chmodSync(probe, 0o644);
      const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
      const r = spawnSync(process.execPath, ['--import', 'tsx', probe], {
        cwd: join(import.meta.dirname, '../../../..'),
        encoding: 'utf8',
        timeout: 20_000,
        env: { ...process.env, HOME: base, TSX_TSCONFIG_PATH: join(import.meta.dirname, '../../../../tsconfig.json') },
        ...asNobody,
      });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as Record<string, string>;
      expect(out['empty']).toMatch(/^ERR_STORE_IO store: open: .*(not writable|cannot open)/);
      expect(out['existing']).toMatch(/^ERR_STORE_IO store: .*(not writable|cannot open)/);
      expect(out['dirOnly']).toMatch(/^ERR_STORE_IO store: .*(not writable|cannot open)/);
    } finally {
      chmodSync(base, 0o700);
      for (const d of ['empty', 'existing', 'dir-only']) chmodSync(join(base, d), 0o700);
      rmSync(base, { recursive: true, force: true });
    }
  });
});
