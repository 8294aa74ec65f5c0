/**
 * The browser's twin of crypto.ts: the same exports, on WebCrypto (`globalThis.crypto.subtle`)
 * only: no Node module, no Buffer. The browser bundle (scripts/build-web.ts, src/web/build.ts)
 * swaps crypto.ts for this file; test/unit/attestation/common/crypto-web.test.ts runs every fixture
 * through the verifiers with it and checks the verdicts equal crypto.ts's.
 *
 * Where WebCrypto differs from OpenSSL, this file does OpenSSL's part by hand, so the verdicts are
 * the same:
 *   - WebCrypto binds a key to one algorithm at import; crypto.ts's `importSpki` does not know the
 *     algorithm yet. So the SPKI is parsed here (strict DER): EC keys are imported once as ECDSA
 *     (which checks the point is on the curve, as OpenSSL does), RSA keys once per scheme and hash.
 *   - EC points in compressed (0x02/0x03) and hybrid (0x06/0x07) form are turned into x, y here
 *     (WebCrypto takes uncompressed points only).
 *   - ECDSA in WebCrypto takes raw r||s. DER signatures are converted, accepting exactly what
 *     OpenSSL accepts: one canonical DER SEQUENCE of two positive minimal INTEGERs and nothing after.
 *   - RSA signatures must be exactly as long as the modulus (OpenSSL 3 refuses shorter ones too).
 *   - An RSASSA-PSS key (id-RSASSA-PSS SPKI) verifies RSASSA-PSS only, within the hash, MGF1 hash
 *     and minimum salt length its parameters name, as OpenSSL enforces.
 * Differences that remain, none reachable from the verifiers: EC keys on curves WebCrypto lacks
 * (secp256k1, brainpool) are refused at import (ERR_EVIDENCE_UNSUPPORTED), and bytes after the
 * SPKI are refused here while OpenSSL ignores them (certificates hand over their SPKI element
 * exactly). And an EC point at infinity is a malformed key here, where Node 20 aborts the process.
 */
import { VerificationError } from '../errors.ts';
import { toBase64 } from './bytes.ts';
import { DerReader, TAG, bitStringBytes, decodeOid, type Tlv } from './der.ts';
import type { PublicKey, SignatureAlgorithm, SignatureEncoding } from './crypto-shared.ts';

export { p256SpkiFromRaw, type PublicKey, type SignatureAlgorithm, type SignatureEncoding } from './crypto-shared.ts';


type WebCurve = 'P-256' | 'P-384' | 'P-521';

// WebCrypto's types, from the global itself: DOM's in a browser build, @types/node's under Node.
type Subtle = typeof globalThis.crypto.subtle;
type WebKey = Awaited<ReturnType<Subtle['importKey']>>;
interface RsaJwk {
  readonly kty: 'RSA';
  readonly n: string;
  readonly e: string;
  readonly ext: true;
}

interface CurveInfo {
  /** OpenSSL's name, as crypto.ts reports it in `PublicKey.curve`. */
  readonly openssl: string;
  readonly web: WebCurve;
  /** Field element and scalar width in bytes. */
  readonly size: number;
  /** The field prime and the curve's b (a = -3 for all three), for point decompression. */
  readonly p: bigint;
  readonly b: bigint;
}

const CURVES: Readonly<Record<string, CurveInfo>> = {
  '1.2.840.10045.3.1.7': {
    openssl: 'prime256v1',
    web: 'P-256',
    size: 32,
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
  },
  '1.3.132.0.34': {
    openssl: 'secp384r1',
    web: 'P-384',
    size: 48,
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
  },
  '1.3.132.0.35': {
    openssl: 'secp521r1',
    web: 'P-521',
    size: 66,
    p: (1n << 521n) - 1n,
    b: 0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
  },
};

const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
const OID_RSASSA_PSS = '1.2.840.113549.1.1.10';
const OID_MGF1 = '1.2.840.113549.1.1.8';
const HASH_OIDS: Readonly<Record<string, 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512'>> = {
  '1.3.14.3.2.26': 'SHA-1',
  '2.16.840.1.101.3.4.2.1': 'SHA-256',
  '2.16.840.1.101.3.4.2.2': 'SHA-384',
  '2.16.840.1.101.3.4.2.3': 'SHA-512',
};
/** Key types OpenSSL knows but crypto.ts refuses, by OID, so the message names them the same. */
const OTHER_KEY_TYPES: Readonly<Record<string, string>> = {
  '1.3.101.110': 'x25519',
  '1.3.101.111': 'x448',
  '1.3.101.112': 'ed25519',
  '1.3.101.113': 'ed448',
  '1.2.840.10040.4.1': 'dsa',
  '1.2.840.10046.2.1': 'dh',
  '1.2.840.113549.1.3.1': 'dh',
};

/** RSASSA-PSS key restrictions (RFC 4055 §3.1): undefined members are unrestricted. */
interface PssRestriction {
  readonly hash: string | undefined;
  readonly mgf1Hash: string | undefined;
  readonly minSalt: number;
}

type Handle =
  | { readonly kind: 'ec'; readonly curve: CurveInfo; readonly key: WebKey }
  | {
      readonly kind: 'rsa';
      readonly jwk: RsaJwk;
      /** Modulus length in bytes: the length of every signature. */
      readonly size: number;
      /** Present for an id-RSASSA-PSS key: PSS only, within these limits. */
      readonly pss: PssRestriction | undefined;
      readonly keys: Map<string, Promise<WebKey>>;
    };

function subtle(): Subtle {
  const s = (globalThis as { crypto?: { subtle?: Subtle } }).crypto?.subtle;
  if (s === undefined) throw new VerificationError('ERR_EVIDENCE_UNSUPPORTED', 'WebCrypto (crypto.subtle) is not available here (a secure context is required)', { reason: 'unsupported_key' });
  return s;
}

/** A copy in a fresh ArrayBuffer: what every WebCrypto call is given. */
function ab(a: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(a.length);
  new Uint8Array(out).set(a);
  return out;
}

function b64url(a: Uint8Array): string {
  return toBase64(a).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function bytesToBig(a: Uint8Array): bigint {
  let n = 0n;
  for (const x of a) n = (n << 8n) | BigInt(x);
  return n;
}

function bigToBytes(n: bigint, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let v = n;
  for (let i = size - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function modPow(base: bigint, exp: bigint, m: bigint): bigint {
  let r = 1n;
  let b = base % m;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}

const malformedKey = (message: string, cause?: unknown): VerificationError =>
  new VerificationError('ERR_EVIDENCE_MALFORMED', message, cause === undefined ? { reason: 'malformed_key' } : { reason: 'malformed_key', cause });
const unsupportedKey = (message: string): VerificationError => new VerificationError('ERR_EVIDENCE_UNSUPPORTED', message, { reason: 'unsupported_key' });
const NOT_SPKI = 'public key is not a valid SubjectPublicKeyInfo';

/**
 * An EC point (SEC 1 §2.3.4) to x, y: uncompressed 0x04, hybrid 0x06/0x07 (the parity bit must be
 * y's), compressed 0x02/0x03 (y = sqrt(x^3 - 3x + b), p = 3 mod 4 for the three curves).
 */
function decodePoint(c: CurveInfo, pt: Uint8Array): { x: Uint8Array; y: Uint8Array } {
  const n = c.size;
  const form = pt[0];
  if ((form === 0x04 || form === 0x06 || form === 0x07) && pt.length === 1 + 2 * n) {
    const x = pt.slice(1, 1 + n);
    const y = pt.slice(1 + n);
    if (form !== 0x04 && (form & 1) !== ((y[n - 1] as number) & 1)) throw malformedKey(NOT_SPKI);
    return { x, y };
  }
  if ((form === 0x02 || form === 0x03) && pt.length === 1 + n) {
    const x = pt.slice(1);
    const xb = bytesToBig(x);
    if (xb >= c.p) throw malformedKey(NOT_SPKI);
    const rhs = (((modPow(xb, 3n, c.p) - 3n * xb + c.b) % c.p) + c.p) % c.p;
    let y = modPow(rhs, (c.p + 1n) / 4n, c.p);
    if ((y * y) % c.p !== rhs) throw malformedKey(NOT_SPKI);
    if (Number(y & 1n) !== (form & 1)) y = c.p - y;
    return { x, y: bigToBytes(y % c.p, n) };
  }
  throw malformedKey(NOT_SPKI);
}

/** A positive INTEGER's magnitude (DER-minimal), or a thrown malformed key. */
function positiveInteger(t: Tlv): Uint8Array {
  const v = t.value;
  if (t.tag !== TAG.INTEGER || v.length === 0) throw malformedKey(NOT_SPKI);
  if (((v[0] as number) & 0x80) !== 0) throw malformedKey(NOT_SPKI);
  if (v.length > 1 && v[0] === 0 && ((v[1] as number) & 0x80) === 0) throw malformedKey(NOT_SPKI);
  const m = v[0] === 0 ? v.subarray(1) : v;
  if (m.length === 0) throw malformedKey(NOT_SPKI);
  return m;
}

function oidOf(t: Tlv): string {
  if (t.tag !== TAG.OID || t.value.length === 0) throw malformedKey(NOT_SPKI);
  return decodeOid(t.value);
}

/** RSASSA-PSS-params of an id-RSASSA-PSS key (all members optional; DEFAULTs are SHA-1, 20). */
function pssRestriction(params: Tlv | undefined): PssRestriction {
  if (params === undefined) return { hash: undefined, mgf1Hash: undefined, minSalt: 0 };
  if (params.tag !== TAG.SEQUENCE) throw malformedKey(NOT_SPKI);
  const r = new DerReader(params.value, 'RSASSA-PSS parameters', 'malformed_key');
  const hashOf = (t: Tlv): string => {
    const oid = oidOf(r.children(t).next());
    // A hash we do not name still restricts the key: to something that is not SHA-384.
    return HASH_OIDS[oid] ?? oid;
  };
  let hash = 'SHA-1';
  let mgf1Hash = 'SHA-1';
  let minSalt = 20;
  const h = r.optional(0xa0);
  if (h !== undefined) hash = hashOf(r.children(h).expect(TAG.SEQUENCE, 'hashAlgorithm'));
  const m = r.optional(0xa1);
  if (m !== undefined) {
    const mr = r.children(r.children(m).expect(TAG.SEQUENCE, 'maskGenAlgorithm'));
    const mgf = oidOf(mr.next());
    mgf1Hash = mgf === OID_MGF1 ? hashOf(mr.expect(TAG.SEQUENCE, 'MGF1 hash')) : `mask ${mgf}`;
  }
  const s = r.optional(0xa2);
  if (s !== undefined) {
    const v = r.children(s).expect(TAG.INTEGER, 'saltLength').value;
    if (v.length === 0 || v.length > 4 || ((v[0] as number) & 0x80) !== 0) throw malformedKey(NOT_SPKI);
    minSalt = Number(bytesToBig(v));
  }
  r.optional(0xa3);
  r.end('RSASSA-PSS parameters');
  return { hash, mgf1Hash, minSalt };
}

async function parseAndImport(spki: Uint8Array): Promise<{ handle: Handle; curve: string | undefined }> {
  // SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
  const top = new DerReader(spki, 'SubjectPublicKeyInfo', 'malformed_key');
  const seq = top.children(top.expect(TAG.SEQUENCE, 'SubjectPublicKeyInfo'));
  top.end('SubjectPublicKeyInfo');
  const alg = seq.children(seq.expect(TAG.SEQUENCE, 'algorithm'));
  const oid = oidOf(alg.next());
  const params = alg.done ? undefined : alg.next();
  alg.end('algorithm');
  const key = bitStringBytes(seq, seq.expect(TAG.BIT_STRING, 'subjectPublicKey'));
  seq.end('SubjectPublicKeyInfo');

  if (oid === OID_EC_PUBLIC_KEY) {
    if (params?.tag !== TAG.OID) throw unsupportedKey('EC public key without a named curve');
    const curveOid = decodeOid(params.value);
    const c = CURVES[curveOid];
    if (c === undefined) throw unsupportedKey(`unsupported elliptic curve ${curveOid}`);
    const { x, y } = decodePoint(c, key);
    let k: WebKey;
    try {
      // WebCrypto checks the point is on the curve, as OpenSSL does at import.
      k = await subtle().importKey('jwk', { kty: 'EC', crv: c.web, x: b64url(x), y: b64url(y), ext: true }, { name: 'ECDSA', namedCurve: c.web }, false, ['verify']);
    } catch (e: unknown) {
      throw malformedKey(NOT_SPKI, e);
    }
    return { handle: { kind: 'ec', curve: c, key: k }, curve: c.openssl };
  }
  if (oid === OID_RSA_ENCRYPTION || oid === OID_RSASSA_PSS) {
    // rsaEncryption has NULL parameters; id-RSASSA-PSS has RSASSA-PSS-params or none.
    let pss: PssRestriction | undefined;
    if (oid === OID_RSA_ENCRYPTION) {
      if (params !== undefined && (params.tag !== TAG.NULL || params.value.length !== 0)) throw malformedKey(NOT_SPKI);
    } else {
      pss = pssRestriction(params);
    }
    // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
    const kr = new DerReader(key, 'RSAPublicKey', 'malformed_key');
    const rsa = kr.children(kr.expect(TAG.SEQUENCE, 'RSAPublicKey'));
    kr.end('RSAPublicKey');
    const n = positiveInteger(rsa.next());
    const e = positiveInteger(rsa.next());
    rsa.end('RSAPublicKey');
    const handle: Handle = { kind: 'rsa', jwk: { kty: 'RSA', n: b64url(n), e: b64url(e), ext: true }, size: n.length, pss, keys: new Map() };
    // Import once now so a key WebCrypto cannot use fails here, as in crypto.ts.
    try {
      await (pss === undefined ? rsaKey(handle, 'RSASSA-PKCS1-v1_5', 'SHA-256') : rsaKey(handle, 'RSA-PSS', 'SHA-384'));
    } catch (err: unknown) {
      throw malformedKey(NOT_SPKI, err);
    }
    return { handle, curve: undefined };
  }
  throw unsupportedKey(`unsupported public key type ${OTHER_KEY_TYPES[oid] ?? oid}`);
}

function rsaKey(h: Extract<Handle, { kind: 'rsa' }>, scheme: 'RSASSA-PKCS1-v1_5' | 'RSA-PSS', hash: 'SHA-256' | 'SHA-384'): Promise<WebKey> {
  const id = `${scheme}|${hash}`;
  let p = h.keys.get(id);
  if (p === undefined) {
    p = Promise.resolve().then(() => subtle().importKey('jwk', h.jwk, { name: scheme, hash }, false, ['verify']));
    h.keys.set(id, p);
  }
  return p;
}

export async function importSpki(spki: Uint8Array): Promise<PublicKey> {
  let parsed: { handle: Handle; curve: string | undefined };
  try {
    parsed = await parseAndImport(spki);
  } catch (e: unknown) {
    if (e instanceof VerificationError && e.code === 'ERR_EVIDENCE_UNSUPPORTED') throw e;
    if (e instanceof VerificationError && e.message === NOT_SPKI) throw e;
    throw malformedKey(NOT_SPKI, e);
  }
  return { spki, handle: parsed.handle, kind: parsed.handle.kind, curve: parsed.curve };
}



const CURVE_OF: Partial<Record<SignatureAlgorithm, string>> = {
  'ecdsa-p256-sha256': 'prime256v1',
  'ecdsa-p384-sha384': 'secp384r1',
};

/**
 * ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } in canonical DER, to raw r||s of 2·size
 * bytes; undefined for anything OpenSSL would not accept (it re-encodes and compares) or for an
 * integer wider than the curve (it could not be below the order).
 */
export function ecdsaDerToRaw(der: Uint8Array, size: number): Uint8Array | undefined {
  let pos = 0;
  const readLen = (): number | undefined => {
    const first = der[pos++];
    if (first === undefined) return undefined;
    if (first < 0x80) return first;
    const n = first & 0x7f;
    if (n === 0 || n > 2) return undefined;
    let len = 0;
    for (let i = 0; i < n; i++) {
      const b = der[pos++];
      if (b === undefined) return undefined;
      len = len * 256 + b;
    }
    // Minimal length: long form only from 0x80, and without a leading zero byte.
    if (len < 0x80 || (n === 2 && len < 0x100)) return undefined;
    return len;
  };
  const readInt = (): Uint8Array | undefined => {
    if (der[pos++] !== TAG.INTEGER) return undefined;
    const len = readLen();
    if (len === undefined || len === 0 || pos + len > der.length) return undefined;
    const v = der.subarray(pos, pos + len);
    pos += len;
    const first = v[0] as number;
    if ((first & 0x80) !== 0) return undefined; // negative
    if (len > 1 && first === 0 && ((v[1] as number) & 0x80) === 0) return undefined; // non-minimal
    const m = first === 0 && len > 1 ? v.subarray(1) : v;
    return m.length > size ? undefined : m;
  };
  if (der[pos++] !== TAG.SEQUENCE) return undefined;
  const len = readLen();
  if (len === undefined || pos + len !== der.length) return undefined;
  const r = readInt();
  const s = readInt();
  if (r === undefined || s === undefined || pos !== der.length) return undefined;
  const out = new Uint8Array(2 * size);
  out.set(r, size - r.length);
  out.set(s, 2 * size - s.length);
  return out;
}

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
  const want = CURVE_OF[alg];
  const isEc = alg.startsWith('ecdsa');
  if ((isEc && key.kind !== 'ec') || (!isEc && key.kind !== 'rsa') || (want !== undefined && key.curve !== want)) {
    return false;
  }
  const h = key.handle as Handle;
  const hash = alg.endsWith('sha384') ? 'SHA-384' : 'SHA-256';
  const webcrypto = subtle(); // outside the try: no WebCrypto is an error, not a bad signature
  try {
    if (h.kind === 'ec') {
      const size = h.curve.size;
      const raw = encoding === 'raw' ? (signature.length === 2 * size ? signature : undefined) : ecdsaDerToRaw(signature, size);
      if (raw === undefined) return false;
      return await webcrypto.verify({ name: 'ECDSA', hash }, h.key, ab(raw), ab(data));
    }
    // OpenSSL 3 wants exactly the modulus length (a short signature is not left-padded).
    if (signature.length !== h.size) return false;
    const sig = signature;
    if (alg === 'rsa-pss-sha384') {
      // AMD's ARK/ASK/VCEK: RSASSA-PSS, SHA-384, MGF1-SHA-384, salt 48.
      const r = h.pss;
      if (r !== undefined && ((r.hash !== undefined && r.hash !== 'SHA-384') || (r.mgf1Hash !== undefined && r.mgf1Hash !== 'SHA-384') || r.minSalt > 48)) return false;
      return await webcrypto.verify({ name: 'RSA-PSS', saltLength: 48 }, await rsaKey(h, 'RSA-PSS', 'SHA-384'), ab(sig), ab(data));
    }
    // An RSASSA-PSS key signs nothing but PSS (OpenSSL refuses PKCS#1 v1.5 padding with it).
    if (h.pss !== undefined) return false;
    return await webcrypto.verify({ name: 'RSASSA-PKCS1-v1_5' }, await rsaKey(h, 'RSASSA-PKCS1-v1_5', hash), ab(sig), ab(data));
  } catch {
    // A structurally bad signature is simply one that does not verify (as in crypto.ts).
    return false;
  }
}

async function digest(name: 'SHA-256' | 'SHA-384' | 'SHA-512', data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest(name, ab(data)));
}

export function sha256(data: Uint8Array): Promise<Uint8Array> {
  return digest('SHA-256', data);
}
export function sha384(data: Uint8Array): Promise<Uint8Array> {
  return digest('SHA-384', data);
}
export function sha512(data: Uint8Array): Promise<Uint8Array> {
  return digest('SHA-512', data);
}
