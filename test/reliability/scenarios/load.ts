/**
 * Load: sustained concurrent inference through a gateway process in front of three enclave
 * replicas, with throughput, latency, errors and the gateway's memory before and after.
 */
import { join } from 'node:path';
import { AnswerChecker, backendStates, describeCodes, describeStatuses, enclave, freePort, prepareGateway, round1, simPki, sleep, spawnGateway, startLoad } from '../harness.ts';
import type { Scenario } from '../scenario.ts';

/** The gateway's resident memory may grow by at most this much between warm-up and the end of the run. */
const RSS_GROWTH_BOUND_MB = 64;
const CONNECTIONS = 16;
const REPLICAS = 3;

const loadReplicas: Scenario = {
  name: 'load-replicas',
  group: 'load',
  injected: `${CONNECTIONS} keep-alive connections, closed loop, Iris infer through a gateway process (own PID) in front of ${REPLICAS} sim-tdx replicas; short 10 s after 6 s warm-up, long 60 s after 10 s`,
  expected: `every answer 200 with receipt, countersignature and attestation headers (errors 0); a sample of receipts verifies against the JWKS and names the bytes received; all ${REPLICAS} replicas serve; gateway RSS grows by less than ${RSS_GROWTH_BOUND_MB} MB from after warm-up to after the run`,
  budgetMs: { short: 60_000, long: 150_000 },
  async run(ctx) {
    const long = ctx.mode === 'long';
    // Long enough for V8's heap to reach its size under this load: growth after it is what a leak
    // would add, not the heap filling up to its steady state (2 s left that in the measurement).
    const warmupMs = long ? 10_000 : 6_000;
    const runMs = long ? 60_000 : 10_000;

    const pki = await simPki(ctx);
    const replicas = await Promise.all(Array.from({ length: REPLICAS }, () => enclave(ctx, { tee: 'sim-tdx', dataDir: pki })));
    const config = await prepareGateway(pki, join(ctx.dir, 'gateway.json'), {
      port: await freePort(),
      dataDir: join(ctx.dir, 'gateway-data'),
      backends: replicas.map((e, i) => ({ name: `replica-${i + 1}`, url: e.url })),
    });
    const gw = await spawnGateway(ctx, config);
    const states = await backendStates(gw.url);
    const admitted = [...states.values()].filter((b) => b.state === 'admitted').length;
    if (admitted !== REPLICAS) return { ok: false, happened: `only ${admitted} of ${REPLICAS} replicas admitted at start: ${JSON.stringify([...states.values()])}`, figures: {} };

    // Warm-up: JIT, connection pools, SQLite page cache; memory is measured after it.
    const warm = startLoad({ url: gw.url, connections: CONNECTIONS, durationMs: warmupMs, keepEvery: 0 }, ctx);
    await sleep(warmupMs);
    await warm.stop();
    const rssBefore = gw.rssMb();
    ctx.log(`warm-up: ${warm.stats().requests} requests; gateway RSS ${round1(rssBefore)} MB`);

    // Keep every 50th answer for checking (verifying all of them here would load the CPU the run measures).
    const load = startLoad({ url: gw.url, connections: CONNECTIONS, durationMs: runMs, keepEvery: 50 }, ctx);
    await sleep(runMs);
    const s = await load.stop();
    const rssAfter = gw.rssMb();
    ctx.log(`run: ${s.requests} requests, ${s.rps} rps, p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms; statuses ${describeStatuses(s)}; RSS ${round1(rssAfter)} MB`);

    // A 200 without its receipt headers is an error too (the client could not verify it).
    const kept200 = load.answers.filter((a) => a.status === 200);
    const missingHeaders = kept200.filter((a) => ['attestgate-receipt', 'attestgate-countersignature', 'attestgate-attestation'].some((h) => a.headers[h] === undefined)).length;
    const checker = new AnswerChecker(gw.url);
    await checker.refreshJwks();
    const sample = await checker.checkAll(kept200);
    // Which replicas served: from every 200's attestation id (not only the sample).
    const backendsSeen = new Set<string>();
    for (const id of load.byAttestation.keys()) backendsSeen.add(id === '' ? '(none)' : (await checker.record(id)).backend);
    const errors = s.requests - s.ok + sample.failed + missingHeaders;
    const growth = rssAfter - rssBefore;
    const alive = gw.alive();

    const problems: string[] = [];
    if (s.requests === 0) problems.push('no request completed');
    if (s.requests - s.ok > 0) problems.push(`${s.requests - s.ok} non-200 answers (${describeStatuses(s)}; codes ${describeCodes(s)})`);
    if (sample.failed > 0) problems.push(`${sample.failed} sampled answers failed verification: ${sample.failures.join('; ')}`);
    if (missingHeaders > 0) problems.push(`${missingHeaders} sampled 200s lack receipt headers`);
    if (backendsSeen.size !== REPLICAS) problems.push(`answers came from ${backendsSeen.size} replicas (${[...backendsSeen].join(', ')}), want ${REPLICAS}`);
    if (growth >= RSS_GROWTH_BOUND_MB) problems.push(`gateway RSS grew by ${round1(growth)} MB (bound ${RSS_GROWTH_BOUND_MB} MB)`);
    if (!alive) problems.push('the gateway process exited');
    const happened =
      problems.length === 0
        ? `${s.requests} requests in ${round1(s.elapsedMs / 1000)} s, all 200 from ${backendsSeen.size} replicas; ${sample.checked.length} sampled receipts and countersignatures verified against the JWKS; RSS ${round1(rssBefore)} -> ${round1(rssAfter)} MB (+${round1(growth)} MB, bound ${RSS_GROWTH_BOUND_MB})`
        : problems.join('; ');
    return {
      ok: problems.length === 0,
      happened,
      figures: {
        requests: s.requests,
        errors,
        rps: s.rps,
        p50_ms: s.p50Ms,
        p99_ms: s.p99Ms,
        rss_before_mb: round1(rssBefore),
        rss_after_mb: round1(rssAfter),
        receipts_checked: sample.checked.length,
      },
    };
  },
};

export const scenarios: Scenario[] = [loadReplicas];
