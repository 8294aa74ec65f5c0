/**
 * Checking an enclave receipt (docs/receipts.md): the JWS signature by the attested enclave key
 * (ES256 only, whatever the header says), the header's typ and kid, and the closed claims schema.
 * Shared by the gateway (before it answers) and the client verifier (offline). verifyReceiptJws
 * runs on WebCrypto through jose, so it works unchanged in a browser; verifyReceiptJwsWith takes a
 * synchronous signature check instead (the gateway's, on Node's OpenSSL).
 */
import { compactVerify, decodeProtectedHeader, importJWK, type CryptoKey, type JWK } from 'jose';
import { RECEIPT_JWS_TYP, parseReceiptClaims, type ReceiptClaims } from '../../attestation/receipt.ts';

export type ReceiptFailure = 'malformed' | 'wrong_key' | 'signature' | 'schema';

export class ReceiptError extends Error {
  constructor(
    readonly failure: ReceiptFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ReceiptError';
  }
}

const keyCache = new WeakMap<object, Promise<CryptoKey | Uint8Array>>();

function importKey(jwk: JWK): Promise<CryptoKey | Uint8Array> {
  let k = keyCache.get(jwk);
  if (k === undefined) {
    k = importJWK(jwk, 'ES256');
    keyCache.set(jwk, k);
  }
  return k;
}

/** What a JWS decoder gives back: at least the protected header's fields the checks read. */
interface Decoded {
  readonly header: { readonly typ?: unknown; readonly alg?: unknown; readonly kid?: unknown };
}

/** The shape and header checks every receipt passes before its signature is checked. */
function preflight<T extends Decoded>(jws: string, jwk: JWK & { kid: string }, decode: (jws: string) => T): T {
  if (typeof jws !== 'string' || jws.length > 16_384 || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(jws)) {
    throw new ReceiptError('malformed', 'receipt is not a compact JWS');
  }
  let decoded;
  try {
    decoded = decode(jws);
  } catch (e: unknown) {
    throw new ReceiptError('malformed', 'receipt header is not valid', { cause: e });
  }
  const { header } = decoded;
  if (header.typ !== RECEIPT_JWS_TYP) throw new ReceiptError('malformed', `receipt typ is ${String(header.typ)}, want ${RECEIPT_JWS_TYP}`);
  if (header.alg !== 'ES256') throw new ReceiptError('malformed', `receipt alg is ${String(header.alg)}; only ES256 is accepted`);
  if (header.kid !== jwk.kid) throw new ReceiptError('wrong_key', `receipt is signed by key ${String(header.kid)}, not by the attested enclave key ${jwk.kid}`);
  return decoded;
}

/** The claims of a verified payload, through the closed schema; they must name the key that signed. */
function claimsOf(payload: Uint8Array, jwk: JWK & { kid: string }): ReceiptClaims {
  let claims: ReceiptClaims;
  try {
    claims = parseReceiptClaims(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload)));
  } catch (e: unknown) {
    throw new ReceiptError('schema', `receipt claims: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (claims.kid !== jwk.kid) throw new ReceiptError('wrong_key', `receipt claims name key ${claims.kid}, not ${jwk.kid}`);
  return claims;
}

const SIGNATURE_FAILURE = 'receipt signature does not verify with the attested enclave key';

/** Verify a receipt JWS against the enclave key `jwk` (whose kid must match the header's). */
export async function verifyReceiptJws(jws: string, jwk: JWK & { kid: string }): Promise<ReceiptClaims> {
  preflight(jws, jwk, (j) => ({ header: decodeProtectedHeader(j) }));
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(jws, await importKey(jwk), { algorithms: ['ES256'] }));
  } catch (e: unknown) {
    throw new ReceiptError('signature', SIGNATURE_FAILURE, { cause: e });
  }
  return claimsOf(payload, jwk);
}

/**
 * The same checks with the JWS decoded and its signature verified synchronously by the caller
 * (the gateway passes Node's OpenSSL, attestation/common/jws-node.ts, which costs a fraction of a
 * WebCrypto job on its hot path): `decode` parses the JWS once, header included (throwing for a
 * malformed one), and `verify(decoded)` returns the payload, throwing when the signature does not
 * verify.
 */
export function verifyReceiptJwsWith<T extends Decoded>(
  jws: string,
  jwk: JWK & { kid: string },
  decode: (jws: string) => T,
  verify: (decoded: T) => Uint8Array,
): ReceiptClaims {
  const decoded = preflight(jws, jwk, decode);
  let payload: Uint8Array;
  try {
    payload = verify(decoded);
  } catch (e: unknown) {
    throw new ReceiptError('signature', SIGNATURE_FAILURE, { cause: e });
  }
  return claimsOf(payload, jwk);
}
