/**
 * X.509 certificates: parsing (DER -> typed structure) and chain validation against pinned roots
 * at an explicit time. Certificates that arrive with evidence are untrusted input; only the
 * anchors passed in by the caller confer trust, matched by exact DER, never by subject name.
 */
import { VerificationError, malformed } from '../errors.ts';
import { concatBytes, equalBytes, fromBase64, toHex } from './bytes.ts';
import { importSpki, sha256, verifySignature, type PublicKey, type SignatureAlgorithm } from './crypto.ts';
import {
  DerReader,
  TAG,
  bitStringBytes,
  decodeName,
  decodeOid,
  decodeSmallInteger,
  decodeTime,
  integerMagnitude,
  type Name,
  type Tlv,
} from './der.ts';

export interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: Uint8Array;
}

export interface Certificate {
  readonly der: Uint8Array;
  readonly tbs: Uint8Array;
  readonly serial: Uint8Array;
  readonly issuer: Name;
  readonly subject: Name;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly spki: Uint8Array;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly signature: Uint8Array;
  readonly extensions: readonly Extension[];
  readonly isCa: boolean;
  readonly pathLen: number | undefined;
  /** keyUsage bits as a number (bit 0 = digitalSignature ... bit 5 = keyCertSign, 6 = cRLSign), or undefined if absent. */
  readonly keyUsage: number | undefined;
}

const SIG_ALGS: Record<string, SignatureAlgorithm> = {
  '1.2.840.10045.4.3.2': 'ecdsa-sha256',
  '1.2.840.10045.4.3.3': 'ecdsa-sha384',
  '1.2.840.113549.1.1.10': 'rsa-pss-sha384',
  '1.2.840.113549.1.1.11': 'rsa-pkcs1-sha256',
  '1.2.840.113549.1.1.12': 'rsa-pkcs1-sha384',
};

const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_KEY_USAGE = '2.5.29.15';
/** Critical extensions we understand; any other critical extension makes the certificate unusable (RFC 5280 4.2). */
const KNOWN_CRITICAL = new Set([OID_BASIC_CONSTRAINTS, OID_KEY_USAGE, '2.5.29.37', '2.5.29.32', '2.5.29.17']);

// RSASSA-PSS parameters that AMD uses: SHA-384, MGF1 with SHA-384, salt 48, trailer 1. Any other
// parameter set is refused rather than verified with the wrong settings.
const PSS_SHA384_PARAMS_HEX =
  '3034a00f300d06096086480165030402020500a11c301a06092a864886f70d010108300d06096086480165030402020500a203020130';
// The same parameters with the DEFAULT trailerField [3] INTEGER 1 written out, as every AMD ARK and
// ASK (and VCEKs issued before about 2025) encode them. Trailer 1 is the only one RFC 4055 defines.
const PSS_SHA384_PARAMS_WITH_TRAILER_HEX =
  '3039a00f300d06096086480165030402020500a11c301a06092a864886f70d010108300d06096086480165030402020500a203020130a303020101';

export function decodeAlgorithm(r: DerReader, t: Tlv): SignatureAlgorithm {
  const alg = r.children(t);
  const oid = decodeOid(alg.expect(TAG.OID, 'algorithm').value);
  const found = SIG_ALGS[oid];
  if (found === undefined) {
    throw new VerificationError('ERR_EVIDENCE_UNSUPPORTED', `unsupported signature algorithm ${oid}`, { reason: 'unsupported_algorithm' });
  }
  if (found === 'rsa-pss-sha384') {
    const params = alg.next();
    const hex = toHex(params.raw);
    if (hex !== PSS_SHA384_PARAMS_HEX && hex !== PSS_SHA384_PARAMS_WITH_TRAILER_HEX) {
      throw new VerificationError('ERR_EVIDENCE_UNSUPPORTED', 'RSASSA-PSS parameters other than SHA-384/MGF1-SHA-384/salt 48', { reason: 'unsupported_algorithm' });
    }
  } else if (!alg.done) {
    // ECDSA must have absent parameters; RSA PKCS#1 has NULL.
    const p = alg.next();
    if (p.tag !== TAG.NULL || found.startsWith('ecdsa')) r.fail('unexpected algorithm parameters');
  }
  alg.end('AlgorithmIdentifier');
  return found;
}

export function parseCertificate(der: Uint8Array, what = 'certificate', reason = 'malformed_certificate'): Certificate {
  const top = new DerReader(der, what, reason);
  const certT = top.expect(TAG.SEQUENCE, 'Certificate');
  top.end('Certificate');
  const cert = top.children(certT);
  const tbsT = cert.expect(TAG.SEQUENCE, 'tbsCertificate');
  const outerAlgT = cert.expect(TAG.SEQUENCE, 'signatureAlgorithm');
  const signature = bitStringBytes(cert, cert.next());
  cert.end('Certificate');

  const tbs = cert.children(tbsT);
  const verT = tbs.optional(0xa0);
  if (verT !== undefined) {
    const v = tbs.children(verT);
    const n = decodeSmallInteger(v, v.next());
    if (n !== 2) tbs.fail('only X.509 v3 certificates are accepted');
  }
  const serialT = tbs.expect(TAG.INTEGER, 'serialNumber');
  const innerAlgT = tbs.expect(TAG.SEQUENCE, 'signature');
  // RFC 5280 4.1.1.2: the two algorithm fields must be identical; a mismatch is a substitution attempt.
  if (!equalBytes(innerAlgT.raw, outerAlgT.raw)) tbs.fail('signatureAlgorithm differs from tbsCertificate.signature');
  const signatureAlgorithm = decodeAlgorithm(tbs, innerAlgT);
  const issuer = decodeName(tbs, tbs.next());
  const validity = tbs.children(tbs.expect(TAG.SEQUENCE, 'validity'));
  const notBefore = decodeTime(validity, validity.next());
  const notAfter = decodeTime(validity, validity.next());
  validity.end('validity');
  const subject = decodeName(tbs, tbs.next());
  const spkiT = tbs.expect(TAG.SEQUENCE, 'subjectPublicKeyInfo');
  tbs.optional(0x81);
  tbs.optional(0x82);
  const extensions: Extension[] = [];
  const extT = tbs.optional(0xa3);
  tbs.end('tbsCertificate');
  let isCa = false;
  let pathLen: number | undefined;
  let keyUsage: number | undefined;
  if (extT !== undefined) {
    const seq = tbs.children(extT);
    const list = seq.children(seq.expect(TAG.SEQUENCE, 'extensions'));
    seq.end('extensions');
    const seen = new Set<string>();
    while (!list.done) {
      const e = list.children(list.expect(TAG.SEQUENCE, 'Extension'));
      const oid = decodeOid(e.expect(TAG.OID, 'extnID').value);
      const critT = e.optional(TAG.BOOLEAN);
      const critical = critT !== undefined && critT.value[0] !== 0;
      const value = e.expect(TAG.OCTET_STRING, 'extnValue').value;
      e.end('Extension');
      if (seen.has(oid)) list.fail(`duplicate extension ${oid}`);
      seen.add(oid);
      if (critical && !KNOWN_CRITICAL.has(oid)) {
        throw new VerificationError('ERR_EVIDENCE_UNSUPPORTED', `${what}: unknown critical extension ${oid}`, { reason: 'unsupported_critical_extension' });
      }
      if (oid === OID_BASIC_CONSTRAINTS) {
        const bc = new DerReader(value, what, reason);
        const inner = bc.children(bc.expect(TAG.SEQUENCE, 'BasicConstraints'));
        const caT = inner.optional(TAG.BOOLEAN);
        isCa = caT !== undefined && caT.value[0] !== 0;
        const plT = inner.optional(TAG.INTEGER);
        if (plT !== undefined) pathLen = decodeSmallInteger(inner, plT);
        inner.end('BasicConstraints');
      } else if (oid === OID_KEY_USAGE) {
        const ku = new DerReader(value, what, reason);
        const bits = ku.expect(TAG.BIT_STRING, 'KeyUsage').value;
        // Bit 0 is the most significant bit of the first content byte.
        keyUsage = 0;
        for (let i = 1; i < bits.length && i < 3; i++) {
          const byte = bits[i] as number;
          for (let b = 0; b < 8; b++) if (byte & (0x80 >> b)) keyUsage |= 1 << ((i - 1) * 8 + b);
        }
      }
      extensions.push({ oid, critical, value: value.slice() });
    }
  }
  return {
    der: der.slice(),
    tbs: tbsT.raw.slice(),
    serial: integerMagnitude(serialT.value).slice(),
    issuer: { ...issuer, der: issuer.der.slice() },
    subject: { ...subject, der: subject.der.slice() },
    notBefore,
    notAfter,
    spki: spkiT.raw.slice(),
    signatureAlgorithm,
    signature: signature.slice(),
    extensions,
    isCa,
    pathLen,
    keyUsage,
  };
}

const PEM_RE = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g;

/** Every PEM certificate block in the text, in order; text outside the blocks (a NUL, padding) is ignored. */
export function parsePemCertificates(text: string, what = 'certificate chain', reason = 'malformed_certificate'): Certificate[] {
  const out: Certificate[] = [];
  for (const m of text.matchAll(PEM_RE)) {
    // Group 1 is mandatory in PEM_RE.
    out.push(parseCertificate(fromBase64(m[1] as string, what, reason), what, reason));
  }
  if (out.length === 0) throw malformed(`${what}: no PEM certificate found`, reason);
  return out;
}

export const KU_KEY_CERT_SIGN = 1 << 5;
export const KU_CRL_SIGN = 1 << 6;

export interface TrustAnchor {
  readonly name: string;
  readonly certificate: Certificate;
  /** SHA-256 of the anchor's DER, lowercase hex: reported in every result. */
  readonly sha256: string;
  /** True for the vendor roots compiled into the library; false for anything named by the operator. */
  readonly pinned: boolean;
  /**
   * The root of attestgate's simulated TEE (its subject carries SIMULATED_ROOT_MARK). Trusted only
   * when passed explicitly, and every result that chains to it says `simulated: true`.
   */
  readonly simulated: boolean;
}

export interface ChainOptions {
  readonly at: number;
  /** Error reason to use when no path reaches an anchor (`untrusted_root` for evidence chains). */
  readonly what: string;
}

/** Cache of imported public keys, keyed by the SPKI's bytes; keys are pure values so sharing is safe. */
const keyCache = new Map<string, Promise<PublicKey>>();
/** Forget imported keys and verified certificate signatures (benchmarks measure cold verification with it). */
export function clearKeyCache(): void {
  keyCache.clear();
  verifiedSignatures.clear();
}

export function publicKeyOf(spki: Uint8Array): Promise<PublicKey> {
  const k = toHex(spki);
  let p = keyCache.get(k);
  if (p === undefined) {
    if (keyCache.size > 256) keyCache.clear();
    p = importSpki(spki);
    keyCache.set(k, p);
    // A failed import must not poison the cache.
    p.catch(() => keyCache.delete(k));
  }
  return p;
}

export function assertValidAt(cert: Certificate, at: number, what: string): void {
  if (!(cert.notBefore <= at && at <= cert.notAfter)) {
    throw new VerificationError(
      'ERR_CERT_NOT_VALID_AT_TIME',
      `${what}: certificate "${cert.subject.text}" is valid from ${new Date(cert.notBefore).toISOString()} to ${new Date(cert.notAfter).toISOString()}, not at ${isFinite(at) ? new Date(at).toISOString() : 'an invalid time'}`,
      { reason: 'cert_expired' },
    );
  }
}

/**
 * Certificate signatures already verified, keyed by SHA-256(certificate DER || issuer SPKI): the
 * result is a pure function of those bytes, so a warm verification of the same chain skips the
 * public-key operations. Only successes are remembered; bounded in size.
 */
const verifiedSignatures = new Set<string>();

export async function verifiedBy(cert: Certificate, issuer: Certificate): Promise<boolean> {
  const memo = toHex(await sha256(concatBytes(cert.der, issuer.spki)));
  if (verifiedSignatures.has(memo)) return true;
  const key = await publicKeyOf(issuer.spki);
  const ok = await verifySignature(cert.signatureAlgorithm, key, cert.tbs, cert.signature, 'der');
  if (ok) {
    if (verifiedSignatures.size >= 4096) verifiedSignatures.clear();
    verifiedSignatures.add(memo);
  }
  return ok;
}

/**
 * Validate `chain` (leaf first; any root it carries is ignored as untrusted) up to one of `anchors`.
 * Checks, for every certificate on the path: validity at `at`, the issuer's name, the issuer's
 * signature, CA flag, keyCertSign and path length for issuers. Returns the path, leaf first,
 * ending with the anchor's certificate, and the anchor used.
 */
export async function verifyChain(
  chain: readonly Certificate[],
  anchors: readonly TrustAnchor[],
  opts: ChainOptions,
): Promise<{ path: Certificate[]; anchor: TrustAnchor }> {
  const leaf = chain[0];
  if (leaf === undefined) throw new VerificationError('ERR_CHAIN_UNTRUSTED', `${opts.what}: empty certificate chain`, { reason: 'untrusted_root' });
  if (anchors.length === 0) throw new VerificationError('ERR_INVALID_ARGUMENT', 'no trust anchor configured', { reason: 'no_trust_anchor' });
  const path: Certificate[] = [leaf];
  let current = leaf;
  const pool = chain.slice(1);
  // Bounded walk: at most one step per supplied certificate, so a loop of certificates cannot hang us.
  for (let depth = 0; depth <= pool.length; depth++) {
    for (const anchor of anchors) {
      const root = anchor.certificate;
      if (equalBytes(current.der, root.der)) {
        // The chain itself contained the anchor (leaf == root is not a valid evidence chain).
        // Skipped rather than ending the walk, so the result does not depend on the anchors' order.
        if (depth === 0) continue;
        return finish(path, anchor, opts);
      }
      if (equalBytes(current.issuer.der, root.subject.der) && (await verifiedBy(current, root))) {
        path.push(root);
        return finish(path, anchor, opts);
      }
    }
    const next = pool.find((c) => equalBytes(c.subject.der, current.issuer.der) && !equalBytes(c.der, current.der));
    if (next === undefined || equalBytes(next.subject.der, next.issuer.der)) break; // a self-signed root that is not an anchor
    if (!(await verifiedBy(current, next))) {
      throw new VerificationError('ERR_SIGNATURE_INVALID', `${opts.what}: certificate "${current.subject.text}" is not signed by its issuer`, {
        reason: 'chain_signature',
      });
    }
    path.push(next);
    current = next;
  }
  throw new VerificationError(
    'ERR_CHAIN_UNTRUSTED',
    `${opts.what}: no path from "${leaf.subject.text}" to a trusted root (${anchors.map((a) => a.name).join(', ')})`,
    { reason: 'untrusted_root' },
  );
}

function finish(path: Certificate[], anchor: TrustAnchor, opts: ChainOptions): { path: Certificate[]; anchor: TrustAnchor } {
  for (let i = 0; i < path.length; i++) {
    const c = path[i] as Certificate;
    assertValidAt(c, opts.at, opts.what);
    if (i === 0) continue;
    // Issuers must be CAs allowed to sign certificates, with room for the certificates below them
    // (intermediates only: path length counts non-self-issued CAs under this one).
    if (!c.isCa) {
      throw new VerificationError('ERR_CHAIN_UNTRUSTED', `${opts.what}: issuer "${c.subject.text}" is not a CA`, { reason: 'not_a_ca' });
    }
    if (c.keyUsage !== undefined && (c.keyUsage & KU_KEY_CERT_SIGN) === 0) {
      throw new VerificationError('ERR_CHAIN_UNTRUSTED', `${opts.what}: issuer "${c.subject.text}" may not sign certificates`, { reason: 'not_a_ca' });
    }
    const below = i - 1;
    if (c.pathLen !== undefined && below > c.pathLen) {
      throw new VerificationError('ERR_CHAIN_UNTRUSTED', `${opts.what}: path length constraint of "${c.subject.text}" exceeded`, { reason: 'path_length' });
    }
  }
  return { path, anchor };
}
