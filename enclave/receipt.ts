/**
 * Receipts: the enclave signs, for every answer, the digests of the exact request and response
 * bytes with everything a client needs to tie the answer to the attested enclave (format in
 * attestation/receipt.ts and docs/receipts.md).
 */
import { createHash, randomBytes } from 'node:crypto';
import { RECEIPT_JWS_TYP, RECEIPT_TYPE, parseReceiptClaims, type ReceiptClaims, type ReceiptModel } from '../attestation/receipt.ts';
import type { TeeKind } from '../attestation/result.ts';
import type { EnclaveKey } from './keys.ts';

export interface ReceiptInput {
  readonly request: Uint8Array;
  readonly response: Uint8Array;
  readonly model: ReceiptModel;
  readonly runtime: { readonly name: string; readonly version: string };
  readonly tee: TeeKind;
  readonly simulated: boolean;
  readonly measurement: Readonly<Record<string, string>>;
  readonly evidenceSha256: string;
  readonly nonce?: string;
  readonly now: Date;
}

const sha256hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export function buildReceipt(key: EnclaveKey, input: ReceiptInput): ReceiptClaims {
  const ms = input.now.getTime();
  const claims: ReceiptClaims = {
    typ: RECEIPT_TYPE,
    id: randomBytes(16).toString('base64url'),
    iat: Math.floor(ms / 1000),
    ts: new Date(ms).toISOString(),
    request_sha256: sha256hex(input.request),
    response_sha256: sha256hex(input.response),
    model: input.model,
    runtime: input.runtime,
    kid: key.kid,
    tee: input.tee,
    simulated: input.simulated,
    measurement: input.measurement,
    evidence_sha256: input.evidenceSha256,
    ...(input.nonce === undefined ? {} : { nonce: input.nonce }),
  };
  // Our own output goes through the same closed schema the verifiers apply: a receipt that a
  // client would refuse is a bug here, not there.
  return parseReceiptClaims(claims);
}

/** Sign a receipt as a compact JWS (ES256, kid = the key thumbprint, typ attestgate-receipt+jws). */
export function signReceipt(key: EnclaveKey, claims: ReceiptClaims): string {
  return key.signCompact(new TextEncoder().encode(JSON.stringify(claims)), { typ: RECEIPT_JWS_TYP });
}
