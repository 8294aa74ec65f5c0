/**
 * The reliability scenarios' shared harness (test/reliability/scenarios/*.ts), so that each
 * scenario reads as a short checklist. Everything here runs on 127.0.0.1, every loop is bounded in
 * count AND time, and every process, server or mount it starts is registered with `ctx.defer` by
 * the function that starts it (so a scenario that throws half-way still leaves nothing behind).
 *
 *   processes      simPki, enclave/restartEnclave (real `attestgate enclave --tee sim-*`),
 *                  inProcessGateway (src/gateway/server.ts in this process: logs, pool, injected
 *                  clock), spawnGateway (`attestgate gateway --config` as its own process: its
 *                  memory, SIGKILL, restart on the same port and data directory)
 *   traffic        startLoad: a closed-loop load generator (undici, keep-alive) with per-phase
 *                  counters, latency percentiles and the answers it was asked to keep
 *   checking       AnswerChecker (receipt and countersignature against the JWKS and the attestation
 *                  record, digests against the bytes), LogClient (checkpoints verified with the
 *                  pinned log key, inclusion and consistency proofs, the tree recomputed from leaves)
 *   faults         startBackendProxy (counts what reaches a backend; can strip the collateral from
 *                  its attest answers so the gateway must fetch it; retargets at once),
 *                  startCollateralService (an AMD KDS serving the simulated chip's VCEK, or going
 *                  down, slow, or answering garbage),
 *                  mountTmpfs/fillDisk (a small file system that can be filled)
 *
 * Reuses the integration helpers (test/integration/helpers/*) rather than copying them.
 */
import { execFile, spawn, type ChildProcessByStdio } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, open, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { compactVerify, decodeProtectedHeader, importJWK, type JSONWebKeySet, type JWK } from 'jose';
import { Pool } from 'undici';
import { parseReceiptClaims, type ReceiptClaims } from '../../attestation/receipt.ts';
import { SIMULATED_ROOT_FILES } from '../../enclave/protocol.ts';
import { simulatedRoots } from '../../enclave/sim/index.ts';
import { verifyCheckpoint, type VerifiedCheckpoint } from '../../src/audit/checkpoint.ts';
import { createNoteVerifier, type SyncNoteVerifier } from '../../src/audit/ed25519-node.ts';
import { leafHash, rootFromLeaves, verifyConsistency, verifyInclusion } from '../../src/audit/merkle.ts';
import { sha256 } from '../../src/audit/sha256-node.ts';
import { BIN, ROOT, spawnEnclave, type EnclaveProcess, type EnclaveSpec } from '../integration/helpers/enclave-process.ts';
import { DEMO_POLICY, startTestGateway, type GatewaySpec, type LogLine, type TestGateway } from '../integration/helpers/gateway.ts';
import { IRIS_BODY, sha256hex } from '../integration/helpers/http.ts';
import type { ScenarioContext } from './scenario.ts';

export { DEMO_POLICY, IRIS_BODY, ROOT, sha256hex, type EnclaveProcess, type LogLine, type TestGateway };

const execFileP = promisify(execFile);

// =============================================================================================
// Basics

export const sleep = (ms: number): Promise<void> =>
  new Promise((res) => {
    setTimeout(res, ms);
  });

/**
 * Poll `probe` every `everyMs` until it returns something other than undefined; throws after
 * `timeoutMs`. Bounded in time and in attempts (a probe that itself takes long cannot make it spin).
 */
export async function poll<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  const maxAttempts = Math.ceil(timeoutMs / everyMs) + 2;
  for (let i = 0; i < maxAttempts; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) break;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** A TCP port that was free a moment ago (for a gateway that must come back on the same port). */
export async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((res, rej) => {
    s.once('error', rej);
    s.listen(0, '127.0.0.1', res);
  });
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((res) => s.close(() => { res(); }));
  return port;
}

/** The p-th percentile (0..100) of an ascending array, nearest rank; 0 for none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? 0;
}

export const round1 = (n: number): number => Math.round(n * 10) / 10;

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function getJson(url: string, timeoutMs = 5_000): Promise<{ status: number; json: unknown; text: string }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await r.text();
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    json = undefined;
  }
  return { status: r.status, json, text };
}

// =============================================================================================
// Enclaves

/** Make the simulated vendor PKI once, before any enclave starts (concurrent first starts would race to create it). */
export async function simPki(ctx: ScenarioContext): Promise<string> {
  const dir = join(ctx.dir, 'enclaves');
  await mkdir(dir, { recursive: true });
  await simulatedRoots(dir);
  return dir;
}

/** A real enclave process, killed (SIGKILL) when the scenario ends. */
export async function enclave(ctx: ScenarioContext, spec: EnclaveSpec): Promise<EnclaveProcess> {
  const e = await spawnEnclave(spec);
  ctx.defer(() => e.kill('SIGKILL'));
  return e;
}

/**
 * Start an enclave on the port of `old` (which must have exited), as a supervisor restarting a
 * crashed replica would. The port was just released, so a few attempts cover a slow release.
 */
export async function restartEnclave(ctx: ScenarioContext, old: EnclaveProcess, overrides: Partial<EnclaveSpec> = {}): Promise<EnclaveProcess> {
  let last: unknown;
  for (let i = 0; i < 5; i++) {
    try {
      return await enclave(ctx, { ...old.spec, ...overrides, port: old.port });
    } catch (e: unknown) {
      last = e;
      await sleep(200);
    }
  }
  throw new Error(`could not restart the enclave on port ${old.port}: ${errorMessage(last)}`);
}

/** POST /v1/attest straight to an enclave (no gateway), e.g. to capture the collateral it sends. */
export async function attestDirect(enclaveUrl: string): Promise<{ collateral: { name: string; bytes: Uint8Array }[]; kid: string }> {
  const r = await fetch(`${enclaveUrl}/v1/attest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nonce: randomBytes(32).toString('base64url') }), signal: AbortSignal.timeout(10_000) });
  if (r.status !== 200) throw new Error(`attest ${enclaveUrl}: HTTP ${r.status}`);
  const body = (await r.json()) as { collateral: { name: string; data: string }[]; key: { kid: string } };
  return { collateral: body.collateral.map((c) => ({ name: c.name, bytes: new Uint8Array(Buffer.from(c.data, 'base64')) })), kid: body.key.kid };
}

/**
 * The simulated SEV-SNP collateral a sim-sev-snp enclave hands out with its evidence (what KDS
 * serves for its chip): the VCEK (DER) and the cert_chain (PEM, ASK then ARK).
 */
export async function simSnpCollateral(enclaveUrl: string): Promise<{ vcek: Uint8Array; certChain: Uint8Array }> {
  const { collateral } = await attestDirect(enclaveUrl);
  const vcek = collateral.find((c) => c.name === 'vcek.der');
  const certChain = collateral.find((c) => c.name === 'cert_chain.pem');
  if (vcek === undefined || certChain === undefined) throw new Error(`${enclaveUrl} sent no vcek.der and cert_chain.pem`);
  return { vcek: vcek.bytes, certChain: certChain.bytes };
}

// =============================================================================================
// Gateways

/** Rate limits out of the way: the suite measures the gateway, not the per-tenant limiter. */
export const NO_RATE_LIMIT = { rate: { per_second: 1_000_000, burst: 1_000_000 } } as const;

let inProcessCount = 0;

/**
 * The gateway in this process (test/integration/helpers/gateway.ts): its log lines, its pool and
 * an injected clock are at hand. Closed when the scenario ends; its log lines are then written to
 * `<ctx.dir>/gateway-<n>.log.jsonl`.
 */
export async function inProcessGateway(ctx: ScenarioContext, spec: Omit<GatewaySpec, 'simRootsFrom'> & { readonly pki: string }): Promise<TestGateway> {
  const { pki, ...rest } = spec;
  const g = await startTestGateway({ ...rest, simRootsFrom: pki, config: { limits: NO_RATE_LIMIT, ...rest.config } });
  const n = ++inProcessCount;
  ctx.defer(async () => {
    await g.close();
    // Kept with the scenario's directory when it fails (the runner removes it otherwise).
    await writeFile(join(ctx.dir, `gateway-${n}.log.jsonl`), g.logs.map((l) => JSON.stringify(l)).join('\n'));
  });
  return g;
}

export interface GatewayConfigSpec {
  readonly port: number;
  readonly dataDir: string;
  readonly backends: readonly { readonly name: string; readonly url: string }[];
  /** Extra top-level configuration keys (merged over the defaults below). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** A gateway configuration (docs/configuration.md): demo mode on loopback, the demo policy, simulated roots. */
export function gatewayConfig(spec: GatewayConfigSpec): Record<string, unknown> {
  return {
    listen: { host: '127.0.0.1', port: spec.port },
    data_dir: spec.dataDir,
    demo: true,
    policy: DEMO_POLICY,
    trust: { simulated_roots: true },
    backends: spec.backends.map((b) => ({ name: b.name, url: b.url, timeout_ms: 10_000 })),
    limits: NO_RATE_LIMIT,
    log: { level: 'info' },
    ...spec.extra,
  };
}

/** Create a gateway data directory holding the simulated roots (and nothing else), and write its config file. */
export async function prepareGateway(pki: string, file: string, spec: GatewayConfigSpec): Promise<string> {
  await mkdir(spec.dataDir, { recursive: true, mode: 0o700 });
  for (const f of SIMULATED_ROOT_FILES) {
    await mkdir(dirname(join(spec.dataDir, f)), { recursive: true });
    await copyFile(join(pki, f), join(spec.dataDir, f));
  }
  await writeFile(file, JSON.stringify(gatewayConfig(spec), null, 2));
  return file;
}

export interface GatewayProcess {
  readonly url: string;
  readonly pid: number;
  /** Parsed log lines (JSON on stdout), the last 20,000. */
  readonly logs: LogLine[];
  /** The last 64 KiB of everything printed, for failure messages. */
  output(): string;
  alive(): boolean;
  readonly exited: Promise<number | NodeJS.Signals | null>;
  /** Send `signal` and wait until the process has exited (at most 15 s, then SIGKILL). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Resident set size now, MiB (from /proc/<pid>/status VmRSS). */
  rssMb(): number;
}

/** Environment variables that would override the config file (docs/configuration.md): never inherited. */
const CONFIG_ENV = ['ATTESTGATE_CONFIG', 'HOST', 'PORT', 'ATTESTGATE_DATA_DIR', 'ATTESTGATE_POLICY', 'ATTESTGATE_LOG_LEVEL', 'ATTESTGATE_DEMO'];

export function rssMbOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/**
 * `node bin/attestgate.js gateway --config <file>` as its own process; resolves once it logs
 * "gateway listening" (after attesting every backend). Rejects with its output if it exits first
 * or does not listen within `timeoutMs`. Killed (SIGKILL) when the scenario ends.
 */
export async function spawnGateway(ctx: ScenarioContext, configFile: string, timeoutMs = 30_000): Promise<GatewayProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of CONFIG_ENV) Reflect.deleteProperty(env, k);
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(process.execPath, [BIN, 'gateway', '--config', configFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
  const pid = child.pid;
  if (pid === undefined) throw new Error('the gateway process did not start');
  const logs: LogLine[] = [];
  let out = '';
  let partial = '';
  const keep = (s: string): void => {
    out = (out + s).slice(-65_536);
  };
  let onListening: ((url: string) => void) | undefined;
  child.stdout.on('data', (c: Buffer) => {
    const s = c.toString();
    keep(s);
    partial += s;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      let l: LogLine;
      try {
        l = JSON.parse(line) as LogLine;
      } catch {
        continue;
      }
      logs.push(l);
      if (logs.length > 20_000) logs.splice(0, logs.length - 20_000);
      if (l.msg === 'gateway listening' && typeof l['url'] === 'string') onListening?.(l['url']);
    }
  });
  child.stderr.on('data', (c: Buffer) => {
    keep(c.toString());
  });
  const exited = new Promise<number | NodeJS.Signals | null>((res) => {
    child.once('exit', (code, signal) => {
      res(code ?? signal);
    });
  });
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const kill = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    if (alive()) child.kill(signal);
    const t = setTimeout(() => {
      if (alive()) child.kill('SIGKILL');
    }, 15_000);
    await exited;
    clearTimeout(t);
  };
  ctx.defer(() => kill('SIGKILL'));
  const url = await new Promise<string>((res, rej) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`the gateway did not listen within ${timeoutMs} ms:\n${out.slice(-4000)}`));
    }, timeoutMs);
    onListening = (u) => {
      clearTimeout(t);
      res(u);
    };
    void exited.then((code) => {
      clearTimeout(t);
      rej(new Error(`the gateway exited (${String(code)}) before listening:\n${out.slice(-4000)}`));
    });
  });
  return { url, pid, logs, output: () => out, alive, exited, kill, rssMb: () => rssMbOf(pid) };
}

export interface BackendView {
  readonly name: string;
  readonly state: string;
  readonly reason: string | null;
}

/** GET /v2/health/ready as a map name -> {state, reason}. */
export async function backendStates(gateway: string): Promise<Map<string, BackendView>> {
  const r = await getJson(`${gateway}/v2/health/ready`);
  const body = r.json as { backends?: BackendView[] } | undefined;
  if (body?.backends === undefined) throw new Error(`ready: HTTP ${r.status} ${r.text.slice(0, 200)}`);
  return new Map(body.backends.map((b) => [b.name, b]));
}

/** Wait until backend `name` satisfies `pred` (per /v2/health/ready); returns its view. */
export function waitBackend(gateway: string, name: string, pred: (b: BackendView) => boolean, timeoutMs: number, what = `${name} to change state`): Promise<BackendView> {
  return poll(
    what,
    async () => {
      const b = (await backendStates(gateway)).get(name);
      return b !== undefined && pred(b) ? b : undefined;
    },
    timeoutMs,
    50,
  );
}

// =============================================================================================
// Load

export interface LoadAnswer {
  readonly seq: number;
  /** The phase (LoadRun.phase) when the request was sent. */
  readonly phase: string;
  /** When the request was sent and when its answer was complete (Date.now()). */
  readonly sentAt: number;
  readonly doneAt: number;
  readonly ms: number;
  /** HTTP status; 0 when no HTTP answer arrived (transport error or timeout). */
  readonly status: number;
  /** The gateway's `error.code` for a JSON error body; the transport error code for status 0. */
  readonly code: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  /** Stop after this long, or after maxRequests, whichever comes first (stop() ends it earlier). */
  readonly durationMs: number;
  readonly maxRequests?: number;
  readonly path?: string;
  readonly body?: Uint8Array;
  /** Per request (headers and body). An answer slower than this counts as a hang. Default 15 s. */
  readonly requestTimeoutMs?: number;
  /**
   * Which answers to keep in LoadRun.answers: 200 answers every `keepEvery`-th (1: all, 0: none;
   * default 1); failures always (the first 20,000).
   */
  readonly keepEvery?: number;
  /** Pause after an answer-less failure, so a dead gateway is not hammered in a tight loop. Default 25 ms. */
  readonly backoffMs?: number;
  readonly initialPhase?: string;
}

export interface LoadStats {
  readonly requests: number;
  readonly ok: number;
  /** Count per HTTP status (0: no answer). */
  readonly statuses: Readonly<Record<string, number>>;
  /** Count per error code (gateway JSON codes and transport codes). */
  readonly codes: Readonly<Record<string, number>>;
  /** Non-200 answers without a gateway error body `{error: {code, message}}`. */
  readonly untyped: number;
  /** Requests that got no HTTP answer at all (connection refused or reset, socket closed). */
  readonly transport: number;
  /** Requests that got no answer within requestTimeoutMs. */
  readonly hangs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly rps: number;
  readonly elapsedMs: number;
}

export interface LoadRun {
  /** Tag for requests sent from now on (answers and per-phase stats carry it). */
  phase: string;
  readonly answers: LoadAnswer[];
  /** Totals, or one phase's. */
  stats(phase?: string): LoadStats;
  /** 200 answers per attestation id they name (attestgate-attestation), all of them, kept or not. */
  readonly byAttestation: ReadonlyMap<string, number>;
  /** Stop sending, wait for requests in flight (bounded by requestTimeoutMs), close the connections. */
  stop(): Promise<LoadStats>;
}

const HANG_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

class Counters {
  requests = 0;
  ok = 0;
  untyped = 0;
  transport = 0;
  hangs = 0;
  readonly statuses: Record<string, number> = {};
  readonly codes: Record<string, number> = {};
  readonly latencies: number[] = [];
  first = Number.POSITIVE_INFINITY;
  last = 0;

  add(a: LoadAnswer): void {
    this.requests++;
    if (a.status === 200) this.ok++;
    this.statuses[String(a.status)] = (this.statuses[String(a.status)] ?? 0) + 1;
    if (a.code !== undefined) this.codes[a.code] = (this.codes[a.code] ?? 0) + 1;
    if (a.status !== 200 && a.status !== 0 && a.code === undefined) this.untyped++;
    if (a.status === 0) {
      if (a.code !== undefined && HANG_CODES.has(a.code)) this.hangs++;
      else this.transport++;
    }
    this.latencies.push(a.ms);
    this.first = Math.min(this.first, a.sentAt);
    this.last = Math.max(this.last, a.doneAt);
  }

  stats(): LoadStats {
    const sorted = [...this.latencies].sort((x, y) => x - y);
    const elapsedMs = this.requests === 0 ? 0 : Math.max(1, this.last - this.first);
    return {
      requests: this.requests,
      ok: this.ok,
      statuses: { ...this.statuses },
      codes: { ...this.codes },
      untyped: this.untyped,
      transport: this.transport,
      hangs: this.hangs,
      p50Ms: round1(percentile(sorted, 50)),
      p99Ms: round1(percentile(sorted, 99)),
      maxMs: round1(sorted.at(-1) ?? 0),
      rps: elapsedMs === 0 ? 0 : Math.round((this.requests * 1000) / elapsedMs),
      elapsedMs,
    };
  }
}

function gatewayErrorCode(body: Uint8Array): string | undefined {
  try {
    const j = JSON.parse(new TextDecoder().decode(body)) as { error?: { code?: unknown; message?: unknown } };
    return typeof j.error?.code === 'string' && typeof j.error.message === 'string' ? j.error.code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Closed-loop load: `connections` workers over as many keep-alive connections, each sending the
 * next request as soon as the previous one is answered, until durationMs or maxRequests. Every
 * outcome is counted (per phase and in total); nothing is thrown.
 */
export function startLoad(o: LoadOptions, ctx?: ScenarioContext): LoadRun {
  const timeout = o.requestTimeoutMs ?? 15_000;
  const pool = new Pool(o.url, { connections: o.connections, pipelining: 1, headersTimeout: timeout, bodyTimeout: timeout, connectTimeout: 5_000, keepAliveTimeout: 10_000 });
  const path = o.path ?? '/v2/models/iris/infer';
  const body = Buffer.from(o.body ?? IRIS_BODY);
  const maxRequests = o.maxRequests ?? 5_000_000;
  const keepEvery = o.keepEvery ?? 1;
  const backoff = o.backoffMs ?? 25;
  const until = Date.now() + o.durationMs;
  const total = new Counters();
  const byPhase = new Map<string, Counters>();
  const answers: LoadAnswer[] = [];
  const byAttestation = new Map<string, number>();
  let failuresKept = 0;
  let seq = 0;
  let stopped = false;
  let stopping: Promise<LoadStats> | undefined;
  const run: LoadRun = {
    phase: o.initialPhase ?? 'load',
    answers,
    byAttestation,
    stats: (phase) => (phase === undefined ? total.stats() : (byPhase.get(phase) ?? new Counters()).stats()),
    // Idempotent: a scenario stops its load itself, and once more from ctx.defer in case it threw.
    stop: () =>
      (stopping ??= (async () => {
        stopped = true;
        await Promise.all(workers);
        await pool.close().catch(() => undefined);
        return total.stats();
      })()),
  };
  const record = (a: LoadAnswer): void => {
    total.add(a);
    let c = byPhase.get(a.phase);
    if (c === undefined) {
      c = new Counters();
      byPhase.set(a.phase, c);
    }
    c.add(a);
    if (a.status === 200) {
      const id = a.headers['attestgate-attestation'] ?? '';
      byAttestation.set(id, (byAttestation.get(id) ?? 0) + 1);
      if (keepEvery > 0 && a.seq % keepEvery === 0) answers.push(a);
    } else if (failuresKept < 20_000) {
      failuresKept++;
      answers.push(a);
    }
  };
  const worker = async (): Promise<void> => {
    while (!stopped && Date.now() < until && seq < maxRequests) {
      const n = seq++;
      const phase = run.phase;
      const sentAt = Date.now();
      const t0 = performance.now();
      try {
        const r = await pool.request({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body });
        const bytes = new Uint8Array(await r.body.arrayBuffer());
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(r.headers)) if (typeof v === 'string') headers[k] = v;
        record({ seq: n, phase, sentAt, doneAt: Date.now(), ms: performance.now() - t0, status: r.statusCode, code: r.statusCode === 200 ? undefined : gatewayErrorCode(bytes), headers, body: r.statusCode === 200 ? bytes : bytes.subarray(0, 2048) });
      } catch (e: unknown) {
        const code = typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : 'ERR_TRANSPORT';
        record({ seq: n, phase, sentAt, doneAt: Date.now(), ms: performance.now() - t0, status: 0, code, headers: {}, body: new Uint8Array() });
        await sleep(backoff);
      }
    }
  };
  const workers = Array.from({ length: o.connections }, () => worker());
  ctx?.defer(async () => {
    await run.stop();
  });
  return run;
}

/** "200 1234, 503 12" */
export function describeStatuses(s: LoadStats): string {
  return Object.entries(s.statuses)
    .map(([k, v]) => `${k === '0' ? 'no answer' : k} ${v}`)
    .join(', ');
}

export function describeCodes(s: LoadStats): string {
  const e = Object.entries(s.codes);
  return e.length === 0 ? 'none' : e.map(([k, v]) => `${k} ${v}`).join(', ');
}

// =============================================================================================
// Checking answers

export interface AttestationRecord {
  readonly id: string;
  readonly backend: string;
  readonly admitted: boolean;
  readonly status: string;
  readonly reasons: readonly { readonly code: string; readonly reason: string; readonly message: string }[];
  readonly key: (JWK & { kid: string }) | null;
  readonly evidence_sha256: string | null;
  readonly created_at: string;
}

export interface CheckedAnswer {
  readonly receiptId: string;
  readonly receiptJws: string;
  readonly attestationId: string;
  readonly backend: string;
  readonly kid: string;
  readonly logIndex: number | undefined;
  readonly claims: ReceiptClaims;
  readonly record: AttestationRecord;
}

/**
 * Checks a gateway answer as a careful client would, with nothing but the gateway's public API:
 *   - the enclave's receipt verifies (ES256) with a key the gateway published in its JWKS (every
 *     key ever seen there while watched), and that key is the one the named attestation admitted;
 *   - the receipt names the request bytes sent, the response bytes received, and the evidence of
 *     that attestation;
 *   - the gateway's countersignature verifies with the gateway key and names this receipt (its
 *     digest and id), this attestation, and a log index.
 * Throws an Error saying which check failed.
 */
export class AnswerChecker {
  private readonly jwks = new Map<string, JWK>();
  private readonly records = new Map<string, AttestationRecord>();
  private watching = false;

  constructor(
    private readonly gateway: string,
    private readonly requestBody: Uint8Array = IRIS_BODY,
  ) {}

  /** Every key of the gateway's JWKS now (keys stay known after they leave it). */
  async refreshJwks(): Promise<void> {
    const r = await getJson(`${this.gateway}/.well-known/jwks.json`);
    const set = r.json as JSONWebKeySet | undefined;
    if (r.status !== 200 || set === undefined) throw new Error(`jwks: HTTP ${r.status}`);
    for (const k of set.keys) if (typeof k.kid === 'string') this.jwks.set(k.kid, k);
  }

  /** Poll the JWKS every `everyMs` until the scenario ends, so that keys published only for a while are known. */
  watch(ctx: ScenarioContext, everyMs = 200): void {
    if (this.watching) return;
    this.watching = true;
    const flag = { stop: false };
    const loop = (async (): Promise<void> => {
      // Bounded by the scenario (stop) and by a count (an hour of polls at most).
      for (let i = 0; i < 18_000 && !flag.stop; i++) {
        await this.refreshJwks().catch(() => undefined);
        await sleep(everyMs);
      }
    })();
    ctx.defer(async () => {
      flag.stop = true;
      await loop;
    });
  }

  knownKids(): string[] {
    return [...this.jwks.keys()];
  }

  async record(id: string): Promise<AttestationRecord> {
    const hit = this.records.get(id);
    if (hit !== undefined) return hit;
    const r = await getJson(`${this.gateway}/v1/attestations/${encodeURIComponent(id)}`);
    if (r.status !== 200) throw new Error(`attestation ${id}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
    const rec = r.json as AttestationRecord;
    this.records.set(id, rec);
    return rec;
  }

  private async key(kid: string): Promise<JWK> {
    let k = this.jwks.get(kid);
    if (k === undefined) {
      await this.refreshJwks();
      k = this.jwks.get(kid);
    }
    if (k === undefined) throw new Error(`key ${kid} was never in the gateway's JWKS`);
    return k;
  }

  async check(a: LoadAnswer): Promise<CheckedAnswer> {
    if (a.status !== 200) throw new Error(`HTTP ${a.status}`);
    const receiptJws = a.headers['attestgate-receipt'];
    const counter = a.headers['attestgate-countersignature'];
    const attestationId = a.headers['attestgate-attestation'];
    const receiptId = a.headers['attestgate-receipt-id'];
    if (receiptJws === undefined || counter === undefined || attestationId === undefined || receiptId === undefined) {
      throw new Error('a receipt, countersignature, attestation or receipt-id header is missing');
    }
    const kid = decodeProtectedHeader(receiptJws).kid;
    if (kid === undefined) throw new Error('the receipt names no kid');
    const jwk = await this.key(kid);
    const rec = await this.record(attestationId);
    if (!rec.admitted) throw new Error(`attestation ${attestationId} did not admit its backend`);
    if (rec.key?.kid !== kid || rec.key.x !== jwk.x || rec.key.y !== jwk.y) throw new Error(`the receipt's key ${kid} is not the key attestation ${attestationId} admitted (${rec.key?.kid ?? 'none'})`);
    let claims: ReceiptClaims;
    try {
      const v = await compactVerify(receiptJws, await importJWK(jwk, 'ES256'), { algorithms: ['ES256'] });
      claims = parseReceiptClaims(JSON.parse(new TextDecoder().decode(v.payload)));
    } catch (e: unknown) {
      throw new Error(`the receipt does not verify with the attested key ${kid}: ${errorMessage(e)}`);
    }
    if (claims.id !== receiptId) throw new Error(`receipt id ${claims.id} differs from the header's ${receiptId}`);
    if (claims.request_sha256 !== sha256hex(this.requestBody)) throw new Error('the receipt names another request');
    if (claims.response_sha256 !== sha256hex(a.body)) throw new Error('the receipt does not name the body received (response digest mismatch)');
    if (claims.evidence_sha256 !== rec.evidence_sha256) throw new Error(`the receipt names evidence ${claims.evidence_sha256}, the attestation ${String(rec.evidence_sha256)}`);
    const ch = decodeProtectedHeader(counter);
    if (ch.kid === undefined || ch.alg === undefined) throw new Error('the countersignature names no kid or alg');
    const gk = await this.key(ch.kid);
    let cp: { typ?: unknown; receipt_sha256?: unknown; receipt_id?: unknown; attestation_id?: unknown; backend?: unknown; log_index?: unknown };
    try {
      const v = await compactVerify(counter, await importJWK(gk, ch.alg), { algorithms: ['ES256', 'EdDSA'] });
      cp = JSON.parse(new TextDecoder().decode(v.payload)) as typeof cp;
    } catch (e: unknown) {
      throw new Error(`the countersignature does not verify with gateway key ${ch.kid}: ${errorMessage(e)}`);
    }
    if (cp.typ !== 'attestgate-countersignature/v1' || cp.receipt_sha256 !== sha256hex(receiptJws) || cp.receipt_id !== receiptId || cp.attestation_id !== attestationId) {
      throw new Error('the countersignature does not name this receipt and attestation');
    }
    if (cp.backend !== rec.backend) throw new Error(`the countersignature names backend ${String(cp.backend)}, the attestation ${rec.backend}`);
    const logIndex = typeof cp.log_index === 'number' ? cp.log_index : undefined;
    return { receiptId, receiptJws, attestationId, backend: rec.backend, kid, logIndex, claims, record: rec };
  }

  /** Check many answers; returns those that passed and one line per failure (the first `maxFailures`). */
  async checkAll(answers: readonly LoadAnswer[], maxFailures = 5): Promise<{ checked: CheckedAnswer[]; failed: number; failures: string[] }> {
    const checked: CheckedAnswer[] = [];
    const failures: string[] = [];
    let failed = 0;
    for (const a of answers) {
      if (a.status !== 200) continue;
      try {
        checked.push(await this.check(a));
      } catch (e: unknown) {
        failed++;
        if (failures.length < maxFailures) failures.push(`#${a.seq} (${a.phase}): ${errorMessage(e)}`);
      }
    }
    return { checked, failed, failures };
  }
}

// =============================================================================================
// Checking the log

interface ProofBundle {
  readonly receipt: { readonly id?: unknown; readonly receipt_sha256?: unknown; readonly log_index?: unknown };
  readonly log: { readonly checkpoint: string; readonly tree_size: number; readonly index: number; readonly leaf: string; readonly proof: readonly string[] };
  readonly verifier_key: string;
}

const b64bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

/**
 * The transparency log as an auditor sees it (docs/log.md), with the log's verifier key pinned on
 * first contact: every checkpoint must verify with it, every proof is checked with src/audit's
 * verifiers (the same code a client would ship), and the tree can be recomputed from the leaves.
 */
export class LogClient {
  private readonly verifier: SyncNoteVerifier;

  private constructor(
    public gateway: string,
    readonly verifierKey: string,
    readonly origin: string,
  ) {
    this.verifier = createNoteVerifier(verifierKey);
  }

  /** Pin the log key the gateway serves now (trust on first use, as `attestgate audit`). */
  static async pin(gateway: string): Promise<LogClient> {
    const r = await fetch(`${gateway}/v1/log/key`, { signal: AbortSignal.timeout(5_000) });
    if (r.status !== 200) throw new Error(`log key: HTTP ${r.status}`);
    const vkey = (await r.text()).trim();
    return new LogClient(gateway, vkey, vkey.split('+')[0] ?? '');
  }

  /** The key the gateway serves now (after a restart it must still be the pinned one). */
  async servedKey(): Promise<string> {
    const r = await fetch(`${this.gateway}/v1/log/key`, { signal: AbortSignal.timeout(5_000) });
    return (await r.text()).trim();
  }

  async verify(note: string): Promise<VerifiedCheckpoint> {
    return verifyCheckpoint(note, [this.verifier], { origin: this.origin });
  }

  /** GET /v1/log/checkpoint, verified with the pinned key. */
  async checkpoint(): Promise<VerifiedCheckpoint> {
    const r = await fetch(`${this.gateway}/v1/log/checkpoint`, { signal: AbortSignal.timeout(5_000) });
    if (r.status !== 200) throw new Error(`checkpoint: HTTP ${r.status}`);
    return this.verify(await r.text());
  }

  /** Throws unless the gateway proves that `older` is a prefix of `newer`. */
  async consistent(older: VerifiedCheckpoint, newer: VerifiedCheckpoint): Promise<void> {
    const r = await getJson(`${this.gateway}/v1/log/proof/consistency?first=${older.size}&second=${newer.size}`);
    if (r.status !== 200) throw new Error(`consistency ${older.size} -> ${newer.size}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
    const proof = (r.json as { proof: string[] }).proof.map(b64bytes);
    verifyConsistency(sha256, older.size, newer.size, older.root, newer.root, proof);
  }

  /**
   * GET /v1/receipts/{id}/proof and check it offline: the bundle's checkpoint verifies with the
   * pinned key, its leaf is this receipt's log entry (id, digest of the receipt JWS, the index the
   * countersignature named), and the inclusion proof leads from that leaf to the checkpoint's root.
   * Returns the checkpoint; throws with the reason (`status` 404 when the receipt is unknown).
   */
  async proveReceipt(id: string, want: { readonly logIndex?: number | undefined; readonly receiptJws?: string }): Promise<VerifiedCheckpoint> {
    const r = await getJson(`${this.gateway}/v1/receipts/${encodeURIComponent(id)}/proof`);
    if (r.status !== 200) throw Object.assign(new Error(`receipt ${id}: proof HTTP ${r.status} ${r.text.slice(0, 200)}`), { status: r.status });
    const b = r.json as ProofBundle;
    if (b.verifier_key !== this.verifierKey) throw new Error(`receipt ${id}: the bundle names log key ${b.verifier_key}, pinned ${this.verifierKey}`);
    const cp = await this.verify(b.log.checkpoint);
    if (cp.size !== b.log.tree_size) throw new Error(`receipt ${id}: tree_size ${b.log.tree_size}, the checkpoint says ${cp.size}`);
    if (want.logIndex !== undefined && b.log.index !== want.logIndex) throw new Error(`receipt ${id}: logged at ${b.log.index}, the countersignature said ${want.logIndex}`);
    const leaf = b64bytes(b.log.leaf);
    const entry = JSON.parse(new TextDecoder().decode(leaf)) as { kind?: unknown; id?: unknown; receipt_sha256?: unknown };
    if (entry.kind !== 'receipt' || entry.id !== id) throw new Error(`receipt ${id}: log entry ${b.log.index} is not this receipt`);
    if (want.receiptJws !== undefined && entry.receipt_sha256 !== sha256hex(want.receiptJws)) throw new Error(`receipt ${id}: the logged receipt digest is not the receipt received`);
    verifyInclusion(sha256, b.log.index, cp.size, leafHash(sha256, leaf), b.log.proof.map(b64bytes), cp.root);
    return cp;
  }

  /** Fetch every entry of the checkpoint's tree (pages of 1000) and recompute its root from the leaves. */
  async recompute(cp: VerifiedCheckpoint): Promise<void> {
    const leaves: Uint8Array[] = [];
    for (let start = 0, pages = 0; start < cp.size && pages < 100_000; pages++) {
      const end = Math.min(cp.size, start + 1000);
      const r = await getJson(`${this.gateway}/v1/log/entries?start=${start}&end=${end}`);
      if (r.status !== 200) throw new Error(`entries [${start}, ${end}): HTTP ${r.status}`);
      const got = (r.json as { entries: { index: number; leaf: string }[] }).entries;
      if (got.length !== end - start) throw new Error(`entries [${start}, ${end}): got ${got.length}`);
      for (const [i, e] of got.entries()) {
        if (e.index !== start + i) throw new Error(`entry ${start + i} comes back as index ${e.index}`);
        leaves.push(leafHash(sha256, b64bytes(e.leaf)));
      }
      start = end;
    }
    const root = rootFromLeaves(sha256, leaves);
    if (Buffer.compare(Buffer.from(root), Buffer.from(cp.root)) !== 0) throw new Error(`the root recomputed from ${cp.size} leaves differs from the checkpoint's`);
  }
}

// =============================================================================================
// A proxy in front of a backend

export interface ProxyHit {
  /** The enclave the request was forwarded to. */
  readonly target: string;
  readonly path: string;
  /** The status the backend answered; 0 when it could not be reached (the gateway's socket is then destroyed). */
  readonly status: number;
  /** When the request was forwarded, and when its answer (or failure) came back (Date.now()). */
  readonly sentAt: number;
  readonly at: number;
}

export interface BackendProxy {
  readonly url: string;
  /** Where requests go; set it to swap the enclave behind the same address at once (no downtime). */
  target: string;
  /** Every request forwarded (the last 100,000). */
  readonly hits: ProxyHit[];
  /** Infer requests forwarded at or after `since` (Date.now()) to `target` (default: any) and answered 200. */
  inferServed(since?: number, target?: string): number;
  close(): Promise<void>;
}

/**
 * A transparent HTTP proxy in front of an enclave: what reaches the enclave through it is counted
 * (the enclave-side count of the gateway's traffic). With `stripCollateral`, the collateral list of
 * its attest answers is emptied, like a host that passes no auxblob/collateral to the guest: the
 * gateway must then fetch collateral from the configured service (src/gateway/collateral.ts). An
 * unreachable enclave is passed on as an unreachable backend (the socket is destroyed), not as an
 * HTTP error the gateway would relay.
 */
export async function startBackendProxy(ctx: ScenarioContext, initialTarget: string, opts: { readonly stripCollateral?: boolean } = {}): Promise<BackendProxy> {
  const to = { target: initialTarget };
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const hits: ProxyHit[] = [];
  const note = (h: ProxyHit): void => {
    hits.push(h);
    if (hits.length > 100_000) hits.splice(0, hits.length - 100_000);
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !['host', 'connection', 'content-length', 'keep-alive'].includes(k)) headers[k] = v;
      const body = Buffer.concat(chunks);
      const target = to.target;
      const sentAt = Date.now();
      const up = httpRequest(new URL(path, target), { method: req.method ?? 'GET', headers: { ...headers, 'content-length': String(body.length) }, agent }, (r) => {
        const parts: Buffer[] = [];
        r.on('data', (c: Buffer) => parts.push(c));
        r.on('end', () => {
          let out = Buffer.concat(parts);
          const status = r.statusCode ?? 0;
          note({ target, path, status, sentAt, at: Date.now() });
          if (opts.stripCollateral === true && path === '/v1/attest' && status === 200) {
            const j = JSON.parse(out.toString('utf8')) as Record<string, unknown>;
            out = Buffer.from(JSON.stringify({ ...j, collateral: [] }));
          }
          const h: Record<string, string> = { 'content-length': String(out.length) };
          for (const [k, v] of Object.entries(r.headers)) if (typeof v === 'string' && !['connection', 'content-length', 'keep-alive', 'transfer-encoding'].includes(k)) h[k] = v;
          res.writeHead(status, h);
          res.end(out);
        });
        r.on('error', () => {
          res.socket?.destroy();
        });
      });
      up.on('error', () => {
        note({ target, path, status: 0, sentAt, at: Date.now() });
        req.socket.destroy();
      });
      up.end(body);
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address() as AddressInfo;
  const close = async (): Promise<void> => {
    server.closeAllConnections();
    agent.destroy();
    await new Promise<void>((res) => server.close(() => { res(); }));
  };
  ctx.defer(close);
  return {
    url: `http://127.0.0.1:${port}`,
    get target() {
      return to.target;
    },
    set target(t: string) {
      to.target = t;
    },
    hits,
    inferServed: (since = 0, target?: string) => hits.filter((h) => h.sentAt >= since && h.status === 200 && h.path.endsWith('/infer') && (target === undefined || h.target === target)).length,
    close,
  };
}

// =============================================================================================
// A collateral service

export type CollateralMode =
  | 'ok'
  /** Connection reset on every request: the service is down. */
  | 'down'
  /** Every answer delayed by `slowMs`. */
  | 'slow'
  /** 200 with the right content type and random bytes as the body. */
  | 'garbage-random'
  /** 200 with the right content type and the first half of the right body (DER and PEM cut short). */
  | 'garbage-truncated'
  /** 200 text/html: an HTML error page from a proxy. */
  | 'garbage-content-type'
  /** 200 with the right content type and an endless body (chunked, 64 KiB random chunks, up to 256 MiB). */
  | 'garbage-huge';

export interface CollateralService {
  readonly url: string;
  mode: CollateralMode;
  slowMs: number;
  /** Every request received: [Date.now(), path]. */
  readonly requests: (readonly [number, string])[];
  close(): Promise<void>;
}

/**
 * A fake AMD KDS (src/collateral/kds.ts speaks to it) serving the simulated chip's VCEK under
 * `/vcek/v1/{Genoa|Milan}/{hwid}?...SPL...` and its cert_chain under `/vcek/v1/{product}/cert_chain`
 * (any hwid and TCB: there is one simulated chip). Its failure mode can be switched at any time.
 *
 * Why KDS and not Intel PCS: the gateway derives the PCS request from the quote's PCK issuer name
 * (attestation/intel/request.ts), which accepts only Intel's real CA names, so simulated TDX/SGX
 * evidence without its bundle can never reach the PCS path.
 */
export async function startCollateralService(ctx: ScenarioContext, chip: { readonly vcek: Uint8Array; readonly certChain: Uint8Array }): Promise<CollateralService> {
  const requests: (readonly [number, string])[] = [];
  const open = new Set<ServerResponse>();
  const svc = { mode: 'ok' as CollateralMode, slowMs: 2_000 };
  const right = (path: string): { type: string; body: Buffer } | undefined => {
    const m = /^\/vcek\/v1\/(Genoa|Milan|Turin)\/([0-9a-f]+|cert_chain)$/.exec(path);
    if (m === null) return undefined;
    return m[2] === 'cert_chain' ? { type: 'application/x-pem-file', body: Buffer.from(chip.certChain) } : { type: 'application/octet-stream', body: Buffer.from(chip.vcek) };
  };
  const answer = (req: IncomingMessage, res: ServerResponse): void => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push([Date.now(), path]);
    if (requests.length > 100_000) requests.splice(0, requests.length - 100_000);
    const r = right(path);
    const mode = svc.mode;
    if (mode === 'down') {
      req.socket.destroy();
      return;
    }
    if (r === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const headers = { 'content-type': r.type };
    switch (mode) {
      case 'ok':
      case 'slow':
        res.writeHead(200, headers).end(r.body);
        return;
      case 'garbage-random':
        res.writeHead(200, headers).end(randomBytes(4096));
        return;
      case 'garbage-truncated':
        res.writeHead(200, headers).end(r.body.subarray(0, Math.floor(r.body.length / 2)));
        return;
      case 'garbage-content-type':
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body><h1>502 Bad Gateway</h1></body></html>');
        return;
      case 'garbage-huge': {
        res.writeHead(200, headers);
        open.add(res);
        const chunk = randomBytes(65_536);
        let sent = 0;
        // Stops when the client hangs up, or at 256 MiB (a bound of our own).
        const push = (): void => {
          while (sent < 4096 && !res.destroyed) {
            sent++;
            if (!res.write(chunk)) {
              res.once('drain', push);
              return;
            }
          }
          res.end();
        };
        res.on('close', () => open.delete(res));
        push();
        return;
      }
    }
  };
  const server = createServer((req, res) => {
    if (svc.mode === 'slow') {
      open.add(res);
      const t = setTimeout(() => {
        open.delete(res);
        answer(req, res);
      }, svc.slowMs);
      res.on('close', () => {
        clearTimeout(t);
        open.delete(res);
      });
      return;
    }
    answer(req, res);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address() as AddressInfo;
  const close = async (): Promise<void> => {
    for (const r of open) r.destroy();
    server.closeAllConnections();
    await new Promise<void>((res) => server.close(() => { res(); }));
  };
  ctx.defer(close);
  return {
    url: `http://127.0.0.1:${port}`,
    get mode() {
      return svc.mode;
    },
    set mode(m: CollateralMode) {
      svc.mode = m;
    },
    get slowMs() {
      return svc.slowMs;
    },
    set slowMs(ms: number) {
      svc.slowMs = ms;
    },
    requests,
    close,
  };
}

// =============================================================================================
// A small file system

/**
 * Mount a tmpfs of `sizeMb` MiB on `dir` (created), unmounted when the scenario ends. Returns why
 * not when mounting is not permitted (not root, no CAP_SYS_ADMIN), so the caller can say so.
 */
export async function mountTmpfs(ctx: ScenarioContext, dir: string, sizeMb: number): Promise<{ readonly ok: true } | { readonly ok: false; readonly why: string }> {
  await mkdir(dir, { recursive: true });
  try {
    await execFileP('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0700`, 'tmpfs', dir]);
  } catch (e: unknown) {
    return { ok: false, why: errorMessage(e).split('\n').slice(0, 2).join(' ') };
  }
  ctx.defer(async () => {
    // Processes on it are stopped by earlier-registered defers... which run later (reverse order),
    // so a busy mount is detached lazily: it disappears once the last file on it is closed.
    await execFileP('umount', [dir]).catch(() => execFileP('umount', ['-l', dir]));
  });
  return { ok: true };
}

/** Remount a mounted file system read-only or read-write (fails with EBUSY while files are open for writing). */
export async function remount(dir: string, mode: 'ro' | 'rw'): Promise<void> {
  await execFileP('mount', ['-o', `remount,${mode}`, dir]);
}

/** Fill the file system holding `dir` with a file until ENOSPC (at most `maxMb` MiB); returns the bytes written. */
export async function fillDisk(file: string, maxMb = 1024): Promise<number> {
  const fh = await open(file, 'w');
  let written = 0;
  try {
    for (const size of [1 << 20, 4096, 512]) {
      const buf = Buffer.alloc(size, 0x5a);
      for (let i = 0; i < (maxMb << 20) / size; i++) {
        try {
          const { bytesWritten } = await fh.write(buf);
          written += bytesWritten;
          if (bytesWritten < size) break; // a short write: the file system is (nearly) full
        } catch (e: unknown) {
          if ((e as { code?: unknown }).code === 'ENOSPC') break;
          throw e;
        }
      }
    }
    await fh.sync().catch(() => undefined);
  } finally {
    await fh.close();
  }
  return written;
}

export async function unfillDisk(file: string): Promise<void> {
  await rm(file, { force: true });
}
