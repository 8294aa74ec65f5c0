/**
 * The one module of the library that touches a crypto implementation. Everything is async so
 * that a browser build can swap this file for a WebCrypto one without changing any verifier;
 * on Node the work itself is synchronous OpenSSL calls.
 */
import { createHash, createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { VerificationError } from '../errors.ts';
import { TAG, bitStringBytes, decodeOid, readDer } from './der.ts';
import { P256_PREFIX, type PublicKey, type SignatureAlgorithm, type SignatureEncoding } from './crypto-shared.ts';

export { p256SpkiFromRaw, type PublicKey, type SignatureAlgorithm, type SignatureEncoding } from './crypto-shared.ts';


export async function importSpki(spki: Uint8Array): Promise<PublicKey> {
  await Promise.resolve();
  return importSpkiSync(spki);
}


/** Also false when `a` is shorter: a read past its end is undefined, which equals no byte. */
function startsWith(a: Uint8Array, prefix: Uint8Array): boolean {
  for (let i = 0; i < prefix.length; i++) if (a[i] !== prefix[i]) return false;
  return true;
}

function b64url(a: Uint8Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64url');
}

function ecJwk(spki: Uint8Array): { kty: 'EC'; crv: string; x: string; y: string } | undefined {
  // P-256 only: in OpenSSL 3 a P-384 JWK import is ~4.5x slower than its DER import (~480 µs
  // against ~107 µs here), the opposite of P-256 (~65 µs against ~108 µs).
  const n = 32;
  if (spki.length === P256_PREFIX.length + 2 * n && startsWith(spki, P256_PREFIX)) {
    const o = P256_PREFIX.length;
    return { kty: 'EC', crv: 'P-256', x: b64url(spki.subarray(o, o + n)), y: b64url(spki.subarray(o + n, o + 2 * n)) };
  }
  return undefined;
}

const EC_PUBLIC_KEY_OID = '1.2.840.10045.2.1';
const EC_FIELD_BYTES: Readonly<Record<string, number>> = { '1.2.840.10045.3.1.7': 32, '1.3.132.0.34': 48, '1.3.132.0.35': 66 };

/**
 * An EC key's point must be a real point encoding (uncompressed 04||X||Y, compressed 02/03||X,
 * or hybrid 06/07||X||Y) of its curve's size, checked BEFORE OpenSSL sees it: Node 20 imports an
 * SPKI whose point is the point at infinity (the single byte 00) and then aborts the whole
 * process (a native assertion, not an exception) when the key's details are read. Certificates
 * in evidence are attacker-controlled, so this would let anyone crash the gateway.
 */
function checkEcPoint(spki: Uint8Array): void {
  const { reader, top } = readDer(spki, 'public key', 'malformed_key');
  if (top.tag !== TAG.SEQUENCE) reader.fail('SubjectPublicKeyInfo is not a SEQUENCE');
  const r = reader.children(top);
  const alg = r.expect(TAG.SEQUENCE, 'algorithm');
  const bits = bitStringBytes(r, r.expect(TAG.BIT_STRING, 'subjectPublicKey'));
  r.end('SubjectPublicKeyInfo');
  const a = r.children(alg);
  if (decodeOid(a.expect(TAG.OID, 'algorithm').value) !== EC_PUBLIC_KEY_OID) return;
  const params = a.optional(TAG.OID);
  const n = params === undefined ? undefined : EC_FIELD_BYTES[decodeOid(params.value)];
  if (n === undefined) return; // an unnamed or unknown curve: OpenSSL refuses it on import
  const first = bits[0];
  const ok = ((first === 0x04 || first === 0x06 || first === 0x07) && bits.length === 1 + 2 * n) || ((first === 0x02 || first === 0x03) && bits.length === 1 + n);
  if (!ok) r.fail(`EC public key is not a point of its curve (${bits.length} bytes, first 0x${(first ?? 0).toString(16)})`);
}

function importSpkiSync(spki: Uint8Array): PublicKey {
  let key: KeyObject;
  try {
    checkEcPoint(spki);
  } catch (e: unknown) {
    // Same words as an OpenSSL refusal (and as crypto-web.ts): key failures say little.
    throw new VerificationError('ERR_EVIDENCE_MALFORMED', 'public key is not a valid SubjectPublicKeyInfo', { reason: 'malformed_key', cause: e });
  }
  try {
    // OpenSSL checks that the point is on the curve in both paths.
    const jwk = ecJwk(spki);
    key =
      jwk !== undefined
        ? createPublicKey({ key: jwk, format: 'jwk' })
        : createPublicKey({ key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength), format: 'der', type: 'spki' });
  } catch (e: unknown) {
    throw new VerificationError('ERR_EVIDENCE_MALFORMED', 'public key is not a valid SubjectPublicKeyInfo', { reason: 'malformed_key', cause: e });
  }
  const type = key.asymmetricKeyType;
  if (type !== 'ec' && type !== 'rsa' && type !== 'rsa-pss') {
    throw new VerificationError('ERR_EVIDENCE_UNSUPPORTED', `unsupported public key type ${String(type)}`, { reason: 'unsupported_key' });
  }
  return { spki, handle: key, kind: type === 'ec' ? 'ec' : 'rsa', curve: key.asymmetricKeyDetails?.namedCurve };
}


const CURVE_OF: Partial<Record<SignatureAlgorithm, string>> = {
  'ecdsa-p256-sha256': 'prime256v1',
  'ecdsa-p384-sha384': 'secp384r1',
};

/**
 * Verify one signature. Returns false for a wrong signature (callers turn that into their own
 * step's error); throws only for a key that cannot be used with the algorithm at all.
 */
export async function verifySignature(
  alg: SignatureAlgorithm,
  key: PublicKey,
  data: Uint8Array,
  signature: Uint8Array,
  encoding: SignatureEncoding,
): Promise<boolean> {
  await Promise.resolve();
  return verifySignatureSync(alg, key, data, signature, encoding);
}

function verifySignatureSync(
  alg: SignatureAlgorithm,
  key: PublicKey,
  data: Uint8Array,
  signature: Uint8Array,
  encoding: SignatureEncoding,
): boolean {
  const want = CURVE_OF[alg];
  const isEc = alg.startsWith('ecdsa');
  if ((isEc && key.kind !== 'ec') || (!isEc && key.kind !== 'rsa') || (want !== undefined && key.curve !== want)) {
    return false;
  }
  const handle = key.handle as KeyObject;
  const hash = alg.endsWith('sha384') ? 'sha384' : 'sha256';
  try {
    switch (alg) {
      case 'ecdsa-p256-sha256':
      case 'ecdsa-p384-sha384':
      case 'ecdsa-sha256':
      case 'ecdsa-sha384':
        return nodeVerify(hash, data, { key: handle, dsaEncoding: encoding === 'raw' ? 'ieee-p1363' : 'der' }, signature);
      case 'rsa-pss-sha384':
        // AMD's ARK/ASK/VCEK: RSASSA-PSS, SHA-384, MGF1-SHA-384, salt 48 (the parameters are checked
        // by the certificate parser; here they are fixed).
        return nodeVerify('sha384', data, { key: handle, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 48 }, signature);
      case 'rsa-pkcs1-sha256':
      case 'rsa-pkcs1-sha384':
        return nodeVerify(hash, data, { key: handle, padding: 1 /* RSA_PKCS1_PADDING */ }, signature);
    }
  } catch {
    // OpenSSL throws on some structurally bad signatures (e.g. wrong raw length); to the caller
    // that is simply a signature that does not verify.
    return false;
  }
}

export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  await Promise.resolve();
  return new Uint8Array(createHash('sha256').update(data).digest());
}
export async function sha384(data: Uint8Array): Promise<Uint8Array> {
  await Promise.resolve();
  return new Uint8Array(createHash('sha384').update(data).digest());
}
export async function sha512(data: Uint8Array): Promise<Uint8Array> {
  await Promise.resolve();
  return new Uint8Array(createHash('sha512').update(data).digest());
}
