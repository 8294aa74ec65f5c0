/**
 * `attestgate call` and `attestgate verify` as a user runs them (node bin/attestgate.js, a child
 * process) against a running gateway over a simulated-TEE enclave: exit statuses 0/1/2, the
 * checklist, the `simulated` and `policy not given` notes, --json, --out, --save-bundle and an
 * offline --bundle verification.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEnclave, type RunningEnclave } from '../../enclave/main.ts';
import { SIMULATED_ROOT_FILES } from '../../enclave/protocol.ts';
import { simulatedRoots } from '../../enclave/sim/index.ts';
import { parseConfig } from '../../src/config/schema.ts';
import { startGateway, type RunningGateway } from '../../src/gateway/server.ts';
import { createLogger } from '../../src/obs/log.ts';

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/attestgate.js');
const DEMO_POLICY = join(ROOT, 'config/demo-policy.yaml');
const REQUEST = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] });

let enclaveDir: string;
let gwDir: string;
let work: string;
let enclave: RunningEnclave;
let gw: RunningGateway;
let root: string;
let req: string;

interface Run {
  readonly status: number;
  readonly out: string;
  readonly err: string;
}

async function cli(...args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { cwd: ROOT, timeout: 60_000 });
    return { status: 0, out: stdout, err: stderr };
  } catch (e: unknown) {
    const x = e as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof x.code !== 'number') throw e;
    return { status: x.code, out: x.stdout ?? '', err: x.stderr ?? '' };
  }
}

const sim = (): string[] => ['--allow-simulated', '--trust-root', root];

beforeAll(async () => {
  enclaveDir = await mkdtemp(join(tmpdir(), 'attestgate-cli-enc-'));
  gwDir = await mkdtemp(join(tmpdir(), 'attestgate-cli-gw-'));
  work = await mkdtemp(join(tmpdir(), 'attestgate-cli-work-'));
  await simulatedRoots(enclaveDir);
  for (const f of SIMULATED_ROOT_FILES) {
    await mkdir(dirname(join(gwDir, f)), { recursive: true });
    await copyFile(join(enclaveDir, f), join(gwDir, f));
  }
  root = join(enclaveDir, 'sim-pki/intel/root.pem');
  req = join(work, 'request.json');
  await writeFile(req, REQUEST);
  enclave = await startEnclave({ tee: 'sim-tdx', host: '127.0.0.1', port: 0, modelDir: join(ROOT, 'models'), dataDir: enclaveDir, threads: 1, maxBodyBytes: 64 * 1024, simDebug: false }, () => undefined);
  const config = parseConfig(
    { listen: { host: '127.0.0.1', port: 0 }, data_dir: gwDir, demo: true, policy: DEMO_POLICY, trust: { simulated_roots: true }, backends: [{ name: 'e1', url: enclave.url }] },
    { baseDir: ROOT },
  );
  gw = await startGateway(config, { log: createLogger({ level: 'error', base: {}, sink: () => undefined }) });
}, 120_000);

afterAll(async () => {
  await gw.close();
  await enclave.close();
  await Promise.all([enclaveDir, gwDir, work].map((d) => rm(d, { recursive: true, force: true })));
});

describe('attestgate call', () => {
  it('verified answer: outputs, every step, simulated, exit 0; --out writes a capture', async () => {
    const out = join(work, 'answer.json');
    const r = await cli('call', 'iris', '--input', req, '--gateway', gw.url, '--policy', DEMO_POLICY, ...sim(), '--out', out);
    expect(r.status, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/^outputs of iris:\n {2}probabilities FP32 \[1,3\] = \[/);
    expect(r.out).toMatch(/label INT64 \[1\] = \[0\]/);
    for (const s of ['enclave_signature', 'request_digest', 'nonce', 'attestation_evidence', 'policy', 'countersignature', 'log_inclusion']) expect(r.out).toMatch(new RegExp(`✓ ${s} `));
    expect(r.out).toMatch(/^simulated: /m);
    expect(r.out).not.toMatch(/policy: not given/);
    expect(r.out).toMatch(/verdict: VERIFIED \(simulated\)/);
    const capture = JSON.parse(await readFile(out, 'utf8')) as { type: string; headers: Record<string, string>; body: string };
    expect(capture.type).toBe('attestgate-capture/v1');
    expect(Object.keys(capture.headers)).toEqual(expect.arrayContaining(['attestgate-receipt', 'attestgate-countersignature', 'attestgate-attestation', 'attestgate-receipt-id']));
  });

  it('simulated evidence without --allow-simulated: not verified, exit 1, still says simulated', async () => {
    const r = await cli('call', 'iris', '--input', req, '--gateway', gw.url, '--trust-root', root);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/✗ attestation_evidence .*ERR_SIMULATED_REFUSED/);
    expect(r.out).toMatch(/NOT VERIFIED: do not rely on them/);
    expect(r.out).toMatch(/^simulated: /m);
    expect(r.out).toMatch(/verdict: NOT VERIFIED \(simulated\): attestation_evidence failed/);
  });

  it('--jose: the General JSON answer verifies too; --json prints one report', async () => {
    const out = join(work, 'answer.jws');
    const r = await cli('call', 'iris', '--input', req, '--gateway', gw.url, ...sim(), '--jose', '--out', out, '--json');
    expect(r.status, r.out + r.err).toBe(0);
    const j = JSON.parse(r.out) as { ok: boolean; simulated: boolean; policy_given: boolean; policy_source: string; steps: { name: string; status: string; detail: string }[] };
    expect(j).toMatchObject({ ok: true, simulated: true, policy_given: false, policy_source: 'gateway' });
    // No --policy: appraised against the policy the gateway publishes, and the step says so.
    expect(j.steps.find((s) => s.name === 'policy')).toMatchObject({ status: 'passed', detail: expect.stringMatching(/appraised against the policy the gateway publishes/) as unknown });
    expect(JSON.parse(await readFile(out, 'utf8'))).toHaveProperty('signatures');
    const v = await cli('verify', out, '--gateway', gw.url, ...sim(), '--request', req);
    expect(v.status, v.out + v.err).toBe(0);
  });

  it('a policy the enclave does not satisfy: exit 1', async () => {
    const policy = join(work, 'strict.json');
    await writeFile(policy, JSON.stringify({ version: 1, name: 'strict', tee: ['tdx'], allowSimulated: true, reference: { tdx: { mrtd: 'ab'.repeat(48) } } }));
    const r = await cli('call', 'iris', '--input', req, '--gateway', gw.url, '--policy', policy, ...sim());
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/✗ policy .*mrtd is [0-9a-f]+, want (ab)+/);
  });

  it('usage errors: exit 2', async () => {
    expect((await cli('call', 'iris', '--gateway', gw.url)).status).toBe(2);
    expect((await cli('call', 'Bad Name', '--input', req, '--gateway', gw.url)).status).toBe(2);
    expect((await cli('call', 'iris', '--input', req, '--gateway', 'ftp://x')).status).toBe(2);
    expect((await cli('call', 'iris', '--input', join(work, 'missing.json'), '--gateway', gw.url)).status).toBe(2);
  });
});

describe('attestgate verify', () => {
  let answer: string;
  beforeAll(async () => {
    answer = join(work, 'saved.json');
    const r = await cli('call', 'iris', '--input', req, '--gateway', gw.url, ...sim(), '--out', answer);
    expect(r.status, r.out + r.err).toBe(0);
  }, 60_000);

  it('against the gateway, without a policy: appraised against the policy the gateway publishes, exit 0, and says so', async () => {
    const r = await cli('verify', answer, '--gateway', gw.url, ...sim(), '--request', req);
    expect(r.status, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/✓ policy +policy attestgate-demo \(the gateway's own\): .*appraised against the policy the gateway publishes/);
    expect(r.out).toMatch(/^policy: not given — appraised against the policy the gateway publishes/m);
    expect(r.out).toMatch(/^simulated: /m);
    expect(r.out).toMatch(/verdict: VERIFIED \(simulated\)/);
  });

  it('simulated evidence without --allow-simulated: exit 1, the evidence step refused, and the report still says simulated', async () => {
    const r = await cli('verify', answer, '--gateway', gw.url, '--trust-root', root, '--request', req);
    expect(r.status, r.out + r.err).toBe(1);
    expect(r.out).toMatch(/✗ attestation_evidence .*ERR_SIMULATED_REFUSED/);
    expect(r.out).toMatch(/^simulated: /m);
    expect(r.out).toMatch(/verdict: NOT VERIFIED \(simulated\): attestation_evidence failed/);
    const j = await cli('verify', answer, '--gateway', gw.url, '--trust-root', root, '--json');
    expect(j.status).toBe(1);
    expect(JSON.parse(j.out)).toMatchObject({ ok: false, simulated: true, verdict: 'not_verified' });
  });

  it('--save-bundle, then offline with --bundle', async () => {
    const bundle = join(work, 'bundle.json');
    const saved = await cli('verify', answer, '--gateway', gw.url, ...sim(), '--save-bundle', bundle);
    expect(saved.status, saved.out + saved.err).toBe(0);
    expect(saved.out).toMatch(/bundle: written to /);
    const b = JSON.parse(await readFile(bundle, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(b).sort()).toEqual(['attestation', 'jwks', 'proof', 'type']);
    const r = await cli('verify', answer, '--bundle', bundle, ...sim(), '--policy', DEMO_POLICY, '--request', req, '--json');
    expect(r.status, r.out + r.err).toBe(0);
    const j = JSON.parse(r.out) as { ok: boolean; steps: { name: string; status: string; detail: string }[] };
    expect(j.steps.every((s) => s.status === 'passed' || s.name === 'nonce')).toBe(true);
    expect(j.steps.find((s) => s.name === 'attestation_record')?.detail).toMatch(/\(given\)/);
  });

  it('a tampered answer: exit 1 with the failed step', async () => {
    const capture = JSON.parse(await readFile(answer, 'utf8')) as { body: string };
    const tampered = join(work, 'tampered.json');
    await writeFile(tampered, JSON.stringify({ ...capture, body: capture.body.replace('"data":[0]', '"data":[1]') }));
    const r = await cli('verify', tampered, '--gateway', gw.url, ...sim());
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/✗ response_digest .*\[ERR_DIGEST_MISMATCH\]/);
    expect(r.out).toMatch(/verdict: NOT VERIFIED \(simulated\): response_digest failed/);
  });

  it('usage errors: exit 2 with the usage text', async () => {
    const none = await cli('verify', answer);
    expect(none.status).toBe(2);
    expect(none.err).toMatch(/give --gateway <url>.*or --bundle/);
    expect(none.err).toMatch(/attestgate verify <answer\.json>/);
    expect((await cli('verify', answer, '--gateway', gw.url, '--bundle', answer)).status).toBe(2);
    expect((await cli('verify', '--gateway', gw.url)).status).toBe(2);
    expect((await cli('verify', join(work, 'nope.json'), '--gateway', gw.url)).status).toBe(2);
    expect((await cli('verify', req, '--gateway', gw.url)).status).toBe(2); // JSON, but not an answer
    expect((await cli('verify', answer, '--bundle', req)).status).toBe(2); // JSON, but not a bundle
    expect((await cli('verify', answer, '--bundle', answer, '--save-bundle', 'x.json')).status).toBe(2);
    const json = await cli('verify', answer, '--json');
    expect(json.status).toBe(2);
    expect(JSON.parse(json.out)).toMatchObject({ verdict: 'error', code: 'ERR_USAGE' });
  });
});
