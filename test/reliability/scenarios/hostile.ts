/**
 * Hostile input (issue 8, group `hostile`): crafted bodies, slow clients, header floods, path
 * tricks, bad credentials, replays and forged signatures. Each scenario runs one gateway (demo off,
 * an API key) in front of a real sim-tdx enclave process, counts what came back, treats any
 * undocumented 5xx, reset or hang as an unexpected error, and ends by checking that a good request
 * still gets 200 (the gateway survived).
 *
 * Requests go through a raw HTTP/1.1 client (hostile-kit.ts rawRequest) wherever fetch would
 * normalise or refuse what we mean to send (`..`, NUL, bad UTF-8 in headers, duplicate headers).
 */
import { createHash, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { connect, type Socket } from 'node:net';
import { anchorFromPem } from '../../../attestation/roots/index.ts';
import { keysCreate, keysRevoke } from '../../../src/cli/keys.ts';
import { DEFAULTS } from '../../../src/config/schema.ts';
import { createAnswerCache, parseAttestationRecord, verifyAnswer, type GeneralJws, type PlainAnswer, type Report, type StepName, type VerifyAnswerInput } from '../../../src/client/index.ts';
import { ROOT } from '../../integration/helpers/enclave-process.ts';
import { startFakeBackend } from '../../integration/helpers/fake-backend.ts';
import { call, errorOf, type Answer } from '../../integration/helpers/http.ts';
import {
  decodeJwsHeader,
  enclave,
  errorCode,
  finish,
  forge,
  forgeCompact,
  gateway,
  infer,
  IRIS_BODY,
  outcomeLabel,
  percentile,
  pkiDir,
  poll,
  pool,
  Problems,
  rawRequest,
  requestHead,
  sleep,
  stack,
  startProxy,
  survived,
  Tally,
  trackSockets,
  withTimeout,
  type Forgery,
  type RawRequest,
  type RawResult,
  type Stack,
} from '../hostile-kit.ts';
import type { Scenario, ScenarioContext, ScenarioResult } from '../scenario.ts';

const GOOD = Buffer.from(IRIS_BODY);
const INFER = '/v2/models/iris/infer';
const row = (o: Record<string, unknown>): string => JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2], ...o }] });
const authHeader = (s: Stack): [string, string] => ['Authorization', `Bearer ${s.key.secret}`];

/** The result of a hostile scenario: ok only when nothing unexpected happened and the gateway survived. */
function result(problems: Problems, survivedProblem: string | undefined, happened: string, figures: Record<string, number | string>): ScenarioResult {
  if (survivedProblem !== undefined) problems.add(survivedProblem);
  return finish(problems, happened, figures);
}

/** A 4xx whose body is a typed error (the gateway's `{error:{code,message}}` or the enclave's `{error, code}`) with a readable, stack-free message. */
function typed4xx(r: RawResult | Answer): { code: string; message: string } | undefined {
  if (r.status === undefined || r.status < 400 || r.status > 499) return undefined;
  const e = 'text' in r ? errorCode({ text: r.text }) : errorCode({ body: r.body });
  if (e === undefined || !/^ERR_[A-Z0-9_]+$/.test(e.code) || e.message.length < 8 || /\n\s+at |\.ts:\d+/.test(e.message)) return undefined;
  return e;
}

// ================================================================================================
// bad-bodies

interface BodyCase {
  readonly name: string;
  readonly body: Buffer;
  readonly headers?: readonly (readonly [string, string])[];
  readonly contentLength?: boolean;
  /** For a gzip-encoded body: the bytes it inflates to. */
  readonly gzipOf?: Buffer;
  /**
   * What a correct gateway answers: `oip` the enclave's 400 ERR_OIP_BAD_REQUEST passed through;
   * `413` ERR_BODY_TOO_LARGE; `4xx` any typed client error; `ok|4xx` 200 or a typed client error
   * (inputs JSON leaves to interpretation: duplicate keys, a BOM).
   */
  readonly want: 'oip' | '413' | '4xx' | 'ok|4xx';
}

function chunked(total: number, chunk = 64 * 1024): Buffer {
  const parts: Buffer[] = [];
  for (let left = total; left > 0; left -= chunk) {
    const n = Math.min(chunk, left);
    parts.push(Buffer.from(`${n.toString(16)}\r\n`), Buffer.alloc(n, 0x20), Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

function bodyCases(maxBody: number): BodyCase[] {
  const b = (s: string | Buffer): Buffer => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s);
  const good = GOOD.toString('utf8');
  const deep = 100_000;
  const cases: BodyCase[] = [
    // Size.
    { name: 'body of max_body_bytes + 1 (Content-Length)', body: Buffer.concat([GOOD, Buffer.alloc(maxBody + 1 - GOOD.length, 0x20)]), want: '413' },
    { name: 'chunked body of 2 × max_body_bytes (no Content-Length)', body: chunked(2 * maxBody), headers: [['Transfer-Encoding', 'chunked']], contentLength: false, want: '413' },
    // (A Content-Length over the limit with fewer bytes actually sent is not answered until the
    // declared body has arrived: body-parser drains the request before its 413. That is a slow
    // body like slow-loris's, bounded by requestTimeout, so it is not repeated here.)
    { name: 'body of 8 × max_body_bytes (Content-Length)', body: Buffer.alloc(8 * maxBody, 0x20), want: '413' },
    // Refused for its encoding before a byte is inflated (415); a gateway that inflated bodies
    // would have to stop at the size limit (413). Either way it must not inflate 10 MiB.
    { name: 'gzip bomb (10 MiB of zeros in ~10 KiB)', body: gzipSync(Buffer.alloc(10 * 1024 * 1024)), headers: [['Content-Encoding', 'gzip']], want: '4xx' },
    // Content encodings: what the client sent cannot be read; that is the client's error (4xx), not the gateway's (500).
    { name: 'Content-Encoding gzip, the good body gzipped', body: gzipSync(GOOD), gzipOf: GOOD, headers: [['Content-Encoding', 'gzip']], want: 'ok|4xx' },
    { name: 'Content-Encoding gzip, body not gzip', body: GOOD, headers: [['Content-Encoding', 'gzip']], want: '4xx' },
    { name: 'Content-Encoding compress (unsupported)', body: GOOD, headers: [['Content-Encoding', 'compress']], want: '4xx' },
    // Malformed JSON.
    { name: 'empty body', body: b(''), want: 'oip' },
    { name: 'truncated: "{"', body: b('{'), want: 'oip' },
    { name: 'truncated: "["', body: b('['), want: 'oip' },
    { name: 'truncated mid-object', body: b('{"inputs":[{"name":"input"'), want: 'oip' },
    { name: 'truncated mid-number', body: b(good.slice(0, good.indexOf('5.1') + 2)), want: 'oip' },
    { name: 'truncated mid-string', body: b(good.slice(0, good.indexOf('FP32') + 2)), want: 'oip' },
    { name: 'NaN in data', body: b(row({ data: '__NAN__' }).replace('"__NAN__"', '[NaN,1,2,3]')), want: 'oip' },
    { name: 'Infinity in data', body: b(row({ data: '__X__' }).replace('"__X__"', '[Infinity,1,2,3]')), want: 'oip' },
    { name: 'undefined literal', body: b('{"inputs":undefined}'), want: 'oip' },
    { name: 'single quotes', body: b("{'inputs':[]}"), want: 'oip' },
    { name: 'trailing comma', body: b(good.replace(/\]\}$/, ',]}')), want: 'oip' },
    { name: 'comment', body: b(`/* c */${good}`), want: 'oip' },
    { name: `arrays nested ${deep} deep`, body: b('['.repeat(deep) + ']'.repeat(deep)), want: 'oip' },
    { name: `objects nested ${deep} deep`, body: b('{"a":'.repeat(deep) + '1' + '}'.repeat(deep)), want: 'oip' },
    { name: `data nested ${deep} deep`, body: b(row({ data: '__X__' }).replace('"__X__"', '['.repeat(deep) + '1' + ']'.repeat(deep))), want: 'oip' },
    { name: 'data 1e400 (overflows a double)', body: b(row({ data: '__X__' }).replace('"__X__"', '[1e400,1,2,3]')), want: 'oip' },
    { name: 'data -1e400', body: b(row({ data: '__X__' }).replace('"__X__"', '[-1e400,1,2,3]')), want: 'oip' },
    { name: 'shape 1e400', body: b(row({ shape: '__X__' }).replace('"__X__"', '[1e400,4]')), want: 'oip' },
    { name: 'shape 123456789012345678901234567890', body: b(row({ shape: '__X__' }).replace('"__X__"', '[123456789012345678901234567890,4]')), want: 'oip' },
    { name: 'a number of 100,000 digits', body: b(row({ data: '__X__' }).replace('"__X__"', `[${'9'.repeat(100_000)},1,2,3]`)), want: 'oip' },
    { name: 'top level null', body: b('null'), want: 'oip' },
    { name: 'top level true', body: b('true'), want: 'oip' },
    { name: 'top level number', body: b('42'), want: 'oip' },
    { name: 'top level string', body: b('"inputs"'), want: 'oip' },
    { name: 'top level []', body: b('[]'), want: 'oip' },
    { name: 'top level array of the good row', body: b(`[${good}]`), want: 'oip' },
    { name: 'invalid UTF-8 (0xff)', body: Buffer.concat([b('{"inputs":"'), Buffer.from([0xff, 0xfe]), b('"}')]), want: 'oip' },
    { name: 'overlong UTF-8 (0xc0 0xaf)', body: Buffer.concat([b('{"id":"'), Buffer.from([0xc0, 0xaf]), b('","inputs":[]}')]), want: 'oip' },
    { name: 'UTF-8-encoded surrogate (0xed 0xa0 0x80)', body: Buffer.concat([b('{"id":"'), Buffer.from([0xed, 0xa0, 0x80]), b(`",${good.slice(1)}`)]), want: 'oip' },
    { name: 'UTF-8 cut mid-character at the end', body: Buffer.concat([GOOD, Buffer.from([0xe2, 0x82])]), want: 'oip' },
    { name: 'UTF-16LE body', body: Buffer.from(good, 'utf16le'), want: 'oip' },
    { name: 'a BOM before the good body', body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), GOOD]), want: 'ok|4xx' },
    { name: 'duplicate "inputs" (bad, then good)', body: b(`{"inputs":[],${good.slice(1)}`), want: 'ok|4xx' },
    { name: 'duplicate "inputs" (good, then bad)', body: b(`${good.slice(0, -1)},"inputs":[]}`), want: 'ok|4xx' },
    { name: 'duplicate "datatype" in the tensor', body: b(row({}).replace('"datatype":"FP32"', '"datatype":"FP32","datatype":"INT64"')), want: 'ok|4xx' },
    // Wrong tensors: the enclave's OIP error, passed through.
    { name: 'shape [1,5] with 5 values', body: b(row({ shape: [1, 5], data: [1, 2, 3, 4, 5] })), want: 'oip' },
    { name: 'shape [4] (rank 1)', body: b(row({ shape: [4] })), want: 'oip' },
    { name: 'shape [1,4,1] (rank 3)', body: b(row({ shape: [1, 4, 1] })), want: 'oip' },
    { name: 'shape [-1,4]', body: b(row({ shape: [-1, 4] })), want: 'oip' },
    { name: 'shape [1.5,4]', body: b(row({ shape: [1.5, 4] })), want: 'oip' },
    { name: 'shape ["1",4]', body: b(row({ shape: ['1', 4] })), want: 'oip' },
    { name: 'shape []', body: b(row({ shape: [] })), want: 'oip' },
    { name: 'shape [0,4], no data', body: b(row({ shape: [0, 4], data: [] })), want: 'oip' },
    { name: 'shape null', body: b(row({ shape: null })), want: 'oip' },
    { name: 'shape [2000,4] (batch over the limit)', body: b(row({ shape: [2000, 4], data: Array.from({ length: 8000 }, () => 1) })), want: 'oip' },
    { name: 'data of 3 values for [1,4]', body: b(row({ data: [1, 2, 3] })), want: 'oip' },
    { name: 'data of 5 values for [1,4]', body: b(row({ data: [1, 2, 3, 4, 5] })), want: 'oip' },
    { name: 'data of 100,000 values for [1,4]', body: b(row({ data: Array.from({ length: 100_000 }, () => 1) })), want: 'oip' },
    { name: 'data []', body: b(row({ data: [] })), want: 'oip' },
    { name: 'data of strings', body: b(row({ data: ['a', 'b', 'c', 'd'] })), want: 'oip' },
    { name: 'data of booleans', body: b(row({ data: [true, false, true, false] })), want: 'oip' },
    { name: 'data with null', body: b(row({ data: [1, null, 3, 4] })), want: 'oip' },
    { name: 'data of objects', body: b(row({ data: [{}, {}, {}, {}] })), want: 'oip' },
    { name: 'data a string', body: b(row({ data: '5.1,3.5,1.4,0.2' })), want: 'oip' },
    { name: 'data nested one level too deep', body: b(row({ data: [[[5.1, 3.5, 1.4, 0.2]]] })), want: 'oip' },
    { name: 'datatype FP64', body: b(row({ datatype: 'FP64' })), want: 'oip' },
    { name: 'datatype INT64', body: b(row({ datatype: 'INT64' })), want: 'oip' },
    { name: 'datatype fp32 (lower case)', body: b(row({ datatype: 'fp32' })), want: 'oip' },
    { name: 'datatype BYTES', body: b(row({ datatype: 'BYTES' })), want: 'oip' },
    { name: 'datatype 123', body: b(row({ datatype: 123 })), want: 'oip' },
    { name: 'datatype "FP32\\u0000"', body: b(row({ datatype: 'FP32\u0000' })), want: 'oip' },
    { name: 'name "inputs"', body: b(row({ name: 'inputs' })), want: 'oip' },
    { name: 'name ""', body: b(row({ name: '' })), want: 'oip' },
    { name: 'name "INPUT"', body: b(row({ name: 'INPUT' })), want: 'oip' },
    { name: 'name "input " (trailing space)', body: b(row({ name: 'input ' })), want: 'oip' },
    { name: 'name of 10,000 characters', body: b(row({ name: 'i'.repeat(10_000) })), want: 'oip' },
    { name: 'name in mathematical letters', body: b(row({ name: '𝕚𝕟𝕡𝕦𝕥' })), want: 'oip' },
    { name: 'name "input\\u0000"', body: b(row({ name: 'input\u0000' })), want: 'oip' },
    { name: 'the input twice', body: b(JSON.stringify({ inputs: [JSON.parse(row({})).inputs[0], JSON.parse(row({})).inputs[0]] })), want: 'oip' },
    { name: 'tensor without a name', body: b(JSON.stringify({ inputs: [{ shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] })), want: 'oip' },
    { name: 'unknown member in the tensor', body: b(row({ extra: 1 })), want: 'oip' },
    { name: 'unknown top-level member', body: b(`{"x":1,${good.slice(1)}`), want: 'oip' },
    { name: 'inputs an object', body: b('{"inputs":{"name":"input"}}'), want: 'oip' },
    { name: 'unknown output', body: b(`${good.slice(0, -1)},"outputs":[{"name":"nope"}]}`), want: 'oip' },
    { name: 'binary_data_output parameter', body: b(`${good.slice(0, -1)},"parameters":{"binary_data_output":true}}`), want: 'oip' },
    { name: 'id of 300 characters', body: b(`{"id":"${'x'.repeat(300)}",${good.slice(1)}`), want: 'oip' },
  ];
  return cases;
}

/** A deterministic PRNG (mulberry32), so a failing long run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random byte-level mutations of the good body (long mode). */
function mutations(n: number, seed: number): BodyCase[] {
  const rnd = prng(seed);
  const out: BodyCase[] = [];
  const alphabet = Buffer.from('{}[]",:0123456789.-eE+ \\/\u0000nulltruefalseNaN\xff');
  for (let i = 0; i < n; i++) {
    const b = [...GOOD];
    const edits = 1 + Math.floor(rnd() * 4);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rnd() * (b.length + 1));
      const op = rnd();
      const byte = alphabet[Math.floor(rnd() * alphabet.length)] ?? 0x20;
      if (op < 0.4) b.splice(at, 1);
      else if (op < 0.7) b.splice(at, 0, byte);
      else b[Math.min(at, b.length - 1)] = byte;
    }
    out.push({ name: `mutation ${i} (seed ${seed})`, body: Buffer.from(b), want: 'ok|4xx' });
  }
  return out;
}

const badBodies: Scenario = {
  name: 'bad-bodies',
  group: 'hostile',
  injected: 'oversized bodies (Content-Length 1 MiB + 1 and 8 MiB, chunked 2 MiB, a gzip bomb), undecodable Content-Encodings, ~40 kinds of malformed JSON (truncated, NaN, 10^5-deep nesting, huge numbers, wrong top-level types, invalid UTF-8, duplicate keys), ~40 wrong tensors (shape, datatype, data length, names); long mode adds 2,000 random mutations',
  expected: 'oversized: 413 ERR_BODY_TOO_LARGE; unreadable encodings: a typed 4xx; bad JSON and bad tensors: the enclave\'s 400 ERR_OIP_BAD_REQUEST passed through with a message naming the problem; never a 5xx, reset or hang; the gateway still answers a good request',
  budgetMs: { short: 40_000, long: 240_000 },
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const s = await stack(ctx);
    // The stack runs with the default limit (docs/configuration.md).
    const cases = bodyCases(DEFAULTS['limits.max_body_bytes']);
    const all = ctx.mode === 'long' ? [...cases, ...cases, ...cases, ...mutations(2_000, 8)] : cases;
    const tally = new Tally();
    const problems = new Problems();
    const ms: number[] = [];
    const notes: string[] = [];
    await pool(all, 4, async (c) => {
      const req: RawRequest = { method: 'POST', path: INFER, headers: [authHeader(s), ['Content-Type', 'application/json'], ...(c.headers ?? [])], body: c.body, timeoutMs: 20_000, ...(c.contentLength === undefined ? {} : { contentLength: c.contentLength }) };
      const r = await rawRequest(s.port, req);
      ms.push(r.ms);
      tally.add(outcomeLabel(r));
      if (c.gzipOf !== undefined && r.status === 200) {
        // Not a failure, but worth knowing: express.raw inflates the body, so the enclave signs the
        // digest of the inflated bytes, not of what the client sent ("forwarded byte for byte").
        const claims = JSON.parse(Buffer.from((r.headers['attestgate-receipt'] ?? '..').split('.')[1] ?? '', 'base64url').toString('utf8')) as { request_sha256?: string };
        const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
        notes.push(`a gzip-encoded good body got 200 with request_sha256 of ${claims.request_sha256 === sha(c.gzipOf) ? 'the inflated bytes, not the bytes sent' : claims.request_sha256 === sha(c.body) ? 'the bytes sent' : 'neither the bytes sent nor the inflated ones'}`);
      }
      const e = typed4xx(r);
      const what = `${c.name}: got ${outcomeLabel(r)} ${r.body.toString('utf8').slice(0, 120)}`;
      if (r.status === undefined || r.status >= 500) {
        problems.add(what);
        return;
      }
      switch (c.want) {
        case '413':
          if (r.status !== 413 || e?.code !== 'ERR_BODY_TOO_LARGE') problems.add(`${what} (want 413 ERR_BODY_TOO_LARGE)`);
          break;
        case 'oip':
          if (r.status !== 400 || e?.code !== 'ERR_OIP_BAD_REQUEST') problems.add(`${what} (want the enclave's 400 ERR_OIP_BAD_REQUEST)`);
          break;
        case '4xx':
          if (e === undefined) problems.add(`${what} (want a typed 4xx)`);
          break;
        case 'ok|4xx':
          if (r.status !== 200 && e === undefined) problems.add(`${what} (want 200 or a typed 4xx)`);
          break;
      }
    });
    // A client's bad input evicts nobody.
    const b = s.g.gw.pool.backends[0];
    if (b?.state !== 'admitted') problems.add(`the backend is ${b?.state ?? 'gone'} after bad input (${b?.reason ?? ''})`);
    const died = await survived(s);
    return result(problems, died, `${all.length} hostile bodies answered ${tally.toString()}; the backend stayed admitted; ${[...new Set(notes)].join('; ')}; a good request then got 200`, {
      requests: all.length + 1,
      statuses: tally.toString(),
      p50_ms: percentile(ms, 50),
      p99_ms: percentile(ms, 99),
    });
  },
};

// ================================================================================================
// slow-loris

interface SlowSocket {
  readonly kind: 'headers' | 'body';
  readonly startedAt: number;
  closedAt: number | undefined;
  status: number | undefined;
  sent: number;
}

/** Node's http.Server property (not in @types/node 20's Server class): how often timeouts are enforced. */
function checkingInterval(server: unknown): number {
  const v = (server as { connectionsCheckingInterval?: unknown }).connectionsCheckingInterval;
  return typeof v === 'number' ? v : 30_000;
}

const slowLoris: Scenario = {
  name: 'slow-loris',
  group: 'hostile',
  injected: 'short: 50 sockets (40 sending request headers one byte every 500 ms, 10 sending complete headers then a 4 KiB body one byte every 500 ms); long: 500 (400 + 100); good requests all along',
  expected:
    'the gateway cuts a header dribbler within headersTimeout (10 s) + connectionsCheckingInterval (1 s, both set in src/gateway/server.ts) of its first byte, and a body dribbler within requestTimeout (60 s) + 1 s (awaited in long mode only: the short budget cannot hold 61 s); good requests meanwhile all get 200 with p99 ≤ 1,000 ms',
  budgetMs: { short: 60_000, long: 150_000 },
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const s = await stack(ctx);
    const server = s.g.gw.server;
    const interval = checkingInterval(server);
    const headerBound = server.headersTimeout + interval;
    const bodyBound = server.requestTimeout + interval;
    const nHeaders = ctx.mode === 'long' ? 400 : 40;
    const nBody = ctx.mode === 'long' ? 100 : 10;
    const problems = new Problems();
    const sockets = trackSockets(ctx);
    const slow: SlowSocket[] = [];
    const timers = new Set<NodeJS.Timeout>();
    ctx.defer(() => {
      for (const t of timers) clearInterval(t);
    });

    // Baseline latency before the attack.
    const baseline: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      const a = await infer(s.url, { headers: s.auth });
      baseline.push(performance.now() - t0);
      if (a.status !== 200) problems.add(`baseline request got ${a.status}`);
    }

    const open = (kind: SlowSocket['kind']): void => {
      const st: SlowSocket = { kind, startedAt: Date.now(), closedAt: undefined, status: undefined, sent: 0 };
      slow.push(st);
      const sock: Socket = connect(s.port, '127.0.0.1');
      sockets.add(sock);
      // Headers dribblers never finish the header block; body dribblers send a complete, authorised
      // head and then a body far slower than anyone legitimate would.
      const payload = kind === 'headers' ? Buffer.from(`POST ${INFER} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${'a'.repeat(4096)}`) : Buffer.alloc(4096, 0x20);
      if (kind === 'body') sock.write(requestHead({ method: 'POST', path: INFER, headers: [authHeader(s), ['Content-Type', 'application/json'], ['Content-Length', '4096']] }));
      const t = setInterval(() => {
        if (st.sent >= payload.length || sock.destroyed) return;
        sock.write(payload.subarray(st.sent, st.sent + 1));
        st.sent++;
      }, 500);
      timers.add(t);
      sock.on('data', (c: Buffer) => {
        const m = /^HTTP\/1\.1 (\d{3})/.exec(c.toString('latin1'));
        if (m !== null) st.status ??= Number(m[1]);
      });
      sock.on('error', () => undefined);
      sock.on('close', () => {
        st.closedAt ??= Date.now();
        clearInterval(t);
        timers.delete(t);
        sockets.delete(sock);
      });
    };
    // One body dribbler in five (nBody = (nHeaders + nBody) / 5), mixed so both kinds start alike.
    for (let i = 0; i < nHeaders + nBody; i++) {
      open(i % 5 === 4 ? 'body' : 'headers');
      if (i % 50 === 49) await sleep(10);
    }
    const firstStart = Math.min(...slow.map((x) => x.startedAt));
    const lastStart = Math.max(...slow.map((x) => x.startedAt));
    ctx.log(`${slow.length} slow sockets open; bounds: headers ${headerBound} ms, body ${bodyBound} ms`);

    // Good traffic while the attack lasts, until every awaited dribbler is cut (or its bound passed).
    const waitFor = ctx.mode === 'long' ? slow : slow.filter((x) => x.kind === 'headers');
    const deadline = lastStart + (ctx.mode === 'long' ? bodyBound : headerBound) + 3_000;
    const during: number[] = [];
    const goodStatuses = new Tally();
    const goodLoop = async (): Promise<void> => {
      while (Date.now() < deadline && waitFor.some((x) => x.closedAt === undefined)) {
        const t0 = performance.now();
        try {
          const a = await withTimeout(infer(s.url, { headers: s.auth }), 10_000, 'a good request during the attack');
          goodStatuses.add(a.status);
          if (a.status !== 200) problems.add(`a good request during the attack got ${a.status}`);
        } catch (e: unknown) {
          goodStatuses.add('failed');
          problems.add(e instanceof Error ? e.message : String(e));
        }
        during.push(performance.now() - t0);
        await sleep(40);
      }
    };
    await Promise.all([goodLoop(), goodLoop()]);

    const cut = (kind: SlowSocket['kind']): SlowSocket[] => slow.filter((x) => x.kind === kind && x.closedAt !== undefined);
    const stillOpen = (kind: SlowSocket['kind']): number => slow.filter((x) => x.kind === kind && x.closedAt === undefined).length;
    const maxCut = (kind: SlowSocket['kind']): number => Math.max(0, ...cut(kind).map((x) => (x.closedAt ?? 0) - x.startedAt));
    const statuses = new Tally();
    for (const x of slow) statuses.add(`${x.kind}:${x.status ?? (x.closedAt === undefined ? 'open' : 'closed')}`);
    if (stillOpen('headers') > 0) problems.add(`${stillOpen('headers')} header dribblers still open ${Date.now() - firstStart} ms after the first started (bound ${headerBound} ms)`);
    for (const x of cut('headers')) if ((x.closedAt ?? 0) - x.startedAt > headerBound + 2_000) problems.add(`a header dribbler was cut only after ${(x.closedAt ?? 0) - x.startedAt} ms`);
    if (ctx.mode === 'long') {
      if (stillOpen('body') > 0) problems.add(`${stillOpen('body')} body dribblers still open after the ${bodyBound} ms bound`);
      for (const x of cut('body')) if ((x.closedAt ?? 0) - x.startedAt > bodyBound + 2_000) problems.add(`a body dribbler was cut only after ${(x.closedAt ?? 0) - x.startedAt} ms`);
    }
    const p99 = percentile(during, 99);
    if (p99 > 1_000) problems.add(`p99 of good requests during the attack is ${p99} ms (bound 1,000 ms)`);
    const bodyNote =
      ctx.mode === 'long'
        ? `${cut('body').length}/${nBody} body dribblers cut, the last after ${maxCut('body')} ms`
        : `${stillOpen('body')}/${nBody} body dribblers still held at the end (their bound, ${bodyBound} ms, is checked in long mode; closed by the scenario)`;
    const died = await survived(s);
    return result(problems, died, `${cut('headers').length}/${nHeaders} header dribblers cut by the gateway (the last ${maxCut('headers')} ms after its first byte; answers ${statuses.toString()}); ${bodyNote}; ${during.length} good requests during the attack: ${goodStatuses.toString()}, p99 ${p99} ms (baseline p99 ${percentile(baseline, 99)} ms)`, {
      requests: baseline.length + during.length + 1,
      slow_sockets: slow.length,
      header_cut_max_ms: maxCut('headers'),
      p50_ms: percentile(during, 50),
      p99_ms: p99,
    });
  },
};

// ================================================================================================
// header-flood

interface FloodCase {
  readonly name: string;
  readonly headers: readonly (readonly [string, string])[];
  /** `refused`: 431, or the connection closed/reset (also a parser 400); `ok|refused`: 200 or refused; `401`: ERR_UNAUTHENTICATED. */
  readonly want: 'refused' | 'ok|refused' | '401';
}

const floodCases = (s: Stack): FloodCase[] => {
  const A = authHeader(s);
  const many = (n: number, name: (i: number) => string, value: string): [string, string][] => Array.from({ length: n }, (_, i): [string, string] => [name(i), value]);
  return [
    { name: '900 small headers (under 16 KiB, under Node\'s 1,000-header cut)', headers: [A, ...many(900, (i) => `x-h${i}`, 'v')], want: 'ok|refused' },
    { name: '1,500 small headers (under 16 KiB, over the 1,000 Node keeps)', headers: [A, ...many(1_500, () => 'a', 'b')], want: 'ok|refused' },
    { name: '3,000 headers (~36 KiB)', headers: [A, ...many(3_000, (i) => `x-h${i}`, 'vv')], want: 'refused' },
    { name: 'one 17 KiB header', headers: [A, ['X-Big', 'x'.repeat(17 * 1024)]], want: 'refused' },
    { name: 'one 1 MiB header', headers: [A, ['X-Big', 'x'.repeat(1024 * 1024)]], want: 'refused' },
    { name: 'a 14 KiB cookie (under the limit)', headers: [A, ['Cookie', `session=${'c'.repeat(14 * 1024)}`]], want: 'ok|refused' },
    { name: 'a 20 KiB cookie', headers: [A, ['Cookie', `session=${'c'.repeat(20 * 1024)}`]], want: 'refused' },
    { name: '100 Cookie headers of 120 bytes', headers: [A, ...many(100, () => 'Cookie', `k=${'c'.repeat(118)}`)], want: 'ok|refused' },
    { name: 'obs-fold continuation line', headers: [A, ['X-Folded', 'a\r\n  b']], want: 'refused' },
    { name: 'a header name with a space', headers: [A, ['X Bad', 'v']], want: 'refused' },
    { name: 'a NUL in a header value', headers: [A, ['X-Nul', 'a\u0000b']], want: 'refused' },
    { name: 'x-api-key sent 200 times', headers: many(200, () => 'x-api-key', s.key.secret), want: '401' },
  ];
};

const headerFlood: Scenario = {
  name: 'header-flood',
  group: 'hostile',
  injected: 'too many headers (900, 1,500, 3,000), one 17 KiB and one 1 MiB header, 14 KiB and 20 KiB cookies, 100 Cookie headers, folded lines, bad header bytes, a repeated x-api-key; then a flood of requests with giant cookies (short: 200 + 100, long: 2,000 + 1,000), good requests interleaved',
  expected: 'over Node\'s 16 KiB header limit: 431 (or the connection closed); under it: 200 with every header honoured, or a refusal — never a request processed with headers silently dropped (e.g. its Content-Length, so that an empty body is forwarded); a repeated key: 401; no crash, RSS growth of the process (gateway in it) ≤ 150 MiB, good requests keep getting 200',
  budgetMs: { short: 30_000, long: 180_000 },
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const s = await stack(ctx);
    const problems = new Problems();
    const tally = new Tally();
    const ms: number[] = [];
    const rssBefore = process.memoryUsage().rss;
    let requests = 0;
    for (const c of floodCases(s)) {
      const r = await rawRequest(s.port, { method: 'POST', path: INFER, headers: [...c.headers, ['Content-Type', 'application/json']], body: GOOD, timeoutMs: 15_000 });
      requests++;
      ms.push(r.ms);
      tally.add(outcomeLabel(r));
      const refused = r.status === 431 || (r.status === 400 && r.body.length === 0) || r.outcome === 'closed' || r.outcome === 'reset';
      const what = `${c.name}: got ${outcomeLabel(r)} ${r.body.toString('utf8').slice(0, 120)}`;
      if (r.status !== undefined && r.status >= 500) problems.add(what);
      else if (c.want === 'refused' && !refused) problems.add(`${what} (want 431 or a closed connection)`);
      else if (c.want === 'ok|refused' && r.status !== 200 && !refused) problems.add(`${what} (want 200 with all headers honoured, or a refusal)`);
      else if (c.want === '401' && typed4xx(r)?.code !== 'ERR_UNAUTHENTICATED') problems.add(`${what} (want 401 ERR_UNAUTHENTICATED)`);
    }

    // The flood: giant cookies under and over the limit, with good requests among them.
    const n = ctx.mode === 'long' ? 2_000 : 200;
    const jobs = Array.from({ length: n + n / 2 }, (_, i) => i);
    const good = new Tally();
    await pool(jobs, 8, async (i) => {
      if (i % 10 === 0) {
        const a = await infer(s.url, { headers: s.auth });
        good.add(a.status);
        if (a.status !== 200) problems.add(`a good request during the flood got ${a.status}`);
      }
      const over = i >= n;
      const cookie = `s=${randomBytes(over ? 15_000 : 10_500).toString('base64url')}`;
      const r = await rawRequest(s.port, { method: 'POST', path: INFER, headers: [authHeader(s), ['Content-Type', 'application/json'], ['Cookie', cookie]], body: GOOD, timeoutMs: 15_000 });
      requests++;
      ms.push(r.ms);
      tally.add(outcomeLabel(r));
      if (over ? !(r.status === 431 || r.outcome === 'closed' || r.outcome === 'reset') : r.status !== 200) problems.add(`a ${over ? '20' : '14'} KiB cookie request got ${outcomeLabel(r)}`);
    });
    requests += good.total();
    const rssAfter = process.memoryUsage().rss;
    const growth = (rssAfter - rssBefore) / 1048576;
    if (growth > 150) problems.add(`RSS grew by ${growth.toFixed(0)} MiB`);
    const died = await survived(s);
    return result(problems, died, `answers ${tally.toString()}; good requests during the flood ${good.toString()}; RSS ${(rssBefore / 1048576).toFixed(0)} → ${(rssAfter / 1048576).toFixed(0)} MiB`, {
      requests: requests + 1,
      p50_ms: percentile(ms, 50),
      p99_ms: percentile(ms, 99),
      rss_before_mb: Math.round(rssBefore / 1048576),
      rss_after_mb: Math.round(rssAfter / 1048576),
    });
  },
};

// ================================================================================================
// path-tricks

interface PathCase {
  readonly method?: 'GET' | 'POST';
  readonly path: string;
  /** `4xx` a typed 4xx; `4xx|parser` also Node's own bodiless 400/431 (an invalid request line); `200|4xx` 200 or a typed 4xx; `301`. */
  readonly want: '4xx' | '4xx|parser' | '200|4xx' | '301';
}

const pathCases: readonly PathCase[] = [
  // Traversal towards files outside web/.
  { path: '/../../../../etc/passwd', want: '4xx' },
  { path: '/web/../../../../etc/passwd', want: '4xx' },
  { path: '/web/..%2f..%2f..%2f..%2fetc%2fpasswd', want: '4xx' },
  { path: '/web/%2e%2e/%2e%2e/package.json', want: '4xx' },
  { path: '/web/%2e%2e%2f%2e%2e%2fpackage.json', want: '4xx' },
  { path: '/web/..%5c..%5cpackage.json', want: '4xx' },
  { path: '/web/%252e%252e%252fpackage.json', want: '4xx' },
  { path: '/web/.%2e/.%2e/tsconfig.json', want: '4xx' },
  { path: '/web/verify-app.js%00.png', want: '4xx' },
  { path: '/web/verify-app.js/..%2f..%2f..%2fpackage.json', want: '4xx' },
  { path: '/web/style.css/../../package.json', want: '4xx' },
  { path: '/web//style.css', want: '4xx' },
  { path: '//etc/passwd', want: '4xx' },
  { path: '///web/../gateway-key.pem', want: '4xx' },
  { path: '/verify/../../package.json', want: '4xx' },
  { path: '/verify%2f..%2f..%2fpackage.json', want: '4xx' },
  { path: '/log/', want: '301' },
  { path: '/v1/log/blobs/..%2f..%2fattestgate.db', want: '4xx' },
  { path: `/v1/log/blobs/${'../'.repeat(5)}gateway-key.pem`, want: '4xx' },
  { path: '/v1/log/blobs/ZZ', want: '4xx' },
  { path: `/v1/log/blobs/${'A'.repeat(64)}`, want: '4xx' },
  { path: `/v1/log/blobs/${'0'.repeat(64)}`, want: '4xx' },
  // Attestation ids that are not UUIDs, receipt ids with path characters.
  { path: '/v1/attestations/not-a-uuid', want: '4xx' },
  { path: '/v1/attestations/..%2f..%2fgateway-key.pem', want: '4xx' },
  { path: '/v1/attestations/%2e%2e%2f%2e%2e%2f', want: '4xx' },
  { path: `/v1/attestations/${'a'.repeat(36)}`, want: '4xx' },
  { path: '/v1/attestations/00000000-0000-0000-0000-000000000000%00', want: '4xx' },
  { path: `/v1/attestations/${'0'.repeat(10_000)}`, want: '4xx' },
  { path: '/v1/attestations/%ZZ', want: '4xx' },
  { path: '/v1/receipts/..%2f..%2fetc%2fpasswd', want: '4xx' },
  { path: '/v1/receipts/a%2Fb', want: '4xx' },
  { path: '/v1/receipts/%00', want: '4xx' },
  { path: `/v1/receipts/${'x'.repeat(65)}`, want: '4xx' },
  { path: '/v1/receipts/..%2f..%2f/proof', want: '4xx' },
  { path: '/v1/receipts/%2e%2e/proof', want: '4xx' },
  { path: '/v1/receipts/%ZZ/proof', want: '4xx' },
  // Model names.
  { path: '/v2/models/../../v1/log/checkpoint', want: '4xx' },
  { path: '/v2/models/iris/../../../v1/log/entries?start=0&end=1', want: '4xx' },
  { path: '/v2/models/%E2%98%83', want: '4xx' },
  { path: '/v2/models/ir%C4%B1s', want: '4xx' },
  { path: '/v2/models/IRIS', want: '4xx' },
  { path: '/v2/models/iris%00', want: '4xx' },
  { path: '/v2/models/iris%2Fversions%2F1', want: '4xx' },
  { path: '/v2/models/%ZZ', want: '4xx' },
  { path: `/v2/models/${'a'.repeat(8_000)}`, want: '4xx' },
  { path: `/${'a/'.repeat(4_000)}`, want: '4xx' },
  { path: `/x${'a'.repeat(20_000)}`, want: '4xx|parser' },
  { path: '/v2/models/\u2603', want: '4xx|parser' },
  { path: '/v1/receipts/a\u0000b', want: '4xx|parser' },
  { path: '/v1/receipts/a b', want: '4xx|parser' },
  { method: 'POST', path: '/v2/models/%2e%2e/infer', want: '4xx' },
  { method: 'POST', path: '/v2/models/..%2f..%2fv1/infer', want: '4xx' },
  { method: 'POST', path: '/v2/models/iris%00/infer', want: '4xx' },
  { method: 'POST', path: '/v2/models/iris/versions/..%2f1/infer', want: '4xx' },
  { method: 'POST', path: '/v2/models/iris/versions/1%00/infer', want: '4xx' },
  { method: 'POST', path: '/v2/models/%E2%98%83/infer', want: '4xx' },
  { method: 'POST', path: '/v2/models/%ZZ/infer', want: '4xx' },
  { method: 'POST', path: '/v2/models/iris/infer/../../../v1/log/checkpoint', want: '4xx' },
  { method: 'POST', path: '//v2/models/iris/infer', want: '4xx' },
  { method: 'POST', path: '/v2/models/iris//infer', want: '4xx' },
  // Query-string junk on the log API.
  { path: '/v1/log/entries?start=-1&end=1e99', want: '4xx' },
  { path: '/v1/log/entries?start=0&end=1e99', want: '4xx' },
  { path: '/v1/log/entries?start=abc&end=1', want: '4xx' },
  { path: '/v1/log/entries?start=0&end=99999999999999999999', want: '4xx' },
  { path: '/v1/log/entries?start=0&start=1&end=2', want: '4xx' },
  { path: '/v1/log/entries?start[]=0&end=1', want: '4xx' },
  { path: '/v1/log/entries?start=5&end=2', want: '4xx' },
  { path: '/v1/log/entries?start=999999999999999&end=999999999999999', want: '200|4xx' },
  { path: '/v1/log/entries?start=0x10&end=20', want: '4xx' },
  { path: '/v1/log/entries?start=%00&end=1', want: '4xx' },
  { path: '/v1/log/entries?start=1%20&end=2', want: '4xx' },
  { path: '/v1/log/entries?%ZZ=1', want: '4xx' },
  { path: `/v1/log/entries?start=0&end=1&${'x=1&'.repeat(2_000)}`, want: '200|4xx' },
  { path: '/v1/log/entries', want: '4xx' },
  { path: '/v1/log/proof/inclusion?index=0&size=0', want: '4xx' },
  { path: '/v1/log/proof/inclusion?index=-1&size=1', want: '4xx' },
  { path: '/v1/log/proof/inclusion?index=999999999999999&size=999999999999999', want: '4xx' },
  { path: '/v1/log/proof/consistency?first=5&second=1', want: '4xx' },
  { path: '/v1/log/proof/consistency?first=0&second=999999999999999', want: '4xx' },
  { path: '/v1/log/proof/consistency?first=NaN&second=Infinity', want: '4xx' },
];

/** Text that must never come back: files outside web/ (system, repository, data directory). */
const FOREIGN = [/root:.*:0:0:/, /"compilerOptions"/, /"devDependencies"/, /"name":\s*"attestgate"/, /PRIVATE KEY/, /SQLite format 3/];

const pathTricks: Scenario = {
  name: 'path-tricks',
  group: 'hostile',
  injected: `${pathCases.length} crafted paths: ../ and %2e%2e, %2f and %5c, double encoding, double slashes, encoded and raw NUL, 8 KiB to 20 KiB paths, unicode and case-folded model names, /v2/models/../../v1/..., non-UUID attestation ids, receipt ids with path characters, malformed percent-encoding, log API query junk (negative, 1e99, 20 digits, arrays, hex, NUL)`,
  expected: 'a typed 4xx ({"error":{"code":"ERR_..."}}) for every one (Node\'s own bodiless 400/431 for request lines it cannot parse; 301 for /log/), never a 5xx, never a 200 carrying a file from outside web/',
  budgetMs: { short: 30_000, long: 120_000 },
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const s = await stack(ctx);
    // Warm the log with a few entries (receipts), so that range checks have something to guard.
    for (let i = 0; i < 3; i++) await infer(s.url, { headers: s.auth });
    const webFiles = new Set<string>();
    for (const d of [join(ROOT, 'web'), join(ROOT, 'web/dist')]) {
      for (const f of await readdir(d, { withFileTypes: true })) if (f.isFile()) webFiles.add((await readFile(join(d, f.name))).toString('latin1'));
    }
    const problems = new Problems();
    const tally = new Tally();
    const ms: number[] = [];
    const rounds = ctx.mode === 'long' ? 10 : 1;
    let requests = 0;
    for (let round = 0; round < rounds; round++) {
      await pool(pathCases, 4, async (c) => {
        const r = await rawRequest(s.port, { method: c.method ?? 'GET', path: c.path, headers: [authHeader(s), ['Content-Type', 'application/json']], ...(c.method === 'POST' ? { body: GOOD } : {}), timeoutMs: 10_000 });
        requests++;
        ms.push(r.ms);
        tally.add(outcomeLabel(r));
        const shown = c.path.length > 60 ? `${JSON.stringify(c.path.slice(0, 40))}…(${c.path.length} chars)` : JSON.stringify(c.path);
        const what = `${c.method ?? 'GET'} ${shown}: got ${outcomeLabel(r)} ${r.body.toString('utf8').slice(0, 100)}`;
        const text = r.body.toString('latin1');
        const foreign = FOREIGN.find((re) => re.test(text));
        if (foreign !== undefined) problems.add(`${what} — the body matches ${String(foreign)}: a file from outside web/`);
        if (r.status === 200 && text.length > 0 && !webFiles.has(text) && !(r.headers['content-type'] ?? '').startsWith('application/json')) problems.add(`${what} — a 200 with content that is no file of web/`);
        const parser = (r.status === 400 || r.status === 431) && r.body.length === 0;
        const ok =
          c.want === '4xx' ? typed4xx(r) !== undefined : c.want === '4xx|parser' ? typed4xx(r) !== undefined || parser : c.want === '200|4xx' ? r.status === 200 || typed4xx(r) !== undefined : r.status === 301;
        if (!ok) problems.add(`${what} (want ${c.want})`);
      });
    }
    const died = await survived(s);
    return result(problems, died, `${requests} tricky paths answered ${tally.toString()}; no file from outside web/ was served`, {
      requests: requests + 4,
      p50_ms: percentile(ms, 50),
      p99_ms: percentile(ms, 99),
    });
  },
};

// ================================================================================================
// auth

const auth: Scenario = {
  name: 'auth',
  group: 'hostile',
  injected: 'no key; ~20 malformed Authorization / x-api-key presentations (wrong scheme, empty, extra words, both headers, the header twice with two keys, raw non-ASCII bytes, 300 characters); a wrong key of the same length, keys one character shorter and longer, another id; a revoked key (created then revoked with the CLI functions of src/cli/keys.ts)',
  expected: '401 ERR_UNAUTHENTICATED for each, the same message for an unknown and a revoked key, and no response (status line, headers, body) that contains any presented key, the valid key, its secret part or its SHA-256; the valid key works in Authorization (any case of "Bearer") and in x-api-key',
  budgetMs: { short: 30_000, long: 60_000 },
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const s = await stack(ctx);
    const store = s.g.gw.store;
    const quiet = { out: (): void => undefined, err: (): void => undefined };
    // A second key, created and revoked with the CLI's own functions (what `attestgate keys` runs).
    let revokedJson = '';
    await keysCreate(store, 'revoked-tenant', { out: (x) => (revokedJson += x), err: () => undefined }, { json: true });
    const revoked = JSON.parse(revokedJson) as { id: string; key: string };
    const revokedOk = await infer(s.url, { headers: { authorization: `Bearer ${revoked.key}` } });
    if ((await keysRevoke(store, revoked.id, quiet)) !== 0) throw new Error('keysRevoke did not revoke the key');

    const valid = s.key.secret;
    const secretPart = valid.slice(`ag_${s.key.id}_`.length);
    const flip = (k: string, i: number): string => `${k.slice(0, i)}${k[i] === 'A' ? 'B' : 'A'}${k.slice(i + 1)}`;
    const otherId = `ag_0123456789abcdef_${secretPart}`;
    type H = readonly (readonly [string, string])[];
    const cases: { name: string; headers: H; presented?: string }[] = [
      { name: 'no key', headers: [] },
      { name: 'Authorization: Bearer (no key)', headers: [['Authorization', 'Bearer']] },
      { name: 'Authorization: "Bearer " (blank)', headers: [['Authorization', 'Bearer   ']] },
      { name: 'Authorization: Basic', headers: [['Authorization', `Basic ${Buffer.from(`user:${valid}`).toString('base64')}`]], presented: valid },
      { name: 'Authorization: Token <key>', headers: [['Authorization', `Token ${valid}`]], presented: valid },
      { name: 'Authorization: <key> without a scheme', headers: [['Authorization', valid]], presented: valid },
      { name: 'Authorization: Bearer <key> extra', headers: [['Authorization', `Bearer ${valid} extra`]], presented: valid },
      { name: 'Authorization: Bearer <key>,<key>', headers: [['Authorization', `Bearer ${valid},${valid}`]], presented: valid },
      { name: 'Authorization: Bearer "<key>"', headers: [['Authorization', `Bearer "${valid}"`]], presented: valid },
      { name: 'Authorization twice (the valid key, then a wrong one)', headers: [['Authorization', `Bearer ${valid}`], ['Authorization', `Bearer ${flip(valid, valid.length - 1)}`]], presented: valid },
      { name: 'Authorization twice (a wrong key, then the valid one)', headers: [['Authorization', `Bearer ${flip(valid, valid.length - 1)}`], ['Authorization', `Bearer ${valid}`]], presented: valid },
      { name: 'x-api-key twice', headers: [['x-api-key', valid], ['x-api-key', valid]], presented: valid },
      { name: 'Authorization and x-api-key both', headers: [['Authorization', `Bearer ${valid}`], ['x-api-key', valid]], presented: valid },
      { name: 'x-api-key empty', headers: [['x-api-key', '']] },
      { name: 'x-api-key spaces', headers: [['x-api-key', '   ']] },
      { name: 'x-api-key with raw non-ASCII bytes', headers: [['x-api-key', `ag_${s.key.id}_\u00e9\u00ff${secretPart.slice(2)}`]] },
      { name: 'x-api-key of 300 characters', headers: [['x-api-key', `ag_${'a'.repeat(297)}`]] },
      { name: 'x-api-key "ag_"', headers: [['x-api-key', 'ag_']] },
      { name: 'a key without the ag_ prefix', headers: [['x-api-key', valid.slice(3)]], presented: valid.slice(3) },
      { name: 'the valid key, first secret character changed', headers: [['Authorization', `Bearer ${flip(valid, `ag_${s.key.id}_`.length)}`]], presented: flip(valid, `ag_${s.key.id}_`.length) },
      { name: 'the valid key, last character changed', headers: [['Authorization', `Bearer ${flip(valid, valid.length - 1)}`]], presented: flip(valid, valid.length - 1) },
      { name: 'one character shorter', headers: [['Authorization', `Bearer ${valid.slice(0, -1)}`]], presented: valid.slice(0, -1) },
      { name: 'one character longer', headers: [['Authorization', `Bearer ${valid}A`]], presented: `${valid}A` },
      { name: 'the secret under another id', headers: [['Authorization', `Bearer ${otherId}`]], presented: otherId },
      { name: 'a revoked key', headers: [['Authorization', `Bearer ${revoked.key}`]], presented: revoked.key },
      { name: 'X-Forwarded-For: 127.0.0.1 and no key', headers: [['X-Forwarded-For', '127.0.0.1']] },
    ];
    const secrets = (presented: string | undefined): string[] => {
      const out = [valid, secretPart, createHash('sha256').update(valid).digest('hex'), createHash('sha256').update(valid).digest('base64')];
      if (presented !== undefined) out.push(presented, presented.slice(presented.lastIndexOf('_') + 1));
      return out.filter((x) => x.length >= 16);
    };
    const problems = new Problems();
    const tally = new Tally();
    const ms: number[] = [];
    const messages = new Map<string, string>();
    if (revokedOk.status !== 200) problems.add(`the second key did not work before revocation (${revokedOk.status})`);
    const rounds = ctx.mode === 'long' ? 20 : 1;
    let requests = 1;
    for (let round = 0; round < rounds; round++) {
      for (const c of cases) {
        for (const [method, path] of [['POST', INFER], ['GET', '/v2/models']] as const) {
          const r = await rawRequest(s.port, { method, path, headers: [...c.headers, ['Content-Type', 'application/json']], ...(method === 'POST' ? { body: GOOD } : {}) });
          requests++;
          ms.push(r.ms);
          tally.add(outcomeLabel(r));
          const e = typed4xx(r);
          if (r.status !== 401 || e?.code !== 'ERR_UNAUTHENTICATED') problems.add(`${c.name} (${method} ${path}): got ${outcomeLabel(r)} ${r.body.toString('utf8').slice(0, 100)} (want 401 ERR_UNAUTHENTICATED)`);
          if (e !== undefined && method === 'POST') messages.set(c.name, e.message);
          const everything = `${JSON.stringify(r.headers)}\n${r.body.toString('latin1')}`;
          for (const x of secrets(c.presented)) if (everything.includes(x)) problems.add(`${c.name}: the response contains key material (${x.slice(0, 6)}…)`);
        }
      }
    }
    // Unknown and revoked keys must be indistinguishable to the client.
    const unknownMsg = messages.get('the valid key, last character changed');
    const revokedMsg = messages.get('a revoked key');
    if (unknownMsg !== revokedMsg) problems.add(`unknown and revoked keys get different messages: ${JSON.stringify(unknownMsg)} vs ${JSON.stringify(revokedMsg)}`);
    // The valid key works in every accepted form.
    for (const h of [{ authorization: `Bearer ${valid}` }, { authorization: `bearer ${valid}` }, { authorization: `BEARER\t${valid}` }, { 'x-api-key': valid }, { 'x-api-key': ` ${valid} ` }]) {
      const a = await infer(s.url, { headers: h });
      requests++;
      tally.add(a.status);
      if (a.status !== 200) problems.add(`the valid key in ${JSON.stringify(Object.keys(h))} "${Object.values(h)[0]?.slice(0, 7) ?? ''}…" got ${a.status}`);
    }
    const died = await survived(s);
    return result(problems, died, `${cases.length} bad presentations × 2 routes × ${rounds}: ${tally.toString()}; unknown and revoked keys answered alike (${JSON.stringify(revokedMsg)}); no key material in any answer`, {
      requests: requests + 1,
      p50_ms: percentile(ms, 50),
      p99_ms: percentile(ms, 99),
    });
  },
};

// ================================================================================================
// replays

const replays: Scenario = {
  name: 'replays',
  group: 'hostile',
  injected: 'the same attestgate-nonce on two requests; a backend that replays an earlier genuine enclave answer (fake-backend replay mode, with and without client nonces); a backend that answers every /v1/attest after the first with the first answer (evidence bound to an old nonce), at re-attestation and at first contact',
  expected:
    'docs/gateway.md promises only that the receipt carries the client nonce: both nonce requests get 200, both receipts carry it, with distinct receipt ids and log entries; a replayed answer: 502 ERR_RECEIPT_INVALID, the backend evicted; replayed evidence: refused with ERR_REPORT_DATA_MISMATCH (the binding of our nonce), the backend out, clients 503 ERR_NO_BACKEND naming it',
  budgetMs: { short: 40_000, long: 90_000 },
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const pki = await pkiDir(ctx);
    const e = await enclave(ctx, { tee: 'sim-tdx', dataDir: pki });
    const fake = await startFakeBackend(e.url);
    ctx.defer(() => fake.close());
    const g1 = await gateway(ctx, { backends: [{ name: 'fake', url: fake.url }], pki, opts: { retryMs: 200 } });
    const key = await g1.gw.store.createApiKey('replays');
    const authz = { authorization: `Bearer ${key.secret}` };
    const problems = new Problems();
    const notes: string[] = [];
    let requests = 0;
    const backend = (g: typeof g1, name: string): (typeof g1.gw.pool.backends)[number] | undefined => g.gw.pool.backends.find((b) => b.name === name);

    // 1. The same client nonce twice.
    const rounds = ctx.mode === 'long' ? 20 : 2;
    for (let i = 0; i < rounds; i++) {
      const nonce = `replayed-nonce-${randomBytes(9).toString('base64url')}`;
      const [a, b] = [await infer(g1.url, { headers: { ...authz, 'attestgate-nonce': nonce } }), await infer(g1.url, { headers: { ...authz, 'attestgate-nonce': nonce } })];
      requests += 2;
      if (a.status !== 200 || b.status !== 200) {
        problems.add(`same nonce twice: ${a.status}, ${b.status}`);
        continue;
      }
      const claims = (x: Answer): { id: string; nonce?: string } => JSON.parse(Buffer.from((x.headers.get('attestgate-receipt') ?? '..').split('.')[1] ?? '', 'base64url').toString('utf8')) as { id: string; nonce?: string };
      const [ca, cb] = [claims(a), claims(b)];
      if (ca.nonce !== nonce || cb.nonce !== nonce) problems.add(`a receipt does not carry the nonce sent (${String(ca.nonce)}, ${String(cb.nonce)})`);
      if (ca.id === cb.id) problems.add(`two answers share receipt id ${ca.id}`);
      const [ra, rb] = [await call(`${g1.url}/v1/receipts/${ca.id}`), await call(`${g1.url}/v1/receipts/${cb.id}`)];
      requests += 2;
      const idx = (x: Answer): unknown => (x.json as { log_index?: unknown } | undefined)?.log_index;
      if (ra.status !== 200 || rb.status !== 200 || idx(ra) === idx(rb)) problems.add(`the two receipts are not both stored with distinct log entries (${ra.status}, ${rb.status})`);
    }
    notes.push(`${rounds} nonce replays: both answered 200, nonce carried, distinct receipt ids and log entries`);

    // 2. A replayed enclave answer, without and with a client nonce.
    for (const nonce of [undefined, 'nonce-of-the-second-request']) {
      const first = await infer(g1.url, { headers: { ...authz, ...(nonce === undefined ? {} : { 'attestgate-nonce': 'nonce-of-the-first-request' }) } });
      requests++;
      if (first.status !== 200) problems.add(`before the replay: ${first.status}`);
      fake.mode = 'replay';
      const seenBefore = fake.seen.length;
      const r = await infer(g1.url, { headers: { ...authz, ...(nonce === undefined ? {} : { 'attestgate-nonce': nonce }) } });
      requests++;
      const code = r.status === 502 ? errorOf(r) : undefined;
      if (code?.code !== 'ERR_RECEIPT_INVALID') problems.add(`a replayed answer (${nonce === undefined ? 'no nonce' : 'nonce'}) got ${r.status} ${r.text.slice(0, 120)}`);
      const b = backend(g1, 'fake');
      if (b?.state !== 'evicted' && b?.state !== 'refused') problems.add(`after a replayed answer the backend is ${b?.state ?? 'gone'}`);
      const evictedLine = g1.logs.findLast((l) => l.msg === 'backend evicted' && l['backend'] === 'fake');
      if (evictedLine === undefined) problems.add('no "backend evicted" log line after a replayed answer');
      notes.push(`replayed answer (${nonce === undefined ? 'no nonce: same receipt id' : 'another nonce'}): ${r.status} ${code?.code ?? ''} "${code?.message.slice(0, 70) ?? ''}", evicted`);
      if (fake.seen.length - seenBefore > 1) problems.add(`the replaying backend got ${fake.seen.length - seenBefore} requests for one client request`);
      fake.mode = 'pass';
      if ((await poll(() => (backend(g1, 'fake')?.state === 'admitted' ? true : undefined), 10_000)) === undefined) problems.add('the backend was not re-admitted after it stopped replaying');
    }

    // 3. Replayed attestation evidence: at re-attestation (lifetime 60 s, re-attested 59 s ahead,
    // i.e. one second after admission) and at a new gateway's first contact.
    const proxy = await startProxy(ctx, e.url);
    proxy.attest = 'replay-first';
    const g2 = await gateway(ctx, { backends: [{ name: 'replayer', url: proxy.url }], pki, config: { attestation: { lifetime_s: 60, reattest_before_s: 59 } }, opts: { retryMs: 60_000 } });
    const key2 = await g2.gw.store.createApiKey('replays');
    const first = backend(g2, 'replayer');
    if (first?.state !== 'admitted') problems.add(`the first (genuine) attestation was not admitted: ${first?.reason ?? ''}`);
    const refusedAt = await poll(() => (backend(g2, 'replayer')?.state === 'refused' ? true : undefined), 8_000);
    const refusal = g2.logs.findLast((l) => l.msg === 'backend refused' && l['backend'] === 'replayer');
    const reasons = (refusal?.['reasons'] ?? []) as { code?: string; message?: string }[];
    if (refusedAt === undefined || reasons[0]?.code !== 'ERR_REPORT_DATA_MISMATCH') problems.add(`re-attestation with replayed evidence: state ${backend(g2, 'replayer')?.state ?? '?'}, reasons ${JSON.stringify(reasons).slice(0, 200)} (want refused, ERR_REPORT_DATA_MISMATCH)`);
    if (!g2.logs.some((l) => l.msg === 'backend evicted' && l['backend'] === 'replayer' && /re-attestation failed/.test(String(l['reason'])))) problems.add('no eviction logged when the re-attestation was refused');
    const r2 = await infer(g2.url, { headers: { authorization: `Bearer ${key2.secret}` } });
    requests++;
    if (r2.status !== 503 || errorOf(r2).code !== 'ERR_NO_BACKEND' || !/REPORT_DATA/.test(errorOf(r2).message)) problems.add(`a client after the refusal got ${r2.status} ${r2.text.slice(0, 160)} (want 503 ERR_NO_BACKEND naming the binding)`);
    notes.push(`replayed evidence at re-attestation: ${reasons[0]?.code ?? '?'} "${reasons[0]?.message?.slice(0, 60) ?? ''}…"; clients ${r2.status}`);
    const g3 = await gateway(ctx, { backends: [{ name: 'replayer', url: proxy.url }], pki, opts: { retryMs: 60_000 } });
    const b3 = backend(g3, 'replayer');
    const reasons3 = (g3.logs.findLast((l) => l.msg === 'backend refused')?.['reasons'] ?? []) as { code?: string }[];
    if (b3?.state !== 'refused' || reasons3[0]?.code !== 'ERR_REPORT_DATA_MISMATCH') problems.add(`a new gateway given replayed evidence: ${b3?.state ?? '?'} ${JSON.stringify(reasons3).slice(0, 160)}`);
    notes.push(`replayed evidence at first contact: ${b3?.state ?? '?'} ${reasons3[0]?.code ?? '?'}`);
    // The replaying backend never received anything but attestation requests from g2 and g3.
    if (proxy.forwardedOtherThanAttest() !== 0) problems.add(`the replaying backend received ${proxy.forwardedOtherThanAttest()} non-attestation requests`);

    const died = await survived({ url: g1.url, auth: authz });
    return result(problems, died, `${notes.join('; ')}; a good request then got 200`, { requests: requests + 1 });
  },
};

// ================================================================================================
// jws-algs

interface ForgedCase {
  readonly name: string;
  readonly input: VerifyAnswerInput;
  /** The step that checks the forged signature; the codes it may report. */
  readonly step: StepName;
  readonly codes: readonly string[];
}

function stepOf(r: Report, name: StepName): Report['steps'][number] | undefined {
  return r.steps.find((s) => s.name === name);
}

const jwsAlgs: Scenario = {
  name: 'jws-algs',
  group: 'hostile',
  injected:
    'to the client verifier (src/client verifyAnswer), genuine answers re-signed with alg none (with and without a signature segment), HS256 keyed with the signer\'s public key (PEM and JWK text), ES384 and EdDSA keys claiming the kid, a kid of another key: on the enclave receipt, the gateway countersignature, both signatures of the General JSON answer, and the record\'s EAR; to the gateway, a backend whose receipts carry alg none, HS256, ES384 or EdDSA',
  expected: 'the verifier refuses each at the step that checks that signature (enclave_signature: ERR_ANSWER_MALFORMED or ERR_WRONG_KEY; countersignature and ear: ERR_WRONG_KEY), report.ok false, no throw; the gateway answers 502 ERR_RECEIPT_INVALID and evicts the backend each time; genuine answers verify',
  budgetMs: { short: 40_000, long: 120_000 },
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const pki = await pkiDir(ctx);
    const e = await enclave(ctx, { tee: 'sim-tdx', dataDir: pki });
    const proxy = await startProxy(ctx, e.url);
    const g = await gateway(ctx, { backends: [{ name: 'tdx', url: proxy.url }], pki, opts: { retryMs: 200 } });
    const key = await g.gw.store.createApiKey('jws');
    const authz = { authorization: `Bearer ${key.secret}` };
    const problems = new Problems();
    const outcomes: string[] = [];
    let requests = 0;

    // Genuine answers, in both formats.
    const nonce = `jws-nonce-${randomBytes(12).toString('base64url')}`;
    const plainA = await infer(g.url, { headers: { ...authz, 'attestgate-nonce': nonce } });
    const joseA = await infer(g.url, { headers: { ...authz, accept: 'application/jose+json' } });
    requests += 2;
    if (plainA.status !== 200 || joseA.status !== 200) throw new Error(`genuine answers failed: ${plainA.status} ${joseA.status}`);
    const headers: Record<string, string> = {};
    plainA.headers.forEach((v, k) => {
      if (k.startsWith('attestgate-') || k === 'content-type') headers[k] = v;
    });
    const plain: PlainAnswer = { headers, body: plainA.text };
    const jose = joseA.json as GeneralJws;
    const anchors = [await anchorFromPem(await readFile(join(pki, 'sim-pki/intel/root.pem'), 'utf8'), 'simulated intel root', false)];
    const cache = createAnswerCache();
    const base = { request: new Uint8Array(GOOD), gateway: g.url, trustAnchors: anchors, allowSimulated: true, cache } as const;
    const good1 = await verifyAnswer({ ...base, answer: plain, nonce });
    const good2 = await verifyAnswer({ ...base, answer: jose });
    if (!good1.ok || !good2.ok) throw new Error(`genuine answers do not verify: ${JSON.stringify([...good1.steps, ...good2.steps].filter((x) => !x.ok)).slice(0, 300)}`);

    // Keys: the enclave's and the gateway's public keys (what an HS256 confusion keys the HMAC
    // with), and fresh ES384 / Ed25519 / P-256 keys.
    const admission = g.gw.pool.backends[0]?.admission;
    if (admission?.key === undefined) throw new Error('no admitted enclave key');
    const enclaveKid = admission.key.kid;
    const enclavePub = createPublicKey({ key: { ...admission.key }, format: 'jwk' });
    const gatewayPub = createPublicKey({ key: { ...g.gw.key.jwk }, format: 'jwk' });
    const pem = (k: ReturnType<typeof createPublicKey>): string => k.export({ type: 'spki', format: 'pem' }).toString();
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    const ed = generateKeyPairSync('ed25519').privateKey;
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const forgeries = (pub: ReturnType<typeof createPublicKey>, jwkText: string, otherKid: string): [string, Forgery][] => [
      ['alg none, signature "AA"', { kind: 'none', signature: 'AA' }],
      ['alg none, empty signature', { kind: 'none', signature: '' }],
      ['HS256 keyed with the public key PEM', { kind: 'hmac', secret: pem(pub) }],
      ['HS256 keyed with the public JWK text', { kind: 'hmac', secret: jwkText }],
      ['ES384 with the same kid', { kind: 'key', alg: 'ES384', key: p384 }],
      ['EdDSA with the same kid', { kind: 'key', alg: 'EdDSA', key: ed }],
      ['ES256 naming another key\'s kid', { kind: 'key', alg: 'ES256', key: p256, kid: otherKid }],
      ['ES256 by another key claiming the kid', { kind: 'key', alg: 'ES256', key: p256 }],
    ];
    const cases: ForgedCase[] = [];
    const receipt = headers['attestgate-receipt'] ?? '';
    const counter = headers['attestgate-countersignature'] ?? '';
    const enclaveCodes = ['ERR_ANSWER_MALFORMED', 'ERR_WRONG_KEY', 'ERR_SIGNATURE_INVALID'];
    const gatewayCodes = ['ERR_WRONG_KEY', 'ERR_SIGNATURE_INVALID'];
    for (const [name, f] of forgeries(enclavePub, JSON.stringify(admission.key), g.gw.key.kid)) {
      // An empty signature segment is not a compact JWS: refused already at answer_format.
      const step: StepName = f.kind === 'none' && f.signature === '' ? 'answer_format' : 'enclave_signature';
      cases.push({ name: `plain receipt: ${name}`, input: { ...base, nonce, answer: { headers: { ...headers, 'attestgate-receipt': forgeCompact(receipt, f) }, body: plainA.text } }, step, codes: enclaveCodes });
      const [es, gs] = [jose.signatures[0], jose.signatures[1]];
      if (es !== undefined && gs !== undefined) {
        const forged = forge(decodeJwsHeader(es.protected), jose.payload, f);
        cases.push({ name: `General JSON enclave signature: ${name}`, input: { ...base, answer: { payload: jose.payload, signatures: [forged, gs] } }, step: 'enclave_signature', codes: enclaveCodes });
      }
    }
    for (const [name, f] of forgeries(gatewayPub, JSON.stringify(g.gw.key.jwk), enclaveKid)) {
      const step: StepName = f.kind === 'none' && f.signature === '' ? 'answer_format' : 'countersignature';
      cases.push({ name: `countersignature: ${name}`, input: { ...base, nonce, answer: { headers: { ...headers, 'attestgate-countersignature': forgeCompact(counter, f) }, body: plainA.text } }, step, codes: step === 'answer_format' ? ['ERR_ANSWER_MALFORMED'] : gatewayCodes });
      const [es, gs] = [jose.signatures[0], jose.signatures[1]];
      if (es !== undefined && gs !== undefined) {
        const forged = forge(decodeJwsHeader(gs.protected), jose.payload, f);
        cases.push({ name: `General JSON gateway signature: ${name}`, input: { ...base, answer: { payload: jose.payload, signatures: [es, forged] } }, step: 'countersignature', codes: gatewayCodes });
      }
    }
    // The record's EAR (the gateway's attestation result) with alg none and HS256.
    const recordJson = (await call(`${g.url}/v1/attestations/${headers['attestgate-attestation'] ?? ''}`)).json as Record<string, unknown>;
    requests++;
    const ear = String(recordJson['ear']);
    for (const [name, f] of [['alg none', { kind: 'none', signature: 'AA' }], ['HS256 keyed with the gateway key PEM', { kind: 'hmac', secret: pem(gatewayPub) }]] as [string, Forgery][]) {
      const edited = parseAttestationRecord({ ...recordJson, ear: forgeCompact(ear, f) });
      cases.push({ name: `record EAR: ${name}`, input: { ...base, nonce, answer: plain, attestation: edited }, step: 'ear', codes: ['ERR_WRONG_KEY', 'ERR_EAR_INVALID', 'ERR_SIGNATURE_INVALID'] });
    }
    const byCode = new Tally();
    for (const c of cases) {
      let r: Report;
      try {
        r = await verifyAnswer(c.input);
      } catch (err: unknown) {
        problems.add(`${c.name}: verifyAnswer threw ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      const st = stepOf(r, c.step);
      byCode.add(`${c.step}/${st?.code ?? st?.status ?? '?'}`);
      if (r.ok || st?.status !== 'failed' || st.code === undefined || !c.codes.includes(st.code)) {
        problems.add(`${c.name}: report.ok ${String(r.ok)}, ${c.step} ${st?.status ?? '?'} ${st?.code ?? ''} "${st?.detail.slice(0, 80) ?? ''}"`);
      }
      if (r.steps.some((x) => x.code === 'ERR_INTERNAL')) problems.add(`${c.name}: a step failed with ERR_INTERNAL (a verifier bug)`);
    }
    outcomes.push(`verifier: ${cases.length} forgeries refused (${byCode.toString()})`);

    // The gateway's receipt check: a backend whose receipts are re-signed.
    const gwForgeries: [string, Forgery][] = [
      ['alg none', { kind: 'none', signature: 'AA' }],
      ['alg none, empty signature', { kind: 'none', signature: '' }],
      ['HS256 keyed with the enclave key PEM', { kind: 'hmac', secret: pem(enclavePub) }],
      ['ES384', { kind: 'key', alg: 'ES384', key: p384 }],
      ['EdDSA', { kind: 'key', alg: 'EdDSA', key: ed }],
    ];
    const rounds = ctx.mode === 'long' ? 5 : 1;
    const gwTally = new Tally();
    for (let round = 0; round < rounds; round++) {
      for (const [name, f] of gwForgeries) {
        proxy.rewriteReceipt = (jws) => forgeCompact(jws, f);
        const evictionsBefore = g.logs.filter((l) => l.msg === 'backend evicted').length;
        const r = await infer(g.url, { headers: authz });
        requests++;
        proxy.rewriteReceipt = undefined;
        const err = r.status === 502 ? errorOf(r) : undefined;
        gwTally.add(`${r.status}${err === undefined ? '' : ` ${err.code}`}`);
        if (err?.code !== 'ERR_RECEIPT_INVALID') problems.add(`gateway given a receipt with ${name}: ${r.status} ${r.text.slice(0, 120)}`);
        if (g.logs.filter((l) => l.msg === 'backend evicted').length !== evictionsBefore + 1) problems.add(`gateway given a receipt with ${name}: the backend was not evicted`);
        if (round === 0) outcomes.push(`gateway, receipt ${name}: ${r.status} "${err?.message.slice(0, 60) ?? ''}"`);
        if ((await poll(() => (g.gw.pool.backends[0]?.state === 'admitted' ? true : undefined), 10_000)) === undefined) problems.add('the backend was not re-admitted after a forged receipt');
      }
    }
    outcomes.push(`gateway: ${gwTally.toString()}, evicted each time`);
    const died = await survived({ url: g.url, auth: authz });
    return result(problems, died, `${outcomes.join('; ')}; a good request then got 200`, { requests: requests + 1, forgeries: cases.length + gwForgeries.length * rounds });
  },
};

export const scenarios: Scenario[] = [badBodies, slowLoris, headerFlood, pathTricks, auth, replays, jwsAlgs];
