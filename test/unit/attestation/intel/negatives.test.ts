/**
 * Negative paths of Intel DCAP verification, generated from the quote layout and from a fake PKI.
 *
 *  - every truncated prefix of every real quote, and trailing junk after the declared end;
 *  - a field table (offset, length, name) of header, SGX enclave report, TD report 1.0/1.5, v5 body
 *    descriptor, QE report, signatures, attestation key and QE auth data: one byte of each field is
 *    flipped and the step that must catch it is asserted. The expectations come from the quote
 *    format (Intel SGX ECDSA Quote Library API, TDX DCAP Quoting Library API) and the step order of
 *    verify.ts, never from running the code;
 *  - certification data types other than 5 (v3) and 6-with-nested-5 (v4, v5);
 *  - time edges, revocation and chain faults with a fake Intel PKI (test/fakes/intel-pki.ts), where
 *    each window can be made the narrowest;
 *  - fast-check properties: parsers and the verifier raise nothing but AttestationError.
 * Every negative asserts `code` and `reason`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCrl } from '../../../../attestation/common/crl.ts';
import { parseCertificate } from '../../../../attestation/common/x509.ts';
import type { TrustAnchor } from '../../../../attestation/common/x509.ts';
import { AttestationError, POLICY_CODES, VERIFICATION_CODES, type AttestationErrorCode } from '../../../../attestation/errors.ts';
import { toDcapCollateral, type DcapCollateral } from '../../../../attestation/intel/bundle.ts';
import { parseQeIdentity, parseTcbInfo } from '../../../../attestation/intel/collateral.ts';
import { parseQuote } from '../../../../attestation/intel/parse.ts';
import { createDcapCache, verifyDcapQuote } from '../../../../attestation/intel/verify.ts';
import type { EvidenceResult } from '../../../../attestation/result.ts';
import { anchorFromPem } from '../../../../attestation/roots/index.ts';
import {
  mintIntelPki,
  reSignCollateral,
  reSignQuote,
  templateFromQuote,
  type FakeIntelPki,
  type FakeIntelPkiOptions,
  type PkiTemplate,
  type ReSignCollateralOptions,
  KU_CRL_SIGN,
  KU_KEY_CERT_SIGN,
} from '../../../fakes/intel-pki.ts';
import { listCases, readBytes } from '../../../helpers/fixtures.ts';

// ---------------------------------------------------------------------------------------------
// Real cases and helpers

interface Want {
  readonly code: AttestationErrorCode;
  readonly reason: string;
}

const MALFORMED: Want = { code: 'ERR_EVIDENCE_MALFORMED', reason: 'malformed_quote' };
const unsupported = (reason: string): Want => ({ code: 'ERR_EVIDENCE_UNSUPPORTED', reason });
const badSignature = (reason: string): Want => ({ code: 'ERR_SIGNATURE_INVALID', reason });
const CERT_EXPIRED: Want = { code: 'ERR_CERT_NOT_VALID_AT_TIME', reason: 'cert_expired' };
const STALE: Want = { code: 'ERR_COLLATERAL_STALE', reason: 'collateral_expired' };
const REVOKED: Want = { code: 'ERR_REVOKED', reason: 'revoked' };
const UNTRUSTED: Want = { code: 'ERR_CHAIN_UNTRUSTED', reason: 'untrusted_root' };

interface RealCase {
  readonly name: string;
  readonly tee: 'sgx' | 'tdx';
  readonly at: Date;
  readonly quote: Uint8Array;
  readonly collateral: DcapCollateral;
  /** Outcome with allowDebug: 'ok' or the failing reason the case documents. */
  readonly baseline: { readonly verdict: 'ok'; readonly tcbStatus: string } | { readonly verdict: 'error'; readonly want: Want };
}

const TCB_UNSUPPORTED: Want = { code: 'ERR_TCB_STATUS', reason: 'tcb_not_supported' };

const REAL: readonly RealCase[] = listCases('intel').map((c) => {
  const exp = c.meta.expected;
  const okWithDebug = exp.verdict === 'ok' || exp.reason === 'debug_enclave';
  return {
    name: c.name,
    tee: c.meta.tee as 'sgx' | 'tdx',
    at: new Date(c.meta.verify_at),
    quote: readBytes(c.dir, 'quote.bin'),
    collateral: toDcapCollateral(JSON.parse(readFileSync(join(c.dir, 'collateral.json'), 'utf8'))),
    baseline: okWithDebug
      ? { verdict: 'ok', tcbStatus: String(exp.tcb_status) }
      : { verdict: 'error', want: exp.reason === 'tcb_not_supported' ? TCB_UNSUPPORTED : { code: 'ERR_TCB_STATUS', reason: String(exp.reason) } },
  };
});

function realCase(name: string): RealCase {
  const c = REAL.find((x) => x.name === name);
  if (c === undefined) throw new Error(`no fixture case ${name}`);
  return c;
}

function verifyReal(c: RealCase, quote: Uint8Array): Promise<EvidenceResult> {
  return verifyDcapQuote(quote, c.collateral, { at: c.at, tee: c.tee, allowDebug: true });
}

/** The error a call raises (sync or async), or the result wrapped as {ok}. */
async function settle(f: () => unknown): Promise<{ ok: unknown } | { error: unknown }> {
  try {
    return { ok: await f() };
  } catch (e: unknown) {
    return { error: e };
  }
}

/** '' when `outcome` is one of `wants`, else a description of what happened instead. */
function mismatch(outcome: { ok: unknown } | { error: unknown }, wants: readonly Want[]): string {
  if ('ok' in outcome) return 'no error';
  const e = outcome.error;
  if (!AttestationError.is(e)) return `not an AttestationError: ${String(e)}`;
  return wants.some((w) => w.code === e.code && w.reason === e.reason) ? '' : `${e.code}/${e.reason} (${e.message})`;
}

async function expectError(f: () => unknown, want: Want): Promise<void> {
  const o = await settle(f);
  expect('error' in o, 'must fail').toBe(true);
  const e = (o as { error: unknown }).error;
  expect(AttestationError.is(e), String(e)).toBe(true);
  const a = e as AttestationError;
  expect({ code: a.code, reason: a.reason }, a.message).toEqual(want);
}

function withU16(bytes: Uint8Array, off: number, v: number): Uint8Array {
  const out = bytes.slice();
  out[off] = v & 0xff;
  out[off + 1] = v >>> 8;
  return out;
}

const u16At = (b: Uint8Array, o: number): number => (b[o] ?? 0) | ((b[o + 1] ?? 0) << 8);
const u32At = (b: Uint8Array, o: number): number => (u16At(b, o) | (u16At(b, o + 2) << 16)) >>> 0;

// ---------------------------------------------------------------------------------------------
// The field table, from the quote format (offsets computed here, independently of parse.ts)

interface Field {
  readonly name: string;
  readonly off: number;
  readonly len: number;
  /** Acceptable outcomes of flipping one byte; empty: not flipped (the PCK chain text). */
  readonly want: readonly Want[];
}

type Entry = readonly [name: string, len: number, reserved?: 'reserved'];

const SGX_REPORT: readonly Entry[] = [
  ['CPUSVN', 16],
  ['MISCSELECT', 4],
  ['RESERVED1', 12, 'reserved'],
  ['ISVEXTPRODID', 16],
  ['ATTRIBUTES', 16],
  ['MRENCLAVE', 32],
  ['RESERVED2', 32, 'reserved'],
  ['MRSIGNER', 32],
  ['RESERVED3', 32, 'reserved'],
  ['CONFIGID', 64],
  ['ISVPRODID', 2],
  ['ISVSVN', 2],
  ['CONFIGSVN', 2],
  ['RESERVED4', 42, 'reserved'],
  ['ISVFAMILYID', 16],
  ['REPORTDATA', 64],
];
const TD_REPORT10: readonly Entry[] = [
  ['TEE_TCB_SVN', 16],
  ['MRSEAM', 48],
  ['MRSIGNERSEAM', 48],
  ['SEAMATTRIBUTES', 8],
  ['TDATTRIBUTES', 8],
  ['XFAM', 8],
  ['MRTD', 48],
  ['MRCONFIGID', 48],
  ['MROWNER', 48],
  ['MROWNERCONFIG', 48],
  ['RTMR0', 48],
  ['RTMR1', 48],
  ['RTMR2', 48],
  ['RTMR3', 48],
  ['REPORTDATA', 64],
];
const TD_REPORT15: readonly Entry[] = [...TD_REPORT10, ['TEE_TCB_SVN2', 16], ['MRSERVICETD', 48]];

/** Header, body, signature data of a quote, laid out from the spec; checks that the fields tile [0, declaredEnd). */
function fieldTable(q: Uint8Array): Field[] {
  const fields: Field[] = [];
  let off = 0;
  const add = (name: string, len: number, want: readonly Want[]): void => {
    fields.push({ name, off, len, want });
    off += len;
  };
  const report = (what: string, entries: readonly Entry[], signed: Want): void => {
    for (const [name, len, reserved] of entries) add(`${what}.${name}`, len, [reserved === undefined ? signed : MALFORMED]);
  };
  const version = u16At(q, 0);
  const teeType = u32At(q, 4);
  const lengthField: readonly Want[] = [MALFORMED];
  // A wrong declared auth data size moves the parser onto other bytes: the next declared field is
  // then either out of bounds (malformed) or a certification data type that is not 5 (unsupported).
  const shiftingLength: readonly Want[] = [MALFORMED, unsupported('unsupported_cert_data')];
  const quoteSig = badSignature('quote_signature');
  const qeSig = badSignature('qe_report_signature');
  const qeData = badSignature('qe_report_data');

  // Header (48): every field but the gated ones is covered by the quote signature.
  add('header.version', 2, [unsupported('unsupported_version')]);
  add('header.att_key_type', 2, [unsupported('unsupported_key_type')]);
  add('header.tee_type', 4, [unsupported('unsupported_tee_type')]);
  add('header.qe_svn', 2, [quoteSig]);
  add('header.pce_svn', 2, [quoteSig]);
  add('header.qe_vendor_id', 16, [unsupported('qe_vendor')]);
  add('header.user_data', 20, [quoteSig]);

  let body: readonly Entry[];
  if (version === 5) {
    const bodyType = u16At(q, 48);
    add('body descriptor.type', 2, [unsupported('unsupported_body_type')]);
    add('body descriptor.size', 4, [MALFORMED]);
    body = bodyType === 1 ? SGX_REPORT : bodyType === 2 ? TD_REPORT10 : TD_REPORT15;
  } else {
    body = teeType === 0 ? SGX_REPORT : TD_REPORT10;
  }
  report(body === SGX_REPORT ? 'enclave report' : 'TD report', body, quoteSig);

  const sigDataLen = u32At(q, off);
  add('signature data length', 4, lengthField);
  const declaredEnd = off + sigDataLen;
  add('quote signature', 64, [quoteSig]);
  add('attestation key', 64, [qeData]);
  if (version !== 3) {
    add('certification data type', 2, [unsupported('unsupported_cert_data')]);
    add('certification data size', 4, lengthField);
  }
  report('QE report', SGX_REPORT, qeSig);
  add('QE report signature', 64, [qeSig]);
  const authLen = u16At(q, off);
  add('QE auth data size', 2, shiftingLength);
  add('QE auth data', authLen, [qeData]);
  add('PCK certification data type', 2, [unsupported('unsupported_cert_data')]);
  const pckLen = u32At(q, off);
  add('PCK certification data size', 4, lengthField);
  add('PCK certificate chain', pckLen, []);
  if (off !== declaredEnd) throw new Error(`field table ends at ${off}, signature data at ${declaredEnd}`);
  return fields;
}

// ---------------------------------------------------------------------------------------------

describe('real quotes: baseline', () => {
  it('has the six real cases', () => {
    expect(REAL.map((c) => c.name)).toHaveLength(6);
  });
  for (const c of REAL) {
    it(`${c.name}: verifies with its documented outcome (allowDebug)`, async () => {
      const o = await settle(() => verifyReal(c, c.quote));
      if (c.baseline.verdict === 'ok') {
        expect('ok' in o, mismatch(o, [])).toBe(true);
        expect((o as { ok: EvidenceResult }).ok.tcb_status).toBe(c.baseline.tcbStatus);
      } else {
        expect(mismatch(o, [c.baseline.want])).toBe('');
      }
    });
  }
});

describe('truncation and trailing bytes', () => {
  for (const c of REAL) {
    it(`${c.name}: every prefix shorter than the declared end is malformed_quote`, () => {
      const declaredEnd = parseQuote(c.quote).declaredEnd;
      const bad: string[] = [];
      for (let n = 0; n < declaredEnd; n++) {
        let e: unknown;
        try {
          parseQuote(c.quote.subarray(0, n));
        } catch (x: unknown) {
          e = x;
        }
        const m = mismatch(e === undefined ? { ok: true } : { error: e }, [MALFORMED]);
        if (m !== '') bad.push(`prefix ${n}: ${m}`);
      }
      expect(bad.slice(0, 10)).toEqual([]);
      expect(declaredEnd).toBeGreaterThan(4000);
    });

    it(`${c.name}: ~50 prefixes through verifyDcapQuote are malformed_quote`, async () => {
      const declaredEnd = parseQuote(c.quote).declaredEnd;
      const lengths = new Set<number>([0, 1, 47, 48, 49, declaredEnd - 1]);
      for (let i = 0; i < 45; i++) lengths.add(Math.floor((i * declaredEnd) / 45));
      const bad: string[] = [];
      for (const n of lengths) {
        const m = mismatch(await settle(() => verifyReal(c, c.quote.slice(0, n))), [MALFORMED]);
        if (m !== '') bad.push(`prefix ${n}: ${m}`);
      }
      expect(bad).toEqual([]);
      expect(lengths.size).toBeGreaterThanOrEqual(48);
    });

    it(`${c.name}: trailing junk after the declared end changes nothing`, async () => {
      const junk = [Uint8Array.of(0), new Uint8Array(100).fill(0xff), Uint8Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) & 0xff)];
      for (const j of junk) {
        const bytes = new Uint8Array([...c.quote, ...j]);
        const q = parseQuote(bytes);
        expect(q.trailingBytes).toBe(bytes.length - q.declaredEnd);
        const o = await settle(() => verifyReal(c, bytes));
        if (c.baseline.verdict === 'ok') {
          expect('ok' in o, mismatch(o, [])).toBe(true);
          expect((o as { ok: EvidenceResult }).ok.tcb_status).toBe(c.baseline.tcbStatus);
        } else {
          expect(mismatch(o, [c.baseline.want])).toBe('');
        }
      }
    });
  }
});

describe('field table: one flipped byte per field is caught by the right step', () => {
  for (const c of REAL) {
    it(`${c.name}: every field of ${String(fieldTable(c.quote).length)}`, async () => {
      const table = fieldTable(c.quote);
      const bad: string[] = [];
      let checks = 0;
      for (const f of table) {
        if (f.want.length === 0) continue;
        // First, middle and last byte of the field.
        for (const pos of new Set([f.off, f.off + (f.len >> 1), f.off + f.len - 1])) {
          const bytes = c.quote.slice();
          bytes[pos] = (bytes[pos] ?? 0) ^ 0xff;
          const m = mismatch(await settle(() => verifyReal(c, bytes)), f.want);
          checks++;
          if (m !== '') bad.push(`${f.name} @${pos}: got ${m}, want ${f.want.map((w) => `${w.code}/${w.reason}`).join(' or ')}`);
        }
      }
      expect(bad).toEqual([]);
      expect(checks).toBeGreaterThan(100);
    });
  }

  it('covers SGX reports, TD report 1.0 and 1.5, the v5 descriptor and v4 certification data', () => {
    const names = new Set(REAL.flatMap((c) => fieldTable(c.quote).map((f) => f.name)));
    for (const n of ['enclave report.RESERVED4', 'TD report.RTMR3', 'TD report.MRSERVICETD', 'body descriptor.type', 'certification data size', 'QE report.REPORTDATA', 'QE auth data']) {
      expect(names.has(n), n).toBe(true);
    }
  });

  it('reserved ranges are refused by parseQuote itself (no crypto needed)', async () => {
    for (const c of REAL) {
      for (const f of fieldTable(c.quote).filter((x) => x.name.includes('RESERVED'))) {
        const bytes = c.quote.slice();
        bytes[f.off + 1] = 0x01;
        await expectError(() => parseQuote(bytes), MALFORMED);
      }
    }
  });
});

describe('certification data types', () => {
  const others = [0, 1, 2, 3, 4, 7, 0xffff];
  it('v3: PCK certification data type other than 5 -> unsupported_cert_data', async () => {
    const c = realCase('sgx-v3-phala-processor-00a067');
    const f = fieldTable(c.quote).find((x) => x.name === 'PCK certification data type');
    expect(f).toBeDefined();
    for (const t of [...others, 6]) {
      const bytes = withU16(c.quote, f!.off, t);
      await expectError(() => parseQuote(bytes), unsupported('unsupported_cert_data'));
      await expectError(() => verifyReal(c, bytes), unsupported('unsupported_cert_data'));
    }
  });

  for (const name of ['tdx-v4-phala-b0c06f', 'tdx-v5-gotdx-90c06f']) {
    it(`${name}: outer type other than 6, or nested type other than 5 -> unsupported_cert_data`, async () => {
      const c = realCase(name);
      const table = fieldTable(c.quote);
      const outer = table.find((x) => x.name === 'certification data type');
      const nested = table.find((x) => x.name === 'PCK certification data type');
      expect(u16At(c.quote, outer!.off)).toBe(6);
      expect(u16At(c.quote, nested!.off)).toBe(5);
      for (const t of [...others, 5]) {
        const bytes = withU16(c.quote, outer!.off, t);
        await expectError(() => parseQuote(bytes), unsupported('unsupported_cert_data'));
        await expectError(() => verifyReal(c, bytes), unsupported('unsupported_cert_data'));
      }
      for (const t of [...others, 6]) {
        const bytes = withU16(c.quote, nested!.off, t);
        await expectError(() => parseQuote(bytes), unsupported('unsupported_cert_data'));
        await expectError(() => verifyReal(c, bytes), unsupported('unsupported_cert_data'));
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Fake PKI

const SECOND = 1000;
const HOUR = 3600 * SECOND;
const DAY = 24 * HOUR;

interface FakeSetup {
  readonly pki: FakeIntelPki;
  readonly quote: Uint8Array;
  readonly collateral: DcapCollateral;
  readonly anchor: TrustAnchor;
}

async function fakeSetup(
  c: RealCase,
  template: PkiTemplate,
  pkiOpts: Partial<FakeIntelPkiOptions> = {},
  colOpts: ReSignCollateralOptions = {},
): Promise<FakeSetup> {
  const pki = await mintIntelPki({ at: c.at, sgxExtension: template.sgxExtension, names: template.names, ...pkiOpts });
  return {
    pki,
    quote: reSignQuote(c.quote, pki),
    collateral: reSignCollateral(c.collateral, pki, colOpts),
    anchor: await anchorFromPem(pki.root.pem, 'test root', false),
  };
}

function verifyFake(c: RealCase, s: FakeSetup, at: Date = c.at, quote: Uint8Array = s.quote): Promise<EvidenceResult> {
  return verifyDcapQuote(quote, s.collateral, { at, tee: c.tee, allowDebug: true, trustAnchors: [s.anchor] });
}

describe('fake Intel PKI', () => {
  for (const c of REAL) {
    it(`${c.name}: re-signed quote and collateral verify under the fake root with the real outcome`, async () => {
      const s = await fakeSetup(c, templateFromQuote(c.quote));
      // Only the fake root is trusted, and the result says so.
      const o = await settle(() => verifyFake(c, s));
      if (c.baseline.verdict === 'ok') {
        expect('ok' in o, mismatch(o, [])).toBe(true);
        const r = (o as { ok: EvidenceResult }).ok;
        expect(r.tcb_status).toBe(c.baseline.tcbStatus);
        expect(r.trust_anchor).toEqual({ name: 'test root', sha256: s.anchor.sha256, pinned: false });
        const real = await verifyReal(c, c.quote);
        expect(r.claims).toEqual(real.claims);
        expect(r.advisory_ids).toEqual(real.advisory_ids);
      } else {
        expect(mismatch(o, [c.baseline.want])).toBe('');
      }
      // The re-encoded quote has the layout of the original: same signed region and version.
      const a = parseQuote(c.quote);
      const b = parseQuote(s.quote);
      expect(b.signedRegion).toEqual(a.signedRegion);
      expect(b.certificationDataType).toBe(a.certificationDataType);
      expect(b.trailingBytes).toBe(a.trailingBytes);
    });
  }
});

describe('fake PKI: time edges (the window under test is the narrowest)', () => {
  const c = realCase('sgx-v3-phala-processor-00a067');
  const template = templateFromQuote(c.quote);
  const at = c.at.getTime();
  const lo = new Date(at - HOUR);
  const hi = new Date(at + HOUR);
  // TCB info and QE identity get a wide window unless they are the item under test.
  const wide = { issueDate: new Date(at - 20 * DAY), nextUpdate: new Date(at + 20 * DAY) };

  const items: readonly { name: string; want: Want; pki?: Partial<FakeIntelPkiOptions>; col?: ReSignCollateralOptions }[] = [
    { name: 'PCK leaf certificate', want: CERT_EXPIRED, pki: { validity: { pck: { notBefore: lo, notAfter: hi } } } },
    { name: 'PCK CA certificate', want: CERT_EXPIRED, pki: { validity: { pckCa: { notBefore: lo, notAfter: hi } } } },
    { name: 'TCB signing certificate', want: CERT_EXPIRED, pki: { validity: { tcbSigning: { notBefore: lo, notAfter: hi } } } },
    { name: 'root CA certificate', want: CERT_EXPIRED, pki: { validity: { root: { notBefore: lo, notAfter: hi } } } },
    { name: 'TCB info issueDate/nextUpdate', want: STALE, col: { tcbInfo: { issueDate: lo, nextUpdate: hi } } },
    { name: 'QE identity issueDate/nextUpdate', want: STALE, col: { qeIdentity: { issueDate: lo, nextUpdate: hi } } },
    { name: 'Root CA CRL thisUpdate/nextUpdate', want: STALE, pki: { rootCrl: { thisUpdate: lo, nextUpdate: hi } } },
    { name: 'PCK CRL thisUpdate/nextUpdate', want: STALE, pki: { pckCrl: { thisUpdate: lo, nextUpdate: hi } } },
  ];

  for (const item of items) {
    it(`${item.name}: ok exactly at both bounds, ${item.want.reason} 1 ms outside`, async () => {
      const s = await fakeSetup(c, template, item.pki, { tcbInfo: wide, qeIdentity: wide, ...item.col });
      for (const t of [lo, hi]) {
        const r = await verifyFake(c, s, t);
        expect(r.verdict, t.toISOString()).toBe('ok');
        expect(r.tcb_status).toBe('ConfigurationAndSWHardeningNeeded');
      }
      await expectError(() => verifyFake(c, s, new Date(lo.getTime() - 1)), item.want);
      await expectError(() => verifyFake(c, s, new Date(hi.getTime() + 1)), item.want);
      // Well outside as well (the narrow window, not some coincidence of the edge, decides).
      await expectError(() => verifyFake(c, s, new Date(lo.getTime() - DAY)), item.want);
      await expectError(() => verifyFake(c, s, new Date(hi.getTime() + DAY)), item.want);
    });
  }

  it('an Invalid Date -> ERR_INVALID_ARGUMENT', async () => {
    const s = await fakeSetup(c, template);
    for (const d of [new Date(NaN), new Date('not a date'), new Date(8.64e15 + 1)]) {
      await expectError(() => verifyFake(c, s, d), { code: 'ERR_INVALID_ARGUMENT', reason: 'invalid_time' });
      await expectError(() => verifyReal({ ...c, at: d }, c.quote), { code: 'ERR_INVALID_ARGUMENT', reason: 'invalid_time' });
    }
  });
});

describe('fake PKI: revocation, CRL and chain faults', () => {
  const c = realCase('sgx-v3-phala-processor-00a067');
  const t = templateFromQuote(c.quote);
  const serials = { root: '01', pckCa: '2a0001', pck: '3b00000002', tcbSigning: '4c03' };

  it('the unmodified fake setup verifies (control for every case below)', async () => {
    const s = await fakeSetup(c, t, { serials });
    expect((await verifyFake(c, s)).verdict).toBe('ok');
  });

  const faults: readonly { name: string; want: Want; pki: Partial<FakeIntelPkiOptions> }[] = [
    { name: 'PCK leaf revoked in the PCK CRL', want: REVOKED, pki: { serials, pckCrl: { revoked: ['7f', serials.pck] } } },
    { name: 'PCK CA revoked in the Root CA CRL', want: REVOKED, pki: { serials, rootCrl: { revoked: [serials.pckCa] } } },
    { name: 'TCB signing certificate revoked in the Root CA CRL', want: REVOKED, pki: { serials, rootCrl: { revoked: [serials.tcbSigning] } } },
    { name: 'PCK CRL issued by the Root CA', want: { code: 'ERR_CRL_INVALID', reason: 'crl_issuer' }, pki: { pckCrl: { fault: 'wrong-issuer' } } },
    { name: 'Root CA CRL issued by the PCK CA', want: { code: 'ERR_CRL_INVALID', reason: 'crl_issuer' }, pki: { rootCrl: { fault: 'wrong-issuer' } } },
    { name: 'PCK CRL signed by another key under the PCK CA name', want: badSignature('crl_signature'), pki: { pckCrl: { fault: 'wrong-key' } } },
    { name: 'Root CA CRL signed by another key under the root name', want: badSignature('crl_signature'), pki: { rootCrl: { fault: 'wrong-key' } } },
    { name: 'PCK CRL without nextUpdate', want: STALE, pki: { pckCrl: { nextUpdate: null } } },
    { name: 'Root CA CRL without nextUpdate', want: STALE, pki: { rootCrl: { nextUpdate: null } } },
    { name: 'non-CA PCK CA', want: { code: 'ERR_CHAIN_UNTRUSTED', reason: 'not_a_ca' }, pki: { pckCaIsCa: false } },
    { name: 'PCK CA without keyCertSign', want: { code: 'ERR_CHAIN_UNTRUSTED', reason: 'not_a_ca' }, pki: { pckCaKeyUsage: KU_CRL_SIGN } },
    { name: 'root pathLen 0 with an intermediate below it', want: { code: 'ERR_CHAIN_UNTRUSTED', reason: 'path_length' }, pki: { rootPathLen: 0 } },
    ...(['pck', 'pckCa', 'tcbSigning'] as const).map((role) => ({
      name: `unknown critical extension in the ${role} certificate`,
      want: unsupported('unsupported_critical_extension'),
      pki: { unknownCriticalExtension: [role] },
    })),
  ];

  for (const f of faults) {
    it(`${f.name} -> ${f.want.code}/${f.want.reason}`, async () => {
      const s = await fakeSetup(c, t, f.pki);
      await expectError(() => verifyFake(c, s), f.want);
    });
  }

  it('unknown critical extension in the root: the anchor itself is refused', async () => {
    const pki = await mintIntelPki({ at: c.at, sgxExtension: t.sgxExtension, unknownCriticalExtension: ['root'] });
    await expectError(() => anchorFromPem(pki.root.pem, 'test root', false), unsupported('unsupported_critical_extension'));
  });

  it('TCB info / QE identity signed by a key other than the TCB signing key', async () => {
    const s = await fakeSetup(c, t);
    const other = await mintIntelPki({ at: c.at, sgxExtension: t.sgxExtension });
    const forged = reSignCollateral(c.collateral, other);
    await expectError(() => verifyFake(c, { ...s, collateral: { ...s.collateral, tcb_info_signature: forged.tcb_info_signature } }), badSignature('tcb_info_signature'));
    await expectError(() => verifyFake(c, { ...s, collateral: { ...s.collateral, qe_identity_signature: forged.qe_identity_signature } }), badSignature('qe_identity_signature'));
  });

  it('a PCK CRL from another CA with the same name (the quote chain names the CA) -> crl_signature', async () => {
    const a = await fakeSetup(c, t);
    const b = await mintIntelPki({ at: c.at, sgxExtension: t.sgxExtension, names: t.names });
    const collateral = { ...a.collateral, pck_crl: Buffer.from(b.pckCrlDer).toString('hex') };
    await expectError(() => verifyFake(c, { ...a, collateral }), badSignature('crl_signature'));
  });

  it('a chain whose root has the Intel name but another key, with the pinned Intel root -> untrusted_root', async () => {
    const s = await fakeSetup(c, t);
    // The fake root carries the real Intel root's subject, byte for byte.
    expect(parseCertificate(s.pki.root.der).subject.der).toEqual(t.names.root);
    await expectError(() => verifyDcapQuote(s.quote, s.collateral, { at: c.at, tee: c.tee, allowDebug: true }), UNTRUSTED);
  });

  // Found by this file and fixed in the library: collateral signed by another certificate under the
  // root, a cache hit for a same-named CA with another key, a CRL from a CA without cRLSign.

  it('TCB info / QE identity signed by the PCK leaf or the PCK CA (not the TCB Signing certificate) -> collateral_signer', async () => {
    const s = await fakeSetup(c, t);
    for (const [key, chain] of [
      [s.pki.pck.privateKey, s.pki.pckChainPem],
      [s.pki.pckCa.privateKey, s.pki.pckCrlChainPem],
    ] as const) {
      const forged = { ...reSignCollateral(c.collateral, s.pki, { signer: key }), tcb_info_issuer_chain: chain, qe_identity_issuer_chain: chain };
      await expectError(() => verifyFake(c, { ...s, collateral: forged }), { code: 'ERR_CHAIN_UNTRUSTED', reason: 'collateral_signer' });
      // Also when only the QE identity comes from the wrong signer (its own chain is verified separately).
      const qeOnly = { ...s.collateral, qe_identity: forged.qe_identity, qe_identity_signature: forged.qe_identity_signature, qe_identity_issuer_chain: chain };
      await expectError(() => verifyFake(c, { ...s, collateral: qeOnly }), { code: 'ERR_CHAIN_UNTRUSTED', reason: 'collateral_signer' });
    }
  });

  it('a TCB signing certificate under the root with another name -> collateral_signer', async () => {
    const s = await fakeSetup(c, t, { names: { ...t.names, tcbSigning: 'CN=Intel SGX TCB Signing 2, O=Intel Corporation, C=US' } });
    await expectError(() => verifyFake(c, s), { code: 'ERR_CHAIN_UNTRUSTED', reason: 'collateral_signer' });
  });

  it('a warm cache gives the cold result for a second PCK CA with the same name under the same root', async () => {
    const a = await fakeSetup(c, t);
    const b = await mintIntelPki({ at: c.at, sgxExtension: t.sgxExtension, names: t.names, sameRootAs: a.pki });
    const quoteB = reSignQuote(c.quote, b);
    const opts = { at: c.at, tee: c.tee, allowDebug: true, trustAnchors: [a.anchor] };
    // Cold: A's PCK CRL does not verify with B's CA key.
    await expectError(() => verifyDcapQuote(quoteB, a.collateral, opts), badSignature('crl_signature'));
    const cache = createDcapCache();
    expect((await verifyDcapQuote(a.quote, a.collateral, { ...opts, cache })).verdict).toBe('ok');
    // Warm: the collateral entry of CA A must not be reused for CA B.
    await expectError(() => verifyDcapQuote(quoteB, a.collateral, { ...opts, cache }), badSignature('crl_signature'));
    // B's own collateral is fine, warm and cold.
    const colB = reSignCollateral(c.collateral, b);
    expect((await verifyDcapQuote(quoteB, colB, { ...opts, cache })).verdict).toBe('ok');
    expect((await verifyDcapQuote(quoteB, colB, opts)).verdict).toBe('ok');
  });

  it('a PCK CRL signed by a CA whose keyUsage lacks cRLSign -> crl_signer (RFC 5280 6.3.3 (f))', async () => {
    const s = await fakeSetup(c, t, { pckCaKeyUsage: KU_KEY_CERT_SIGN });
    await expectError(() => verifyFake(c, s), { code: 'ERR_CRL_INVALID', reason: 'crl_signer' });
  });

  it('the fake collateral with the real quote and the pinned Intel root -> untrusted_root (TCB info issuer chain)', async () => {
    const s = await fakeSetup(c, t);
    await expectError(() => verifyDcapQuote(c.quote, s.collateral, { at: c.at, tee: c.tee, allowDebug: true }), UNTRUSTED);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const CODES = new Set<string>([...VERIFICATION_CODES, ...POLICY_CODES]);

function assertOnlyAttestationErrors(o: { ok: unknown } | { error: unknown }): void {
  if ('ok' in o) return;
  const e = o.error;
  if (!AttestationError.is(e)) throw new Error(`not an AttestationError: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  if (!CODES.has(e.code) || e.reason.length === 0) throw new Error(`bad code/reason ${e.code}/${e.reason}`);
}

type Mutation = { kind: 'flip'; pos: number; xor: number } | { kind: 'truncate'; pos: number } | { kind: 'insert'; pos: number; bytes: Uint8Array };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), pos: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), pos: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
);

function mutate(src: Uint8Array, muts: readonly Mutation[]): Uint8Array {
  let b = src.slice();
  for (const m of muts) {
    const pos = b.length === 0 ? 0 : m.pos % b.length;
    if (m.kind === 'flip') {
      if (b.length > 0) b[pos] = (b[pos] ?? 0) ^ m.xor;
    } else if (m.kind === 'truncate') {
      b = b.slice(0, pos);
    } else {
      b = new Uint8Array([...b.subarray(0, pos), ...m.bytes, ...b.subarray(pos)]);
    }
  }
  return b;
}

/** Mutations biased towards the signature data, where the declared lengths live. */
const quoteMutationArb = fc.tuple(fc.integer({ min: 0, max: REAL.length - 1 }), fc.array(mutationArb, { minLength: 1, maxLength: 4 }));

function pemBlocks(text: string): Uint8Array[] {
  return [...text.matchAll(/-----BEGIN [A-Z ]+-----([A-Za-z0-9+/=\s]+?)-----END [A-Z ]+-----/g)].map((m) => new Uint8Array(Buffer.from(m[1] ?? '', 'base64')));
}

describe('properties: only AttestationError ever escapes', () => {
  const realCerts = REAL.flatMap((c) => pemBlocks(parseQuote(c.quote).pckChainPem));
  const realCrls = REAL.flatMap((c) => [c.collateral.root_ca_crl, c.collateral.pck_crl].map((h) => new Uint8Array(Buffer.from(h.trim(), 'hex'))));
  let fakeCerts: Uint8Array[] = [];
  beforeAll(async () => {
    const c = realCase('tdx-v5-gotdx-90c06f');
    const pki = await mintIntelPki({ at: c.at, sgxExtension: templateFromQuote(c.quote).sgxExtension, rootCrl: { revoked: ['01', '02'] } });
    fakeCerts = [pki.root.der, pki.pckCa.der, pki.pck.der, pki.tcbSigning.der, pki.rootCrlDer];
  });

  it('parseQuote: arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (b) => {
        let o: { ok: unknown } | { error: unknown };
        try {
          o = { ok: parseQuote(b) };
        } catch (e: unknown) {
          o = { error: e };
        }
        assertOnlyAttestationErrors(o);
      }),
      { numRuns: 500 },
    );
  });

  it('parseQuote: arbitrary bytes behind a valid header', () => {
    const headers = REAL.map((c) => c.quote.subarray(0, 48));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: headers.length - 1 }), fc.uint8Array({ maxLength: 6000 }), (i, tail) => {
        const b = new Uint8Array([...(headers[i] ?? []), ...tail]);
        try {
          parseQuote(b);
        } catch (e: unknown) {
          assertOnlyAttestationErrors({ error: e });
        }
      }),
      { numRuns: 300 },
    );
  });

  it('parseQuote: flips, truncations and insertions of real quotes', () => {
    fc.assert(
      fc.property(quoteMutationArb, ([i, muts]) => {
        const b = mutate(REAL[i]?.quote ?? new Uint8Array(), muts);
        try {
          parseQuote(b);
        } catch (e: unknown) {
          assertOnlyAttestationErrors({ error: e });
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('verifyDcapQuote: arbitrary bytes and mutated real quotes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 1024 }), async (b) => {
        const c = REAL[0]!;
        assertOnlyAttestationErrors(await settle(() => verifyReal(c, b)));
      }),
      { numRuns: 100 },
    );
    await fc.assert(
      fc.asyncProperty(quoteMutationArb, async ([i, muts]) => {
        const c = REAL[i]!;
        assertOnlyAttestationErrors(await settle(() => verifyReal(c, mutate(c.quote, muts))));
      }),
      { numRuns: 300 },
    );
  });

  it('verifyDcapQuote: mutated PCK chain text inside a real quote', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: REAL.length - 1 }), fc.array(mutationArb.filter((m) => m.kind === 'flip'), { minLength: 1, maxLength: 3 }), async (i, muts) => {
        const c = REAL[i]!;
        const f = fieldTable(c.quote).find((x) => x.name === 'PCK certificate chain')!;
        const b = c.quote.slice();
        for (const m of muts) {
          const pos = f.off + (m.pos % f.len);
          b[pos] = (b[pos] ?? 0) ^ m.xor;
        }
        assertOnlyAttestationErrors(await settle(() => verifyReal(c, b)));
      }),
      { numRuns: 200 },
    );
  });

  it('verifyDcapQuote: collateral fields replaced by arbitrary or mutated strings', async () => {
    const keys = Object.keys(REAL[0]!.collateral) as (keyof DcapCollateral)[];
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: REAL.length - 1 }),
        fc.constantFrom(...keys),
        fc.oneof(fc.string({ maxLength: 200 }), fc.tuple(fc.nat(), fc.string({ maxLength: 4 }))),
        async (i, key, v) => {
          const c = REAL[i]!;
          const orig = c.collateral[key];
          const value = typeof v === 'string' ? v : orig.slice(0, v[0] % (orig.length + 1)) + v[1] + orig.slice((v[0] % (orig.length + 1)) + 1);
          const collateral = { ...c.collateral, [key]: value };
          assertOnlyAttestationErrors(await settle(() => verifyDcapQuote(c.quote, collateral, { at: c.at, allowDebug: true })));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('parseCertificate and parseCrl: arbitrary bytes and mutated real DER', () => {
    const ders = [...realCerts, ...realCrls, ...fakeCerts];
    expect(realCerts.length).toBeGreaterThanOrEqual(18);
    const derArb = fc.oneof(
      fc.uint8Array({ maxLength: 1500 }),
      fc.tuple(fc.integer({ min: 0, max: ders.length - 1 }), fc.array(mutationArb, { minLength: 1, maxLength: 3 })).map(([i, m]) => mutate(ders[i]!, m)),
    );
    fc.assert(
      fc.property(derArb, (b) => {
        for (const f of [(): unknown => parseCertificate(b), (): unknown => parseCrl(b)]) {
          try {
            f();
          } catch (e: unknown) {
            assertOnlyAttestationErrors({ error: e });
          }
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('parseTcbInfo, parseQeIdentity and toDcapCollateral: arbitrary and mutated text', () => {
    const texts = REAL.flatMap((c) => [c.collateral.tcb_info, c.collateral.qe_identity]);
    const textArb = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.json({ maxDepth: 3 }),
      fc.tuple(fc.integer({ min: 0, max: texts.length - 1 }), fc.nat(), fc.string({ maxLength: 6 }), fc.nat({ max: 8 })).map(([i, p, s, del]) => {
        const t = texts[i]!;
        const at = p % (t.length + 1);
        return t.slice(0, at) + s + t.slice(at + del);
      }),
    );
    fc.assert(
      fc.property(textArb, (s) => {
        for (const f of [(): unknown => parseTcbInfo(s), (): unknown => parseQeIdentity(s)]) {
          try {
            f();
          } catch (e: unknown) {
            assertOnlyAttestationErrors({ error: e });
          }
        }
      }),
      { numRuns: 1500 },
    );
    fc.assert(
      fc.property(fc.anything(), (v) => {
        try {
          toDcapCollateral(v);
        } catch (e: unknown) {
          assertOnlyAttestationErrors({ error: e });
        }
      }),
      { numRuns: 300 },
    );
  });
});
