/**
 * Normalised claims of a verified Intel quote, named as in the fixtures' `expected` objects and
 * the CLI contract (lowercase hex for byte fields).
 */
import { toHex } from '../common/bytes.ts';
import type { Claims } from '../result.ts';
import type { PckExtensions } from './pck.ts';
import type { EnclaveReport, Quote, TdReport } from './parse.ts';

// ATTRIBUTES (16 bytes) and TD_ATTRIBUTES (8 bytes) are copied at their full width by parse.ts.

/** SGX ATTRIBUTES.DEBUG is bit 1 of the first byte: enclave memory is readable by the host. */
export function sgxDebug(report: EnclaveReport): boolean {
  return ((report.attributes[0] as number) & 0x02) !== 0;
}
/** TDX TD_ATTRIBUTES.DEBUG is bit 0: the host VMM can read and alter TD state. */
export function tdxDebug(report: TdReport): boolean {
  return ((report.tdAttributes[0] as number) & 0x01) !== 0;
}
/** TD_ATTRIBUTES.SEPT_VE_DISABLE is bit 28. */
function septVeDisable(report: TdReport): boolean {
  return ((report.tdAttributes[3] as number) & 0x10) !== 0;
}

export function quoteClaims(quote: Quote, pck: PckExtensions, pckCa: string): Claims {
  const common = {
    quote_version: quote.header.version,
    tee_type: quote.header.teeType,
    body_type: quote.bodyType,
    fmspc: toHex(pck.fmspc),
    pce_id: toHex(pck.pceId),
    pck_ca: pckCa,
    pcesvn: pck.pceSvn,
    cpusvn: toHex(pck.cpuSvn),
    qe: {
      isvsvn: quote.qeReport.isvSvn,
      isvprodid: quote.qeReport.isvProdId,
      mrsigner: toHex(quote.qeReport.mrSigner),
    },
  };
  if (quote.body.kind === 'sgx') {
    const r = quote.body.report;
    return {
      ...common,
      mrenclave: toHex(r.mrEnclave),
      mrsigner: toHex(r.mrSigner),
      isvprodid: r.isvProdId,
      isvsvn: r.isvSvn,
      attributes: toHex(r.attributes),
      miscselect: toHex(r.miscSelect),
      configid: toHex(r.configId),
      configsvn: r.configSvn,
      isvextprodid: toHex(r.isvExtProdId),
      isvfamilyid: toHex(r.isvFamilyId),
      debug: sgxDebug(r),
      report_data: toHex(r.reportData),
    };
  }
  const r = quote.body.report;
  return {
    ...common,
    mrtd: toHex(r.mrTd),
    rtmr0: toHex(r.rtmr[0]),
    rtmr1: toHex(r.rtmr[1]),
    rtmr2: toHex(r.rtmr[2]),
    rtmr3: toHex(r.rtmr[3]),
    mrseam: toHex(r.mrSeam),
    mrsignerseam: toHex(r.mrSignerSeam),
    seam_attributes: toHex(r.seamAttributes),
    mrconfigid: toHex(r.mrConfigId),
    mrowner: toHex(r.mrOwner),
    mrownerconfig: toHex(r.mrOwnerConfig),
    tee_tcb_svn: toHex(r.teeTcbSvn),
    ...(r.teeTcbSvn2 !== undefined ? { tee_tcb_svn2: toHex(r.teeTcbSvn2) } : {}),
    ...(r.mrServiceTd !== undefined ? { mrservicetd: toHex(r.mrServiceTd) } : {}),
    td_attributes: toHex(r.tdAttributes),
    xfam: toHex(r.xfam),
    debug: tdxDebug(r),
    sept_ve_disable: septVeDisable(r),
    report_data: toHex(r.reportData),
  };
}
