/**
 * Intel-style collateral for the simulated platform, in the DcapCollateral bundle layout the
 * verifier reads (attestation/intel/bundle.ts): TCB info v3 (SGX or TDX), QE identity v2, both
 * signed over their exact JSON text by the simulated TCB signing key (raw r ‖ s, hex), and the Root
 * CA and PCK CRLs. Everything is issued fresh at `now` and current for 30 days, as Intel's PCS
 * collateral is (it is reissued about monthly).
 *
 * The documents follow the shapes Intel's PCS serves (member names and order, upper-case hex, dates
 * without fractions) so that a verifier written against real collateral reads these unchanged.
 */
import type { DcapCollateral } from '../../attestation/intel/bundle.ts';
import { issueCrl, type IntelPlatformKeys } from './intel-pki.ts';
import {
  CPU_SVN,
  FMSPC,
  MR_SIGNER_SEAM,
  OLD_CPU_SVN,
  OLD_PCE_SVN,
  OLD_TCB_DATE,
  OLD_TEE_TCB_SVN,
  PCE_ID,
  PCE_SVN,
  QE_ATTRIBUTES_MASK,
  QE_MISCSELECT_MASK,
  SEAM_ATTRIBUTES,
  SGX_QE,
  TCB_DATE,
  TCB_EVALUATION_DATA_NUMBER,
  TD_QE,
  TDX_MODULE_ISVSVN,
  TEE_TCB_SVN,
  type QuotingEnclave,
} from './intel-platform.ts';
import { signRaw } from './intel-quote.ts';

/** How long issued collateral stays current. */
export const COLLATERAL_LIFETIME_MS = 30 * 86_400_000;
/** How far issue dates are set back from `now` (clock skew between enclave and verifier). */
export const CLOCK_SKEW_MS = 5 * 60_000;

const hexUpper = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();
const hexLower = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** ISO 8601 as Intel writes it: whole seconds, no fraction. */
function intelDate(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function components(svns: Uint8Array): { svn: number }[] {
  return Array.from(svns, (svn) => ({ svn }));
}

/** TCB levels, highest first as Intel serves them: the platform's own (UpToDate) and an older one (OutOfDate). */
function tcbLevels(tdx: boolean): object[] {
  const level = (cpuSvn: Uint8Array, pceSvn: number, teeTcbSvn: Uint8Array, tcbDate: string, tcbStatus: string): object => ({
    tcb: {
      sgxtcbcomponents: components(cpuSvn),
      pcesvn: pceSvn,
      ...(tdx ? { tdxtcbcomponents: components(teeTcbSvn) } : {}),
    },
    tcbDate,
    tcbStatus,
  });
  return [level(CPU_SVN, PCE_SVN, TEE_TCB_SVN, TCB_DATE, 'UpToDate'), level(OLD_CPU_SVN, OLD_PCE_SVN, OLD_TEE_TCB_SVN, OLD_TCB_DATE, 'OutOfDate')];
}

/** The `tcbInfo` text (v3). TDX adds the module of TEE_TCB_SVN[1] = 0 (tdxModule) and of version 1 (TDX_01). */
export function tcbInfoText(tee: 'sgx' | 'tdx', issueDate: Date, nextUpdate: Date): string {
  const tdx = tee === 'tdx';
  const module = { mrsigner: hexUpper(MR_SIGNER_SEAM), attributes: hexUpper(SEAM_ATTRIBUTES), attributesMask: 'FFFFFFFFFFFFFFFF' };
  return JSON.stringify({
    id: tdx ? 'TDX' : 'SGX',
    version: 3,
    issueDate: intelDate(issueDate),
    nextUpdate: intelDate(nextUpdate),
    fmspc: hexUpper(FMSPC),
    pceId: hexUpper(PCE_ID),
    tcbType: 0,
    tcbEvaluationDataNumber: TCB_EVALUATION_DATA_NUMBER,
    ...(tdx
      ? {
          tdxModule: module,
          tdxModuleIdentities: [
            {
              id: 'TDX_01',
              ...module,
              tcbLevels: [{ tcb: { isvsvn: TDX_MODULE_ISVSVN }, tcbDate: TCB_DATE, tcbStatus: 'UpToDate' }],
            },
          ],
        }
      : {}),
    tcbLevels: tcbLevels(tdx),
  });
}

/** The `enclaveIdentity` text (v2) of the SGX QE or the TD QE. */
export function qeIdentityText(qe: QuotingEnclave, issueDate: Date, nextUpdate: Date): string {
  return JSON.stringify({
    id: qe.identityId,
    version: 2,
    issueDate: intelDate(issueDate),
    nextUpdate: intelDate(nextUpdate),
    tcbEvaluationDataNumber: TCB_EVALUATION_DATA_NUMBER,
    miscselect: hexUpper(qe.miscSelect),
    miscselectMask: hexUpper(QE_MISCSELECT_MASK),
    attributes: hexUpper(qe.attributes),
    attributesMask: hexUpper(QE_ATTRIBUTES_MASK),
    mrsigner: hexUpper(qe.mrSigner),
    isvprodid: qe.isvProdId,
    tcbLevels: [{ tcb: { isvsvn: qe.isvSvn }, tcbDate: TCB_DATE, tcbStatus: 'UpToDate' }],
  });
}

/**
 * The collateral bundle for a quote of `tee`, issued at `now` - CLOCK_SKEW_MS (rounded down to the second, the
 * resolution of both the JSON dates and the CRL times) and current for COLLATERAL_LIFETIME_MS.
 */
export async function issueCollateral(
  keys: Pick<IntelPlatformKeys, 'root' | 'pckCa' | 'tcbSigning' | 'tcbChainPem' | 'pckCrlChainPem'>,
  tee: 'sgx' | 'tdx',
  now: Date,
  opts: { readonly revokedPckSerials?: readonly string[] } = {},
): Promise<DcapCollateral> {
  // Backdated by CLOCK_SKEW_MS: a gateway on another machine whose clock is a little behind the
  // enclave's must not see the collateral as "not yet valid".
  const t = now.getTime() - CLOCK_SKEW_MS;
  if (!Number.isFinite(t)) throw new Error('collateral issue time is an invalid date');
  const issueDate = new Date(Math.floor(t / 1000) * 1000);
  const nextUpdate = new Date(issueDate.getTime() + COLLATERAL_LIFETIME_MS);
  const tcbInfo = tcbInfoText(tee, issueDate, nextUpdate);
  const qeIdentity = qeIdentityText(tee === 'sgx' ? SGX_QE : TD_QE, issueDate, nextUpdate);
  const [rootCrl, pckCrl] = await Promise.all([issueCrl(keys.root, issueDate, nextUpdate), issueCrl(keys.pckCa, issueDate, nextUpdate, opts.revokedPckSerials)]);
  return {
    pck_crl_issuer_chain: keys.pckCrlChainPem,
    root_ca_crl: hexLower(rootCrl),
    pck_crl: hexLower(pckCrl),
    tcb_info_issuer_chain: keys.tcbChainPem,
    tcb_info: tcbInfo,
    tcb_info_signature: hexLower(signRaw(new TextEncoder().encode(tcbInfo), keys.tcbSigning.key)),
    qe_identity_issuer_chain: keys.tcbChainPem,
    qe_identity: qeIdentity,
    qe_identity_signature: hexLower(signRaw(new TextEncoder().encode(qeIdentity), keys.tcbSigning.key)),
  };
}
