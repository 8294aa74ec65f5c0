/**
 * TCB appraisal of an Intel DCAP quote whose signatures have already been verified: which TCB
 * level the platform, the QE and (for TDX) the TDX module are at, and the converged status.
 *
 * Semantics follow Intel's Quote Verification Library (SGX-TDX-DCAP-QuoteVerificationLibrary:
 * Verifiers/QuoteVerifier.cpp steps 4.1.2.4.9-4.1.2.4.17, Verifiers/Checks/TcbLevelCheck.cpp,
 * Verifiers/Checks/TdxModuleCheck.cpp, Verifiers/EnclaveReportVerifier.cpp,
 * Verifiers/EnclaveIdentityV2.cpp, Verifiers/TcbStatus.h). Where Phala's dcap-qvl differs from QVL
 * (it compares all 16 TEE_TCB_SVN bytes and merges statuses by severity) we follow QVL.
 *
 * The attacker here controls the quote but not the collateral (its signature is checked first): a
 * platform that claims a TCB it does not have is caught by the PCK certificate and the TD report
 * being signed, so this module's job is to read Intel's verdict exactly, and to fail closed on any
 * verdict or shape it does not understand.
 */
import { VerificationError } from '../errors.ts';
import { equalBytes, toHex } from '../common/bytes.ts';
import { TCB_STATUSES, type IsvTcbLevel, type QeIdentity, type TcbInfo, type TcbLevel, type TcbStatus, type TdxModule, type TdxModuleIdentity } from './collateral.ts';

export type { TcbStatus } from './collateral.ts';

/** From the PCK certificate's SGX extension. */
export interface PckTcb {
  /** The 16 SGX TCB component SVNs (what QVL compares; equals CPUSVN for TCB type 0). */
  readonly cpusvn: Uint8Array;
  readonly pcesvn: number;
  readonly fmspc: Uint8Array;
  readonly pceId: Uint8Array;
}

/** From the QE report in the quote's signature data. */
export interface QeReportIdentity {
  /** 4 bytes, little-endian as in the report. */
  readonly miscselect: Uint8Array;
  readonly attributes: Uint8Array;
  readonly mrsigner: Uint8Array;
  readonly isvprodid: number;
  readonly isvsvn: number;
}

/** From the TD report (TEE_TCB_SVN, MRSIGNERSEAM, SEAMATTRIBUTES). */
export interface TdReportTcb {
  readonly teeTcbSvn: Uint8Array;
  readonly mrSignerSeam: Uint8Array;
  readonly seamAttributes: Uint8Array;
}

export interface TcbEvaluation {
  /** Converged status; never `Revoked` (that is thrown). */
  readonly status: TcbStatus;
  /** Union of the matched platform, QE and TDX module levels' advisory IDs, sorted. */
  readonly advisoryIds: string[];
  /** tcbDate of the matched platform TCB level. */
  readonly tcbDate: string;
  readonly platformStatus: TcbStatus;
  readonly qeStatus: TcbStatus;
  /** Present when a TDX module identity TCB level was evaluated (TEE_TCB_SVN[1] > 0). */
  readonly moduleStatus?: TcbStatus;
}

function mismatch(reason: string, message: string): VerificationError {
  return new VerificationError('ERR_COLLATERAL_MISMATCH', message, { reason });
}

function tcbStatusError(reason: string, message: string): VerificationError {
  return new VerificationError('ERR_TCB_STATUS', message, { reason });
}

function requireBytes(v: Uint8Array, n: number, what: string): void {
  if (!(v instanceof Uint8Array) || v.length !== n) {
    throw new VerificationError('ERR_INVALID_ARGUMENT', `${what} must be a Uint8Array of ${n} bytes`, { reason: 'invalid_argument' });
  }
}

function requireUint(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new VerificationError('ERR_INVALID_ARGUMENT', `${what} must be an integer 0..${max}`, { reason: 'invalid_argument' });
  }
}

function checkInputs(pck: PckTcb, qe: QeReportIdentity): void {
  requireBytes(pck.cpusvn, 16, 'PCK cpusvn');
  requireUint(pck.pcesvn, 0xffff, 'PCK pcesvn');
  requireBytes(pck.fmspc, 6, 'PCK fmspc');
  requireBytes(pck.pceId, 2, 'PCK pceId');
  requireBytes(qe.miscselect, 4, 'QE report MISCSELECT');
  requireBytes(qe.attributes, 16, 'QE report ATTRIBUTES');
  requireBytes(qe.mrsigner, 32, 'QE report MRSIGNER');
  requireUint(qe.isvprodid, 0xffff, 'QE report ISVPRODID');
  requireUint(qe.isvsvn, 0xffff, 'QE report ISVSVN');
}

/** a & mask; a mask shorter than `a` (only possible in hand-built collateral) checks every bit. */
function and(a: Uint8Array, mask: Uint8Array): Uint8Array {
  return a.map((x, i) => x & (mask[i] ?? 0xff));
}

/** QVL 4.1.2.4.10: the collateral must be the one for this platform. */
function checkPlatformIdentity(tcbInfo: TcbInfo, pck: PckTcb): void {
  if (!equalBytes(pck.fmspc, tcbInfo.fmspc)) {
    throw mismatch('fmspc_mismatch', `PCK certificate FMSPC is ${toHex(pck.fmspc)}, want TCB info fmspc ${toHex(tcbInfo.fmspc)}`);
  }
  if (!equalBytes(pck.pceId, tcbInfo.pceId)) {
    throw mismatch('pceid_mismatch', `PCK certificate PCEID is ${toHex(pck.pceId)}, want TCB info pceId ${toHex(tcbInfo.pceId)}`);
  }
}

/**
 * QVL 4.1.2.4.14-15 (EnclaveReportVerifier::verify, EnclaveIdentityV2::getTcbStatus): the QE that
 * signed the quote must be Intel's QE for this TEE, and its ISVSVN selects a QE TCB level.
 */
function evaluateQe(qeIdentity: QeIdentity, wantId: 'QE' | 'TD_QE', qe: QeReportIdentity): IsvTcbLevel {
  if (qeIdentity.id !== wantId) {
    throw mismatch('qe_identity_mismatch', `QE identity id is ${qeIdentity.id}, want ${wantId} for this quote's TEE`);
  }
  // QVL masks the report side only and compares with the identity value as published (so an
  // identity bit outside its own mask can never match); that is at least as strict as masking both.
  const misc = and(qe.miscselect, qeIdentity.miscselectMask);
  if (!equalBytes(misc, qeIdentity.miscselect)) {
    throw mismatch('qe_identity', `QE report MISCSELECT & mask is ${toHex(misc)}, want ${toHex(qeIdentity.miscselect)}`);
  }
  const attrs = and(qe.attributes, qeIdentity.attributesMask);
  if (!equalBytes(attrs, qeIdentity.attributes)) {
    throw mismatch('qe_identity', `QE report ATTRIBUTES & mask is ${toHex(attrs)}, want ${toHex(qeIdentity.attributes)}`);
  }
  if (!equalBytes(qe.mrsigner, qeIdentity.mrsigner)) {
    throw mismatch('qe_identity', `QE report MRSIGNER is ${toHex(qe.mrsigner)}, want ${toHex(qeIdentity.mrsigner)}`);
  }
  if (qe.isvprodid !== qeIdentity.isvprodid) {
    throw mismatch('qe_identity', `QE report ISVPRODID is ${qe.isvprodid}, want ${qeIdentity.isvprodid}`);
  }
  // QVL takes the first level (as served, highest first) with isvsvn <= ISVSVN; picking the
  // highest such level gives the same answer without trusting the order.
  const level = highestIsvLevel(qeIdentity.tcbLevels, qe.isvsvn);
  if (level === undefined) {
    throw tcbStatusError('qe_tcb_not_supported', `QE report ISVSVN ${qe.isvsvn} is below every QE identity TCB level (lowest ${lowestIsvsvn(qeIdentity.tcbLevels)})`);
  }
  // QVL's QE identity knows five statuses (TcbStatus.h parseStringToTcbStatus); the SW hardening
  // ones make it reject the identity, so we refuse them rather than guess their weight.
  if (level.tcbStatus === 'SWHardeningNeeded' || level.tcbStatus === 'ConfigurationAndSWHardeningNeeded') {
    throw tcbStatusError('tcb_status_unknown', `QE identity TCB level ${level.isvsvn} has status ${level.tcbStatus}, which QE identities do not define`);
  }
  return level;
}

function highestIsvLevel(levels: readonly IsvTcbLevel[], isvsvn: number): IsvTcbLevel | undefined {
  let best: IsvTcbLevel | undefined;
  for (const l of levels) if (l.isvsvn <= isvsvn && (best === undefined || l.isvsvn > best.isvsvn)) best = l;
  return best;
}

function lowestIsvsvn(levels: readonly IsvTcbLevel[]): number {
  return Math.min(...levels.map((l) => l.isvsvn));
}

/** Lexicographic comparison of equal-length SVN arrays. */
function compareSvns(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * QVL keeps TCB levels in a std::set ordered by TcbLevel::operator> (SGX component SVNs, then
 * PCESVN, then TDX component SVNs, all descending) and takes the first match in that order, so
 * the served order never matters. We sort the same way rather than trust the JSON order.
 */
export function sortTcbLevels(levels: readonly TcbLevel[]): TcbLevel[] {
  return [...levels].sort(
    (a, b) =>
      compareSvns(b.sgxTcbSvns, a.sgxTcbSvns) ||
      b.pceSvn - a.pceSvn ||
      (a.tdxTcbSvns !== undefined && b.tdxTcbSvns !== undefined ? compareSvns(b.tdxTcbSvns, a.tdxTcbSvns) : 0),
  );
}

function svnsAtLeast(have: Uint8Array, want: Uint8Array, from: number): boolean {
  // Component by component: one lower SVN makes the whole TCB lower (QVL isCpuSvnHigherOrEqual).
  for (let i = from; i < want.length; i++) if ((have[i] as number) < (want[i] as number)) return false;
  return true;
}

/**
 * QVL 4.1.2.4.17.1-3 (matchTcbLevels): the first level whose SGX components and PCESVN the PCK
 * meets and, for TDX, whose TDX components TEE_TCB_SVN meets. When TEE_TCB_SVN[1] (the TDX module
 * major version) is non-zero, bytes 0 and 1 describe the module and are judged by the module
 * identity instead, so only bytes 2..15 are compared (QVL isTdxTcbHigherOrEqual).
 */
function matchPlatformLevel(tcbInfo: TcbInfo, pck: PckTcb, teeTcbSvn: Uint8Array | undefined): TcbLevel {
  const from = teeTcbSvn !== undefined && (teeTcbSvn[1] as number) > 0 ? 2 : 0;
  for (const level of sortTcbLevels(tcbInfo.tcbLevels)) {
    if (!svnsAtLeast(pck.cpusvn, level.sgxTcbSvns, 0) || pck.pcesvn < level.pceSvn) continue;
    if (teeTcbSvn !== undefined) {
      // parseTcbInfo guarantees TDX components on every level of a TDX TCB info; a level without
      // them can never match a TD.
      if (level.tdxTcbSvns === undefined || !svnsAtLeast(teeTcbSvn, level.tdxTcbSvns, from)) continue;
    }
    return level;
  }
  const tdx = teeTcbSvn === undefined ? '' : `, TEE_TCB_SVN ${toHex(teeTcbSvn)}`;
  throw tcbStatusError('tcb_not_supported', `no TCB level matches PCK cpusvn ${toHex(pck.cpusvn)}, pcesvn ${pck.pcesvn}${tdx}`);
}

/**
 * QVL 4.1.2.4.11 (QuoteVerifier::verify): the SEAM module that built the TD must be signed by
 * Intel's TDX module signer. For module version 0 the TCB info's `tdxModule` says who that is;
 * otherwise the matching `tdxModuleIdentities` entry does.
 */
function checkTdxModule(module: TdxModule, what: string, td: TdReportTcb): void {
  if (!equalBytes(td.mrSignerSeam, module.mrsigner)) {
    throw mismatch('tdx_module_mismatch', `TD report MRSIGNERSEAM is ${toHex(td.mrSignerSeam)}, want ${what} mrsigner ${toHex(module.mrsigner)}`);
  }
  const masked = and(td.seamAttributes, module.attributesMask);
  if (!equalBytes(masked, and(module.attributes, module.attributesMask))) {
    throw mismatch('tdx_module_mismatch', `TD report SEAMATTRIBUTES & mask is ${toHex(masked)}, want ${what} attributes ${toHex(module.attributes)}`);
  }
  // QVL 4.1.2.4.11.2 additionally requires every SEAMATTRIBUTES byte to be zero and equal to the
  // published attributes (it ignores the mask): no SEAM attribute is defined for production modules.
  if (!equalBytes(td.seamAttributes, new Uint8Array(8)) || !equalBytes(td.seamAttributes, module.attributes)) {
    throw mismatch('tdx_module_mismatch', `TD report SEAMATTRIBUTES is ${toHex(td.seamAttributes)}, want all zero and equal to ${what} attributes ${toHex(module.attributes)}`);
  }
}

function findModuleIdentity(tcbInfo: TcbInfo, version: number): TdxModuleIdentity {
  // QVL TdxModuleCheck.cpp: "TDX_" + two upper-case hex digits, compared with the upper-cased id.
  const want = `TDX_${version.toString(16).toUpperCase().padStart(2, '0')}`;
  const identity = tcbInfo.tdxModuleIdentities.find((m) => m.id.toUpperCase() === want);
  if (identity === undefined) {
    throw tcbStatusError('tdx_module_identity_not_found', `TCB info has no tdxModuleIdentities entry ${want} for TEE_TCB_SVN[1] = ${version}`);
  }
  return identity;
}

/** QVL checkTdxModuleTcbStatus: module TCB levels are ordered by isvsvn, highest first. */
function matchModuleLevel(identity: TdxModuleIdentity, isvsvn: number): IsvTcbLevel {
  const level = highestIsvLevel(identity.tcbLevels, isvsvn);
  if (level === undefined) {
    throw tcbStatusError('tdx_module_tcb_not_supported', `TEE_TCB_SVN[0] ${isvsvn} is below every ${identity.id} TCB level (lowest ${lowestIsvsvn(identity.tcbLevels)})`);
  }
  // VALID_MODULE_TCB_STATUSES in QVL TcbStatus.h; anything else is STATUS_TCB_UNRECOGNIZED_STATUS.
  if (level.tcbStatus !== 'UpToDate' && level.tcbStatus !== 'OutOfDate' && level.tcbStatus !== 'Revoked') {
    throw tcbStatusError('tcb_status_unknown', `${identity.id} TCB level ${level.isvsvn} has status ${level.tcbStatus}, which TDX module identities do not define`);
  }
  return level;
}

/**
 * QVL convergeTcbStatusWithQeTcbStatus / convergeTcbStatusWithTdxModuleStatus. `other` is the QE or
 * module status; QVL's EnclaveReportVerifier reports every QE status but UpToDate and Revoked as
 * ISVSVN_OUT_OF_DATE, so they all converge as OutOfDate.
 */
export function convergeTcbStatus(platform: TcbStatus, other: TcbStatus): TcbStatus {
  // Parsed collateral only holds known statuses, but a hand-built TcbInfo is not checked at run
  // time, and an unknown verdict must never pass through as if it were one we understood.
  for (const s of [platform, other]) {
    if (!(TCB_STATUSES as readonly string[]).includes(s)) throw tcbStatusError('tcb_status_unknown', `TCB status ${s} is not a known TCB status`);
  }
  if (other === 'Revoked') return 'Revoked';
  if (other === 'UpToDate') return platform;
  switch (platform) {
    case 'UpToDate':
    case 'SWHardeningNeeded':
      return 'OutOfDate';
    case 'ConfigurationNeeded':
    case 'ConfigurationAndSWHardeningNeeded':
      return 'OutOfDateConfigurationNeeded';
    case 'OutOfDate':
    case 'OutOfDateConfigurationNeeded':
    case 'Revoked':
      return platform;
  }
}

function finish(
  platformLevel: TcbLevel,
  qeLevel: IsvTcbLevel,
  moduleLevel: IsvTcbLevel | undefined,
): TcbEvaluation {
  // Module first, then QE, as in QVL checkTcbLevel; the Revoked check after both covers QVL's
  // early return on a revoked TDX TCB, since nothing converges away from Revoked.
  let status = platformLevel.tcbStatus;
  if (moduleLevel !== undefined) status = convergeTcbStatus(status, moduleLevel.tcbStatus);
  status = convergeTcbStatus(status, qeLevel.tcbStatus);
  if (status === 'Revoked') {
    const which = [
      platformLevel.tcbStatus === 'Revoked' ? `platform TCB level ${platformLevel.tcbDate}` : undefined,
      moduleLevel?.tcbStatus === 'Revoked' ? `TDX module TCB level ${moduleLevel.isvsvn}` : undefined,
      qeLevel.tcbStatus === 'Revoked' ? `QE TCB level ${qeLevel.isvsvn}` : undefined,
    ].filter((s) => s !== undefined);
    throw tcbStatusError('tcb_revoked', `TCB is revoked (${which.join(', ')})`);
  }
  const advisories = new Set([...platformLevel.advisoryIds, ...(moduleLevel?.advisoryIds ?? []), ...qeLevel.advisoryIds]);
  const result = {
    status,
    advisoryIds: [...advisories].sort(),
    tcbDate: platformLevel.tcbDate,
    platformStatus: platformLevel.tcbStatus,
    qeStatus: qeLevel.tcbStatus,
  };
  return moduleLevel === undefined ? result : { ...result, moduleStatus: moduleLevel.tcbStatus };
}

/**
 * Appraise an SGX quote's TCB: TCB info for this platform, the QE against its identity, the
 * platform TCB level, and the converged status. Throws VerificationError (ERR_COLLATERAL_MISMATCH
 * or ERR_TCB_STATUS with a per-check reason); a Revoked result is thrown, never returned.
 */
export function evaluateSgxTcb(tcbInfo: TcbInfo, qeIdentity: QeIdentity, pck: PckTcb, qe: QeReportIdentity): TcbEvaluation {
  checkInputs(pck, qe);
  // 1. QVL 4.1.2.4.9: version 2 is SGX-only; version 3 names its TEE.
  if (tcbInfo.version === 3 && tcbInfo.id !== 'SGX') {
    throw mismatch('tcb_info_mismatch', `TCB info id is ${tcbInfo.id}, want SGX for an SGX quote`);
  }
  // 2. QVL 4.1.2.4.10.
  checkPlatformIdentity(tcbInfo, pck);
  // 3. QVL 4.1.2.4.14-15.
  const qeLevel = evaluateQe(qeIdentity, 'QE', qe);
  // 4. QVL 4.1.2.4.17.
  const platformLevel = matchPlatformLevel(tcbInfo, pck, undefined);
  // 5. Convergence.
  return finish(platformLevel, qeLevel, undefined);
}

/**
 * Appraise a TDX quote's TCB: as evaluateSgxTcb, plus the TDX components of the platform level
 * and the TDX module (signer, attributes and, for module versions > 0, its own TCB level).
 */
export function evaluateTdxTcb(tcbInfo: TcbInfo, qeIdentity: QeIdentity, pck: PckTcb, qe: QeReportIdentity, td: TdReportTcb): TcbEvaluation {
  checkInputs(pck, qe);
  requireBytes(td.teeTcbSvn, 16, 'TD report TEE_TCB_SVN');
  requireBytes(td.mrSignerSeam, 48, 'TD report MRSIGNERSEAM');
  requireBytes(td.seamAttributes, 8, 'TD report SEAMATTRIBUTES');
  // 1. QVL 4.1.2.4.9: only a version 3 TDX TCB info describes TDX components and modules.
  if (tcbInfo.version !== 3 || tcbInfo.id !== 'TDX') {
    throw mismatch('tcb_info_mismatch', `TCB info is ${tcbInfo.id} version ${tcbInfo.version}, want TDX version 3 for a TDX quote`);
  }
  // parseTcbInfo requires tdxModule for TDX; a hand-built TcbInfo without it is not one we trust.
  if (tcbInfo.tdxModule === undefined) throw mismatch('tcb_info_mismatch', 'TDX TCB info has no tdxModule');
  // 2. QVL 4.1.2.4.10.
  checkPlatformIdentity(tcbInfo, pck);
  // 3. QVL 4.1.2.4.11: TEE_TCB_SVN[1] is the module major version; 0 means the pre-identity era,
  //    judged by tdxModule alone (QVL checkTdxModuleTcbStatus returns OK for it on v4+ quotes).
  const moduleVersion = td.teeTcbSvn[1] as number;
  let moduleIdentity: TdxModuleIdentity | undefined;
  if (moduleVersion > 0) {
    moduleIdentity = findModuleIdentity(tcbInfo, moduleVersion);
    checkTdxModule(moduleIdentity, `tdxModuleIdentities ${moduleIdentity.id}`, td);
  } else {
    checkTdxModule(tcbInfo.tdxModule, 'tdxModule', td);
  }
  // 4. QVL 4.1.2.4.14-15.
  const qeLevel = evaluateQe(qeIdentity, 'TD_QE', qe);
  // 5. QVL 4.1.2.4.17: platform level (SGX + TDX components), then the module's level.
  const platformLevel = matchPlatformLevel(tcbInfo, pck, td.teeTcbSvn);
  const moduleLevel = moduleIdentity === undefined ? undefined : matchModuleLevel(moduleIdentity, td.teeTcbSvn[0] as number);
  // 6. Convergence.
  return finish(platformLevel, qeLevel, moduleLevel);
}
