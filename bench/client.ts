/**
 * Client verifier benchmark (node --import tsx bench/client.ts). One process, one run: a simulated
 * TDX enclave behind a gateway (in process) answers ANSWERS requests; then, offline (record, key
 * set and proofs from the gateway, as in a bundle):
 *   bare      jose compactVerify of the receipt JWS alone (key imported once): the cost of one JWS
 *   bare x2   the receipt and the gateway's countersignature: the two signatures every answer carries
 *             (one after the other, and concurrently, as verifyAnswer checks them)
 *   warm      verifyAnswer with a warm AnswerCache (the record's evidence verified before): goal <= 1.5x bare
 *   warm+log  the same with the receipt's inclusion proof checked (checkpoint cached)
 *   cold      verifyAnswer with nothing cached (a fresh AnswerCache, the X.509 key cache cleared)
 *   floor     the bare crypto of a cold verification with node:crypto: the P-256 verifications of the
 *             DCAP quote and its collateral plus the EAR, receipt and countersignature (each with its
 *             key import) and the certificate parses, as bench/intel.ts counts them
 * Medians over RUNS runs after WARMUP runs; a markdown table on stdout.
 */
import { X509Certificate, createPublicKey, generateKeyPairSync, sign, verify as nodeVerify } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactVerify, importJWK } from 'jose';
import { clearKeyCache } from '../attestation/common/x509.ts';
import { parseQuote } from '../attestation/intel/parse.ts';
import { parsePolicyText } from '../attestation/policy/schema.ts';
import { anchorFromPem } from '../attestation/roots/index.ts';
import { startEnclave } from '../enclave/main.ts';
import { simulatedRoots } from '../enclave/sim/index.ts';
import { createAnswerCache, parseAttestationRecord, parseJwks, parseProofBundle, verifyAnswer, type PlainAnswer, type VerifyAnswerInput } from '../src/client/index.ts';
import { parseConfig } from '../src/config/schema.ts';
import { startGateway } from '../src/gateway/server.ts';
import { createLogger } from '../src/obs/log.ts';
import { median } from './timing.ts';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 2000);
const WARMUP = Number(process.env['BENCH_WARMUP'] ?? 200);
const COLD_RUNS = Number(process.env['BENCH_COLD_RUNS'] ?? 200);
const ANSWERS = 64;
const ROOT = new URL('..', import.meta.url).pathname;
const REQUEST = new TextEncoder().encode(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] }));

const dataDir = await mkdtemp(join(tmpdir(), 'attestgate-bench-client-'));
const anchors = await Promise.all((await simulatedRoots(dataDir)).map((pem, i) => anchorFromPem(pem, `simulated root ${i}`, false)));
const enclave = await startEnclave({ tee: 'sim-tdx', host: '127.0.0.1', port: 0, modelDir: join(ROOT, 'models'), dataDir, threads: 1, maxBodyBytes: 64 * 1024, simDebug: false }, () => undefined);
const config = parseConfig(
  { listen: { host: '127.0.0.1', port: 0 }, data_dir: dataDir, demo: true, policy: join(ROOT, 'config/demo-policy.yaml'), trust: { simulated_roots: true }, backends: [{ name: 'e1', url: enclave.url }] },
  { baseDir: ROOT },
);
const gw = await startGateway(config, { log: createLogger({ level: 'error', base: {}, sink: () => undefined }) });
const policy = parsePolicyText(await readFile(join(ROOT, 'config/demo-policy.yaml'), 'utf8'), 'yaml');

// Answers first, then their proofs (one checkpoint covers them all, as for a client that verifies
// a batch); the record and key set once.
const answers: PlainAnswer[] = [];
for (let i = 0; i < ANSWERS; i++) {
  const r = await fetch(`${gw.url}/v2/models/iris/infer`, { method: 'POST', body: REQUEST, headers: { 'content-type': 'application/json' } });
  const headers: Record<string, string> = {};
  r.headers.forEach((v, k) => {
    headers[k] = v;
  });
  answers.push({ headers, body: await r.text() });
}
const getJson = async (path: string): Promise<unknown> => (await fetch(`${gw.url}${path}`)).json();
const first = answers[0] as PlainAnswer;
const recordJson = await getJson(`/v1/attestations/${first.headers['attestgate-attestation'] ?? ''}`);
const attestation = parseAttestationRecord(recordJson);
const gatewayJwks = parseJwks(await getJson('/.well-known/jwks.json'));
const proofs = await Promise.all(answers.map(async (a) => parseProofBundle(await getJson(`/v1/receipts/${a.headers['attestgate-receipt-id'] ?? ''}/proof`))));
const logKey = (await (await fetch(`${gw.url}/v1/log/key`)).text()).trim();
await gw.close();
await enclave.close();

const base: Omit<VerifyAnswerInput, 'answer'> = { request: REQUEST, policy, attestation, gatewayJwks, trustAnchors: anchors, allowSimulated: true };
let n = 0;
const next = (): number => n++ % ANSWERS;
const must = async (p: Promise<{ ok: boolean; steps: readonly { name: string; status: string; detail: string }[] }>): Promise<void> => {
  const r = await p;
  if (!r.ok) throw new Error(`benchmark answer did not verify: ${JSON.stringify(r.steps.filter((s) => s.status !== 'passed'))}`);
};

// bare: one JWS, key imported once.
const enclaveKey = await importJWK({ kty: 'EC', crv: 'P-256', x: attestation.key.x, y: attestation.key.y }, 'ES256');
const gatewayJwk = gatewayJwks.keys[0];
if (gatewayJwk === undefined) throw new Error('no gateway key');
const gatewayKey = await importJWK({ kty: gatewayJwk.kty, crv: gatewayJwk.crv, x: gatewayJwk.x, ...(gatewayJwk.y === undefined ? {} : { y: gatewayJwk.y }) }, 'ES256');
const receipts = answers.map((a) => a.headers['attestgate-receipt'] ?? '');
const counters = answers.map((a) => a.headers['attestgate-countersignature'] ?? '');
const bare = await median(() => compactVerify(receipts[next()] ?? '', enclaveKey, { algorithms: ['ES256'] }), RUNS, WARMUP);
const bare2 = await median(async () => {
  const i = next();
  await compactVerify(receipts[i] ?? '', enclaveKey, { algorithms: ['ES256'] });
  await compactVerify(counters[i] ?? '', gatewayKey, { algorithms: ['ES256'] });
}, RUNS, WARMUP);

const bare2par = await median(() => {
  const i = next();
  return Promise.all([compactVerify(receipts[i] ?? '', enclaveKey, { algorithms: ['ES256'] }), compactVerify(counters[i] ?? '', gatewayKey, { algorithms: ['ES256'] })]);
}, RUNS, WARMUP);

// warm: a shared cache that has seen the record.
const cache = createAnswerCache();
await must(verifyAnswer({ ...base, answer: first, cache }));
const warm = await median(() => must(verifyAnswer({ ...base, answer: answers[next()] as PlainAnswer, cache })), RUNS, WARMUP);
const warmLog = await median(() => {
  const i = next();
  return must(verifyAnswer({ ...base, answer: answers[i] as PlainAnswer, proof: proofs[i] as NonNullable<VerifyAnswerInput['proof']>, trustedLogKey: logKey, cache }));
}, RUNS, WARMUP);
if (cache.stats.evidenceVerifications !== 1) throw new Error(`warm runs verified the evidence ${cache.stats.evidenceVerifications} times`);

// cold: nothing cached.
const cold = await median(() => {
  clearKeyCache();
  return must(verifyAnswer({ ...base, answer: answers[next()] as PlainAnswer, cache: createAnswerCache() }));
}, COLD_RUNS, Math.min(WARMUP, 50));

// floor: the bare crypto of a cold verification (as bench/intel.ts counts a DCAP quote's), plus the
// EAR, receipt and countersignature verifications.
const evidence = new Uint8Array(Buffer.from(attestation.evidence, 'base64'));
const collateral = JSON.parse(Buffer.from(attestation.collateral[0]?.data ?? '', 'base64').toString('utf8')) as Record<string, string>;
const pemBlocks = (text: string): string[] => [...text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => m[0]);
const sameChain = collateral['qe_identity_issuer_chain'] === collateral['tcb_info_issuer_chain'];
const dcapVerifies = 9 + (sameChain ? 0 : 1);
const verifies = dcapVerifies + 3;
const certPems = [...pemBlocks(parseQuote(evidence).pckChainPem), ...pemBlocks(collateral['tcb_info_issuer_chain'] ?? ''), ...(sameChain ? [] : pemBlocks(collateral['qe_identity_issuer_chain'] ?? ''))];
const data = new Uint8Array(1024);
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const sig = sign('sha256', data, privateKey);
const pub = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
const floor = await median(() => {
  for (const pem of certPems) new X509Certificate(pem);
  for (let i = 0; i < verifies; i++) nodeVerify('sha256', data, createPublicKey({ key: pub, format: 'der', type: 'spki' }), sig);
}, COLD_RUNS, Math.min(WARMUP, 50));

await rm(dataDir, { recursive: true, force: true });

const us = (ms: number): string => (ms * 1000).toFixed(0);
const perS = (ms: number): string => Math.round(1000 / ms).toLocaleString('en-US');
const x = (v: number): string => `${v.toFixed(2)}x`;
console.log(`Client verifier (src/client verifyAnswer), simulated TDX, ${ANSWERS} answers cycled; median of ${RUNS} runs (cold and floor: ${COLD_RUNS}) after warm-up; Node ${process.version}`);
console.log('');
console.log('| measure | median (µs) | answers/s | ratio |');
console.log('|---|---|---|---|');
console.log(`| bare: jose compactVerify of the receipt JWS | ${us(bare)} | ${perS(bare)} | 1.00x |`);
console.log(`| bare x2: receipt + countersignature JWS | ${us(bare2)} | ${perS(bare2)} | ${x(bare2 / bare)} of bare |`);
console.log(`| bare x2 concurrent (what the warm path does with them) | ${us(bare2par)} | ${perS(bare2par)} | ${x(bare2par / bare)} of bare |`);
console.log(`| warm: verifyAnswer, record cached (goal <= 1.5x bare) | ${us(warm)} | ${perS(warm)} | ${x(warm / bare)} of bare, ${x(warm / bare2par)} of bare x2 concurrent |`);
console.log(`| warm + log inclusion proof | ${us(warmLog)} | ${perS(warmLog)} | ${x(warmLog / bare)} of bare |`);
console.log(`| cold: verifyAnswer, nothing cached | ${us(cold)} | ${perS(cold)} | ${x(cold / floor)} of floor |`);
console.log(`| floor: ${verifies} P-256 verify (+ key import) + ${certPems.length} X.509 parse, node:crypto | ${us(floor)} | ${perS(floor)} | 1.00x |`);
console.log('');
console.log(`floor = ${dcapVerifies} verifications of the DCAP quote and collateral (as bench/intel.ts) + EAR + receipt + countersignature; warm verified the evidence ${cache.stats.evidenceVerifications} time(s) in all`);
