/**
 * Recording a receipt before its answer leaves, with one durable write per answer.
 *
 * The transparency log is the durable record: the receipt's entry, which carries the receipt JWS
 * itself (`receipt`, besides its digest `receipt_sha256`), is appended in a transaction that is
 * fsynced before the answer leaves. (In the entry rather than as a content-addressed blob of the
 * log: a blob lands on a random page of its table, which cost 140 µs of CPU per answer.) The
 * store's copy (what GET /v1/receipts/{id} serves and the replay check reads) is committed without an fsync of its own (Store.putReceipt): it survives a crash of the process,
 * and what a power loss takes from it is put back from the log when the gateway opens
 * (recoverReceipts). A second fsync per answer, on another file, cost as much as the first.
 */
import { createHash } from 'node:crypto';
import type { GatewayLog } from '../audit/gateway-log.ts';
import { MAX_ENTRIES_PER_READ } from '../audit/log.ts';
import { equalText } from '../client/digest.ts';
import type { Logger } from '../obs/log.ts';
import type { ReceiptRecord, Store } from '../store/store.ts';
import type { ReceiptEntry } from './infer.ts';

/** The log entry of a receipt (without its `kind`, which GatewayLog.append adds). */
export function receiptLogEntry(r: ReceiptEntry): Record<string, unknown> {
  return { id: r.id, receipt_sha256: r.receiptSha256, receipt: r.receiptJws, attestation: r.attestationId, backend: r.backend, model: r.model, time: new Date(r.createdAt).toISOString() };
}

/** The store's record of a receipt: the same bytes whether written at answer time or recovered. */
export function receiptRecord(r: ReceiptEntry, logIndex: number): ReceiptRecord {
  return {
    id: r.id,
    attestation_id: r.attestationId,
    backend: r.backend,
    model: r.model,
    created_at: r.createdAt,
    body_json: JSON.stringify({ id: r.id, receipt: r.receiptJws, receipt_sha256: r.receiptSha256, attestation_id: r.attestationId, backend: r.backend, model: r.model, created_at: new Date(r.createdAt).toISOString(), log_index: logIndex }),
  };
}

/**
 * The receipt a log entry records (`entry` undefined when the entry does not carry the JWS, or one
 * whose digest is not receipt_sha256); undefined for entries of other kinds.
 */
function fromLog(data: Uint8Array): { id: string; entry: ReceiptEntry | undefined } | undefined {
  let e: unknown;
  try {
    e = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
  const o = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
  if (o['kind'] !== 'receipt') return undefined;
  const { id, receipt_sha256: sha, receipt: jws, attestation, backend, model, time } = o;
  if (typeof id !== 'string' || typeof sha !== 'string' || typeof attestation !== 'string' || typeof backend !== 'string' || typeof model !== 'string' || typeof time !== 'string') return undefined;
  const createdAt = Date.parse(time);
  if (!Number.isFinite(createdAt)) return undefined;
  // Entries written before receipts carried their JWS cannot give it back.
  if (typeof jws !== 'string' || !equalText(createHash('sha256').update(jws).digest('hex'), sha)) return { id, entry: undefined };
  return { id, entry: { id, attestationId: attestation, backend, model, createdAt, receiptJws: jws, receiptSha256: sha } };
}

export interface RecoveryResult {
  /** Receipts the store lacked and got back from the log. */
  readonly restored: number;
  /** Receipts the store lacked whose entry does not carry the JWS (entries written before it did). */
  readonly unrecoverable: number;
}

/**
 * Put back into the store every receipt of the log's tail that the store lost. Store commits
 * follow log commits in the same order and a power loss takes a suffix of a WAL, so the scan goes
 * backwards from the log's end and stops at the first receipt the store has.
 */
export async function recoverReceipts(glog: GatewayLog, store: Store, log: Logger): Promise<RecoveryResult> {
  let restored = 0;
  let unrecoverable = 0;
  // Reads grow from a few entries (at a normal start the last receipt is in the store) to the
  // most one read may return.
  for (let end = glog.tlog.size(), chunk = 16; end > 0; end -= chunk, chunk = Math.min(chunk * 4, MAX_ENTRIES_PER_READ)) {
    const entries = glog.tlog.entries(Math.max(0, end - chunk), end);
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i];
      if (e === undefined) continue;
      const r = fromLog(e.data);
      if (r === undefined) continue;
      if ((await store.getReceipt(r.id)) !== undefined) return done();
      if (r.entry === undefined) {
        unrecoverable++;
        continue;
      }
      await store.putReceipt(receiptRecord(r.entry, e.index));
      restored++;
    }
  }
  return done();

  function done(): RecoveryResult {
    if (restored > 0) log.warn('receipts restored from the transparency log (the store lost its latest writes, e.g. to a power loss)', { restored });
    if (unrecoverable > 0) log.error('receipts in the transparency log are missing from the store and their entries do not carry the JWS', { unrecoverable });
    return { restored, unrecoverable };
  }
}
