import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { leafHash } from '../../../../src/audit/merkle.ts';
import { sha256 } from '../../../../src/audit/sha256-node.ts';
import { openStore, SCHEMA_SQL, STORE_SQL, toLogError, type EntryRow } from '../../../../src/audit/store.ts';
import { logErrorOf } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'attestgate-store-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
let n = 0;
const fresh = (): string => join(dir, `s${n++}.db`);

const entry = (index: number, size = 8): EntryRow => {
  const data = new Uint8Array(size).fill(index & 0xff);
  return { index, data, leafHash: leafHash(sha256, data), timestamp: 1_700_000_000_000 + index };
};

describe('append-only by construction', () => {
  const AUDIT_DIR = new URL('../../../../src/audit/', import.meta.url);
  const sources = readdirSync(AUDIT_DIR)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => ({ f, text: readFileSync(new URL(f, AUDIT_DIR), 'utf8') }));

  it('no module of src/audit contains a data-changing statement other than INSERT', () => {
    expect(sources.map((s) => s.f)).toContain('store.ts');
    const forbidden = [/\bUPDATE\s+[\w"]+\s+SET\b/i, /\bDELETE\s+FROM\b/i, /\bOR\s+REPLACE\b/i, /\bREPLACE\s+INTO\b/i, /\bDO\s+UPDATE\b/i, /\bDROP\s+(TABLE|TRIGGER|INDEX)\b/i, /\bALTER\s+TABLE\b/i, /\bVACUUM\b/i];
    for (const { f, text } of sources) {
      for (const re of forbidden) expect(re.test(text), `${f} matches ${String(re)}`).toBe(false);
    }
  });

  it('every prepared statement is a SELECT or an INSERT; only blobs use INSERT OR IGNORE', () => {
    for (const [name, sql] of Object.entries(STORE_SQL)) {
      expect(sql, name).toMatch(/^(SELECT |INSERT INTO |INSERT OR IGNORE INTO blobs )/);
    }
  });

  it('the schema only creates tables and the triggers that forbid UPDATE and DELETE', () => {
    const statements = SCHEMA_SQL.split(';').map((s) => s.trim()).filter((s) => s !== '' && s !== 'END');
    const forms = [
      /^CREATE TABLE IF NOT EXISTS \w+ \([^;]*\)( WITHOUT ROWID,)? STRICT$/,
      /^CREATE TRIGGER IF NOT EXISTS \w+ BEFORE (UPDATE|DELETE) ON \w+\s+BEGIN SELECT RAISE\(ABORT, '\w+ is append-only'\)$/,
      /^CREATE TRIGGER IF NOT EXISTS \w+ BEFORE INSERT ON (\w+)\s+WHEN EXISTS \(SELECT 1 FROM \1 WHERE [\w =.]+\)\s+BEGIN SELECT RAISE\((IGNORE|ABORT, '\1 is append-only')\)$/,
    ];
    expect(statements.length).toBe(5 + 5 * 3);
    for (const s of statements) expect(forms.some((re) => re.test(s)), s).toBe(true);
  });

  it('triggers abort an UPDATE or DELETE made by any other tool on the file', () => {
    const path = fresh();
    const s = openStore({ path });
    s.append([entry(0), entry(1)], [{ level: 1, index: 0, hash: new Uint8Array(32) }]);
    s.putCheckpoint({ size: 2, root: new Uint8Array(32), note: 'n', timestamp: 1 });
    s.putBlob(new Uint8Array(32), new Uint8Array([1]));
    s.putMeta('k', 'v');
    s.close();
    const raw = new Database(path);
    const attempts = [
      "UPDATE entries SET data = x'00'",
      'DELETE FROM entries',
      "UPDATE nodes SET hash = x'00'",
      'DELETE FROM nodes',
      'UPDATE checkpoints SET size = 3',
      'DELETE FROM checkpoints',
      "UPDATE blobs SET bytes = x'00'",
      'DELETE FROM blobs',
      "UPDATE meta SET value = 'x'",
      'DELETE FROM meta',
      // REPLACE deletes the old row without firing DELETE triggers; the insert trigger stops it.
      "INSERT OR REPLACE INTO entries (idx, data, leaf_hash, ts) VALUES (0, x'00', x'00', 0)",
      "REPLACE INTO nodes (level, idx, hash) VALUES (1, 0, x'01')",
      "INSERT OR REPLACE INTO checkpoints (size, root, note, ts) VALUES (2, x'00', 'forged', 0)",
      "INSERT OR REPLACE INTO meta (key, value) VALUES ('k', 'w')",
    ];
    for (const sql of attempts) expect(() => raw.exec(sql), sql).toThrow(/append-only/);
    // A blob's digest names its bytes: a second insert (even REPLACE) is silently a no-op.
    raw.exec("INSERT OR REPLACE INTO blobs (sha256, bytes) VALUES (zeroblob(32), x'02')");
    expect(raw.prepare('SELECT hex(bytes) AS b FROM blobs').get()).toEqual({ b: '01' });
    expect(raw.prepare('SELECT count(*) AS c FROM entries').get()).toEqual({ c: 2 });
    expect(raw.prepare('SELECT hex(data) AS d FROM entries WHERE idx = 0').get()).toEqual({ d: '0000000000000000' });
    raw.close();
  });
});

describe('durability settings', () => {
  it('runs in WAL mode with synchronous=FULL and holds an exclusive lock', () => {
    const s = openStore({ path: fresh() });
    expect(s.settings()).toEqual({ journalMode: 'wal', synchronous: 2, lockingMode: 'exclusive' });
    s.close();
  });

  it('refuses a second writer on the same file (ERR_LOG_IO, names the cause)', () => {
    const path = fresh();
    const s = openStore({ path });
    const e = logErrorOf(() => openStore({ path }));
    expect(e.code).toBe('ERR_LOG_IO');
    expect(e.message).toMatch(/locked by another process/);
    s.close();
    openStore({ path }).close(); // released on close
  });
});

describe('storage', () => {
  it('keeps entries, nodes, checkpoints, blobs and metadata', () => {
    const s = openStore({ path: fresh() });
    expect(s.entryCount()).toBe(0);
    expect(s.maxNodeLevel()).toBe(0);
    s.appendEntries([entry(0), entry(1), entry(2)]);
    s.appendNodes([{ level: 1, index: 0, hash: new Uint8Array(32).fill(7) }]);
    expect(s.entryCount()).toBe(3);
    expect(s.nodeCount(1)).toBe(1);
    expect(s.nodeCount(2)).toBe(0);
    expect(s.maxNodeLevel()).toBe(1);
    expect(s.readNode(0, 2)).toEqual(entry(2).leafHash);
    expect(s.readNode(1, 0)).toEqual(new Uint8Array(32).fill(7));
    expect(logErrorOf(() => s.readNode(1, 1)).code).toBe('ERR_LOG_INCONSISTENT');
    expect(logErrorOf(() => s.readNode(0, 3)).code).toBe('ERR_LOG_INCONSISTENT');
    expect(s.entries(1, 3)).toEqual([entry(1), entry(2)]);
    const got = s.entries(0, 1)[0];
    expect(got?.data).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(got?.data)).toBe(false);

    s.putCheckpoint({ size: 1, root: new Uint8Array(32).fill(1), note: 'one', timestamp: 5 });
    s.putCheckpoint({ size: 3, root: new Uint8Array(32).fill(3), note: 'three', timestamp: 6 });
    expect(s.latestCheckpoint()?.note).toBe('three');
    expect(s.checkpointAt(1)?.note).toBe('one');
    expect(s.checkpointAt(2)).toBeUndefined();
    expect(s.checkpoints(0, 10).map((c) => c.size)).toEqual([1, 3]);
    expect(s.checkpoints(2, 10).map((c) => c.size)).toEqual([3]);
    // One size, one checkpoint: a second row for a size breaks the primary key.
    expect(logErrorOf(() => { s.putCheckpoint({ size: 3, root: new Uint8Array(32), note: 'other', timestamp: 7 }); }).code).toBe('ERR_LOG_INCONSISTENT');

    const digest = sha256(new Uint8Array([1, 2]));
    s.putBlob(digest, new Uint8Array([1, 2]));
    s.putBlob(digest, new Uint8Array([1, 2])); // idempotent
    expect(s.getBlob(digest)).toEqual(new Uint8Array([1, 2]));
    expect(s.getBlob(new Uint8Array(32))).toBeUndefined();
    expect(s.getMeta('origin')).toBeUndefined();
    s.putMeta('origin', 'x');
    expect(s.getMeta('origin')).toBe('x');
    s.close();
  });

  it('rolls a failed batch back entirely: an entry index used twice is ERR_LOG_INCONSISTENT', () => {
    const s = openStore({ path: fresh() });
    s.append([entry(0)], []);
    const e = logErrorOf(() => { s.append([entry(1), entry(0)], []); });
    expect(e.code).toBe('ERR_LOG_INCONSISTENT');
    expect(e.message).toMatch(/another writer/);
    expect(s.entryCount()).toBe(1);
    s.close();
  });

  it('notices a gap in the entry indices', () => {
    const s = openStore({ path: fresh() });
    s.appendEntries([entry(0), entry(2)]);
    expect(logErrorOf(() => s.entryCount()).message).toMatch(/entries are missing/);
    s.close();
  });
});

describe('I/O failures surface as ERR_LOG_IO with advice, never as a crash', () => {
  it('a full disk (max_page_count reached) fails the batch and leaves the store readable', () => {
    const s = openStore({ path: fresh(), maxBytes: 64 * 1024 });
    let i = 0;
    let err: unknown;
    try {
      for (; i < 1000; i++) s.append([entry(i, 4096)], []);
    } catch (e: unknown) {
      err = e;
    }
    const e = logErrorOf(() => {
      throw err;
    });
    expect(e.code).toBe('ERR_LOG_IO');
    expect(e.message).toMatch(/full/);
    expect(e.details).toEqual({ sqliteCode: 'SQLITE_FULL' });
    expect(s.entryCount()).toBe(i);
    expect(s.entries(0, 1)).toHaveLength(1);
    s.close();
  });

  it('a missing directory', () => {
    const e = logErrorOf(() => openStore({ path: join(dir, 'no', 'such', 'dir', 'log.db') }));
    expect(e.code).toBe('ERR_LOG_IO');
    expect(e.message).toMatch(/directory exist/);
  });

  it('a file that is not a database', () => {
    const path = fresh();
    writeFileSync(path, 'this is not an SQLite database, just some text that is long enough to have a header....');
    const e = logErrorOf(() => openStore({ path }));
    expect(e.code).toBe('ERR_LOG_IO');
    expect(e.message).toMatch(/damaged or is not an attestgate log/);
  });

  it.skipIf(process.getuid?.() === 0)('a read-only file (skipped as root, who may write anyway)', () => {
    const path = fresh();
    openStore({ path }).close();
    chmodSync(path, 0o444);
    const e = logErrorOf(() => openStore({ path }));
    expect(e.code).toBe('ERR_LOG_IO');
    expect(e.message).toMatch(/read-only/);
  });

  it('maps every SQLite result code family to advice', () => {
    const table: [string, string, RegExp][] = [
      ['SQLITE_FULL', 'ERR_LOG_IO', /full/],
      ['SQLITE_READONLY', 'ERR_LOG_IO', /read-only/],
      ['SQLITE_READONLY_DIRECTORY', 'ERR_LOG_IO', /read-only/],
      ['SQLITE_CANTOPEN', 'ERR_LOG_IO', /cannot be opened/],
      ['SQLITE_BUSY', 'ERR_LOG_IO', /locked/],
      ['SQLITE_LOCKED', 'ERR_LOG_IO', /locked/],
      ['SQLITE_CORRUPT', 'ERR_LOG_IO', /damaged/],
      ['SQLITE_NOTADB', 'ERR_LOG_IO', /damaged/],
      ['SQLITE_IOERR_FSYNC', 'ERR_LOG_IO', /I\/O error/],
      ['SQLITE_PERM', 'ERR_LOG_IO', /database error/],
      ['SQLITE_CONSTRAINT_PRIMARYKEY', 'ERR_LOG_INCONSISTENT', /another writer/],
    ];
    for (const [code, want, message] of table) {
      const e = toLogError(new Database.SqliteError('boom', code), 'appending entries', '/x.db');
      expect(e.code, code).toBe(want);
      expect(e.message, code).toMatch(message);
      expect(e.message, code).toMatch(/^appending entries in \/x\.db/);
      expect(e.cause).toBeInstanceOf(Database.SqliteError);
    }
    expect(toLogError(new Error('weird'), 'reading', '/x.db').message).toMatch(/unexpected database error \(weird\)/);
    expect(toLogError('a string', 'reading', '/x.db').code).toBe('ERR_LOG_IO');
  });
});
