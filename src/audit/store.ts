/**
 * The log's storage: one SQLite file through better-sqlite3, append-only.
 *
 * Durability: WAL with synchronous=FULL, so a transaction that returned has been fsynced to the
 * WAL and survives a process crash or power loss. The connection holds an exclusive lock for its
 * lifetime (locking_mode=EXCLUSIVE): the log keeps the tree's right edge in memory, and a second
 * writer (another process opened on the same file by mistake) would silently fork the tree, so it
 * is refused at open with ERR_LOG_IO instead.
 *
 * Append-only: the module issues INSERT statements only (INSERT OR IGNORE for content-addressed
 * blobs, where a second insert of the same digest is the same bytes). Triggers additionally abort
 * any UPDATE, DELETE or insert over an existing key that another tool might run on the file (they
 * stop accidents, not an attacker who can drop them: that is what checkpoints and proofs are for);
 * a unit test checks this module's text for data-changing statements other than INSERT.
 *
 * Tables:
 *   entries(idx, data, leaf_hash, ts)   the log entries, idx = 0, 1, 2, ... without gaps
 *   nodes(level, idx, hash)             every complete subtree of level >= 1 (level 0 = leaf_hash)
 *   checkpoints(size, root, note, ts)   signed checkpoints; one per size, ever
 *   blobs(sha256, bytes)                content-addressed evidence and collateral
 *   meta(key, value)                    format version and the log's origin, written once
 *
 * Every SQLite failure becomes a LogError: ERR_LOG_IO (disk full, read-only, locked, damaged file)
 * or ERR_LOG_INCONSISTENT (a uniqueness constraint broke: another writer or a damaged tree).
 */
import Database from 'better-sqlite3';
import { LogError } from './errors.ts';
import type { MerkleNode, NodeReader } from './merkle.ts';

export const STORE_FORMAT = 'attestgate-log-v1';

/** Primary key columns of each table. */
const KEYS = { meta: ['key'], entries: ['idx'], nodes: ['level', 'idx'], checkpoints: ['size'], blobs: ['sha256'] } as const;

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS entries (
  idx INTEGER PRIMARY KEY,
  data BLOB NOT NULL,
  leaf_hash BLOB NOT NULL,
  ts INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS nodes (
  level INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  hash BLOB NOT NULL,
  PRIMARY KEY (level, idx)
) WITHOUT ROWID, STRICT;
CREATE TABLE IF NOT EXISTS checkpoints (
  size INTEGER PRIMARY KEY,
  root BLOB NOT NULL,
  note TEXT NOT NULL,
  ts INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS blobs (
  sha256 BLOB PRIMARY KEY,
  bytes BLOB NOT NULL
) WITHOUT ROWID, STRICT;
${Object.entries(KEYS)
  .flatMap(([t, key]) => [
    ...['UPDATE', 'DELETE'].map(
      (op) => `CREATE TRIGGER IF NOT EXISTS ${t}_no_${op.toLowerCase()} BEFORE ${op} ON ${t}
BEGIN SELECT RAISE(ABORT, '${t} is append-only'); END;`,
    ),
    // An insert with an overwriting conflict clause deletes the old row without firing DELETE
    // triggers (unless the connection enabled recursive_triggers): stop any insert over a key.
    // Blobs are content-addressed: a second insert of a digest is a no-op, not an error.
    `CREATE TRIGGER IF NOT EXISTS ${t}_no_overwrite BEFORE INSERT ON ${t}
WHEN EXISTS (SELECT 1 FROM ${t} WHERE ${key.map((k) => `${k} = NEW.${k}`).join(' AND ')})
BEGIN SELECT RAISE(${t === 'blobs' ? 'IGNORE' : `ABORT, '${t} is append-only'`}); END;`,
  ])
  .join('\n')}
`;

/** Rows per multi-row INSERT: one statement step for 16 rows costs ~40% less CPU than 16 steps. */
const ROWS_PER_INSERT = 16;
const values = (n: number, one: string): string => Array.from({ length: n }, () => one).join(', ');

/** Every statement the store runs besides SCHEMA_SQL: SELECT and INSERT only. */
export const STORE_SQL = {
  getMeta: 'SELECT value FROM meta WHERE key = ?',
  putMeta: 'INSERT INTO meta (key, value) VALUES (?, ?)',
  maxEntry: 'SELECT max(idx) FROM entries',
  countEntries: 'SELECT count(*) FROM entries',
  leafHash: 'SELECT leaf_hash FROM entries WHERE idx = ?',
  entries: 'SELECT idx, data, leaf_hash, ts FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx',
  putEntry: 'INSERT INTO entries (idx, data, leaf_hash, ts) VALUES (?, ?, ?, ?)',
  putEntries: `INSERT INTO entries (idx, data, leaf_hash, ts) VALUES ${values(ROWS_PER_INSERT, '(?, ?, ?, ?)')}`,
  node: 'SELECT hash FROM nodes WHERE level = ? AND idx = ?',
  maxNode: 'SELECT max(idx) FROM nodes WHERE level = ?',
  maxLevel: 'SELECT max(level) FROM nodes',
  putNode: 'INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)',
  putNodes: `INSERT INTO nodes (level, idx, hash) VALUES ${values(ROWS_PER_INSERT, '(?, ?, ?)')}`,
  latestCheckpoint: 'SELECT size, root, note, ts FROM checkpoints ORDER BY size DESC LIMIT 1',
  checkpointAt: 'SELECT size, root, note, ts FROM checkpoints WHERE size = ?',
  checkpoints: 'SELECT size, root, note, ts FROM checkpoints WHERE size >= ? ORDER BY size LIMIT ?',
  putCheckpoint: 'INSERT INTO checkpoints (size, root, note, ts) VALUES (?, ?, ?, ?)',
  getBlob: 'SELECT bytes FROM blobs WHERE sha256 = ?',
  putBlob: 'INSERT OR IGNORE INTO blobs (sha256, bytes) VALUES (?, ?)',
} as const;

export interface StoreOptions {
  /** Database file; created with its tables when missing (the directory must exist). */
  readonly path: string;
  /** Cap on the database size in bytes (SQLite max_page_count); reaching it is ERR_LOG_IO. */
  readonly maxBytes?: number;
  /**
   * Open an existing log for reading only (export, inspection): no tables are created, no pragma
   * is changed, and every write fails with ERR_LOG_IO (SQLITE_READONLY). It holds SQLite's shared
   * lock only while a read runs, never the lifetime exclusive lock of a writer; while a gateway
   * runs on the file (holding that exclusive lock), opening or reading fails with ERR_LOG_IO
   * (SQLITE_BUSY).
   */
  readonly readOnly?: boolean;
}

export interface EntryRow {
  readonly index: number;
  readonly data: Uint8Array;
  readonly leafHash: Uint8Array;
  /** Milliseconds since the Unix epoch, from the log's clock when append was called. */
  readonly timestamp: number;
}

export interface CheckpointRow {
  readonly size: number;
  readonly root: Uint8Array;
  readonly note: string;
  readonly timestamp: number;
}

export interface LogStore {
  readonly path: string;
  /** Number of entries; ERR_LOG_INCONSISTENT when their indices have a gap. */
  entryCount(): number;
  /** Hash of the complete subtree (level, index); level 0 reads entries.leaf_hash. */
  readonly readNode: NodeReader;
  /** Number of stored nodes at `level` (>= 1), i.e. 1 + the largest index present. */
  nodeCount(level: number): number;
  /** Highest level with a stored node, 0 when there are none. */
  maxNodeLevel(): number;
  entries(start: number, end: number): EntryRow[];
  /** Entries and the nodes they complete, in one transaction. */
  append(entries: readonly EntryRow[], nodes: readonly MerkleNode[]): void;
  /** Entries alone (the first half of append; also how tests stage an unintegrated tail). */
  appendEntries(entries: readonly EntryRow[]): void;
  /** Nodes alone, in one transaction (integration of entries already stored). */
  appendNodes(nodes: readonly MerkleNode[]): void;
  putCheckpoint(row: CheckpointRow): void;
  latestCheckpoint(): CheckpointRow | undefined;
  checkpointAt(size: number): CheckpointRow | undefined;
  checkpoints(minSize: number, limit: number): CheckpointRow[];
  putBlob(digest: Uint8Array, bytes: Uint8Array): void;
  getBlob(digest: Uint8Array): Uint8Array | undefined;
  getMeta(key: string): string | undefined;
  putMeta(key: string, value: string): void;
  /** The durability settings in force on this connection (for health checks and tests). */
  settings(): { journalMode: string; synchronous: number; lockingMode: string };
  close(): void;
}

/** SQLite result codes → what an operator should do. */
function advice(code: string | undefined): string {
  if (code === undefined) return 'unexpected database error';
  if (code === 'SQLITE_FULL') return 'the disk or the configured maxBytes limit is full; free space or raise the limit (nothing was written)';
  if (code.startsWith('SQLITE_READONLY')) return 'the database file or its directory is read-only; give the gateway write access';
  if (code.startsWith('SQLITE_CANTOPEN')) return 'the database file cannot be opened; check that the path and its directory exist and are writable';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'the log is locked by another process or connection; only one gateway may write a log file';
  if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') return 'the database file is damaged or is not an attestgate log; restore it from a backup';
  if (code.startsWith('SQLITE_IOERR')) return 'the operating system reported an I/O error; check the disk';
  return 'database error';
}

/** Any failure of a database call, as a LogError that says what to do. */
export function toLogError(e: unknown, action: string, path: string): LogError {
  if (LogError.is(e)) return e;
  const detail = e instanceof Error ? e.message : String(e);
  // better-sqlite3 checks the directory itself and throws a TypeError before SQLite is involved.
  const code = e instanceof Database.SqliteError ? e.code : /directory does not exist/.test(detail) ? 'SQLITE_CANTOPEN' : undefined;
  if (code?.startsWith('SQLITE_CONSTRAINT') === true) {
    return new LogError(
      'ERR_LOG_INCONSISTENT',
      `${action} in ${path} broke a uniqueness rule (${detail}): another writer changed the log, or it is damaged; reopen it to resynchronise`,
      { cause: e, details: { sqliteCode: code } },
    );
  }
  return new LogError('ERR_LOG_IO', `${action} in ${path} failed: ${advice(code)} (${code ?? detail})`, {
    cause: e,
    details: code === undefined ? {} : { sqliteCode: code },
  });
}

/** Copy out of a Buffer so callers never hold a view into memory better-sqlite3 owns. */
function bytes(b: unknown): Uint8Array {
  if (!(b instanceof Uint8Array)) throw new LogError('ERR_LOG_INCONSISTENT', 'a stored hash or blob is not a BLOB');
  return new Uint8Array(b);
}

function num(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new LogError('ERR_LOG_INCONSISTENT', 'a stored integer is not a safe integer');
  return v;
}

type Row = readonly unknown[];

function checkpointRow(r: Row): CheckpointRow {
  const note = r[2];
  if (typeof note !== 'string') throw new LogError('ERR_LOG_INCONSISTENT', 'a stored checkpoint note is not text');
  return { size: num(r[0]), root: bytes(r[1]), note, timestamp: num(r[3]) };
}

/**
 * A read-only connection to an existing log file. Not in EXCLUSIVE locking mode: SQLite cannot
 * take that lock on a read-only connection (SQLITE_IOERR_LOCK), and readers of a WAL file share
 * the writer's protocol anyway. SQLite may create the -shm index beside the file (as any reader
 * of a WAL database does); a later gateway start is unaffected by it.
 */
function openReadOnly(path: string): Database.Database {
  // fileMustExist: a mistyped path must not leave an empty database behind.
  const d = new Database(path, { timeout: 0, readonly: true, fileMustExist: true });
  try {
    const mode: unknown = d.pragma('journal_mode', { simple: true });
    if (mode !== 'wal') throw new LogError('ERR_LOG_INCONSISTENT', `${path} has journal_mode ${String(mode)}, want wal: it was not written by attestgate`);
    return d;
  } catch (e: unknown) {
    d.close();
    throw e;
  }
}

export function openStore(options: StoreOptions): LogStore {
  const { path } = options;
  const guard = <T>(action: string, fn: () => T): T => {
    try {
      return fn();
    } catch (e: unknown) {
      throw toLogError(e, action, path);
    }
  };

  const db = guard('opening the log database', () => {
    if (options.readOnly === true) return openReadOnly(path);
    // timeout 0: a lock held by another process is an error now, not a hang at startup.
    const d = new Database(path, { timeout: 0 });
    try {
      // EXCLUSIVE before WAL: the WAL index then lives in heap memory and the lock is never dropped.
      d.pragma('locking_mode = EXCLUSIVE');
      const mode: unknown = d.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new LogError('ERR_LOG_IO', `${path}: the file system does not support SQLite WAL mode (journal_mode is ${String(mode)})`);
      d.pragma('synchronous = FULL');
      // A group commit of 10,000 entries writes several MB of pages; the default 2 MB page cache
      // would spill them to the WAL mid-transaction. 32 MB keeps a batch in memory until commit.
      d.pragma('cache_size = -32768');
      if (options.maxBytes !== undefined) {
        const pageSize = Number(d.pragma('page_size', { simple: true }));
        d.pragma(`max_page_count = ${Math.max(1, Math.floor(options.maxBytes / pageSize))}`);
      }
      // The first write takes the exclusive lock (and fails now if another writer holds it).
      d.exec(SCHEMA_SQL);
      return d;
    } catch (e: unknown) {
      d.close();
      throw e;
    }
  });

  const st = guard('preparing statements', () => {
    const prepared = {} as Record<keyof typeof STORE_SQL, Database.Statement>;
    for (const [k, sql] of Object.entries(STORE_SQL)) {
      const stmt = db.prepare(sql);
      // Rows as arrays: no per-row object with column names on the proof path.
      prepared[k as keyof typeof STORE_SQL] = stmt.reader ? stmt.raw(true) : stmt;
    }
    return prepared;
  });

  const insertEntries = (rows: readonly EntryRow[]): void => {
    let i = 0;
    for (; i + ROWS_PER_INSERT <= rows.length; i += ROWS_PER_INSERT) {
      const args: unknown[] = [];
      for (const e of rows.slice(i, i + ROWS_PER_INSERT)) args.push(e.index, e.data, e.leafHash, e.timestamp);
      st.putEntries.run(...args);
    }
    for (const e of rows.slice(i)) st.putEntry.run(e.index, e.data, e.leafHash, e.timestamp);
  };
  const insertNodes = (nodes: readonly MerkleNode[]): void => {
    let i = 0;
    for (; i + ROWS_PER_INSERT <= nodes.length; i += ROWS_PER_INSERT) {
      const args: unknown[] = [];
      for (const n of nodes.slice(i, i + ROWS_PER_INSERT)) args.push(n.level, n.index, n.hash);
      st.putNodes.run(...args);
    }
    for (const n of nodes.slice(i)) st.putNode.run(n.level, n.index, n.hash);
  };
  const appendTx = db.transaction((rows: readonly EntryRow[], nodes: readonly MerkleNode[]) => {
    insertEntries(rows);
    insertNodes(nodes);
  });
  const entriesTx = db.transaction(insertEntries);
  const nodesTx = db.transaction(insertNodes);

  const first = (stmt: Database.Statement, ...args: unknown[]): unknown => {
    const r = stmt.get(...args) as Row | undefined;
    return r?.[0];
  };

  const missing = (level: number, index: number): LogError =>
    new LogError('ERR_LOG_INCONSISTENT', `stored tree node (level ${level}, index ${index}) is missing in ${path}: the database is damaged; restore it from a backup`);

  return {
    path,
    entryCount: () =>
      guard('counting entries', () => {
        const max = first(st.maxEntry);
        const n = max === null || max === undefined ? 0 : num(max) + 1;
        const count = num(first(st.countEntries));
        // Attacker or damage: a gap would shift every later index and break all proofs.
        if (count !== n) throw new LogError('ERR_LOG_INCONSISTENT', `${path} holds ${count} entries but the largest index is ${n - 1}: entries are missing`);
        return n;
      }),
    readNode: (level, index) =>
      guard('reading a tree node', () => {
        const r = (level === 0 ? st.leafHash.get(index) : st.node.get(level, index)) as Row | undefined;
        if (r === undefined) throw missing(level, index);
        return bytes(r[0]);
      }),
    nodeCount: (level) =>
      guard('counting tree nodes', () => {
        const max = first(st.maxNode, level);
        return max === null || max === undefined ? 0 : num(max) + 1;
      }),
    maxNodeLevel: () =>
      guard('reading the tree height', () => {
        const max = first(st.maxLevel);
        return max === null || max === undefined ? 0 : num(max);
      }),
    entries: (start, end) =>
      guard('reading entries', () =>
        (st.entries.all(start, end) as Row[]).map((r) => ({
          index: num(r[0]),
          data: bytes(r[1]),
          leafHash: bytes(r[2]),
          timestamp: num(r[3]),
        })),
      ),
    append: (rows, nodes) => {
      guard('appending entries', () => {
        appendTx(rows, nodes);
      });
    },
    appendEntries: (rows) => {
      guard('appending entries', () => {
        entriesTx(rows);
      });
    },
    appendNodes: (nodes) => {
      guard('integrating entries into the tree', () => {
        nodesTx(nodes);
      });
    },
    putCheckpoint: (row) => {
      guard('storing a checkpoint', () => st.putCheckpoint.run(row.size, row.root, row.note, row.timestamp));
    },
    latestCheckpoint: () =>
      guard('reading the latest checkpoint', () => {
        const r = st.latestCheckpoint.get() as Row | undefined;
        return r === undefined ? undefined : checkpointRow(r);
      }),
    checkpointAt: (size) =>
      guard('reading a checkpoint', () => {
        const r = st.checkpointAt.get(size) as Row | undefined;
        return r === undefined ? undefined : checkpointRow(r);
      }),
    checkpoints: (minSize, limit) => guard('reading checkpoints', () => (st.checkpoints.all(minSize, limit) as Row[]).map(checkpointRow)),
    putBlob: (digest, data) => {
      guard('storing a blob', () => st.putBlob.run(digest, data));
    },
    getBlob: (digest) =>
      guard('reading a blob', () => {
        const v = first(st.getBlob, digest);
        return v === undefined ? undefined : bytes(v);
      }),
    getMeta: (key) =>
      guard('reading log metadata', () => {
        const v = first(st.getMeta, key);
        if (v !== undefined && typeof v !== 'string') throw new LogError('ERR_LOG_INCONSISTENT', `stored metadata ${key} is not text`);
        return v;
      }),
    putMeta: (key, value) => {
      guard('storing log metadata', () => st.putMeta.run(key, value));
    },
    settings: () =>
      guard('reading database settings', () => ({
        journalMode: String(db.pragma('journal_mode', { simple: true })),
        synchronous: Number(db.pragma('synchronous', { simple: true })),
        lockingMode: String(db.pragma('locking_mode', { simple: true })),
      })),
    close: () => {
      guard('closing the log database', () => db.close());
    },
  };
}
