/**
 * Inference through the gateway (docs/gateway.md), independent of the HTTP framework: pick an
 * admitted backend, forward the request bytes unchanged, check the enclave's receipt against the
 * attested key (a bad one evicts the backend), record the receipt durably, and countersign.
 *
 * Two HTTP front ends share it: the express route (app.ts), which takes every request form, and
 * a direct `node:http` handler for the ordinary form of the request (fast-infer.ts), which skips
 * express's routing and body parsing on the path every answer takes.
 */
import { createHash } from 'node:crypto';
import { CLIENT_NONCE } from '../../attestation/receipt.ts';
import { EVIDENCE_HEADER, NONCE_HEADER } from '../../enclave/protocol.ts';
import { authenticate, type Headers } from '../auth/api-keys.ts';
import type { RateLimiter } from '../auth/rate-limit.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../obs/log.ts';
import type { GatewayKey } from '../signing/keys.ts';
import type { Store } from '../store/store.ts';
import { checkAnswer, countersign } from './answer.ts';
import type { BackendPool } from './pool.ts';

/** Where receipts go before their answer leaves: durable when recordReceipt resolves. */
export interface ReceiptSink {
  recordReceipt(entry: ReceiptEntry): Promise<{ logIndex?: number }>;
}

export interface ReceiptEntry {
  readonly id: string;
  readonly attestationId: string;
  readonly backend: string;
  readonly model: string;
  readonly createdAt: number;
  readonly receiptJws: string;
  readonly receiptSha256: string;
}

export interface InferDeps {
  readonly store: Store;
  readonly pool: BackendPool;
  readonly key: GatewayKey;
  readonly log: Logger;
  readonly limiter: RateLimiter;
  readonly now: () => number;
  readonly demo: boolean;
  readonly receipts: ReceiptSink;
}

/** Model names and versions in paths. */
export const NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

export interface InferRequest {
  readonly name: string;
  readonly version: string | undefined;
  readonly body: Uint8Array;
  /** The client's attestgate-nonce header, if any (checked here). */
  readonly nonce: string | undefined;
  /** The client's Accept header, if any. */
  readonly accept: string | undefined;
}

export interface Reply {
  readonly status: number;
  /** The full Content-Type header value. */
  readonly contentType: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

/** Content types exactly as express writes them (it adds a charset to application/json only). */
export const JSON_TYPE = 'application/json; charset=utf-8';
const JOSE_TYPE = 'application/jose+json';

const sha256hex = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

/**
 * API key (or demo loopback) and the tenant's rate limit. A refusal is an AppError; a rate-limited
 * one comes with the Retry-After seconds to send.
 */
export async function authorizeInference(d: InferDeps, headersDistinct: Headers, remoteAddress: string | undefined): Promise<{ error: AppError; retryAfterS?: number } | undefined> {
  // headersDistinct keeps every occurrence: Node's req.headers keeps only the first Authorization,
  // which would let a request carry two keys and be judged on one.
  const who = await authenticate(headersDistinct, remoteAddress, { store: d.store, demo: d.demo });
  if (AppError.is(who)) return { error: who };
  const r = d.limiter.take(who.tenant);
  if (!r.allowed) return { error: new AppError('ERR_RATE_LIMITED', `tenant ${who.tenant} is over its rate limit; retry after ${r.retryAfterS} s`), retryAfterS: r.retryAfterS };
  return undefined;
}

/** One inference: the enclave's answer with the receipt checked, recorded and countersigned, or its own OIP error. Throws AppError. */
export async function forwardInfer(d: InferDeps, q: InferRequest): Promise<Reply> {
  const { name, version, body, nonce } = q;
  if (nonce !== undefined && !CLIENT_NONCE.test(nonce)) throw new AppError('ERR_BAD_REQUEST', `${NONCE_HEADER} must be base64url, 16 to 128 characters`);
  const jose = (q.accept ?? '').toLowerCase().includes('application/jose+json');
  const path = `/v2/models/${name}${version === undefined ? '' : `/versions/${version}`}/infer`;
  const tried = new Set<string>();
  for (;;) {
    const b = d.pool.pick(name, version, tried);
    if (b === undefined) {
      const why = d.pool.backends.map((x) => `${x.name}: ${d.pool.usable(x) ? 'does not serve it' : (x.reason ?? x.state)}`).join('; ');
      throw new AppError('ERR_NO_BACKEND', `no admitted backend serves model ${name}${version === undefined ? '' : ` version ${version}`} (${why || 'no backends configured'})`, { expose: true });
    }
    tried.add(b.name);
    const admission = b.admission;
    const headers: Record<string, string> = { [EVIDENCE_HEADER]: admission.evidenceSha256 ?? '' };
    if (nonce !== undefined) headers[NONCE_HEADER] = nonce;
    if (jose) headers['accept'] = JOSE_TYPE;
    b.inflight++;
    let r;
    try {
      r = await b.client.request('POST', path, body, headers, 64 * 1024 * 1024);
    } catch (e: unknown) {
      // A connection failure: the request never reached the enclave, so another replica may take
      // it. Never retried once a response (of any kind) has started.
      if (AppError.is(e) && e.code === 'ERR_BACKEND_UNREACHABLE') {
        d.pool.evict(b, `unreachable: ${e.message}`);
        continue;
      }
      throw e;
    } finally {
      b.inflight--;
    }
    if (r.status === 409 && /"code":"ERR_(UNKNOWN_EVIDENCE|NOT_ATTESTED)"/.test(new TextDecoder().decode(r.body.subarray(0, 512)))) {
      // The enclave no longer holds the evidence our admission relied on (it restarted, or other
      // verifiers pushed it out): the admission is void. The request did not run, so another
      // replica may take it; this one is re-attested.
      d.pool.evict(b, 'the enclave no longer knows the evidence it was admitted with (restarted?)');
      continue;
    }
    // The enclave's own OIP error (bad tensor, unknown model): no answer to vouch for.
    if (r.status !== 200) return { status: r.status, contentType: JSON_TYPE, headers: {}, body: r.body };
    let checked;
    try {
      checked = checkAnswer(admission, body, r, jose, nonce);
      // A receipt id seen before is a replayed answer, not one computed for this request.
      if ((await d.store.getReceipt(checked.receipt.id)) !== undefined) {
        throw new AppError('ERR_RECEIPT_INVALID', `backend ${b.name}: receipt ${checked.receipt.id} was already used (a replayed answer)`, { expose: true });
      }
    } catch (e: unknown) {
      if (!AppError.is(e) || e.code !== 'ERR_RECEIPT_INVALID') throw e;
      d.pool.evict(b, e.message);
      d.log.error('backend answer refused; backend evicted', { backend: b.name, reason: e.message });
      throw e;
    }
    const now = d.now();
    const receiptSha256 = sha256hex(checked.receiptJws);
    const { logIndex } = await d.receipts.recordReceipt({
      id: checked.receipt.id,
      attestationId: admission.id,
      backend: b.name,
      model: `${checked.receipt.model.name}:${checked.receipt.model.version}`,
      createdAt: now,
      receiptJws: checked.receiptJws,
      receiptSha256,
    });
    const signed = countersign(d.key, checked, { attestationId: admission.id, backend: b.name, now, receiptSha256, ...(logIndex === undefined ? {} : { logIndex }) });
    return { status: 200, contentType: signed.contentType === JOSE_TYPE ? JOSE_TYPE : JSON_TYPE, headers: signed.headers, body: signed.body };
  }
}
