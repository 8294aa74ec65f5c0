/**
 * JWS signing and verification (RFC 7515) on Node's synchronous OpenSSL calls, for the two hot
 * paths that run for every inference answer: the enclave signing its receipt and the gateway
 * checking that receipt and countersigning. jose runs on WebCrypto, whose every operation is a
 * job on libuv's thread pool and a promise; on a small host that hop costs more than the P-256
 * operation itself (about 85 µs against 30 µs for a signature, measured with `node:crypto`).
 * Node-only: the browser and the client library keep jose.
 *
 * Only what attestgate signs is supported: ES256 (P-256, the raw 64-byte r||s of RFC 7518 3.4,
 * never DER) and EdDSA (Ed25519). Verification takes the algorithm from the caller, never from
 * the token, and refuses a `crit` header (RFC 7515 4.1.11: we understand no extension) and the
 * unencoded-payload option.
 */
import { createPublicKey, sign as nodeSign, verify as nodeVerify, type JsonWebKey, type KeyObject } from 'node:crypto';

export type JwsAlg = 'ES256' | 'EdDSA';

const B64URL = /^[A-Za-z0-9_-]*$/;

const b64url = (b: Uint8Array | string): string => Buffer.from(b).toString('base64url');

/** The `alg` a key signs with; undefined for any other key type or curve. */
export function jwsAlgOf(key: KeyObject): JwsAlg | undefined {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  return undefined;
}

function rawSign(alg: JwsAlg, key: KeyObject, input: Uint8Array): Uint8Array {
  return alg === 'ES256' ? nodeSign('sha256', input, { key, dsaEncoding: 'ieee-p1363' }) : nodeSign(null, input, key);
}

function rawVerify(alg: JwsAlg, key: KeyObject, input: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false; // both ES256 (r||s) and Ed25519 signatures are 64 bytes
  try {
    return alg === 'ES256' ? nodeVerify('sha256', input, { key, dsaEncoding: 'ieee-p1363' }, signature) : nodeVerify(null, input, key, signature);
  } catch {
    // A key of another type than `alg` says: no signature verifies.
    return false;
  }
}

/** The base64url protected header and signature of a detached signature over `payloadB64`. */
export function signFlattened(alg: JwsAlg, key: KeyObject, header: Readonly<Record<string, unknown>>, payloadB64: string): { protected: string; signature: string } {
  if (jwsAlgOf(key) !== alg || key.type !== 'private') throw new TypeError(`signing with ${alg} needs a private ${alg === 'ES256' ? 'P-256' : 'Ed25519'} key`);
  // alg last: a caller's header can never change the algorithm the signature is made with.
  const protectedB64 = b64url(JSON.stringify({ ...header, alg }));
  return { protected: protectedB64, signature: b64url(rawSign(alg, key, Buffer.from(`${protectedB64}.${payloadB64}`, 'ascii'))) };
}

/** A compact JWS of `payload` (bytes) with this protected header. */
export function signCompact(alg: JwsAlg, key: KeyObject, header: Readonly<Record<string, unknown>>, payload: Uint8Array): string {
  const payloadB64 = b64url(payload);
  const s = signFlattened(alg, key, header, payloadB64);
  return `${s.protected}.${payloadB64}.${s.signature}`;
}

export type JwsFailure = 'malformed' | 'signature';

export class JwsError extends Error {
  constructor(
    readonly failure: JwsFailure,
    message: string,
  ) {
    super(message);
    this.name = 'JwsError';
  }
}

export interface VerifiedJws {
  readonly header: Readonly<Record<string, unknown>>;
  readonly payload: Uint8Array;
}

function decodeHeader(protectedB64: string): Record<string, unknown> {
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(protectedB64, 'base64url').toString('utf8'));
  } catch {
    throw new JwsError('malformed', 'the JWS protected header is not JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new JwsError('malformed', 'the JWS protected header is not a JSON object');
  const h = header as Record<string, unknown>;
  if ('crit' in h) throw new JwsError('malformed', 'the JWS protected header has a crit parameter, and no extension is understood');
  if ('b64' in h) throw new JwsError('malformed', 'the JWS protected header has a b64 parameter; only base64url payloads are accepted');
  return h;
}

type JwsParts = { readonly protected: string; readonly payload: string; readonly signature: string };

/** A JWS whose form and header were checked, its signature not yet. */
export interface DecodedJws extends JwsParts {
  readonly header: Readonly<Record<string, unknown>>;
}

/** Check the form of a JWS given as its three base64url parts and decode its header. Throws JwsError. */
export function decodeFlattened(jws: JwsParts): DecodedJws {
  if (![jws.protected, jws.payload, jws.signature].every((p) => typeof p === 'string' && B64URL.test(p)) || jws.protected === '' || jws.signature === '') {
    throw new JwsError('malformed', 'the JWS is not three base64url parts');
  }
  return { protected: jws.protected, payload: jws.payload, signature: jws.signature, header: decodeHeader(jws.protected) };
}

/** decodeFlattened for a compact JWS. */
export function decodeCompact(jws: string): DecodedJws {
  const parts = typeof jws === 'string' ? jws.split('.') : [];
  if (parts.length !== 3) throw new JwsError('malformed', 'the JWS is not in compact serialization');
  return decodeFlattened({ protected: parts[0] ?? '', payload: parts[1] ?? '', signature: parts[2] ?? '' });
}

/**
 * Verify a decoded JWS with `key` and the algorithm `alg` (the header's alg must say the same).
 * Throws JwsError; returns the header and the payload bytes.
 */
export function verifyDecoded(alg: JwsAlg, key: KeyObject, jws: DecodedJws): VerifiedJws {
  const { header } = jws;
  if (header['alg'] !== alg) throw new JwsError('malformed', `the JWS alg is ${String(header['alg'])}; only ${alg} is accepted here`);
  const signature = Buffer.from(jws.signature, 'base64url');
  if (!rawVerify(alg, key, Buffer.from(`${jws.protected}.${jws.payload}`, 'ascii'), signature)) throw new JwsError('signature', 'the JWS signature does not verify');
  return { header, payload: new Uint8Array(Buffer.from(jws.payload, 'base64url')) };
}

/** Decode and verify a JWS given as its three base64url parts. */
export function verifyFlattened(alg: JwsAlg, key: KeyObject, jws: JwsParts): VerifiedJws {
  return verifyDecoded(alg, key, decodeFlattened(jws));
}

/** Decode and verify a compact JWS. */
export function verifyCompact(alg: JwsAlg, key: KeyObject, jws: string): VerifiedJws {
  return verifyDecoded(alg, key, decodeCompact(jws));
}

const publicKeys = new WeakMap<object, KeyObject>();

/** The KeyObject of a public JWK, imported once per JWK object (keys of admitted enclaves are long-lived objects). */
export function publicKeyOfJwk(jwk: JsonWebKey): KeyObject {
  let k = publicKeys.get(jwk);
  if (k === undefined) {
    k = createPublicKey({ key: jwk, format: 'jwk' });
    publicKeys.set(jwk, k);
  }
  return k;
}
