/**
 * The crypto floor of a cold client verification (bench/client.ts), for each simulated TEE: the
 * signature verifications and certificate parses a cold verifyAnswer of that record performs, done
 * with bare node:crypto (each verification with its key import, as bench/intel.ts and
 * bench/snp-nitro.ts time theirs). Those benchmarks are scripts with no exports, so the few lines
 * of their floor logic used here are duplicated below, each naming its source.
 *
 * countVerifications() records the signature verifications a call really performs (node:crypto
 * verify, WebCrypto verify), so that bench/client.ts can check a floor against one instrumented
 * cold verification before timing it.
 */
import nodeCrypto, { X509Certificate, constants, createPublicKey, generateKeyPairSync, sign as nodeSign, webcrypto, type KeyObject } from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { decodeProtectedHeader } from 'jose';
import { parseQuote } from '../attestation/intel/parse.ts';
import { parseNitroDocument } from '../attestation/nitro/parse.ts';
import type { AttestationRecord } from '../src/client/index.ts';

/** One kind of signature verification. */
export type Op =
  | { readonly alg: 'ecdsa'; readonly curve: 'P-256' | 'P-384'; readonly hash: 'SHA-256' | 'SHA-384' }
  | { readonly alg: 'rsa-pss'; readonly bits: number; readonly hash: 'SHA-384' }
  | { readonly alg: 'ed25519' };

export const P256: Op = { alg: 'ecdsa', curve: 'P-256', hash: 'SHA-256' };
export const P384: Op = { alg: 'ecdsa', curve: 'P-384', hash: 'SHA-384' };

export function opLabel(op: Op): string {
  switch (op.alg) {
    case 'ecdsa':
      return `ECDSA ${op.curve}/${op.hash}`;
    case 'rsa-pss':
      return `RSA-${op.bits}-PSS/${op.hash}`;
    case 'ed25519':
      return 'Ed25519';
  }
}

/** `count` verifications of one kind, over `bytes` bytes of data each. */
export interface OpGroup {
  readonly what: string;
  readonly op: Op;
  readonly count: number;
  readonly bytes: number;
}

export interface Floor {
  readonly groups: readonly OpGroup[];
  /** Certificates parsed (PEM or DER). */
  readonly certs: readonly (string | Uint8Array)[];
  /** Where the counting rule comes from. */
  readonly source: string;
}

const pemBlocks = (text: string): string[] => [...text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => m[0]);
const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

/**
 * Intel DCAP (sgx, tdx), as bench/intel.ts counts it: P-256 verifications = PCK leaf + PCK CA (2),
 * TCB signing cert (1, and 1 more if the QE identity chain differs), TCB info + QE identity (2),
 * two CRLs (2), QE report (1), quote (1); certificates parsed = the quote's PCK chain + the issuer
 * chain(s). Data 1024 bytes, as there.
 */
function dcapFloor(r: AttestationRecord): Floor {
  const bundle = r.collateral.map((c) => JSON.parse(Buffer.from(c.data, 'base64').toString('utf8')) as Record<string, unknown>).find((j) => typeof j['tcb_info_issuer_chain'] === 'string');
  if (bundle === undefined) throw new Error(`${r.tee} record has no DCAP collateral bundle`);
  const chain = (k: string): string => {
    const v = bundle[k];
    return typeof v === 'string' ? v : '';
  };
  const sameChain = chain('qe_identity_issuer_chain') === chain('tcb_info_issuer_chain');
  const certs = [...pemBlocks(parseQuote(b64(r.evidence)).pckChainPem), ...pemBlocks(chain('tcb_info_issuer_chain')), ...(sameChain ? [] : pemBlocks(chain('qe_identity_issuer_chain')))];
  return { groups: [{ what: 'DCAP quote + collateral', op: P256, count: 9 + (sameChain ? 0 : 1), bytes: 1024 }], certs, source: 'bench/intel.ts' };
}

function rsaBits(cert: X509Certificate): number {
  const bits = cert.publicKey.asymmetricKeyDetails?.modulusLength;
  if (bits === undefined) throw new Error(`certificate "${cert.subject}" has no RSA key`);
  return bits;
}

/**
 * AMD SEV-SNP. bench/snp-nitro.ts's floor is 1 ECDSA P-384/SHA-384 (the report) + 3 RSA-4096-PSS
 * SHA-384 (salt 48) + the parses of VEK + cert_chain, over 1184 bytes. Two adjustments make it
 * exact for this evidence: a cold verifySevSnp verifies two certificate signatures (ASK by ARK,
 * VEK by ASK; the ARK is trusted by its DER, not its self-signature, and there is no CRL here),
 * and the simulated ARK/ASK are RSA-2048 (enclave/sim/x509-amd-nitro.ts SIM_RSA_BITS), so the
 * sizes are read from the certificates themselves. countVerifications() confirms the count.
 */
function snpFloor(r: AttestationRecord): Floor {
  let vek: X509Certificate | undefined;
  let chainPems: string[] = [];
  for (const c of r.collateral) {
    const bytes = b64(c.data);
    const text = Buffer.from(bytes).toString('latin1');
    if (text.includes('-----BEGIN CERTIFICATE-----')) chainPems = pemBlocks(text);
    else vek = new X509Certificate(bytes);
  }
  const [askPem, arkPem] = chainPems;
  if (vek === undefined || askPem === undefined || arkPem === undefined) throw new Error('sev-snp record lacks the VEK or the ASK/ARK cert_chain');
  const curve = vek.publicKey.asymmetricKeyDetails?.namedCurve;
  if (curve !== 'secp384r1') throw new Error(`the VEK key is ${String(curve)}, not P-384`);
  const ask = new X509Certificate(askPem);
  const ark = new X509Certificate(arkPem);
  const groups: OpGroup[] = [
    { what: 'SNP report', op: P384, count: 1, bytes: 1184 },
    { what: 'ASK by ARK', op: { alg: 'rsa-pss', bits: rsaBits(ark), hash: 'SHA-384' }, count: 1, bytes: 1184 },
    { what: 'VEK by ASK', op: { alg: 'rsa-pss', bits: rsaBits(ask), hash: 'SHA-384' }, count: 1, bytes: 1184 },
  ];
  return { groups, certs: [vek.toString(), ...chainPems], source: 'bench/snp-nitro.ts (RSA count and size from this chain)' };
}

/**
 * AWS Nitro, as bench/snp-nitro.ts counts it: 1 COSE P-384 + one P-384 per cabundle entry, and
 * the parses of leaf + cabundle, over 1184 bytes.
 */
function nitroFloor(r: AttestationRecord): Floor {
  const { payload } = parseNitroDocument(b64(r.evidence));
  return {
    groups: [
      { what: 'COSE_Sign1', op: P384, count: 1, bytes: 1184 },
      { what: 'certificate chain', op: P384, count: payload.cabundle.length, bytes: 1184 },
    ],
    certs: [payload.certificate, ...payload.cabundle],
    source: 'bench/snp-nitro.ts',
  };
}

function jwsOp(alg: unknown, what: string): Op {
  if (alg === 'ES256') return P256;
  if (alg === 'EdDSA') return { alg: 'ed25519' };
  throw new Error(`${what} alg ${String(alg)} is neither ES256 nor EdDSA`);
}

/**
 * The crypto of a cold verifyAnswer of `answer` under record `r`: the evidence's floor plus the
 * EAR, receipt and countersignature JWS verifications (data 1024 bytes, as bench/client.ts had).
 */
export function coldFloor(r: AttestationRecord, countersignature: string): Floor {
  const evidence = r.tee === 'sgx' || r.tee === 'tdx' ? dcapFloor(r) : r.tee === 'sev-snp' ? snpFloor(r) : nitroFloor(r);
  const jws: OpGroup[] = [
    { what: 'EAR', op: jwsOp(decodeProtectedHeader(r.ear).alg, 'EAR'), count: 1, bytes: 1024 },
    { what: 'receipt', op: P256, count: 1, bytes: 1024 },
    { what: 'countersignature', op: jwsOp(decodeProtectedHeader(countersignature).alg, 'countersignature'), count: 1, bytes: 1024 },
  ];
  return { ...evidence, groups: [...evidence.groups, ...jws] };
}

/** The floor's verifications as sorted labels (to compare with countVerifications()). */
export function floorLabels(f: Floor): string[] {
  return f.groups.flatMap((g) => Array.from({ length: g.count }, () => opLabel(g.op))).sort();
}

/** "9 ECDSA P-256/SHA-256 (DCAP quote + collateral) + ... + 5 X.509 parse". */
export function describeFloor(f: Floor): string {
  return [...f.groups.filter((g) => g.count > 0).map((g) => `${g.count} ${opLabel(g.op)} (${g.what})`), `${f.certs.length} X.509 parse`].join(' + ');
}

interface Material {
  readonly spki: Buffer;
  readonly data: Uint8Array;
  readonly sig: Buffer;
  readonly verify: (key: KeyObject) => boolean;
}

function material(op: Op, bytes: number): Material {
  const data = new Uint8Array(bytes);
  switch (op.alg) {
    case 'ecdsa': {
      const hash = op.hash === 'SHA-256' ? 'sha256' : 'sha384';
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: op.curve === 'P-256' ? 'prime256v1' : 'secp384r1' });
      const sig = nodeSign(hash, data, privateKey);
      return { spki: createPublicKey(privateKey).export({ type: 'spki', format: 'der' }), data, sig, verify: (key) => nodeCrypto.verify(hash, data, key, sig) };
    }
    case 'rsa-pss': {
      const pss = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 };
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: op.bits });
      const sig = nodeSign('sha384', data, { key: privateKey, ...pss });
      return { spki: createPublicKey(privateKey).export({ type: 'spki', format: 'der' }), data, sig, verify: (key) => nodeCrypto.verify('sha384', data, { key, ...pss }, sig) };
    }
    case 'ed25519': {
      const { privateKey } = generateKeyPairSync('ed25519');
      const sig = nodeSign(null, data, privateKey);
      return { spki: createPublicKey(privateKey).export({ type: 'spki', format: 'der' }), data, sig, verify: (key) => nodeCrypto.verify(null, data, key, sig) };
    }
  }
}

/** One run of the floor: every certificate parsed, every verification with its key import; throws unless all verify. */
export function floorRun(f: Floor): () => void {
  const steps = f.groups.map((g) => ({ m: material(g.op, g.bytes), count: g.count }));
  return () => {
    for (const c of f.certs) new X509Certificate(c);
    for (const { m, count } of steps) {
      for (let i = 0; i < count; i++) {
        if (!m.verify(createPublicKey({ key: m.spki, format: 'der', type: 'spki' }))) throw new Error('floor signature did not verify');
      }
    }
  };
}

const hashName = (h: string | null | undefined): string => (h ?? '').toUpperCase().replace(/^SHA-?/, 'SHA-');
const CURVES: Readonly<Record<string, string>> = { prime256v1: 'P-256', secp384r1: 'P-384' };

function nodeLabel(algorithm: string | null | undefined, key: Parameters<typeof nodeCrypto.verify>[2]): string {
  const k = key instanceof nodeCrypto.KeyObject ? key : typeof key === 'object' && 'key' in key && key.key instanceof nodeCrypto.KeyObject ? key.key : undefined;
  const padding = typeof key === 'object' && 'padding' in key ? key.padding : undefined;
  const type = k?.asymmetricKeyType;
  const details = k?.asymmetricKeyDetails;
  if (type === 'ec') return `ECDSA ${CURVES[details?.namedCurve ?? ''] ?? String(details?.namedCurve)}/${hashName(algorithm)}`;
  if ((type === 'rsa' || type === 'rsa-pss') && padding === constants.RSA_PKCS1_PSS_PADDING) return `RSA-${details?.modulusLength ?? 0}-PSS/${hashName(algorithm)}`;
  if (type === 'ed25519') return 'Ed25519';
  return `node:crypto verify ${String(algorithm)} ${String(type)} (padding ${String(padding)})`;
}

function subtleLabel(algorithm: Parameters<webcrypto.SubtleCrypto['verify']>[0], key: webcrypto.CryptoKey): string {
  const name = typeof algorithm === 'string' ? algorithm : algorithm.name;
  if (name === 'ECDSA' && typeof algorithm === 'object' && 'hash' in algorithm) {
    const hash = hashName(typeof algorithm.hash === 'string' ? algorithm.hash : algorithm.hash.name);
    return `ECDSA ${(key.algorithm as webcrypto.EcKeyAlgorithm).namedCurve}/${hash}`;
  }
  if (name === 'Ed25519') return 'Ed25519';
  return `WebCrypto verify ${name} ${key.algorithm.name}`;
}

/**
 * The signature verifications `fn` performs (node:crypto and WebCrypto), as sorted labels. Patches
 * node:crypto's verify (and its ESM named export) and crypto.subtle.verify for the duration of the
 * call only; nothing else may run meanwhile.
 */
export async function countVerifications(fn: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const target = nodeCrypto as { verify: unknown };
  const nodeVerify = nodeCrypto.verify;
  const subtle = webcrypto.subtle;
  const own = Object.getOwnPropertyDescriptor(subtle, 'verify');
  const subtleVerify = subtle.verify.bind(subtle);
  target.verify = (algorithm: string | null | undefined, data: NodeJS.ArrayBufferView, key: Parameters<typeof nodeCrypto.verify>[2], signature: NodeJS.ArrayBufferView): boolean => {
    seen.push(nodeLabel(algorithm, key));
    return nodeVerify(algorithm, data, key, signature);
  };
  syncBuiltinESMExports();
  subtle.verify = (algorithm, key, signature, data) => {
    seen.push(subtleLabel(algorithm, key));
    return subtleVerify(algorithm, key, signature, data);
  };
  try {
    await fn();
  } finally {
    target.verify = nodeVerify;
    syncBuiltinESMExports();
    if (own === undefined) Reflect.deleteProperty(subtle, 'verify');
    else Object.defineProperty(subtle, 'verify', own);
  }
  return seen.sort();
}
