/**
 * Transparency log benchmark: node --import tsx bench/log.ts
 *
 * One process, one run, so the ratios compare like with like on whatever machine runs it:
 *   append       appends/s through openLog().append (group commit, every promise awaited):
 *                a burst of N appends at once, C clients in a closed loop, and 1 client
 *                (one transaction and one fsync per append, what group commit saves)
 *   baselines    bare SHA-256 (node:crypto) of the same leaf inputs (0x00 || entry), and a bare
 *                better-sqlite3 INSERT of the same (idx, data, leaf_hash, ts) rows, prepared once,
 *                in transactions of the log's batch size, same pragmas (WAL, synchronous=FULL)
 *   proofs       inclusion and consistency proof latency at BIG entries (10^6 by default; the log
 *                is built through the same append path), and the time to reopen it
 *   checkpoint   checkpoint(): consistency check against the previous one, Ed25519 signature and
 *                a durable insert; against a bare Ed25519 signature of the same text
 *
 * Environment: BENCH_LOG_N (default 100000), BENCH_LOG_BIG (default 1000000),
 * BENCH_LOG_CLIENTS (default 1000), BENCH_LOG_DIR (default the OS temp dir; put it on the disk
 * you mean to measure: fsync cost is most of the single-client figure).
 */
import { hash, sign } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ed25519PrivateKeyFromSeed } from '../src/audit/ed25519-node.ts';
import { openLog, type TransparencyLog } from '../src/audit/log.ts';
import { leafHash, verifyInclusion } from '../src/audit/merkle.ts';
import { sha256 } from '../src/audit/sha256-node.ts';

const N = Number(process.env['BENCH_LOG_N'] ?? 100_000);
const BIG = Number(process.env['BENCH_LOG_BIG'] ?? 1_000_000);
const CLIENTS = Number(process.env['BENCH_LOG_CLIENTS'] ?? 1000);
const BATCH = 10_000; // the log's default maxBatch
const SEED = new Uint8Array(32).fill(7);
const ORIGIN = 'bench.example/log';
const dir = mkdtempSync(join(process.env['BENCH_LOG_DIR'] ?? tmpdir(), 'attestgate-bench-log-'));

/** An attestation-record-sized entry (~260 bytes of JSON), distinct per i. */
function entry(i: number): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({ i, kind: 'attestation', tee: 'tdx', verdict: 'affirming', evidence: 'ab'.repeat(32), collateral: 'cd'.repeat(32), policy: 'p1' }),
  );
}

const seconds = (t0: number): number => (performance.now() - t0) / 1000;

function quantiles(samples: number[]): { median: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)] as number, p99: s[Math.floor(s.length * 0.99)] as number };
}

function timeEach(count: number, fn: (i: number) => unknown): { median: number; p99: number } {
  const t: number[] = [];
  for (let i = 0; i < count; i++) {
    const s = process.hrtime.bigint();
    fn(i);
    t.push(Number(process.hrtime.bigint() - s) / 1000);
  }
  return quantiles(t);
}

const open = (name: string): TransparencyLog => openLog({ path: join(dir, name), origin: ORIGIN, signer: { name: ORIGIN, privateKey: SEED } });

// --- baselines --------------------------------------------------------------------------------

function bareSha256(entries: readonly Uint8Array[]): number {
  const t0 = performance.now();
  for (const e of entries) {
    const b = new Uint8Array(1 + e.length);
    b.set(e, 1);
    hash('sha256', b, 'buffer');
  }
  return entries.length / seconds(t0);
}

function bareInsert(entries: readonly Uint8Array[], leafHashes: readonly Uint8Array[]): number {
  const db = new Database(join(dir, 'bare.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL, leaf_hash BLOB NOT NULL, ts INTEGER NOT NULL)');
  const ins = db.prepare('INSERT INTO entries (idx, data, leaf_hash, ts) VALUES (?, ?, ?, ?)');
  const tx = db.transaction((start: number, end: number) => {
    for (let i = start; i < end; i++) ins.run(i, entries[i], leafHashes[i], 1_700_000_000_000);
  });
  const t0 = performance.now();
  for (let i = 0; i < entries.length; i += BATCH) tx(i, Math.min(entries.length, i + BATCH));
  const rate = entries.length / seconds(t0);
  db.close();
  return rate;
}

// --- the log ----------------------------------------------------------------------------------

async function burst(log: TransparencyLog, entries: readonly Uint8Array[]): Promise<number> {
  const t0 = performance.now();
  await Promise.all(entries.map((e) => log.append(e)));
  return entries.length / seconds(t0);
}

async function clients(log: TransparencyLog, entries: readonly Uint8Array[], c: number): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next < entries.length) await log.append(entries[next++] as Uint8Array);
    }),
  );
  return entries.length / seconds(t0);
}

async function main(): Promise<void> {
  const entries = Array.from({ length: N }, (_, i) => entry(i));
  const leafHashes = entries.map((e) => leafHash(sha256, e));
  const rows: [string, string, string, string][] = [];
  const fmt = (x: number, digits = 0): string => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

  // 1. Baselines, then the log's append path over the same entries.
  const shaRate = bareSha256(entries);
  const insertRate = bareInsert(entries, leafHashes);
  let log = open('append.db');
  const burstRate = await burst(log, entries);
  const clientRate = await clients(log, entries, CLIENTS);
  const single = entries.slice(0, 500);
  const singleRate = await clients(log, single, 1);
  log.close();
  rows.push(
    ['bare SHA-256 of 0x00‖entry', `${fmt(shaRate)} /s`, '', ''],
    [`bare INSERT, ${fmt(BATCH)} rows/txn`, `${fmt(insertRate)} /s`, '', ''],
    [`append, burst of ${fmt(N)}`, `${fmt(burstRate)} /s`, `${(burstRate / insertRate).toFixed(2)}× bare INSERT`, `${(burstRate / shaRate).toFixed(3)}× bare SHA-256`],
    [`append, ${fmt(CLIENTS)} clients`, `${fmt(clientRate)} /s`, `${(clientRate / insertRate).toFixed(2)}× bare INSERT`, `${(clientRate / shaRate).toFixed(3)}× bare SHA-256`],
    ['append, 1 client (a txn + fsync each)', `${fmt(singleRate)} /s`, `${(clientRate / singleRate).toFixed(0)}× slower than ${fmt(CLIENTS)} clients`, ''],
  );

  // 2. A log of BIG entries through the same append path, in bursts that bound memory.
  log = open('big.db');
  const t0 = performance.now();
  for (let start = 0; start < BIG; start += 100_000) {
    await Promise.all(Array.from({ length: Math.min(100_000, BIG - start) }, (_, k) => log.append(entries[(start + k) % N] as Uint8Array)));
  }
  const build = seconds(t0);
  log.checkpoint();
  log.close();
  const reopenStart = performance.now();
  log = open('big.db');
  const reopenMs = performance.now() - reopenStart;
  const size = log.size();
  const root = log.root();
  const idx = Array.from({ length: 10_000 }, () => Math.floor(Math.random() * size));
  const incl = timeEach(idx.length, (i) => log.inclusionProof(idx[i] as number, size));
  const inclVerify = timeEach(idx.length, (i) => {
    const k = idx[i] as number;
    verifyInclusion(sha256, k, size, leafHashes[k % N] as Uint8Array, log.inclusionProof(k, size), root);
  });
  const cons = timeEach(2000, (i) => log.consistencyProof(1 + ((idx[i] as number) % (size - 1)), size));
  const mb = statSync(join(dir, 'big.db')).size / 2 ** 20;
  rows.push(
    [`build a ${fmt(BIG)}-entry log (append bursts of 100k)`, `${fmt(build, 1)} s`, `${fmt(BIG / build)} appends/s`, `${fmt(mb)} MiB file`],
    [`inclusion proof at ${fmt(size)}`, `${fmt(incl.median, 1)} µs median`, `${fmt(incl.p99, 1)} µs p99`, `goal < 1000 µs: ${incl.p99 < 1000 ? 'met' : 'missed'}`],
    ['  … proof + verifyInclusion', `${fmt(inclVerify.median, 1)} µs median`, `${fmt(inclVerify.p99, 1)} µs p99`, ''],
    [`consistency proof (random m → ${fmt(size)})`, `${fmt(cons.median, 1)} µs median`, `${fmt(cons.p99, 1)} µs p99`, ''],
    [`reopen the ${fmt(BIG)}-entry log`, `${fmt(reopenMs, 1)} ms`, '', ''],
  );

  // 3. Checkpoints: one new entry, then checkpoint() (timed), 200 times.
  const key = ed25519PrivateKeyFromSeed(SEED);
  const text = `${ORIGIN}\n${size}\n${Buffer.from(root).toString('base64')}\n`;
  const bareSignWarm = timeEach(2000, () => sign(null, Buffer.from(text), key));
  const cp: number[] = [];
  for (let i = 0; i < 200; i++) {
    log.appendSync(entries[i] as Uint8Array);
    const s = process.hrtime.bigint();
    log.checkpoint();
    cp.push(Number(process.hrtime.bigint() - s) / 1000);
  }
  const cpq = quantiles(cp);
  log.close();
  rows.push(
    [`checkpoint() at ${fmt(size)}`, `${fmt(cpq.median, 1)} µs median`, `${fmt(cpq.p99, 1)} µs p99`, `${(cpq.median / bareSignWarm.median).toFixed(1)}× a bare Ed25519 sign`],
    ['  bare Ed25519 sign of the same text', `${fmt(bareSignWarm.median, 1)} µs median`, `${fmt(bareSignWarm.p99, 1)} µs p99`, ''],
  );

  console.log(`\n## attestgate transparency log (node ${process.version}, ${N} entries of ~${entries[0]?.length ?? 0} bytes, files in ${dir})\n`);
  console.log('| measure | value | | |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log('');
}

try {
  await main();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
