/**
 * TCB appraisal: the real fixture cases with the SVNs their quotes carry, and synthetic TCB infos
 * for every matching rule, boundary and convergence row of Intel's QVL.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AttestationError } from '../../../../attestation/errors.ts';
import { fromHex, toHex } from '../../../../attestation/common/bytes.ts';
import {
  parseQeIdentity,
  parseTcbInfo,
  TCB_STATUSES,
  type IsvTcbLevel,
  type QeIdentity,
  type TcbInfo,
  type TcbLevel,
  type TdxModuleIdentity,
} from '../../../../attestation/intel/collateral.ts';
import {
  convergeTcbStatus,
  evaluateSgxTcb,
  evaluateTdxTcb,
  sortTcbLevels,
  type PckTcb,
  type QeReportIdentity,
  type TcbStatus,
  type TdReportTcb,
} from '../../../../attestation/intel/tcb.ts';
import { listCases, readBytes, type FixtureCase } from '../../../helpers/fixtures.ts';
import { errorOf } from '../../../helpers/errors.ts';


function expectError(fn: () => unknown, code: string, reason: string, msg?: string): AttestationError {
  const e = errorOf(fn);
  expect([e.code, e.reason]).toEqual([code, reason]);
  if (msg !== undefined) expect(e.message).toContain(msg);
  return e;
}

// ---------------------------------------------------------------------------------------------
// Real fixtures
// ---------------------------------------------------------------------------------------------

/** Reads the QE report and TD report fields straight from the quote bytes (fixed DCAP offsets). */
function quoteFields(quote: Uint8Array): { qe: QeReportIdentity; td: TdReportTcb | undefined } {
  const dv = new DataView(quote.buffer, quote.byteOffset, quote.byteLength);
  const version = dv.getUint16(0, true);
  const tdx = dv.getUint32(4, true) === 0x81;
  let body = 48;
  let bodyLen = tdx ? 584 : 384;
  if (version === 5) {
    bodyLen = dv.getUint32(50, true);
    body = 54;
  }
  // Signature data: length (4), ISV signature (64), attestation key (64), then either the QE
  // report (v3) or certification data of type 6 whose first field is the QE report (v4/v5).
  let qeOff = body + bodyLen + 4 + 64 + 64;
  if (version >= 4) {
    expect(dv.getUint16(qeOff, true)).toBe(6);
    qeOff += 6;
  }
  const r = quote.subarray(qeOff, qeOff + 384);
  const rv = new DataView(r.buffer, r.byteOffset, r.byteLength);
  const qe = {
    miscselect: r.slice(16, 20),
    attributes: r.slice(48, 64),
    mrsigner: r.slice(128, 160),
    isvprodid: rv.getUint16(256, true),
    isvsvn: rv.getUint16(258, true),
  };
  const td = tdx ? { teeTcbSvn: quote.slice(body, body + 16), mrSignerSeam: quote.slice(body + 64, body + 112), seamAttributes: quote.slice(body + 112, body + 120) } : undefined;
  return { qe, td };
}

interface Expected {
  cpusvn: string;
  pcesvn: number;
  fmspc: string;
  pce_id: string;
  tee_tcb_svn?: string;
  mrsignerseam?: string;
  qe: { isvsvn: number; isvprodid: number; mrsigner: string };
  tcb_status: string | null;
  dcap_only?: { tcb_status: string };
  advisory_ids?: string[];
  verdict: string;
  reason?: string;
}

const genuine = listCases('intel');

/** A derived case's own `expected` plus the SVNs of the genuine case it derives from. */
function expectedOf(c: FixtureCase): Expected {
  const from = c.meta['derived_from'];
  const base = typeof from === 'string' ? genuine.find((g) => from.endsWith(`/${g.name}`)) : undefined;
  return { ...(base?.meta.expected ?? {}), ...c.meta.expected } as unknown as Expected;
}

function evaluateCase(c: FixtureCase): () => ReturnType<typeof evaluateSgxTcb> {
  const e = expectedOf(c);
  const col = JSON.parse(readFileSync(join(c.dir, 'collateral.json'), 'utf8')) as { tcb_info: string; qe_identity: string };
  const tcbInfo = parseTcbInfo(col.tcb_info);
  const qeIdentity = parseQeIdentity(col.qe_identity);
  const { qe, td } = quoteFields(readBytes(c.dir, 'quote.bin'));
  // The quote bytes must agree with the case's own description of them.
  expect([qe.isvsvn, qe.isvprodid, toHex(qe.mrsigner)]).toEqual([e.qe.isvsvn, e.qe.isvprodid, e.qe.mrsigner]);
  const pck: PckTcb = { cpusvn: fromHex(e.cpusvn), pcesvn: e.pcesvn, fmspc: fromHex(e.fmspc), pceId: fromHex(e.pce_id) };
  if (td === undefined) return () => evaluateSgxTcb(tcbInfo, qeIdentity, pck, qe);
  expect(toHex(td.teeTcbSvn)).toBe(e.tee_tcb_svn);
  expect(toHex(td.mrSignerSeam)).toBe(e.mrsignerseam);
  expect(toHex(td.seamAttributes)).toBe('0000000000000000');
  return () => evaluateTdxTcb(tcbInfo, qeIdentity, pck, qe, td);
}

describe('real fixture cases', () => {
  // Every genuine case, plus the derived cases whose collateral and quote are genuine and whose
  // expected verdict is ok (the others fail before TCB appraisal).
  const cases = [...genuine, ...listCases('intel-mutated').filter((c) => c.meta.expected.verdict === 'ok')];

  it('includes every case named in the task', () => {
    expect(cases.map((c) => c.name)).toEqual(
      expect.arrayContaining([
        'sgx-v3-phala-processor-00a067',
        'sgx-v3-automata-processor-00a067-debug',
        'tdx-v4-automata-00806f05',
        'tdx-v4-gotdx-spr-e4-50806f-tcb-unsupported',
        'tdx-v4-phala-b0c06f',
        'tdx-v5-gotdx-90c06f',
      ]),
    );
  });

  for (const c of cases) {
    const e = expectedOf(c);
    const status = e.dcap_only?.tcb_status ?? e.tcb_status;
    if (status === null) {
      it(`${c.name}: ${String(e.reason)}`, () => {
        expectError(evaluateCase(c), 'ERR_TCB_STATUS', e.reason ?? '');
      });
    } else {
      it(`${c.name}: ${status} ${JSON.stringify(e.advisory_ids ?? [])}`, () => {
        const r = evaluateCase(c)();
        expect(r.status).toBe(status);
        if (e.advisory_ids !== undefined) expect(r.advisoryIds).toEqual(e.advisory_ids);
      });
    }
  }

  it('sgx-v3-phala-processor-00a067: the details of the evaluation', () => {
    const c = cases.find((x) => x.name === 'sgx-v3-phala-processor-00a067');
    const r = c === undefined ? undefined : evaluateCase(c)();
    expect(r).toEqual({
      status: 'ConfigurationAndSWHardeningNeeded',
      advisoryIds: ['INTEL-SA-00289', 'INTEL-SA-00615'],
      tcbDate: '2024-03-13T00:00:00Z',
      platformStatus: 'ConfigurationAndSWHardeningNeeded',
      qeStatus: 'UpToDate',
    });
  });

  it('tdx-v4-automata-00806f05: platform OutOfDate, module TDX_01 and QE up to date', () => {
    const c = cases.find((x) => x.name === 'tdx-v4-automata-00806f05');
    const r = c === undefined ? undefined : evaluateCase(c)();
    expect(r).toMatchObject({ status: 'OutOfDate', platformStatus: 'OutOfDate', moduleStatus: 'UpToDate', qeStatus: 'UpToDate', tcbDate: '2023-08-09T00:00:00Z' });
  });

  it('tdx-v4-gotdx-spr-e4-50806f-tcb-unsupported names the SVNs that match no level', () => {
    const c = cases.find((x) => x.name === 'tdx-v4-gotdx-spr-e4-50806f-tcb-unsupported');
    if (c === undefined) throw new Error('fixture missing');
    expectError(evaluateCase(c), 'ERR_TCB_STATUS', 'tcb_not_supported', 'no TCB level matches PCK cpusvn 03030202020100020000000000000000, pcesvn 11, TEE_TCB_SVN 03000400000000000000000000000000');
  });
});

// ---------------------------------------------------------------------------------------------
// Synthetic collateral
// ---------------------------------------------------------------------------------------------

const FMSPC = fromHex('00a067110000');
const PCE_ID = fromHex('0000');
const QE_MRSIGNER = fromHex('8c4f5775d796503e96137f77c68a829a0056ac8ded70140b081b094490c57bff');

/** 16 SVNs from a short prefix (the rest zero). */
function svns(...prefix: number[]): Uint8Array {
  const out = new Uint8Array(16);
  out.set(prefix);
  return out;
}

function level(sgx: number[], pce: number, status: TcbStatus, opts: { tdx?: number[]; adv?: string[]; date?: string } = {}): TcbLevel {
  const date = opts.date ?? '2024-03-13T00:00:00Z';
  return { sgxTcbSvns: svns(...sgx), pceSvn: pce, tdxTcbSvns: opts.tdx === undefined ? undefined : svns(...opts.tdx), tcbDate: date, tcbDateMs: Date.parse(date), tcbStatus: status, advisoryIds: opts.adv ?? [] };
}

function isvLevel(isvsvn: number, status: TcbStatus, adv: string[] = []): IsvTcbLevel {
  return { isvsvn, tcbDate: '2024-03-13T00:00:00Z', tcbDateMs: Date.parse('2024-03-13T00:00:00Z'), tcbStatus: status, advisoryIds: adv };
}

function sgxInfo(levels: TcbLevel[], over: Partial<TcbInfo> = {}): TcbInfo {
  return {
    id: 'SGX',
    version: 3,
    issueDate: 0,
    nextUpdate: 1,
    fmspc: FMSPC,
    pceId: PCE_ID,
    tcbType: 0,
    tcbEvaluationDataNumber: 17,
    tdxModule: undefined,
    tdxModuleIdentities: [],
    tcbLevels: levels,
    ...over,
  };
}

const ZERO48 = new Uint8Array(48);
const SIGNER48 = new Uint8Array(48).fill(0xab);

function moduleIdentity(id: string, levels: IsvTcbLevel[], over: Partial<TdxModuleIdentity> = {}): TdxModuleIdentity {
  return { id, mrsigner: ZERO48, attributes: new Uint8Array(8), attributesMask: new Uint8Array(8).fill(0xff), tcbLevels: levels, ...over };
}

function tdxInfo(levels: TcbLevel[], identities: TdxModuleIdentity[] = [moduleIdentity('TDX_01', [isvLevel(4, 'UpToDate'), isvLevel(2, 'OutOfDate', ['INTEL-SA-01036'])])], over: Partial<TcbInfo> = {}): TcbInfo {
  return sgxInfo(levels, {
    id: 'TDX',
    tdxModule: { mrsigner: ZERO48, attributes: new Uint8Array(8), attributesMask: new Uint8Array(8).fill(0xff) },
    tdxModuleIdentities: identities,
    ...over,
  });
}

function qeIdentity(levels: IsvTcbLevel[] = [isvLevel(8, 'UpToDate'), isvLevel(6, 'OutOfDate', ['INTEL-SA-00615']), isvLevel(5, 'OutOfDate', ['INTEL-SA-00477', 'INTEL-SA-00615'])], over: Partial<QeIdentity> = {}): QeIdentity {
  return {
    id: 'QE',
    version: 2,
    issueDate: 0,
    nextUpdate: 1,
    tcbEvaluationDataNumber: 17,
    miscselect: fromHex('00000000'),
    miscselectMask: fromHex('ffffffff'),
    attributes: fromHex('11000000000000000000000000000000'),
    attributesMask: fromHex('fbffffffffffffff0000000000000000'),
    mrsigner: QE_MRSIGNER,
    isvprodid: 1,
    tcbLevels: levels,
    ...over,
  };
}
const tdQe = (levels?: IsvTcbLevel[], over: Partial<QeIdentity> = {}): QeIdentity => qeIdentity(levels, { id: 'TD_QE', isvprodid: 2, ...over });

function pck(cpusvn: number[], pcesvn: number, over: Partial<PckTcb> = {}): PckTcb {
  return { cpusvn: svns(...cpusvn), pcesvn, fmspc: FMSPC, pceId: PCE_ID, ...over };
}

// The QE report's bits outside the identity masks (attributes bit 2, masked out by FB, and the
// upper 8 bytes) are set on purpose: they must not matter.
function qeReport(over: Partial<QeReportIdentity> = {}): QeReportIdentity {
  return { miscselect: fromHex('00000000'), attributes: fromHex('1500000000000000ffffffffffffffff'), mrsigner: QE_MRSIGNER, isvprodid: 1, isvsvn: 8, ...over };
}
const tdQeReport = (over: Partial<QeReportIdentity> = {}): QeReportIdentity => qeReport({ isvprodid: 2, ...over });

function td(teeTcbSvn: number[], over: Partial<TdReportTcb> = {}): TdReportTcb {
  return { teeTcbSvn: svns(...teeTcbSvn), mrSignerSeam: ZERO48, seamAttributes: new Uint8Array(8), ...over };
}

/** A typical SGX TCB info, best first as Intel serves it. */
const SGX_LEVELS = [
  level([11, 11, 2, 2, 255, 1, 12], 13, 'SWHardeningNeeded', { adv: ['INTEL-SA-00615'], date: '2024-03-13T00:00:00Z' }),
  level([11, 11, 2, 2, 255, 1, 0], 13, 'ConfigurationAndSWHardeningNeeded', { adv: ['INTEL-SA-00289', 'INTEL-SA-00615'], date: '2024-03-13T00:00:00Z' }),
  level([10, 10, 2, 2, 255, 1, 12], 13, 'OutOfDate', { adv: ['INTEL-SA-00828', 'INTEL-SA-00615'], date: '2023-08-09T00:00:00Z' }),
  level([5, 5, 2, 2, 255, 1, 0], 5, 'OutOfDate', { adv: ['INTEL-SA-00106'], date: '2018-01-04T00:00:00Z' }),
];

describe('SGX platform TCB level', () => {
  it('matches a level whose SVNs equal the PCK exactly (>= is inclusive)', () => {
    const r = evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(), pck([11, 11, 2, 2, 255, 1, 12], 13), qeReport());
    expect(r).toEqual({ status: 'SWHardeningNeeded', advisoryIds: ['INTEL-SA-00615'], tcbDate: '2024-03-13T00:00:00Z', platformStatus: 'SWHardeningNeeded', qeStatus: 'UpToDate' });
  });

  it('one component one below the level falls through to the next level', () => {
    const r = evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(), pck([11, 11, 2, 2, 255, 1, 11], 13), qeReport());
    expect(r.platformStatus).toBe('ConfigurationAndSWHardeningNeeded');
  });

  it('the last component counts too', () => {
    const levels = [level([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2], 1, 'UpToDate'), level([1], 1, 'OutOfDate')];
    expect(evaluateSgxTcb(sgxInfo(levels), qeIdentity(), pck([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 1), qeReport()).status).toBe('OutOfDate');
  });

  it('PCESVN one below the level falls through; equal matches', () => {
    const levels = [level([1], 11, 'UpToDate'), level([1], 10, 'OutOfDate')];
    expect(evaluateSgxTcb(sgxInfo(levels), qeIdentity(), pck([1], 11), qeReport()).status).toBe('UpToDate');
    expect(evaluateSgxTcb(sgxInfo(levels), qeIdentity(), pck([1], 10), qeReport()).status).toBe('OutOfDate');
  });

  it('higher components than any level match the best level', () => {
    expect(evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(), pck([255, 255, 255, 255, 255, 255, 255], 65535), qeReport()).status).toBe('SWHardeningNeeded');
  });

  it('no matching level: tcb_not_supported, naming the SVNs', () => {
    expectError(() => evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(), pck([5, 5, 2, 2, 255, 1], 4), qeReport()), 'ERR_TCB_STATUS', 'tcb_not_supported', 'no TCB level matches PCK cpusvn 05050202ff0100000000000000000000, pcesvn 4');
    const e = errorOf(() => evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(), pck([4, 5, 2, 2, 255, 1], 13), qeReport()));
    expect(e.message).toBe('no TCB level matches PCK cpusvn 04050202ff0100000000000000000000, pcesvn 13');
  });

  it('does not depend on the order the levels are served in', () => {
    const shuffled = [SGX_LEVELS[2], SGX_LEVELS[0], SGX_LEVELS[3], SGX_LEVELS[1]].filter((l) => l !== undefined);
    for (const levels of [SGX_LEVELS, [...SGX_LEVELS].reverse(), shuffled]) {
      expect(evaluateSgxTcb(sgxInfo(levels), qeIdentity(), pck([11, 11, 2, 2, 255, 1, 0], 13), qeReport()).platformStatus).toBe('ConfigurationAndSWHardeningNeeded');
      expect(evaluateSgxTcb(sgxInfo(levels), qeIdentity(), pck([10, 10, 2, 2, 255, 1, 12], 13), qeReport()).platformStatus).toBe('OutOfDate');
    }
  });

  it("orders levels as QVL's TcbLevel::operator> does (SGX SVNs, then PCESVN, then TDX SVNs, descending)", () => {
    // Two incomparable levels: QVL's lexicographic order puts [3,1] before [2,2], whatever the JSON says.
    const a = level([2, 2], 1, 'UpToDate');
    const b = level([3, 1], 1, 'OutOfDate');
    expect(evaluateSgxTcb(sgxInfo([a, b]), qeIdentity(), pck([3, 2], 1), qeReport()).platformStatus).toBe('OutOfDate');
    expect(evaluateSgxTcb(sgxInfo([b, a]), qeIdentity(), pck([3, 2], 1), qeReport()).platformStatus).toBe('OutOfDate');
    const t1 = level([1], 5, 'UpToDate', { tdx: [1, 0, 3] });
    const t2 = level([1], 5, 'OutOfDate', { tdx: [1, 0, 2] });
    const t3 = level([1], 6, 'OutOfDate', { tdx: [0] });
    const t4 = level([2], 1, 'OutOfDate', { tdx: [0] });
    expect(sortTcbLevels([t2, t3, t1, t4])).toEqual([t4, t3, t1, t2]);
  });

  it('hand-built duplicates keep their served order (parseTcbInfo rejects them)', () => {
    const a = level([1], 1, 'UpToDate');
    const b = level([1], 1, 'OutOfDate');
    expect(sortTcbLevels([a, b])).toEqual([a, b]);
    expect(sortTcbLevels([b, a])).toEqual([b, a]);
  });

  it('accepts TCB info version 2 for an SGX quote', () => {
    expect(evaluateSgxTcb(sgxInfo(SGX_LEVELS, { version: 2 }), qeIdentity(), pck([11, 11, 2, 2, 255, 1, 0], 13), qeReport()).status).toBe('ConfigurationAndSWHardeningNeeded');
  });

  it('tcbDate is that of the matched platform level', () => {
    expect(evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(), pck([10, 10, 2, 2, 255, 1, 12], 13), qeReport()).tcbDate).toBe('2023-08-09T00:00:00Z');
  });
});

describe('collateral must fit the quote', () => {
  it('SGX quote with TDX TCB info: tcb_info_mismatch', () => {
    expectError(() => evaluateSgxTcb(tdxInfo([level([1], 1, 'UpToDate', { tdx: [0] })]), qeIdentity(), pck([1], 1), qeReport()), 'ERR_COLLATERAL_MISMATCH', 'tcb_info_mismatch', 'TCB info id is TDX, want SGX');
  });
  it('TDX quote with SGX TCB info (v3 or v2): tcb_info_mismatch', () => {
    for (const version of [2, 3] as const) {
      expectError(() => evaluateTdxTcb(sgxInfo(SGX_LEVELS, { version }), tdQe(), pck([11, 11, 2, 2, 255, 1, 12], 13), tdQeReport(), td([1, 0])), 'ERR_COLLATERAL_MISMATCH', 'tcb_info_mismatch', `TCB info is SGX version ${version}, want TDX version 3`);
    }
  });
  it('TDX quote with a TDX TCB info claiming version 2: tcb_info_mismatch', () => {
    expectError(() => evaluateTdxTcb(tdxInfo([level([1], 1, 'UpToDate', { tdx: [0] })], [], { version: 2 }), tdQe(), pck([1], 1), tdQeReport(), td([0])), 'ERR_COLLATERAL_MISMATCH', 'tcb_info_mismatch');
  });
  it('TDX TCB info without tdxModule (hand-built): tcb_info_mismatch', () => {
    expectError(() => evaluateTdxTcb(tdxInfo([level([1], 1, 'UpToDate', { tdx: [0] })], [], { tdxModule: undefined }), tdQe(), pck([1], 1), tdQeReport(), td([0])), 'ERR_COLLATERAL_MISMATCH', 'tcb_info_mismatch', 'no tdxModule');
  });
  it('FMSPC differs: fmspc_mismatch with got/want', () => {
    expectError(() => evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(), pck([11], 13, { fmspc: fromHex('00a067110001') }), qeReport()), 'ERR_COLLATERAL_MISMATCH', 'fmspc_mismatch', 'PCK certificate FMSPC is 00a067110001, want TCB info fmspc 00a067110000');
  });
  it('PCEID differs: pceid_mismatch', () => {
    expectError(() => evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(), pck([11], 13, { pceId: fromHex('0100') }), qeReport()), 'ERR_COLLATERAL_MISMATCH', 'pceid_mismatch', 'PCK certificate PCEID is 0100, want TCB info pceId 0000');
  });
  it('QE identity for the other TEE: qe_identity_mismatch', () => {
    expectError(() => evaluateSgxTcb(sgxInfo(SGX_LEVELS), tdQe(), pck([11], 13), qeReport()), 'ERR_COLLATERAL_MISMATCH', 'qe_identity_mismatch', 'QE identity id is TD_QE, want QE');
    expectError(() => evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(undefined, { id: 'QVE' }), pck([11], 13), qeReport()), 'ERR_COLLATERAL_MISMATCH', 'qe_identity_mismatch', 'QE identity id is QVE, want QE');
    expectError(() => evaluateTdxTcb(tdxInfo([level([1], 1, 'UpToDate', { tdx: [0] })]), qeIdentity(), pck([1], 1), qeReport(), td([0])), 'ERR_COLLATERAL_MISMATCH', 'qe_identity_mismatch', 'want TD_QE');
  });
});

describe('QE identity', () => {
  const run = (id: QeIdentity, report: QeReportIdentity) => evaluateSgxTcb(sgxInfo(SGX_LEVELS), id, pck([11, 11, 2, 2, 255, 1, 12], 13), report);

  it('MISCSELECT bit inside the mask: qe_identity', () => {
    expectError(() => run(qeIdentity(), qeReport({ miscselect: fromHex('01000000') })), 'ERR_COLLATERAL_MISMATCH', 'qe_identity', 'QE report MISCSELECT & mask is 01000000, want 00000000');
  });
  it('MISCSELECT bit outside the mask is ignored', () => {
    expect(run(qeIdentity(undefined, { miscselectMask: fromHex('feffffff') }), qeReport({ miscselect: fromHex('01000000') })).status).toBe('SWHardeningNeeded');
  });
  it('ATTRIBUTES bit inside the mask: qe_identity', () => {
    expectError(() => run(qeIdentity(), qeReport({ attributes: fromHex('13000000000000000000000000000000') })), 'ERR_COLLATERAL_MISMATCH', 'qe_identity', 'QE report ATTRIBUTES & mask is 13000000000000000000000000000000, want 11000000000000000000000000000000');
  });
  it('ATTRIBUTES required bit missing: qe_identity', () => {
    expectError(() => run(qeIdentity(), qeReport({ attributes: fromHex('01000000000000000000000000000000') })), 'ERR_COLLATERAL_MISMATCH', 'qe_identity', 'ATTRIBUTES');
  });
  it('ATTRIBUTES bit 2 (masked out by FB) is ignored', () => {
    expect(run(qeIdentity(), qeReport({ attributes: fromHex('15000000000000000000000000000000') })).status).toBe('SWHardeningNeeded');
  });
  it('an identity value outside its own mask never matches (QVL compares the unmasked identity)', () => {
    expectError(() => run(qeIdentity(undefined, { attributes: fromHex('11000000000000000000000000000001') }), qeReport({ attributes: fromHex('11000000000000000000000000000001') })), 'ERR_COLLATERAL_MISMATCH', 'qe_identity');
    expectError(() => run(qeIdentity(undefined, { miscselect: fromHex('01000000'), miscselectMask: fromHex('00000000') }), qeReport({ miscselect: fromHex('01000000') })), 'ERR_COLLATERAL_MISMATCH', 'qe_identity', 'MISCSELECT');
  });
  it('a mask shorter than the field (hand-built identity) checks every bit it does not cover', () => {
    expectError(() => run(qeIdentity(undefined, { attributesMask: fromHex('fbffffff') }), qeReport()), 'ERR_COLLATERAL_MISMATCH', 'qe_identity', 'ATTRIBUTES & mask is 1100000000000000ffffffffffffffff');
  });
  it('MRSIGNER differs: qe_identity with got/want in hex', () => {
    const other = new Uint8Array(32).fill(0xcd);
    expectError(() => run(qeIdentity(), qeReport({ mrsigner: other })), 'ERR_COLLATERAL_MISMATCH', 'qe_identity', `QE report MRSIGNER is ${'cd'.repeat(32)}, want ${toHex(QE_MRSIGNER)}`);
  });
  it('ISVPRODID differs: qe_identity', () => {
    expectError(() => run(qeIdentity(), qeReport({ isvprodid: 2 })), 'ERR_COLLATERAL_MISMATCH', 'qe_identity', 'QE report ISVPRODID is 2, want 1');
  });
  it('QE TCB level: exact boundary and the level below', () => {
    expect(run(qeIdentity(), qeReport({ isvsvn: 8 })).qeStatus).toBe('UpToDate');
    expect(run(qeIdentity(), qeReport({ isvsvn: 7 })).qeStatus).toBe('OutOfDate');
    expect(run(qeIdentity(), qeReport({ isvsvn: 5 })).advisoryIds).toEqual(['INTEL-SA-00477', 'INTEL-SA-00615']);
    expect(run(qeIdentity(), qeReport({ isvsvn: 65535 })).qeStatus).toBe('UpToDate');
  });
  it('QE ISVSVN below every level: qe_tcb_not_supported', () => {
    expectError(() => run(qeIdentity(), qeReport({ isvsvn: 4 })), 'ERR_TCB_STATUS', 'qe_tcb_not_supported', 'QE report ISVSVN 4 is below every QE identity TCB level (lowest 5)');
  });
  it('picks the highest level <= ISVSVN whatever the served order', () => {
    const unordered = [isvLevel(5, 'OutOfDate', ['A']), isvLevel(8, 'UpToDate'), isvLevel(6, 'OutOfDate', ['B'])];
    expect(run(qeIdentity(unordered), qeReport({ isvsvn: 7 })).advisoryIds).toEqual(['B', 'INTEL-SA-00615']);
    expect(run(qeIdentity(unordered), qeReport({ isvsvn: 9 })).qeStatus).toBe('UpToDate');
  });
  it.each(['SWHardeningNeeded', 'ConfigurationAndSWHardeningNeeded'] as const)('QE level status %s (undefined for QE identities in QVL): tcb_status_unknown', (s) => {
    expectError(() => run(qeIdentity([isvLevel(8, s)]), qeReport()), 'ERR_TCB_STATUS', 'tcb_status_unknown', `QE identity TCB level 8 has status ${s}`);
  });
});

describe('TDX platform TCB level and the TEE_TCB_SVN[1] rule', () => {
  const levels = [
    level([2, 2, 2, 2, 3, 1, 0, 5], 11, 'UpToDate', { tdx: [5, 0, 2] }),
    level([2, 2, 2, 2, 3, 1, 0, 5], 5, 'OutOfDate', { tdx: [5, 0, 2], adv: ['INTEL-SA-00106'] }),
  ];
  const p = pck([3, 3, 2, 2, 4, 1, 0, 5], 11);

  it('TEE_TCB_SVN[1] > 0: bytes 0 and 1 are skipped, so a lower byte 0 still matches (UpToDate)', () => {
    // Byte 0 (module SVN 3) is below the level's 5, but the module identity judges it instead.
    const r = evaluateTdxTcb(tdxInfo(levels, [moduleIdentity('TDX_01', [isvLevel(3, 'UpToDate')])]), tdQe(), p, tdQeReport(), td([3, 1, 2]));
    expect(r).toEqual({ status: 'UpToDate', advisoryIds: [], tcbDate: '2024-03-13T00:00:00Z', platformStatus: 'UpToDate', qeStatus: 'UpToDate', moduleStatus: 'UpToDate' });
  });

  it('counterpart with TEE_TCB_SVN[1] == 0: all 16 bytes compared, byte 0 too low, no level matches', () => {
    expectError(() => evaluateTdxTcb(tdxInfo(levels), tdQe(), p, tdQeReport(), td([3, 0, 2])), 'ERR_TCB_STATUS', 'tcb_not_supported', 'TEE_TCB_SVN 03000200000000000000000000000000');
  });

  it('TEE_TCB_SVN[1] > 0 also skips byte 1', () => {
    const l = [level([1], 1, 'UpToDate', { tdx: [0, 9, 1] })];
    expect(evaluateTdxTcb(tdxInfo(l), tdQe(), pck([1], 1), tdQeReport(), td([4, 1, 1])).platformStatus).toBe('UpToDate');
  });

  it('bytes 2..15 still count when TEE_TCB_SVN[1] > 0 (exact boundary and one below)', () => {
    const l = [level([1], 1, 'UpToDate', { tdx: [0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7] }), level([1], 1, 'OutOfDate', { tdx: [0, 0, 2] })];
    const at = (last: number) => evaluateTdxTcb(tdxInfo(l), tdQe(), pck([1], 1), tdQeReport(), td([4, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last]));
    expect(at(7).platformStatus).toBe('UpToDate');
    expect(at(6).platformStatus).toBe('OutOfDate');
  });

  it('TEE_TCB_SVN[1] == 0 with all bytes high enough matches, and no module level is evaluated', () => {
    const r = evaluateTdxTcb(tdxInfo(levels, []), tdQe(), p, tdQeReport(), td([5, 0, 2]));
    expect(r.status).toBe('UpToDate');
    expect('moduleStatus' in r).toBe(false);
  });

  it('a TDX level below the TD falls through to the next level', () => {
    const l = [level([1], 1, 'UpToDate', { tdx: [0, 0, 3] }), level([1], 1, 'OutOfDate', { tdx: [0, 0, 2], adv: ['X'] })];
    expect(evaluateTdxTcb(tdxInfo(l), tdQe(), pck([1], 1), tdQeReport(), td([4, 1, 2]))).toMatchObject({ status: 'OutOfDate', advisoryIds: ['X'] });
  });

  it('SGX components and PCESVN still gate TDX levels', () => {
    expect(evaluateTdxTcb(tdxInfo(levels), tdQe(), pck([3, 3, 2, 2, 4, 1, 0, 5], 10), tdQeReport(), td([5, 1, 2])).platformStatus).toBe('OutOfDate');
    expectError(() => evaluateTdxTcb(tdxInfo(levels), tdQe(), pck([3, 3, 2, 2, 4, 1, 0, 4], 11), tdQeReport(), td([5, 1, 2])), 'ERR_TCB_STATUS', 'tcb_not_supported');
  });

  it('a hand-built TDX level without TDX components never matches', () => {
    expectError(() => evaluateTdxTcb(tdxInfo([level([1], 1, 'UpToDate')]), tdQe(), pck([1], 1), tdQeReport(), td([1, 0])), 'ERR_TCB_STATUS', 'tcb_not_supported');
  });
});

describe('TDX module', () => {
  const levels = [level([1], 1, 'UpToDate', { tdx: [0, 0, 1] })];
  const run = (info: TcbInfo, t: TdReportTcb) => evaluateTdxTcb(info, tdQe(), pck([1], 1), tdQeReport(), t);

  it('finds TDX_%02X (upper-case hex) and matches ids case-insensitively', () => {
    const ids = [moduleIdentity('TDX_01', [isvLevel(0, 'Revoked')]), moduleIdentity('tdx_0a', [isvLevel(3, 'UpToDate', ['M'])]), moduleIdentity('TDX_10', [isvLevel(0, 'Revoked')])];
    expect(run(tdxInfo(levels, ids), td([3, 0x0a, 1]))).toMatchObject({ moduleStatus: 'UpToDate', advisoryIds: ['M'] });
    expect(() => run(tdxInfo(levels, ids), td([3, 0x10, 1]))).toThrow(/revoked/);
  });

  it('no identity for the module version: tdx_module_identity_not_found', () => {
    expectError(() => run(tdxInfo(levels), td([3, 3, 1])), 'ERR_TCB_STATUS', 'tdx_module_identity_not_found', 'TCB info has no tdxModuleIdentities entry TDX_03 for TEE_TCB_SVN[1] = 3');
    expectError(() => run(tdxInfo(levels, []), td([3, 0xff, 1])), 'ERR_TCB_STATUS', 'tdx_module_identity_not_found', 'TDX_FF');
  });

  it('module TCB level: exact boundary, level below, and below every level', () => {
    const ids = [moduleIdentity('TDX_01', [isvLevel(2, 'OutOfDate', ['INTEL-SA-01036']), isvLevel(6, 'UpToDate')])];
    expect(run(tdxInfo(levels, ids), td([6, 1, 1])).moduleStatus).toBe('UpToDate');
    expect(run(tdxInfo(levels, ids), td([5, 1, 1]))).toMatchObject({ moduleStatus: 'OutOfDate', status: 'OutOfDate', advisoryIds: ['INTEL-SA-01036'] });
    expect(run(tdxInfo(levels, ids), td([2, 1, 1])).moduleStatus).toBe('OutOfDate');
    expectError(() => run(tdxInfo(levels, ids), td([1, 1, 1])), 'ERR_TCB_STATUS', 'tdx_module_tcb_not_supported', 'TEE_TCB_SVN[0] 1 is below every TDX_01 TCB level (lowest 2)');
  });

  it.each(['SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDateConfigurationNeeded'] as const)(
    'module level status %s (not a module status in QVL): tcb_status_unknown',
    (s) => {
      expectError(() => run(tdxInfo(levels, [moduleIdentity('TDX_01', [isvLevel(0, s)])]), td([1, 1, 1])), 'ERR_TCB_STATUS', 'tcb_status_unknown', `TDX_01 TCB level 0 has status ${s}`);
    },
  );

  it('module identity MRSIGNER must equal MRSIGNERSEAM', () => {
    const ids = [moduleIdentity('TDX_01', [isvLevel(0, 'UpToDate')], { mrsigner: SIGNER48 })];
    expectError(() => run(tdxInfo(levels, ids), td([1, 1, 1])), 'ERR_COLLATERAL_MISMATCH', 'tdx_module_mismatch', `TD report MRSIGNERSEAM is ${'00'.repeat(48)}, want tdxModuleIdentities TDX_01 mrsigner ${'ab'.repeat(48)}`);
    expect(run(tdxInfo(levels, ids), td([1, 1, 1], { mrSignerSeam: SIGNER48 })).status).toBe('UpToDate');
  });

  it('module version 0: tdxModule MRSIGNER is checked instead', () => {
    const info = tdxInfo(levels, [], { tdxModule: { mrsigner: SIGNER48, attributes: new Uint8Array(8), attributesMask: new Uint8Array(8).fill(0xff) } });
    expectError(() => run(info, td([1, 0, 1])), 'ERR_COLLATERAL_MISMATCH', 'tdx_module_mismatch', 'want tdxModule mrsigner abab');
    expect(run(info, td([1, 0, 1], { mrSignerSeam: SIGNER48 })).status).toBe('UpToDate');
  });

  it('module version > 0 uses the identity, not tdxModule', () => {
    const info = tdxInfo(levels, [moduleIdentity('TDX_01', [isvLevel(0, 'UpToDate')])], { tdxModule: { mrsigner: SIGNER48, attributes: new Uint8Array(8), attributesMask: new Uint8Array(8).fill(0xff) } });
    expect(run(info, td([1, 1, 1])).status).toBe('UpToDate');
  });

  it('SEAMATTRIBUTES under the mask must equal the attributes', () => {
    const ids = [moduleIdentity('TDX_01', [isvLevel(0, 'UpToDate')])];
    expectError(() => run(tdxInfo(levels, ids), td([1, 1, 1], { seamAttributes: fromHex('0100000000000000') })), 'ERR_COLLATERAL_MISMATCH', 'tdx_module_mismatch', 'TD report SEAMATTRIBUTES & mask is 0100000000000000, want tdxModuleIdentities TDX_01 attributes 0000000000000000');
    expectError(() => run(tdxInfo(levels, []), td([1, 0, 1], { seamAttributes: fromHex('0000000000000080') })), 'ERR_COLLATERAL_MISMATCH', 'tdx_module_mismatch', 'want tdxModule attributes');
  });

  it('SEAMATTRIBUTES must be zero even outside the mask (QVL 4.1.2.4.11.2)', () => {
    const ids = [moduleIdentity('TDX_01', [isvLevel(0, 'UpToDate')], { attributesMask: fromHex('00ffffffffffffff') })];
    expectError(() => run(tdxInfo(levels, ids), td([1, 1, 1], { seamAttributes: fromHex('0100000000000000') })), 'ERR_COLLATERAL_MISMATCH', 'tdx_module_mismatch', 'want all zero');
  });

  it('attributes Intel publishes as non-zero can never match (QVL requires zero and equal)', () => {
    const ids = [moduleIdentity('TDX_01', [isvLevel(0, 'UpToDate')], { attributes: fromHex('0100000000000000'), attributesMask: fromHex('0000000000000000') })];
    expectError(() => run(tdxInfo(levels, ids), td([1, 1, 1])), 'ERR_COLLATERAL_MISMATCH', 'tdx_module_mismatch', 'want all zero and equal');
  });
});

describe('status convergence (QVL convergeTcbStatusWithQeTcbStatus / ...WithTdxModuleStatus)', () => {
  // [platform, other (QE or module), converged]
  const ROWS: [TcbStatus, TcbStatus, TcbStatus][] = [
    ['UpToDate', 'UpToDate', 'UpToDate'],
    ['SWHardeningNeeded', 'UpToDate', 'SWHardeningNeeded'],
    ['ConfigurationNeeded', 'UpToDate', 'ConfigurationNeeded'],
    ['ConfigurationAndSWHardeningNeeded', 'UpToDate', 'ConfigurationAndSWHardeningNeeded'],
    ['OutOfDate', 'UpToDate', 'OutOfDate'],
    ['OutOfDateConfigurationNeeded', 'UpToDate', 'OutOfDateConfigurationNeeded'],
    ['Revoked', 'UpToDate', 'Revoked'],
    ['UpToDate', 'OutOfDate', 'OutOfDate'],
    ['SWHardeningNeeded', 'OutOfDate', 'OutOfDate'],
    ['ConfigurationNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded'],
    ['ConfigurationAndSWHardeningNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded'],
    ['OutOfDate', 'OutOfDate', 'OutOfDate'],
    ['OutOfDateConfigurationNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded'],
    ['Revoked', 'OutOfDate', 'Revoked'],
    ...TCB_STATUSES.map((s): [TcbStatus, TcbStatus, TcbStatus] => [s, 'Revoked', 'Revoked']),
    // QVL's EnclaveReportVerifier reports every QE status but UpToDate and Revoked as out of date.
    ['UpToDate', 'ConfigurationNeeded', 'OutOfDate'],
    ['ConfigurationNeeded', 'ConfigurationNeeded', 'OutOfDateConfigurationNeeded'],
    ['UpToDate', 'OutOfDateConfigurationNeeded', 'OutOfDate'],
    ['SWHardeningNeeded', 'OutOfDateConfigurationNeeded', 'OutOfDate'],
    ['ConfigurationAndSWHardeningNeeded', 'OutOfDateConfigurationNeeded', 'OutOfDateConfigurationNeeded'],
  ];

  it.each(ROWS)('convergeTcbStatus(%s, %s) = %s', (platform, other, want) => {
    expect(convergeTcbStatus(platform, other)).toBe(want);
  });

  it('rejects a status outside the union (hand-built data)', () => {
    expectError(() => convergeTcbStatus('Bogus' as TcbStatus, 'OutOfDate'), 'ERR_TCB_STATUS', 'tcb_status_unknown', 'TCB status Bogus is not a known TCB status');
  });

  const qeStatuses = ['UpToDate', 'OutOfDate', 'ConfigurationNeeded', 'OutOfDateConfigurationNeeded', 'Revoked'] as const;
  for (const [platform, other, want] of ROWS.filter(([, o]) => (qeStatuses as readonly string[]).includes(o))) {
    it(`SGX end to end: platform ${platform} + QE ${other} = ${want}`, () => {
      const info = sgxInfo([level([1], 1, platform, { adv: ['P'] })]);
      const qeId = qeIdentity([isvLevel(8, other, ['Q'])]);
      const eval_ = () => evaluateSgxTcb(info, qeId, pck([1], 1), qeReport());
      if (want === 'Revoked') {
        expectError(eval_, 'ERR_TCB_STATUS', 'tcb_revoked', 'TCB is revoked');
      } else {
        expect(eval_()).toEqual({ status: want, advisoryIds: ['P', 'Q'], tcbDate: '2024-03-13T00:00:00Z', platformStatus: platform, qeStatus: other });
      }
    });
  }

  const moduleStatuses = ['UpToDate', 'OutOfDate', 'Revoked'] as const;
  for (const [platform, other, want] of ROWS.filter(([, o]) => (moduleStatuses as readonly string[]).includes(o))) {
    it(`TDX end to end: platform ${platform} + module ${other} = ${want}`, () => {
      const info = tdxInfo([level([1], 1, platform, { tdx: [0], adv: ['P'] })], [moduleIdentity('TDX_02', [isvLevel(1, other, ['M'])])]);
      const eval_ = () => evaluateTdxTcb(info, tdQe(), pck([1], 1), tdQeReport(), td([1, 2]));
      if (want === 'Revoked') {
        expectError(eval_, 'ERR_TCB_STATUS', 'tcb_revoked');
      } else {
        expect(eval_()).toEqual({ status: want, advisoryIds: ['M', 'P'], tcbDate: '2024-03-13T00:00:00Z', platformStatus: platform, qeStatus: 'UpToDate', moduleStatus: other });
      }
    });
  }

  it('TDX: module, then QE (platform ConfigurationNeeded + module OutOfDate + QE OutOfDate)', () => {
    const info = tdxInfo([level([1], 1, 'ConfigurationNeeded', { tdx: [0] })], [moduleIdentity('TDX_01', [isvLevel(1, 'OutOfDate')])]);
    const r = evaluateTdxTcb(info, tdQe([isvLevel(9, 'UpToDate'), isvLevel(1, 'OutOfDate')]), pck([1], 1), tdQeReport(), td([1, 1]));
    expect(r).toMatchObject({ status: 'OutOfDateConfigurationNeeded', platformStatus: 'ConfigurationNeeded', moduleStatus: 'OutOfDate', qeStatus: 'OutOfDate' });
  });

  it('Revoked names every revoked part', () => {
    const info = tdxInfo([level([1], 1, 'Revoked', { tdx: [0], date: '2019-01-01T00:00:00Z' })], [moduleIdentity('TDX_01', [isvLevel(1, 'Revoked')])]);
    expectError(() => evaluateTdxTcb(info, tdQe([isvLevel(1, 'Revoked')]), pck([1], 1), tdQeReport(), td([1, 1])), 'ERR_TCB_STATUS', 'tcb_revoked', 'TCB is revoked (platform TCB level 2019-01-01T00:00:00Z, TDX module TCB level 1, QE TCB level 1)');
  });
});

describe('advisory IDs', () => {
  it('are the union of the platform, TDX module and QE levels, deduplicated and sorted', () => {
    const info = tdxInfo([level([1], 1, 'OutOfDate', { tdx: [0], adv: ['INTEL-SA-00960', 'INTEL-SA-00106'] })], [moduleIdentity('TDX_01', [isvLevel(1, 'OutOfDate', ['INTEL-SA-01036', 'INTEL-SA-00960'])])]);
    const r = evaluateTdxTcb(info, tdQe([isvLevel(1, 'OutOfDate', ['INTEL-SA-00615', 'INTEL-SA-00106'])]), pck([1], 1), tdQeReport(), td([1, 1]));
    expect(r.advisoryIds).toEqual(['INTEL-SA-00106', 'INTEL-SA-00615', 'INTEL-SA-00960', 'INTEL-SA-01036']);
  });
  it('do not include levels that were not matched', () => {
    const r = evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(), pck([11, 11, 2, 2, 255, 1, 12], 13), qeReport());
    expect(r.advisoryIds).toEqual(['INTEL-SA-00615']);
  });
});

describe('unknown TCB statuses never pass', () => {
  it('an unknown status anywhere in the collateral is refused at parse time', () => {
    const text = JSON.stringify({
      id: 'SGX',
      version: 3,
      issueDate: '2025-01-01T00:00:00Z',
      nextUpdate: '2025-02-01T00:00:00Z',
      fmspc: '00A067110000',
      pceId: '0000',
      tcbType: 0,
      tcbEvaluationDataNumber: 17,
      tcbLevels: [{ tcb: { sgxtcbcomponents: Array.from({ length: 16 }, () => ({ svn: 0 })), pcesvn: 0 }, tcbDate: '2024-01-01T00:00:00Z', tcbStatus: 'MostlyFine' }],
    });
    expectError(() => parseTcbInfo(text), 'ERR_TCB_STATUS', 'tcb_status_unknown', 'tcbLevels[0].tcbStatus "MostlyFine"');
  });
  it('a hand-built level with an unknown status is refused at evaluation', () => {
    const info = sgxInfo([level([1], 1, 'MostlyFine' as TcbStatus)]);
    expectError(() => evaluateSgxTcb(info, qeIdentity(), pck([1], 1), qeReport()), 'ERR_TCB_STATUS', 'tcb_status_unknown');
  });
});

describe('argument checks', () => {
  it('baseline: the same inputs with the right shapes evaluate', () => {
    expect(evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(), pck([11, 11, 2, 2, 255, 1, 12], 13), qeReport()).status).toBe('SWHardeningNeeded');
  });
  it.each([
    ['PCK cpusvn', () => evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(), pck([11], 13, { cpusvn: new Uint8Array(15) }), qeReport())],
    ['PCK pcesvn', () => evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(), pck([11], 65536), qeReport())],
    ['PCK pcesvn', () => evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(), pck([11], 1.5), qeReport())],
    ['PCK fmspc', () => evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(), pck([11], 13, { fmspc: new Uint8Array(7) }), qeReport())],
    ['PCK pceId', () => evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(), pck([11], 13, { pceId: new Uint8Array(0) }), qeReport())],
    ['QE report MISCSELECT', () => evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(), pck([11], 13), qeReport({ miscselect: new Uint8Array(3) }))],
    ['QE report ATTRIBUTES', () => evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(), pck([11], 13), qeReport({ attributes: new Uint8Array(8) }))],
    ['QE report MRSIGNER', () => evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(), pck([11], 13), qeReport({ mrsigner: new Uint8Array(48) }))],
    ['QE report ISVPRODID', () => evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(), pck([11], 13), qeReport({ isvprodid: -1 }))],
    ['QE report ISVSVN', () => evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(), pck([11], 13), qeReport({ isvsvn: Number.NaN }))],
    ['PCK cpusvn', () => evaluateSgxTcb(sgxInfo(SGX_LEVELS), qeIdentity(), pck([11], 13, { cpusvn: Array.from(svns(11)) as unknown as Uint8Array }), qeReport())],
    ['TD report TEE_TCB_SVN', () => evaluateTdxTcb(tdxInfo([]), tdQe(), pck([1], 1), tdQeReport(), td([1], { teeTcbSvn: new Uint8Array(17) }))],
    ['TD report MRSIGNERSEAM', () => evaluateTdxTcb(tdxInfo([]), tdQe(), pck([1], 1), tdQeReport(), td([1], { mrSignerSeam: new Uint8Array(32) }))],
    ['TD report SEAMATTRIBUTES', () => evaluateTdxTcb(tdxInfo([]), tdQe(), pck([1], 1), tdQeReport(), td([1], { seamAttributes: new Uint8Array(16) }))],
  ])('%s of the wrong shape: ERR_INVALID_ARGUMENT', (what, fn) => {
    expectError(fn, 'ERR_INVALID_ARGUMENT', 'invalid_argument', what);
  });
});
