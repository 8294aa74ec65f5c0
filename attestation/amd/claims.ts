/**
 * A verified SEV-SNP report as claims, named as in the fixtures' `expected` objects (snake_case,
 * lowercase hex for bytes, u64 values as 0x-hex strings so no precision is lost).
 */
import { toHex } from '../common/bytes.ts';
import type { ClaimValue, Claims } from '../result.ts';
import { hwIdHex, type Product, type VekExtensions } from './kds.ts';
import { POLICY_BIT, POLICY_FIRST_RESERVED_BIT, policyBit, type FirmwareVersion, type SnpReport } from './parse.ts';

/** TCB_VERSION split into its SPLs. Turin moved the fields: fmc, bl, tee, snp, (3 reserved), ucode. */
export interface TcbParts {
  readonly fmc?: number;
  readonly bl: number;
  readonly tee: number;
  readonly snp: number;
  readonly ucode: number;
}

const byte = (v: bigint, i: number): number => Number((v >> BigInt(8 * i)) & 0xffn);

export function decodeTcb(raw: bigint, product: Product): TcbParts {
  if (product === 'turin') return { fmc: byte(raw, 0), bl: byte(raw, 1), tee: byte(raw, 2), snp: byte(raw, 3), ucode: byte(raw, 7) };
  // Milan, Genoa: bl, tee, (4 reserved), snp, ucode.
  return { bl: byte(raw, 0), tee: byte(raw, 1), snp: byte(raw, 6), ucode: byte(raw, 7) };
}

export function u64Hex(v: bigint, pad = true): string {
  return '0x' + (pad ? v.toString(16).padStart(16, '0') : v.toString(16));
}

function tcbClaim(raw: bigint, product: Product): ClaimValue {
  const p = decodeTcb(raw, product);
  const out: Record<string, ClaimValue> = { raw: u64Hex(raw) };
  if (p.fmc !== undefined) out['fmc'] = p.fmc;
  out['bl'] = p.bl;
  out['tee'] = p.tee;
  out['snp'] = p.snp;
  out['ucode'] = p.ucode;
  return out;
}

export function policyClaim(policy: bigint): ClaimValue {
  return {
    raw: u64Hex(policy, false),
    abi_minor: Number(policy & 0xffn),
    abi_major: Number((policy >> 8n) & 0xffn),
    smt: policyBit(policy, POLICY_BIT.SMT),
    reserved_must_be_one: policyBit(policy, POLICY_BIT.RESERVED_MUST_BE_ONE),
    migrate_ma: policyBit(policy, POLICY_BIT.MIGRATE_MA),
    debug: policyBit(policy, POLICY_BIT.DEBUG),
    single_socket: policyBit(policy, POLICY_BIT.SINGLE_SOCKET),
    cxl_allowed: policyBit(policy, POLICY_BIT.CXL_ALLOW),
    mem_aes_256_xts: policyBit(policy, POLICY_BIT.MEM_AES_256_XTS),
    rapl_dis: policyBit(policy, POLICY_BIT.RAPL_DIS),
    ciphertext_hiding_dram: policyBit(policy, POLICY_BIT.CIPHERTEXT_HIDING_DRAM),
    page_swap_disable: policyBit(policy, POLICY_BIT.PAGE_SWAP_DISABLE),
    reserved_high_nonzero: policy >> BigInt(POLICY_FIRST_RESERVED_BIT) !== 0n,
  };
}

const fw = (v: FirmwareVersion): string => `${v.major}.${v.minor}.${v.build}`;

export function vekExtensionsClaim(e: VekExtensions): ClaimValue {
  return {
    productName: e.productName,
    blSPL: e.blSPL,
    teeSPL: e.teeSPL,
    snpSPL: e.snpSPL,
    ucodeSPL: e.ucodeSPL,
    fmcSPL: e.fmcSPL,
    hwID: hwIdHex(e),
    cspID: e.cspID,
  };
}

export interface ClaimsContext {
  readonly product: Product;
  readonly vek: VekExtensions;
  readonly arkSha256: string;
}

export function snpClaims(r: SnpReport, ctx: ClaimsContext): Claims {
  const debug = policyBit(r.policy, POLICY_BIT.DEBUG);
  return {
    report_version: r.version,
    product: ctx.product,
    signing_key: r.signingKey,
    measurement: toHex(r.measurement),
    host_data: toHex(r.hostData),
    report_data: toHex(r.reportData),
    vmpl: r.vmpl,
    guest_svn: r.guestSvn,
    policy: policyClaim(r.policy),
    debug,
    // The guest's policy lets the host debug it (decrypt its memory): the same bit as `debug`,
    // under the name the fixtures use.
    debug_allowed: debug,
    chip_id: toHex(r.chipId),
    mask_chip_key: r.maskChipKey ? 1 : 0,
    author_key_en: r.authorKeyEn ? 1 : 0,
    cpuid: r.cpuid === null ? null : { family: r.cpuid.family, model: r.cpuid.model, stepping: r.cpuid.stepping },
    platform_info: u64Hex(r.platformInfo, false),
    reported_tcb: tcbClaim(r.reportedTcb, ctx.product),
    current_tcb: tcbClaim(r.currentTcb, ctx.product),
    committed_tcb: tcbClaim(r.committedTcb, ctx.product),
    launch_tcb: tcbClaim(r.launchTcb, ctx.product),
    current_fw: fw(r.currentFw),
    committed_fw: fw(r.committedFw),
    launch_mit_vector: r.launchMitVector === null ? null : u64Hex(r.launchMitVector),
    current_mit_vector: r.currentMitVector === null ? null : u64Hex(r.currentMitVector),
    id_key_digest: toHex(r.idKeyDigest),
    author_key_digest: toHex(r.authorKeyDigest),
    family_id: toHex(r.familyId),
    image_id: toHex(r.imageId),
    report_id: toHex(r.reportId),
    report_id_ma: toHex(r.reportIdMa),
    vek_extensions: vekExtensionsClaim(ctx.vek),
    ark_sha256: ctx.arkSha256,
  };
}
