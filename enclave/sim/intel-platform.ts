/**
 * The one simulated Intel platform: its TCB (what the PCK certificate states), its Quoting
 * Enclaves and its TDX module. The PCK certificate, the quotes and the collateral are all built
 * from these values, so they cannot disagree with one another: a verifier that refuses the
 * simulated evidence has found a real difference between the formats, not a typo here.
 */
import { createHash } from 'node:crypto';

/**
 * FMSPC of the simulated platform. Real FMSPCs begin with the CPU family/model/stepping signature;
 * 0xF5 is no Intel family, so a PCS or PCCS lookup by this FMSPC can never return (or be confused
 * with) a real platform's collateral.
 */
export const FMSPC = Uint8Array.from([0xf5, 0x1a, 0x7e, 0x00, 0x00, 0x00]);
export const PCE_ID = Uint8Array.from([0x00, 0x00]);
/** The 16 SGX TCB component SVNs; with TCB type 0 they are also the CPUSVN. */
export const CPU_SVN = Uint8Array.from([5, 5, 2, 2, 3, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0]);
export const PCE_SVN = 13;
/** TCB info of the simulated platform also lists this older level, OutOfDate, as Intel's do. */
export const OLD_CPU_SVN = Uint8Array.from([4, 4, 2, 2, 3, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0]);
export const OLD_PCE_SVN = 11;
/** SGX Type of the PCK certificate: 0 = Standard. */
export const SGX_TYPE = 0;

export const TCB_EVALUATION_DATA_NUMBER = 17;
export const TCB_DATE = '2025-01-15T00:00:00Z';
export const OLD_TCB_DATE = '2023-02-15T00:00:00Z';

/**
 * TEE_TCB_SVN of the TD report: [0] is the TDX module's SVN, [1] its major version (1, so the
 * verifier takes the tdxModuleIdentities path, TDX_01), [2] the TDX late microcode update.
 */
export const TEE_TCB_SVN = Uint8Array.from([3, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
export const OLD_TEE_TCB_SVN = Uint8Array.from([2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
export const TDX_MODULE_ISVSVN = 3;
/** Intel signs its TDX modules with an all-zero MRSIGNERSEAM; the simulated one does the same. */
export const MR_SIGNER_SEAM = new Uint8Array(48);
export const SEAM_ATTRIBUTES = new Uint8Array(8);

function digest(alg: 'sha256' | 'sha384', label: string): Uint8Array {
  return new Uint8Array(createHash(alg).update(`attestgate simulated TEE\u0000intel\u0000${label}`).digest());
}

/** MRSEAM of the simulated TDX module: fixed, it describes the platform, not the workload. */
export const MR_SEAM = digest('sha384', 'MRSEAM');

export interface QuotingEnclave {
  /** `id` of its QE identity. */
  readonly identityId: 'QE' | 'TD_QE';
  readonly mrEnclave: Uint8Array;
  readonly mrSigner: Uint8Array;
  readonly isvProdId: number;
  readonly isvSvn: number;
  /** ATTRIBUTES of the QE report: INIT | PROVISIONKEY, XFRM 0, as Intel's QE reports carry. */
  readonly attributes: Uint8Array;
  readonly miscSelect: Uint8Array;
}

const QE_ATTRIBUTES = Uint8Array.from([0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
/** The mask Intel publishes: every flag but bit 2 (MODE64BIT), XFRM ignored. */
export const QE_ATTRIBUTES_MASK = Uint8Array.from([0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]);
export const QE_MISCSELECT_MASK = Uint8Array.from([0xff, 0xff, 0xff, 0xff]);

/**
 * The SGX QE (ISVPRODID 1) and the TD QE (ISVPRODID 2) follow Intel's numbering; their MRSIGNER is
 * a simulated value, never Intel's, so a real QE identity can never vouch for a simulated QE.
 */
export const SGX_QE: QuotingEnclave = {
  identityId: 'QE',
  mrEnclave: digest('sha256', 'QE MRENCLAVE'),
  mrSigner: digest('sha256', 'QE MRSIGNER'),
  isvProdId: 1,
  isvSvn: 8,
  attributes: QE_ATTRIBUTES,
  miscSelect: new Uint8Array(4),
};

export const TD_QE: QuotingEnclave = {
  identityId: 'TD_QE',
  mrEnclave: digest('sha256', 'TD QE MRENCLAVE'),
  mrSigner: digest('sha256', 'QE MRSIGNER'),
  isvProdId: 2,
  isvSvn: 4,
  attributes: QE_ATTRIBUTES,
  miscSelect: new Uint8Array(4),
};

/** QE authentication data: 32 bytes, as Intel's QE emits (the values are arbitrary). */
export const QE_AUTH_DATA = Uint8Array.from({ length: 32 }, (_, i) => i);
