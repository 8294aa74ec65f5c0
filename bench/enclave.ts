/**
 * Enclave overhead benchmark (npm run bench:enclave). In one process and one run, on the shipped
 * Iris model, one row per request:
 *   direct     session.run on the same onnxruntime session, called in-process (the floor)
 *   pipeline   what the enclave does per request without HTTP: parse + validate the OIP body,
 *              run, encode the response, build and sign the receipt
 *   http       POST /v2/models/iris/infer to the enclave on 127.0.0.1 over a keep-alive
 *              connection (undici), receipt included, sequential requests
 * Reports p50 and p99 (ms) and the ratios http/direct and pipeline/direct.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Pool } from 'undici';
import { startEnclave } from '../enclave/main.ts';
import { generateEnclaveKey } from '../enclave/keys.ts';
import { buildReceipt, signReceipt } from '../enclave/receipt.ts';
import { loadManifest } from '../enclave/runtime/manifest.ts';
import { encodeInferResponse, parseInferRequest, runInference } from '../enclave/runtime/oip.ts';
import { ModelRegistry } from '../enclave/runtime/registry.ts';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 3000);
const WARMUP = Number(process.env['BENCH_WARMUP'] ?? 300);
const ROOT = join(import.meta.dirname, '..');

async function percentiles(fn: () => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < WARMUP; i++) await fn();
  const t: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const s = process.hrtime.bigint();
    await fn();
    t.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  t.sort((a, b) => a - b);
  return { p50: t[Math.floor(t.length / 2)] ?? NaN, p99: t[Math.floor(t.length * 0.99)] ?? NaN };
}

const dataDir = await mkdtemp(join(tmpdir(), 'attestgate-bench-enclave-'));
const body = new TextEncoder().encode(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] }));

const registry = await ModelRegistry.fromManifest(await loadManifest(join(ROOT, 'models')), { intraOpNumThreads: 1 });
const model = registry.get('iris');
const feeds = { input: new ort.Tensor('float32', Float32Array.from([5.1, 3.5, 1.4, 0.2]), [1, 4]) };
const direct = await percentiles(() => model.session.run(feeds));

const key = await generateEnclaveKey();
const pipeline = await percentiles(async () => {
  const res = encodeInferResponse(await runInference(model, parseInferRequest(body, model)));
  signReceipt(
    key,
    buildReceipt(key, {
      request: body,
      response: res,
      model: { name: model.name, version: model.version, sha256: model.sha256 },
      runtime: { name: 'onnxruntime-node', version: '1.30.0' },
      tee: 'tdx',
      simulated: true,
      measurement: { mrtd: '00'.repeat(48) },
      evidenceSha256: '00'.repeat(32),
      now: new Date(),
    }),
  );
});

const enclave = await startEnclave({ tee: 'sim-tdx', host: '127.0.0.1', port: 0, modelDir: join(ROOT, 'models'), dataDir, threads: 1, maxBodyBytes: 1 << 20, simDebug: false }, () => undefined);
const pool = new Pool(enclave.url, { connections: 1 });
await pool.request({ method: 'POST', path: '/v1/attest', body: JSON.stringify({ nonce: randomBytes(32).toString('base64url') }) }).then((r) => r.body.dump());
const http = await percentiles(async () => {
  const r = await pool.request({ method: 'POST', path: '/v2/models/iris/infer', body: Buffer.from(body), headers: { 'content-type': 'application/json' } });
  await r.body.arrayBuffer();
  if (r.statusCode !== 200 || typeof r.headers['attestgate-receipt'] !== 'string') throw new Error(`enclave answered ${r.statusCode} without a receipt`);
});
await pool.close();
await enclave.close();
await registry.release();
await rm(dataDir, { recursive: true, force: true });

const f = (x: number): string => x.toFixed(3);
console.log(`Enclave overhead on the shipped Iris model, one row, ${RUNS} sequential requests after ${WARMUP} warm-up (ms), Node ${process.version}, onnxruntime-node ${ort.env.versions.node ?? '?'}`);
console.log('| path | p50 | p99 | p50 / direct |');
console.log('|---|---|---|---|');
console.log(`| session.run direct (baseline) | ${f(direct.p50)} | ${f(direct.p99)} | 1.00x |`);
console.log(`| enclave pipeline, no HTTP (parse, run, encode, receipt) | ${f(pipeline.p50)} | ${f(pipeline.p99)} | ${(pipeline.p50 / direct.p50).toFixed(2)}x |`);
console.log(`| enclave over HTTP on 127.0.0.1 (receipt included) | ${f(http.p50)} | ${f(http.p99)} | ${(http.p50 / direct.p50).toFixed(2)}x |`);
console.log(`enclave overhead per request (http - direct, p50): ${f(http.p50 - direct.p50)} ms`);
