/**
 * Gateway overhead benchmark (npm run bench:gateway). In one run, on the shipped Iris model:
 *   direct    client -> enclave            POST /v2/models/iris/infer (receipt signed)
 *   gateway   client -> gateway -> enclave the same request through the gateway: auth (demo,
 *             loopback), receipt JWS verified against the attested key, receipt and its JWS
 *             appended durably to the transparency log (fsync) and to the store, countersigned
 * and two floors, measured in the same run (bench/forwarder.ts), that say what any process in
 * the middle costs on this host whatever it does:
 *   forwarder client -> bare forwarder -> enclave   node:http + undici, checks nothing
 *   durable   client -> forwarder + fsync -> enclave  the same, plus each receipt appended to
 *             SQLite (WAL, synchronous=FULL, group commit) before the answer leaves
 * at 1 and 32 concurrent keep-alive connections (closed loop), for BENCH_SECONDS each after
 * BENCH_WARMUP_SECONDS of warm-up, measured in BENCH_ROUNDS slices that alternate between the
 * paths (so that both see the same background load on a shared host). Three processes, as in
 * production: the simulated enclave (`attestgate enclave`, spawnEnclave), the gateway
 * (startGateway, this file with BENCH_GATEWAY_ROLE=gateway) and the client (this process, undici; latency timed per request with
 * hrtime, so sub-millisecond differences are visible). Every answer must be 200 with its receipt
 * (and, through the gateway, the countersignature); anything else is counted, printed, and makes
 * the exit status 1.
 *
 * Reports p50/p99 latency (ms), throughput (req/s), CPU time per request of the gateway and the
 * enclave processes (from /proc: less sensitive than latency to other work on a small host, not
 * immune to it; the host's load and CPU pressure are printed with the table), the gateway's added p50 at 1 connection (goal <= 0.6 ms) and the throughput ratio
 * gateway/direct at 32 connections (goal >= 0.6).
 *
 * Environment: BENCH_SECONDS (5), BENCH_WARMUP_SECONDS (1), BENCH_ROUNDS (5), BENCH_CONNECTIONS ("1,32"),
 * BENCH_DATA_DIR (parent of the temporary data directory; default the OS temp dir: put it on the
 * disk you mean to measure, the log's fsync is part of every gateway answer), BENCH_CPU_PROF
 * (a directory: run the gateway under --cpu-prof and write its profile there).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { parseConfig } from '../src/config/schema.ts';
import { spawnEnclave } from '../src/gateway/main.ts';
import { startGateway } from '../src/gateway/server.ts';
import { createLogger } from '../src/obs/log.ts';

const ROOT = resolve(import.meta.dirname, '..');
const SELF = fileURLToPath(import.meta.url);
const BODY = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] }));
const INFER = '/v2/models/iris/infer';

function num(name: string, def: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${v}"`);
  return n;
}

// ---- the gateway process -----------------------------------------------------------------------

async function serveGateway(): Promise<void> {
  const log = createLogger({ level: 'warn', sink: (l) => void process.stderr.write(`${l}\n`), base: { component: 'gateway' } });
  const config = parseConfig(JSON.parse(process.env['BENCH_GATEWAY_CONFIG'] ?? '{}'), { baseDir: ROOT });
  const g = await startGateway(config, { log });
  process.stdout.write(`${JSON.stringify({ event: 'listening', url: g.url })}\n`);
  await new Promise<void>((res) => {
    process.once('SIGTERM', () => { res(); });
    process.once('SIGINT', () => { res(); });
  });
  await g.close();
  // Exit normally so that --cpu-prof writes its profile.
  process.exit(0);
}

/** A node process running `script` with these extra environment variables, once it printed its listening line. */
function spawnListening(what: string, nodeArgs: readonly string[], script: string, env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [...process.execArgv, ...nodeArgs, script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  return new Promise((res, rej) => {
    let buf = '';
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /"event":"listening","url":"([^"]+)"/.exec(buf);
      if (m !== null) res({ child, url: m[1]! });
    });
    child.once('exit', (code) => { rej(new Error(`the ${what} exited with status ${String(code)} before listening`)); });
  });
}

function spawnGateway(config: Record<string, unknown>, profDir: string | undefined): Promise<{ child: ChildProcess; url: string }> {
  const prof = profDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`];
  return spawnListening('gateway', prof, SELF, { BENCH_GATEWAY_ROLE: 'gateway', BENCH_GATEWAY_CONFIG: JSON.stringify(config) });
}

/** The floors (bench/forwarder.ts): a bare forwarder, and one that also logs each receipt durably. */
function spawnForwarder(target: string, durable: boolean, dir: string): Promise<{ child: ChildProcess; url: string }> {
  return spawnListening('forwarder', [], join(import.meta.dirname, 'forwarder.ts'), { BENCH_FORWARDER_TARGET: target, BENCH_FORWARDER_DURABLE: durable ? '1' : '0', BENCH_FORWARDER_DIR: dir });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** utime + stime of a process, in ms (Linux /proc; NaN elsewhere). */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

/** Share of the last 10 s in which some runnable task waited for a CPU (Linux PSI), in %. */
function cpuPressure(): number {
  try {
    return Number(/some avg10=([0-9.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

function fsOf(path: string): string {
  try {
    let best = { mount: '', type: '?' };
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [, mount = '', type = '?'] = line.split(' ');
      if ((path === mount || path.startsWith(mount.endsWith('/') ? mount : `${mount}/`)) && mount.length > best.mount.length) best = { mount, type };
    }
    return `${best.type} (${best.mount})`;
  } catch {
    return '?';
  }
}

/** The gateway's attestgate_receipt_log_duration_seconds sum and count (zeros without a URL). */
async function logHistogram(url: string | undefined): Promise<{ sum: number; count: number }> {
  if (url === undefined) return { sum: 0, count: 0 };
  const text = await (await fetch(url)).text();
  const read = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { sum: read('attestgate_receipt_log_duration_seconds_sum'), count: read('attestgate_receipt_log_duration_seconds_count') };
}

// ---- the client --------------------------------------------------------------------------------

type PathName = 'direct' | 'forwarder' | 'durable' | 'gateway';
const LABEL: Record<PathName, string> = {
  direct: 'client -> enclave',
  forwarder: 'client -> bare forwarder -> enclave',
  durable: 'client -> forwarder + fsync -> enclave',
  gateway: 'client -> gateway -> enclave',
};

/** One path at one concurrency: a closed loop of `connections` clients over a keep-alive pool,
 * run in slices (alternating with the other path, so that both see the same background load). */
class Load {
  readonly lat: number[] = [];
  readonly failures = new Map<string, number>();
  /** Answered inside measured slices. */
  requests = 0;
  /** Answered in total, warm-up included (to divide a profile's totals by). */
  answered = 0;
  seconds = 0;
  gatewayCpuMs = 0;
  enclaveCpuMs = 0;
  /** Seconds answers spent waiting for their receipt to be durable (the gateway's histogram). */
  logSeconds = 0;
  logCount = 0;
  private readonly pool: Pool;

  constructor(
    readonly path: PathName,
    url: string,
    readonly connections: number,
    private readonly headers: Record<string, string>,
    private readonly mustHave: readonly string[],
    private readonly pids: { gateway: number | undefined; enclave: number | undefined },
    private readonly metricsUrl?: string,
  ) {
    this.pool = new Pool(url, { connections, pipelining: 1 });
  }

  private fail(what: string): void {
    this.failures.set(what, (this.failures.get(what) ?? 0) + 1);
  }

  async slice(seconds: number, measure: boolean): Promise<void> {
    let running = true;
    const one = async (): Promise<void> => {
      const start = process.hrtime.bigint();
      try {
        const r = await this.pool.request({ method: 'POST', path: INFER, headers: this.headers, body: BODY });
        await r.body.arrayBuffer();
        this.answered++;
        if (r.statusCode !== 200) this.fail(`HTTP ${r.statusCode}`);
        else for (const h of this.mustHave) if (typeof r.headers[h] !== 'string') this.fail(`200 without ${h}`);
      } catch (e: unknown) {
        this.fail(`error ${(e as { code?: string }).code ?? (e as Error).message}`);
      }
      // Only requests answered inside the slice count.
      if (measure && running) {
        this.lat.push(Number(process.hrtime.bigint() - start) / 1e6);
        this.requests++;
      }
    };
    const log0 = await logHistogram(this.metricsUrl);
    const cpu0 = { g: cpuMs(this.pids.gateway), e: cpuMs(this.pids.enclave) };
    const t0 = process.hrtime.bigint();
    const loops = Array.from({ length: this.connections }, async () => {
      while (running) await one();
    });
    await new Promise((r) => setTimeout(r, seconds * 1000));
    running = false;
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu1 = { g: cpuMs(this.pids.gateway), e: cpuMs(this.pids.enclave) };
    await Promise.all(loops);
    const log1 = await logHistogram(this.metricsUrl);
    if (measure) {
      this.logSeconds += log1.sum - log0.sum;
      this.logCount += log1.count - log0.count;
      this.seconds += dt;
      this.gatewayCpuMs += cpu1.g - cpu0.g;
      this.enclaveCpuMs += cpu1.e - cpu0.e;
    }
  }

  quantile(p: number): number {
    const s = [...this.lat].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? NaN;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

async function main(): Promise<number> {
  const seconds = num('BENCH_SECONDS', 5);
  const warmupS = num('BENCH_WARMUP_SECONDS', 1);
  const rounds = Math.round(num('BENCH_ROUNDS', 5));
  const conns = (process.env['BENCH_CONNECTIONS'] ?? '1,32').split(',').map((s) => Number(s.trim()));
  if (conns.some((c) => !Number.isInteger(c) || c < 1)) throw new Error('BENCH_CONNECTIONS must be a comma-separated list of positive integers');
  const profDir = process.env['BENCH_CPU_PROF'] === undefined || process.env['BENCH_CPU_PROF'] === '' ? undefined : resolve(process.env['BENCH_CPU_PROF']);
  if (profDir !== undefined) mkdirSync(profDir, { recursive: true });
  const parent = resolve(process.env['BENCH_DATA_DIR'] ?? tmpdir());
  const dataDir = await mkdtemp(join(parent, 'attestgate-bench-gateway-'));
  const log = createLogger({ level: 'warn', sink: (l) => void process.stderr.write(`${l}\n`) });
  const load0 = loadavg()[0] ?? NaN;
  const pressure0 = cpuPressure();

  let enclave: ChildProcess | undefined;
  let gateway: ChildProcess | undefined;
  const forwarders: ChildProcess[] = [];
  const runs: Load[] = [];
  try {
    const e = await spawnEnclave(['--tee', 'sim-tdx', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--models', join(ROOT, 'models')], log, () => undefined);
    enclave = e.child;
    const g = await spawnGateway(
      {
        listen: { host: '127.0.0.1', port: 0 },
        data_dir: dataDir,
        demo: true,
        policy: join(ROOT, 'config/demo-policy.yaml'),
        trust: { simulated_roots: true },
        backends: [{ name: 'enclave-1', url: e.url, models: ['iris'] }],
        // The limiter is measured, not allowed to refuse: one tenant (demo) sends everything.
        limits: { rate: { per_second: 1_000_000, burst: 1_000_000 } },
      },
      profDir,
    );
    gateway = g.child;

    // The direct path answers only once the enclave has been attested; name that evidence, as the
    // gateway names the evidence its admission relied on.
    const attest = await fetch(`${e.url}/v1/attest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nonce: randomBytes(32).toString('base64url') }) });
    if (attest.status !== 200) throw new Error(`attest answered ${attest.status}: ${await attest.text()}`);
    const { evidence_sha256: evidence } = (await attest.json()) as { evidence_sha256: string };
    const ready = await fetch(`${g.url}/v2/health/ready`);
    if (ready.status !== 200) throw new Error(`the gateway is not ready: ${await ready.text()}`);

    const bare = await spawnForwarder(e.url, false, dataDir);
    forwarders.push(bare.child);
    const durable = await spawnForwarder(e.url, true, dataDir);
    forwarders.push(durable.child);

    const pids = { gateway: gateway.pid, enclave: enclave.pid };
    const direct = { 'content-type': 'application/json', 'attestgate-evidence': evidence };
    for (const c of conns) {
      // The "gateway CPU" column of a floor row is the forwarder's.
      const loads = [
        new Load('direct', e.url, c, direct, ['attestgate-receipt'], { ...pids, gateway: undefined }),
        new Load('forwarder', bare.url, c, direct, ['attestgate-receipt'], { ...pids, gateway: bare.child.pid }),
        new Load('durable', durable.url, c, direct, ['attestgate-receipt'], { ...pids, gateway: durable.child.pid }),
        new Load('gateway', g.url, c, { 'content-type': 'application/json' }, ['attestgate-receipt', 'attestgate-countersignature'], pids, `${g.url}/metrics`),
      ];
      try {
        for (const l of loads) await l.slice(warmupS, false);
        for (let i = 0; i < rounds; i++) for (const l of loads) await l.slice(seconds / rounds, true);
      } finally {
        for (const l of loads) await l.close();
      }
      runs.push(...loads);
    }
  } finally {
    if (gateway !== undefined) await stop(gateway);
    for (const f of forwarders) await stop(f);
    if (enclave !== undefined) await stop(enclave);
    await rm(dataDir, { recursive: true, force: true });
  }

  const f = (x: number, d = 3): string => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const cpu = cpus();
  console.log(`Gateway overhead on the shipped Iris model: ${seconds} s per row (${rounds} alternating slices) after ${warmupS} s warm-up, closed loop; Node ${process.version}, ${cpu.length} x ${cpu[0]?.model ?? '?'}, data dir on ${fsOf(parent)}`);
  console.log(`host load before/after: load average (1 min) ${f(load0, 2)}/${f(loadavg()[0] ?? NaN, 2)}, CPU pressure (some, avg10) ${f(pressure0, 1)}%/${f(cpuPressure(), 1)}%; other work on the host skews every figure`);
  console.log(`command: BENCH_SECONDS=${seconds} npm run bench:gateway   (node --import tsx bench/gateway.ts)`);
  console.log('');
  console.log('| path | connections | requests | req/s | p50 ms | p99 ms | not 200 / errors | middle process CPU ms/req | enclave CPU ms/req |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of runs) {
    const bad = [...r.failures.values()].reduce((a, b) => a + b, 0);
    console.log(`| ${LABEL[r.path]} | ${r.connections} | ${r.requests} | ${f(r.requests / r.seconds, 0)} | ${f(r.quantile(0.5))} | ${f(r.quantile(0.99))} | ${bad} | ${r.path === 'direct' ? '-' : f(r.gatewayCpuMs / r.requests)} | ${f(r.enclaveCpuMs / r.requests)} |`);
  }
  console.log('');
  const find = (p: PathName, c: number): Load | undefined => runs.find((r) => r.path === p && r.connections === c);
  for (const c of conns) {
    const d = find('direct', c);
    const g = find('gateway', c);
    const fw = find('forwarder', c);
    const du = find('durable', c);
    if (d === undefined || g === undefined || fw === undefined || du === undefined) continue;
    const added = (r: Load): number => r.quantile(0.5) - d.quantile(0.5);
    const ratio = (r: Load): number => r.requests / r.seconds / (d.requests / d.seconds);
    const goal = c === 1 ? ` (goal <= 0.6 ms: ${added(g) <= 0.6 ? 'met' : 'MISSED'})` : c === 32 ? ` (goal >= 0.6: ${ratio(g) >= 0.6 ? 'met' : 'MISSED'})` : '';
    console.log(`${c} connection${c === 1 ? '' : 's'}: added p50 (ms) gateway ${f(added(g))}, bare forwarder ${f(added(fw))}, forwarder + fsync ${f(added(du))}; gateway minus that floor ${f(added(g) - added(du))} ms`);
    console.log(`  throughput / direct: gateway ${f(ratio(g), 2)}, bare forwarder ${f(ratio(fw), 2)}, forwarder + fsync ${f(ratio(du), 2)}${c === 32 ? goal : ''}`);
    // The log's share: what an answer waits for its receipt to be durable, against what the gateway adds in all (means).
    const mean = (r: Load): number => r.lat.reduce((a, b) => a + b, 0) / r.lat.length;
    const logMs = (g.logSeconds / g.logCount) * 1000;
    console.log(`  log: each gateway answer waited ${f(logMs)} ms (mean) for its receipt to be durable (log append with the receipt's JWS, one fsync per group commit; then the store), ${f((100 * logMs) / (mean(g) - mean(d)), 0)}% of the mean latency the gateway adds (${f(mean(g) - mean(d))} ms)`);
    if (c === 1) console.log(`  added p50 goal: gateway ${f(added(g))} ms${goal}`);
  }
  if (profDir !== undefined) {
    const n = runs.filter((r) => r.path === 'gateway').reduce((a, r) => a + r.answered, 0);
    console.log(`gateway CPU profile in ${profDir}: the gateway answered ${n} infer requests in total (warm-up included)`);
  }
  let failed = false;
  for (const r of runs) {
    for (const [what, n] of r.failures) {
      failed = true;
      console.log(`FAILED: ${r.path}, ${r.connections} connection(s): ${n} x ${what}`);
    }
  }
  return failed ? 1 : 0;
}

if (process.env['BENCH_GATEWAY_ROLE'] === 'gateway') {
  await serveGateway();
} else {
  process.exitCode = await main();
}
