/**
 * A fake Intel DCAP PKI minted at run time (nothing is written to the repository), for the
 * negative paths that real fixtures cannot reach: every validity window, revocation, CRL issuer
 * and chain fault can be chosen. Mirrors go-sev-guest's testing/fake_certs.go.
 *
 *   root CA (self-signed, pathLen 1) -> PCK Platform/Processor CA (pathLen 0) -> PCK leaf
 *                                    -> TCB signing certificate
 *   Root CA CRL (signed by the root), PCK CRL (signed by the PCK CA)
 *
 * The PCK leaf carries a byte-for-byte copy of the SGX extension (OID 1.2.840.113741.1.13.1) of a
 * real PCK certificate, so TCB matching against real TCB info gives the real status.
 *
 * reSignQuote() re-encodes a real quote (v3, v4, v5) with the fake PCK chain, a fresh attestation
 * key, the QE report data recomputed and both signatures redone; reSignCollateral() re-signs the
 * real TCB info / QE identity text with the fake TCB signing key and swaps in the fake CRLs and
 * chains. Verified with the fake root as the only trust anchor, the result matches the real case.
 *
 * Keys: node:crypto (WebCrypto P-256 for @peculiar/x509, KeyObject for raw r||s signatures).
 */
import { KeyObject, createHash, generateKeyPairSync, sign, webcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';
import { parsePemCertificates } from '../../attestation/common/x509.ts';
import type { DcapCollateral } from '../../attestation/intel/bundle.ts';
import { parseQuote } from '../../attestation/intel/parse.ts';

import { x509 } from './peculiar-x509.ts';

x509.cryptoProvider.set(globalThis.crypto);

export const SGX_EXTENSION_OID = '1.2.840.113741.1.13.1';
/** A private-arc OID no verifier knows: marking it critical must make the certificate unusable. */
export const UNKNOWN_CRITICAL_OID = '1.3.6.1.4.1.55555.1.1';

const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

export type CertRole = 'root' | 'pckCa' | 'pck' | 'tcbSigning';
export const CERT_ROLES: readonly CertRole[] = ['root', 'pckCa', 'pck', 'tcbSigning'];

export interface Window {
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}

export interface CrlOptions {
  readonly thisUpdate?: Date;
  /** `null` omits nextUpdate altogether (optional in RFC 5280, refused by the verifier). */
  readonly nextUpdate?: Date | null;
  /** Serial numbers (hex, as in FakeCert.serial) to list as revoked. */
  readonly revoked?: readonly string[];
  /**
   * `wrong-issuer`: issued and signed by the other CA (the PCK CRL by the root, the Root CA CRL by
   * the PCK CA). `wrong-key`: the right issuer name, signed by an unrelated key.
   */
  readonly fault?: 'wrong-issuer' | 'wrong-key';
}

export interface FakeIntelPkiOptions {
  /** Reference time: default windows are centred on it (certificates +-2 years, CRLs +-30 days). */
  readonly at: Date;
  /** extnValue (DER) of a real PCK certificate's SGX extension; see templateFromQuote(). */
  readonly sgxExtension: Uint8Array;
  /** Subject names (DER, or an RFC 4514 string); default: Intel's names. */
  readonly names?: Partial<Record<CertRole, Uint8Array | string>>;
  readonly validity?: Partial<Record<CertRole, Window>>;
  /** Serial numbers (hex, first byte 0x01..0x7f); default random. */
  readonly serials?: Partial<Record<CertRole, string>>;
  /** basicConstraints cA of the PCK CA; false gives a non-CA intermediate. Default true. */
  readonly pckCaIsCa?: boolean;
  /** pathLenConstraint of the root (default 1; 0 is violated by the PCK chain) and of the PCK CA (default 0). null omits it. */
  readonly rootPathLen?: number | null;
  readonly pckCaPathLen?: number | null;
  /** Certificates that carry an extra critical extension of an unknown OID. */
  readonly unknownCriticalExtension?: readonly CertRole[];
  readonly rootCrl?: CrlOptions;
  readonly pckCrl?: CrlOptions;
  /** keyUsage bits (X509 KeyUsageFlags) of the PCK CA; default keyCertSign | cRLSign. */
  readonly pckCaKeyUsage?: X509.KeyUsageFlags;
  /** Reuse the root (certificate and key) of another fake PKI: two hierarchies under one anchor. */
  readonly sameRootAs?: FakeIntelPki;
}

export interface FakeCert {
  readonly role: CertRole;
  readonly der: Uint8Array;
  readonly pem: string;
  readonly serial: string;
  readonly subject: Uint8Array;
  readonly privateKey: KeyObject;
  /** The same key pair for @peculiar/x509. */
  readonly keys: webcrypto.CryptoKeyPair;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface FakeIntelPki {
  readonly root: FakeCert;
  readonly pckCa: FakeCert;
  readonly pck: FakeCert;
  readonly tcbSigning: FakeCert;
  readonly rootCrlDer: Uint8Array;
  readonly pckCrlDer: Uint8Array;
  /** leaf, PCK CA, root: what a quote carries. */
  readonly pckChainPem: string;
  /** TCB signing certificate, root. */
  readonly tcbChainPem: string;
  /** PCK CA, root. */
  readonly pckCrlChainPem: string;
}

/** What to copy from a real quote: its PCK leaf's SGX extension and the real subject names. */
export interface PkiTemplate {
  readonly sgxExtension: Uint8Array;
  readonly names: Record<'root' | 'pckCa' | 'pck', Uint8Array>;
}

export function templateFromQuote(quote: Uint8Array): PkiTemplate {
  const certs = parsePemCertificates(parseQuote(quote).pckChainPem);
  const [leaf, ca, root] = certs;
  if (leaf === undefined || ca === undefined || root === undefined) throw new Error('fixture PCK chain must have leaf, CA and root');
  const ext = leaf.extensions.find((e) => e.oid === SGX_EXTENSION_OID);
  if (ext === undefined) throw new Error('fixture PCK leaf has no SGX extension');
  return { sgxExtension: ext.value.slice(), names: { pck: leaf.subject.der, pckCa: ca.subject.der, root: root.subject.der } };
}

const DEFAULT_NAMES: Record<CertRole, string> = {
  root: 'CN=Intel SGX Root CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US',
  pckCa: 'CN=Intel SGX PCK Platform CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US',
  pck: 'CN=Intel SGX PCK Certificate, O=Intel Corporation, L=Santa Clara, ST=CA, C=US',
  tcbSigning: 'CN=Intel SGX TCB Signing, O=Intel Corporation, L=Santa Clara, ST=CA, C=US',
};

interface KeyPair {
  readonly web: webcrypto.CryptoKeyPair;
  readonly privateKey: KeyObject;
}

async function newKeyPair(): Promise<KeyPair> {
  const web = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  return { web, privateKey: KeyObject.from(web.privateKey) };
}

function randomSerial(): string {
  const b = new Uint8Array(16);
  webcrypto.getRandomValues(b);
  b[0] = 0x10 + ((b[0] ?? 0) % 0x60);
  return Buffer.from(b).toString('hex');
}

function wholeSeconds(d: Date, what: string): Date {
  // X.509 times have a resolution of one second; a fraction would be silently dropped.
  if (!Number.isFinite(d.getTime()) || d.getTime() % 1000 !== 0) throw new Error(`${what}: ${String(d)} is not a whole second`);
  return d;
}

function toName(n: Uint8Array | string): X509.Name {
  return typeof n === 'string' ? new x509.Name(n) : new x509.Name(Uint8Array.from(n));
}

function pemOf(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE-----\n${b64.replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
}

export const KU_KEY_CERT_SIGN = x509.KeyUsageFlags.keyCertSign;
export const KU_CRL_SIGN = x509.KeyUsageFlags.cRLSign;
const CA_USAGE = (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign) as X509.KeyUsageFlags;
const LEAF_USAGE = (x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation) as X509.KeyUsageFlags;

/** Mint the hierarchy and both CRLs. */
export async function mintIntelPki(opts: FakeIntelPkiOptions): Promise<FakeIntelPki> {
  const at = opts.at.getTime();
  const certDefault = (role: CertRole): { notBefore: Date; notAfter: Date } => {
    const w = opts.validity?.[role];
    return {
      notBefore: wholeSeconds(w?.notBefore ?? new Date(Math.floor((at - 730 * DAY) / 1000) * 1000), `${role} notBefore`),
      notAfter: wholeSeconds(w?.notAfter ?? new Date(Math.floor((at + 730 * DAY) / 1000) * 1000), `${role} notAfter`),
    };
  };
  const parentRoot = opts.sameRootAs?.root;
  const names: Record<CertRole, X509.Name> = {
    root: toName(parentRoot?.subject ?? opts.names?.root ?? DEFAULT_NAMES.root),
    pckCa: toName(opts.names?.pckCa ?? DEFAULT_NAMES.pckCa),
    pck: toName(opts.names?.pck ?? DEFAULT_NAMES.pck),
    tcbSigning: toName(opts.names?.tcbSigning ?? DEFAULT_NAMES.tcbSigning),
  };
  const keys: Record<CertRole, KeyPair> = {
    root: parentRoot === undefined ? await newKeyPair() : { web: parentRoot.keys, privateKey: parentRoot.privateKey },
    pckCa: await newKeyPair(),
    pck: await newKeyPair(),
    tcbSigning: await newKeyPair(),
  };
  const extra = (role: CertRole): X509.Extension[] =>
    opts.unknownCriticalExtension?.includes(role) === true ? [new x509.Extension(UNKNOWN_CRITICAL_OID, true, Uint8Array.from([0x05, 0x00]))] : [];
  const pathLen = (v: number | null | undefined, dflt: number): number | undefined => (v === null ? undefined : (v ?? dflt));

  const make = async (role: CertRole, issuer: CertRole, extensions: X509.Extension[]): Promise<FakeCert> => {
    const { notBefore, notAfter } = certDefault(role);
    const serial = opts.serials?.[role] ?? randomSerial();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject: names[role],
      issuer: names[issuer],
      notBefore,
      notAfter,
      publicKey: keys[role].web.publicKey,
      signingKey: keys[issuer].web.privateKey,
      signingAlgorithm: ECDSA_SHA256,
      extensions: [...extensions, ...extra(role)],
    });
    const der = new Uint8Array(cert.rawData);
    return { role, der, pem: pemOf(der), serial, subject: new Uint8Array(names[role].toArrayBuffer()), privateKey: keys[role].privateKey, keys: keys[role].web, notBefore, notAfter };
  };

  const root = parentRoot ?? await make('root', 'root', [
    new x509.BasicConstraintsExtension(true, pathLen(opts.rootPathLen, 1), true),
    new x509.KeyUsagesExtension(CA_USAGE, true),
  ]);
  const pckCa = await make('pckCa', 'root', [
    new x509.BasicConstraintsExtension(opts.pckCaIsCa ?? true, pathLen(opts.pckCaPathLen, 0), true),
    new x509.KeyUsagesExtension(opts.pckCaKeyUsage ?? CA_USAGE, true),
  ]);
  const pck = await make('pck', 'pckCa', [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(LEAF_USAGE, true),
    new x509.Extension(SGX_EXTENSION_OID, false, Uint8Array.from(opts.sgxExtension)),
  ]);
  const tcbSigning = await make('tcbSigning', 'root', [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(LEAF_USAGE, true),
  ]);

  const crl = async (issuer: 'root' | 'pckCa', o: CrlOptions | undefined): Promise<Uint8Array> => {
    const other = issuer === 'root' ? 'pckCa' : 'root';
    const name = o?.fault === 'wrong-issuer' ? names[other] : names[issuer];
    const key = o?.fault === 'wrong-issuer' ? keys[other] : o?.fault === 'wrong-key' ? await newKeyPair() : keys[issuer];
    const thisUpdate = wholeSeconds(o?.thisUpdate ?? new Date(Math.floor((at - 30 * DAY) / 1000) * 1000), `${issuer} CRL thisUpdate`);
    const next = o?.nextUpdate === undefined ? new Date(Math.floor((at + 30 * DAY) / 1000) * 1000) : o.nextUpdate;
    const c = await x509.X509CrlGenerator.create({
      issuer: name,
      thisUpdate,
      ...(next === null ? {} : { nextUpdate: wholeSeconds(next, `${issuer} CRL nextUpdate`) }),
      signingKey: key.web.privateKey,
      signingAlgorithm: ECDSA_SHA256,
      entries: (o?.revoked ?? []).map((serialNumber) => ({ serialNumber, revocationDate: thisUpdate })),
    });
    return new Uint8Array(c.rawData);
  };

  return {
    root,
    pckCa,
    pck,
    tcbSigning,
    rootCrlDer: await crl('root', opts.rootCrl),
    pckCrlDer: await crl('pckCa', opts.pckCrl),
    pckChainPem: pck.pem + pckCa.pem + root.pem,
    tcbChainPem: tcbSigning.pem + root.pem,
    pckCrlChainPem: pckCa.pem + root.pem,
  };
}

function u16(n: number): Uint8Array {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}
function u32(n: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function concat(...parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** Raw X||Y (64 bytes) of a P-256 public key. */
export function rawP256(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.x === undefined || jwk.y === undefined) throw new Error('not an EC key');
  return concat(Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url'));
}

export function signRaw(data: Uint8Array, key: KeyObject): Uint8Array {
  return new Uint8Array(sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }));
}

export interface ReSignQuoteOptions {
  /** Private P-256 attestation key; default a new one. */
  readonly attestationKey?: KeyObject;
  /** PCK chain text to embed instead of pki.pckChainPem (a NUL is appended, as in real quotes). */
  readonly pckChainPem?: string;
  /** Bytes after the declared end; default the real quote's own trailing bytes. */
  readonly trailing?: Uint8Array;
}

const QE_REPORT_DATA_OFFSET = 320;

/**
 * Re-encode a real quote with the fake PKI: same header and body (the signed region is kept byte
 * for byte), a new attestation key, QE REPORTDATA = SHA-256(attestation key || QE auth data) || 0^32,
 * the QE report signed by the fake PCK key and the quote signed by the new attestation key.
 */
export function reSignQuote(realQuote: Uint8Array, pki: FakeIntelPki, opts: ReSignQuoteOptions = {}): Uint8Array {
  const q = parseQuote(realQuote);
  const attPriv = opts.attestationKey ?? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  const attPub = rawP256(attPriv);
  const qeReport = q.qeReport.raw.slice();
  const digest = createHash('sha256').update(attPub).update(q.qeAuthData).digest();
  qeReport.set(digest, QE_REPORT_DATA_OFFSET);
  qeReport.fill(0, QE_REPORT_DATA_OFFSET + 32, QE_REPORT_DATA_OFFSET + 64);
  const qeSig = signRaw(qeReport, pki.pck.privateKey);
  const pck = new Uint8Array(Buffer.from(`${opts.pckChainPem ?? pki.pckChainPem}\0`, 'latin1'));
  const inner = concat(qeReport, qeSig, u16(q.qeAuthData.length), q.qeAuthData, u16(5), u32(pck.length), pck);
  const certData = q.header.version === 3 ? inner : concat(u16(6), u32(inner.length), inner);
  const signature = signRaw(q.signedRegion, attPriv);
  const sigData = concat(signature, attPub, certData);
  const trailing = opts.trailing ?? realQuote.subarray(q.declaredEnd);
  return concat(q.signedRegion, u32(sigData.length), sigData, trailing);
}

export interface DocumentDates {
  readonly issueDate?: Date;
  readonly nextUpdate?: Date;
}

export interface ReSignCollateralOptions {
  readonly tcbInfo?: DocumentDates;
  readonly qeIdentity?: DocumentDates;
  /** Key that signs TCB info and QE identity; default the fake TCB signing key. */
  readonly signer?: KeyObject;
}

/** ISO 8601 as Intel writes it (no fraction when there is none). */
export function intelDate(d: Date): string {
  return d.toISOString().replace(/\.000Z$/, 'Z');
}

function replaceMember(text: string, member: string, value: string): string {
  const re = new RegExp(`"${member}"\\s*:\\s*"[^"]*"`, 'g');
  const n = text.match(re)?.length ?? 0;
  if (n !== 1) throw new Error(`expected exactly one "${member}" member, found ${n}`);
  return text.replace(re, `"${member}":"${value}"`);
}

function withDates(text: string, d: DocumentDates | undefined): string {
  let t = text;
  if (d?.issueDate !== undefined) t = replaceMember(t, 'issueDate', intelDate(d.issueDate));
  if (d?.nextUpdate !== undefined) t = replaceMember(t, 'nextUpdate', intelDate(d.nextUpdate));
  return t;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The real collateral's documents (dates optionally replaced), re-signed and re-chained under the fake PKI. */
export function reSignCollateral(real: DcapCollateral, pki: FakeIntelPki, opts: ReSignCollateralOptions = {}): DcapCollateral {
  const signer = opts.signer ?? pki.tcbSigning.privateKey;
  const tcbInfo = withDates(real.tcb_info, opts.tcbInfo);
  const qeIdentity = withDates(real.qe_identity, opts.qeIdentity);
  return {
    pck_crl_issuer_chain: pki.pckCrlChainPem,
    root_ca_crl: hex(pki.rootCrlDer),
    pck_crl: hex(pki.pckCrlDer),
    tcb_info_issuer_chain: pki.tcbChainPem,
    tcb_info: tcbInfo,
    tcb_info_signature: hex(signRaw(new TextEncoder().encode(tcbInfo), signer)),
    qe_identity_issuer_chain: pki.tcbChainPem,
    qe_identity: qeIdentity,
    qe_identity_signature: hex(signRaw(new TextEncoder().encode(qeIdentity), signer)),
  };
}
