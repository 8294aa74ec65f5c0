/**
 * The command-line contract of `attestgate verify-evidence`, on every Intel fixture case: JSON
 * output shape, verdict, code and reason, exit statuses; the human report; usage errors; online
 * collateral from a fake PCCS; and the real executable for the three exit statuses.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AMD_NOT_CLAIMS, AMD_REASONS, NITRO_NOT_CLAIMS, NITRO_REASONS } from '../../../helpers/fixture-reasons.ts';
import { main, type Io } from '../../../../src/cli/main.ts';
import { startFakePcs, type FakePcs } from '../../../fakes/fake-pcs.ts';
import { listCases, type FixtureCase } from '../../../helpers/fixtures.ts';

const BIN = fileURLToPath(new URL('../../../../bin/attestgate.js', import.meta.url));

async function run(args: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (s) => (out += s), err: (s) => (err += s) };
  const status = await main(args, io);
  return { status, out, err };
}

function argsFor(c: FixtureCase, extra: string[] = []): string[] {
  const args = ['verify-evidence', join(c.dir, 'quote.bin'), '--tee', c.meta.tee, '--collateral', join(c.dir, 'collateral.json'), '--at', c.meta.verify_at];
  const ta = c.meta.trust_anchor;
  if (ta !== undefined && ta !== 'intel-sgx-root-ca.pem') args.push('--trust-root', join(c.dir, ta));
  if (c.meta.run_with_allow_debug === true) args.push('--allow-debug');
  return [...args, ...extra];
}

const cases = [...listCases('intel'), ...listCases('intel-mutated')];

describe('attestgate verify-evidence --json, every Intel case', () => {
  for (const c of cases) {
    const exp = c.meta.expected;
    it(`${c.name} -> ${exp.verdict}`, async () => {
      const { status, out } = await run(argsFor(c, ['--json']));
      const lines = out.trim().split('\n');
      expect(lines).toHaveLength(1);
      const j = JSON.parse(lines[0] as string) as Record<string, unknown>;
      expect(j['verdict']).toBe(exp.verdict);
      if (exp.verdict === 'ok') {
        expect(status).toBe(0);
        expect(j['tee']).toBe(c.meta.tee);
        expect(j['tcb_status']).toBe(exp.tcb_status);
        if ('advisory_ids' in exp) expect(j['advisory_ids']).toEqual(exp['advisory_ids']);
        const claims = j['claims'] as Record<string, unknown>;
        for (const k of ['report_data', 'fmspc', 'pcesvn', 'cpusvn', c.meta.tee === 'sgx' ? 'mrenclave' : 'mrtd']) {
          if (k in exp) expect(claims[k]).toEqual(exp[k]);
        }
        expect((j['trust_anchor'] as { pinned: boolean }).pinned).toBe(!('trust_anchor' in c.meta) || c.meta.trust_anchor === 'intel-sgx-root-ca.pem');
        expect(Array.isArray(j['collateral'])).toBe(true);
      } else {
        expect(status).toBe(1);
        expect(j['reason']).toBe(exp.reason);
        expect(typeof j['code']).toBe('string');
        expect(typeof j['message']).toBe('string');
      }
    });
  }

  it('--allow-debug turns the debug enclave into ok and says so', async () => {
    const c = cases.find((x) => x.name === 'sgx-v3-automata-processor-00a067-debug') as FixtureCase;
    const { status, out } = await run(argsFor(c, ['--json', '--allow-debug']));
    expect(status).toBe(0);
    const j = JSON.parse(out) as { verdict: string; debug_allowed: boolean; claims: { debug: boolean } };
    expect(j.verdict).toBe('ok');
    expect(j.debug_allowed).toBe(true);
    expect(j.claims.debug).toBe(true);
  });
});

describe('human report and usage errors', () => {
  const ok = cases.find((x) => x.name === 'tdx-v4-phala-b0c06f') as FixtureCase;
  const bad = cases.find((x) => x.name === 'tdx-v4-phala-b0c06f--sig-bitflip') as FixtureCase;

  it('prints the steps and the verdict', async () => {
    const { status, out } = await run(argsFor(ok));
    expect(status).toBe(0);
    expect(out).toContain('ok    PCK chain verified to Intel SGX Root CA (pinned)');
    expect(out).toContain('verdict: OK  tee=tdx  tcb_status=UpToDate');
  });

  it('prints the failing step', async () => {
    const { status, out } = await run(argsFor(bad));
    expect(status).toBe(1);
    expect(out).toContain('FAIL  quote_signature');
    expect(out).toMatch(/verdict: REJECTED \(ERR_SIGNATURE_INVALID, quote_signature\)/);
  });

  it.each([
    [['verify-evidence'], /exactly one evidence file/],
    [['verify-evidence', 'x.bin'], /--tee must be one of/],
    [['verify-evidence', 'x.bin', '--tee', 'sev'], /--tee must be one of/],
    [['verify-evidence', 'x.bin', '--tee', 'tdx', '--at', 'yesterday'], /not an ISO-8601 time/],
    [['verify-evidence', 'x.bin', '--tee', 'tdx', '--at', '2025-02-30T00:00:00Z'], /not a valid time|no such file/],
    [['verify-evidence', '/nonexistent/quote.bin', '--tee', 'tdx'], /no such file/],
    [['verify-evidence', 'x.bin', '--tee', 'tdx', '--bogus'], /Unknown option/],
    [['frobnicate'], /unknown command/],
  ])('%j -> exit 2', async (args, message) => {
    const { status, err } = await run(args);
    expect(status).toBe(2);
    expect(err).toMatch(message);
  });

  it('usage errors with --json print a JSON error', async () => {
    const { status, out } = await run(['verify-evidence', '/nonexistent/quote.bin', '--tee', 'tdx', '--json']);
    expect(status).toBe(2);
    expect(JSON.parse(out)).toMatchObject({ verdict: 'error', code: 'ERR_IO' });
  });

  it('no collateral for a quote -> rejected with collateral_missing', async () => {
    const { status, out } = await run(['verify-evidence', join(ok.dir, 'quote.bin'), '--tee', 'tdx', '--at', ok.meta.verify_at, '--json']);
    expect(status).toBe(1);
    expect(JSON.parse(out)).toMatchObject({ verdict: 'error', code: 'ERR_COLLATERAL_UNAVAILABLE', reason: 'collateral_missing' });
  });

  it('a trust root that is not a certificate is a usage error', async () => {
    const { status, err } = await run([...argsFor(ok), '--trust-root', join(ok.dir, 'case.json')]);
    expect(status).toBe(2);
    expect(err).toMatch(/not a PEM certificate/);
  });

  it('--collateral accepts a directory and recognises the bundle by content', async () => {
    const { status, out } = await run(['verify-evidence', join(ok.dir, 'quote.bin'), '--tee', 'tdx', '--collateral', ok.dir, '--at', ok.meta.verify_at, '--json']);
    expect(status).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ verdict: 'ok', tcb_status: 'UpToDate' });
  });
});

describe('--pcs: collateral fetched from a PCCS (fake, 127.0.0.1)', () => {
  let pcs: FakePcs;
  beforeAll(async () => {
    pcs = await startFakePcs({ flavour: 'pccs' });
  });
  afterAll(async () => {
    await pcs.close();
  });

  for (const name of ['sgx-v3-phala-processor-00a067', 'tdx-v4-phala-b0c06f', 'tdx-v5-gotdx-90c06f']) {
    it(`${name}: same verdict as with the offline bundle`, async () => {
      const c = cases.find((x) => x.name === name) as FixtureCase;
      const { status, out } = await run(['verify-evidence', join(c.dir, 'quote.bin'), '--tee', c.meta.tee, '--pcs', pcs.baseUrl(name), '--pcs-update', 'standard', '--at', c.meta.verify_at, '--json']);
      expect(JSON.parse(out)).toMatchObject({ verdict: 'ok', tcb_status: c.meta.expected.tcb_status });
      expect(status).toBe(0);
      expect(pcs.requests.some((r) => r.caseName === name && r.path.endsWith('/tcb') && r.query['update'] === 'standard')).toBe(true);
    });
  }

  it('the service down -> exit 2 with ERR_COLLATERAL_UNAVAILABLE', async () => {
    const c = cases.find((x) => x.name === 'tdx-v4-phala-b0c06f') as FixtureCase;
    pcs.fail('tcb', 'http500');
    try {
      const { status, out } = await run(['verify-evidence', join(c.dir, 'quote.bin'), '--tee', 'tdx', '--pcs', pcs.baseUrl(c.name), '--at', c.meta.verify_at, '--json']);
      expect(status).toBe(2);
      expect(JSON.parse(out)).toMatchObject({ verdict: 'error', code: 'ERR_COLLATERAL_UNAVAILABLE' });
    } finally {
      pcs.reset();
    }
  });
});

describe('the executable', () => {
  const exec = promisify(execFile);
  const ok = cases.find((x) => x.name === 'sgx-v3-phala-processor-00a067') as FixtureCase;
  const bad = cases.find((x) => x.name === 'sgx-v3-phala-processor-00a067--truncated-half') as FixtureCase;
  it('exists', () => {
    expect(existsSync(BIN)).toBe(true);
  });
  it('exit 0, 1 and 2', async () => {
    const r0 = await exec(process.execPath, [BIN, ...argsFor(ok, ['--json'])]);
    expect(JSON.parse(r0.stdout)).toMatchObject({ verdict: 'ok', tee: 'sgx' });
    const r1 = await exec(process.execPath, [BIN, ...argsFor(bad, ['--json'])]).then(
      () => ({ code: 0, stdout: '' }),
      (e: unknown) => e as { code: number; stdout: string },
    );
    expect(r1.code).toBe(1);
    expect(JSON.parse(r1.stdout)).toMatchObject({ verdict: 'error', reason: 'malformed_quote', code: 'ERR_EVIDENCE_MALFORMED' });
    const r2 = await exec(process.execPath, [BIN, 'verify-evidence']).then(
      () => ({ code: 0 }),
      (e: unknown) => e as { code: number },
    );
    expect(r2.code).toBe(2);
  }, 60_000);
});

describe('attestgate verify-evidence --json: every SEV-SNP and Nitro case', () => {
  const amd = [...listCases('amd'), ...listCases('amd/mutated')];
  const nitro = listCases('nitro');

  for (const c of amd) {
    const exp = c.meta.expected;
    it(`sev-snp ${c.name} -> ${exp.verdict}`, async () => {
      const args = ['verify-evidence', join(c.dir, 'report.bin'), '--tee', 'sev-snp', '--collateral', c.dir, '--at', c.meta.verify_at, '--json'];
      const product = c.meta['product'];
      if (typeof product === 'string') args.push('--product', product.toLowerCase());
      if (c.meta.trust_anchor !== undefined) args.push('--trust-root', join(c.dir, 'ark.pem'));
      if (c.meta.run_with_allow_debug === true) args.push('--allow-debug');
      const { status, out } = await run(args);
      const j = JSON.parse(out) as { verdict: string; claims?: Record<string, unknown>; code?: string; reason?: string };
      const lenient = exp.verdict === 'error' && exp['lenient_ok_acceptable'] === true;
      if (lenient && j.verdict === 'ok') return;
      expect(j.verdict, JSON.stringify(j)).toBe(exp.verdict);
      expect(status).toBe(exp.verdict === 'ok' ? 0 : 1);
      if (j.verdict === 'ok') {
        // Every claim the case states, as the CLI prints it (JSON): the same values as the library's.
        for (const [k, want] of Object.entries(exp)) if (!AMD_NOT_CLAIMS.has(k)) expect(j.claims?.[k], `claim ${k}`).toEqual(want);
      } else {
        const want = AMD_REASONS[String(exp['reason'])];
        expect(want, `reason ${String(exp['reason'])} is in the table`).toBeDefined();
        expect({ code: j.code, reason: j.reason }, JSON.stringify(j)).toEqual(want);
      }
    });
  }

  for (const c of nitro) {
    const exp = c.meta.expected;
    it(`nitro ${c.name} -> ${exp.verdict}`, async () => {
      const args = ['verify-evidence', join(c.dir, 'attestation.cbor'), '--tee', 'nitro', '--at', c.meta.verify_at, '--json'];
      if (c.name.startsWith('pos-') || c.name.includes('-syn-') || c.name === 'neg-cape0915-untrusted-root' || c.name.startsWith('marlin-mock')) {
        if (existsSync(join(c.dir, 'root.pem'))) args.push('--trust-root', join(c.dir, 'root.pem'));
      }
      if (c.meta.run_with_allow_debug === true) args.push('--allow-debug');
      const { status, out } = await run(args);
      const j = JSON.parse(out) as { verdict: string; claims?: Record<string, unknown>; code?: string; reason?: string };
      expect(j.verdict, JSON.stringify(j)).toBe(exp.verdict);
      expect(status).toBe(exp.verdict === 'ok' ? 0 : 1);
      if (j.verdict === 'ok') {
        for (const [k, want] of Object.entries(exp)) {
          if (NITRO_NOT_CLAIMS.has(k)) continue;
          // The cases list PCR0-2 and the non-zero PCRs; we report every PCR the document carries.
          if (k === 'pcrs') for (const [i, v] of Object.entries(want as Record<string, string>)) expect((j.claims?.['pcrs'] as Record<string, string>)[i], `claim pcrs[${i}]`).toBe(v);
          else expect(j.claims?.[k], `claim ${k}`).toEqual(want);
        }
      } else {
        const allowed = [String(exp['reason']), ...((exp['also_acceptable_reasons'] as string[] | undefined) ?? [])].map((r) => NITRO_REASONS[r]);
        expect(allowed, JSON.stringify(j)).toContainEqual({ code: j.code, reason: j.reason });
      }
    });
  }
});
