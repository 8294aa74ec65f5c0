/**
 * SEV-SNP report verification as a checklist. Cheap shape checks first, then the certificate
 * chain down to the product's pinned ARK, then the report signature, then the links between the
 * certificate and the report (TCB, chip, product), and only then what the guest policy says
 * (debug). Every failure is an AttestationError whose `reason` names the step (see REASONS).
 *
 * The attacker we have in mind controls every byte given to us (report, VEK, chain, CRL) but not
 * AMD's root keys: anything that does not chain to the pinned ARK of the report's product, or
 * does not match what the VEK certifies, is refused.
 */
import { equalBytes, isAllZero, latin1, toHex } from '../common/bytes.ts';
import { assertNotRevoked, verifyCrl, type CurrentCrl } from '../common/crl.ts';
import { sha256, verifySignature } from '../common/crypto.ts';
import { KU_KEY_CERT_SIGN, publicKeyOf, verifiedBy, type Certificate, type TrustAnchor } from '../common/x509.ts';
import { PolicyError, VerificationError } from '../errors.ts';
import { anchorInfo, isoTime, timeOf, type CollateralDigest, type EvidenceResult, type VerifyOptions } from '../result.ts';
import { AMD_ARKS } from '../roots/amd.ts';
import { parseAmdCertificate, parseAmdCrl, parseAmdPemCertificates, pemBlocks, pinnedAmdAnchor, toPem } from './cert.ts';
import { decodeTcb, snpClaims } from './claims.ts';
import {
  CHIP_ID_SIZE,
  PRODUCTS,
  TURIN_HWID_SIZE,
  productLine,
  productOfName,
  productOfProductName,
  roleOf,
  vekExtensions,
  type CertRole,
  type Product,
  type VekExtensions,
} from './kds.ts';
import {
  P384_SIZE,
  POLICY_BIT,
  SIG_ALGO_ECDSA_P384_SHA384,
  parseReport,
  policyBit,
  productOfCpuid,
  type SnpReport,
} from './parse.ts';

export interface SevSnpInput {
  /** The raw 1184-byte ATTESTATION_REPORT. */
  readonly report: Uint8Array;
  /** The VCEK or VLEK certificate, DER. */
  readonly vek?: Uint8Array;
  /** PEM text as served by KDS `cert_chain`: the ASK (or ASVK for a VLEK), then the ARK. */
  readonly certChain?: string;
  /** AMD's CRL for the product (DER), signed by the ARK; checked when given. */
  readonly crl?: Uint8Array;
  /** The product; needed for nothing but cross-checked when given (v2 reports carry no CPUID). */
  readonly product?: Product;
}

/**
 * Verified VEK chains, verified CRLs and recognised collateral files, reused across calls. Entries
 * are found by their exact content (for chains: the VEK's bytes, the cert_chain text, the product
 * and the trust anchors; for CRLs: the CRL's bytes and the ARK that signed it), so different input
 * is always verified afresh. What a hit saves is only what those bytes determine: parsing, the
 * three RSA verifications, the CRL's signature, the VEK's extensions and its imported key.
 * Certificate and CRL validity at `at`, revocation, and everything about the report itself (its
 * signature above all) are checked on every call.
 */
export interface SevSnpCache {
  readonly chains: ContentCache<ChainKey, VerifiedVek>;
  readonly crls: ContentCache<CrlKey, VerifiedCrl>;
  readonly files: ContentCache<Uint8Array, FileContent>;
  readonly maxEntries: number;
}

export function createSevSnpCache(maxEntries = 256): SevSnpCache {
  return {
    // Chains are bucketed by the VEK alone: it differs between chains, and the cert_chain text
    // (several KB, the same for a whole product) would only double the hashing.
    chains: new ContentCache(maxEntries, (k: ChainKey) => hashBytes(k.vek), sameChainKey),
    crls: new ContentCache(maxEntries, (k: CrlKey) => hashBytes(k.crl), (a: CrlKey, b: CrlKey) => sameBytes(a.crl, b.crl) && sameBytes(a.ark, b.ark)),
    files: new ContentCache(maxEntries, hashBytes, sameBytes),
    maxEntries,
  };
}

/**
 * FNV-1a style hash (32 bits, taken a little-endian word at a time) of the bytes, seeded with
 * their length. Only a bucket index: it is no proof of equality (ContentCache compares every
 * byte), so it need not resist collisions, only be cheap and depend on nothing but the content
 * (not the buffer's alignment): about a microsecond for a certificate, where the string key it
 * replaces took ~100.
 */
function hashBytes(b: Uint8Array): number {
  let h = (0x811c9dc5 ^ b.length) >>> 0;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const tail = b.length & ~3;
  for (let i = 0; i < tail; i += 4) h = Math.imul(h ^ v.getUint32(i, true), 0x01000193);
  for (let i = tail; i < b.length; i++) h = Math.imul(h ^ (b[i] as number), 0x01000193);
  return h >>> 0;
}

/** Byte equality for cache keys, a word at a time (nothing secret here: it may stop at the first difference). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  const va = new DataView(a.buffer, a.byteOffset, a.byteLength);
  const vb = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const tail = a.length & ~3;
  for (let i = 0; i < tail; i += 4) if (va.getUint32(i) !== vb.getUint32(i)) return false;
  for (let i = tail; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface CacheEntry<K, V> {
  readonly key: K;
  readonly value: V;
}

/**
 * A bounded map from content to a value, least recently used out first. A lookup hashes the key
 * to find a bucket and then compares the key in full with each stored key there, so a hash
 * collision (accidental or crafted) costs one comparison, never a wrong hit; at worst a lookup
 * compares against every entry, which the bound keeps finite. Stored keys must be the caller's
 * own copies: a buffer changed after insertion must not change what an entry means.
 */
export class ContentCache<K, V> {
  private readonly buckets = new Map<number, CacheEntry<K, V>[]>();
  private count = 0;

  constructor(
    readonly maxEntries: number,
    private readonly hash: (key: K) => number,
    private readonly same: (a: K, b: K) => boolean,
  ) {}

  get size(): number {
    return this.count;
  }

  get(key: K): V | undefined {
    const h = this.hash(key);
    const bucket = this.buckets.get(h);
    const at = bucket === undefined ? -1 : bucket.findIndex((e) => this.same(e.key, key));
    if (bucket === undefined || at < 0) return undefined;
    // Moved last, in its bucket and its bucket in the Map: eviction takes the first entry of the
    // first bucket, the least recently used (exactly so unless hashes collide).
    const hit = bucket[at] as CacheEntry<K, V>;
    bucket.splice(at, 1);
    bucket.push(hit);
    this.buckets.delete(h);
    this.buckets.set(h, bucket);
    return hit.value;
  }

  set(key: K, value: V): void {
    const h = this.hash(key);
    const old = this.buckets.get(h) ?? [];
    const bucket = old.filter((e) => !this.same(e.key, key));
    bucket.push({ key, value });
    this.count += bucket.length - old.length;
    this.buckets.delete(h);
    this.buckets.set(h, bucket);
    // A negative bound keeps nothing (and must not loop).
    while (this.count > Math.max(this.maxEntries, 0)) this.evictOldest();
  }

  private evictOldest(): void {
    const first = this.buckets.entries().next();
    /* v8 ignore next 4 -- count > 0 means some bucket holds an entry; this only keeps the loop finite */
    if (first.done === true) {
      this.count = 0;
      return;
    }
    const [h, bucket] = first.value;
    bucket.shift();
    this.count--;
    if (bucket.length === 0) this.buckets.delete(h);
  }
}

/** A trust anchor as far as the chain's outcome depends on it: its DER and what the result reports. */
interface AnchorKey {
  readonly der: Uint8Array;
  readonly name: string;
  readonly sha256: string;
  readonly pinned: boolean;
  readonly simulated: boolean;
}

/** Everything steps 3-7 read: the same key always gives the same verified chain (or error). */
interface ChainKey {
  readonly vek: Uint8Array;
  readonly certChain: string;
  readonly product: Product | undefined;
  /** undefined: the pinned ARK of the product (itself a function of the product and the VEK). */
  readonly anchors: readonly AnchorKey[] | undefined;
}

function chainKeyOf(vek: Uint8Array, certChain: string, input: SevSnpInput, opts: VerifyOptions): ChainKey {
  const anchors = opts.trustAnchors?.map((a) => ({ der: a.certificate.der, name: a.name, sha256: a.sha256, pinned: a.pinned, simulated: a.simulated }));
  return { vek, certChain, product: input.product, anchors };
}

/** The key with its own copies of every buffer, for storing. */
function ownedChainKey(k: ChainKey): ChainKey {
  return { ...k, vek: k.vek.slice(), anchors: k.anchors?.map((a) => ({ ...a, der: a.der.slice() })) };
}

function sameAnchor(a: AnchorKey, b: AnchorKey): boolean {
  return a.name === b.name && a.sha256 === b.sha256 && a.pinned === b.pinned && a.simulated === b.simulated && sameBytes(a.der, b.der);
}

function sameChainKey(a: ChainKey, b: ChainKey): boolean {
  if (a.product !== b.product || a.certChain !== b.certChain || !sameBytes(a.vek, b.vek)) return false;
  if (a.anchors === undefined || b.anchors === undefined) return a.anchors === b.anchors;
  const bs = b.anchors;
  return a.anchors.length === bs.length && a.anchors.every((x, i) => sameAnchor(x, bs[i] as AnchorKey));
}

/** A CRL is verified against one ARK: its bytes and that ARK's DER decide everything but the date. */
interface CrlKey {
  readonly crl: Uint8Array;
  readonly ark: Uint8Array;
}

/** A CRL whose issuer, cRLSign and signature were checked against the ARK (not its dates). */
interface VerifiedCrl {
  readonly crl: CurrentCrl;
  readonly digest: CollateralDigest;
}

/** The VEK chain after steps 3-7: parsed, linked by name, anchored, signatures verified. */
interface VerifiedVek {
  readonly vek: Certificate;
  readonly ask: Certificate;
  readonly ark: Certificate;
  readonly vekRole: 'vcek' | 'vlek';
  readonly wantAsk: CertRole;
  readonly product: Product;
  readonly anchor: TrustAnchor;
  readonly exts: VekExtensions;
  readonly vekKey: Awaited<ReturnType<typeof publicKeyOf>>;
  readonly digests: readonly CollateralDigest[];
}

/**
 * The `reason` of every error this verifier raises of its own, by step. The fixture vocabulary
 * maps onto these (length, signature-algo, chain, ark-not-pinned, validity, signature,
 * tcb-mismatch, hwid-mismatch, product, debug).
 */
export const REASONS = {
  length: 'length',
  version: 'version',
  reserved: 'reserved',
  signatureAlgo: 'signature_algo',
  collateralMissing: 'collateral_missing',
  chain: 'chain',
  arkNotPinned: 'ark_not_pinned',
  validity: 'validity',
  signature: 'signature',
  signingKey: 'signing_key',
  product: 'product',
  tcbMismatch: 'tcb_mismatch',
  hwidMismatch: 'hwid_mismatch',
  policy: 'policy',
  debug: 'debug_enclave',
} as const;

const hex32 = (n: number): string => `0x${n.toString(16)}`;

function chainError(msg: string): VerificationError {
  return new VerificationError('ERR_CHAIN_UNTRUSTED', `SEV-SNP certificate chain: ${msg}`, { reason: REASONS.chain });
}

function mismatch(reason: string, msg: string): VerificationError {
  return new VerificationError('ERR_COLLATERAL_MISMATCH', msg, { reason });
}


function assertValid(cert: Certificate, at: number, role: string): void {
  if (!(cert.notBefore <= at && at <= cert.notAfter)) {
    throw new VerificationError(
      'ERR_CERT_NOT_VALID_AT_TIME',
      `SEV-SNP ${role} "${cert.subject.text}" is valid from ${isoTime(cert.notBefore)} to ${isoTime(cert.notAfter)}, not at ${isoTime(at)}`,
      { reason: REASONS.validity },
    );
  }
}

function assertIssuerCa(cert: Certificate, role: string): void {
  if (!cert.isCa || (cert.keyUsage !== undefined && (cert.keyUsage & KU_KEY_CERT_SIGN) === 0)) {
    throw chainError(`${role} "${cert.subject.text}" is not a CA allowed to sign certificates`);
  }
}

const roleName = (r: CertRole): string => r.toUpperCase();

/** Little-endian 72-byte r or s -> big-endian 48 bytes; the 24 bytes above bit 384 must be zero. */
function scalar(field: Uint8Array, name: string): Uint8Array {
  if (!isAllZero(field.subarray(P384_SIZE))) {
    // A P-384 scalar fits in 48 bytes; bytes set above it mean a forged or re-encoded signature.
    throw new VerificationError('ERR_SIGNATURE_INVALID', `SEV-SNP report: ${name} has non-zero bytes above its 48-byte P-384 scalar`, {
      reason: REASONS.signature,
    });
  }
  return field.slice(0, P384_SIZE).reverse();
}

function fmtTcb(p: { fmc?: number; bl: number; tee: number; snp: number; ucode: number }): string {
  return `${p.fmc === undefined ? '' : `fmc=${p.fmc} `}bl=${p.bl} tee=${p.tee} snp=${p.snp} ucode=${p.ucode}`;
}

/** Reported TCB == the SPLs the VEK certifies (a VEK is derived for exactly one TCB). */
function checkTcb(report: SnpReport, vek: VekExtensions, product: Product): void {
  const got = decodeTcb(report.reportedTcb, product);
  const want = {
    ...(product === 'turin' ? { fmc: vek.fmcSPL ?? -1 } : {}),
    bl: vek.blSPL,
    tee: vek.teeSPL,
    snp: vek.snpSPL,
    ucode: vek.ucodeSPL,
  };
  const same = got.bl === want.bl && got.tee === want.tee && got.snp === want.snp && got.ucode === want.ucode && got.fmc === want.fmc;
  if (!same) {
    throw mismatch(
      REASONS.tcbMismatch,
      `SEV-SNP report field REPORTED_TCB is 0x${report.reportedTcb.toString(16).padStart(16, '0')} (${fmtTcb(got)}), want the VEK's SPLs (${fmtTcb(want)})`,
    );
  }
}

/** CHIP_ID == the VCEK's hwID (Turin: the 8-byte hwID, then zeros). A zero CHIP_ID means MASK_CHIP_ID. */
function checkChipId(report: SnpReport, vek: VekExtensions, product: Product): 'checked' | 'masked' {
  if (isAllZero(report.chipId)) return 'masked';
  const hw = vek.hwID;
  const want = new Uint8Array(CHIP_ID_SIZE);
  const size = product === 'turin' ? TURIN_HWID_SIZE : CHIP_ID_SIZE;
  if (hw?.length === size) want.set(hw);
  if (hw?.length !== size || !equalBytes(report.chipId, want)) {
    throw mismatch(
      REASONS.hwidMismatch,
      `SEV-SNP report field CHIP_ID is ${toHex(report.chipId)}, want the VCEK hwID ${hw === null ? '(none)' : toHex(hw)}`,
    );
  }
  return 'checked';
}

async function digest(kind: string, der: Uint8Array, from: number, until: number): Promise<CollateralDigest> {
  return { kind, sha256: toHex(await sha256(der)), valid_from: isoTime(from), valid_until: isoTime(until) };
}

export interface SevSnpOptions extends VerifyOptions {
  /** Reuse verified VEK chains across calls (see createSevSnpCache). */
  readonly cache?: SevSnpCache;
}

/** Steps 3-7: the VEK chain, from the input's bytes to the trust anchor. */
async function verifyVekChain(input: SevSnpInput, opts: VerifyOptions, step: (name: string) => void): Promise<VerifiedVek> {
  // 3. Collateral present and parseable; certificate roles from content, chain in KDS order.
  const { vek: vekDer, certChain } = input;
  if (vekDer === undefined || certChain === undefined) {
    throw new VerificationError(
      'ERR_COLLATERAL_UNAVAILABLE',
      `SEV-SNP: ${input.vek === undefined ? 'the VCEK/VLEK certificate' : 'the ASK/ARK cert_chain'} is needed to verify the report`,
      { reason: REASONS.collateralMissing },
    );
  }
  const vek = parseAmdCertificate(vekDer, 'SEV-SNP VEK certificate');
  const vekRole = roleOf(vek);
  if (vekRole !== 'vcek' && vekRole !== 'vlek') throw chainError(`VEK certificate "${vek.subject.text}" is not a VCEK or VLEK`);
  const chain = parseAmdPemCertificates(certChain, 'SEV-SNP cert_chain');
  const [ask, ark] = chain;
  if (ask === undefined || ark === undefined || chain.length !== 2) {
    throw chainError(`cert_chain holds ${chain.length} certificate(s), want 2 (the ASK or ASVK, then the ARK)`);
  }
  const askRole = roleOf(ask);
  const wantAsk: CertRole = vekRole === 'vlek' ? 'asvk' : 'ask';
  if (askRole !== wantAsk) {
    throw chainError(`first certificate "${ask.subject.text}" is ${askRole === undefined ? 'not an AMD CA' : `an ${roleName(askRole)}`}, want the ${roleName(wantAsk)} that issues ${roleName(vekRole)}s`);
  }
  if (roleOf(ark) !== 'ark') throw chainError(`second certificate "${ark.subject.text}" is not a self-issued ARK`);
  step('collateral_format');

  // 4. Product: the caller's, else the VEK issuer's (`SEV-Milan`, `SEV-VLEK-Genoa`); never a guess.
  const issuerProduct = productOfName(vek.issuer.commonName);
  const product = input.product ?? issuerProduct;
  if (product === undefined) {
    throw new VerificationError('ERR_EVIDENCE_UNSUPPORTED', `SEV-SNP: cannot tell the product from VEK issuer "${vek.issuer.text}"; name it explicitly`, {
      reason: REASONS.product,
    });
  }
  if (issuerProduct !== product) {
    throw mismatch(REASONS.product, `SEV-SNP VEK issuer "${vek.issuer.text}" is not for product ${productLine(product)}`);
  }

  // 5. Chain structure: VEK <- ASK/ASVK <- ARK by exact issuer/subject names.
  if (!equalBytes(vek.issuer.der, ask.subject.der)) {
    throw chainError(`VEK issuer "${vek.issuer.text}" is not the cert_chain's ${roleName(wantAsk)} "${ask.subject.text}"`);
  }
  if (!equalBytes(ask.issuer.der, ark.subject.der)) {
    throw chainError(`${roleName(wantAsk)} issuer "${ask.issuer.text}" is not the cert_chain's ARK "${ark.subject.text}"`);
  }
  assertIssuerCa(ask, roleName(wantAsk));
  assertIssuerCa(ark, 'ARK');
  step('chain_structure');

  // 6. The ARK must be the pinned root of this product (or an anchor the caller named instead),
  //    compared by its whole DER: a self-made ARK with AMD's names is worth nothing.
  const anchors: readonly TrustAnchor[] = opts.trustAnchors ?? [await pinnedAmdAnchor(AMD_ARKS[product])];
  const anchor = anchors.find((a) => equalBytes(a.certificate.der, ark.der));
  if (anchor === undefined) {
    const arkSha = toHex(await sha256(ark.der));
    const other = PRODUCTS.find((p) => AMD_ARKS[p].sha256 === arkSha);
    throw new VerificationError(
      'ERR_CHAIN_UNTRUSTED',
      `SEV-SNP ARK "${ark.subject.text}" (SHA-256 ${arkSha}) is not ${opts.trustAnchors === undefined ? `the pinned ARK-${productLine(product)}` : 'a configured trust anchor'}${other === undefined ? '' : ` (it is the ${productLine(other)} ARK)`}`,
      { reason: REASONS.arkNotPinned },
    );
  }
  // An anchor the caller named is matched by DER among all of them, so its product must be checked
  // too: an ASK re-issued under another product's ARK must not carry this product's VEK.
  const arkProduct = productOfName(ark.subject.commonName);
  if (arkProduct !== product) {
    throw new VerificationError(
      'ERR_CHAIN_UNTRUSTED',
      `SEV-SNP ARK "${ark.subject.text}" is ${arkProduct === undefined ? 'not named for any product' : `the ${productLine(arkProduct)} ARK`}, want the ${productLine(product)} ARK`,
      { reason: REASONS.arkNotPinned },
    );
  }
  step('ark_pinned');

  // 7. Signatures down the chain (the ARK itself is trusted by its pinned DER, not its self-signature).
  if (!(await verifiedBy(ask, ark))) {
    throw new VerificationError('ERR_SIGNATURE_INVALID', `SEV-SNP ${roleName(wantAsk)} is not signed by the ARK`, { reason: REASONS.chain });
  }
  if (!(await verifiedBy(vek, ask))) {
    throw new VerificationError('ERR_SIGNATURE_INVALID', `SEV-SNP ${roleName(vekRole)} is not signed by the ${roleName(wantAsk)}`, { reason: REASONS.chain });
  }
  step('chain_signatures');

  const exts = vekExtensions(vek, `SEV-SNP ${roleName(vekRole)}`);
  const digests = [
    await digest(vekRole, vek.der, vek.notBefore, vek.notAfter),
    await digest(wantAsk, ask.der, ask.notBefore, ask.notAfter),
    await digest('ark', ark.der, ark.notBefore, ark.notAfter),
  ];
  return { vek, ask, ark, vekRole, wantAsk, product, anchor, exts, vekKey: await publicKeyOf(vek.spki), digests };
}


/** Steps 3-7, or their result for the same input from the cache (the steps are still reported). */
async function vekChain(input: SevSnpInput, opts: SevSnpOptions, step: (name: string) => void): Promise<VerifiedVek> {
  const { cache } = opts;
  if (cache === undefined || input.vek === undefined || input.certChain === undefined) return verifyVekChain(input, opts, step);
  const key = chainKeyOf(input.vek, input.certChain, input, opts);
  const hit = cache.chains.get(key);
  if (hit !== undefined) {
    for (const name of ['collateral_format', 'chain_structure', 'ark_pinned', 'chain_signatures']) step(name);
    return hit;
  }
  const chain = await verifyVekChain(input, opts, step);
  cache.chains.set(ownedChainKey(key), chain);
  return chain;
}

/** The CRL's staleness check of verifyCrl, for a CRL whose signature was verified on an earlier call. */
function assertCrlCurrent(crl: CurrentCrl, at: number, what: string): void {
  if (!(crl.thisUpdate <= at && at <= crl.nextUpdate)) {
    // Word for word verifyCrl's error: a cached verification must fail exactly as a fresh one.
    const window = `${new Date(crl.thisUpdate).toISOString()} to ${new Date(crl.nextUpdate).toISOString()}`;
    throw new VerificationError('ERR_COLLATERAL_STALE', `${what}: valid from ${window}, not at the verification time`, { reason: 'collateral_expired' });
  }
}

/**
 * Step 10's CRL: signed by the ARK and current at `at`. With a cache, the parse and the signature
 * (a function of the CRL's bytes and the ARK's DER alone) are done once; the dates every time.
 */
async function currentCrl(der: Uint8Array, ark: Certificate, at: number, cache: SevSnpCache | undefined): Promise<VerifiedCrl> {
  const what = 'SEV-SNP CRL';
  const key: CrlKey = { crl: der, ark: ark.der };
  const hit = cache?.crls.get(key);
  if (hit !== undefined) {
    assertCrlCurrent(hit.crl, at, what);
    return hit;
  }
  const crl = await verifyCrl(parseAmdCrl(der, what), ark, at, what);
  const verified = { crl, digest: await digest('crl', crl.der, crl.thisUpdate, crl.nextUpdate) };
  cache?.crls.set({ crl: der.slice(), ark: ark.der.slice() }, verified);
  return verified;
}

export async function verifySevSnp(input: SevSnpInput, opts: SevSnpOptions): Promise<EvidenceResult> {
  const step = (name: string): void => opts.onStep?.(name);
  const at = timeOf(opts.at);

  // 1. Report shape: exactly 1184 bytes, version 2/3/5, reserved ranges zero (parse.ts).
  const report = parseReport(input.report);
  step('report_format');

  // 2. SIGNATURE_ALGO must be 1 (ECDSA P-384 with SHA-384), the only algorithm AMD defines.
  if (report.signatureAlgo !== SIG_ALGO_ECDSA_P384_SHA384) {
    throw new VerificationError(
      'ERR_EVIDENCE_UNSUPPORTED',
      `SEV-SNP report field SIGNATURE_ALGO is ${hex32(report.signatureAlgo)}, want 0x1 (ECDSA P-384 SHA-384)`,
      { reason: REASONS.signatureAlgo },
    );
  }
  step('signature_algo');

  // 3-7. The VEK chain (cached by exact bytes, product and anchors when a cache is given).
  const chain = await vekChain(input, opts, step);
  const { vek, ask, ark, vekRole, wantAsk, product, anchor, exts, vekKey } = chain;

  // 8. The report signature: ECDSA P-384 SHA-384 by the VEK over bytes 0x000-0x29F.
  const r = scalar(report.signatureR, 'SIGNATURE.R');
  const s = scalar(report.signatureS, 'SIGNATURE.S');
  const sig = new Uint8Array(2 * P384_SIZE);
  sig.set(r);
  sig.set(s, P384_SIZE);
  if (!(await verifySignature('ecdsa-p384-sha384', vekKey, report.signed, sig, 'raw'))) {
    throw new VerificationError('ERR_SIGNATURE_INVALID', 'SEV-SNP report signature does not verify with the VEK', { reason: REASONS.signature });
  }
  step('report_signature');

  // 9. Validity of every certificate at the verification time. After the signatures on purpose:
  //    a VEK that does not belong to the report is reported as such (signature), not as a date
  //    problem; every check still runs before anything is accepted.
  assertValid(vek, at, roleName(vekRole));
  assertValid(ask, at, roleName(wantAsk));
  assertValid(ark, at, 'ARK');
  step('validity');

  // 10. Revocation, when AMD's CRL is given: signed by the ARK, current, and naming neither the ASK nor the VEK.
  let crl: VerifiedCrl | undefined;
  if (input.crl !== undefined) {
    crl = await currentCrl(input.crl, ark, at, opts.cache);
    assertNotRevoked(crl.crl, ask, 'SEV-SNP CRL');
    assertNotRevoked(crl.crl, vek, 'SEV-SNP CRL');
    step('crl');
  }

  // 11. What the VEK certifies must be what the report says: key kind, product, TCB, chip.
  const wantKey = vekRole === 'vlek' ? 'VLEK' : 'VCEK';
  if (report.signingKey !== wantKey) {
    throw mismatch(REASONS.signingKey, `SEV-SNP report field SIGNING_KEY is ${report.signingKey}, want ${wantKey} (the certificate given)`);
  }
  if (productOfProductName(exts.productName) !== product) {
    throw mismatch(REASONS.product, `SEV-SNP VEK productName is "${exts.productName}", want ${productLine(product)}`);
  }
  if (report.cpuid !== null) {
    const fromCpuid = productOfCpuid(report.cpuid);
    if (fromCpuid !== product) {
      const c = report.cpuid;
      throw mismatch(
        REASONS.product,
        `SEV-SNP report fields CPUID_FAM_ID/CPUID_MOD_ID are ${hex32(c.family)}/${hex32(c.model)} (${fromCpuid === undefined ? 'an unknown product' : productLine(fromCpuid)}), want ${productLine(product)}`,
      );
    }
  }
  checkTcb(report, exts, product);
  // A VLEK is not bound to a chip (it is shared by a cloud provider's fleet), so there is no hwID.
  const chipCheck = vekRole === 'vcek' ? checkChipId(report, exts, product) : 'not_applicable';
  step('vek_binding');

  // 12. Guest policy bit 17 is reserved and must be one (firmware refuses to launch otherwise).
  if (!policyBit(report.policy, POLICY_BIT.RESERVED_MUST_BE_ONE)) {
    throw new VerificationError('ERR_EVIDENCE_MALFORMED', `SEV-SNP report field POLICY is 0x${report.policy.toString(16)}, bit 17 must be 1`, {
      reason: REASONS.policy,
    });
  }

  const arkSha = anchor.sha256;
  const claims = { ...snpClaims(report, { product, vek: exts, arkSha256: arkSha }), chip_id_check: chipCheck };

  // 13. Debug last: authentic, but a host that can debug the guest can read its memory.
  const debug = policyBit(report.policy, POLICY_BIT.DEBUG);
  if (debug && opts.allowDebug !== true) {
    throw new PolicyError('ERR_DEBUG_REFUSED', 'SEV-SNP report field POLICY has DEBUG (bit 19) set: the host can read guest memory; refused unless debug is allowed', {
      reason: REASONS.debug,
      details: { claims },
    });
  }
  step('policy');

  const collateral: CollateralDigest[] = [...chain.digests];
  let expires = Math.min(vek.notAfter, ask.notAfter, ark.notAfter);
  if (crl !== undefined) {
    collateral.push(crl.digest);
    expires = Math.min(expires, crl.crl.nextUpdate);
  }
  return {
    verdict: 'ok',
    tee: 'sev-snp',
    tcb_status: null,
    advisory_ids: [],
    claims,
    trust_anchor: anchorInfo(anchor),
    simulated: anchor.simulated,
    collateral,
    debug_allowed: debug,
    expires_at: isoTime(expires),
  };
}

// ---------------------------------------------------------------------------------------------
// Collateral given as files of any name: recognised by content.

export interface CollateralFile {
  readonly name?: string;
  readonly bytes: Uint8Array;
}

/** A certificate recognised by content; a CA's PEM is kept, as it is what cert_chain is made of. */
interface Recognised {
  readonly cert: Certificate;
  readonly role: CertRole;
  readonly pem?: string;
}

interface Found extends Recognised {
  readonly file: number;
}

/** What one collateral file holds, recognised by content (cached by its bytes). */
interface FileContent {
  readonly certs: readonly Recognised[];
  readonly crls: readonly Uint8Array[];
}

function looksLikePem(b: Uint8Array): boolean {
  // "-----BEGIN" somewhere near the start (allowing a BOM or leading whitespace).
  const head = latin1(b.subarray(0, Math.min(b.length, 64)));
  return head.includes('-----BEGIN ');
}

function unrecognised(name: string, why: string): VerificationError {
  return new VerificationError('ERR_COLLATERAL_MALFORMED', `SEV-SNP collateral ${name}: ${why}`, { reason: 'collateral_unrecognised' });
}

function recognisedCert(cert: Certificate, name: string): Recognised {
  const role = roleOf(cert);
  if (role === undefined) throw unrecognised(name, `certificate "${cert.subject.text}" is not an AMD VCEK, VLEK, ASK, ASVK or ARK`);
  // Encoded here, once per file content: re-encoding on every call was a cost of the warm path.
  return role === 'vcek' || role === 'vlek' ? { cert, role } : { cert, role, pem: toPem(cert.der) };
}

function recognise(bytes: Uint8Array, name: string): FileContent {
  const what = `SEV-SNP collateral ${name}`;
  if (looksLikePem(bytes)) {
    const blocks = pemBlocks(latin1(bytes), what);
    if (blocks.length === 0) throw unrecognised(name, 'no PEM block');
    const certs: Recognised[] = [];
    const crls: Uint8Array[] = [];
    for (const b of blocks) {
      if (b.label === 'X509 CRL') {
        parseAmdCrl(b.der, what);
        crls.push(b.der.slice());
      } else if (b.label === 'CERTIFICATE') certs.push(recognisedCert(parseAmdCertificate(b.der, what), name));
      else throw unrecognised(name, `unexpected PEM block "${b.label}"`);
    }
    return { certs, crls };
  }
  let cert: Certificate | undefined;
  try {
    cert = parseAmdCertificate(bytes, what);
  } catch {
    cert = undefined;
  }
  if (cert !== undefined) return { certs: [recognisedCert(cert, name)], crls: [] };
  try {
    parseAmdCrl(bytes, what);
  } catch (e: unknown) {
    throw unrecognised(name, `neither a DER certificate nor a DER CRL (${e instanceof Error ? e.message : /* v8 ignore next -- parseAmdCrl throws only AttestationErrors, which are Errors */ String(e)})`);
  }
  return { certs: [], crls: [bytes.slice()] };
}

/**
 * Build the verifier's input from collateral files recognised by content: a VCEK/VLEK (DER or
 * PEM), the KDS cert_chain (PEM; its order is kept so a misordered chain still fails), single
 * ASK/ASVK/ARK certificates (ordered by role), and a CRL (DER or PEM). With a cache, a file seen
 * before (same bytes) is not parsed again.
 */
export function sevSnpInputFromFiles(report: Uint8Array, files: readonly CollateralFile[], product?: Product, cache?: SevSnpCache): SevSnpInput {
  const found: Found[] = [];
  let crl: Uint8Array | undefined;
  files.forEach((f, i) => {
    const name = f.name ?? `#${i + 1}`;
    let content = cache?.files.get(f.bytes);
    if (content === undefined) {
      content = recognise(f.bytes, name);
      cache?.files.set(f.bytes.slice(), content);
    }
    for (const c of content.certs) found.push({ ...c, file: i });
    for (const der of content.crls) {
      if (crl !== undefined && !equalBytes(crl, der)) throw unrecognised(name, 'a second, different CRL');
      crl = der;
    }
  });

  // Drop exact duplicates (the same certificate in two files).
  const unique = found.filter((f, i) => found.findIndex((g) => g.cert === f.cert || equalBytes(g.cert.der, f.cert.der)) === i);
  const leaves = unique.filter((f) => f.role === 'vcek' || f.role === 'vlek');
  if (leaves.length > 1) throw unrecognised('set', `${leaves.length} VCEK/VLEK certificates given, want one`);
  const cas = unique.filter((f) => f.role !== 'vcek' && f.role !== 'vlek');
  const sameFile = cas.length > 0 && cas.every((c) => c.file === cas[0]?.file) && cas.length > 1;
  // From one chain file: keep its order (KDS order is part of the format). From separate files: ASK/ASVK, then ARK.
  const ordered = sameFile ? cas : [...cas].sort((a, b) => Number(a.role === 'ark') - Number(b.role === 'ark'));
  const leaf = leaves[0];
  return {
    report,
    ...(leaf === undefined ? {} : { vek: leaf.cert.der }),
    ...(ordered.length === 0 ? {} : { certChain: ordered.map((c) => c.pem ?? toPem(c.cert.der)).join('') }),
    ...(crl === undefined ? {} : { crl }),
    ...(product === undefined ? {} : { product }),
  };
}
