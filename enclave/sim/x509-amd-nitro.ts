/**
 * A small DER writer and X.509 v3 certificate minter on node:crypto, for the simulated AMD SEV-SNP
 * and AWS Nitro PKIs. Written by hand rather than with @peculiar/x509 because the AMD verifier
 * accepts exactly two byte strings as RSASSA-PSS parameters (SHA-384, MGF1-SHA-384, salt 48, with
 * or without the explicit trailerField AMD writes) and a generic library chooses its own encoding;
 * here every byte is ours, so the simulated certificates are shaped like AMD's and AWS's.
 *
 * Only what the two PKIs need: names, validity, SPKI from a KeyObject, basicConstraints,
 * keyUsage, opaque extensions (AMD's VCEK OIDs), ECDSA P-384/SHA-384 and RSA-PSS SHA-384 signing.
 */
import { createPrivateKey, generateKeyPair, randomBytes, sign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { concatBytes, fromBase64, toBase64 } from '../../attestation/common/bytes.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

// ---------------------------------------------------------------------------------------------
// DER primitives.

function lengthBytes(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return Uint8Array.of(0x80 | out.length, ...out);
}

export function tlv(tag: number, ...content: readonly Uint8Array[]): Uint8Array {
  const body = concatBytes(...content);
  return concatBytes(Uint8Array.of(tag), lengthBytes(body.length), body);
}

export const seq = (...c: readonly Uint8Array[]): Uint8Array => tlv(0x30, ...c);
const set = (...c: readonly Uint8Array[]): Uint8Array => tlv(0x31, ...c);
export const octets = (b: Uint8Array): Uint8Array => tlv(0x04, b);
const NULL = Uint8Array.of(0x05, 0x00);

/** INTEGER from an unsigned big-endian magnitude, in minimal two's-complement form. */
export function uintBytes(magnitude: Uint8Array): Uint8Array {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  const lead = m[0] ?? 0;
  return tlv(0x02, (lead & 0x80) !== 0 || m.length === 0 ? concatBytes(Uint8Array.of(0), m) : m);
}

export function uint(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`DER INTEGER ${n} out of range`);
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return uintBytes(Uint8Array.from(out));
}

export function oid(dotted: string): Uint8Array {
  const parts = dotted.split('.').map((p) => Number(p));
  const [a, b, ...rest] = parts;
  if (a === undefined || b === undefined || parts.some((p) => !Number.isSafeInteger(p) || p < 0)) throw new RangeError(`bad OID ${dotted}`);
  const out: number[] = [];
  for (const arc of [a * 40 + b, ...rest]) {
    const groups: number[] = [];
    let v = arc;
    do {
      groups.unshift(v & 0x7f);
      v = Math.floor(v / 128);
    } while (v > 0);
    groups.forEach((g, i) => out.push(i < groups.length - 1 ? g | 0x80 : g));
  }
  return tlv(0x06, Uint8Array.from(out));
}

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => {
  const code = c.charCodeAt(0);
  if (code < 0x20 || code > 0x7e) throw new RangeError(`not printable ASCII: ${JSON.stringify(s)}`);
  return code;
});

export const ia5 = (s: string): Uint8Array => tlv(0x16, ascii(s));
const printable = (s: string): Uint8Array => tlv(0x13, ascii(s));
const utf8 = (s: string): Uint8Array => tlv(0x0c, new TextEncoder().encode(s));

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, Zulu. */
function time(d: Date): Uint8Array {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  const year = d.getUTCFullYear();
  return year >= 1950 && year < 2050 ? tlv(0x17, ascii(`${digits.slice(2)}Z`)) : tlv(0x18, ascii(`${digits}Z`));
}

function bitString(bytes: Uint8Array, unusedBits = 0): Uint8Array {
  return tlv(0x03, Uint8Array.of(unusedBits), bytes);
}

// ---------------------------------------------------------------------------------------------
// Names.

const ATTR_OIDS = { C: '2.5.4.6', ST: '2.5.4.8', L: '2.5.4.7', O: '2.5.4.10', OU: '2.5.4.11', CN: '2.5.4.3' } as const;
export type NameAttr = readonly [keyof typeof ATTR_OIDS, string];

/** A Name with one attribute per RDN, in the order given (AMD and AWS both write them that way). */
export function encodeName(attrs: readonly NameAttr[]): Uint8Array {
  // countryName is a PrintableString (RFC 5280 appendix A); the rest UTF8String, as RFC 5280 prefers.
  return seq(...attrs.map(([k, v]) => set(seq(oid(ATTR_OIDS[k]), k === 'C' ? printable(v) : utf8(v)))));
}

// ---------------------------------------------------------------------------------------------
// Extensions.

export interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  /** The extnValue's content (the DER inside the OCTET STRING). */
  readonly value: Uint8Array;
}

export function basicConstraints(ca: boolean, pathLen?: number): Extension {
  // cA DEFAULT FALSE is omitted when false (DER).
  return { oid: '2.5.29.19', critical: true, value: seq(...(ca ? [Uint8Array.of(0x01, 0x01, 0xff)] : []), ...(pathLen === undefined ? [] : [uint(pathLen)])) };
}

export const KEY_USAGE = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

/** keyUsage as a DER named-bit BIT STRING (trailing zero bits dropped, unused-bit count set). */
export function keyUsage(...bits: readonly number[]): Extension {
  const top = Math.max(...bits);
  const bytes = new Uint8Array(Math.floor(top / 8) + 1);
  for (const b of bits) bytes[Math.floor(b / 8)] = (bytes[Math.floor(b / 8)] ?? 0) | (0x80 >> b % 8);
  return { oid: '2.5.29.15', critical: true, value: bitString(bytes, bytes.length * 8 - (top + 1)) };
}

function encodeExtensions(exts: readonly Extension[]): Uint8Array {
  return tlv(
    0xa3,
    seq(...exts.map((e) => seq(oid(e.oid), ...(e.critical ? [Uint8Array.of(0x01, 0x01, 0xff)] : []), octets(e.value)))),
  );
}

// ---------------------------------------------------------------------------------------------
// Signature algorithms.

/**
 * How a certificate is signed. `rsa-pss-sha384` writes the PSS parameters without the DEFAULT
 * trailerField (current VCEKs); `rsa-pss-sha384-trailer` writes it explicitly, as AMD's ARKs and
 * ASKs do. Both mean SHA-384, MGF1 with SHA-384, salt 48, trailer 1.
 */
export type CertSignatureAlgorithm = 'ecdsa-sha384' | 'rsa-pss-sha384' | 'rsa-pss-sha384-trailer';

const SHA384_ALG = seq(oid('2.16.840.1.101.3.4.2.2'), NULL);
function pssAlgorithm(explicitTrailer: boolean): Uint8Array {
  return seq(
    oid('1.2.840.113549.1.1.10'),
    seq(
      tlv(0xa0, SHA384_ALG),
      tlv(0xa1, seq(oid('1.2.840.113549.1.1.8'), SHA384_ALG)),
      tlv(0xa2, uint(48)),
      ...(explicitTrailer ? [tlv(0xa3, uint(1))] : []),
    ),
  );
}

function algorithmIdentifier(alg: CertSignatureAlgorithm): Uint8Array {
  switch (alg) {
    case 'ecdsa-sha384':
      // RFC 5758 3.2: ecdsa-with-SHA384 has absent parameters.
      return seq(oid('1.2.840.10045.4.3.3'));
    case 'rsa-pss-sha384':
      return pssAlgorithm(false);
    case 'rsa-pss-sha384-trailer':
      return pssAlgorithm(true);
  }
}

function signWith(alg: CertSignatureAlgorithm, key: KeyObject, data: Uint8Array): Uint8Array {
  switch (alg) {
    case 'ecdsa-sha384':
      return new Uint8Array(sign('sha384', data, { key, dsaEncoding: 'der' }));
    case 'rsa-pss-sha384':
    case 'rsa-pss-sha384-trailer':
      // OpenSSL's MGF1 digest defaults to the signature digest (SHA-384), matching the parameters.
      return new Uint8Array(sign('sha384', data, { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 48 }));
  }
}

// ---------------------------------------------------------------------------------------------
// Certificates and keys.

export interface CertificateSpec {
  /** Encoded Names (encodeName, or a parsed certificate's subject DER to chain to it exactly). */
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKey: KeyObject;
  readonly extensions: readonly Extension[];
  readonly signer: { readonly key: KeyObject; readonly algorithm: CertSignatureAlgorithm };
  /** Default: 16 random bytes, positive. */
  readonly serial?: Uint8Array;
}

/** A random positive serial of 16 bytes whose first byte is non-zero (so its DER is exactly 16 bytes). */
export function randomSerial(): Uint8Array {
  const s = new Uint8Array(randomBytes(16));
  s[0] = ((s[0] ?? 0) & 0x7f) | 0x40;
  return s;
}

export function mintCertificate(spec: CertificateSpec): Uint8Array {
  const alg = algorithmIdentifier(spec.signer.algorithm);
  const spki = new Uint8Array(spec.publicKey.export({ type: 'spki', format: 'der' }));
  const tbs = seq(
    tlv(0xa0, uint(2)), // v3
    uintBytes(spec.serial ?? randomSerial()),
    alg,
    spec.issuer,
    seq(time(spec.notBefore), time(spec.notAfter)),
    spec.subject,
    spki,
    ...(spec.extensions.length === 0 ? [] : [encodeExtensions(spec.extensions)]),
  );
  return seq(tbs, alg, bitString(signWith(spec.signer.algorithm, spec.signer.key, tbs)));
}

export interface KeyPair {
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
}

export function generateP384(): Promise<KeyPair> {
  return generateKeyPairAsync('ec', { namedCurve: 'P-384' });
}

/**
 * RSA keys for the simulated ARK and ASK. AMD's are 4096 bits, but generating one takes 1-2.5 s
 * here, against ~0.1-0.2 s for 2048 bits; the verifier takes any RSA size, and a simulated root
 * protects nothing, so the simulation uses 2048.
 */
export const SIM_RSA_BITS = 2048;
export function generateRsa(bits = SIM_RSA_BITS): Promise<KeyPair> {
  return generateKeyPairAsync('rsa', { modulusLength: bits });
}

export function privateKeyPem(k: KeyObject): string {
  return k.export({ type: 'pkcs8', format: 'pem' }).toString();
}

export function privateKeyFromPem(pem: string): KeyObject {
  return createPrivateKey({ key: pem, format: 'pem' });
}

export function toPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = toBase64(der);
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** The DER of the single certificate in a PEM text (the simulated PKI's own files). */
export function derOfPem(pem: string, what: string): Uint8Array {
  const m = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/.exec(pem);
  if (m === null) throw new Error(`${what} is not a PEM certificate`);
  return fromBase64(m[1] ?? '', what);
}
