/**
 * The gateway's own work per answer, without the network (npm run bench:gateway-logic): the
 * receipt check (src/gateway/answer.ts checkAnswer), the replay lookup, the durable log append
 * and the store's copy (src/gateway/receipt-record.ts, real files under the OS temp dir), and the
 * countersignature, in a loop over genuine enclave receipts, in groups of 1 and 8 answers (8: what
 * the group commit sees under concurrent load). Printed against the bare crypto measured in the
 * same run: one ES256 verification plus one ES256 signature with node:crypto, the two signature
 * operations every answer needs.
 *
 * Environment: BENCH_ANSWERS (2000 per row).
 */
import { createHash, generateKeyPairSync, sign, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Admission } from '../src/gateway/admission.ts';
import { generateEnclaveKey } from '../enclave/keys.ts';
import { buildReceipt, signReceipt } from '../enclave/receipt.ts';
import { openGatewayLog } from '../src/audit/gateway-log.ts';
import { checkAnswer, countersign } from '../src/gateway/answer.ts';
import type { ForwardResult } from '../src/gateway/enclave-client.ts';
import { receiptLogEntry, receiptRecord } from '../src/gateway/receipt-record.ts';
import { loadOrCreateGatewayKey } from '../src/signing/keys.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';

const N = Number(process.env['BENCH_ANSWERS'] ?? 2000);
if (!Number.isInteger(N) || N < 8) throw new Error('BENCH_ANSWERS must be an integer >= 8');

const dir = mkdtempSync(join(tmpdir(), 'attestgate-bench-logic-'));
const enclaveKey = await generateEnclaveKey();
const gatewayKey = await loadOrCreateGatewayKey(join(dir, 'gateway-key.pem'), 'ES256');
const glog = await openGatewayLog({ dataDir: dir, origin: 'attestgate.invalid/log', checkpointEveryMs: 0 });
const store = openSqliteStore({ dataDir: dir });
const model = { name: 'iris', version: '1', sha256: 'ab'.repeat(32) };
const evidenceSha256 = 'cd'.repeat(32);
// The fields of an admission that the receipt check reads.
const admission = { id: '00000000-0000-4000-8000-000000000001', backend: 'enclave-1', key: enclaveKey.jwk, evidenceSha256, models: [model], tee: 'tdx', simulated: true } as unknown as Admission;
const request = new TextEncoder().encode(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] }));
const response = new TextEncoder().encode('{"model_name":"iris","model_version":"1","outputs":[{"name":"label","shape":[1],"datatype":"INT64","data":[0]}]}');

function enclaveAnswer(): ForwardResult {
  const claims = buildReceipt(enclaveKey, { request, response, model, runtime: { name: 'onnxruntime-node', version: '1.30.0' }, tee: 'tdx', simulated: true, measurement: { mrtd: '00'.repeat(48) }, evidenceSha256, now: new Date() });
  return { status: 200, headers: { 'attestgate-receipt': signReceipt(enclaveKey, claims) }, body: response };
}

async function answer(r: ForwardResult): Promise<void> {
  const checked = checkAnswer(admission, request, r, false, undefined);
  if ((await store.getReceipt(checked.receipt.id)) !== undefined) throw new Error('replayed receipt');
  const entry = { id: checked.receipt.id, attestationId: admission.id, backend: 'enclave-1', model: 'iris:1', createdAt: Date.now(), receiptJws: checked.receiptJws, receiptSha256: createHash('sha256').update(checked.receiptJws).digest('hex') };
  const logIndex = await glog.append('receipt', receiptLogEntry(entry));
  await store.putReceipt(receiptRecord(entry, logIndex));
  countersign(gatewayKey, checked, { attestationId: admission.id, backend: 'enclave-1', now: entry.createdAt, logIndex, receiptSha256: entry.receiptSha256 });
}

/** CPU µs per answer (user + system) over N answers in groups of `group`. */
async function logicRow(group: number): Promise<number> {
  const inputs = Array.from({ length: N }, enclaveAnswer);
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < inputs.length; i += group) await Promise.all(inputs.slice(i, i + group).map(answer));
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / N;
}

/** CPU µs of one ES256 verification plus one ES256 signature (node:crypto, the same calls the gateway makes). */
function bareRow(): number {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const data = Buffer.from(enclaveAnswer().headers['attestgate-receipt'] as string);
  const sig = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    if (!verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig)) throw new Error('bare verification failed');
    sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  }
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / N;
}

try {
  await logicRow(8); // warm-up
  const rows: [string, number][] = [];
  // Interleaved, twice, so that both see the same background load.
  const bare: number[] = [];
  const one: number[] = [];
  const eight: number[] = [];
  for (let r = 0; r < 2; r++) {
    bare.push(bareRow());
    one.push(await logicRow(1));
    eight.push(await logicRow(8));
  }
  const min = (v: number[]): number => Math.min(...v);
  rows.push(['bare: one ES256 verification + one ES256 signature', min(bare)], ['gateway logic per answer, groups of 1 (one fsync each)', min(one)], ['gateway logic per answer, groups of 8 (one fsync per 8)', min(eight)]);
  console.log(`Gateway logic per answer without the network: ${N} answers per row, best of 2 interleaved runs; Node ${process.version}`);
  console.log('command: npm run bench:gateway-logic');
  console.log('');
  console.log('| row | CPU µs per answer | / bare |');
  console.log('|---|---:|---:|');
  for (const [name, us] of rows) console.log(`| ${name} | ${us.toFixed(0)} | ${(us / min(bare)).toFixed(2)} |`);
} finally {
  await store.close();
  await glog.close();
  rmSync(dir, { recursive: true, force: true });
}
