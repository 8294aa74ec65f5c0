/**
 * The floor the gateway benchmark compares against (bench/gateway.ts): the least a Node process in
 * the middle can do, on the same stack as the gateway (node:http in front, an undici pool to the
 * enclave). It forwards the request bytes and passes the enclave's answer and receipt header back,
 * checking and signing nothing. With BENCH_FORWARDER_DURABLE=1 it also appends each receipt to a
 * SQLite table in WAL mode with synchronous=FULL before answering (one fsync per answer, or per
 * group of answers that arrive together), which is the least a gateway that logs every receipt
 * durably before the answer leaves must add.
 *
 * Run by bench/gateway.ts as its own process; prints {"event":"listening","url":...}.
 */
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Pool } from 'undici';

const target = process.env['BENCH_FORWARDER_TARGET'] ?? '';
const durable = process.env['BENCH_FORWARDER_DURABLE'] === '1';
const pool = new Pool(target, { connections: 64, pipelining: 1 });

let commit: ((receipts: readonly string[]) => void) | undefined;
if (durable) {
  const db = new Database(join(mkdtempSync(join(process.env['BENCH_FORWARDER_DIR'] ?? '.', 'forwarder-')), 'log.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE IF NOT EXISTS receipts (idx INTEGER PRIMARY KEY, jws TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO receipts (jws) VALUES (?)');
  commit = db.transaction((receipts: readonly string[]) => {
    for (const r of receipts) insert.run(r);
  });
}

// Group commit as the gateway's log does it: receipts that arrive in one turn of the event loop share a transaction.
let queue: { jws: string; done: () => void }[] = [];
const record = (jws: string): Promise<void> =>
  new Promise((done) => {
    if (queue.length === 0) {
      setImmediate(() => {
        const batch = queue;
        queue = [];
        commit?.(batch.map((b) => b.jws));
        for (const b of batch) b.done();
      });
    }
    queue.push({ jws, done });
  });

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const evidence = req.headers['attestgate-evidence'];
    if (typeof evidence === 'string') headers['attestgate-evidence'] = evidence;
    pool
      .request({ method: 'POST', path: req.url ?? '/', headers, body: Buffer.concat(chunks) })
      .then(async (r) => {
        const body = Buffer.from(await r.body.arrayBuffer());
        const receipt = r.headers['attestgate-receipt'];
        if (typeof receipt === 'string' && commit !== undefined) await record(receipt);
        res.writeHead(r.statusCode, { 'content-type': 'application/json', 'content-length': body.length, ...(typeof receipt === 'string' ? { 'attestgate-receipt': receipt } : {}) });
        res.end(body);
      })
      .catch(() => {
        res.writeHead(502).end();
      });
  });
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`${JSON.stringify({ event: 'listening', url: `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}` })}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  process.exit(0);
});
