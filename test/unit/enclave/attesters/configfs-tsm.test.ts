/**
 * ConfigfsTsmAttester against a fake configfs-tsm (fakes.ts): the bytes written, the evidence
 * returned byte for byte, auxblob certificates as collateral (down to the real verifier with
 * real AMD fixtures), every failure path's code, cleanup of the report directory on every path,
 * and one request at a time.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sevSnpInputFromFiles, verifySevSnp } from '../../../../attestation/amd/verify.ts';
import { parseProduct } from '../../../../attestation/amd/kds.ts';
import { parseQuote } from '../../../../attestation/intel/parse.ts';
import { AttesterError, type AttestRequest } from '../../../../enclave/attesters/attester.ts';
import { ConfigfsTsmAttester, nodeTsmFs, readBounded, reportDataOf, type ConfigfsTsmOptions } from '../../../../enclave/attesters/configfs-tsm.ts';
import { nodeGramineFs } from '../../../../enclave/attesters/gramine.ts';
import { SNP_CERT_GUID } from '../../../../enclave/attesters/snp-certs.ts';
import { certTable, fakeDer, fakeSnpReport, fakeTdxQuote, FakeTsm, type FakeTsmOptions } from './fakes.ts';

function request(fill = 7): AttestRequest {
  return { reportData: new Uint8Array(64).map((_, i) => (i * 3 + fill) & 0xff), nonce: new Uint8Array(32).fill(fill) };
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

function setup(kind: 'tdx' | 'sev-snp', fake: FakeTsmOptions = {}, opts: Partial<ConfigfsTsmOptions> = {}): { fs: FakeTsm; attester: ConfigfsTsmAttester } {
  const fs = new FakeTsm({ provider: kind === 'tdx' ? 'tdx_guest' : 'sev_guest', ...fake });
  return { fs, attester: new ConfigfsTsmAttester({ kind, root: fs.root, fs, ...opts }) };
}

function pem(der: Uint8Array): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

describe('ConfigfsTsmAttester, TDX', () => {
  it('writes the report data to inblob and returns outblob byte for byte', async () => {
    const { fs, attester } = setup('tdx');
    const req = request();
    const ev = await attester.attest(req);
    expect(fs.writes).toEqual([{ name: 'inblob', data: req.reportData }]);
    expect(ev).toEqual({ tee: 'tdx', evidence: fakeTdxQuote(req.reportData), collateral: [], simulated: false });
    expect(attester.kind).toBe('tdx');
    expect(attester.tee).toBe('tdx');
    // One fresh directory, unpredictably named, removed again; auxblob never asked for TDX.
    expect(fs.created).toHaveLength(1);
    expect(fs.created[0]).toMatch(/^attestgate-report-\d+-[0-9a-f]{16}$/);
    expect(fs.removed).toEqual(fs.created);
    expect(fs.dirs.size).toBe(0);
    expect(fs.reads).toEqual(['provider', 'generation', 'outblob', 'generation']);
  });

  it('reads REPORTDATA of a v5 quote', async () => {
    const { attester } = setup('tdx', { tdxVersion: 5 });
    const req = request(9);
    expect((await attester.attest(req)).evidence).toEqual(fakeTdxQuote(req.reportData, 5));
  });

  it('uses a new directory for every request', async () => {
    const { fs, attester } = setup('tdx');
    await attester.attest(request(1));
    await attester.attest(request(2));
    expect(new Set(fs.created).size).toBe(2);
    expect(fs.dirs.size).toBe(0);
  });

  it('refuses privlevel and service_provider, which are SEV-SNP options', () => {
    const fs = new FakeTsm();
    expect(() => new ConfigfsTsmAttester({ kind: 'tdx', fs, privlevel: 0 })).toThrow(expect.objectContaining({ code: 'ERR_ATTESTER_INPUT' }) as Error);
    expect(() => new ConfigfsTsmAttester({ kind: 'tdx', fs, serviceProvider: 'svsm' })).toThrow(expect.objectContaining({ code: 'ERR_ATTESTER_INPUT' }) as Error);
  });
});

describe('ConfigfsTsmAttester, SEV-SNP', () => {
  const VCEK = fakeDer(0xc1, 1300);
  const VLEK = fakeDer(0xc2, 1250);
  const ASK = fakeDer(0xc3, 1500);
  const ARK = fakeDer(0xc4, 1400);
  const aux = certTable(
    [
      [SNP_CERT_GUID.vcek, VCEK],
      [SNP_CERT_GUID.vlek, VLEK],
      [SNP_CERT_GUID.ask, ASK],
      [SNP_CERT_GUID.ark, ARK],
    ],
    0x1000,
  );

  it('returns the report and the auxblob certificates as vcek.der and cert_chain.pem', async () => {
    const { fs, attester } = setup('sev-snp', { auxblob: aux });
    const req = request();
    const ev = await attester.attest(req);
    expect(fs.writes).toEqual([{ name: 'inblob', data: req.reportData }]);
    expect(ev.tee).toBe('sev-snp');
    expect(ev.simulated).toBe(false);
    expect(ev.evidence).toEqual(fakeSnpReport(req.reportData));
    expect(ev.collateral.map((c) => c.name)).toEqual(['vcek.der', 'cert_chain.pem']);
    expect(ev.collateral[0]!.bytes).toEqual(VCEK);
    expect(Buffer.from(ev.collateral[1]!.bytes).toString('latin1')).toBe(pem(ASK) + pem(ARK));
    expect(fs.reads).toEqual(['provider', 'generation', 'outblob', 'auxblob', 'generation']);
    expect(fs.dirs.size).toBe(0);
  });

  it('returns vlek.der when the report names the VLEK', async () => {
    const { attester } = setup('sev-snp', { auxblob: aux, signingKey: 1 });
    const ev = await attester.attest(request());
    expect(ev.collateral.map((c) => c.name)).toEqual(['vlek.der', 'cert_chain.pem']);
    expect(ev.collateral[0]!.bytes).toEqual(VLEK);
  });

  it('returns no collateral when the host loaded no certificates or the kernel has no auxblob', async () => {
    expect((await setup('sev-snp', { auxblob: new Uint8Array(0) }).attester.attest(request())).collateral).toEqual([]);
    expect((await setup('sev-snp', {}).attester.attest(request())).collateral).toEqual([]);
  });

  it('writes privlevel and service_provider before inblob and counts them in generation', async () => {
    const { fs, attester } = setup('sev-snp', { privlevelFloor: 1 }, { privlevel: 2, serviceProvider: 'svsm' });
    const req = request();
    await attester.attest(req);
    expect(fs.writes.map((w) => [w.name, Buffer.from(w.data).toString('latin1')])).toEqual([
      ['privlevel', '2\n'],
      ['service_provider', 'svsm\n'],
      ['inblob', Buffer.from(req.reportData).toString('latin1')],
    ]);
    expect(fs.reads).toEqual(['provider', 'privlevel_floor', 'generation', 'outblob', 'auxblob', 'generation']);
  });

  it('does not compare REPORT_DATA with a service provider (the SVSM hashes it)', async () => {
    const { attester } = setup('sev-snp', { outblob: () => fakeSnpReport(new Uint8Array(64).fill(0xee)) }, { serviceProvider: 'svsm' });
    await expect(attester.attest(request())).resolves.toMatchObject({ tee: 'sev-snp' });
  });

  it.each([[-1], [4], [1.5], [Number.NaN]])('refuses privlevel %s', (privlevel) => {
    expect(() => new ConfigfsTsmAttester({ kind: 'sev-snp', fs: new FakeTsm(), privlevel })).toThrow(expect.objectContaining({ code: 'ERR_ATTESTER_INPUT' }) as Error);
  });

  it('refuses a service_provider that is not a short name', () => {
    expect(() => new ConfigfsTsmAttester({ kind: 'sev-snp', fs: new FakeTsm(), serviceProvider: 'svsm\nx' })).toThrow(expect.objectContaining({ code: 'ERR_ATTESTER_INPUT' }) as Error);
  });

  it('refuses an unknown kind from untyped configuration', () => {
    const kind = 'sgx' as unknown as 'tdx';
    expect(() => new ConfigfsTsmAttester({ kind, fs: new FakeTsm() })).toThrow(expect.objectContaining({ code: 'ERR_ATTESTER_INPUT' }) as Error);
  });
});

describe('ConfigfsTsmAttester failures', () => {
  const VCEK = fakeDer(0xd1, 100);
  const cases: {
    name: string;
    kind?: 'tdx' | 'sev-snp';
    fake: FakeTsmOptions;
    opts?: Partial<ConfigfsTsmOptions>;
    code: AttesterError['code'];
    message: string | RegExp;
    /** Whether a report directory was created (and so must be gone again). */
    created?: boolean;
  }[] = [
    { name: 'configfs-tsm missing', fake: { absent: true }, code: 'ERR_ATTESTER_UNAVAILABLE', message: /lacks configfs-tsm.*configfs is not mounted/, created: false },
    { name: 'report root vanishing before mkdir', fake: { fail: { op: 'mkdir', code: 'ENOENT' } }, code: 'ERR_ATTESTER_UNAVAILABLE', message: 'not mounted', created: false },
    { name: 'mkdir refused', fake: { fail: { op: 'mkdir', code: 'EACCES' } }, code: 'ERR_ATTESTER_FAILED', message: 'EACCES', created: false },
    { name: 'a TDX provider for SEV-SNP', fake: { provider: 'tdx_guest' }, code: 'ERR_ATTESTER_FAILED', message: 'provider is "tdx_guest", want "sev_guest"' },
    { name: 'an SNP provider for TDX', kind: 'tdx', fake: { provider: 'sev_guest' }, code: 'ERR_ATTESTER_FAILED', message: 'provider is "sev_guest", want "tdx_guest"' },
    { name: 'an unknown provider', fake: { provider: 'arm_cca_guest' }, code: 'ERR_ATTESTER_FAILED', message: '"arm_cca_guest"' },
    { name: 'provider unreadable', fake: { fail: { op: 'read', name: 'provider', code: 'ENXIO' } }, code: 'ERR_ATTESTER_FAILED', message: 'reading provider failed: ENXIO' },
    { name: 'generation unreadable', fake: { fail: { op: 'read', name: 'generation', code: 'EIO' } }, code: 'ERR_ATTESTER_FAILED', message: 'reading generation failed' },
    { name: 'generation not a number', fake: { generationText: 'many\n' }, code: 'ERR_ATTESTER_FAILED', message: 'generation is "many"' },
    { name: 'inblob write refused', fake: { fail: { op: 'write', name: 'inblob', code: 'EINVAL' } }, code: 'ERR_ATTESTER_FAILED', message: 'writing inblob failed: EINVAL' },
    { name: 'privlevel write refused', fake: { fail: { op: 'write', name: 'privlevel', code: 'EINVAL' } }, opts: { privlevel: 0 }, code: 'ERR_ATTESTER_FAILED', message: 'writing privlevel failed' },
    { name: 'privlevel below the floor', fake: { privlevelFloor: 2 }, opts: { privlevel: 1 }, code: 'ERR_ATTESTER_FAILED', message: 'privlevel 1 is below privlevel_floor 2' },
    { name: 'the TSM refusing the report', fake: { fail: { op: 'read', name: 'outblob', code: 'EIO' } }, code: 'ERR_ATTESTER_FAILED', message: 'reading outblob failed: EIO' },
    { name: 'an empty outblob', fake: { outblob: () => new Uint8Array(0) }, code: 'ERR_ATTESTER_FAILED', message: 'outblob is empty' },
    { name: 'an outblob over the bound', fake: { outblob: () => new Uint8Array(2000) }, opts: { maxOutblobBytes: 1999 }, code: 'ERR_ATTESTER_FAILED', message: 'larger than 1999 bytes' },
    { name: 'a racing writer', fake: { raceOnOutblob: 1 }, code: 'ERR_ATTESTER_CONFLICT', message: 'generation is 2, want 1' },
    { name: 'a racing writer (options written too)', fake: { raceOnOutblob: 3 }, opts: { privlevel: 0, serviceProvider: 'svsm' }, code: 'ERR_ATTESTER_CONFLICT', message: 'generation is 6, want 3' },
    { name: 'a write that did not count', fake: { lostWrites: true }, code: 'ERR_ATTESTER_FAILED', message: 'generation is 0, want 1' },
    { name: 'a report for other data', fake: { outblob: () => fakeSnpReport(new Uint8Array(64).fill(1)) }, code: 'ERR_ATTESTER_FAILED', message: /REPORT_DATA is (01){64}, want/ },
    { name: 'a report too short for REPORT_DATA', fake: { outblob: () => new Uint8Array(100) }, code: 'ERR_ATTESTER_FAILED', message: 'too short to hold REPORT_DATA' },
    { name: 'a TDX quote of another version', kind: 'tdx', fake: { outblob: (d) => fakeTdxQuote(d).fill(3, 0, 1) }, code: 'ERR_ATTESTER_FAILED', message: 'quote version is 3, want 4 or 5' },
    { name: 'a TDX quote with an SGX body', kind: 'tdx', fake: { outblob: (d) => fakeTdxQuote(d).fill(0, 4, 8) }, code: 'ERR_ATTESTER_FAILED', message: 'tee_type is 0x0' },
    { name: 'a v5 TDX quote with an SGX body', kind: 'tdx', fake: { outblob: (d) => fakeTdxQuote(d, 5).fill(1, 48, 49) }, code: 'ERR_ATTESTER_FAILED', message: 'body type is 1' },
    { name: 'a truncated TDX quote', kind: 'tdx', fake: { outblob: (d) => fakeTdxQuote(d).subarray(0, 600) }, code: 'ERR_ATTESTER_FAILED', message: 'too short' },
    { name: 'a TDX outblob shorter than a header', kind: 'tdx', fake: { outblob: () => new Uint8Array(10) }, code: 'ERR_ATTESTER_FAILED', message: 'shorter than a quote header' },
    { name: 'auxblob unreadable', fake: { auxblob: new Uint8Array(0), fail: { op: 'read', name: 'auxblob', code: 'EIO' } }, code: 'ERR_ATTESTER_FAILED', message: 'reading auxblob failed: EIO' },
    { name: 'an auxblob over the bound', fake: { auxblob: new Uint8Array(300) }, opts: { maxAuxblobBytes: 299 }, code: 'ERR_ATTESTER_FAILED', message: 'auxblob is larger than 299' },
    { name: 'a malformed certificate table', fake: { auxblob: certTable([[SNP_CERT_GUID.vcek, VCEK]]).subarray(0, 30) }, code: 'ERR_ATTESTER_FAILED', message: 'terminating entry' },
  ];

  for (const c of cases) {
    it(`${c.name} -> ${c.code}, report directory removed`, async () => {
      const kind = c.kind ?? 'sev-snp';
      const fs = new FakeTsm({ provider: kind === 'tdx' ? 'tdx_guest' : 'sev_guest', ...c.fake });
      const attester = new ConfigfsTsmAttester({ kind, root: fs.root, fs, ...c.opts });
      const e = await rejection(attester.attest(request()));
      expect(e.code).toBe(c.code);
      if (typeof c.message === 'string') expect(e.message).toContain(c.message);
      else expect(e.message).toMatch(c.message);
      expect(fs.created).toHaveLength(c.created === false ? 0 : 1);
      expect(fs.removed).toEqual(fs.created);
      expect(fs.dirs.size).toBe(0);
    });
  }

  it('keeps the outcome when rmdir fails, and reports the cleanup error', async () => {
    const seen: unknown[] = [];
    const { fs, attester } = setup('tdx', { fail: { op: 'rmdir', code: 'EBUSY' } }, { onCleanupError: (e) => seen.push(e) });
    await expect(attester.attest(request())).resolves.toMatchObject({ tee: 'tdx' });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ code: 'EBUSY' });
    expect(fs.dirs.size).toBe(1);
  });

  it.each([
    ['report data of 63 bytes', { reportData: new Uint8Array(63), nonce: new Uint8Array(32) }],
    ['report data of 65 bytes', { reportData: new Uint8Array(65), nonce: new Uint8Array(32) }],
    ['a nonce of 31 bytes', { reportData: new Uint8Array(64), nonce: new Uint8Array(31) }],
  ])('refuses %s before touching configfs', async (_name, req) => {
    const { fs, attester } = setup('tdx');
    expect((await rejection(attester.attest(req))).code).toBe('ERR_ATTESTER_INPUT');
    expect(fs.created).toEqual([]);
  });
});

describe('ConfigfsTsmAttester serialises requests', () => {
  it('runs concurrent requests one at a time, each getting its own report', async () => {
    const { fs, attester } = setup('tdx');
    const reqs = [1, 2, 3, 4, 5].map((n) => request(n));
    const evs = await Promise.all(reqs.map((r) => attester.attest(r)));
    expect(fs.maxInFlight).toBe(1);
    evs.forEach((ev, i) => {
      expect(ev.evidence).toEqual(fakeTdxQuote(reqs[i]!.reportData));
    });
    expect(fs.dirs.size).toBe(0);
  });

  it('keeps serving after a failed request in the queue', async () => {
    let n = 0;
    const { fs, attester } = setup('tdx', { outblob: (d) => (++n === 2 ? new Uint8Array(0) : fakeTdxQuote(d)) });
    const results = await Promise.allSettled([1, 2, 3].map((i) => attester.attest(request(i))));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(fs.maxInFlight).toBe(1);
  });

  it('snapshots the report data before waiting in the queue', async () => {
    const { fs, attester } = setup('tdx');
    const first = attester.attest(request(1));
    const req = request(2);
    const want = req.reportData.slice();
    const second = attester.attest(req);
    req.reportData.fill(0);
    await first;
    expect((await second).evidence).toEqual(fakeTdxQuote(want));
    expect(fs.writes[1]!.data).toEqual(want);
  });
});

describe('reportDataOf', () => {
  it('finds SNP REPORT_DATA at 0x50 and TDX REPORTDATA at 568 (v4) or 574 (v5)', () => {
    const d = new Uint8Array(64).fill(0x5a);
    expect(reportDataOf('sev-snp', fakeSnpReport(d))).toEqual(d);
    expect(reportDataOf('tdx', fakeTdxQuote(d, 4))).toEqual(d);
    expect(fakeTdxQuote(d, 4).subarray(568, 632)).toEqual(d);
    expect(reportDataOf('tdx', fakeTdxQuote(d, 5))).toEqual(d);
    expect(fakeTdxQuote(d, 5).subarray(574, 638)).toEqual(d);
  });
});

describe('ConfigfsTsmAttester with real TDX quotes', () => {
  const FIX = join(import.meta.dirname, '../../../fixtures/intel');
  const tdx = readdirSync(FIX).filter((n) => n.startsWith('tdx-'));

  it.each(tdx)('%s: REPORTDATA found where the quote parser finds it, quote returned as is', async (name) => {
    const quote = new Uint8Array(readFileSync(join(FIX, name, 'quote.bin')));
    const parsed = parseQuote(quote);
    if (parsed.body.kind !== 'tdx') throw new Error('fixture is not TDX');
    expect(reportDataOf('tdx', quote)).toEqual(parsed.body.report.reportData);
    const { attester } = setup('tdx', { outblob: () => quote });
    const ev = await attester.attest({ reportData: parsed.body.report.reportData, nonce: new Uint8Array(32) });
    expect(ev.evidence).toEqual(quote);
  });
});

describe('ConfigfsTsmAttester with real AMD evidence and the real verifier', () => {
  // The certificates an SNP host loads into the table, from the fixtures (see test/fixtures/amd/*/case.json).
  const FIX = join(import.meta.dirname, '../../../fixtures/amd');

  function ders(pemText: string): Uint8Array[] {
    return [...pemText.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/g)].map((m) => new Uint8Array(Buffer.from(m[1]!, 'base64')));
  }

  it.each([
    ['milan-v2-virtee', 'vcek.der', SNP_CERT_GUID.vcek],
    ['milan-v3-vlek-aws-trustee', 'vlek.der', SNP_CERT_GUID.vlek],
  ])('%s: auxblob certificates become collateral that verifySevSnp accepts', async (name, leafFile, leafGuid) => {
    const dir = join(FIX, name);
    const meta = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { product: string; verify_at: string };
    const report = new Uint8Array(readFileSync(join(dir, 'report.bin')));
    const [ask, ark] = ders(readFileSync(join(dir, 'cert_chain.pem'), 'utf8'));
    // The host's table: leaf, ARK before ASK (order in the table is the host's choice), zero padding.
    const aux = certTable(
      [
        [leafGuid, new Uint8Array(readFileSync(join(dir, leafFile)))],
        [SNP_CERT_GUID.ark, ark!],
        [SNP_CERT_GUID.ask, ask!],
      ],
      0x800,
    );
    // The genuine report answers the report data it was made for: ask for exactly that.
    const reportData = report.slice(0x50, 0x90);
    const { attester } = setup('sev-snp', { auxblob: aux, outblob: () => report });
    const ev = await attester.attest({ reportData, nonce: new Uint8Array(32) });
    expect(ev.evidence).toEqual(report);
    expect(ev.collateral.map((c) => c.name)).toEqual([leafFile, 'cert_chain.pem']);
    const product = parseProduct(meta.product);
    const input = sevSnpInputFromFiles(ev.evidence, ev.collateral, product);
    const result = await verifySevSnp(input, { at: new Date(meta.verify_at) });
    expect(result.verdict).toBe('ok');
  });
});

describe('readBounded (the default filesystem)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'attestgate-tsm-'));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads at most the limit', async () => {
    writeFileSync(join(dir, 'big'), new Uint8Array(100_000).fill(7));
    const got = await readBounded(join(dir, 'big'), 65_537);
    expect(got.length).toBe(65_537);
    expect((await readBounded(join(dir, 'big'), 10)).length).toBe(10);
    writeFileSync(join(dir, 'small'), Uint8Array.of(1, 2, 3));
    expect(await readBounded(join(dir, 'small'), 10)).toEqual(Uint8Array.of(1, 2, 3));
  });

  it('nodeTsmFs and nodeGramineFs do the plain operations', async () => {
    const root = join(dir, 'root');
    await nodeTsmFs.mkdir(root);
    await nodeTsmFs.mkdir(join(root, 'r1'));
    expect(await nodeTsmFs.readdir(root)).toEqual(['r1']);
    await nodeTsmFs.writeFile(join(root, 'r1', 'inblob'), Uint8Array.of(1, 2));
    await nodeGramineFs.writeFile(join(root, 'r1', 'user_report_data'), Uint8Array.of(3));
    expect(await nodeTsmFs.readFile(join(root, 'r1', 'inblob'), 10)).toEqual(Uint8Array.of(1, 2));
    expect(await nodeGramineFs.readFile(join(root, 'r1', 'user_report_data'), 10)).toEqual(Uint8Array.of(3));
    rmSync(join(root, 'r1', 'inblob'));
    rmSync(join(root, 'r1', 'user_report_data'));
    await nodeTsmFs.rmdir(join(root, 'r1'));
    expect(await nodeTsmFs.readdir(root)).toEqual([]);
  });

  it('reports a missing configfs-tsm root as unavailable through node:fs', async () => {
    const attester = new ConfigfsTsmAttester({ kind: 'tdx', root: join(dir, 'no-such-root') });
    const e = await rejection(attester.attest(request()));
    expect(e.code).toBe('ERR_ATTESTER_UNAVAILABLE');
    expect(e.message).toContain(join(dir, 'no-such-root'));
  });
});
