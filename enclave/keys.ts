/**
 * The enclave's signing key: an ES256 (P-256) pair generated in memory at start. The private key
 * lives only inside this closure: it is never exported, written, logged or serialised (the object
 * returned has no property that holds it, so JSON.stringify or a debugger print of it shows only
 * public data). A restart makes a new key, which the gateway must attest afresh.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { signCompact } from '../attestation/common/jws-node.ts';
import { jwkThumbprint, type PublicJwk } from '../attestation/binding.ts';

export interface EnclavePublicJwk {
  readonly kty: 'EC';
  readonly crv: 'P-256';
  readonly x: string;
  readonly y: string;
  readonly kid: string;
  readonly alg: 'ES256';
  readonly use: 'sig';
}

export interface EnclaveKey {
  readonly alg: 'ES256';
  /** Public JWK with kid = its RFC 7638 thumbprint (base64url). */
  readonly jwk: EnclavePublicJwk;
  /** RFC 7638 thumbprint, raw 32 bytes (what the binding commits to). */
  readonly thumbprint: Uint8Array;
  readonly kid: string;
  /** SubjectPublicKeyInfo DER (Nitro's public_key field). */
  readonly spki: Uint8Array;
  /** Compact JWS over `payload` with this protected header (alg and kid are set here, never by the caller). */
  signCompact(payload: Uint8Array, header?: Readonly<Record<string, string>>): string;
}

const b64url = (b: Uint8Array | string): string => Buffer.from(b).toString('base64url');

export async function generateEnclaveKey(): Promise<EnclaveKey> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const exported = publicKey.export({ format: 'jwk' });
  const { x, y } = exported;
  if (typeof x !== 'string' || typeof y !== 'string') throw new Error('P-256 public key did not export as a JWK');
  const base: PublicJwk = { kty: 'EC', crv: 'P-256', x, y };
  const thumbprint = await jwkThumbprint(base);
  const kid = b64url(thumbprint);
  const jwk: EnclavePublicJwk = { kty: 'EC', crv: 'P-256', x, y, kid, alg: 'ES256', use: 'sig' };
  const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  const priv: KeyObject = privateKey;
  return {
    alg: 'ES256',
    jwk,
    thumbprint,
    kid,
    spki,
    signCompact(payload: Uint8Array, header: Readonly<Record<string, string>> = {}): string {
      // The caller's header cannot set kid (or alg, which signCompact sets last).
      return signCompact('ES256', priv, { ...header, kid }, payload);
    },
  };
}
