/**
 * The Store on SQLite (better-sqlite3): one file `attestgate.db` in the data directory.
 *
 * Durability: WAL with `synchronous = FULL`. NORMAL would be faster, but in WAL mode it may lose
 * the last commits on power loss, and a receipt or attestation record that a client or auditor
 * was told about must not vanish (ARCHITECTURE invariant 6). The one exception is receipts, whose
 * durable record is the transparency log (Store.putReceipt): their transactions skip the fsync.
 *
 * Files: the data directory is created with mode 0700 and the database with 0600 (SQLite gives
 * its -wal and -shm files the database's mode), because they hold receipts and key digests that
 * other local users have no business reading. An existing directory's mode is left alone.
 *
 * Every SQLite or file-system failure becomes AppError ERR_STORE_IO whose message says what to do
 * (make the directory writable, free disk space, restore a backup); the raw error is the `cause`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AppError } from '../errors.ts';
import {
  API_KEY_PATTERN,
  TENANT_PATTERN,
  type ApiKeyInfo,
  type AttestationRecord,
  type CollateralEntry,
  type NewApiKey,
  type ReceiptRecord,
  type Store,
} from './store.ts';

export const DB_FILE_NAME = 'attestgate.db';
/** The `dataDir` value that opens a private in-memory database (tests, `demo` without a disk). */
export const MEMORY = ':memory:';

export interface SqliteStoreOptions {
  /** Directory holding attestgate.db (created 0700 if absent), or ':memory:'. */
  readonly dataDir: string;
  /** Milliseconds since the epoch, for API-key timestamps. Default Date.now. */
  readonly clock?: () => number;
  /** How long a write waits for a lock held by another connection. Default 5000 ms. */
  readonly busyTimeoutMs?: number;
}

const SCHEMA_VERSION = 1;
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE api_keys (
     id TEXT PRIMARY KEY, tenant TEXT NOT NULL, digest BLOB NOT NULL,
     created_at INTEGER NOT NULL, revoked_at INTEGER) STRICT;
   CREATE TABLE attestations (
     id TEXT PRIMARY KEY, backend TEXT NOT NULL, created_at INTEGER NOT NULL, verdict TEXT NOT NULL,
     ear_jwt TEXT NOT NULL, evidence_sha256 TEXT NOT NULL, record_json TEXT NOT NULL) STRICT;
   CREATE TABLE receipts (
     id TEXT PRIMARY KEY, attestation_id TEXT NOT NULL, backend TEXT NOT NULL, model TEXT NOT NULL,
     created_at INTEGER NOT NULL, body_json TEXT NOT NULL) STRICT;
   CREATE INDEX receipts_by_attestation ON receipts (attestation_id);
   CREATE TABLE collateral (key TEXT PRIMARY KEY, bytes BLOB NOT NULL, expires_at INTEGER NOT NULL) STRICT;
   CREATE TABLE blobs (sha256 TEXT PRIMARY KEY, bytes BLOB NOT NULL) STRICT;`,
];

const HEX64 = /^[0-9a-f]{64}$/;
const MAX_ID_CHARS = 256;
const MAX_KEY_CHARS = 512;

/** Open (creating if needed) the store; throws AppError ERR_STORE_IO on failure. */
export function openSqliteStore(opts: SqliteStoreOptions): SqliteStore {
  const memory = opts.dataDir === MEMORY;
  const file = memory ? MEMORY : join(opts.dataDir, DB_FILE_NAME);
  let db: Database.Database | undefined;
  try {
    if (!memory) {
      mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
      // Create the file ourselves so that it is born 0600 rather than with the umask's 0644.
      closeSync(openSync(file, 'a', 0o600));
    }
    db = new Database(file, { timeout: opts.busyTimeoutMs ?? 5000 });
    if (!memory) {
      const mode: unknown = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') {
        throw new AppError('ERR_STORE_IO', `store: ${file}: the file system does not support SQLite WAL mode (got journal_mode ${String(mode)}); put the data directory on a local disk`);
      }
    }
    db.pragma('synchronous = FULL');
    migrate(db);
    return new SqliteStore(db, file, opts.clock ?? Date.now);
  } catch (e: unknown) {
    try {
      db?.close();
    } catch {
      // Already failing; the original error is the one worth reporting.
    }
    throw storeError(e, 'open', file);
  }
}

function migrate(db: Database.Database): void {
  const version: unknown = db.pragma('user_version', { simple: true });
  if (typeof version !== 'number') throw new Error('user_version is not a number');
  if (version > SCHEMA_VERSION) {
    throw new AppError('ERR_STORE_IO', `store: the database has schema version ${version}, newer than this gateway's ${SCHEMA_VERSION}; upgrade the gateway or restore a matching backup`);
  }
  db.transaction(() => {
    for (let v = version; v < SCHEMA_VERSION; v++) {
      const sql = MIGRATIONS[v];
      if (sql === undefined) throw new Error(`missing migration ${v}`);
      db.exec(sql);
    }
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

type Row = Readonly<Record<string, unknown>>;

function isRow(v: unknown): v is Row {
  return typeof v === 'object' && v !== null;
}

function text(r: Row, k: string): string {
  const v = r[k];
  if (typeof v !== 'string') throw new AppError('ERR_STORE_IO', `store: column ${k} is not text; the database is damaged, restore it from a backup`);
  return v;
}

function int(r: Row, k: string): number {
  const v = r[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new AppError('ERR_STORE_IO', `store: column ${k} is not an integer; the database is damaged, restore it from a backup`);
  return v;
}

function blob(r: Row, k: string): Uint8Array {
  const v = r[k];
  if (!(v instanceof Uint8Array)) throw new AppError('ERR_STORE_IO', `store: column ${k} is not a blob; the database is damaged, restore it from a backup`);
  // Copy out of the driver's Buffer: callers get a plain Uint8Array they may keep.
  return new Uint8Array(v);
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

function checkId(what: string, id: string): void {
  if (id === '' || id.length > MAX_ID_CHARS) throw new AppError('ERR_INTERNAL', `store: ${what} must be 1 to ${MAX_ID_CHARS} characters`);
}

function checkTime(what: string, t: number): void {
  if (!Number.isSafeInteger(t) || t < 0) throw new AppError('ERR_INTERNAL', `store: ${what} must be a non-negative integer (ms since the epoch), got ${t}`);
}

export class SqliteStore implements Store {
  readonly #db: Database.Database;
  readonly #clock: () => number;
  readonly #s;
  /** The database file (or ':memory:'). */
  readonly file: string;

  /** Use openSqliteStore(). */
  constructor(db: Database.Database, file: string, clock: () => number) {
    this.#db = db;
    this.file = file;
    this.#clock = clock;
    this.#s = {
      keyInsert: db.prepare('INSERT INTO api_keys (id, tenant, digest, created_at, revoked_at) VALUES (?, ?, ?, ?, NULL)'),
      keyGet: db.prepare('SELECT tenant, digest, revoked_at FROM api_keys WHERE id = ?'),
      keyRevoke: db.prepare('UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?'),
      keyList: db.prepare('SELECT id, tenant, created_at, revoked_at FROM api_keys ORDER BY created_at, id'),
      attInsert: db.prepare(
        'INSERT INTO attestations (id, backend, created_at, verdict, ear_jwt, evidence_sha256, record_json) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING',
      ),
      attGet: db.prepare('SELECT id, backend, created_at, verdict, ear_jwt, evidence_sha256, record_json FROM attestations WHERE id = ?'),
      rcpInsert: db.prepare(
        'INSERT INTO receipts (id, attestation_id, backend, model, created_at, body_json) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING',
      ),
      syncNormal: db.prepare('PRAGMA synchronous = NORMAL'),
      syncFull: db.prepare('PRAGMA synchronous = FULL'),
      rcpGet: db.prepare('SELECT id, attestation_id, backend, model, created_at, body_json FROM receipts WHERE id = ?'),
      colPut: db.prepare(
        'INSERT INTO collateral (key, bytes, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET bytes = excluded.bytes, expires_at = excluded.expires_at',
      ),
      colGet: db.prepare('SELECT bytes, expires_at FROM collateral WHERE key = ?'),
      blobPut: db.prepare('INSERT INTO blobs (sha256, bytes) VALUES (?, ?) ON CONFLICT (sha256) DO NOTHING'),
      blobGet: db.prepare('SELECT bytes FROM blobs WHERE sha256 = ?'),
    };
  }

  /** Run `fn` and turn any failure into ERR_STORE_IO (AppErrors pass through unchanged). */
  #run<T>(action: string, fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (e: unknown) {
      return Promise.reject(storeError(e, action, this.file));
    }
  }

  createApiKey(tenant: string): Promise<NewApiKey> {
    return this.#run('create API key', () => {
      if (!TENANT_PATTERN.test(tenant)) {
        throw new AppError('ERR_BAD_REQUEST', `tenant must match ${TENANT_PATTERN.source}`);
      }
      for (let attempt = 0; ; attempt++) {
        const id = randomBytes(8).toString('hex');
        const secret = `ag_${id}_${randomBytes(32).toString('base64url')}`;
        try {
          // SHA-256 without salt or stretching is enough here: the secret is 256 random bits,
          // so there is no dictionary to try; a slow KDF would only slow every request down.
          this.#s.keyInsert.run(id, tenant, sha256(Buffer.from(secret, 'utf8')), this.#clock());
          return { id, tenant, secret };
        } catch (e: unknown) {
          // A 64-bit id collision is astronomically unlikely; retry rather than fail if it happens.
          if (attempt < 3 && sqliteCode(e) === 'SQLITE_CONSTRAINT_PRIMARYKEY') continue;
          throw e;
        }
      }
    });
  }

  verifyApiKey(secret: string): Promise<{ readonly tenant: string; readonly id: string } | undefined> {
    return this.#run('verify API key', () => {
      const m = API_KEY_PATTERN.exec(secret);
      const id = m?.[1];
      if (id === undefined) return undefined;
      // The id is public (it is printed by `keys list` and logged), so looking it up first leaks
      // nothing; only the digest comparison involves the secret, and it is constant-time.
      const row: unknown = this.#s.keyGet.get(id);
      if (!isRow(row)) return undefined;
      const stored = blob(row, 'digest');
      const given = sha256(Buffer.from(secret, 'utf8'));
      if (stored.length !== given.length || !timingSafeEqual(stored, given)) return undefined;
      if (row['revoked_at'] !== null) return undefined;
      return { tenant: text(row, 'tenant'), id };
    });
  }

  revokeApiKey(id: string): Promise<boolean> {
    return this.#run('revoke API key', () => this.#s.keyRevoke.run(this.#clock(), id).changes > 0);
  }

  listApiKeys(): Promise<readonly ApiKeyInfo[]> {
    return this.#run('list API keys', () =>
      this.#s.keyList.all().filter(isRow).map((r) => ({
        id: text(r, 'id'),
        tenant: text(r, 'tenant'),
        created_at: int(r, 'created_at'),
        revoked_at: r['revoked_at'] === null ? null : int(r, 'revoked_at'),
      })),
    );
  }

  putAttestation(rec: AttestationRecord): Promise<void> {
    return this.#run('store attestation record', () => {
      checkId('attestation id', rec.id);
      checkTime('created_at', rec.created_at);
      if (!HEX64.test(rec.evidence_sha256)) throw new AppError('ERR_INTERNAL', 'store: evidence_sha256 must be 64 lowercase hex digits');
      const values = [rec.id, rec.backend, rec.created_at, rec.verdict, rec.ear_jwt, rec.evidence_sha256, rec.record_json] as const;
      if (this.#s.attInsert.run(...values).changes === 0) {
        const old: unknown = this.#s.attGet.get(rec.id);
        if (!isRow(old) || !sameRecord(old, rec)) {
          throw new AppError('ERR_INTERNAL', `store: attestation ${rec.id} is already stored with different content (records are write-once)`);
        }
      }
    });
  }

  getAttestation(id: string): Promise<AttestationRecord | undefined> {
    return this.#run('read attestation record', () => {
      const r: unknown = this.#s.attGet.get(id);
      if (!isRow(r)) return undefined;
      return {
        id: text(r, 'id'),
        backend: text(r, 'backend'),
        created_at: int(r, 'created_at'),
        verdict: text(r, 'verdict'),
        ear_jwt: text(r, 'ear_jwt'),
        evidence_sha256: text(r, 'evidence_sha256'),
        record_json: text(r, 'record_json'),
      };
    });
  }

  /**
   * Group commit: every receipt put by the same synchronous run of code shares one transaction;
   * each promise resolves only after that transaction committed. The commit is not fsynced (see
   * Store.putReceipt): a resolved put survives a crash of the process, not necessarily a power loss.
   */
  putReceipt(rec: ReceiptRecord): Promise<void> {
    try {
      checkId('receipt id', rec.id);
      checkTime('created_at', rec.created_at);
    } catch (e: unknown) {
      return Promise.reject(storeError(e, 'store receipt', this.file));
    }
    return new Promise<void>((resolve, reject) => {
      // A microtask, not setImmediate: without an fsync to share, a batch is worth no extra turn
      // of the event loop. Puts made by the same synchronous code still share one transaction.
      if (this.#pendingReceipts.length === 0) queueMicrotask(this.#drainReceipts);
      this.#pendingReceipts.push({ rec, resolve, reject });
    });
  }

  readonly #pendingReceipts: { rec: ReceiptRecord; resolve: () => void; reject: (e: unknown) => void }[] = [];

  /** Commits the queued receipts in one transaction, then settles each put. Never throws. */
  readonly #drainReceipts = (): void => {
    const batch = this.#pendingReceipts.splice(0);
    if (batch.length === 0) return;
    // A write-once conflict fails that put only; an I/O failure rolls back and fails them all.
    const conflicts = new Set<number>();
    try {
      // No fsync of its own (synchronous=NORMAL for this transaction only; WAL mode keeps it
      // atomic and safe from a process crash, and the next FULL commit's fsync covers it): a
      // receipt's durable record is its log entry, from which the gateway restores what a power
      // loss took (src/gateway/receipt-record.ts).
      this.#s.syncNormal.run();
      try {
        this.#db.transaction(() => {
          batch.forEach(({ rec }, i) => {
            if (this.#s.rcpInsert.run(rec.id, rec.attestation_id, rec.backend, rec.model, rec.created_at, rec.body_json).changes === 0) {
              const old: unknown = this.#s.rcpGet.get(rec.id);
              if (!isRow(old) || !sameRecord(old, rec)) conflicts.add(i);
            }
          });
        })();
      } finally {
        this.#s.syncFull.run();
      }
    } catch (e: unknown) {
      const err = storeError(e, 'store receipt', this.file);
      for (const p of batch) p.reject(err);
      return;
    }
    batch.forEach((p, i) => {
      if (conflicts.has(i)) p.reject(new AppError('ERR_INTERNAL', `store: receipt ${p.rec.id} is already stored with different content (receipts are write-once)`));
      else p.resolve();
    });
  };

  getReceipt(id: string): Promise<ReceiptRecord | undefined> {
    return this.#run('read receipt', () => {
      const r: unknown = this.#s.rcpGet.get(id);
      if (!isRow(r)) return undefined;
      return {
        id: text(r, 'id'),
        attestation_id: text(r, 'attestation_id'),
        backend: text(r, 'backend'),
        model: text(r, 'model'),
        created_at: int(r, 'created_at'),
        body_json: text(r, 'body_json'),
      };
    });
  }

  putCollateral(key: string, bytes: Uint8Array, expires_at: number): Promise<void> {
    return this.#run('store collateral', () => {
      if (key === '' || key.length > MAX_KEY_CHARS) throw new AppError('ERR_INTERNAL', `store: collateral key must be 1 to ${MAX_KEY_CHARS} characters`);
      checkTime('expires_at', expires_at);
      this.#s.colPut.run(key, asBuffer(bytes), expires_at);
    });
  }

  getCollateral(key: string): Promise<CollateralEntry | undefined> {
    return this.#run('read collateral', () => {
      const r: unknown = this.#s.colGet.get(key);
      if (!isRow(r)) return undefined;
      return { bytes: blob(r, 'bytes'), expires_at: int(r, 'expires_at') };
    });
  }

  putBlob(bytes: Uint8Array): Promise<string> {
    return this.#run('store blob', () => {
      const hex = sha256(bytes).toString('hex');
      this.#s.blobPut.run(hex, asBuffer(bytes));
      return hex;
    });
  }

  getBlob(hex: string): Promise<Uint8Array | undefined> {
    return this.#run('read blob', () => {
      if (!HEX64.test(hex)) return undefined;
      const r: unknown = this.#s.blobGet.get(hex);
      if (!isRow(r)) return undefined;
      const bytes = blob(r, 'bytes');
      // Content addressing is only worth something if it is checked on the way out.
      if (sha256(bytes).toString('hex') !== hex) {
        throw new AppError('ERR_STORE_IO', `store: blob ${hex} does not match its digest; the database is damaged, restore it from a backup`);
      }
      return bytes;
    });
  }

  /** The durability settings in force on this connection (for tests and a health endpoint). */
  diagnostics(): { readonly journal_mode: string; readonly synchronous: 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA'; readonly schema_version: number } {
    try {
      const jm: unknown = this.#db.pragma('journal_mode', { simple: true });
      const sync: unknown = this.#db.pragma('synchronous', { simple: true });
      const ver: unknown = this.#db.pragma('user_version', { simple: true });
      const names = ['OFF', 'NORMAL', 'FULL', 'EXTRA'] as const;
      const name = typeof sync === 'number' ? names[sync] : undefined;
      if (typeof jm !== 'string' || name === undefined || typeof ver !== 'number') throw new Error('unexpected pragma values');
      return { journal_mode: jm, synchronous: name, schema_version: ver };
    } catch (e: unknown) {
      throw storeError(e, 'diagnostics', this.file);
    }
  }

  close(): Promise<void> {
    return this.#run('close', () => {
      // Puts still queued are committed (and settled) before the file closes.
      if (this.#db.open) this.#drainReceipts();
      if (this.#db.open) this.#db.close();
    });
  }
}

function sameRecord(row: Row, rec: object): boolean {
  return Object.entries(rec).every(([k, v]) => row[k] === v);
}

function sqliteCode(e: unknown): string | undefined {
  if (e instanceof Database.SqliteError) return e.code;
  return undefined;
}

function errnoCode(e: unknown): string | undefined {
  if (e instanceof Error && 'code' in e && typeof e.code === 'string') return e.code;
  return undefined;
}

/**
 * Any failure of the store as ERR_STORE_IO with advice; AppErrors pass through. `where` is the
 * database file or data directory, which the operator needs in order to act.
 */
export function storeError(e: unknown, action: string, where: string): AppError {
  if (AppError.is(e)) return e;
  const code = sqliteCode(e) ?? errnoCode(e) ?? '';
  const advice = adviceFor(code, e, where);
  return new AppError('ERR_STORE_IO', `store: ${action}: ${advice}`, { cause: e, details: { code, where } });
}

function adviceFor(code: string, e: unknown, where: string): string {
  const base = code.replace(/^(SQLITE_[A-Z]+)_.*$/, '$1');
  switch (base) {
    case 'SQLITE_READONLY':
    case 'SQLITE_PERM':
    case 'SQLITE_AUTH':
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return `${where} is not writable (${code}): make the data directory and its files writable by the gateway's user, or point ATTESTGATE_DATA_DIR elsewhere`;
    case 'SQLITE_CANTOPEN':
      return `cannot open ${where} (${code}): check that the data directory exists and is writable by the gateway's user`;
    case 'SQLITE_FULL':
    case 'ENOSPC':
    case 'EDQUOT':
      return `no space left for ${where} (${code}): free disk space or raise the quota; writes fail until then`;
    case 'SQLITE_CORRUPT':
    case 'SQLITE_NOTADB':
      return `${where} is corrupt or not an attestgate database (${code}): restore it from a backup; the gateway will not overwrite it`;
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      return `${where} is locked by another process (${code}): run one gateway per data directory`;
    case 'SQLITE_IOERR':
    case 'EIO':
      return `I/O error on ${where} (${code}): check the disk and its file system`;
    case 'ENOTDIR':
    case 'EEXIST':
    case 'EISDIR':
      return `${where} is not a usable directory (${code}): point ATTESTGATE_DATA_DIR at a directory`;
    default:
      if (e instanceof TypeError && /not open/i.test(e.message)) return 'the store is closed';
      return `unexpected error on ${where}${code === '' ? '' : ` (${code})`}`;
  }
}
