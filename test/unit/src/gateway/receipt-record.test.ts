/**
 * Receipts are durable through the transparency log (one fsync per answer); the store's copy is
 * committed without one, and what a power loss takes from it is restored from the log when the
 * gateway opens. A power loss is simulated by deleting the store's latest receipt rows.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openGatewayLog, type GatewayLog } from '../../../../src/audit/gateway-log.ts';
import { parseConfig } from '../../../../src/config/schema.ts';
import type { ReceiptEntry } from '../../../../src/gateway/infer.ts';
import { receiptLogEntry, receiptRecord, recoverReceipts } from '../../../../src/gateway/receipt-record.ts';
import { startGateway } from '../../../../src/gateway/server.ts';
import { createLogger } from '../../../../src/obs/log.ts';
import { DB_FILE_NAME, openSqliteStore } from '../../../../src/store/sqlite.ts';
import type { ReceiptRecord } from '../../../../src/store/store.ts';
import { sha256hex } from '../../../../src/gateway/server.ts';

const ROOT = join(import.meta.dirname, '../../../..');
const ORIGIN = 'attestgate.invalid/log';
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const lines: { level: string; msg: string; [k: string]: unknown }[] = [];
const log = createLogger({ level: 'debug', base: {}, sink: (l) => void lines.push(JSON.parse(l) as (typeof lines)[number]) });

function receipt(i: number): ReceiptEntry {
  const receiptJws = `eyJhbGciOiJFUzI1NiJ9.${Buffer.from(`{"n":${i}}`).toString('base64url')}.${'s'.repeat(86)}`;
  return { id: `rcpt-${i}`, attestationId: '00000000-0000-4000-8000-000000000001', backend: 'enclave-1', model: 'iris:1', createdAt: Date.UTC(2026, 11, 6, 5, 0, i, 123), receiptJws, receiptSha256: sha256hex(receiptJws) };
}

/** What the gateway does per answer: the log entry with the JWS, then the store's copy. */
async function record(glog: GatewayLog, store: ReturnType<typeof openSqliteStore>, r: ReceiptEntry, withJws = true): Promise<ReceiptRecord> {
  const entry = receiptLogEntry(r);
  if (!withJws) delete entry['receipt'];
  const index = await glog.append('receipt', entry);
  const rec = receiptRecord(r, index);
  await store.putReceipt(rec);
  return rec;
}

/** A fresh data directory with the gateway's log and store open in it. */
async function fresh(): Promise<{ dataDir: string; glog: GatewayLog; store: ReturnType<typeof openSqliteStore> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'attestgate-rcpt-'));
  dirs.push(dataDir);
  return { dataDir, glog: await openGatewayLog({ dataDir, origin: ORIGIN, checkpointEveryMs: 0 }), store: openSqliteStore({ dataDir }) };
}

/** A power loss that took the store's latest receipt rows (the log, fsynced, kept them). */
function loseRows(dataDir: string, ids: readonly string[]): void {
  const raw = new Database(join(dataDir, DB_FILE_NAME));
  const del = raw.prepare('DELETE FROM receipts WHERE id = ?');
  for (const id of ids) expect(del.run(id).changes).toBe(1);
  raw.close();
}

describe('receipt recovery from the transparency log', () => {
  it('restores exactly the receipts the store lost, byte for byte, and stops at the first one it has', async () => {
    const { dataDir, glog, store: opened } = await fresh();
    let store = opened;
    const recs: ReceiptRecord[] = [];
    for (let i = 0; i < 6; i++) {
      recs.push(await record(glog, store, receipt(i)));
      // Other kinds of entries in between are skipped.
      await glog.append('key', { event: 'enclave_key_admitted', n: i });
    }
    await store.close();
    loseRows(dataDir, ['rcpt-3', 'rcpt-4', 'rcpt-5']);
    store = openSqliteStore({ dataDir });
    expect(await store.getReceipt('rcpt-4')).toBeUndefined();
    expect(await recoverReceipts(glog, store, log)).toEqual({ restored: 3, unrecoverable: 0 });
    for (const r of recs) expect(await store.getReceipt(r.id)).toEqual(r);
    expect(lines.some((l) => l.level === 'warn' && /restored from the transparency log/.test(l.msg) && l['restored'] === 3)).toBe(true);
    // Nothing left to do.
    expect(await recoverReceipts(glog, store, log)).toEqual({ restored: 0, unrecoverable: 0 });

    // A row lost below one the store still has is not looked for: losses are a suffix (WAL order).
    await store.close();
    loseRows(dataDir, ['rcpt-1']);
    store = openSqliteStore({ dataDir });
    expect(await recoverReceipts(glog, store, log)).toEqual({ restored: 0, unrecoverable: 0 });
    await store.close();
    await glog.close();
  });

  it('reads back across many log reads: 300 receipts, the last 150 lost', async () => {
    const { dataDir, glog, store: opened } = await fresh();
    let store = opened;
    const recs: ReceiptRecord[] = [];
    for (let i = 0; i < 300; i++) recs.push(await record(glog, store, receipt(100 + i)));
    await store.close();
    loseRows(dataDir, recs.slice(150).map((r) => r.id));
    store = openSqliteStore({ dataDir });
    expect(await recoverReceipts(glog, store, log)).toEqual({ restored: 150, unrecoverable: 0 });
    for (const r of recs) expect(await store.getReceipt(r.id)).toEqual(r);
    await store.close();
    await glog.close();
  });

  it('counts, and logs as an error, lost receipts whose entries do not carry the JWS (written before they did)', async () => {
    const { dataDir, glog, store: opened } = await fresh();
    let store = opened;
    const kept = await record(glog, store, receipt(0));
    const old = await record(glog, store, receipt(1), false);
    const lost = await record(glog, store, receipt(2));
    await store.close();
    loseRows(dataDir, [old.id, lost.id]);
    store = openSqliteStore({ dataDir });
    lines.length = 0;
    expect(await recoverReceipts(glog, store, log)).toEqual({ restored: 1, unrecoverable: 1 });
    expect(await store.getReceipt(lost.id)).toEqual(lost);
    expect(await store.getReceipt(old.id)).toBeUndefined();
    expect(await store.getReceipt(kept.id)).toEqual(kept);
    expect(lines.some((l) => l.level === 'error' && l['unrecoverable'] === 1)).toBe(true);
    await store.close();
    await glog.close();
  });

  it('runs when the gateway opens: GET /v1/receipts/{id} serves a restored receipt as it was recorded', async () => {
    const { dataDir, glog, store } = await fresh();
    const rec = await record(glog, store, receipt(7));
    await store.close();
    await glog.close();
    loseRows(dataDir, [rec.id]);
    const quiet = createLogger({ level: 'error', base: {}, sink: () => undefined });
    const g = await startGateway(parseConfig({ listen: { host: '127.0.0.1', port: 0 }, data_dir: dataDir, policy: 'config/demo-policy.yaml', backends: [] }, { baseDir: ROOT }), { log: quiet, checkpointEveryMs: 0 });
    try {
      const res = await fetch(`${g.url}/v1/receipts/${rec.id}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(rec.body_json);
    } finally {
      await g.close();
    }
  });
});
