/**
 * GramineAttester against a fake /dev/attestation (fakes.ts): the exact bytes written to
 * user_report_data, the quote returned byte for byte, attestation_type handling, every failure
 * path's code, and one request at a time.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseQuote } from '../../../../attestation/intel/parse.ts';
import { AttesterError, type AttestRequest } from '../../../../enclave/attesters/attester.ts';
import { GramineAttester, sgxQuoteReportData, type GramineOptions } from '../../../../enclave/attesters/gramine.ts';
import { FakeGramine, fakeSgxQuote, type FakeGramineOptions } from './fakes.ts';

function request(fill = 5): AttestRequest {
  return { reportData: new Uint8Array(64).map((_, i) => (i * 7 + fill) & 0xff), nonce: new Uint8Array(32).fill(fill) };
}

async function rejection(p: Promise<unknown>): Promise<AttesterError> {
  try {
    await p;
  } catch (e: unknown) {
    if (e instanceof AttesterError) return e;
    throw new Error(`not an AttesterError: ${String(e)}`);
  }
  throw new Error('did not reject');
}

function setup(fake: FakeGramineOptions = {}, opts: GramineOptions = {}): { fs: FakeGramine; attester: GramineAttester } {
  const fs = new FakeGramine(fake);
  return { fs, attester: new GramineAttester({ root: fs.root, fs, ...opts }) };
}

describe('GramineAttester', () => {
  it('writes the report data to user_report_data and returns the quote byte for byte', async () => {
    const { fs, attester } = setup();
    const req = request();
    const ev = await attester.attest(req);
    expect(fs.writes).toEqual([{ name: 'user_report_data', data: req.reportData }]);
    expect(ev).toEqual({ tee: 'sgx', evidence: fakeSgxQuote(req.reportData), collateral: [], simulated: false });
    expect(attester.kind).toBe('sgx');
  });

  it.each([[4 as const], [5 as const]])('reads REPORTDATA of a v%s quote', async (version) => {
    const { attester } = setup({ version });
    const req = request();
    expect((await attester.attest(req)).evidence).toEqual(fakeSgxQuote(req.reportData, version));
  });

  it('takes attestation_type with a trailing newline or NUL', async () => {
    await expect(setup({ type: 'dcap\n' }).attester.attest(request())).resolves.toMatchObject({ tee: 'sgx' });
    await expect(setup({ type: 'dcap\0' }).attester.attest(request())).resolves.toMatchObject({ tee: 'sgx' });
  });

  const cases: { name: string; fake: FakeGramineOptions; opts?: GramineOptions; code: AttesterError['code']; message: string | RegExp; wrote: boolean }[] = [
    { name: 'no Gramine', fake: { absent: true }, code: 'ERR_ATTESTER_UNAVAILABLE', message: 'not running inside Gramine', wrote: false },
    { name: 'attestation off', fake: { type: 'none' }, code: 'ERR_ATTESTER_UNAVAILABLE', message: 'sgx.remote_attestation = "dcap"', wrote: false },
    { name: 'EPID attestation', fake: { type: 'epid' }, code: 'ERR_ATTESTER_FAILED', message: 'attestation_type is "epid", want "dcap"', wrote: false },
    { name: 'attestation_type unreadable', fake: { fail: { op: 'read', name: 'attestation_type', code: 'EIO' } }, code: 'ERR_ATTESTER_FAILED', message: 'EIO', wrote: false },
    { name: 'user_report_data write refused', fake: { fail: { op: 'write', code: 'EACCES' } }, code: 'ERR_ATTESTER_FAILED', message: 'writing /fake/dev/attestation/user_report_data failed: EACCES', wrote: false },
    { name: 'quote generation failing', fake: { fail: { op: 'read', name: 'quote', code: 'EIO' } }, code: 'ERR_ATTESTER_FAILED', message: 'reading /fake/dev/attestation/quote failed: EIO', wrote: true },
    { name: 'an empty quote', fake: { quote: () => new Uint8Array(0) }, code: 'ERR_ATTESTER_FAILED', message: 'quote is empty', wrote: true },
    { name: 'a quote over the bound', fake: { quote: () => new Uint8Array(5000) }, opts: { maxQuoteBytes: 4999 }, code: 'ERR_ATTESTER_FAILED', message: 'larger than 4999 bytes', wrote: true },
    { name: 'another writer in the enclave', fake: { interloper: new Uint8Array(64).fill(0xaa) }, code: 'ERR_ATTESTER_CONFLICT', message: /REPORTDATA is (aa){64}, want/, wrote: true },
    { name: 'a TDX quote', fake: { quote: (d) => fakeSgxQuote(d).fill(0x81, 4, 5) }, code: 'ERR_ATTESTER_FAILED', message: 'tee_type is 0x81', wrote: true },
    { name: 'an unknown quote version', fake: { quote: (d) => fakeSgxQuote(d).fill(2, 0, 1) }, code: 'ERR_ATTESTER_FAILED', message: 'quote version is 2', wrote: true },
    { name: 'a v5 quote with a TD body', fake: { quote: (d) => fakeSgxQuote(d, 5).fill(2, 48, 49) }, code: 'ERR_ATTESTER_FAILED', message: 'body type is 2', wrote: true },
    { name: 'a truncated quote', fake: { quote: (d) => fakeSgxQuote(d).subarray(0, 300) }, code: 'ERR_ATTESTER_FAILED', message: 'too short', wrote: true },
    { name: 'a quote shorter than a header', fake: { quote: () => new Uint8Array(47) }, code: 'ERR_ATTESTER_FAILED', message: 'shorter than a quote header', wrote: true },
  ];
  for (const c of cases) {
    it(`${c.name} -> ${c.code}`, async () => {
      const { fs, attester } = setup(c.fake, c.opts);
      const e = await rejection(attester.attest(request()));
      expect(e.code).toBe(c.code);
      if (typeof c.message === 'string') expect(e.message).toContain(c.message);
      else expect(e.message).toMatch(c.message);
      expect(fs.writes.length > 0).toBe(c.wrote);
    });
  }

  it.each([
    ['report data of 32 bytes', { reportData: new Uint8Array(32), nonce: new Uint8Array(32) }],
    ['a nonce of 64 bytes', { reportData: new Uint8Array(64), nonce: new Uint8Array(64) }],
  ])('refuses %s without writing', async (_name, req) => {
    const { fs, attester } = setup();
    expect((await rejection(attester.attest(req))).code).toBe('ERR_ATTESTER_INPUT');
    expect(fs.writes).toEqual([]);
  });

  it('refuses a nonsensical quote bound', () => {
    expect(() => new GramineAttester({ maxQuoteBytes: 0 })).toThrow(expect.objectContaining({ code: 'ERR_ATTESTER_INPUT' }) as Error);
  });

  it('runs concurrent requests one at a time, each quote answering its own data', async () => {
    const { fs, attester } = setup();
    const reqs = [1, 2, 3, 4].map((n) => request(n));
    const evs = await Promise.all(reqs.map((r) => attester.attest(r)));
    expect(fs.maxInFlight).toBe(1);
    evs.forEach((ev, i) => {
      expect(ev.evidence).toEqual(fakeSgxQuote(reqs[i]!.reportData));
    });
  });

  it('reports a missing /dev/attestation as unavailable through node:fs', async () => {
    const e = await rejection(new GramineAttester({ root: '/nonexistent/attestgate/dev/attestation' }).attest(request()));
    expect(e.code).toBe('ERR_ATTESTER_UNAVAILABLE');
  });
});

describe('sgxQuoteReportData', () => {
  it('finds REPORTDATA at 368 (v3, v4) and 374 (v5)', () => {
    const d = new Uint8Array(64).fill(0x42);
    expect(fakeSgxQuote(d, 3).subarray(368, 432)).toEqual(d);
    expect(sgxQuoteReportData(fakeSgxQuote(d, 3))).toEqual(d);
    expect(fakeSgxQuote(d, 5).subarray(374, 438)).toEqual(d);
    expect(sgxQuoteReportData(fakeSgxQuote(d, 5))).toEqual(d);
  });
});

describe('GramineAttester with real SGX quotes', () => {
  const FIX = join(import.meta.dirname, '../../../fixtures/intel');
  const sgx = readdirSync(FIX).filter((n) => n.startsWith('sgx-'));

  it.each(sgx)('%s: REPORTDATA found where the quote parser finds it, quote returned as is', async (name) => {
    const quote = new Uint8Array(readFileSync(join(FIX, name, 'quote.bin')));
    const parsed = parseQuote(quote);
    if (parsed.body.kind !== 'sgx') throw new Error('fixture is not SGX');
    expect(sgxQuoteReportData(quote)).toEqual(parsed.body.report.reportData);
    const { attester } = setup({ quote: () => quote });
    const ev = await attester.attest({ reportData: parsed.body.report.reportData, nonce: new Uint8Array(32) });
    expect(ev.evidence).toEqual(quote);
  });
});
