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
import { equalBytes, isAllZero, toHex } from '../common/bytes.ts';
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
 * Verified VEK chains and recognised collateral files, reused across calls. Keys are the exact
 * bytes (and, for chains, the product and trust anchors), so different input is always verified
 * afresh. Certificate validity, the CRL, and everything about the report itself (its signature
 * above all) are checked on every call: a cache hit saves parsing and the three RSA verifications.
 */
export interface SevSnpCache {
  readonly chains: Map<string, VerifiedVek>;
  readonly files: Map<string, FileContent>;
  readonly maxEntries: number;
}

export function createSevSnpCache(maxEntries = 256): SevSnpCache {
  return { chains: new Map(), files: new Map(), maxEntries };
}

function remember<V>(map: Map<string, V>, max: number, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > max) {
    const first = map.keys().next();
    if (first.done === true) break;
    map.delete(first.value);
  }
}

/** Exact-bytes key (latin1): two inputs share a key only when every byte is equal. */
function bytesKey(b: Uint8Array): string {
  let out = '';
  for (let i = 0; i < b.length; i += 8192) out += String.fromCharCode(...b.subarray(i, i + 8192));
  return out;
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
  const cache = opts.cache;
  const key =
    cache === undefined || input.vek === undefined || input.certChain === undefined
      ? undefined
      : `${bytesKey(input.vek)}\u0000${input.certChain}\u0000${input.product ?? ''}\u0000${(opts.trustAnchors ?? []).map((t) => `${t.sha256}:${String(t.pinned)}:${t.name}`).join('\u0000')}`;
  let chain = key === undefined ? undefined : cache?.chains.get(key);
  if (chain === undefined) {
    chain = await verifyVekChain(input, opts, step);
    if (key !== undefined && cache !== undefined) remember(cache.chains, cache.maxEntries, key, chain);
  } else {
    for (const name of ['collateral_format', 'chain_structure', 'ark_pinned', 'chain_signatures']) step(name);
  }
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
  let crl: CurrentCrl | undefined;
  if (input.crl !== undefined) {
    crl = await verifyCrl(parseAmdCrl(input.crl, 'SEV-SNP CRL'), ark, at, 'SEV-SNP CRL');
    assertNotRevoked(crl, ask, 'SEV-SNP CRL');
    assertNotRevoked(crl, vek, 'SEV-SNP CRL');
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
    collateral.push(await digest('crl', crl.der, crl.thisUpdate, crl.nextUpdate));
    expires = Math.min(expires, crl.nextUpdate);
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

interface Found {
  readonly cert: Certificate;
  readonly role: CertRole;
  readonly file: number;
}

/** What one collateral file holds, recognised by content (cached by its bytes). */
interface FileContent {
  readonly certs: readonly { readonly cert: Certificate; readonly role: CertRole }[];
  readonly crls: readonly Uint8Array[];
}

function looksLikePem(b: Uint8Array): boolean {
  // "-----BEGIN" somewhere near the start (allowing a BOM or leading whitespace).
  const head = String.fromCharCode(...b.subarray(0, Math.min(b.length, 64)));
  return head.includes('-----BEGIN ');
}

function unrecognised(name: string, why: string): VerificationError {
  return new VerificationError('ERR_COLLATERAL_MALFORMED', `SEV-SNP collateral ${name}: ${why}`, { reason: 'collateral_unrecognised' });
}

function recognisedCert(cert: Certificate, name: string): { cert: Certificate; role: CertRole } {
  const role = roleOf(cert);
  if (role === undefined) throw unrecognised(name, `certificate "${cert.subject.text}" is not an AMD VCEK, VLEK, ASK, ASVK or ARK`);
  return { cert, role };
}

function recognise(bytes: Uint8Array, name: string): FileContent {
  const what = `SEV-SNP collateral ${name}`;
  if (looksLikePem(bytes)) {
    const blocks = pemBlocks(String.fromCharCode(...bytes), what);
    if (blocks.length === 0) throw unrecognised(name, 'no PEM block');
    const certs: { cert: Certificate; role: CertRole }[] = [];
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
    const key = cache === undefined ? undefined : bytesKey(f.bytes);
    let content = key === undefined ? undefined : cache?.files.get(key);
    if (content === undefined) {
      content = recognise(f.bytes, name);
      if (key !== undefined && cache !== undefined) remember(cache.files, cache.maxEntries, key, content);
    }
    for (const c of content.certs) found.push({ ...c, file: i });
    for (const der of content.crls) {
      if (crl !== undefined && !equalBytes(crl, der)) throw unrecognised(name, 'a second, different CRL');
      crl = der;
    }
  });

  // Drop exact duplicates (the same certificate in two files).
  const unique = found.filter((f, i) => found.findIndex((g) => equalBytes(g.cert.der, f.cert.der)) === i);
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
    ...(ordered.length === 0 ? {} : { certChain: ordered.map((c) => toPem(c.cert.der)).join('') }),
    ...(crl === undefined ? {} : { crl }),
    ...(product === undefined ? {} : { product }),
  };
}
