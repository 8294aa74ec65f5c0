/**
 * The simulated AMD SEV-SNP TEE: ATTESTATION_REPORTs in the real binary layout (SEV-SNP Firmware
 * ABI, pub. 56860, version 3 with CPUID), signed ECDSA P-384/SHA-384 by a simulated VCEK that
 * chains VCEK <- ASK <- ARK exactly as AMD's Key Distribution Service serves it (RSASSA-PSS
 * SHA-384 certificates, the VCEK's AMD extensions for product, TCB and chip ID). The verifier in
 * attestation/amd therefore runs every step on this evidence, and only the trust anchor differs:
 * the simulated ARK carries SIMULATED_ROOT_MARK in its O=, so it is never mistaken for AMD's and
 * every result that chains to it says `simulated: true`.
 *
 * What a real guest gets from the firmware and the host (configfs-tsm outblob and auxblob) is
 * here: the report, and the VCEK and cert_chain as collateral. The PKI lives in
 * `<dataDir>/sim-pki/amd/` so the gateway (which trusts the ARK) and the enclave (which signs with
 * the VCEK) agree across processes; one set holds Genoa and Milan, each with its own ARK.
 */
import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';
import { parseAmdCertificate } from '../../attestation/amd/cert.ts';
import { OID, productLine, vekExtensions, type VekExtensions } from '../../attestation/amd/kds.ts';
import { SIMULATED_ROOT_MARK } from '../../attestation/roots/index.ts';
import { checkAttestRequest, AttesterError, type Attester, type Evidence } from '../attesters/attester.ts';
import { loadOrCreatePki, type PkiFiles } from './store.ts';
import {
  KEY_USAGE,
  basicConstraints,
  derOfPem,
  encodeName,
  generateP384,
  generateRsa,
  ia5,
  keyUsage,
  mintCertificate,
  privateKeyFromPem,
  privateKeyPem,
  toPem,
  uint,
  type Extension,
  type NameAttr,
} from './x509-amd-nitro.ts';

export type SimSnpProduct = 'genoa' | 'milan';
const SIM_PRODUCTS: readonly SimSnpProduct[] = ['genoa', 'milan'];

export interface SimSnpOptions {
  readonly dataDir: string;
  /** Default 'attestgate-enclave'; MEASUREMENT = SHA-384 of it (48 bytes). */
  readonly measurementSeed?: string;
  /** Sets guest policy bit 19 (DEBUG): the verifier then refuses the report unless allowDebug. */
  readonly debug?: boolean;
  /** Default genoa. */
  readonly product?: SimSnpProduct;
  /** HOST_DATA, 32 bytes; default zeros. */
  readonly hostData?: Uint8Array;
  /** VMPL the report is requested at, 0-3; default 0. */
  readonly vmpl?: number;
}

export const DEFAULT_MEASUREMENT_SEED = 'attestgate-enclave';

// ---------------------------------------------------------------------------------------------
// Report layout (offsets as in attestation/amd/parse.ts FIELDS; written independently here so a
// layout slip in either place shows up as a verification failure in the tests).

const REPORT_SIZE = 0x4a0;
const SIGNED_END = 0x2a0;
const REPORT_VERSION = 3;
const SIG_ALGO_ECDSA_P384_SHA384 = 1;
const OFF = {
  VERSION: 0x000,
  GUEST_SVN: 0x004,
  POLICY: 0x008,
  VMPL: 0x030,
  SIGNATURE_ALGO: 0x034,
  CURRENT_TCB: 0x038,
  PLATFORM_INFO: 0x040,
  SIGNER_INFO: 0x048,
  REPORT_DATA: 0x050,
  MEASUREMENT: 0x090,
  HOST_DATA: 0x0c0,
  REPORT_ID: 0x140,
  REPORT_ID_MA: 0x160,
  REPORTED_TCB: 0x180,
  CPUID_FAM_ID: 0x188,
  CPUID_MOD_ID: 0x189,
  CPUID_STEP: 0x18a,
  CHIP_ID: 0x1a0,
  COMMITTED_TCB: 0x1e0,
  CURRENT_BUILD: 0x1e8,
  CURRENT_MINOR: 0x1e9,
  CURRENT_MAJOR: 0x1ea,
  COMMITTED_BUILD: 0x1ec,
  COMMITTED_MINOR: 0x1ed,
  COMMITTED_MAJOR: 0x1ee,
  LAUNCH_TCB: 0x1f0,
  SIGNATURE_R: 0x2a0,
  SIGNATURE_S: 0x2e8,
} as const;
const P384_SIZE = 48;

/** Guest policy: SMT allowed (bit 16) and bit 17, which firmware requires to be one. */
const POLICY_BASE = (1n << 16n) | (1n << 17n);
const POLICY_DEBUG = 1n << 19n;
/** PLATFORM_INFO: SMT_EN (bit 0) and TSME_EN (bit 1), as on a typical cloud host. */
const PLATFORM_INFO = 0x3n;
const GUEST_SVN = 1;

interface Tcb {
  readonly bl: number;
  readonly tee: number;
  readonly snp: number;
  readonly ucode: number;
}

interface ProductProfile {
  /** The VCEK's productName, as KDS writes it for this product. */
  readonly productName: string;
  readonly cpuid: { readonly family: number; readonly model: number; readonly stepping: number };
  /** The TCB the simulated VCEK is issued for (a VCEK is derived for exactly one TCB). */
  readonly tcb: Tcb;
  readonly firmware: { readonly major: number; readonly minor: number; readonly build: number };
}

/**
 * CPUID family 19h with extended model 1 is Genoa and extended model 0 is Milan (what the
 * verifier derives the product from); the SPLs are values seen on real hosts of each line.
 */
const PROFILES: Readonly<Record<SimSnpProduct, ProductProfile>> = {
  genoa: {
    productName: 'Genoa',
    cpuid: { family: 0x19, model: 0x11, stepping: 0x01 },
    tcb: { bl: 10, tee: 0, snp: 25, ucode: 84 },
    firmware: { major: 1, minor: 55, build: 37 },
  },
  milan: {
    productName: 'Milan-B0',
    cpuid: { family: 0x19, model: 0x01, stepping: 0x01 },
    tcb: { bl: 4, tee: 0, snp: 22, ucode: 213 },
    firmware: { major: 1, minor: 55, build: 21 },
  },
};

/** Milan and Genoa TCB_VERSION: BOOT_LOADER, TEE, 4 reserved bytes, SNP, MICROCODE (little-endian u64). */
function tcbValue(t: Tcb): bigint {
  return BigInt(t.bl) | (BigInt(t.tee) << 8n) | (BigInt(t.snp) << 48n) | (BigInt(t.ucode) << 56n);
}

// ---------------------------------------------------------------------------------------------
// The simulated KDS PKI.

const DAY = 86_400_000;
const YEAR = 365 * DAY;

const PKI_NAME = 'amd';
const fileNames = (p: SimSnpProduct): { ark: string; arkKey: string; ask: string; askKey: string; vcek: string; vcekKey: string } => ({
  ark: `${p}-ark.pem`,
  arkKey: `${p}-ark.key.pem`,
  ask: `${p}-ask.pem`,
  askKey: `${p}-ask.key.pem`,
  vcek: `${p}-vcek.pem`,
  vcekKey: `${p}-vcek.key.pem`,
});
const PKI_FILES: readonly string[] = SIM_PRODUCTS.flatMap((p) => Object.values(fileNames(p)));

/** AMD's distinguished names, with the simulation mark in O= where AMD writes its own name. */
function amdName(cn: string): Uint8Array {
  const attrs: NameAttr[] = [
    ['OU', 'Engineering'],
    ['C', 'US'],
    ['L', 'Santa Clara'],
    ['ST', 'CA'],
    ['O', SIMULATED_ROOT_MARK],
    ['CN', cn],
  ];
  return encodeName(attrs);
}

/** VCEK extensions as KDS writes them: INTEGER SPLs, IA5String productName, hwID as the bare 64 bytes. */
function vcekExtensions(profile: ProductProfile, chipId: Uint8Array): Extension[] {
  const ext = (o: string, value: Uint8Array): Extension => ({ oid: o, critical: false, value });
  return [
    ext(OID.structVersion, uint(1)),
    ext(OID.productName, ia5(profile.productName)),
    ext(OID.blSPL, uint(profile.tcb.bl)),
    ext(OID.teeSPL, uint(profile.tcb.tee)),
    ext(OID.spl4, uint(0)),
    ext(OID.spl5, uint(0)),
    ext(OID.spl6, uint(0)),
    ext(OID.spl7, uint(0)),
    ext(OID.snpSPL, uint(profile.tcb.snp)),
    ext(OID.ucodeSPL, uint(profile.tcb.ucode)),
    ext(OID.hwID, chipId),
  ];
}

async function createProductPki(product: SimSnpProduct, now: number): Promise<Record<string, string>> {
  const profile = PROFILES[product];
  const line = productLine(product);
  const [ark, ask, vcek] = await Promise.all([generateRsa(), generateRsa(), generateP384()]);
  const arkName = amdName(`ARK-${line}`);
  const askName = amdName(`SEV-${line}`);
  // Lifetimes as AMD's: ARK and ASK 25 years, VCEK 7 years; backdated a day for clock skew
  // between the machine that made the PKI and the one verifying with it.
  const from = new Date(now - DAY);
  const arkDer = mintCertificate({
    issuer: arkName,
    subject: arkName,
    notBefore: from,
    notAfter: new Date(now + 25 * YEAR),
    publicKey: ark.publicKey,
    extensions: [keyUsage(KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign), basicConstraints(true)],
    signer: { key: ark.privateKey, algorithm: 'rsa-pss-sha384-trailer' },
  });
  const askDer = mintCertificate({
    issuer: arkName,
    subject: askName,
    notBefore: from,
    notAfter: new Date(now + 25 * YEAR),
    publicKey: ask.publicKey,
    extensions: [keyUsage(KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign), basicConstraints(true, 0)],
    signer: { key: ark.privateKey, algorithm: 'rsa-pss-sha384-trailer' },
  });
  // CHIP_ID is the chip's unique identity; the simulated chip gets a random one, fixed by the VCEK.
  const chipId = new Uint8Array(randomBytes(64));
  const vcekDer = mintCertificate({
    issuer: askName,
    subject: amdName('SEV-VCEK'),
    notBefore: from,
    notAfter: new Date(now + 7 * YEAR),
    publicKey: vcek.publicKey,
    extensions: vcekExtensions(profile, chipId),
    signer: { key: ask.privateKey, algorithm: 'rsa-pss-sha384' },
  });
  const n = fileNames(product);
  return {
    [n.ark]: toPem(arkDer),
    [n.arkKey]: privateKeyPem(ark.privateKey),
    [n.ask]: toPem(askDer),
    [n.askKey]: privateKeyPem(ask.privateKey),
    [n.vcek]: toPem(vcekDer),
    [n.vcekKey]: privateKeyPem(vcek.privateKey),
  };
}

async function createPki(): Promise<PkiFiles> {
  const now = Date.now();
  const parts = await Promise.all(SIM_PRODUCTS.map((p) => createProductPki(p, now)));
  return Object.assign({}, ...parts) as PkiFiles;
}

/** What the attester needs of one product's PKI, read back from the stored files. */
interface ProductPki {
  readonly arkPem: string;
  readonly vcekDer: Uint8Array;
  /** KDS cert_chain: the ASK, then the ARK. */
  readonly certChainPem: string;
  readonly vcekKey: KeyObject;
  readonly chipId: Uint8Array;
  readonly tcb: bigint;
}

function need(files: PkiFiles, name: string): string {
  const v = files[name];
  if (v === undefined) throw new Error(`simulated AMD PKI: ${name} is missing`);
  return v;
}

/**
 * The TCB and chip ID come from the stored VCEK, not from PROFILES: a VCEK certifies exactly one
 * TCB and chip, so reading them back keeps reports consistent with a PKI made by an older build.
 */
function productPki(files: PkiFiles, product: SimSnpProduct): ProductPki {
  const n = fileNames(product);
  const vcekDer = derOfPem(need(files, n.vcek), n.vcek);
  const exts: VekExtensions = vekExtensions(parseAmdCertificate(vcekDer, `simulated ${n.vcek}`), `simulated ${n.vcek}`);
  if (exts.hwID?.length !== 64) throw new Error(`simulated AMD PKI: ${n.vcek} has no 64-byte hwID`);
  return {
    arkPem: need(files, n.ark),
    vcekDer,
    certChainPem: need(files, n.ask) + need(files, n.ark),
    vcekKey: privateKeyFromPem(need(files, n.vcekKey)),
    chipId: exts.hwID,
    tcb: tcbValue({ bl: exts.blSPL, tee: exts.teeSPL, snp: exts.snpSPL, ucode: exts.ucodeSPL }),
  };
}

async function loadProductPki(dataDir: string, product: SimSnpProduct): Promise<ProductPki> {
  return productPki(await loadOrCreatePki(dataDir, PKI_NAME, PKI_FILES, createPki), product);
}

/** The simulated ARK of `product` (PEM), to pass as a trust anchor (anchorFromPem(pem, name, false)). */
export async function simulatedAmdRoot(dataDir: string, product: SimSnpProduct = 'genoa'): Promise<string> {
  checkProduct(product);
  return (await loadProductPki(dataDir, product)).arkPem;
}

// ---------------------------------------------------------------------------------------------
// The attester.

function badOption(msg: string): AttesterError {
  return new AttesterError('ERR_ATTESTER_INPUT', `simulated SEV-SNP: ${msg}`);
}

function checkProduct(p: unknown): asserts p is SimSnpProduct {
  if (!(SIM_PRODUCTS as readonly unknown[]).includes(p)) throw badOption(`product must be one of ${SIM_PRODUCTS.join(', ')}, got ${String(p)}`);
}

interface ReportInputs {
  readonly policy: bigint;
  readonly vmpl: number;
  readonly measurement: Uint8Array;
  readonly hostData: Uint8Array;
  readonly reportId: Uint8Array;
  readonly profile: ProductProfile;
}

/** Lay out and sign one report; every byte not written here is reserved or zero by definition. */
function buildReport(inp: ReportInputs, pki: ProductPki, reportData: Uint8Array): Uint8Array {
  const report = new Uint8Array(REPORT_SIZE);
  const v = new DataView(report.buffer);
  v.setUint32(OFF.VERSION, REPORT_VERSION, true);
  v.setUint32(OFF.GUEST_SVN, GUEST_SVN, true);
  v.setBigUint64(OFF.POLICY, inp.policy, true);
  // FAMILY_ID and IMAGE_ID stay zero: no ID block was given at launch.
  v.setUint32(OFF.VMPL, inp.vmpl, true);
  v.setUint32(OFF.SIGNATURE_ALGO, SIG_ALGO_ECDSA_P384_SHA384, true);
  v.setBigUint64(OFF.CURRENT_TCB, pki.tcb, true);
  v.setBigUint64(OFF.PLATFORM_INFO, PLATFORM_INFO, true);
  // SIGNER_INFO 0: SIGNING_KEY = VCEK, MASK_CHIP_KEY = 0, AUTHOR_KEY_EN = 0.
  v.setUint32(OFF.SIGNER_INFO, 0, true);
  report.set(reportData, OFF.REPORT_DATA);
  report.set(inp.measurement, OFF.MEASUREMENT);
  report.set(inp.hostData, OFF.HOST_DATA);
  // ID_KEY_DIGEST and AUTHOR_KEY_DIGEST stay zero (no ID block).
  report.set(inp.reportId, OFF.REPORT_ID);
  // No migration agent is bound: firmware reports REPORT_ID_MA as all ones.
  report.fill(0xff, OFF.REPORT_ID_MA, OFF.REPORT_ID_MA + 32);
  v.setBigUint64(OFF.REPORTED_TCB, pki.tcb, true);
  v.setUint8(OFF.CPUID_FAM_ID, inp.profile.cpuid.family);
  v.setUint8(OFF.CPUID_MOD_ID, inp.profile.cpuid.model);
  v.setUint8(OFF.CPUID_STEP, inp.profile.cpuid.stepping);
  report.set(pki.chipId, OFF.CHIP_ID);
  v.setBigUint64(OFF.COMMITTED_TCB, pki.tcb, true);
  const fw = inp.profile.firmware;
  for (const [b, m, j] of [
    [OFF.CURRENT_BUILD, OFF.CURRENT_MINOR, OFF.CURRENT_MAJOR],
    [OFF.COMMITTED_BUILD, OFF.COMMITTED_MINOR, OFF.COMMITTED_MAJOR],
  ] as const) {
    v.setUint8(b, fw.build);
    v.setUint8(m, fw.minor);
    v.setUint8(j, fw.major);
  }
  v.setBigUint64(OFF.LAUNCH_TCB, pki.tcb, true);

  // ECDSA P-384 with SHA-384 over [0, 0x2A0). The report stores r and s little-endian, each in a
  // 72-byte field whose upper 24 bytes are zero; IEEE P1363 gives them big-endian, 48 bytes each.
  const rs = new Uint8Array(sign('sha384', report.subarray(0, SIGNED_END), { key: pki.vcekKey, dsaEncoding: 'ieee-p1363' }));
  report.set(rs.slice(0, P384_SIZE).reverse(), OFF.SIGNATURE_R);
  report.set(rs.slice(P384_SIZE).reverse(), OFF.SIGNATURE_S);
  return report;
}

export function createSimulatedSnpAttester(opts: SimSnpOptions): Attester {
  if (typeof opts.dataDir !== 'string' || opts.dataDir === '') throw badOption('dataDir must be a non-empty path');
  const product = opts.product ?? 'genoa';
  checkProduct(product);
  const seed = opts.measurementSeed ?? DEFAULT_MEASUREMENT_SEED;
  if (typeof seed !== 'string') throw badOption('measurementSeed must be a string');
  const hostData = opts.hostData ?? new Uint8Array(32);
  if (!(hostData instanceof Uint8Array) || hostData.length !== 32) throw badOption('hostData must be exactly 32 bytes (HOST_DATA)');
  const vmpl = opts.vmpl ?? 0;
  if (!Number.isInteger(vmpl) || vmpl < 0 || vmpl > 3) throw badOption(`vmpl must be an integer 0-3, got ${String(vmpl)}`);

  const inputs: ReportInputs = {
    policy: opts.debug === true ? POLICY_BASE | POLICY_DEBUG : POLICY_BASE,
    vmpl,
    measurement: new Uint8Array(createHash('sha384').update(seed, 'utf8').digest()),
    hostData: hostData.slice(),
    // REPORT_ID is the guest's, fixed for its lifetime: one per attester.
    reportId: new Uint8Array(randomBytes(32)),
    profile: PROFILES[product],
  };
  const { dataDir } = opts;
  let pki: Promise<ProductPki> | undefined;

  return {
    kind: 'sim-sev-snp',
    tee: 'sev-snp',
    async attest(req): Promise<Evidence> {
      checkAttestRequest(req);
      // Snapshot the request before the first await: the caller may reuse its buffers.
      const reportData = req.reportData.slice();
      if (pki === undefined) {
        pki = loadProductPki(dataDir, product);
        // A failed load is not remembered: the next request tries again.
        pki.catch(() => {
          pki = undefined;
        });
      }
      let p: ProductPki;
      try {
        p = await pki;
      } catch (e: unknown) {
        throw new AttesterError('ERR_ATTESTER_FAILED', `simulated SEV-SNP: cannot load or create the simulated AMD PKI in ${dataDir}`, { cause: e });
      }
      return {
        tee: 'sev-snp',
        evidence: buildReport(inputs, p, reportData),
        // The names and content KDS serves (and configfs-tsm's auxblob carries): the VCEK in DER,
        // the chain in PEM, ASK first. Fresh copies, so a caller cannot alter the PKI we hold.
        collateral: [
          { name: 'vcek.der', bytes: p.vcekDer.slice() },
          { name: 'cert_chain.pem', bytes: new TextEncoder().encode(p.certChainPem) },
        ],
        simulated: true,
      };
    },
  };
}
