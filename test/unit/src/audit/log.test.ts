import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { toHex } from '../../../../attestation/common/bytes.ts';
import { verifyCheckpoint } from '../../../../src/audit/checkpoint.ts';
import { createNoteVerifier } from '../../../../src/audit/ed25519-node.ts';
import { assertExtends, MAX_ENTRIES_PER_READ, openLog, type OpenLogOptions, type TransparencyLog } from '../../../../src/audit/log.ts';
import { emptyRoot, leafHash, rootFromLeaves, verifyConsistency, verifyInclusion, type NodeReader } from '../../../../src/audit/merkle.ts';
import { sha256 } from '../../../../src/audit/sha256-node.ts';
import { openStore } from '../../../../src/audit/store.ts';
import { completeSubtrees, logErrorOf, logErrorOfAsync } from './helpers.ts';

const ORIGIN = 'gateway.example/log';
const SEED = new Uint8Array(32).fill(0x42);
const dir = mkdtempSync(join(tmpdir(), 'attestgate-log-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
let n = 0;
const fresh = (): string => join(dir, `l${n++}.db`);
let t = 1_700_000_000_000;
const open = (path: string, extra: Partial<OpenLogOptions> = {}): TransparencyLog =>
  openLog({ path, origin: ORIGIN, signer: { name: ORIGIN, privateKey: SEED }, now: () => t++, ...extra });
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('append', () => {
  it('gives consecutive indices and RFC 6962 leaf hashes, durable when resolved', async () => {
    const log = open(fresh());
    const results = await Promise.all(['a', 'b', 'c'].map(async (s) => {
      const r = await log.append(enc(s));
      // Resolved means committed: the entry is readable and counted.
      expect(log.size()).toBeGreaterThan(r.index);
      expect(log.entries(r.index, r.index + 1)[0]?.data).toEqual(enc(s));
      return r;
    }));
    expect(results.map((r) => r.index)).toEqual([0, 1, 2]);
    expect(results.map((r) => toHex(r.leafHash))).toEqual(['a', 'b', 'c'].map((s) => toHex(leafHash(sha256, enc(s)))));
    expect(toHex(log.root())).toBe(toHex(rootFromLeaves(sha256, results.map((r) => r.leafHash))));
    log.close();
  });

  it('commits everything that arrived in one turn of the event loop in one batch (up to maxBatch)', async () => {
    const log = open(fresh(), { maxBatch: 4 });
    const settled: number[] = [];
    const all = Array.from({ length: 10 }, (_, i) => log.append(enc(`e${i}`)).then((r) => settled.push(r.index)));
    expect(log.size()).toBe(0); // nothing is committed (or resolved) synchronously
    await tick();
    expect(log.size()).toBe(4);
    await tick();
    expect(log.size()).toBe(8);
    await Promise.all(all);
    expect(log.size()).toBe(10);
    expect(settled).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    log.close();
  });

  it('logs the bytes given at call time, even if the caller reuses its buffer', async () => {
    const log = open(fresh());
    const buf = enc('original');
    const p = log.append(buf);
    buf.fill(0);
    await p;
    expect(log.entries(0, 1)[0]?.data).toEqual(enc('original'));
    log.close();
  });

  it('appendSync commits queued appends first, so indices follow call order', async () => {
    const log = open(fresh());
    const queued = log.append(enc('first'));
    const now = log.appendSync(enc('second'));
    expect(now.index).toBe(1);
    expect((await queued).index).toBe(0);
    log.close();
  });

  it('stores the injected clock time with each entry', async () => {
    const log = open(fresh(), { now: () => 1234.9 });
    await log.append(enc('x'));
    expect(log.entries(0, 1)[0]?.timestamp).toBe(1234);
    log.close();
    const broken = open(fresh(), { now: () => Number.NaN });
    expect((await logErrorOfAsync(broken.append(enc('x')))).code).toBe('ERR_LOG_RANGE');
    broken.close();
  });

  it('refuses entries above maxEntryBytes, non-bytes, and bad options (ERR_LOG_RANGE)', async () => {
    const log = open(fresh(), { maxEntryBytes: 8 });
    const big = await logErrorOfAsync(log.append(new Uint8Array(9)));
    expect(big.code).toBe('ERR_LOG_RANGE');
    expect(big.message).toMatch(/9 bytes, the limit is 8.*putBlob/);
    expect(logErrorOf(() => log.appendSync(new Uint8Array(9))).code).toBe('ERR_LOG_RANGE');
    expect((await logErrorOfAsync(log.append('text' as unknown as Uint8Array))).code).toBe('ERR_LOG_RANGE');
    await log.append(new Uint8Array(8));
    log.close();
    expect(logErrorOf(() => open(fresh(), { maxBatch: 0 })).code).toBe('ERR_LOG_RANGE');
    expect(logErrorOf(() => open(fresh(), { origin: '' })).code).toBe('ERR_CHECKPOINT_MALFORMED');
    expect(logErrorOf(() => open(fresh(), { signer: { name: ORIGIN, privateKey: new Uint8Array(5) } })).code).toBe('ERR_CHECKPOINT_MALFORMED');
  });
});

describe('proofs', () => {
  const log = open(fresh());
  const leaves: Uint8Array[] = [];
  for (let i = 0; i < 100; i++) leaves.push(log.appendSync(enc(`entry ${i}`)).leafHash);
  afterAll(() => {
    log.close();
  });

  it('every entry has an inclusion proof at every tree size that contains it', () => {
    for (const size of [1, 2, 7, 64, 65, 99, 100]) {
      const root = log.rootAt(size);
      expect(toHex(root)).toBe(toHex(rootFromLeaves(sha256, leaves.slice(0, size))));
      for (let i = 0; i < size; i++) verifyInclusion(sha256, i, size, leaves[i] as Uint8Array, log.inclusionProof(i, size), root);
    }
  });

  it('every pair of sizes has a consistency proof', () => {
    for (const s1 of [0, 1, 3, 32, 50, 100]) {
      for (const s2 of [s1, 64, 99, 100].filter((s) => s >= s1)) {
        verifyConsistency(sha256, s1, s2, log.rootAt(s1), log.rootAt(s2), log.consistencyProof(s1, s2));
      }
    }
    expect(toHex(log.rootAt(0))).toBe(toHex(emptyRoot(sha256)));
  });

  it('returns entries with their exact bytes, within bounds', () => {
    expect(log.entries(98, 100).map((e) => new TextDecoder().decode(e.data))).toEqual(['entry 98', 'entry 99']);
    expect(log.entries(5, 5)).toEqual([]);
    const bad: [string, () => unknown][] = [
      ['index past the tree', () => log.inclusionProof(100, 100)],
      ['tree past the log', () => log.inclusionProof(0, 101)],
      ['size1 > size2', () => log.consistencyProof(5, 4)],
      ['size2 past the log', () => log.consistencyProof(5, 101)],
      ['rootAt past the log', () => log.rootAt(101)],
      ['negative start', () => log.entries(-1, 2)],
      ['reversed range', () => log.entries(5, 4)],
      ['end past the log', () => log.entries(0, 101)],
      ['fractional', () => log.entries(0.5, 2)],
    ];
    for (const [name, fn] of bad) expect(logErrorOf(fn).code, name).toBe('ERR_LOG_RANGE');
  });

  it('caps one read of entries', () => {
    const big = open(fresh());
    for (let i = 0; i <= MAX_ENTRIES_PER_READ; i++) void big.append(new Uint8Array([i & 0xff]));
    big.appendSync(new Uint8Array(0));
    expect(big.entries(0, MAX_ENTRIES_PER_READ)).toHaveLength(MAX_ENTRIES_PER_READ);
    expect(logErrorOf(() => big.entries(0, MAX_ENTRIES_PER_READ + 1)).message).toMatch(/at most 1000 per read/);
    big.close();
  });

  it('hands out copies: mutating a returned root changes nothing inside', () => {
    const r = log.root();
    const want = toHex(r);
    r.fill(0);
    expect(toHex(log.root())).toBe(want);
  });
});

describe('checkpoints', () => {
  it('signs C2SP checkpoints that verify with the published verifier key', async () => {
    const log = open(fresh());
    const verifier = createNoteVerifier(log.verifierKey);
    expect(log.verifierKey).toMatch(/^gateway\.example\/log\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
    expect(log.latestCheckpoint()).toBeUndefined();

    const empty = log.checkpoint();
    expect(empty.size).toBe(0);
    expect(toHex(empty.root)).toBe(toHex(emptyRoot(sha256)));
    await expect(verifyCheckpoint(empty.note, [verifier], { origin: ORIGIN })).resolves.toMatchObject({ size: 0 });

    for (let i = 0; i < 13; i++) await log.append(enc(`x${i}`));
    const cp13 = log.checkpoint();
    const v13 = await verifyCheckpoint(cp13.note, [verifier], { origin: ORIGIN });
    expect(v13.size).toBe(13);
    expect(toHex(v13.root)).toBe(toHex(log.root()));

    // The same size again: the same checkpoint, not a second signature.
    expect(log.checkpoint()).toEqual(cp13);
    for (let i = 0; i < 7; i++) log.appendSync(enc(`y${i}`));
    const cp20 = log.checkpoint();
    verifyConsistency(sha256, 13, 20, cp13.root, cp20.root, log.consistencyProof(13, 20));
    expect(log.latestCheckpoint()).toEqual(cp20);
    expect(log.checkpointAt(13)).toEqual(cp13);
    expect(log.checkpointAt(14)).toBeUndefined();
    expect(log.checkpoints().map((c) => c.size)).toEqual([0, 13, 20]);
    expect(log.checkpoints(1, 1).map((c) => c.size)).toEqual([13]);
    expect(logErrorOf(() => log.checkpoints(0, 0)).code).toBe('ERR_LOG_RANGE');
    const latest = log.latestCheckpoint();
    latest?.root.fill(0);
    expect(log.checkpoint()).toEqual(cp20);
    log.close();
  });

  it('refuses to sign a tree that does not extend the previous checkpoint', () => {
    const leaves = Array.from({ length: 9 }, (_, i) => leafHash(sha256, new Uint8Array([i])));
    const levels = completeSubtrees(leaves);
    const read: NodeReader = (level, index) => levels[level]?.[index] as Uint8Array;
    const root = (k: number): Uint8Array => rootFromLeaves(sha256, leaves.slice(0, k));
    assertExtends(read, { size: 5, root: root(5) }, { size: 9, root: root(9) });
    // A stored node changed under the old checkpoint (damage or a second writer).
    const tampered: NodeReader = (level, index) => (level === 2 && index === 0 ? new Uint8Array(32) : read(level, index));
    const e = logErrorOf(() => { assertExtends(tampered, { size: 5, root: root(5) }, { size: 9, root: root(9) }); });
    expect(e.code).toBe('ERR_LOG_INCONSISTENT');
    expect(e.message).toMatch(/refusing to sign: the tree at size 9 is not consistent with checkpoint 5/);
    expect(LogErrorCode(e.cause)).toBe('ERR_LOG_BAD_PROOF');
    // A tree whose in-memory root differs from the stored nodes.
    expect(logErrorOf(() => { assertExtends(read, { size: 5, root: root(5) }, { size: 9, root: root(8) }); }).code).toBe('ERR_LOG_INCONSISTENT');
    expect(logErrorOf(() => { assertExtends(read, { size: 9, root: root(9) }, { size: 5, root: root(5) }); }).message).toMatch(/last checkpoint has size 9/);
  });
});

function LogErrorCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : undefined;
}

describe('reopening', () => {
  it('restores size, root and the latest checkpoint', async () => {
    const path = fresh();
    const a = open(path);
    for (let i = 0; i < 300; i++) void a.append(enc(`r${i}`));
    await a.append(enc('last'));
    const cp = a.checkpoint();
    a.close();
    const b = open(path);
    expect(b.size()).toBe(301);
    expect(toHex(b.root())).toBe(toHex(cp.root));
    expect(b.latestCheckpoint()).toEqual(cp);
    await b.append(enc('more'));
    verifyConsistency(sha256, 301, 302, cp.root, b.checkpoint().root, b.consistencyProof(301, 302));
    b.close();
  });

  it('repairs entries that were stored but never integrated', () => {
    const path = fresh();
    const a = open(path);
    const leaves: Uint8Array[] = [];
    for (let i = 0; i < 37; i++) leaves.push(a.appendSync(enc(`i${i}`)).leafHash);
    const cp = a.checkpoint();
    a.close();
    // A crash between the two halves of an append: entries on disk, their nodes not.
    const s = openStore({ path });
    const tail = Array.from({ length: 64 }, (_, k) => {
      const data = enc(`tail${k}`);
      return { index: 37 + k, data, leafHash: leafHash(sha256, data), timestamp: 1 };
    });
    s.appendEntries(tail);
    expect(s.nodeCount(1)).toBe(18);
    s.close();

    const b = open(path);
    leaves.push(...tail.map((e) => e.leafHash));
    expect(b.size()).toBe(101);
    expect(toHex(b.root())).toBe(toHex(rootFromLeaves(sha256, leaves)));
    for (const i of [0, 36, 37, 64, 100]) verifyInclusion(sha256, i, 101, leaves[i] as Uint8Array, b.inclusionProof(i, 101), b.root());
    verifyConsistency(sha256, 37, 101, cp.root, b.root(), b.consistencyProof(37, 101));
    b.close();
    const check = openStore({ path });
    expect([1, 2, 3, 4, 5, 6].map((l) => check.nodeCount(l))).toEqual([50, 25, 12, 6, 3, 1]);
    check.close();
  });

  it('repairs a log whose nodes were never written at all', () => {
    const path = fresh();
    open(path).close(); // creates the metadata
    const s = openStore({ path });
    const rows = Array.from({ length: 25_000 }, (_, i) => {
      const data = new Uint8Array([i & 0xff, i >> 8]);
      return { index: i, data, leafHash: leafHash(sha256, data), timestamp: 0 };
    });
    s.appendEntries(rows);
    s.close();
    const log = open(path);
    expect(toHex(log.root())).toBe(toHex(rootFromLeaves(sha256, rows.map((r) => r.leafHash))));
    log.close();
  });

  it('refuses a tail entry whose stored leaf hash does not match its bytes', () => {
    const path = fresh();
    open(path).close();
    const s = openStore({ path });
    s.appendEntries([{ index: 0, data: enc('a'), leafHash: leafHash(sha256, enc('b')), timestamp: 0 }]);
    s.close();
    const e = logErrorOf(() => open(path));
    expect(e.code).toBe('ERR_LOG_INCONSISTENT');
    expect(e.message).toMatch(/entry 0 .* does not match its stored leaf hash/);
  });

  it('refuses a different origin for the same file', () => {
    const path = fresh();
    open(path).close();
    const e = logErrorOf(() => openLog({ path, origin: 'other.example/log', signer: { name: ORIGIN, privateKey: SEED } }));
    expect(e.code).toBe('ERR_LOG_INCONSISTENT');
    expect(e.message).toMatch(/is the log "gateway.example\/log", but was opened as "other.example\/log"/);
  });

  it('detects a stored node changed under a signed checkpoint', () => {
    const path = fresh();
    const a = open(path);
    // Checkpoint 6 = H(node(2,0), node(1,2)); the open check recomputes it from those nodes.
    for (let i = 0; i < 6; i++) a.appendSync(enc(`t${i}`));
    a.checkpoint();
    a.appendSync(enc('t6'));
    a.close();
    const raw = new Database(path);
    raw.exec("DROP TRIGGER nodes_no_update; UPDATE nodes SET hash = zeroblob(32) WHERE level = 1 AND idx = 2");
    raw.close();
    const e = logErrorOf(() => open(path));
    expect(e.code).toBe('ERR_LOG_INCONSISTENT');
    expect(e.message).toMatch(/checkpoint 6 .* has root [0-9a-f]{64} but the stored tree gives/);
  });

  it('detects lost entries (a checkpoint larger than the tree) and a forged checkpoint row', () => {
    const path = fresh();
    const a = open(path);
    a.appendSync(enc('one'));
    const cp = a.checkpoint();
    a.close();
    const raw = new Database(path);
    raw.prepare('INSERT INTO checkpoints (size, root, note, ts) VALUES (?, ?, ?, ?)').run(5, Buffer.from(cp.root), cp.note, 0);
    raw.close();
    expect(logErrorOf(() => open(path)).message).toMatch(/larger than the tree .* entries were lost/);

    const path2 = fresh();
    const b = open(path2);
    b.appendSync(enc('one'));
    b.checkpoint();
    b.appendSync(enc('two'));
    const root2 = b.root();
    b.close();
    const raw2 = new Database(path2);
    // The right root for size 2, but a note whose signature was made over other text.
    const forged = `${ORIGIN}\n2\n${Buffer.from(root2).toString('base64')}\n\n${cp.note.slice(cp.note.indexOf('\u2014'))}`;
    raw2.prepare('INSERT INTO checkpoints (size, root, note, ts) VALUES (?, ?, ?, ?)').run(2, Buffer.from(root2), forged, 0);
    raw2.close();
    expect(logErrorOf(() => open(path2)).message).toMatch(/signature .* does not verify/);
  });

  it('refuses files whose metadata or tree shape is wrong', () => {
    const zero = new Uint8Array(32);
    const stage = (fn: (s: ReturnType<typeof openStore>) => void, withLog = true): string => {
      const path = fresh();
      if (withLog) open(path).close();
      const s = openStore({ path });
      fn(s);
      s.close();
      return path;
    };
    const row = (i: number): { index: number; data: Uint8Array; leafHash: Uint8Array; timestamp: number } => ({ index: i, data: new Uint8Array([i]), leafHash: leafHash(sha256, new Uint8Array([i])), timestamp: 0 });
    const cases: [string, string, RegExp][] = [
      ['entries without metadata', stage((s) => { s.appendEntries([row(0)]); }, false), /no log metadata/],
      ['another format', stage((s) => { s.putMeta('format', 'other-v9'); }, false), /format other-v9/],
      ['nodes beyond the entries', stage((s) => { s.appendEntries([0, 1, 2, 3].map(row)); s.appendNodes([{ level: 1, index: 2, hash: zero }]); }), /nodes at level 1 for only 4 entries/],
      [
        'a missing upper node',
        stage((s) => {
          s.appendEntries([0, 1, 2, 3, 4, 5, 6, 7].map(row));
          s.appendNodes([0, 1, 2, 3].map((index) => ({ level: 1, index, hash: zero })));
          s.appendNodes([{ level: 2, index: 0, hash: zero }]);
        }),
        /1 tree nodes at level 2, want 2 .* the tree is damaged/,
      ],
    ];
    for (const [name, path, message] of cases) {
      const e = logErrorOf(() => open(path));
      expect(e.code, name).toBe('ERR_LOG_INCONSISTENT');
      expect(e.message, name).toMatch(message);
    }
  });

  it('refuses a stored checkpoint whose note does not match its row', () => {
    for (const [name, note] of [
      ['a note for another size', (cp: string) => cp.replace('\n1\n', '\n2\n')],
      ['not a note at all', () => 'garbage'],
    ] as const) {
      const path = fresh();
      const a = open(path);
      a.appendSync(enc('one'));
      const cp = a.checkpoint();
      a.appendSync(enc('two'));
      const root2 = a.root();
      a.close();
      const raw = new Database(path);
      raw.prepare('INSERT INTO checkpoints (size, root, note, ts) VALUES (?, ?, ?, ?)').run(2, Buffer.from(root2), note(cp.note), 0);
      raw.close();
      const e = logErrorOf(() => open(path));
      expect(e.code, name).toBe('ERR_LOG_INCONSISTENT');
      expect(e.message, name).toMatch(/checkpoint 2 .* is not a valid checkpoint note/);
    }
  });

  it('opens after a key rotation and signs with the new key', async () => {
    const path = fresh();
    const a = open(path);
    a.appendSync(enc('x'));
    a.checkpoint();
    a.close();
    const b = openLog({ path, origin: ORIGIN, signer: { name: ORIGIN, privateKey: new Uint8Array(32).fill(1) } });
    b.appendSync(enc('y'));
    const cp = b.checkpoint();
    await expect(verifyCheckpoint(cp.note, [createNoteVerifier(b.verifierKey)])).resolves.toMatchObject({ size: 2 });
    b.close();
  });
});

describe('blobs', () => {
  it('stores content-addressed bytes and checks them on the way out', () => {
    const path = fresh();
    const log = open(path, { maxBlobBytes: 16 });
    const hex = log.putBlob(enc('evidence'));
    expect(hex).toBe(toHex(sha256(enc('evidence'))));
    expect(log.putBlob(enc('evidence'))).toBe(hex);
    expect(log.getBlob(hex)).toEqual(enc('evidence'));
    expect(log.getBlob('0'.repeat(64))).toBeUndefined();
    for (const bad of ['', 'zz'.repeat(32), hex.toUpperCase(), hex.slice(2)]) expect(logErrorOf(() => log.getBlob(bad)).code).toBe('ERR_LOG_RANGE');
    expect(logErrorOf(() => log.putBlob(new Uint8Array(17))).code).toBe('ERR_LOG_RANGE');
    log.close();
    const raw = new Database(path);
    raw.exec("DROP TRIGGER blobs_no_update; UPDATE blobs SET bytes = x'00'");
    raw.close();
    const again = open(path);
    expect(logErrorOf(() => again.getBlob(hex)).message).toMatch(/does not match its digest/);
    again.close();
  });
});

describe('failures', () => {
  it('after close every call fails with ERR_LOG_CLOSED; queued appends are committed first', async () => {
    const log = open(fresh());
    const queued = log.append(enc('queued'));
    log.close();
    expect((await queued).index).toBe(0);
    log.close(); // idempotent
    expect((await logErrorOfAsync(log.append(enc('late')))).code).toBe('ERR_LOG_CLOSED');
    const calls: (() => unknown)[] = [
      () => log.appendSync(enc('x')),
      () => log.size(),
      () => log.root(),
      () => log.rootAt(0),
      () => log.checkpoint(),
      () => log.latestCheckpoint(),
      () => log.checkpointAt(0),
      () => log.checkpoints(),
      () => log.inclusionProof(0, 1),
      () => log.consistencyProof(0, 1),
      () => log.entries(0, 1),
      () => log.putBlob(enc('x')),
      () => log.getBlob('0'.repeat(64)),
    ];
    for (const c of calls) expect(logErrorOf(c).code).toBe('ERR_LOG_CLOSED');
  });

  it('a full disk rejects the batch with ERR_LOG_IO and the log keeps serving reads', async () => {
    const log = open(fresh(), { maxBytes: 96 * 1024 });
    let failure: unknown;
    let i = 0;
    for (; i < 200 && failure === undefined; i++) {
      const batch = Array.from({ length: 4 }, () => log.append(new Uint8Array(4096).fill(i)));
      try {
        await Promise.all(batch);
      } catch (e: unknown) {
        failure = e;
        await Promise.allSettled(batch);
      }
    }
    const e = logErrorOf(() => {
      throw failure;
    });
    expect(e.code).toBe('ERR_LOG_IO');
    expect(e.message).toMatch(/full/);
    const size = log.size();
    expect(size).toBe((i - 1) * 4);
    const root = log.root();
    verifyInclusion(sha256, 0, size, log.entries(0, 1)[0]?.leafHash as Uint8Array, log.inclusionProof(0, size), root);
    expect(log.checkpoint().size).toBe(size); // a small row still fits
    log.close();
  });

  it('a failed batch rejects all of its appends and changes nothing; the next batch succeeds', async () => {
    const path = fresh();
    open(path).close();
    // Fault injection through SQLite itself: any entry whose bytes are 0xff fails its insert.
    const raw = new Database(path);
    raw.exec("CREATE TRIGGER poison BEFORE INSERT ON entries WHEN NEW.data = x'ff' BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
    raw.close();
    const log = open(path);
    await log.append(enc('ok'));
    const rootBefore = toHex(log.root());
    const batch = [log.append(enc('a')), log.append(new Uint8Array([0xff])), log.append(enc('b'))];
    const outcomes = await Promise.allSettled(batch);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    const e = logErrorOf(() => {
      throw (outcomes[0] as PromiseRejectedResult).reason;
    });
    expect(e.message).toMatch(/injected failure/);
    expect(log.size()).toBe(1);
    expect(toHex(log.root())).toBe(rootBefore);
    expect(logErrorOf(() => log.appendSync(new Uint8Array([0xff]))).message).toMatch(/injected failure/);
    expect((await log.append(enc('c'))).index).toBe(1);
    expect(log.checkpoint().size).toBe(2);
    log.close();
  });

  it('refuses a blob that is not bytes', () => {
    const log = open(fresh());
    expect(logErrorOf(() => log.putBlob('text' as unknown as Uint8Array)).code).toBe('ERR_LOG_RANGE');
    log.close();
  });

  it('a second gateway on the same file gets ERR_LOG_IO', () => {
    const path = fresh();
    const a = open(path);
    const e = logErrorOf(() => open(path));
    expect(e.code).toBe('ERR_LOG_IO');
    expect(e.message).toMatch(/only one gateway may write a log file/);
    a.close();
  });
});
