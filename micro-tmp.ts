import { mkdtempSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { generateEnclaveKey } from './enclave/keys.ts';
import { buildReceipt, signReceipt } from './enclave/receipt.ts';
import { checkAnswer, countersign } from './src/gateway/answer.ts';
import { openGatewayLog } from './src/audit/gateway-log.ts';
import { openSqliteStore } from './src/store/sqlite.ts';
import { loadOrCreateGatewayKey } from './src/signing/keys.ts';
import { receiptLogEntry, receiptRecord } from './src/gateway/receipt-record.ts';

const dir = mkdtempSync('/work/main/data-tmp-');
const ek = await generateEnclaveKey();
const gk = await loadOrCreateGatewayKey(`${dir}/gk.pem`, 'ES256');
const glog = await openGatewayLog({ dataDir: dir, origin: 'attestgate.invalid/log', checkpointEveryMs: 0 });
const store = openSqliteStore({ dataDir: dir });
const model = { name: 'iris', version: '1', sha256: 'ab'.repeat(32) };
const admission: any = { id: '00000000-0000-4000-8000-000000000001', backend: 'b', key: ek.jwk, evidenceSha256: 'cd'.repeat(32), models: [model], tee: 'tdx', simulated: true };
const req = new TextEncoder().encode(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] }));
const resp = new TextEncoder().encode('{"model_name":"iris","outputs":[{"name":"label","shape":[1],"datatype":"INT64","data":[0]}]}');
const mk = () => { const c = buildReceipt(ek, { request: req, response: resp, model, runtime: { name: 'onnxruntime-node', version: '1' }, tee: 'tdx', simulated: true, measurement: { mrtd: '00'.repeat(48) }, evidenceSha256: admission.evidenceSha256, now: new Date() }); return { status: 200, headers: { 'attestgate-receipt': signReceipt(ek, c) }, body: resp }; };
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const MODE = process.env.MODE ?? 'all';
async function one(r: any) {
  const t = [process.hrtime.bigint()];
  const ch = checkAnswer(admission, req, r, false, undefined); t.push(process.hrtime.bigint());
  await store.getReceipt(ch.receipt.id); t.push(process.hrtime.bigint());
  const e = { id: ch.receipt.id, attestationId: admission.id, backend: 'b', model: 'iris:1', createdAt: Date.now(), receiptJws: ch.receiptJws, receiptSha256: sha(ch.receiptJws) };
  const idx = MODE === 'nolog' ? 0 : await glog.append('receipt', receiptLogEntry(e)); t.push(process.hrtime.bigint());
  if (MODE !== 'nolog' && MODE !== 'nostore') await store.putReceipt(receiptRecord(e, idx)); t.push(process.hrtime.bigint());
  countersign(gk, ch, { attestationId: admission.id, backend: 'b', now: Date.now(), logIndex: idx, receiptSha256: e.receiptSha256 }); t.push(process.hrtime.bigint());
  return t.slice(1).map((x, i) => Number(x - t[i]!) / 1e3);
}
for (const batch of [1, 8, 1, 8]) {
  const inputs = Array.from({ length: 2000 }, mk);
  const cpu0 = process.cpuUsage(); const w0 = process.hrtime.bigint();
  const sums = [0, 0, 0, 0, 0];
  for (let i = 0; i < inputs.length; i += batch) {
    const rs = await Promise.all(inputs.slice(i, i + batch).map(one));
    for (const r of rs) r.forEach((v, j) => (sums[j]! += v));
  }
  const cpu = process.cpuUsage(cpu0); const wall = Number(process.hrtime.bigint() - w0) / 1e3;
  console.log(`batch ${batch}: cpu/answer ${((cpu.user + cpu.system) / inputs.length).toFixed(0)} us (user ${(cpu.user / inputs.length).toFixed(0)}, sys ${(cpu.system / inputs.length).toFixed(0)}), wall/answer ${(wall / inputs.length).toFixed(0)} us; phases (mean us, check/get/log/store/sign): ${sums.map((s) => (s / inputs.length).toFixed(0)).join(' / ')}`);
}
