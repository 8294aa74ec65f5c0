/**
 * Building blocks for the hostile-input and security scenarios (scenarios/hostile.ts and
 * scenarios/security.ts): real sim-tdx enclaves and in-process gateways from the integration
 * helpers, wired to a scenario's cleanup; a raw HTTP/1.1 client (fetch normalises paths, refuses
 * bad header bytes and hides resets, which is exactly what these scenarios need to send and see);
 * a proxy in front of an enclave that counts what reaches it and can replay attestation answers or
 * rewrite receipts; JWS forgeries; small statistics.
 *
 * Every socket, server and process made here is registered with `ctx.defer`, and every wait is
 * bounded by a timeout.
 */
import { createHmac, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { dirname, join, relative } from 'node:path';
import { simulatedRoots } from '../../enclave/sim/index.ts';
import type { NewApiKey } from '../../src/store/store.ts';
import { spawnEnclave, type EnclaveProcess, type EnclaveSpec } from '../integration/helpers/enclave-process.ts';
import { startTestGateway, type GatewaySpec, type TestGateway } from '../integration/helpers/gateway.ts';
import { IRIS_BODY, infer, sleep, type Answer } from '../integration/helpers/http.ts';
import type { ScenarioContext, ScenarioResult } from './scenario.ts';

export { IRIS_BODY, infer, sleep, type Answer };

// ------------------------------------------------------------------------------------------------
// Processes and gateways

/**
 * The simulated PKI, generated once per process and written into each scenario's directory:
 * generating it costs about a second of CPU, and every scenario needs one. Enclaves and gateways
 * only read it, so sharing the same PKI between scenarios changes nothing they test.
 */
let pkiFiles: Map<string, Buffer> | undefined;

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** A directory under the scenario's own holding the simulated PKI (`<dir>/sim-pki`), for enclaves and gateways. */
export async function pkiDir(ctx: ScenarioContext, name = 'enclaves'): Promise<string> {
  const dir = join(ctx.dir, name);
  await mkdir(dir, { recursive: true });
  if (pkiFiles === undefined) {
    await simulatedRoots(dir);
    const files = new Map<string, Buffer>();
    for (const f of await listFiles(join(dir, 'sim-pki'))) files.set(relative(dir, f), await readFile(f));
    pkiFiles = files;
    return dir;
  }
  for (const [rel, bytes] of pkiFiles) {
    await mkdir(dirname(join(dir, rel)), { recursive: true });
    await writeFile(join(dir, rel), bytes, { mode: 0o600 });
  }
  return dir;
}

/** A real `attestgate enclave --tee sim-*` process, killed after the scenario. */
export async function enclave(ctx: ScenarioContext, spec: EnclaveSpec): Promise<EnclaveProcess> {
  const e = await spawnEnclave(spec);
  ctx.defer(async () => {
    // SIGTERM first (a clean exit), SIGKILL if it does not go within 3 s.
    const t = setTimeout(() => {
      void e.kill('SIGKILL');
    }, 3_000);
    await e.kill('SIGTERM');
    clearTimeout(t);
  });
  return e;
}

/**
 * Limits for hostile scenarios: the per-tenant rate limit is raised out of the way (it is tested in
 * test/integration/gateway.test.ts), so that hundreds of crafted requests are judged on what they
 * contain rather than refused with 429.
 */
const NO_RATE_LIMIT = { rate: { per_second: 1_000_000, burst: 1_000_000 } } as const;

export interface GatewayFor {
  readonly backends: GatewaySpec['backends'];
  readonly pki: string;
  /** Top-level configuration merged over the defaults here (demo off, no rate limit). */
  readonly config?: Record<string, unknown>;
  readonly opts?: GatewaySpec['opts'];
  readonly trustSimulated?: boolean;
  readonly policy?: string;
}

/** An in-process gateway (demo off, rate limit out of the way), closed after the scenario. */
export async function gateway(ctx: ScenarioContext, spec: GatewayFor): Promise<TestGateway> {
  const g = await startTestGateway({
    backends: spec.backends,
    simRootsFrom: spec.pki,
    ...(spec.trustSimulated === undefined ? {} : { trustSimulated: spec.trustSimulated }),
    ...(spec.policy === undefined ? {} : { policy: spec.policy }),
    config: { demo: false, limits: NO_RATE_LIMIT, ...spec.config },
    ...(spec.opts === undefined ? {} : { opts: spec.opts }),
  });
  ctx.defer(() => g.close());
  return g;
}

export interface Stack {
  readonly enclave: EnclaveProcess;
  readonly g: TestGateway;
  readonly url: string;
  readonly port: number;
  /** A valid API key of tenant `hostile`. */
  readonly key: NewApiKey;
  /** `Authorization: Bearer <key>`. */
  readonly auth: Readonly<Record<string, string>>;
}

/** One sim-tdx enclave and one gateway (demo off) in front of it, with an API key. */
export async function stack(ctx: ScenarioContext, o: { config?: Record<string, unknown>; opts?: GatewaySpec['opts'] } = {}): Promise<Stack> {
  const pki = await pkiDir(ctx);
  const e = await enclave(ctx, { tee: 'sim-tdx', dataDir: pki });
  const g = await gateway(ctx, { backends: [{ name: 'tdx', url: e.url }], pki, ...(o.config === undefined ? {} : { config: o.config }), ...(o.opts === undefined ? {} : { opts: o.opts }) });
  const key = await g.gw.store.createApiKey('hostile');
  return { enclave: e, g, url: g.url, port: Number(new URL(g.url).port), key, auth: { authorization: `Bearer ${key.secret}` } };
}

/**
 * The closing check of every hostile scenario: a good request still gets 200 (the gateway
 * survived). Returns undefined when it did, else what happened instead.
 */
export async function survived(s: { readonly url: string; readonly auth: Readonly<Record<string, string>> }): Promise<string | undefined> {
  try {
    const a = await withTimeout(infer(s.url, { headers: s.auth }), 10_000, 'the closing good request');
    return a.status === 200 ? undefined : `the closing good request got HTTP ${a.status}: ${a.text.slice(0, 200)}`;
  } catch (e: unknown) {
    return `the closing good request failed: ${e instanceof Error ? e.message : String(e)}`;
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => {
      clearTimeout(t);
    }),
    new Promise<never>((_res, rej) => {
      t = setTimeout(() => {
        rej(new Error(`${what} took more than ${ms} ms`));
      }, ms);
    }),
  ]);
}

/** Poll until `probe` gives a value, or undefined after `timeoutMs` (no throw: the caller reports). */
export async function poll<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number, everyMs = 50): Promise<T | undefined> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined || Date.now() > until) return v;
    await sleep(everyMs);
  }
}

// ------------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client

export interface RawResult {
  /**
   * `response`: a status line arrived (possibly followed by a reset while we were still sending:
   * a server may answer 413/431 and close before reading everything); `closed`: the server closed
   * without a status line; `reset`: ECONNRESET/EPIPE without a status line; `timeout`: nothing
   * conclusive within the time allowed.
   */
  readonly outcome: 'response' | 'closed' | 'reset' | 'timeout';
  readonly status: number | undefined;
  /** Lower-cased names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly ms: number;
  /** The socket error code, when there was one. */
  readonly error: string | undefined;
}

export interface RawRequest {
  readonly method?: string;
  /** Sent as is: no normalisation, no encoding. */
  readonly path: string;
  /** Sent in order, as is (repeats allowed). Host and Connection: close are added unless given. */
  readonly headers?: readonly (readonly [string, string])[];
  readonly body?: Buffer | string;
  /** Add Content-Length for the body (default true). */
  readonly contentLength?: boolean;
  readonly timeoutMs?: number;
}

/** The request bytes: request line, headers, blank line (latin1, so any byte can be written). */
export function requestHead(r: RawRequest): Buffer {
  const body = r.body === undefined ? undefined : Buffer.from(r.body);
  const hs = [...(r.headers ?? [])];
  const has = (n: string): boolean => hs.some(([k]) => k.toLowerCase() === n);
  if (!has('host')) hs.unshift(['Host', '127.0.0.1']);
  if (!has('connection')) hs.push(['Connection', 'close']);
  if (body !== undefined && r.contentLength !== false && !has('content-length') && !has('transfer-encoding')) hs.push(['Content-Length', String(body.length)]);
  return Buffer.from(`${r.method ?? 'GET'} ${r.path} HTTP/1.1\r\n${hs.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`, 'latin1');
}

function parseHead(buf: Buffer): { status: number; headers: Record<string, string>; bodyAt: number } | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (m === null) return undefined;
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0) continue;
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  return { status: Number(m[1]), headers, bodyAt: end + 4 };
}

function dechunk(b: Buffer): Buffer | undefined {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const nl = b.indexOf('\r\n', i);
    if (nl < 0) return undefined;
    const size = parseInt(b.subarray(i, nl).toString('latin1'), 16);
    if (!Number.isFinite(size)) return undefined;
    if (size === 0) return Buffer.concat(out);
    if (nl + 2 + size + 2 > b.length) return undefined;
    out.push(b.subarray(nl + 2, nl + 2 + size));
    i = nl + 2 + size + 2;
  }
}

/**
 * Send one request on a fresh socket and read one response. Resolves once the response is
 * complete (Content-Length, chunked, or close), never rejects. The socket is always destroyed.
 */
export function rawRequest(port: number, r: RawRequest): Promise<RawResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let done = false;
    const finish = (outcome: RawResult['outcome']): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      const buf = Buffer.concat(chunks);
      const head = parseHead(buf);
      let body: Buffer = head === undefined ? Buffer.alloc(0) : buf.subarray(head.bodyAt);
      if (head?.headers['transfer-encoding']?.includes('chunked') === true) body = dechunk(body) ?? body;
      const o: RawResult['outcome'] = head !== undefined ? 'response' : outcome;
      resolve({ outcome: o, status: head?.status, headers: head?.headers ?? {}, body, ms: performance.now() - started, error });
    };
    const timer = setTimeout(() => {
      finish('timeout');
    }, r.timeoutMs ?? 15_000);
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      const buf = Buffer.concat(chunks);
      const head = parseHead(buf);
      if (head === undefined) return;
      const cl = head.headers['content-length'];
      if (cl !== undefined && buf.length - head.bodyAt >= Number(cl)) finish('response');
      else if (head.headers['transfer-encoding']?.includes('chunked') === true && dechunk(buf.subarray(head.bodyAt)) !== undefined) finish('response');
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
      // A reset after the answer arrived is the server hanging up on a body it will not read.
      finish(e.code === 'ECONNRESET' || e.code === 'EPIPE' ? 'reset' : 'closed');
    });
    s.on('close', () => {
      finish('closed');
    });
    s.write(requestHead(r));
    if (r.body !== undefined) s.write(Buffer.from(r.body));
    // No half-close (end()): Node's HTTP server drops a request whose client half-closes before
    // an asynchronous handler answers, which would read as "no answer" here.
  });
}

/** The gateway's error body `{error: {code, message}}`, or the enclave's `{error, code}`, or undefined. */
export function errorCode(r: { body: Buffer } | { text: string }): { code: string; message: string } | undefined {
  let v: unknown;
  try {
    v = JSON.parse('text' in r ? r.text : r.body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const e = o['error'];
  if (typeof e === 'object' && e !== null) {
    const x = e as Record<string, unknown>;
    if (typeof x['code'] === 'string' && typeof x['message'] === 'string') return { code: x['code'], message: x['message'] };
  }
  if (typeof o['code'] === 'string' && typeof e === 'string') return { code: o['code'], message: e };
  return undefined;
}

// ------------------------------------------------------------------------------------------------
// A proxy in front of an enclave

export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
}

export interface Proxy {
  readonly url: string;
  /** Every request that reached the proxy, in order. */
  readonly seen: SeenRequest[];
  /** `replay-first`: answer every `POST /v1/attest` after the first with the first answer, without asking the enclave. */
  attest: 'pass' | 'replay-first';
  /** When set, the `attestgate-receipt` of every 200 infer answer is replaced by what it returns. */
  rewriteReceipt: ((jws: string) => string) | undefined;
  /** Requests other than attestation (inference, metadata, anything). */
  forwardedOtherThanAttest(): number;
  close(): Promise<void>;
}

interface Upstream {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

const HOP = new Set(['host', 'connection', 'content-length', 'keep-alive', 'transfer-encoding']);

/**
 * A node:http proxy in front of `target` (an enclave). The gateway sees it as the backend; the
 * scenario counts what reaches it (the enclave side of "never forwards to an unadmitted backend"),
 * and turns on replays or receipt rewriting.
 */
export async function startProxy(ctx: ScenarioContext, target: string): Promise<Proxy> {
  const agent = new Agent({ keepAlive: true });
  const seen: SeenRequest[] = [];
  let firstAttest: Upstream | undefined;
  const forward = (method: string, path: string, headers: IncomingHttpHeaders, body: Buffer): Promise<Upstream> =>
    new Promise((res, rej) => {
      const h: Record<string, string> = {};
      for (const [k, v] of Object.entries(headers)) if (typeof v === 'string' && !HOP.has(k)) h[k] = v;
      const req = httpRequest(new URL(path, target), { method, agent, headers: { ...h, 'content-length': String(body.length) } }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => {
          res({ status: r.statusCode ?? 0, headers: r.headers, body: Buffer.concat(chunks) });
        });
        r.on('error', rej);
      });
      req.on('error', rej);
      req.end(body);
    });
  const p: Proxy = {
    url: '',
    seen,
    attest: 'pass',
    rewriteReceipt: undefined,
    forwardedOtherThanAttest: () => seen.filter((s) => s.path !== '/v1/attest').length,
    close: () => Promise.resolve(),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const method = req.method ?? 'GET';
      seen.push({ method, path, headers: req.headers });
      void (async () => {
        let up: Upstream;
        if (path === '/v1/attest' && p.attest === 'replay-first' && firstAttest !== undefined) up = firstAttest;
        else up = await forward(method, path, req.headers, Buffer.concat(chunks));
        if (path === '/v1/attest' && up.status === 200) firstAttest ??= up;
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(up.headers)) if (typeof v === 'string' && !HOP.has(k)) headers[k] = v;
        const receipt = headers['attestgate-receipt'];
        if (receipt !== undefined && up.status === 200 && p.rewriteReceipt !== undefined) headers['attestgate-receipt'] = p.rewriteReceipt(receipt);
        headers['content-length'] = String(up.body.length);
        res.writeHead(up.status, headers);
        res.end(up.body);
      })().catch((e: unknown) => {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: String(e), code: 'ERR_PROXY' }));
      });
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  const close = async (): Promise<void> => {
    server.closeAllConnections();
    await new Promise<void>((res) => server.close(() => { res(); }));
    agent.destroy();
  };
  Object.assign(p, { url: `http://127.0.0.1:${port}`, close });
  ctx.defer(close);
  return p;
}

// ------------------------------------------------------------------------------------------------
// JWS forgeries

const b64u = (b: Buffer | string): string => Buffer.from(b).toString('base64url');
const jsonPart = (v: unknown): string => b64u(JSON.stringify(v));

export function decodeJwsHeader(protectedB64: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(protectedB64, 'base64url').toString('utf8')) as Record<string, unknown>;
}

export type Forgery =
  /** `alg: none`; `signature` 'AA' (a non-empty segment, so shape checks pass) or '' (RFC 7515 unsecured). */
  | { readonly kind: 'none'; readonly signature: '' | 'AA' }
  /** HS256 keyed with public material (the classic RS/ES-to-HS confusion). */
  | { readonly kind: 'hmac'; readonly secret: Buffer | string }
  /** A real signature with another key and algorithm (ES256, ES384, EdDSA), optionally another kid. */
  | { readonly kind: 'key'; readonly alg: 'ES256' | 'ES384' | 'EdDSA'; readonly key: KeyObject; readonly kid?: string };

/** Re-sign `payloadB64` under `header` (other members kept) as the forgery says. */
export function forge(header: Readonly<Record<string, unknown>>, payloadB64: string, f: Forgery): { protected: string; signature: string } {
  switch (f.kind) {
    case 'none': {
      const h = jsonPart({ ...header, alg: 'none' });
      return { protected: h, signature: f.signature };
    }
    case 'hmac': {
      const h = jsonPart({ ...header, alg: 'HS256' });
      return { protected: h, signature: createHmac('sha256', f.secret).update(`${h}.${payloadB64}`).digest('base64url') };
    }
    case 'key': {
      const h = jsonPart({ ...header, alg: f.alg, ...(f.kid === undefined ? {} : { kid: f.kid }) });
      const data = Buffer.from(`${h}.${payloadB64}`);
      const sig = f.alg === 'EdDSA' ? cryptoSign(null, data, f.key) : cryptoSign(f.alg === 'ES384' ? 'sha384' : 'sha256', data, { key: f.key, dsaEncoding: 'ieee-p1363' });
      return { protected: h, signature: b64u(sig) };
    }
  }
}

/** A compact JWS re-signed as the forgery says (same payload, header members kept but alg/kid). */
export function forgeCompact(jws: string, f: Forgery): string {
  const [h = '', p = ''] = jws.split('.');
  const out = forge(decodeJwsHeader(h), p, f);
  return `${out.protected}.${p}.${out.signature}`;
}

// ------------------------------------------------------------------------------------------------
// Figures

/** Nearest-rank percentile of `xs` (ms), rounded to 0.1; 0 for no samples. */
export function percentile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((q / 100) * s.length) - 1));
  return Math.round((s[i] ?? 0) * 10) / 10;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

/** Counts by label, printed `200×3 400×41` in first-seen order. */
export class Tally {
  readonly #n = new Map<string, number>();
  add(label: string | number): void {
    const k = String(label);
    this.#n.set(k, (this.#n.get(k) ?? 0) + 1);
  }
  get(label: string | number): number {
    return this.#n.get(String(label)) ?? 0;
  }
  total(): number {
    let t = 0;
    for (const v of this.#n.values()) t += v;
    return t;
  }
  toString(): string {
    return [...this.#n].map(([k, v]) => `${k}×${v}`).join(' ');
  }
}

/** The label of a raw result for tallies: the status, or the way the connection ended. */
export function outcomeLabel(r: RawResult): string {
  return r.status === undefined ? r.outcome : String(r.status);
}

/** Keep the first `max` problems (a report names a few, and counts them all). */
export class Problems {
  readonly list: string[] = [];
  count = 0;
  constructor(private readonly max = 6) {}
  add(p: string): void {
    this.count++;
    if (this.list.length < this.max) this.list.push(p);
  }
  summary(): string {
    return this.count === 0 ? '' : `${this.count} unexpected: ${this.list.join('; ')}${this.count > this.list.length ? '; …' : ''}`;
  }
}

/** A scenario's result: ok only when no problem was recorded; `errors` (their count) right after `requests`, as in the table's other rows. */
export function finish(problems: Problems, happened: string, figures: Readonly<Record<string, number | string>>): ScenarioResult {
  const ok = problems.count === 0;
  const { requests, ...rest } = figures;
  return { ok, happened: ok ? happened : `${problems.summary()} — ${happened}`, figures: { ...(requests === undefined ? {} : { requests }), errors: problems.count, ...rest } };
}

/** Run `fn` over `items` with at most `limit` in flight. */
export async function pool<T>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Sockets opened by a scenario outside rawRequest (slow-loris): destroyed at cleanup. */
export function trackSockets(ctx: ScenarioContext): Set<Socket> {
  const set = new Set<Socket>();
  ctx.defer(() => {
    for (const s of set) s.destroy();
    set.clear();
  });
  return set;
}
