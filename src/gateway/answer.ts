/**
 * Before an answer leaves the gateway: the enclave's receipt must verify with the key the
 * gateway attested, name the exact bytes forwarded and received, the evidence the admission
 * relied on, and a model the enclave attested. Any mismatch is a backend fault (the caller
 * evicts the backend); the answer never reaches the client. Then the gateway countersigns:
 *   - plain OIP answers: a compact JWS in `attestgate-countersignature` over the receipt's digest
 *     and the attestation id (docs/gateway.md);
 *   - `Accept: application/jose+json`: one JWS in General JSON Serialization whose payload
 *     (receipt + response) carries the enclave's signature and the gateway's.
 * Both run for every answer, so their signatures are checked and made with Node's synchronous
 * OpenSSL calls (attestation/common/jws-node.ts), not jose's WebCrypto jobs.
 */
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { decodeCompact, publicKeyOfJwk, signCompact, signFlattened, verifyDecoded, verifyFlattened } from '../../attestation/common/jws-node.ts';
import type { ReceiptClaims } from '../../attestation/receipt.ts';
import { ANSWER_JWS_TYP, RECEIPT_HEADER } from '../../enclave/protocol.ts';
import { AppError } from '../errors.ts';
import { ReceiptError, verifyReceiptJwsWith } from '../receipts/verify.ts';
import type { GatewayKey } from '../signing/keys.ts';
import type { Admission } from './admission.ts';
import type { ForwardResult } from './enclave-client.ts';

export const COUNTERSIGNATURE_HEADER = 'attestgate-countersignature';
export const COUNTERSIGNATURE_TYP = 'attestgate-countersignature+jws';

const sha256hex = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

export interface CheckedAnswer {
  readonly receipt: ReceiptClaims;
  readonly receiptJws: string;
  /** The OIP body exactly as the enclave sent it (plain answers). */
  readonly body: Uint8Array;
  /** The enclave's flattened JWS (jose answers). */
  readonly flattened: { readonly payload: string; readonly protected: string; readonly signature: string } | undefined;
}

function fault(msg: string, cause?: unknown): AppError {
  return new AppError('ERR_RECEIPT_INVALID', msg, { cause, expose: true });
}

/** Check the backend's answer against what was forwarded and what was attested. Throws ERR_RECEIPT_INVALID. */
export function checkAnswer(admission: Admission, forwarded: Uint8Array, res: ForwardResult, jose: boolean, clientNonce?: string): CheckedAnswer {
  const key = admission.key;
  if (key === undefined || admission.evidenceSha256 === undefined) throw fault(`backend ${admission.backend} has no attested key`);
  const header = res.headers[RECEIPT_HEADER];
  if (typeof header !== 'string') throw fault(`backend ${admission.backend} answered without a receipt`);
  let receipt: ReceiptClaims;
  try {
    const pub = publicKeyOfJwk(key);
    receipt = verifyReceiptJwsWith(header, key, decodeCompact, (d) => verifyDecoded('ES256', pub, d).payload);
  } catch (e: unknown) {
    throw fault(`backend ${admission.backend}: ${e instanceof ReceiptError ? e.message : 'receipt does not verify'}`, e);
  }
  if (receipt.request_sha256 !== sha256hex(forwarded)) throw fault(`backend ${admission.backend}: receipt request_sha256 is not the digest of the request forwarded`);
  if (receipt.evidence_sha256 !== admission.evidenceSha256) throw fault(`backend ${admission.backend}: receipt names evidence ${receipt.evidence_sha256}, the admission relied on ${admission.evidenceSha256}`);
  if (!admission.models.some((m) => m.name === receipt.model.name && m.version === receipt.model.version && m.sha256 === receipt.model.sha256)) {
    throw fault(`backend ${admission.backend}: receipt names model ${receipt.model.name} ${receipt.model.version} (${receipt.model.sha256}), which it did not attest`);
  }
  // The client's nonce must come back exactly (and none when none was sent): an answer replayed
  // from another request carries another nonce.
  if (receipt.nonce !== clientNonce) throw fault(`backend ${admission.backend}: receipt nonce ${receipt.nonce ?? '(none)'} is not the client's ${clientNonce ?? '(none)'}`);
  if (receipt.tee !== admission.tee || receipt.simulated !== admission.simulated) throw fault(`backend ${admission.backend}: receipt tee/simulated differ from the attested evidence`);
  if (!jose) {
    if (receipt.response_sha256 !== sha256hex(res.body)) throw fault(`backend ${admission.backend}: receipt response_sha256 is not the digest of the answer received`);
    return { receipt, receiptJws: header, body: res.body, flattened: undefined };
  }
  let flat: unknown;
  try {
    flat = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(res.body));
  } catch (e: unknown) {
    throw fault(`backend ${admission.backend}: jose answer is not JSON`, e);
  }
  const f = flat as { payload?: unknown; protected?: unknown; signature?: unknown };
  if (typeof f.payload !== 'string' || typeof f.protected !== 'string' || typeof f.signature !== 'string' || Object.keys(flat as object).length !== 3) {
    throw fault(`backend ${admission.backend}: jose answer is not a flattened JWS`);
  }
  let payload: Uint8Array;
  try {
    const v = verifyFlattened('ES256', publicKeyOfJwk(key), { payload: f.payload, protected: f.protected, signature: f.signature });
    if (v.header['typ'] !== ANSWER_JWS_TYP || v.header['kid'] !== key.kid) throw new Error('unexpected header');
    payload = v.payload;
  } catch (e: unknown) {
    throw fault(`backend ${admission.backend}: jose answer signature does not verify with the attested enclave key`, e);
  }
  const p = JSON.parse(new TextDecoder().decode(payload)) as { receipt?: unknown; response?: unknown };
  if (!isDeepStrictEqual(p.receipt, JSON.parse(JSON.stringify(receipt)))) throw fault(`backend ${admission.backend}: jose answer's receipt differs from the receipt header`);
  if (sha256hex(JSON.stringify(p.response)) !== receipt.response_sha256) throw fault(`backend ${admission.backend}: jose answer's response does not match response_sha256`);
  return { receipt, receiptJws: header, body: res.body, flattened: { payload: f.payload, protected: f.protected, signature: f.signature } };
}

export interface Countersigned {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly contentType: string;
  /** The gateway's countersignature (compact JWS, or the gateway's signature of the General JSON). */
  readonly countersignature: string;
}

/**
 * The gateway's signature over the answer, naming the attestation result relied on (and the log
 * entry). `receiptSha256` is the SHA-256 hex of `a.receiptJws`, computed once by the caller.
 */
export function countersign(key: GatewayKey, a: CheckedAnswer, ctx: { attestationId: string; backend: string; logIndex?: number; now: number; receiptSha256: string }): Countersigned {
  // key.alg was derived from the key when it was loaded; signCompact/signFlattened check it again.
  const alg = key.alg;
  const common = { attestation: ctx.attestationId, receipt_id: a.receipt.id, ...(ctx.logIndex === undefined ? {} : { log_index: ctx.logIndex }) };
  if (a.flattened === undefined) {
    const payload = {
      typ: 'attestgate-countersignature/v1',
      receipt_sha256: ctx.receiptSha256,
      receipt_id: a.receipt.id,
      attestation_id: ctx.attestationId,
      backend: ctx.backend,
      iat: Math.floor(ctx.now / 1000),
      ...(ctx.logIndex === undefined ? {} : { log_index: ctx.logIndex }),
    };
    const jws = signCompact(alg, key.privateKey, { kid: key.kid, typ: COUNTERSIGNATURE_TYP }, new TextEncoder().encode(JSON.stringify(payload)));
    return {
      headers: { [RECEIPT_HEADER]: a.receiptJws, [COUNTERSIGNATURE_HEADER]: jws, 'attestgate-receipt-id': a.receipt.id, 'attestgate-attestation': ctx.attestationId },
      body: a.body,
      contentType: 'application/json',
      countersignature: jws,
    };
  }
  // The gateway signs the enclave's payload exactly as encoded: one payload, two signatures.
  const g = signFlattened(alg, key.privateKey, { kid: key.kid, typ: ANSWER_JWS_TYP, ...common }, a.flattened.payload);
  const general = {
    payload: a.flattened.payload,
    signatures: [
      { protected: a.flattened.protected, signature: a.flattened.signature },
      { protected: g.protected, signature: g.signature },
    ],
  };
  return {
    headers: { 'attestgate-receipt-id': a.receipt.id, 'attestgate-attestation': ctx.attestationId },
    body: new TextEncoder().encode(JSON.stringify(general)),
    contentType: 'application/jose+json',
    countersignature: `${g.protected}..${g.signature}`,
  };
}
