/**
 * The tamper-evident log: append → integrate → checkpoint, over store.ts.
 *
 *   append      an entry is hashed (RFC 6962 leaf), given the next index, and written together
 *               with the complete subtrees it finishes, in one transaction (group commit: every
 *               append that arrives before the event loop turns shares that transaction and its
 *               fsync). A promise resolves only after its transaction committed.
 *   integrate   the tree's right edge (Frontier) lives in memory; stored nodes make every proof
 *               O(log n) reads. On open, entries whose nodes are missing (a crash between the two
 *               halves of an append, if they are ever split; a file written by another tool) are
 *               integrated before anything else happens.
 *   checkpoint  signs a C2SP checkpoint of the committed size. Before signing it proves, from the
 *               stored nodes, that the new tree extends the previous checkpoint's; a log that
 *               cannot show that refuses to sign (ERR_LOG_INCONSISTENT) rather than publish a fork.
 *               One size never gets two roots: the table's primary key is the size.
 *
 * Time comes from the injected clock only. Everything that goes wrong is a LogError.
 */
import type { KeyObject } from 'node:crypto';
import { equalBytes, toHex } from '../../attestation/common/bytes.ts';
import { formatCheckpoint, parseCheckpoint, parseNote, signCheckpoint, type NoteSignature } from './checkpoint.ts';
import { createNoteSigner, ed25519NoteVerifier, type Ed25519NoteSigner } from './ed25519-node.ts';
import { LogError } from './errors.ts';
import {
  consistencyProof as buildConsistencyProof,
  Frontier,
  frontierCoordinates,
  HASH_SIZE,
  inclusionProof as buildInclusionProof,
  leafHash as hashLeaf,
  rootAt as storedRootAt,
  verifyConsistency,
  type MerkleNode,
  type NodeReader,
} from './merkle.ts';
import { sha256 } from './sha256-node.ts';
import { openStore, STORE_FORMAT, type CheckpointRow, type EntryRow, type LogStore } from './store.ts';

export interface LogSignerOptions {
  /** signed-note key name; SHOULD equal the origin (C2SP tlog-checkpoint). */
  readonly name: string;
  /** Ed25519 private KeyObject or its 32-byte seed. */
  readonly privateKey: KeyObject | Uint8Array;
}

export interface OpenLogOptions {
  /** SQLite file (created when missing; its directory must exist). */
  readonly path: string;
  /** The log's identity: the first line of every checkpoint. Fixed when the file is created. */
  readonly origin: string;
  readonly signer: LogSignerOptions;
  /** Milliseconds since the Unix epoch; default Date.now. */
  readonly now?: () => number;
  /** Largest entry accepted, in bytes (default 1 MiB); put bulky evidence in blobs. */
  readonly maxEntryBytes?: number;
  /** Largest blob accepted, in bytes (default 64 MiB). */
  readonly maxBlobBytes?: number;
  /** Most appends committed in one transaction (default 10,000). */
  readonly maxBatch?: number;
  /** Cap on the database file size; reaching it makes appends fail with ERR_LOG_IO. */
  readonly maxBytes?: number;
}

export interface AppendResult {
  readonly index: number;
  readonly leafHash: Uint8Array;
}

export interface SignedCheckpoint {
  readonly origin: string;
  readonly size: number;
  readonly root: Uint8Array;
  /** The C2SP signed note, exactly as stored and served. */
  readonly note: string;
  readonly timestamp: number;
}

export type LogEntry = EntryRow;

export interface TransparencyLog {
  readonly origin: string;
  /** `<name>+<key ID>+<base64 key>`: what auditors pin to verify this log's checkpoints. */
  readonly verifierKey: string;
  /** Resolves once the entry is durable (its transaction committed with synchronous=FULL). */
  append(entry: Uint8Array): Promise<AppendResult>;
  /** Commits any queued appends and then this one, in one transaction, before returning. */
  appendSync(entry: Uint8Array): AppendResult;
  /** Number of committed entries. */
  size(): number;
  /** Root of the committed tree. */
  root(): Uint8Array;
  /** Root of the tree's first `size` entries (size <= size()). */
  rootAt(size: number): Uint8Array;
  /** Signs (or returns the existing) checkpoint of the committed size. */
  checkpoint(): SignedCheckpoint;
  latestCheckpoint(): SignedCheckpoint | undefined;
  checkpointAt(size: number): SignedCheckpoint | undefined;
  /** Stored checkpoints with size >= minSize, ascending, at most `limit` (default 1000). */
  checkpoints(minSize?: number, limit?: number): SignedCheckpoint[];
  inclusionProof(index: number, treeSize: number): Uint8Array[];
  consistencyProof(size1: number, size2: number): Uint8Array[];
  /** Entries [start, end) with their exact bytes; at most MAX_ENTRIES_PER_READ per call. */
  entries(start: number, end: number): LogEntry[];
  /** Stores bytes under their SHA-256 (idempotent); returns the lower-case hex digest. */
  putBlob(bytes: Uint8Array): string;
  /** The bytes stored under a SHA-256 hex digest, checked against it; undefined when absent. */
  getBlob(sha256Hex: string): Uint8Array | undefined;
  /** Commits queued appends, then closes the file. Later calls fail with ERR_LOG_CLOSED. */
  close(): void;
}

export const MAX_ENTRIES_PER_READ = 1000;
const DEFAULT_MAX_ENTRY_BYTES = 1 << 20;
const DEFAULT_MAX_BLOB_BYTES = 64 << 20;
const DEFAULT_MAX_BATCH = 10_000;
/** Entries integrated per transaction when repairing on open. */
const REPAIR_CHUNK = 10_000;

interface Pending {
  readonly data: Uint8Array;
  readonly timestamp: number;
  readonly resolve: (r: AppendResult) => void;
  readonly reject: (e: unknown) => void;
}

function rangeError(message: string): LogError {
  return new LogError('ERR_LOG_RANGE', message);
}

function inconsistent(message: string, cause?: unknown): LogError {
  return new LogError('ERR_LOG_INCONSISTENT', message, cause === undefined ? {} : { cause });
}

function checkSize(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw rangeError(`${what} ${String(n)} is not a non-negative safe integer`);
}

function positiveOption(v: number | undefined, fallback: number, what: string): number {
  if (v === undefined) return fallback;
  if (!Number.isSafeInteger(v) || v < 1) throw rangeError(`option ${what} must be a positive integer, got ${String(v)}`);
  return v;
}

export function openLog(options: OpenLogOptions): TransparencyLog {
  // 1. Configuration, before touching the disk: a bad key or origin fails at startup.
  const clock = options.now ?? Date.now;
  const maxEntryBytes = positiveOption(options.maxEntryBytes, DEFAULT_MAX_ENTRY_BYTES, 'maxEntryBytes');
  const maxBlobBytes = positiveOption(options.maxBlobBytes, DEFAULT_MAX_BLOB_BYTES, 'maxBlobBytes');
  const maxBatch = positiveOption(options.maxBatch, DEFAULT_MAX_BATCH, 'maxBatch');
  const origin = options.origin;
  formatCheckpoint({ origin, size: 0, root: new Uint8Array(HASH_SIZE) }); // validates the origin
  const signer: Ed25519NoteSigner = createNoteSigner(options.signer.name, options.signer.privateKey);

  // 2. The file, its identity, and the tree restored (and repaired) from it.
  const store = openStore({ path: options.path, ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }) });
  let frontier: Frontier;
  let latest: SignedCheckpoint | undefined;
  try {
    checkIdentity(store, origin);
    frontier = restoreTree(store);
    latest = checkLatestCheckpoint(store, frontier, origin, signer);
  } catch (e: unknown) {
    store.close();
    throw e;
  }

  let closed = false;
  /** Set when memory and disk may disagree; every later call fails with it until reopened. */
  let broken: LogError | undefined;
  let pending: Pending[] = [];
  let scheduled = false;
  let rootCache: { size: number; root: Uint8Array } | undefined;

  const usable = (): void => {
    if (closed) throw new LogError('ERR_LOG_CLOSED', `the log ${options.path} is closed`);
    if (broken !== undefined) throw broken;
  };

  const now = (): number => {
    const t = clock();
    if (!Number.isFinite(t)) throw rangeError(`the clock returned ${String(t)}, want milliseconds since the epoch`);
    return Math.floor(t);
  };

  const checkEntry = (entry: Uint8Array): Uint8Array => {
    if (!(entry instanceof Uint8Array)) throw rangeError('an entry must be a Uint8Array');
    if (entry.length > maxEntryBytes) throw rangeError(`entry is ${entry.length} bytes, the limit is ${maxEntryBytes} (store bulky evidence with putBlob and log its digest)`);
    // Snapshot: a caller reusing its buffer before the batch commits must not change what is logged.
    return entry.slice();
  };

  /** One transaction for the whole batch; each item settles only after it committed (or failed). */
  const commit = (batch: readonly Pending[]): void => {
    if (batch.length === 0) return;
    // The batch goes onto a copy of the right edge, kept only once the transaction committed.
    const next = frontier.clone();
    const rows: EntryRow[] = [];
    const nodes: MerkleNode[] = [];
    try {
      for (const p of batch) {
        const lh = hashLeaf(sha256, p.data);
        const index = next.size;
        for (const n of next.append(lh)) nodes.push(n);
        rows.push({ index, data: p.data, leafHash: lh, timestamp: p.timestamp });
      }
      store.append(rows, nodes);
    } catch (e: unknown) {
      // Runs from setImmediate: an error must reach the callers, never escape as an uncaught exception.
      resync(e);
      for (const p of batch) p.reject(e);
      return;
    }
    frontier = next;
    batch.forEach((p, i) => {
      const row = rows[i] as EntryRow;
      p.resolve({ index: row.index, leafHash: row.leafHash.slice() });
    });
  };

  /** After a failed write: the transaction rolled back, so the file must still hold frontier.size entries. */
  const resync = (cause: unknown): void => {
    try {
      const onDisk = store.entryCount();
      if (onDisk === frontier.size) return;
      broken = inconsistent(`after a failed write ${options.path} holds ${onDisk} entries but the log expected ${frontier.size}; reopen the log`, cause);
    } catch (e: unknown) {
      broken = inconsistent(`after a failed write the entry count of ${options.path} cannot be read; reopen the log`, e);
    }
  };

  const drain = (): void => {
    scheduled = false;
    if (closed) return;
    commit(pending.splice(0, maxBatch));
    schedule();
  };

  const schedule = (): void => {
    if (scheduled || pending.length === 0) return;
    scheduled = true;
    // setImmediate, not a microtask: every append made while this turn of the event loop runs
    // (including other I/O callbacks) joins the same transaction.
    setImmediate(drain);
  };

  // Callers get copies: a mutated root must not change the checkpoint the next one is checked against.
  const copy = (cp: SignedCheckpoint): SignedCheckpoint => ({ ...cp, root: cp.root.slice() });

  const toSigned = (row: CheckpointRow): SignedCheckpoint => ({ origin, size: row.size, root: row.root, note: row.note, timestamp: row.timestamp });

  const checkWithin = (n: number, what: string): void => {
    checkSize(n, what);
    if (n > frontier.size) throw rangeError(`${what} ${n} is beyond the log's size ${frontier.size}`);
  };

  const currentRoot = (): Uint8Array => {
    if (rootCache?.size !== frontier.size) rootCache = { size: frontier.size, root: frontier.root() };
    return rootCache.root;
  };

  return {
    origin,
    verifierKey: signer.verifierKey,

    append(entry) {
      try {
        usable();
        const data = checkEntry(entry);
        const timestamp = now();
        return new Promise<AppendResult>((resolve, reject) => {
          pending.push({ data, timestamp, resolve, reject });
          schedule();
        });
      } catch (e: unknown) {
        return Promise.reject(e instanceof Error ? e : new Error(String(e)));
      }
    },

    appendSync(entry) {
      usable();
      const data = checkEntry(entry);
      const timestamp = now();
      let result: AppendResult | undefined;
      let failure: unknown;
      const batch = pending;
      pending = [];
      batch.push({ data, timestamp, resolve: (r) => (result = r), reject: (e) => (failure = e) });
      commit(batch);
      if (result === undefined) throw failure instanceof Error ? failure : new LogError('ERR_LOG_IO', 'append failed');
      return result;
    },

    size: () => {
      usable();
      return frontier.size;
    },

    root: () => {
      usable();
      return currentRoot().slice();
    },

    rootAt: (size) => {
      usable();
      checkWithin(size, 'tree size');
      return size === frontier.size ? currentRoot().slice() : storedRootAt(sha256, store.readNode, size);
    },

    checkpoint() {
      usable();
      const size = frontier.size;
      const root = currentRoot();
      if (latest !== undefined) {
        if (latest.size === size) {
          if (!equalBytes(latest.root, root)) throw inconsistent(`refusing to sign: checkpoint ${size} has root ${toHex(latest.root)} but the tree's root is ${toHex(root)}`);
          return copy(latest);
        }
        assertExtends(store.readNode, latest, { size, root });
      }
      const note = signCheckpoint({ origin, size, root }, signer);
      const timestamp = now();
      store.putCheckpoint({ size, root, note, timestamp });
      latest = { origin, size, root: root.slice(), note, timestamp };
      return copy(latest);
    },

    latestCheckpoint: () => {
      usable();
      return latest === undefined ? undefined : copy(latest);
    },

    checkpointAt: (size) => {
      usable();
      checkSize(size, 'checkpoint size');
      const row = store.checkpointAt(size);
      return row === undefined ? undefined : toSigned(row);
    },

    checkpoints: (minSize = 0, limit = 1000) => {
      usable();
      checkSize(minSize, 'checkpoint size');
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) throw rangeError(`checkpoint limit ${String(limit)} must be within 1..10000`);
      return store.checkpoints(minSize, limit).map(toSigned);
    },

    inclusionProof: (index, treeSize) => {
      usable();
      checkWithin(treeSize, 'tree size');
      return buildInclusionProof(sha256, store.readNode, index, treeSize);
    },

    consistencyProof: (size1, size2) => {
      usable();
      checkWithin(size2, 'tree size');
      return buildConsistencyProof(sha256, store.readNode, size1, size2);
    },

    entries: (start, end) => {
      usable();
      checkSize(start, 'start index');
      checkWithin(end, 'end index');
      if (start > end) throw rangeError(`entry range [${start}, ${end}) is reversed`);
      if (end - start > MAX_ENTRIES_PER_READ) throw rangeError(`entry range [${start}, ${end}) has ${end - start} entries, at most ${MAX_ENTRIES_PER_READ} per read`);
      return store.entries(start, end);
    },

    putBlob: (blob) => {
      usable();
      if (!(blob instanceof Uint8Array)) throw rangeError('a blob must be a Uint8Array');
      if (blob.length > maxBlobBytes) throw rangeError(`blob is ${blob.length} bytes, the limit is ${maxBlobBytes}`);
      const digest = sha256(blob);
      store.putBlob(digest, blob);
      return toHex(digest);
    },

    getBlob: (hex) => {
      usable();
      if (!/^[0-9a-f]{64}$/.test(hex)) throw rangeError('a blob is named by its SHA-256 as 64 lower-case hex digits');
      const digest = Uint8Array.from(hex.match(/../g) ?? [], (h) => Number.parseInt(h, 16));
      const blob = store.getBlob(digest);
      // The file is outside our control: a blob edited on disk must not pass as the evidence.
      if (blob !== undefined && !equalBytes(sha256(blob), digest)) throw inconsistent(`blob ${hex} in ${options.path} does not match its digest`);
      return blob;
    },

    close() {
      if (closed) return;
      const last = pending;
      pending = [];
      if (broken === undefined) commit(last);
      else for (const p of last) p.reject(broken);
      closed = true;
      store.close();
    },
  };
}

/**
 * The check made before every signature: prove, from the stored nodes, that the tree `next`
 * (its root from the in-memory right edge) extends the last signed checkpoint `prev`. Two data
 * paths must agree (stored nodes and memory), so a damaged file or a second writer shows up here
 * as ERR_LOG_INCONSISTENT instead of as a signed fork.
 */
export function assertExtends(
  read: NodeReader,
  prev: { readonly size: number; readonly root: Uint8Array },
  next: { readonly size: number; readonly root: Uint8Array },
): void {
  if (prev.size > next.size) throw inconsistent(`refusing to sign: the last checkpoint has size ${prev.size} but the tree has ${next.size} entries`);
  try {
    const proof = buildConsistencyProof(sha256, read, prev.size, next.size);
    verifyConsistency(sha256, prev.size, next.size, prev.root, next.root, proof);
  } catch (e: unknown) {
    throw inconsistent(`refusing to sign: the tree at size ${next.size} is not consistent with checkpoint ${prev.size}`, e);
  }
}

/** The file's origin must be the configured one: one file, one log identity, forever. */
function checkIdentity(store: LogStore, origin: string): void {
  const format = store.getMeta('format');
  const stored = store.getMeta('origin');
  if (format === undefined && stored === undefined) {
    if (store.entryCount() !== 0) throw inconsistent(`${store.path} has entries but no log metadata: it was not written by attestgate`);
    store.putMeta('format', STORE_FORMAT);
    store.putMeta('origin', origin);
    return;
  }
  if (format !== STORE_FORMAT) throw inconsistent(`${store.path} has format ${String(format)}, want ${STORE_FORMAT}`);
  if (stored !== origin) throw inconsistent(`${store.path} is the log ${JSON.stringify(stored)}, but was opened as ${JSON.stringify(origin)}; fix the configured origin`);
}

/**
 * Load the right edge of the tree and integrate any entries whose nodes are missing.
 *
 * Each append writes an entry together with every node it completes, so the stored nodes always
 * describe a prefix of the entries: level 1 holds floor(s/2) nodes for the integrated size s
 * (rounded down to even; an even-indexed leaf completes no node). Entries past that prefix are
 * re-hashed from their bytes and integrated, REPAIR_CHUNK entries per transaction.
 */
function restoreTree(store: LogStore): Frontier {
  const n = store.entryCount();
  const integrated = Math.min(n, 2 * store.nodeCount(1));
  const top = store.maxNodeLevel();
  for (let level = 1, width = 2; level <= top; level++, width *= 2) {
    const have = store.nodeCount(level);
    if (have > Math.floor(n / width)) throw inconsistent(`${store.path} has ${have} tree nodes at level ${level} for only ${n} entries`);
    if (have !== Math.floor(integrated / width)) {
      throw inconsistent(`${store.path} has ${have} tree nodes at level ${level}, want ${Math.floor(integrated / width)} for ${integrated} integrated entries: the tree is damaged`);
    }
  }
  const frontier = new Frontier(
    sha256,
    integrated,
    frontierCoordinates(integrated).map((c) => store.readNode(c.level, c.index)),
  );
  for (let start = integrated; start < n; start += REPAIR_CHUNK) {
    const nodes: MerkleNode[] = [];
    for (const e of store.entries(start, Math.min(n, start + REPAIR_CHUNK))) {
      const lh = hashLeaf(sha256, e.data);
      if (!equalBytes(lh, e.leafHash)) throw inconsistent(`entry ${e.index} in ${store.path} does not match its stored leaf hash`);
      for (const node of frontier.append(lh)) nodes.push(node);
    }
    store.appendNodes(nodes);
  }
  return frontier;
}

/** The newest checkpoint must describe this tree: same root at its size, same text, our signature. */
function checkLatestCheckpoint(store: LogStore, frontier: Frontier, origin: string, signer: Ed25519NoteSigner): SignedCheckpoint | undefined {
  const row = store.latestCheckpoint();
  if (row === undefined) return undefined;
  const where = `checkpoint ${row.size} in ${store.path}`;
  // An acknowledged-and-signed size larger than the tree means entries were lost.
  if (row.size > frontier.size) throw inconsistent(`${where} is larger than the tree (${frontier.size} entries): entries were lost`);
  const root = storedRootAt(sha256, store.readNode, row.size);
  if (!equalBytes(root, row.root)) throw inconsistent(`${where} has root ${toHex(row.root)} but the stored tree gives ${toHex(root)}`);
  let text: string;
  let signatures: readonly NoteSignature[];
  try {
    ({ text, signatures } = parseNote(row.note));
    const body = parseCheckpoint(text);
    if (body.origin !== origin || body.size !== row.size || !equalBytes(body.root, row.root)) throw inconsistent(`${where}: its note does not match its row`);
  } catch (e: unknown) {
    throw inconsistent(`${where} is not a valid checkpoint note`, e);
  }
  // Signed by today's key (a rotated key's note is left alone: it cannot be checked here).
  const verifier = ed25519NoteVerifier(signer.name, signer.publicKey);
  const message = new TextEncoder().encode(text);
  for (const s of signatures) {
    if (s.name === signer.name && s.keyId === signer.keyId && !verifier.verify(message, s.signature)) {
      throw inconsistent(`${where} carries a signature by ${signer.verifierKey.split('+', 2).join('+')} that does not verify`);
    }
  }
  return { origin, size: row.size, root: row.root, note: row.note, timestamp: row.timestamp };
}
