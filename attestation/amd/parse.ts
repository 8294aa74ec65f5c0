/**
 * SEV-SNP ATTESTATION_REPORT: bytes -> typed structure. No cryptography and no trust decisions
 * here; only the shape: exact length, known versions, every reserved range zero, and copies of
 * everything kept (the caller's buffer may change after we return).
 *
 * Layout: AMD SEV-SNP Firmware ABI specification (pub. 56860), table "ATTESTATION_REPORT
 * Structure"; v3 (ABI 1.55+) adds CPUID_FAM_ID/MOD_ID/STEP at 0x188-0x18A, v5 (ABI 1.58) the
 * LAUNCH_MIT_VECTOR/CURRENT_MIT_VECTOR at 0x1F8-0x207. Multi-byte fields are little-endian.
 */
import { ByteReader, isAllZero, toHex } from '../common/bytes.ts';
import { VerificationError, malformed } from '../errors.ts';
import type { Product } from './kds.ts';

export const REPORT_SIZE = 0x4a0; // 1184
/** The signature covers bytes [0, SIGNED_END). */
export const SIGNED_END = 0x2a0;
export const SUPPORTED_VERSIONS: readonly number[] = [2, 3, 5];
export const SIG_ALGO_ECDSA_P384_SHA384 = 1;
/** r and s are 72-byte little-endian fields; a P-384 scalar is 48 bytes. */
export const SIG_COMPONENT_SIZE = 72;
export const P384_SIZE = 48;

/** Named offsets of the fields (the field table the negative tests are generated from). */
export const FIELDS = {
  VERSION: { offset: 0x000, size: 4 },
  GUEST_SVN: { offset: 0x004, size: 4 },
  POLICY: { offset: 0x008, size: 8 },
  FAMILY_ID: { offset: 0x010, size: 16 },
  IMAGE_ID: { offset: 0x020, size: 16 },
  VMPL: { offset: 0x030, size: 4 },
  SIGNATURE_ALGO: { offset: 0x034, size: 4 },
  CURRENT_TCB: { offset: 0x038, size: 8 },
  PLATFORM_INFO: { offset: 0x040, size: 8 },
  SIGNER_INFO: { offset: 0x048, size: 4 }, // AUTHOR_KEY_EN, MASK_CHIP_KEY, SIGNING_KEY
  REPORT_DATA: { offset: 0x050, size: 64 },
  MEASUREMENT: { offset: 0x090, size: 48 },
  HOST_DATA: { offset: 0x0c0, size: 32 },
  ID_KEY_DIGEST: { offset: 0x0e0, size: 48 },
  AUTHOR_KEY_DIGEST: { offset: 0x110, size: 48 },
  REPORT_ID: { offset: 0x140, size: 32 },
  REPORT_ID_MA: { offset: 0x160, size: 32 },
  REPORTED_TCB: { offset: 0x180, size: 8 },
  CPUID_FAM_ID: { offset: 0x188, size: 1 }, // v3+
  CPUID_MOD_ID: { offset: 0x189, size: 1 }, // v3+
  CPUID_STEP: { offset: 0x18a, size: 1 }, // v3+
  CHIP_ID: { offset: 0x1a0, size: 64 },
  COMMITTED_TCB: { offset: 0x1e0, size: 8 },
  CURRENT_BUILD: { offset: 0x1e8, size: 1 },
  CURRENT_MINOR: { offset: 0x1e9, size: 1 },
  CURRENT_MAJOR: { offset: 0x1ea, size: 1 },
  COMMITTED_BUILD: { offset: 0x1ec, size: 1 },
  COMMITTED_MINOR: { offset: 0x1ed, size: 1 },
  COMMITTED_MAJOR: { offset: 0x1ee, size: 1 },
  LAUNCH_TCB: { offset: 0x1f0, size: 8 },
  LAUNCH_MIT_VECTOR: { offset: 0x1f8, size: 8 }, // v5
  CURRENT_MIT_VECTOR: { offset: 0x200, size: 8 }, // v5
  SIGNATURE_R: { offset: 0x2a0, size: 72 },
  SIGNATURE_S: { offset: 0x2e8, size: 72 },
} as const;
export type FieldName = keyof typeof FIELDS;

/** Must-be-zero ranges [start, end) per version (the signature's tail after r and s included). */
export function reservedRanges(version: number): readonly (readonly [number, number])[] {
  return [
    [0x04c, 0x050],
    [version >= 3 ? 0x18b : 0x188, 0x1a0],
    [0x1eb, 0x1ec],
    [0x1ef, 0x1f0],
    [version >= 5 ? 0x208 : 0x1f8, SIGNED_END],
    [0x330, REPORT_SIZE],
  ];
}

export type SigningKey = 'VCEK' | 'VLEK' | 'NONE';

export interface Cpuid {
  readonly family: number;
  readonly model: number;
  readonly stepping: number;
}

export interface FirmwareVersion {
  readonly major: number;
  readonly minor: number;
  readonly build: number;
}

export interface SnpReport {
  readonly version: number;
  readonly guestSvn: number;
  readonly policy: bigint;
  readonly familyId: Uint8Array;
  readonly imageId: Uint8Array;
  readonly vmpl: number;
  readonly signatureAlgo: number;
  readonly currentTcb: bigint;
  readonly platformInfo: bigint;
  readonly authorKeyEn: boolean;
  readonly maskChipKey: boolean;
  readonly signingKey: SigningKey;
  readonly reportData: Uint8Array;
  readonly measurement: Uint8Array;
  readonly hostData: Uint8Array;
  readonly idKeyDigest: Uint8Array;
  readonly authorKeyDigest: Uint8Array;
  readonly reportId: Uint8Array;
  readonly reportIdMa: Uint8Array;
  readonly reportedTcb: bigint;
  /** v3+ only; null for v2 (whose bytes there are reserved). */
  readonly cpuid: Cpuid | null;
  readonly chipId: Uint8Array;
  readonly committedTcb: bigint;
  readonly currentFw: FirmwareVersion;
  readonly committedFw: FirmwareVersion;
  readonly launchTcb: bigint;
  /** v5 only. */
  readonly launchMitVector: bigint | null;
  readonly currentMitVector: bigint | null;
  /** The signed bytes [0, 0x2A0) (a copy). */
  readonly signed: Uint8Array;
  /** r and s exactly as in the report: 72 bytes each, little-endian (copies). */
  readonly signatureR: Uint8Array;
  readonly signatureS: Uint8Array;
}

function fail(msg: string, reason = 'malformed_report'): never {
  throw malformed(`SEV-SNP report: ${msg}`, reason);
}

export function parseReport(bytes: Uint8Array): SnpReport {
  // 1. Whole length first: a report is exactly 0x4A0 bytes; truncated or padded input is refused
  //    before any field is read, so no field can be taken from beyond the signed range.
  if (!(bytes instanceof Uint8Array)) fail('report must be a Uint8Array', 'length');
  if (bytes.length !== REPORT_SIZE) {
    fail(`length is 0x${bytes.length.toString(16)} (${bytes.length}) bytes, want 0x${REPORT_SIZE.toString(16)} (${REPORT_SIZE})`, 'length');
  }
  const r = new ByteReader(bytes, 'SEV-SNP report');
  const version = r.u32le('VERSION');
  if (!SUPPORTED_VERSIONS.includes(version)) {
    throw new VerificationError('ERR_EVIDENCE_UNSUPPORTED', `SEV-SNP report: VERSION is 0x${version.toString(16)}, want one of 2, 3, 5`, { reason: 'version' });
  }
  for (const [start, end] of reservedRanges(version)) {
    const slice = bytes.subarray(start, end);
    if (!isAllZero(slice)) {
      fail(`reserved bytes 0x${start.toString(16)}-0x${(end - 1).toString(16)} are ${toHex(slice)}, want all zero`, 'reserved');
    }
  }
  const guestSvn = r.u32le('GUEST_SVN');
  const policy = r.u64le('POLICY');
  const familyId = r.copy(16, 'FAMILY_ID');
  const imageId = r.copy(16, 'IMAGE_ID');
  const vmpl = r.u32le('VMPL');
  const signatureAlgo = r.u32le('SIGNATURE_ALGO');
  const currentTcb = r.u64le('CURRENT_TCB');
  const platformInfo = r.u64le('PLATFORM_INFO');
  const signerInfo = r.u32le('SIGNER_INFO');
  if (signerInfo >>> 5 !== 0) fail(`SIGNER_INFO bits 31:5 are reserved, got 0x${signerInfo.toString(16)}`, 'reserved');
  const keyBits = (signerInfo >>> 2) & 7;
  // SIGNING_KEY: 0 VCEK, 1 VLEK, 7 none (unsigned report); 2-6 are reserved.
  let signingKey: SigningKey;
  if (keyBits === 0) signingKey = 'VCEK';
  else if (keyBits === 1) signingKey = 'VLEK';
  else if (keyBits === 7) signingKey = 'NONE';
  else fail(`SIGNING_KEY is ${keyBits}, values 2-6 are reserved`, 'reserved');
  r.skip(4, 'reserved 0x4C');
  const reportData = r.copy(64, 'REPORT_DATA');
  const measurement = r.copy(48, 'MEASUREMENT');
  const hostData = r.copy(32, 'HOST_DATA');
  const idKeyDigest = r.copy(48, 'ID_KEY_DIGEST');
  const authorKeyDigest = r.copy(48, 'AUTHOR_KEY_DIGEST');
  const reportId = r.copy(32, 'REPORT_ID');
  const reportIdMa = r.copy(32, 'REPORT_ID_MA');
  const reportedTcb = r.u64le('REPORTED_TCB');
  let cpuid: Cpuid | null = null;
  if (version >= 3) {
    cpuid = { family: r.u8('CPUID_FAM_ID'), model: r.u8('CPUID_MOD_ID'), stepping: r.u8('CPUID_STEP') };
    r.skip(0x1a0 - 0x18b, 'reserved 0x18B');
  } else {
    r.skip(0x1a0 - 0x188, 'reserved 0x188');
  }
  const chipId = r.copy(64, 'CHIP_ID');
  const committedTcb = r.u64le('COMMITTED_TCB');
  const cb = r.u8('CURRENT_BUILD');
  const cmi = r.u8('CURRENT_MINOR');
  const cma = r.u8('CURRENT_MAJOR');
  r.skip(1, 'reserved 0x1EB');
  const kb = r.u8('COMMITTED_BUILD');
  const kmi = r.u8('COMMITTED_MINOR');
  const kma = r.u8('COMMITTED_MAJOR');
  r.skip(1, 'reserved 0x1EF');
  const launchTcb = r.u64le('LAUNCH_TCB');
  let launchMitVector: bigint | null = null;
  let currentMitVector: bigint | null = null;
  if (version >= 5) {
    launchMitVector = r.u64le('LAUNCH_MIT_VECTOR');
    currentMitVector = r.u64le('CURRENT_MIT_VECTOR');
  }
  r.skip(SIGNED_END - r.offset, 'reserved up to SIGNATURE');
  const signatureR = r.copy(SIG_COMPONENT_SIZE, 'SIGNATURE.R');
  const signatureS = r.copy(SIG_COMPONENT_SIZE, 'SIGNATURE.S');
  r.skip(r.remaining, 'SIGNATURE reserved');
  return {
    version,
    guestSvn,
    policy,
    familyId,
    imageId,
    vmpl,
    signatureAlgo,
    currentTcb,
    platformInfo,
    authorKeyEn: (signerInfo & 1) !== 0,
    maskChipKey: (signerInfo & 2) !== 0,
    signingKey,
    reportData,
    measurement,
    hostData,
    idKeyDigest,
    authorKeyDigest,
    reportId,
    reportIdMa,
    reportedTcb,
    cpuid,
    chipId,
    committedTcb,
    currentFw: { major: cma, minor: cmi, build: cb },
    committedFw: { major: kma, minor: kmi, build: kb },
    launchTcb,
    launchMitVector,
    currentMitVector,
    signed: bytes.slice(0, SIGNED_END),
    signatureR,
    signatureS,
  };
}

/**
 * The product named by the report's CPUID fields (v3+). Family 19h: extended model 0 Milan,
 * 1 (and Ah, Bergamo/Siena, which KDS serves as Genoa) Genoa; family 1Ah: extended model 0 or 1
 * Turin. Anything else is not a product we know, and the caller must not guess.
 */
export function productOfCpuid(c: Cpuid): Product | undefined {
  const ext = c.model >> 4;
  if (c.family === 0x19) {
    if (ext === 0x0) return 'milan';
    if (ext === 0x1 || ext === 0xa) return 'genoa';
  } else if (c.family === 0x1a) {
    if (ext === 0x0 || ext === 0x1) return 'turin';
  }
  return undefined;
}

/** Guest policy bits (ABI spec, "Guest Policy Structure"). */
export const POLICY_BIT = {
  SMT: 16,
  RESERVED_MUST_BE_ONE: 17,
  MIGRATE_MA: 18,
  DEBUG: 19,
  SINGLE_SOCKET: 20,
  CXL_ALLOW: 21,
  MEM_AES_256_XTS: 22,
  RAPL_DIS: 23,
  CIPHERTEXT_HIDING_DRAM: 24,
  PAGE_SWAP_DISABLE: 25,
} as const;
/** Bits 63:26 are reserved (reported, not refused: a newer firmware may define them). */
export const POLICY_FIRST_RESERVED_BIT = 26;

export function policyBit(policy: bigint, bit: number): boolean {
  return ((policy >> BigInt(bit)) & 1n) === 1n;
}
