/**
 * The simulated Intel PKI, shaped like Intel's so that every check of attestation/intel runs:
 *
 *   Root CA (self-signed, pathLen 1) -> PCK Processor CA (pathLen 0) -> PCK certificate (per process)
 *                                    -> TCB Signing certificate
 *   Root CA CRL (signed by the root), PCK CRL (signed by the PCK CA), both issued fresh per quote
 *
 * The three long-lived certificates and their keys are generated on first use and kept under
 * `<dataDir>/sim-pki/intel/` (enclave/sim/store.ts), so the gateway process (which only needs the
 * root, as the trust anchor the operator names) and the enclave process agree on one root. The PCK
 * certificate is minted per process from the stored PCK CA: its SGX extension is always encoded
 * from the current platform constants (intel-platform.ts), so a PKI stored by an older build can
 * never carry a TCB that disagrees with the TCB info issued next to it.
 *
 * Every subject carries SIMULATED_ROOT_MARK in O=, so a verifier marks anything chaining to this
 * root as simulated, and the names never claim to be Intel's (the common names say "(simulated)").
 * The one exception is the TCB signing certificate, whose CN must be exactly Intel's: the verifier
 * accepts TCB info and QE identity only from a certificate named "Intel SGX TCB Signing".
 */
import { KeyObject, X509Certificate, createPrivateKey, createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';
import { SIMULATED_ROOT_MARK } from '../../attestation/roots/index.ts';
import { loadOrCreatePki, simPkiDir } from './store.ts';
import { x509 } from './x509.ts';
import { CPU_SVN, FMSPC, PCE_ID, PCE_SVN, SGX_TYPE } from './intel-platform.ts';

export const PKI_NAME = 'intel';
export const PKI_FILES = ['root.pem', 'root.key.pem', 'pck-ca.pem', 'pck-ca.key.pem', 'tcb-signing.pem', 'tcb-signing.key.pem'] as const;

const DAY = 86_400_000;
/** Certificates are valid from one day before creation (clock skew between processes) for five years. */
const BACKDATE = DAY;
const LIFETIME = 5 * 365 * DAY;

const SUFFIX = `O=${SIMULATED_ROOT_MARK}, C=US`;
export const NAMES = {
  root: `CN=Intel SGX Root CA (simulated), ${SUFFIX}`,
  pckCa: `CN=Intel SGX PCK Processor CA (simulated), ${SUFFIX}`,
  pck: `CN=Intel SGX PCK Certificate (simulated), ${SUFFIX}`,
  tcbSigning: `CN=Intel SGX TCB Signing, ${SUFFIX}`,
} as const;

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;
const CA_USAGE = (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign) as X509.KeyUsageFlags;
const LEAF_USAGE = (x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation) as X509.KeyUsageFlags;

/** A certificate with its private key, in both forms: node:crypto for raw r||s, WebCrypto for @peculiar/x509. */
export interface Signer {
  readonly pem: string;
  readonly certificate: X509.X509Certificate;
  readonly key: KeyObject;
  readonly cryptoKey: webcrypto.CryptoKey;
}

export interface IntelPki {
  readonly root: Signer;
  readonly pckCa: Signer;
  readonly tcbSigning: Signer;
}

/** The PKI plus this process's PCK certificate: what the quote and the collateral are built from. */
export interface IntelPlatformKeys extends IntelPki {
  readonly pck: Signer;
  /** PCK leaf, PCK CA, root: the certification data (type 5) of every quote. */
  readonly pckChainPem: string;
  /** TCB signing certificate, root: the issuer chain of TCB info and QE identity. */
  readonly tcbChainPem: string;
  /** PCK CA, root: the issuer chain of the PCK CRL. */
  readonly pckCrlChainPem: string;
}

// ---------------------------------------------------------------------------------------------
// Keys and certificates

async function newKey(): Promise<{ key: KeyObject; cryptoKey: webcrypto.CryptoKey; publicKey: webcrypto.CryptoKey }> {
  const pair = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  return { key: KeyObject.from(pair.privateKey), cryptoKey: pair.privateKey, publicKey: pair.publicKey };
}

async function cryptoKeyOf(key: KeyObject): Promise<webcrypto.CryptoKey> {
  return webcrypto.subtle.importKey('pkcs8', key.export({ type: 'pkcs8', format: 'der' }), EC_P256, false, ['sign']);
}

function keyPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** A positive 16-byte serial (first byte 0x10..0x6f: no sign bit, no leading zero to strip). */
function serial(): string {
  const b = randomBytes(16);
  b[0] = 0x10 + ((b[0] ?? 0) % 0x60);
  return b.toString('hex');
}

/** X.509 times have one-second resolution; round so that what we mean is what gets encoded. */
function wholeSecond(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

interface CertSpec {
  readonly subject: string;
  readonly issuer: X509.Name;
  readonly publicKey: webcrypto.CryptoKey;
  readonly signingKey: webcrypto.CryptoKey;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: X509.Extension[];
}

async function mint(spec: CertSpec): Promise<X509.X509Certificate> {
  return x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: spec.subject,
    issuer: spec.issuer,
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
    publicKey: spec.publicKey,
    signingKey: spec.signingKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: spec.extensions,
  });
}

/** The subject of a certificate byte for byte, so issuer names in children and CRLs match it exactly. */
function subjectOf(cert: X509.X509Certificate): X509.Name {
  return new x509.Name(cert.subjectName.toArrayBuffer());
}

async function createPki(): Promise<Record<(typeof PKI_FILES)[number], string>> {
  const created = Date.now();
  const notBefore = wholeSecond(created - BACKDATE);
  const notAfter = wholeSecond(created + LIFETIME);
  const [root, pckCa, tcb] = await Promise.all([newKey(), newKey(), newKey()]);
  const rootCert = await mint({
    subject: NAMES.root,
    issuer: new x509.Name(NAMES.root),
    publicKey: root.publicKey,
    signingKey: root.cryptoKey,
    notBefore,
    notAfter,
    extensions: [new x509.BasicConstraintsExtension(true, 1, true), new x509.KeyUsagesExtension(CA_USAGE, true)],
  });
  const [pckCaCert, tcbCert] = await Promise.all([
    mint({
      subject: NAMES.pckCa,
      issuer: subjectOf(rootCert),
      publicKey: pckCa.publicKey,
      signingKey: root.cryptoKey,
      notBefore,
      notAfter,
      extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(CA_USAGE, true)],
    }),
    mint({
      subject: NAMES.tcbSigning,
      issuer: subjectOf(rootCert),
      publicKey: tcb.publicKey,
      signingKey: root.cryptoKey,
      notBefore,
      notAfter,
      extensions: [new x509.BasicConstraintsExtension(false, undefined, true), new x509.KeyUsagesExtension(LEAF_USAGE, true)],
    }),
  ]);
  return {
    'root.pem': rootCert.toString('pem') + '\n',
    'root.key.pem': keyPem(root.key),
    'pck-ca.pem': pckCaCert.toString('pem') + '\n',
    'pck-ca.key.pem': keyPem(pckCa.key),
    'tcb-signing.pem': tcbCert.toString('pem') + '\n',
    'tcb-signing.key.pem': keyPem(tcb.key),
  };
}

function file(files: Readonly<Record<string, string>>, name: (typeof PKI_FILES)[number]): string {
  const text = files[name];
  // loadOrCreatePki returns every requested file or throws; this only satisfies the type checker.
  if (text === undefined) throw new Error(`simulated Intel PKI: ${name} missing`);
  return text;
}

function inconsistent(dir: string, what: string, cause?: unknown): Error {
  return new Error(`simulated Intel PKI in ${dir} is unusable (${what}); remove the directory to generate a new one`, cause === undefined ? undefined : { cause });
}

async function signerOf(dir: string, files: Readonly<Record<string, string>>, certName: (typeof PKI_FILES)[number], keyName: (typeof PKI_FILES)[number]): Promise<Signer> {
  const pem = file(files, certName);
  let certificate: X509.X509Certificate;
  let key: KeyObject;
  let matches: boolean;
  try {
    certificate = new x509.X509Certificate(pem);
    key = createPrivateKey(file(files, keyName));
    const certSpki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
    matches = certSpki.equals(createPublicKey(key).export({ type: 'spki', format: 'der' }));
  } catch (e: unknown) {
    throw inconsistent(dir, `cannot read ${certName} or ${keyName}`, e);
  }
  // A key that does not belong to its certificate would sign evidence that no verifier accepts,
  // far from the cause; refuse it here, where the message can name the directory.
  if (!matches) throw inconsistent(dir, `${keyName} does not belong to ${certName}`);
  return { pem, certificate, key, cryptoKey: await cryptoKeyOf(key) };
}

async function loadPkiFiles(dataDir: string): Promise<Readonly<Record<string, string>>> {
  return loadOrCreatePki(dataDir, PKI_NAME, PKI_FILES, createPki);
}

/** PEM of the simulated Intel root, creating the PKI on first use. */
export async function loadRootPem(dataDir: string): Promise<string> {
  return file(await loadPkiFiles(dataDir), 'root.pem');
}

/** Load (or create) the stored PKI and check that it hangs together. */
export async function loadIntelPki(dataDir: string): Promise<IntelPki> {
  const files = await loadPkiFiles(dataDir);
  const dir = simPkiDir(dataDir, PKI_NAME);
  const [root, pckCa, tcbSigning] = await Promise.all([
    signerOf(dir, files, 'root.pem', 'root.key.pem'),
    signerOf(dir, files, 'pck-ca.pem', 'pck-ca.key.pem'),
    signerOf(dir, files, 'tcb-signing.pem', 'tcb-signing.key.pem'),
  ]);
  if (!root.certificate.subject.includes(SIMULATED_ROOT_MARK)) throw inconsistent(dir, `root subject does not carry "${SIMULATED_ROOT_MARK}"`);
  for (const [name, s] of [['pck-ca.pem', pckCa], ['tcb-signing.pem', tcbSigning]] as const) {
    if (!(await s.certificate.verify({ publicKey: root.certificate.publicKey, signatureOnly: true }))) throw inconsistent(dir, `${name} is not signed by root.pem`);
  }
  return { root, pckCa, tcbSigning };
}

// ---------------------------------------------------------------------------------------------
// The PCK certificate and its SGX extension

/** Just enough DER to write the SGX extension (X.690, definite lengths). */
function tlv(tag: number, value: Uint8Array): Uint8Array {
  const n = value.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  if (n > 0xffff) throw new Error('DER element too long for the SGX extension encoder');
  const out = new Uint8Array(1 + len.length + n);
  out[0] = tag;
  out.set(len, 1);
  out.set(value, 1 + len.length);
  return out;
}

function seq(...items: readonly Uint8Array[]): Uint8Array {
  return tlv(0x30, Buffer.concat(items));
}

function oid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(Number);
  const [a = 0, b = 0, ...rest] = arcs;
  const out: number[] = [a * 40 + b];
  for (const arc of rest) {
    const groups: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
    out.push(...groups);
  }
  return tlv(0x06, Uint8Array.from(out));
}

/** A small non-negative INTEGER (or ENUMERATED): minimal big-endian, a 0x00 before a set top bit. */
function smallInt(tag: 0x02 | 0x0a, v: number): Uint8Array {
  const bytes: number[] = [];
  for (let x = v; x > 0; x = Math.floor(x / 256)) bytes.unshift(x & 0xff);
  if (bytes.length === 0 || ((bytes[0] ?? 0) & 0x80) !== 0) bytes.unshift(0);
  return tlv(tag, Uint8Array.from(bytes));
}

const octets = (b: Uint8Array): Uint8Array => tlv(0x04, b);

export const SGX_EXTENSION_OID = '1.2.840.113741.1.13.1';

/**
 * extnValue of the SGX extension ("Intel SGX PCK Certificate and CRL Profile" 1.4): PPID, TCB
 * (16 component SVNs, PCESVN, CPUSVN), PCE-ID, FMSPC, SGX Type, in that order, as a Processor CA
 * PCK certificate carries them (no PlatformInstanceID or Configuration).
 */
export function sgxExtensionValue(ppid: Uint8Array): Uint8Array {
  const id = (n: string): Uint8Array => oid(`${SGX_EXTENSION_OID}.${n}`);
  const components = Array.from(CPU_SVN, (svn, i) => seq(id(`2.${i + 1}`), smallInt(0x02, svn)));
  return seq(
    seq(id('1'), octets(ppid)),
    seq(id('2'), seq(...components, seq(id('2.17'), smallInt(0x02, PCE_SVN)), seq(id('2.18'), octets(CPU_SVN)))),
    seq(id('3'), octets(PCE_ID)),
    seq(id('4'), octets(FMSPC)),
    seq(id('5'), smallInt(0x0a, SGX_TYPE)),
  );
}

function pemWithNewline(cert: X509.X509Certificate): string {
  return cert.toString('pem') + '\n';
}

/**
 * Mint this process's PCK certificate under the stored PCK CA (valid from a day before now for five
 * years, never past the CA) and assemble the chains the quote and the collateral carry.
 */
export async function withPckCertificate(pki: IntelPki): Promise<IntelPlatformKeys> {
  const now = Date.now();
  const caNotAfter = pki.pckCa.certificate.notAfter.getTime();
  const pckKey = await newKey();
  const pckCert = await mint({
    subject: NAMES.pck,
    issuer: subjectOf(pki.pckCa.certificate),
    publicKey: pckKey.publicKey,
    signingKey: pki.pckCa.cryptoKey,
    notBefore: wholeSecond(now - BACKDATE),
    notAfter: wholeSecond(Math.min(now + LIFETIME, caNotAfter)),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(LEAF_USAGE, true),
      new x509.Extension(SGX_EXTENSION_OID, false, sgxExtensionValue(new Uint8Array(randomBytes(16)))),
    ],
  });
  const pck: Signer = { pem: pemWithNewline(pckCert), certificate: pckCert, key: pckKey.key, cryptoKey: pckKey.cryptoKey };
  return {
    ...pki,
    pck,
    pckChainPem: pck.pem + pki.pckCa.pem + pki.root.pem,
    tcbChainPem: pki.tcbSigning.pem + pki.root.pem,
    pckCrlChainPem: pki.pckCa.pem + pki.root.pem,
  };
}

// ---------------------------------------------------------------------------------------------
// CRLs

/**
 * A CRL of `issuer`, current from `thisUpdate` to `nextUpdate`, as DER: empty, or listing the
 * certificates with these serial numbers (hex) as revoked at `thisUpdate` (tests and audits of
 * revocation after the fact).
 */
export async function issueCrl(issuer: Signer, thisUpdate: Date, nextUpdate: Date, revokedSerials: readonly string[] = []): Promise<Uint8Array> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: subjectOf(issuer.certificate),
    thisUpdate,
    nextUpdate,
    signingKey: issuer.cryptoKey,
    signingAlgorithm: ECDSA_SHA256,
    entries: revokedSerials.map((serialNumber) => ({ serialNumber, revocationDate: thisUpdate })),
  });
  return new Uint8Array(crl.rawData);
}
