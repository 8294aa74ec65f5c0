/**
 * The enclave runtime end to end on 127.0.0.1, once per simulated TEE: fetch evidence with a
 * fresh nonce, verify it with attestation/ (simulated roots passed explicitly), check the binding
 * of nonce, key and models, run the shipped model, and verify the receipt; then every way a
 * caller can get it wrong gets its clear error.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkBinding } from '../../attestation/binding.ts';
import type { TrustAnchor } from '../../attestation/common/x509.ts';
import { measurementOfResult } from '../../attestation/measurements.ts';
import { verifyEvidence } from '../../attestation/registry.ts';
import { anchorFromPem } from '../../attestation/roots/index.ts';
import type { SimulatedAttesterKind } from '../../enclave/attesters/attester.ts';
import { startEnclave, type RunningEnclave } from '../../enclave/main.ts';
import type { AttestResponseBody } from '../../enclave/protocol.ts';
import { simulatedRoots } from '../../enclave/sim/index.ts';
import { verifyReceiptJws } from '../../src/receipts/verify.ts';

const ROOT = join(import.meta.dirname, '../..');
const IRIS_ROW = { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] };
const enc = (v: unknown): Uint8Array => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

let dataDir: string;
let anchors: TrustAnchor[];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'attestgate-enclave-e2e-'));
  anchors = await Promise.all((await simulatedRoots(dataDir)).map((pem, i) => anchorFromPem(pem, `sim root ${i}`, false)));
}, 60_000);

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function start(tee: SimulatedAttesterKind, extra: { modelDir?: string; maxBodyBytes?: number; measurementSeed?: string } = {}): Promise<RunningEnclave> {
  return startEnclave(
    { tee, host: '127.0.0.1', port: 0, modelDir: extra.modelDir ?? join(ROOT, 'models'), dataDir, threads: 1, maxBodyBytes: extra.maxBodyBytes ?? 64 * 1024, simDebug: false, ...(extra.measurementSeed === undefined ? {} : { measurementSeed: extra.measurementSeed }) },
    () => undefined,
  );
}

async function attest(url: string, nonce: Uint8Array): Promise<AttestResponseBody> {
  const r = await fetch(`${url}/v1/attest`, { method: 'POST', body: JSON.stringify({ nonce: Buffer.from(nonce).toString('base64url') }) });
  expect(r.status).toBe(200);
  return (await r.json()) as AttestResponseBody;
}

async function verifyAnswer(a: AttestResponseBody) {
  return verifyEvidence(
    { tee: a.tee, evidence: new Uint8Array(Buffer.from(a.evidence, 'base64')), collateral: a.collateral.map((c) => ({ name: c.name, bytes: new Uint8Array(Buffer.from(c.data, 'base64')) })) },
    { at: new Date(), trustAnchors: anchors },
  );
}

describe.each(['sim-sgx', 'sim-tdx', 'sim-sev-snp', 'sim-nitro'] as const)('enclave on %s', (tee) => {
  let e: RunningEnclave;
  beforeAll(async () => {
    e = await start(tee);
  }, 60_000);
  afterAll(async () => {
    await e.close();
  });

  it('attests with evidence bound to the nonce, its key and its models; serves the model; signs receipts', async () => {
    const nonce = new Uint8Array(randomBytes(32));
    const a = await attest(e.url, nonce);
    expect(a).toMatchObject({ protocol: 'attestgate-enclave/v1', simulated: true, binding: 'attestgate-binding-v1', key: { kid: e.kid } });
    expect(a.evidence_sha256).toBe(sha(Buffer.from(a.evidence, 'base64')));
    const result = await verifyAnswer(a);
    expect(result.simulated).toBe(true);
    expect(result.trust_anchor.pinned).toBe(false);
    await checkBinding(result, { nonce, jwk: a.key, models: a.models });

    // Wrong nonce, wrong key, other models: the same evidence binds none of them.
    const other = new Uint8Array(randomBytes(32));
    await expect(checkBinding(result, { nonce: other, jwk: a.key, models: a.models })).rejects.toMatchObject({ code: 'ERR_REPORT_DATA_MISMATCH' });
    const { generateEnclaveKey } = await import('../../enclave/keys.ts');
    await expect(checkBinding(result, { nonce, jwk: (await generateEnclaveKey()).jwk, models: a.models })).rejects.toMatchObject({ code: 'ERR_REPORT_DATA_MISMATCH' });
    await expect(checkBinding(result, { nonce, jwk: a.key, models: [] })).rejects.toMatchObject({ code: 'ERR_REPORT_DATA_MISMATCH' });

    // Inference with a client nonce, naming the evidence we verified.
    const body = enc(IRIS_ROW);
    const r = await fetch(`${e.url}/v2/models/iris/infer`, { method: 'POST', body, headers: { 'attestgate-nonce': 'client-nonce-abcdefgh', 'attestgate-evidence': a.evidence_sha256 } });
    expect(r.status).toBe(200);
    const out = new Uint8Array(await r.arrayBuffer());
    const answer = JSON.parse(new TextDecoder().decode(out)) as { outputs: { name: string; data: number[] }[] };
    expect(answer.outputs.find((o) => o.name === 'label')?.data).toEqual([0]); // setosa
    const claims = await verifyReceiptJws(r.headers.get('attestgate-receipt') ?? '', a.key);
    expect(claims).toMatchObject({
      request_sha256: sha(body),
      response_sha256: sha(out),
      model: a.models[0],
      runtime: a.runtime,
      tee: a.tee,
      simulated: true,
      evidence_sha256: a.evidence_sha256,
      nonce: 'client-nonce-abcdefgh',
      kid: e.kid,
    });
    // The measurement the receipt states is the verified evidence's.
    expect(claims.measurement).toEqual(measurementOfResult(result));
    // A receipt checked against another key fails.
    const { generateEnclaveKey: gen } = await import('../../enclave/keys.ts');
    await expect(verifyReceiptJws(r.headers.get('attestgate-receipt') ?? '', (await gen()).jwk)).rejects.toMatchObject({ failure: 'wrong_key' });
  });
});

describe('enclave errors', () => {
  let e: RunningEnclave;
  beforeAll(async () => {
    e = await start('sim-tdx', { maxBodyBytes: 4096 });
  }, 60_000);
  afterAll(async () => {
    await e.close();
  });

  const post = (path: string, body: string | Uint8Array, headers: Record<string, string> = {}): Promise<Response> => fetch(`${e.url}${path}`, { method: 'POST', body, headers });

  it('refuses to serve inference before it is attested', async () => {
    const fresh = await start('sim-tdx');
    try {
      const r = await fetch(`${fresh.url}/v2/models/iris/infer`, { method: 'POST', body: JSON.stringify(IRIS_ROW) });
      expect(r.status).toBe(409);
      expect(await r.json()).toMatchObject({ code: 'ERR_NOT_ATTESTED' });
    } finally {
      await fresh.close();
    }
  });

  it('answers every malformed request with a clear error and keeps serving', async () => {
    await attest(e.url, new Uint8Array(randomBytes(32)));
    const cases: [string, Promise<Response>, number, RegExp][] = [
      ['nonce of 31 bytes', post('/v1/attest', JSON.stringify({ nonce: Buffer.alloc(31).toString('base64url') })), 400, /32 bytes/],
      ['nonce not base64url', post('/v1/attest', JSON.stringify({ nonce: 'a+b/' })), 400, /base64url/],
      ['extra attest member', post('/v1/attest', JSON.stringify({ nonce: Buffer.alloc(32).toString('base64url'), x: 1 })), 400, /unknown member/],
      ['attest body not JSON', post('/v1/attest', '{'), 400, /JSON/],
      ['infer body not JSON', post('/v2/models/iris/infer', 'nope'), 400, /./],
      ['wrong shape', post('/v2/models/iris/infer', JSON.stringify({ inputs: [{ name: 'input', shape: [1, 5], datatype: 'FP32', data: [1, 2, 3, 4, 5] }] })), 400, /./],
      ['wrong datatype', post('/v2/models/iris/infer', JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'INT32', data: [1, 2, 3, 4] }] })), 400, /./],
      ['element count', post('/v2/models/iris/infer', JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3] }] })), 400, /./],
      ['unknown input', post('/v2/models/iris/infer', JSON.stringify({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] })), 400, /./],
      ['oversized body', post('/v2/models/iris/infer', 'x'.repeat(5000)), 413, /limit/],
      ['unknown model', post('/v2/models/nope/infer', JSON.stringify(IRIS_ROW)), 404, /./],
      ['unknown version', post('/v2/models/iris/versions/9/infer', JSON.stringify(IRIS_ROW)), 404, /./],
      ['unknown evidence', post('/v2/models/iris/infer', JSON.stringify(IRIS_ROW), { 'attestgate-evidence': 'ab'.repeat(32) }), 409, /did not produce evidence/],
      ['bad client nonce', post('/v2/models/iris/infer', JSON.stringify(IRIS_ROW), { 'attestgate-nonce': 'short' }), 400, /attestgate-nonce/],
      ['GET on infer', fetch(`${e.url}/v2/models/iris/infer`), 405, /POST/],
      ['unknown route', fetch(`${e.url}/admin`), 404, /no route/],
    ];
    for (const [name, p, status, msg] of cases) {
      const r = await p;
      expect(r.status, name).toBe(status);
      const b = (await r.json()) as { error: string };
      expect(b.error, name).toMatch(msg);
    }
    const ok = await post('/v2/models/iris/infer', JSON.stringify(IRIS_ROW));
    expect(ok.status).toBe(200);
    expect(e.enclave.counters.rejected).toBeGreaterThanOrEqual(16);
  });

  it('serves OIP metadata and health', async () => {
    expect(await (await fetch(`${e.url}/v2/health/ready`)).json()).toEqual({ ready: true });
    expect(await (await fetch(`${e.url}/v2/health/live`)).json()).toEqual({ live: true });
    const m = (await (await fetch(`${e.url}/v2/models/iris`)).json()) as { name: string; inputs: { name: string; datatype: string; shape: number[] }[] };
    expect(m).toMatchObject({ name: 'iris', platform: 'onnxruntime', inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }] });
    expect((await fetch(`${e.url}/v2/models/iris/versions/1/ready`)).status).toBe(200);
    // The versioned routes: metadata of version 1, and inference on it with a receipt naming it.
    const v = (await (await fetch(`${e.url}/v2/models/iris/versions/1`)).json()) as { name: string; versions?: string[] };
    expect(v).toMatchObject({ name: 'iris', inputs: m.inputs });
    await attest(e.url, new Uint8Array(randomBytes(32))); // inference needs an attested enclave
    const r = await post('/v2/models/iris/versions/1/infer', JSON.stringify(IRIS_ROW));
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ model_name: 'iris', model_version: '1' });
    const receipt = JSON.parse(Buffer.from((r.headers.get('attestgate-receipt') ?? '').split('.')[1] ?? '', 'base64url').toString('utf8')) as { model: { name: string; version: string } };
    expect(receipt.model).toMatchObject({ name: 'iris', version: '1' });
    expect((await fetch(`${e.url}/v2/models/iris/versions/2`)).status).toBe(404);
  });

  it('refuses to start with a model file whose digest differs from the manifest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'attestgate-models-'));
    try {
      await cp(join(ROOT, 'models'), dir, { recursive: true });
      const f = join(dir, 'iris/1/model.onnx');
      const b = await readFile(f);
      b[b.length - 1] = (b[b.length - 1] ?? 0) ^ 1;
      await writeFile(f, b);
      await expect(start('sim-tdx', { modelDir: dir })).rejects.toMatchObject({ code: 'ERR_MODEL_DIGEST_MISMATCH' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('attestgate enclave (the process)', () => {
  it('starts from the command line, prints where it listens, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/attestgate.js'), 'enclave', '--port', '0', '--tee', 'sim-nitro', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const url = await new Promise<string>((res, rej) => {
      const t = setTimeout(() => { rej(new Error(`no listening line: ${out}`)); }, 30_000);
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /"event":"listening","url":"([^"]+)"/.exec(out);
        if (m !== null) {
          clearTimeout(t);
          res(m[1]!);
        }
      });
    });
    expect(out).toMatch(/SIMULATED TEE \(sim-nitro\)/);
    const a = await attest(url, new Uint8Array(randomBytes(32)));
    expect(a.tee).toBe('nitro');
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((res) => child.on('exit', res));
    expect(code).toBe(0);
    expect(out).not.toMatch(/PRIVATE KEY|"d":/);
  }, 60_000);

  it('exits 2 with usage on a bad option', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/attestgate.js'), 'enclave', '--tee', 'tpm'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    expect(await new Promise((res) => child.on('exit', res))).toBe(2);
    expect(err).toMatch(/--tee must be one of/);
  }, 30_000);
});
