/**
 * parseTcbInfo / parseQeIdentity: every real TCB info and QE identity in the Intel fixtures parses,
 * and every malformed field (generated from real documents by one mutation each) is refused with
 * its own code, reason and a message naming the field.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AttestationError } from '../../../../attestation/errors.ts';
import { toHex } from '../../../../attestation/common/bytes.ts';
import { parseIsoDate, parseQeIdentity, parseTcbInfo } from '../../../../attestation/intel/collateral.ts';
import { listCases } from '../../../helpers/fixtures.ts';
import { errorOf } from '../../../helpers/errors.ts';

interface Collateral {
  tcb_info: string;
  qe_identity: string;
}

const cases = [...listCases('intel'), ...listCases('intel-mutated')];

function collateralOf(dir: string): Collateral {
  return JSON.parse(readFileSync(join(dir, 'collateral.json'), 'utf8')) as Collateral;
}
function caseDir(name: string): string {
  const c = cases.find((x) => x.name === name);
  if (c === undefined) throw new Error(`no fixture ${name}`);
  return c.dir;
}

// The mutations below edit parsed JSON freely; the documents are test data, not inputs to trust.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = any;

const TDX_TCB: Doc = JSON.parse(collateralOf(caseDir('tdx-v4-phala-b0c06f')).tcb_info);
const SGX_TCB: Doc = JSON.parse(collateralOf(caseDir('sgx-v3-phala-processor-00a067')).tcb_info);
const QE_ID: Doc = JSON.parse(collateralOf(caseDir('sgx-v3-phala-processor-00a067')).qe_identity);

/** A TCB info v2 with the same content as the SGX v3 one (v2 names each component). */
function sgxV2(): Doc {
  const v3 = structuredClone(SGX_TCB);
  delete v3.id;
  v3.version = 2;
  for (const level of v3.tcbLevels) {
    const tcb: Doc = { pcesvn: level.tcb.pcesvn };
    level.tcb.sgxtcbcomponents.forEach((c: Doc, i: number) => {
      tcb[`sgxtcbcomp${String(i + 1).padStart(2, '0')}svn`] = c.svn;
    });
    level.tcb = tcb;
  }
  return v3;
}
const SGX_V2: Doc = sgxV2();

function mutated(base: Doc, mutate: (d: Doc) => void): string {
  const d = structuredClone(base);
  mutate(d);
  return JSON.stringify(d);
}


describe('real collateral', () => {
  for (const c of cases) {
    const col = collateralOf(c.dir);
    it(`${c.name}: TCB info and QE identity parse`, () => {
      const tcb = parseTcbInfo(col.tcb_info);
      const qe = parseQeIdentity(col.qe_identity);
      expect(tcb.version).toBe(3);
      expect(tcb.id).toBe(c.meta.tee === 'tdx' ? 'TDX' : 'SGX');
      expect(qe.id).toBe(c.meta.tee === 'tdx' ? 'TD_QE' : 'QE');
      expect(tcb.tcbLevels.length).toBeGreaterThan(0);
      expect(Number.isFinite(tcb.issueDate) && tcb.issueDate < tcb.nextUpdate).toBe(true);
      expect(Number.isFinite(qe.issueDate) && qe.issueDate < qe.nextUpdate).toBe(true);
      if (c.meta.tee === 'tdx') {
        expect(tcb.tdxModule?.mrsigner.length).toBe(48);
        for (const l of tcb.tcbLevels) expect(l.tdxTcbSvns?.length).toBe(16);
      } else {
        expect(tcb.tdxModule).toBeUndefined();
        expect(tcb.tdxModuleIdentities).toEqual([]);
      }
      const fmspc = c.meta.expected['fmspc'];
      if (typeof fmspc === 'string') expect(toHex(tcb.fmspc)).toBe(fmspc);
    });
  }
  it('covers every Intel fixture', () => {
    expect(cases.length).toBeGreaterThanOrEqual(36);
  });

  it('reads the fields of the SGX v3 document exactly', () => {
    const t = parseTcbInfo(JSON.stringify(SGX_TCB));
    expect(t.issueDate).toBe(Date.parse(SGX_TCB.issueDate));
    expect(t.nextUpdate).toBe(Date.parse(SGX_TCB.nextUpdate));
    expect(toHex(t.fmspc)).toBe('00a067110000');
    expect(toHex(t.pceId)).toBe('0000');
    expect(t.tcbType).toBe(0);
    expect(t.tcbEvaluationDataNumber).toBe(SGX_TCB.tcbEvaluationDataNumber);
    const l1 = t.tcbLevels[1];
    expect(l1 && toHex(l1.sgxTcbSvns)).toBe('0b0b0202ff0100000000000000000000');
    expect(l1?.pceSvn).toBe(13);
    expect(l1?.tdxTcbSvns).toBeUndefined();
    expect(l1?.tcbStatus).toBe('ConfigurationAndSWHardeningNeeded');
    expect(l1?.advisoryIds).toEqual(['INTEL-SA-00289', 'INTEL-SA-00615']);
    expect(l1?.tcbDate).toBe(SGX_TCB.tcbLevels[1].tcbDate);
    expect(l1?.tcbDateMs).toBe(Date.parse(SGX_TCB.tcbLevels[1].tcbDate));
    expect(t.tcbLevels[0]?.advisoryIds).toEqual(['INTEL-SA-00615']);
  });

  it('reads the TDX module and module identities', () => {
    const t = parseTcbInfo(JSON.stringify(TDX_TCB));
    expect(toHex(t.tdxModule?.attributesMask ?? new Uint8Array())).toBe('ffffffffffffffff');
    expect(t.tdxModuleIdentities.map((m) => m.id)).toEqual(['TDX_03', 'TDX_01']);
    const m1 = t.tdxModuleIdentities[1];
    expect(m1?.tcbLevels.map((l) => [l.isvsvn, l.tcbStatus])).toEqual([
      [4, 'UpToDate'],
      [2, 'OutOfDate'],
    ]);
    expect(m1?.tcbLevels[0]?.advisoryIds).toEqual([]);
    expect(t.tcbLevels[0] && toHex(t.tcbLevels[0].tdxTcbSvns ?? new Uint8Array())).toBe('05000200000000000000000000000000');
  });

  it('reads the QE identity fields exactly', () => {
    const q = parseQeIdentity(JSON.stringify(QE_ID));
    expect(q.version).toBe(2);
    expect(toHex(q.miscselect)).toBe('00000000');
    expect(toHex(q.miscselectMask)).toBe('ffffffff');
    expect(toHex(q.attributes)).toBe('11000000000000000000000000000000');
    expect(toHex(q.attributesMask)).toBe('fbffffffffffffff0000000000000000');
    expect(toHex(q.mrsigner)).toBe('8c4f5775d796503e96137f77c68a829a0056ac8ded70140b081b094490c57bff');
    expect(q.isvprodid).toBe(1);
    expect(q.tcbEvaluationDataNumber).toBe(QE_ID.tcbEvaluationDataNumber);
    expect(q.tcbLevels[1]).toMatchObject({ isvsvn: 6, tcbStatus: 'OutOfDate', advisoryIds: ['INTEL-SA-00615'] });
  });

  it('parses TCB info version 2 (SGX, named components, no id)', () => {
    const t = parseTcbInfo(JSON.stringify(SGX_V2));
    const v3 = parseTcbInfo(JSON.stringify(SGX_TCB));
    expect(t.version).toBe(2);
    expect(t.id).toBe('SGX');
    expect(t.tcbLevels.map((l) => [toHex(l.sgxTcbSvns), l.pceSvn, l.tcbStatus])).toEqual(v3.tcbLevels.map((l) => [toHex(l.sgxTcbSvns), l.pceSvn, l.tcbStatus]));
    // An id in a v2 document is not a v2 member (QVL assumes SGX) and is ignored.
    expect(parseTcbInfo(mutated(SGX_V2, (d) => (d.id = 'TDX'))).id).toBe('SGX');
  });
});

describe('tolerated variations', () => {
  it('ignores unknown members at every level (Intel adds fields across versions)', () => {
    const text = mutated(TDX_TCB, (d) => {
      d.futureField = { nested: [1, 2] };
      d.tdxModule.extra = 'x';
      d.tdxModuleIdentities[0].extra = true;
      d.tdxModuleIdentities[0].tcbLevels[0].extra = null;
      d.tcbLevels[0].extra = 1;
      d.tcbLevels[0].tcb.extra = 2;
      d.tcbLevels[0].tcb.sgxtcbcomponents[0].extra = 3;
    });
    expect(parseTcbInfo(text).tcbLevels.length).toBe(2);
    expect(parseQeIdentity(mutated(QE_ID, (d) => (d.extra = []))).id).toBe('QE');
  });

  it('accepts lower-case hex, fractional seconds and numeric offsets', () => {
    const t = parseTcbInfo(
      mutated(TDX_TCB, (d) => {
        d.fmspc = 'b0c06f000000';
        d.issueDate = '2025-06-19T12:16:03.250+02:00';
      }),
    );
    expect(toHex(t.fmspc)).toBe('b0c06f000000');
    expect(t.issueDate).toBe(Date.parse('2025-06-19T10:16:03.250Z'));
  });

  it('accepts SGX v3 levels that carry TDX components (QVL does not read them there)', () => {
    const t = parseTcbInfo(mutated(SGX_TCB, (d) => (d.tcbLevels[0].tcb.tdxtcbcomponents = 'whatever')));
    expect(t.tcbLevels[0]?.tdxTcbSvns).toBeUndefined();
  });

  it('accepts a TDX TCB info without tdxModuleIdentities (pre-2023 collateral)', () => {
    const t = parseTcbInfo(mutated(TDX_TCB, (d) => delete d.tdxModuleIdentities));
    expect(t.tdxModuleIdentities).toEqual([]);
  });
});

describe('parseIsoDate', () => {
  it.each([
    ['2025-06-19T10:16:03Z', Date.UTC(2025, 5, 19, 10, 16, 3)],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['2025-06-19T10:16:03.5-01:30', Date.UTC(2025, 5, 19, 11, 46, 3, 500)],
  ])('%s', (s, ms) => {
    expect(parseIsoDate(s)).toBe(ms);
  });
  it.each([
    '2025-02-29T00:00:00Z',
    '2025-04-31T00:00:00Z',
    '2025-13-01T00:00:00Z',
    '2025-00-01T00:00:00Z',
    '2025-01-00T00:00:00Z',
    '2025-01-01T24:00:00Z',
    '2025-01-01T00:60:00Z',
    '2025-01-01T00:00:60Z',
    '2025-01-01 00:00:00Z',
    '2025-01-01T00:00:00',
    '2025-01-01',
    'yesterday',
    '',
    '2025-01-01T00:00:00+99:99',
  ])('%s is not a date', (s) => {
    expect(parseIsoDate(s)).toBeUndefined();
  });
});

interface Row {
  name: string;
  base: Doc;
  mutate: (d: Doc) => void;
  msg: string;
  code?: 'ERR_COLLATERAL_MALFORMED' | 'ERR_TCB_STATUS';
}

const long = (n: number): string => 'ab'.repeat(n);
const comps = (n: number): Doc[] => Array.from({ length: n }, () => ({ svn: 0 }));

const TCB_ROWS: Row[] = [
  // Top level
  { name: 'version missing', base: TDX_TCB, mutate: (d) => delete d.version, msg: 'TCB info: version must be an integer 0..4294967295' },
  { name: 'version a string', base: TDX_TCB, mutate: (d) => (d.version = '3'), msg: 'TCB info: version must be an integer' },
  { name: 'version fractional', base: TDX_TCB, mutate: (d) => (d.version = 2.5), msg: 'TCB info: version must be an integer' },
  { name: 'version negative', base: TDX_TCB, mutate: (d) => (d.version = -3), msg: 'TCB info: version must be an integer' },
  { name: 'version 1', base: TDX_TCB, mutate: (d) => (d.version = 1), msg: 'TCB info: version is 1, want 2 or 3' },
  { name: 'version 4', base: TDX_TCB, mutate: (d) => (d.version = 4), msg: 'TCB info: version is 4, want 2 or 3' },
  { name: 'id missing', base: TDX_TCB, mutate: (d) => delete d.id, msg: 'TCB info: id must be a string' },
  { name: 'id a number', base: TDX_TCB, mutate: (d) => (d.id = 1), msg: 'TCB info: id must be a string' },
  { name: 'id unknown', base: TDX_TCB, mutate: (d) => (d.id = 'SEV'), msg: 'TCB info: id is "SEV", want "SGX" or "TDX"' },
  { name: 'id lower case', base: TDX_TCB, mutate: (d) => (d.id = 'tdx'), msg: 'TCB info: id is "tdx"' },
  { name: 'issueDate missing', base: TDX_TCB, mutate: (d) => delete d.issueDate, msg: 'TCB info: issueDate must be an ISO 8601 date-time' },
  { name: 'issueDate a number', base: TDX_TCB, mutate: (d) => (d.issueDate = 1750000000), msg: 'TCB info: issueDate must be an ISO 8601' },
  { name: 'issueDate impossible', base: TDX_TCB, mutate: (d) => (d.issueDate = '2025-02-30T00:00:00Z'), msg: 'TCB info: issueDate must be an ISO 8601' },
  { name: 'issueDate free text', base: TDX_TCB, mutate: (d) => (d.issueDate = 'June 19, 2025'), msg: 'TCB info: issueDate must be an ISO 8601' },
  { name: 'nextUpdate invalid', base: TDX_TCB, mutate: (d) => (d.nextUpdate = '2025-07-19'), msg: 'TCB info: nextUpdate must be an ISO 8601' },
  { name: 'fmspc short', base: TDX_TCB, mutate: (d) => (d.fmspc = 'B0C06F0000'), msg: 'TCB info: fmspc must be 6 bytes of hex (12 digits)' },
  { name: 'fmspc long', base: TDX_TCB, mutate: (d) => (d.fmspc = 'B0C06F00000000'), msg: 'TCB info: fmspc must be 6 bytes of hex' },
  { name: 'fmspc 0x-prefixed', base: TDX_TCB, mutate: (d) => (d.fmspc = '0xB0C06F0000'), msg: 'TCB info: fmspc must be 6 bytes of hex' },
  { name: 'fmspc not hex', base: TDX_TCB, mutate: (d) => (d.fmspc = 'B0C06F00000G'), msg: 'TCB info: fmspc must be 6 bytes of hex' },
  { name: 'fmspc a number', base: TDX_TCB, mutate: (d) => (d.fmspc = 123456), msg: 'TCB info: fmspc must be 6 bytes of hex' },
  { name: 'pceId long', base: TDX_TCB, mutate: (d) => (d.pceId = '000000'), msg: 'TCB info: pceId must be 2 bytes of hex (4 digits)' },
  { name: 'pceId missing', base: TDX_TCB, mutate: (d) => delete d.pceId, msg: 'TCB info: pceId must be 2 bytes of hex' },
  { name: 'tcbType 1', base: TDX_TCB, mutate: (d) => (d.tcbType = 1), msg: 'TCB info: tcbType is 1, want 0' },
  { name: 'tcbType a string', base: TDX_TCB, mutate: (d) => (d.tcbType = '0'), msg: 'TCB info: tcbType must be an integer' },
  { name: 'tcbEvaluationDataNumber too big', base: TDX_TCB, mutate: (d) => (d.tcbEvaluationDataNumber = 2 ** 32), msg: 'TCB info: tcbEvaluationDataNumber must be an integer 0..4294967295' },
  { name: 'tcbEvaluationDataNumber missing', base: TDX_TCB, mutate: (d) => delete d.tcbEvaluationDataNumber, msg: 'TCB info: tcbEvaluationDataNumber must be an integer' },
  // TDX module
  { name: 'tdxModule missing', base: TDX_TCB, mutate: (d) => delete d.tdxModule, msg: 'TCB info: tdxModule must be a JSON object' },
  { name: 'tdxModule an array', base: TDX_TCB, mutate: (d) => (d.tdxModule = []), msg: 'TCB info: tdxModule must be a JSON object' },
  { name: 'tdxModule.mrsigner 32 bytes', base: TDX_TCB, mutate: (d) => (d.tdxModule.mrsigner = long(32)), msg: 'TCB info: tdxModule.mrsigner must be 48 bytes of hex (96 digits)' },
  { name: 'tdxModule.attributes 16 bytes', base: TDX_TCB, mutate: (d) => (d.tdxModule.attributes = long(16)), msg: 'TCB info: tdxModule.attributes must be 8 bytes of hex' },
  { name: 'tdxModule.attributesMask missing', base: TDX_TCB, mutate: (d) => delete d.tdxModule.attributesMask, msg: 'TCB info: tdxModule.attributesMask must be 8 bytes of hex' },
  { name: 'tdxModuleIdentities an object', base: TDX_TCB, mutate: (d) => (d.tdxModuleIdentities = {}), msg: 'TCB info: tdxModuleIdentities must be an array' },
  { name: 'tdxModuleIdentities empty', base: TDX_TCB, mutate: (d) => (d.tdxModuleIdentities = []), msg: 'TCB info: tdxModuleIdentities must not be empty' },
  { name: 'tdxModuleIdentities[1] a string', base: TDX_TCB, mutate: (d) => (d.tdxModuleIdentities[1] = 'TDX_01'), msg: 'TCB info: tdxModuleIdentities[1] must be a JSON object' },
  { name: 'module id missing', base: TDX_TCB, mutate: (d) => delete d.tdxModuleIdentities[0].id, msg: 'TCB info: tdxModuleIdentities[0].id must be a string' },
  { name: 'module id duplicated (case-insensitively)', base: TDX_TCB, mutate: (d) => (d.tdxModuleIdentities[1].id = 'tdx_03'), msg: 'TCB info: tdxModuleIdentities[1].id "tdx_03" is duplicated' },
  { name: 'module mrsigner short', base: TDX_TCB, mutate: (d) => (d.tdxModuleIdentities[0].mrsigner = '00'), msg: 'TCB info: tdxModuleIdentities[0].mrsigner must be 48 bytes of hex' },
  { name: 'module attributes missing', base: TDX_TCB, mutate: (d) => delete d.tdxModuleIdentities[1].attributes, msg: 'TCB info: tdxModuleIdentities[1].attributes must be 8 bytes of hex' },
  { name: 'module attributesMask odd', base: TDX_TCB, mutate: (d) => (d.tdxModuleIdentities[1].attributesMask = 'FFFFFFFFFFFFFFF'), msg: 'TCB info: tdxModuleIdentities[1].attributesMask must be 8 bytes' },
  { name: 'module tcbLevels missing', base: TDX_TCB, mutate: (d) => delete d.tdxModuleIdentities[1].tcbLevels, msg: 'TCB info: tdxModuleIdentities[1].tcbLevels must be an array' },
  { name: 'module tcbLevels empty', base: TDX_TCB, mutate: (d) => (d.tdxModuleIdentities[1].tcbLevels = []), msg: 'TCB info: tdxModuleIdentities[1].tcbLevels must not be empty' },
  { name: 'module level not an object', base: TDX_TCB, mutate: (d) => (d.tdxModuleIdentities[1].tcbLevels[1] = 2), msg: 'TCB info: tdxModuleIdentities[1].tcbLevels[1] must be a JSON object' },
  { name: 'module level tcb missing', base: TDX_TCB, mutate: (d) => delete d.tdxModuleIdentities[1].tcbLevels[1].tcb, msg: 'TCB info: tdxModuleIdentities[1].tcbLevels[1].tcb must be a JSON object' },
  { name: 'module level isvsvn too big', base: TDX_TCB, mutate: (d) => (d.tdxModuleIdentities[1].tcbLevels[1].tcb.isvsvn = 65536), msg: 'TCB info: tdxModuleIdentities[1].tcbLevels[1].tcb.isvsvn must be an integer 0..65535' },
  { name: 'module level isvsvn duplicated', base: TDX_TCB, mutate: (d) => (d.tdxModuleIdentities[1].tcbLevels[1].tcb.isvsvn = 4), msg: 'TCB info: tdxModuleIdentities[1].tcbLevels[1].tcb.isvsvn 4 is duplicated' },
  { name: 'module level tcbDate invalid', base: TDX_TCB, mutate: (d) => (d.tdxModuleIdentities[0].tcbLevels[0].tcbDate = '2024-03-13'), msg: 'TCB info: tdxModuleIdentities[0].tcbLevels[0].tcbDate must be an ISO 8601' },
  { name: 'module level tcbStatus missing', base: TDX_TCB, mutate: (d) => delete d.tdxModuleIdentities[0].tcbLevels[0].tcbStatus, msg: 'TCB info: tdxModuleIdentities[0].tcbLevels[0].tcbStatus must be a string' },
  { name: 'module level tcbStatus unknown', base: TDX_TCB, mutate: (d) => (d.tdxModuleIdentities[0].tcbLevels[0].tcbStatus = 'Compromised'), msg: 'TCB info: tdxModuleIdentities[0].tcbLevels[0].tcbStatus "Compromised" is not a known TCB status', code: 'ERR_TCB_STATUS' },
  { name: 'module level advisoryIDs a string', base: TDX_TCB, mutate: (d) => (d.tdxModuleIdentities[0].tcbLevels[0].advisoryIDs = 'INTEL-SA-00001'), msg: 'TCB info: tdxModuleIdentities[0].tcbLevels[0].advisoryIDs must be an array' },
  { name: 'SGX v3 with tdxModule', base: SGX_TCB, mutate: (d) => {
      d.tdxModule = TDX_TCB.tdxModule;
    }, msg: 'TCB info: tdxModule must be absent when id is "SGX"' },
  { name: 'SGX v3 with tdxModuleIdentities', base: SGX_TCB, mutate: (d) => (d.tdxModuleIdentities = []), msg: 'TCB info: tdxModuleIdentities must be absent when id is "SGX"' },
  // TCB levels
  { name: 'tcbLevels missing', base: TDX_TCB, mutate: (d) => delete d.tcbLevels, msg: 'TCB info: tcbLevels must be an array' },
  { name: 'tcbLevels empty', base: SGX_TCB, mutate: (d) => (d.tcbLevels = []), msg: 'TCB info: tcbLevels must not be empty' },
  { name: 'tcbLevels[3] null', base: SGX_TCB, mutate: (d) => (d.tcbLevels[3] = null), msg: 'TCB info: tcbLevels[3] must be a JSON object' },
  { name: 'tcb missing', base: SGX_TCB, mutate: (d) => delete d.tcbLevels[3].tcb, msg: 'TCB info: tcbLevels[3].tcb must be a JSON object' },
  { name: 'pcesvn too big', base: SGX_TCB, mutate: (d) => (d.tcbLevels[3].tcb.pcesvn = 65536), msg: 'TCB info: tcbLevels[3].tcb.pcesvn must be an integer 0..65535' },
  { name: 'pcesvn missing', base: SGX_TCB, mutate: (d) => delete d.tcbLevels[3].tcb.pcesvn, msg: 'TCB info: tcbLevels[3].tcb.pcesvn must be an integer 0..65535' },
  { name: 'sgxtcbcomponents missing', base: SGX_TCB, mutate: (d) => delete d.tcbLevels[0].tcb.sgxtcbcomponents, msg: 'TCB info: tcbLevels[0].tcb.sgxtcbcomponents must be an array' },
  { name: 'sgxtcbcomponents 15 entries', base: SGX_TCB, mutate: (d) => {
      d.tcbLevels[0].tcb.sgxtcbcomponents.pop();
    }, msg: 'TCB info: tcbLevels[0].tcb.sgxtcbcomponents must have exactly 16 entries, has 15' },
  { name: 'sgxtcbcomponents 17 entries', base: SGX_TCB, mutate: (d) => {
      d.tcbLevels[0].tcb.sgxtcbcomponents.push({ svn: 0 });
    }, msg: 'must have exactly 16 entries, has 17' },
  { name: 'sgx component a number', base: SGX_TCB, mutate: (d) => (d.tcbLevels[0].tcb.sgxtcbcomponents[2] = 2), msg: 'TCB info: tcbLevels[0].tcb.sgxtcbcomponents[2] must be a JSON object' },
  { name: 'sgx component svn 256', base: SGX_TCB, mutate: (d) => (d.tcbLevels[0].tcb.sgxtcbcomponents[2].svn = 256), msg: 'TCB info: tcbLevels[0].tcb.sgxtcbcomponents[2].svn must be an integer 0..255' },
  { name: 'sgx component svn -1', base: SGX_TCB, mutate: (d) => (d.tcbLevels[0].tcb.sgxtcbcomponents[2].svn = -1), msg: 'sgxtcbcomponents[2].svn must be an integer 0..255' },
  { name: 'sgx component svn a string', base: SGX_TCB, mutate: (d) => (d.tcbLevels[0].tcb.sgxtcbcomponents[2].svn = '2'), msg: 'sgxtcbcomponents[2].svn must be an integer 0..255' },
  { name: 'sgx component category a number', base: SGX_TCB, mutate: (d) => (d.tcbLevels[0].tcb.sgxtcbcomponents[0].category = 1), msg: 'TCB info: tcbLevels[0].tcb.sgxtcbcomponents[0].category must be a string' },
  { name: 'sgx component type null', base: SGX_TCB, mutate: (d) => (d.tcbLevels[0].tcb.sgxtcbcomponents[0].type = null), msg: 'TCB info: tcbLevels[0].tcb.sgxtcbcomponents[0].type must be a string' },
  { name: 'tdxtcbcomponents missing (TDX)', base: TDX_TCB, mutate: (d) => delete d.tcbLevels[1].tcb.tdxtcbcomponents, msg: 'TCB info: tcbLevels[1].tcb.tdxtcbcomponents must be an array' },
  { name: 'tdxtcbcomponents 17 entries', base: TDX_TCB, mutate: (d) => {
      d.tcbLevels[1].tcb.tdxtcbcomponents = comps(17);
    }, msg: 'TCB info: tcbLevels[1].tcb.tdxtcbcomponents must have exactly 16 entries, has 17' },
  { name: 'tdx component svn 1000', base: TDX_TCB, mutate: (d) => (d.tcbLevels[1].tcb.tdxtcbcomponents[15].svn = 1000), msg: 'TCB info: tcbLevels[1].tcb.tdxtcbcomponents[15].svn must be an integer 0..255' },
  { name: 'tcbDate missing', base: SGX_TCB, mutate: (d) => delete d.tcbLevels[2].tcbDate, msg: 'TCB info: tcbLevels[2].tcbDate must be an ISO 8601' },
  { name: 'tcbDate impossible', base: SGX_TCB, mutate: (d) => (d.tcbLevels[2].tcbDate = '2023-02-29T00:00:00Z'), msg: 'TCB info: tcbLevels[2].tcbDate must be an ISO 8601' },
  { name: 'tcbStatus a number', base: SGX_TCB, mutate: (d) => (d.tcbLevels[2].tcbStatus = 0), msg: 'TCB info: tcbLevels[2].tcbStatus must be a string' },
  { name: 'tcbStatus unknown', base: SGX_TCB, mutate: (d) => (d.tcbLevels[2].tcbStatus = 'Unknown'), msg: 'TCB info: tcbLevels[2].tcbStatus "Unknown" is not a known TCB status', code: 'ERR_TCB_STATUS' },
  { name: 'tcbStatus wrong case', base: SGX_TCB, mutate: (d) => (d.tcbLevels[2].tcbStatus = 'uptodate'), msg: '"uptodate" is not a known TCB status', code: 'ERR_TCB_STATUS' },
  { name: 'tcbStatus TDRelaunchAdvised (a QVL result, not a collateral status)', base: TDX_TCB, mutate: (d) => (d.tcbLevels[0].tcbStatus = 'TDRelaunchAdvised'), msg: 'is not a known TCB status', code: 'ERR_TCB_STATUS' },
  { name: 'advisoryIDs an object', base: SGX_TCB, mutate: (d) => (d.tcbLevels[2].advisoryIDs = {}), msg: 'TCB info: tcbLevels[2].advisoryIDs must be an array' },
  { name: 'advisoryIDs[1] a number', base: SGX_TCB, mutate: (d) => (d.tcbLevels[2].advisoryIDs[1] = 289), msg: 'TCB info: tcbLevels[2].advisoryIDs[1] must be a string' },
  { name: 'duplicate SGX level', base: SGX_TCB, mutate: (d) => {
      d.tcbLevels.push(structuredClone(d.tcbLevels[4]));
    }, msg: 'TCB info: tcbLevels[11] repeats the SVNs of an earlier level' },
  {
    name: 'duplicate SGX level with a different status',
    base: SGX_TCB,
    mutate: (d) => {
      const dup = structuredClone(d.tcbLevels[1]);
      dup.tcbStatus = 'UpToDate';
      d.tcbLevels.unshift(dup);
    },
    msg: 'TCB info: tcbLevels[2] repeats the SVNs of an earlier level',
  },
  { name: 'duplicate TDX level', base: TDX_TCB, mutate: (d) => {
      d.tcbLevels.push(structuredClone(d.tcbLevels[0]));
    }, msg: 'TCB info: tcbLevels[2] repeats the SVNs' },
  // Version 2
  { name: 'v2 component missing', base: SGX_V2, mutate: (d) => delete d.tcbLevels[0].tcb.sgxtcbcomp05svn, msg: 'TCB info: tcbLevels[0].tcb.sgxtcbcomp05svn must be an integer 0..255' },
  { name: 'v2 component 256', base: SGX_V2, mutate: (d) => (d.tcbLevels[0].tcb.sgxtcbcomp16svn = 256), msg: 'TCB info: tcbLevels[0].tcb.sgxtcbcomp16svn must be an integer 0..255' },
  { name: 'v2 pcesvn a string', base: SGX_V2, mutate: (d) => (d.tcbLevels[0].tcb.pcesvn = '13'), msg: 'TCB info: tcbLevels[0].tcb.pcesvn must be an integer 0..65535' },
  { name: 'v2 tcbStatus unknown', base: SGX_V2, mutate: (d) => (d.tcbLevels[0].tcbStatus = 'Revoked!'), msg: 'is not a known TCB status', code: 'ERR_TCB_STATUS' },
];

const QE_ROWS: Row[] = [
  { name: 'id missing', base: QE_ID, mutate: (d) => delete d.id, msg: 'QE identity: id must be a string' },
  { name: 'id unknown', base: QE_ID, mutate: (d) => (d.id = 'PCE'), msg: 'QE identity: id is "PCE", want "QE", "QVE" or "TD_QE"' },
  { name: 'version 1', base: QE_ID, mutate: (d) => (d.version = 1), msg: 'QE identity: version is 1, want 2' },
  { name: 'version 3', base: QE_ID, mutate: (d) => (d.version = 3), msg: 'QE identity: version is 3, want 2' },
  { name: 'version a string', base: QE_ID, mutate: (d) => (d.version = '2'), msg: 'QE identity: version must be an integer' },
  { name: 'issueDate invalid', base: QE_ID, mutate: (d) => (d.issueDate = '2025-06-19T10:01:18'), msg: 'QE identity: issueDate must be an ISO 8601' },
  { name: 'nextUpdate missing', base: QE_ID, mutate: (d) => delete d.nextUpdate, msg: 'QE identity: nextUpdate must be an ISO 8601' },
  { name: 'tcbEvaluationDataNumber fractional', base: QE_ID, mutate: (d) => (d.tcbEvaluationDataNumber = 17.5), msg: 'QE identity: tcbEvaluationDataNumber must be an integer' },
  { name: 'miscselect 8 bytes', base: QE_ID, mutate: (d) => (d.miscselect = '0000000000000000'), msg: 'QE identity: miscselect must be 4 bytes of hex (8 digits)' },
  { name: 'miscselectMask missing', base: QE_ID, mutate: (d) => delete d.miscselectMask, msg: 'QE identity: miscselectMask must be 4 bytes of hex' },
  { name: 'attributes 15 bytes', base: QE_ID, mutate: (d) => (d.attributes = long(15)), msg: 'QE identity: attributes must be 16 bytes of hex (32 digits)' },
  { name: 'attributesMask not hex', base: QE_ID, mutate: (d) => (d.attributesMask = 'X'.repeat(32)), msg: 'QE identity: attributesMask must be 16 bytes of hex' },
  { name: 'mrsigner 48 bytes', base: QE_ID, mutate: (d) => (d.mrsigner = long(48)), msg: 'QE identity: mrsigner must be 32 bytes of hex (64 digits)' },
  { name: 'isvprodid too big', base: QE_ID, mutate: (d) => (d.isvprodid = 65536), msg: 'QE identity: isvprodid must be an integer 0..65535' },
  { name: 'isvprodid missing', base: QE_ID, mutate: (d) => delete d.isvprodid, msg: 'QE identity: isvprodid must be an integer' },
  { name: 'tcbLevels missing', base: QE_ID, mutate: (d) => delete d.tcbLevels, msg: 'QE identity: tcbLevels must be an array' },
  { name: 'tcbLevels empty', base: QE_ID, mutate: (d) => (d.tcbLevels = []), msg: 'QE identity: tcbLevels must not be empty' },
  { name: 'level not an object', base: QE_ID, mutate: (d) => (d.tcbLevels[2] = []), msg: 'QE identity: tcbLevels[2] must be a JSON object' },
  { name: 'level tcb a number', base: QE_ID, mutate: (d) => (d.tcbLevels[2].tcb = 5), msg: 'QE identity: tcbLevels[2].tcb must be a JSON object' },
  { name: 'level isvsvn negative', base: QE_ID, mutate: (d) => (d.tcbLevels[2].tcb.isvsvn = -1), msg: 'QE identity: tcbLevels[2].tcb.isvsvn must be an integer 0..65535' },
  { name: 'level isvsvn duplicated', base: QE_ID, mutate: (d) => (d.tcbLevels[2].tcb.isvsvn = 8), msg: 'QE identity: tcbLevels[2].tcb.isvsvn 8 is duplicated' },
  { name: 'level tcbDate missing', base: QE_ID, mutate: (d) => delete d.tcbLevels[0].tcbDate, msg: 'QE identity: tcbLevels[0].tcbDate must be an ISO 8601' },
  { name: 'level tcbStatus unknown', base: QE_ID, mutate: (d) => (d.tcbLevels[0].tcbStatus = 'Fine'), msg: 'QE identity: tcbLevels[0].tcbStatus "Fine" is not a known TCB status', code: 'ERR_TCB_STATUS' },
  { name: 'level advisoryIDs[0] null', base: QE_ID, mutate: (d) => (d.tcbLevels[1].advisoryIDs[0] = null), msg: 'QE identity: tcbLevels[1].advisoryIDs[0] must be a string' },
];

describe('malformed TCB info', () => {
  it.each(TCB_ROWS.map((r) => [r.name, r] as const))('%s', (_name, row) => {
    const e = errorOf(() => parseTcbInfo(mutated(row.base, row.mutate)));
    const code = row.code ?? 'ERR_COLLATERAL_MALFORMED';
    expect(e.code).toBe(code);
    expect(e.reason).toBe(code === 'ERR_TCB_STATUS' ? 'tcb_status_unknown' : 'collateral_malformed');
    expect(e.message).toContain(row.msg);
  });

  it.each([
    ['not JSON', 'tcbInfo: {', 'TCB info: not valid JSON'],
    ['trailing junk', `${JSON.stringify(TDX_TCB)}x`, 'TCB info: not valid JSON'],
    ['an array', '[]', 'TCB info: top level must be a JSON object'],
    ['null', 'null', 'TCB info: top level must be a JSON object'],
    ['a string', '"tcbInfo"', 'TCB info: top level must be a JSON object'],
    ['wrapped in {tcbInfo, signature}', JSON.stringify({ tcbInfo: TDX_TCB, signature: '00' }), 'TCB info: version must be an integer'],
  ])('%s', (_n, text, msg) => {
    const e = errorOf(() => parseTcbInfo(text));
    expect([e.code, e.reason]).toEqual(['ERR_COLLATERAL_MALFORMED', 'collateral_malformed']);
    expect(e.message).toContain(msg);
  });

  it('keeps the JSON error as the cause', () => {
    const e = errorOf(() => parseTcbInfo('{'));
    expect(e.cause).toBeInstanceOf(SyntaxError);
  });

  it('refuses a non-string argument with a typed error', () => {
    const e = errorOf(() => parseTcbInfo(42 as unknown as string));
    expect([e.code, e.message]).toEqual(['ERR_COLLATERAL_MALFORMED', 'TCB info: text must be a string']);
  });

  it('does not read members inherited from Object.prototype', () => {
    // Another library polluting Object.prototype must not supply a member Intel left out.
    const proto = Object.prototype as Record<string, unknown>;
    proto['pcesvn'] = 13;
    try {
      const e = errorOf(() => parseTcbInfo(mutated(TDX_TCB, (d) => delete d.tcbLevels[0].tcb.pcesvn)));
      expect(e.message).toContain('tcbLevels[0].tcb.pcesvn must be an integer');
    } finally {
      delete proto['pcesvn'];
    }
    // An own "__proto__" member from JSON is data, never a prototype.
    const t = parseTcbInfo(mutated(TDX_TCB, (d) => {
        Object.defineProperty(d, '__proto__', { value: { id: 'SGX' }, enumerable: true });
      }));
    expect(t.id).toBe('TDX');
  });

  it('never lets a TypeError escape from random JSON', () => {
    const samples = ['{}', '{"version":3}', '{"version":3,"id":"TDX"}', '{"version":2,"tcbLevels":[{}]}', '0', 'true', '{"version":3,"id":"SGX","tcbLevels":[[]]}'];
    for (const s of samples) expect(AttestationError.is(errorOf(() => parseTcbInfo(s)))).toBe(true);
  });
});

describe('malformed QE identity', () => {
  it.each(QE_ROWS.map((r) => [r.name, r] as const))('%s', (_name, row) => {
    const e = errorOf(() => parseQeIdentity(mutated(row.base, row.mutate)));
    const code = row.code ?? 'ERR_COLLATERAL_MALFORMED';
    expect(e.code).toBe(code);
    expect(e.reason).toBe(code === 'ERR_TCB_STATUS' ? 'tcb_status_unknown' : 'collateral_malformed');
    expect(e.message).toContain(row.msg);
  });

  it.each([
    ['not JSON', '', 'QE identity: not valid JSON'],
    ['an array', '[1]', 'QE identity: top level must be a JSON object'],
    ['the TCB info', JSON.stringify(TDX_TCB), 'QE identity: id is "TDX"'],
  ])('%s', (_n, text, msg) => {
    const e = errorOf(() => parseQeIdentity(text));
    expect([e.code, e.reason]).toEqual(['ERR_COLLATERAL_MALFORMED', 'collateral_malformed']);
    expect(e.message).toContain(msg);
  });

  it('accepts QVE and TD_QE identities', () => {
    expect(parseQeIdentity(mutated(QE_ID, (d) => (d.id = 'QVE'))).id).toBe('QVE');
    expect(parseQeIdentity(mutated(QE_ID, (d) => (d.id = 'TD_QE'))).id).toBe('TD_QE');
  });
});
