/**
 * Client verifier benchmark (node --import tsx bench/client.ts). One process, one run, every
 * simulated TEE in turn (sim-sgx, sim-tdx, sim-sev-snp, sim-nitro): an enclave of that TEE behind
 * a gateway (both in process, one data directory, so one simulated PKI) answers ANSWERS requests;
 * then, offline (record, key set and proofs from the gateway, as in a bundle; the simulated roots
 * as trust anchors with allowSimulated), for that TEE:
 *   bare 1 JWS  jose compactVerify of the receipt JWS alone (key imported once): the cost of one JWS
 *   bare 2 JWS  the receipt and the gateway's countersignature, the two signatures every answer
 *               carries, verified concurrently as verifyAnswer does (one after the other: a footnote)
 *   warm        verifyAnswer with a warm AnswerCache (the record's evidence verified before):
 *               goal <= 1.5x bare, reported against both bare 1 and bare 2
 *   warm+log    the same with the receipt's inclusion proof checked (checkpoint cached)
 *   cold        verifyAnswer with nothing cached (a fresh AnswerCache, the X.509 key cache cleared)
 *   floor       the bare crypto of that cold verification with node:crypto (bench/client-floors.ts):
 *               the evidence's own signature and chain/collateral verifications, counted as the
 *               per-TEE benchmarks count them (DCAP: bench/intel.ts; SEV-SNP and Nitro:
 *               bench/snp-nitro.ts, SNP's RSA count and size taken from the chain), plus the EAR,
 *               receipt and countersignature JWS, each verification with its key import, and the
 *               certificate parses. Before timing, the floor's verifications are checked against
 *               those of one instrumented cold verifyAnswer: the run stops if they differ.
 * Every answer timed must verify (the run stops otherwise). All TEEs are set up first; then the
 * fast measures of every TEE run interleaved, one run of each per round (RUNS rounds after WARMUP),
 * and so do cold and floor (COLD_RUNS rounds after min(WARMUP, 50)), so that the ratios compare
 * runs made under the same machine load. Medians; one markdown table on stdout, a row per TEE,
 * times in µs. Env: BENCH_RUNS, BENCH_WARMUP, BENCH_COLD_RUNS.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactVerify, decodeProtectedHeader, importJWK, type CryptoKey } from 'jose';
import { clearKeyCache } from '../attestation/common/x509.ts';
import { parsePolicyText } from '../attestation/policy/schema.ts';
import { anchorFromPem } from '../attestation/roots/index.ts';
import type { SimulatedAttesterKind } from '../enclave/attesters/attester.ts';
import { startEnclave } from '../enclave/main.ts';
import { simulatedRoots } from '../enclave/sim/index.ts';
import { createAnswerCache, parseAttestationRecord, parseJwks, parseProofBundle, verifyAnswer, type PlainAnswer, type VerifyAnswerInput } from '../src/client/index.ts';
import { parseConfig } from '../src/config/schema.ts';
import { startGateway } from '../src/gateway/server.ts';
import { createLogger } from '../src/obs/log.ts';
import { coldFloor, countVerifications, describeFloor, floorLabels, floorRun } from './client-floors.ts';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 2000);
const WARMUP = Number(process.env['BENCH_WARMUP'] ?? 200);
const COLD_RUNS = Number(process.env['BENCH_COLD_RUNS'] ?? 200);
const COLD_WARMUP = Math.min(WARMUP, 50);
const ANSWERS = 64;
const TEES: readonly SimulatedAttesterKind[] = ['sim-sgx', 'sim-tdx', 'sim-sev-snp', 'sim-nitro'];
const ROOT = new URL('..', import.meta.url).pathname;
const POLICY_FILE = join(ROOT, 'config/demo-policy.yaml');
const REQUEST = new TextEncoder().encode(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] }));

const dataDir = await mkdtemp(join(tmpdir(), 'attestgate-bench-client-'));
const anchors = await Promise.all((await simulatedRoots(dataDir)).map((pem, i) => anchorFromPem(pem, `simulated root ${i}`, false)));
const policy = parsePolicyText(await readFile(POLICY_FILE, 'utf8'), 'yaml');
const quiet = createLogger({ level: 'error', base: {}, sink: () => undefined });

/** What a client holds for one TEE: the answers and, as in a bundle, record, key set, proofs, log key. */
interface Capture {
  readonly answers: readonly PlainAnswer[];
  readonly proofs: readonly NonNullable<VerifyAnswerInput['proof']>[];
  readonly base: Omit<VerifyAnswerInput, 'answer'>;
  readonly logKey: string;
}

async function capture(tee: SimulatedAttesterKind): Promise<Capture> {
  const enclave = await startEnclave({ tee, host: '127.0.0.1', port: 0, modelDir: join(ROOT, 'models'), dataDir, threads: 1, maxBodyBytes: 64 * 1024, simDebug: false }, () => undefined);
  const config = parseConfig(
    { listen: { host: '127.0.0.1', port: 0 }, data_dir: dataDir, demo: true, policy: POLICY_FILE, trust: { simulated_roots: true }, backends: [{ name: 'e1', url: enclave.url }] },
    { baseDir: ROOT },
  );
  const gw = await startGateway(config, { log: quiet });
  try {
    // Answers first, then their proofs (one checkpoint covers them all, as for a client that
    // verifies a batch); the record and key set once.
    const answers: PlainAnswer[] = [];
    for (let i = 0; i < ANSWERS; i++) {
      const r = await fetch(`${gw.url}/v2/models/iris/infer`, { method: 'POST', body: REQUEST, headers: { 'content-type': 'application/json' } });
      if (!r.ok) throw new Error(`${tee}: the gateway answered ${r.status}: ${await r.text()}`);
      const headers: Record<string, string> = {};
      r.headers.forEach((v, k) => {
        headers[k] = v;
      });
      answers.push({ headers, body: await r.text() });
    }
    const getJson = async (path: string): Promise<unknown> => (await fetch(`${gw.url}${path}`)).json();
    const attestation = parseAttestationRecord(await getJson(`/v1/attestations/${answers[0]?.headers['attestgate-attestation'] ?? ''}`));
    if (`sim-${attestation.tee}` !== tee || !attestation.simulated) throw new Error(`${tee}: the record is ${attestation.tee}, simulated ${String(attestation.simulated)}`);
    const gatewayJwks = parseJwks(await getJson('/.well-known/jwks.json'));
    const proofs = await Promise.all(answers.map(async (a) => parseProofBundle(await getJson(`/v1/receipts/${a.headers['attestgate-receipt-id'] ?? ''}/proof`))));
    const logKey = (await (await fetch(`${gw.url}/v1/log/key`)).text()).trim();
    return { answers, proofs, logKey, base: { request: REQUEST, policy, attestation, gatewayJwks, trustAnchors: anchors, allowSimulated: true } };
  } finally {
    await gw.close();
    await enclave.close();
  }
}

const must = async (tee: string, p: Promise<{ ok: boolean; steps: readonly { name: string; status: string; detail: string }[] }>): Promise<void> => {
  const r = await p;
  if (!r.ok) throw new Error(`${tee}: benchmark answer did not verify: ${JSON.stringify(r.steps.filter((s) => s.status !== 'passed'))}`);
};

/** The measures of one TEE, each one run of it; cold and floor are the slow ones. */
interface Bench {
  readonly tee: SimulatedAttesterKind;
  readonly fast: readonly [bare: () => unknown, bare2: () => unknown, bare2seq: () => unknown, warm: () => unknown, warmLog: () => unknown];
  readonly slow: readonly [cold: () => unknown, floor: () => unknown];
  /** How often the warm runs verified the evidence (must stay 1). */
  readonly verifications: () => number;
  readonly floorText: string;
  readonly floorSource: string;
}

async function prepare(tee: SimulatedAttesterKind): Promise<Bench> {
  const { answers, proofs, base, logKey } = await capture(tee);
  const { attestation } = base;
  if (attestation === undefined) throw new Error('no record');
  let n = 0;
  const next = (): number => n++ % ANSWERS;
  const answer = (i: number): PlainAnswer => answers[i] as PlainAnswer;

  // bare: one JWS, and the two every answer carries; keys imported once.
  const enclaveKey = await importJWK({ kty: 'EC', crv: 'P-256', x: attestation.key.x, y: attestation.key.y }, 'ES256');
  const receipts = answers.map((a) => a.headers['attestgate-receipt'] ?? '');
  const counters = answers.map((a) => a.headers['attestgate-countersignature'] ?? '');
  const counterHeader = decodeProtectedHeader(counters[0] ?? '');
  const gatewayAlg = String(counterHeader.alg);
  const gatewayJwk = base.gatewayJwks?.keys.find((k) => k.kid === counterHeader.kid);
  if (gatewayJwk === undefined) throw new Error(`${tee}: the key set has no key ${String(counterHeader.kid)}`);
  const gk = await importJWK({ kty: gatewayJwk.kty, crv: gatewayJwk.crv, x: gatewayJwk.x, ...(gatewayJwk.y === undefined ? {} : { y: gatewayJwk.y }) }, gatewayAlg);
  if (gk instanceof Uint8Array) throw new Error('the gateway key is symmetric');
  const gatewayKey: CryptoKey = gk;
  const receipt = (i: number): Promise<unknown> => compactVerify(receipts[i] ?? '', enclaveKey, { algorithms: ['ES256'] });
  const counter = (i: number): Promise<unknown> => compactVerify(counters[i] ?? '', gatewayKey, { algorithms: [gatewayAlg] });

  // warm: a shared cache that has seen the record.
  const cache = createAnswerCache();
  await must(tee, verifyAnswer({ ...base, answer: answer(0), cache }));

  // cold: nothing cached. Its floor is checked against one instrumented cold verification.
  const coldOnce = (i: number): Promise<void> => {
    clearKeyCache();
    return must(tee, verifyAnswer({ ...base, answer: answer(i), cache: createAnswerCache() }));
  };
  const floor = coldFloor(attestation, counters[0] ?? '');
  const counted = await countVerifications(() => coldOnce(0));
  const expected = floorLabels(floor);
  if (counted.join('\n') !== expected.join('\n')) {
    throw new Error(`${tee}: the floor counts [${expected.join(', ')}], a cold verifyAnswer verified [${counted.join(', ')}]`);
  }

  return {
    tee,
    fast: [
      () => receipt(next()),
      () => {
        const i = next();
        return Promise.all([receipt(i), counter(i)]);
      },
      async () => {
        const i = next();
        await receipt(i);
        await counter(i);
      },
      () => must(tee, verifyAnswer({ ...base, answer: answer(next()), cache })),
      () => {
        const i = next();
        return must(tee, verifyAnswer({ ...base, answer: answer(i), proof: proofs[i] as NonNullable<VerifyAnswerInput['proof']>, trustedLogKey: logKey, cache }));
      },
    ],
    slow: [() => coldOnce(next()), floorRun(floor)],
    verifications: () => cache.stats.evidenceVerifications,
    floorText: describeFloor(floor),
    floorSource: floor.source,
  };
}

/**
 * Median wall time (ms) of each of `fns`, run in turn (one run of each per round, the order
 * rotating), so that every measure, of every TEE, shares whatever load the machine is under.
 */
async function interleaved(fns: readonly (() => unknown)[], runs: number, warmup: number): Promise<number[]> {
  const times = fns.map((): number[] => []);
  for (let round = 0; round < warmup + runs; round++) {
    for (let k = 0; k < fns.length; k++) {
      const j = (round + k) % fns.length;
      const s = process.hrtime.bigint();
      await (fns[j] as () => unknown)();
      if (round >= warmup) times[j]?.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
  }
  return times.map((t) => {
    t.sort((a, b) => a - b);
    return t[Math.floor(t.length / 2)] ?? NaN;
  });
}

const benches: Bench[] = [];
try {
  for (const tee of TEES) benches.push(await prepare(tee));
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
const fast = await interleaved(benches.flatMap((b) => b.fast), RUNS, WARMUP);
const slow = await interleaved(benches.flatMap((b) => b.slow), COLD_RUNS, COLD_WARMUP);
const rows = benches.map((b, i) => {
  const [bare, bare2, bare2seq, warm, warmLog] = fast.slice(5 * i, 5 * i + 5) as [number, number, number, number, number];
  const [cold, floor] = slow.slice(2 * i, 2 * i + 2) as [number, number];
  const verifications = b.verifications();
  if (verifications !== 1) throw new Error(`${b.tee}: warm runs verified the evidence ${verifications} times`);
  return { tee: b.tee, bare, bare2, bare2seq, warm, warmLog, cold, floor, floorText: b.floorText, floorSource: b.floorSource, verifications };
});

const us = (ms: number): string => (ms * 1000).toFixed(0);
const x = (v: number): string => `${v.toFixed(2)}x`;
console.log(`Client verifier (src/client verifyAnswer), every simulated TEE, ${ANSWERS} answers each cycled; median µs of ${RUNS} runs (cold and floor: ${COLD_RUNS}) after ${WARMUP} (${COLD_WARMUP}) warm-up runs, all measures interleaved run by run; Node ${process.version}`);
console.log('');
console.log('| TEE | bare 1 JWS | bare 2 JWS | warm | warm+log | cold | floor | warm/bare1 (goal <= 1.5x) | warm/bare2 (goal <= 1.5x) | cold/floor |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.tee} | ${us(r.bare)} | ${us(r.bare2)} | ${us(r.warm)} | ${us(r.warmLog)} | ${us(r.cold)} | ${us(r.floor)} | ${x(r.warm / r.bare)} | ${x(r.warm / r.bare2)} | ${x(r.cold / r.floor)} |`);
}
console.log('');
console.log('bare 1 JWS: jose compactVerify of the receipt, key imported once. bare 2 JWS: receipt + countersignature, concurrently as verifyAnswer checks them;');
console.log(`  one after the other: ${rows.map((r) => `${r.tee} ${us(r.bare2seq)}`).join(', ')} µs.`);
console.log(`warm: the record's evidence verified ${rows.map((r) => r.verifications).join('/')} time(s) in all the warm and warm+log runs of each TEE. cold: fresh AnswerCache, X.509 key cache cleared.`);
console.log('floor (node:crypto, each verification with its key import; its verifications equal those of an instrumented cold verifyAnswer):');
for (const r of rows) console.log(`  ${r.tee}: ${r.floorText} [evidence counted as ${r.floorSource}]`);
