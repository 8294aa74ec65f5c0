/**
 * What the two implementations of common/crypto share: the types of its interface and the pure
 * helpers. crypto.ts (node:crypto, OpenSSL) is the Node one; crypto-web.ts (WebCrypto) replaces it
 * in the browser bundle (src/web/build.ts), so both must export the same names; these are defined
 * once here and re-exported by each.
 */

export type SignatureAlgorithm =
  | 'ecdsa-p256-sha256'
  | 'ecdsa-p384-sha384'
  | 'ecdsa-sha256'
  | 'ecdsa-sha384'
  | 'rsa-pss-sha384'
  | 'rsa-pkcs1-sha256'
  | 'rsa-pkcs1-sha384';

/** `der`: ASN.1 SEQUENCE{r,s} (X.509, CRLs); `raw`: fixed-width r||s big-endian (quotes, COSE). */
export type SignatureEncoding = 'der' | 'raw';

export interface PublicKey {
  readonly spki: Uint8Array;
  /** Implementation handle; opaque to callers. */
  readonly handle: unknown;
  readonly kind: 'ec' | 'rsa';
  readonly curve: string | undefined;
}

/** DER prefix of SubjectPublicKeyInfo for an uncompressed P-256 point (id-ecPublicKey, prime256v1). */
export const P256_PREFIX = Uint8Array.from([
  0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
  0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
]);

/** Build an uncompressed P-256 SPKI from a raw 64-byte X||Y point (the DCAP attestation key). */
export function p256SpkiFromRaw(xy: Uint8Array): Uint8Array {
  const out = new Uint8Array(P256_PREFIX.length + 64);
  out.set(P256_PREFIX);
  out.set(xy.subarray(0, 64), P256_PREFIX.length);
  return out;
}
