/**
 * Security checks (issue 8, group `security`): the gateway never forwards to a backend it has not
 * admitted (counted on the backend side), never logs a secret or a request body (its real process
 * output scanned), and compares secrets in constant time (timed, and a static scan of src/ and
 * attestation/ for comparisons of digests and secrets that bypass the constant-time helpers).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type TS from 'typescript';
import { equalBytes } from '../../../attestation/common/bytes.ts';
import { SIMULATED_ROOT_FILES } from '../../../enclave/protocol.ts';
import { simulatedRoots } from '../../../enclave/sim/index.ts';
import { authenticate } from '../../../src/auth/api-keys.ts';
import { keysCreate, keysRevoke } from '../../../src/cli/keys.ts';
import { equalText } from '../../../src/client/digest.ts';
import { MEMORY, openSqliteStore } from '../../../src/store/sqlite.ts';
import { BIN, ROOT } from '../../integration/helpers/enclave-process.ts';
import { startFakeBackend } from '../../integration/helpers/fake-backend.ts';
import { DEMO_POLICY } from '../../integration/helpers/gateway.ts';
import { call, errorOf, infer, IRIS_BODY, type Answer } from '../../integration/helpers/http.ts';
import { enclave, finish, gateway, median, percentile, pkiDir, poll, pool, Problems, rawRequest, startProxy, Tally, withTimeout, type Proxy } from '../hostile-kit.ts';
import type { Scenario, ScenarioContext, ScenarioResult } from '../scenario.ts';
import { API_KEY_PATTERN } from '../../../src/store/store.ts';

// ================================================================================================
// no-unadmitted-forward

const noUnadmittedForward: Scenario = {
  name: 'no-unadmitted-forward',
  group: 'security',
  injected:
    'refused backends behind counting proxies (sim-tdx with another measurement seed, an enclave whose simulated PKI the gateway does not trust, and in long mode a debug enclave), re-attested every 400 ms while clients hammer inference and model metadata (short: 400 requests, long: 6,000, 8 at a time); then a backend evicted for a bad receipt, hammered the same way (short: 200, long: 2,000)',
  expected:
    'zero requests other than POST /v1/attest reach any refused backend (counted on the backend side); clients get 503 ERR_NO_BACKEND whose message names each backend and its reason (mrtd, untrusted root, debug); after its eviction the evicted backend receives no further inference; the JWKS lists only the gateway key',
  budgetMs: { short: 45_000, long: 150_000 },
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const t0 = Date.now();
    const pki = await pkiDir(ctx);
    // A second simulated PKI, made here: a root the first gateway was never given.
    const foreign = join(ctx.dir, 'foreign-pki');
    await mkdir(foreign, { recursive: true });
    await simulatedRoots(foreign);
    // Short mode: another measurement and an untrusted root; long mode adds a debug enclave (one
    // enclave process fewer in CI, where starting them dominates the scenario's time).
    const long = ctx.mode === 'long';
    const [other, untrusted, debug] = await Promise.all([
      enclave(ctx, { tee: 'sim-tdx', dataDir: pki, measurementSeed: 'other' }),
      enclave(ctx, { tee: 'sim-tdx', dataDir: foreign }),
      ...(long ? [enclave(ctx, { tee: 'sim-tdx', dataDir: pki, debug: true })] : []),
    ]);
    const proxies: Record<string, Proxy> = { other: await startProxy(ctx, other.url), untrusted: await startProxy(ctx, untrusted.url) };
    if (debug !== undefined) proxies['debug'] = await startProxy(ctx, debug.url);
    const g = await gateway(ctx, { backends: Object.entries(proxies).map(([name, p]) => ({ name, url: p.url })), pki, opts: { retryMs: 400 } });
    const key = await g.gw.store.createApiKey('security');
    const authz = { authorization: `Bearer ${key.secret}` };
    const problems = new Problems();
    const tally = new Tally();
    const ms: number[] = [];
    ctx.log(`${long ? 3 : 2} enclaves and a gateway up after ${Date.now() - t0} ms`);

    for (const b of g.gw.pool.backends) if (b.state !== 'refused') problems.add(`backend ${b.name} is ${b.state}, want refused`);
    const n = long ? 6_000 : 400;
    const reasons = long ? /other: .*mrtd.*; untrusted: .*(root|chain|trust).*; debug: .*debug/i : /other: .*mrtd.*; untrusted: .*(root|chain|trust)/i;
    const kinds = [
      { method: 'POST', path: '/v2/models/iris/infer', body: true, why: reasons },
      { method: 'POST', path: '/v2/models/iris/versions/1/infer', body: true, why: /other: .*mrtd/ },
      { method: 'GET', path: '/v2/models/iris', body: false, why: /backend/ },
      { method: 'GET', path: '/v2/models/iris/versions/1', body: false, why: /backend/ },
    ] as const;
    await pool(
      Array.from({ length: n }, (_, i) => i),
      8,
      async (i) => {
        const k = kinds[i % kinds.length] ?? kinds[0];
        const t0 = performance.now();
        const a = await call(`${g.url}${k.path}`, { method: k.method, headers: { ...authz, 'content-type': 'application/json' }, ...(k.body ? { body: IRIS_BODY } : {}) });
        ms.push(performance.now() - t0);
        tally.add(a.status);
        const e = a.status === 503 ? errorOf(a) : undefined;
        if (e?.code !== 'ERR_NO_BACKEND' || !k.why.test(e.message)) problems.add(`${k.method} ${k.path}: ${a.status} ${a.text.slice(0, 200)}`);
      },
    );
    const attests = Object.fromEntries(Object.entries(proxies).map(([name, p]) => [name, p.seen.filter((s) => s.path === '/v1/attest').length]));
    for (const [name, p] of Object.entries(proxies)) {
      if (p.forwardedOtherThanAttest() > 0) problems.add(`refused backend ${name} received ${p.forwardedOtherThanAttest()} requests other than attestation: ${p.seen.filter((s) => s.path !== '/v1/attest').slice(0, 3).map((s) => `${s.method} ${s.path}`).join(', ')}`);
    }
    const jwks = (await call(`${g.url}/.well-known/jwks.json`)).json as { keys: { kid?: string }[] };
    if (jwks.keys.length !== 1 || jwks.keys[0]?.kid !== g.gw.key.kid) problems.add(`the JWKS lists ${jwks.keys.length} keys`);
    const sample = errorOf(await infer(g.url, { headers: authz })).message;
    ctx.log(`${n} requests answered after ${Date.now() - t0} ms`);

    // An admitted backend that is then evicted (a receipt signed by the wrong key). The enclave
    // behind it is the "untrusted" one, admitted here by a gateway that does trust its PKI (one
    // enclave process fewer to start).
    const fake = await startFakeBackend(untrusted.url);
    ctx.defer(() => fake.close());
    const g2 = await gateway(ctx, { backends: [{ name: 'fake', url: fake.url }], pki: foreign, opts: { retryMs: 60_000 } });
    if (g2.gw.pool.backends[0]?.state !== 'admitted') problems.add(`the backend to be evicted was not admitted first: ${g2.gw.pool.backends[0]?.reason ?? ''}`);
    const key2 = await g2.gw.store.createApiKey('security');
    const authz2 = { authorization: `Bearer ${key2.secret}` };
    fake.mode = 'wrong-key';
    const first = await infer(g2.url, { headers: authz2 });
    if (first.status !== 502 || errorOf(first).code !== 'ERR_RECEIPT_INVALID') problems.add(`the first request to the lying backend got ${first.status} ${first.text.slice(0, 120)}`);
    const inferSeen = (): number => fake.seen.filter((p) => p.endsWith('/infer')).length;
    const seenAtEviction = inferSeen();
    const m = ctx.mode === 'long' ? 2_000 : 200;
    const tally2 = new Tally();
    await pool(
      Array.from({ length: m }, (_, i) => i),
      8,
      async () => {
        const a = await infer(g2.url, { headers: authz2 });
        tally2.add(a.status);
        if (a.status !== 503 || !/fake: .*receipt/.test(errorOf(a).message)) problems.add(`after the eviction: ${a.status} ${a.text.slice(0, 160)}`);
      },
    );
    if (inferSeen() !== seenAtEviction || seenAtEviction !== 1) problems.add(`the evicted backend received ${inferSeen()} inference requests in all (want exactly the 1 that got it evicted)`);
    return finish(
      problems,
      `${n} requests to a gateway with only refused backends: ${tally.toString()} ("${sample.slice(0, 150)}…"); the refused backends received 0 requests but ${Object.entries(attests).map(([k, v]) => `${v} attestations (${k})`).join(', ')}; after one 502 the evicted backend received 0 of ${m} further requests (${tally2.toString()})`,
      { requests: n + m + 3, p50_ms: percentile(ms, 50), p99_ms: percentile(ms, 99) },
    );
  },
};

// ================================================================================================
// no-secrets-in-logs

interface GatewayProcess {
  readonly url: string;
  output(): string;
  stop(): Promise<void>;
}

/** `attestgate gateway --config <file>` as its own process, as operators run it; resolves once it listens. */
async function gatewayProcess(ctx: ScenarioContext, configFile: string): Promise<GatewayProcess> {
  // A clean environment: no ATTESTGATE_* of the caller's, debug logging (the most verbose).
  const env: Record<string, string> = { ATTESTGATE_LOG_LEVEL: 'debug' };
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG']) if (process.env[k] !== undefined) env[k] = process.env[k];
  const child = spawn(process.execPath, [BIN, 'gateway', '--config', configFile], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const exited = new Promise<void>((res) => child.once('exit', () => { res(); }));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  ctx.defer(stop);
  const url = await poll(() => /"msg":"gateway listening"[^\n]*"url":"([^"]+)"/.exec(out)?.[1], 30_000);
  if (url === undefined) throw new Error(`the gateway process did not listen within 30 s:\n${out.slice(-2000)}`);
  return { url, output: () => out, stop };
}

const noSecretsInLogs: Scenario = {
  name: 'no-secrets-in-logs',
  group: 'security',
  injected:
    'a gateway process (`attestgate gateway --config`, debug logging) driven through admissions, a refusal (unreachable backend), inference whose bodies carry a unique marker, API keys (created and revoked with the CLI functions) in Authorization, x-api-key, the query string, a path and a body, auth failures, an eviction (receipt signed by the wrong key), 400/413/500 errors',
  expected:
    'nothing the process printed (stdout and stderr, every line) contains an API key or its secret part, its SHA-256, the body marker, "PRIVATE KEY", a JWK private member "d", or any line of the gateway\'s or the log\'s private key file; no API key or cookie header reaches a backend',
  budgetMs: { short: 40_000, long: 90_000 },
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const pki = await pkiDir(ctx);
    const e = await enclave(ctx, { tee: 'sim-tdx', dataDir: pki });
    const proxy = await startProxy(ctx, e.url);
    const fake = await startFakeBackend(e.url);
    ctx.defer(() => fake.close());
    const dataDir = join(ctx.dir, 'gateway-data');
    for (const f of SIMULATED_ROOT_FILES) {
      await mkdir(dirname(join(dataDir, f)), { recursive: true });
      await copyFile(join(pki, f), join(dataDir, f));
    }
    // Keys through the functions `attestgate keys create|revoke` runs, on the gateway's store.
    const store = openSqliteStore({ dataDir });
    const created: { id: string; key: string }[] = [];
    for (const tenant of ['tenant-a', 'tenant-b']) {
      let text = '';
      await keysCreate(store, tenant, { out: (x) => (text += x), err: () => undefined }, { json: true });
      created.push(JSON.parse(text) as { id: string; key: string });
    }
    const [ka, kb] = created;
    if (ka === undefined || kb === undefined) throw new Error('no keys');
    await keysRevoke(store, kb.id, { out: () => undefined, err: () => undefined });
    await store.close();
    const configFile = join(ctx.dir, 'gateway.json');
    await writeFile(
      configFile,
      JSON.stringify({
        listen: { host: '127.0.0.1', port: 0 },
        data_dir: dataDir,
        demo: false,
        policy: DEMO_POLICY,
        trust: { simulated_roots: true },
        backends: [
          { name: 'good', url: proxy.url },
          { name: 'fake', url: fake.url },
          { name: 'gone', url: 'http://127.0.0.1:9' },
        ],
        limits: { max_body_bytes: 65_536, rate: { per_second: 10_000, burst: 10_000 } },
        log: { level: 'debug' },
      }),
    );
    const gw = await gatewayProcess(ctx, configFile);
    const port = Number(new URL(gw.url).port);
    const marker = `MARKER${randomBytes(12).toString('hex')}`;
    // The query string is not a body, but src/gateway/app.ts promises not to log it either.
    const queryMarker = `QUERYMARKER${randomBytes(12).toString('hex')}`;
    const wrongKey = `ag_${ka.id}_${randomBytes(32).toString('base64url')}`;
    const A = { authorization: `Bearer ${ka.key}` };
    const problems = new Problems();
    const tally = new Tally();
    let requests = 0;
    const send = async (what: string, p: Promise<Answer>): Promise<Answer> => {
      const a = await withTimeout(p, 15_000, what);
      requests++;
      tally.add(a.status);
      return a;
    };
    const withMarker = JSON.stringify({ id: marker, inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] });
    const rounds = ctx.mode === 'long' ? 10 : 1;
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < 3; i++) await send('good', infer(gw.url, { body: withMarker, headers: { ...A, 'attestgate-nonce': `nonce-${randomBytes(12).toString('base64url')}` } }));
      await send('jose', infer(gw.url, { body: withMarker, headers: { ...A, accept: 'application/jose+json' } }));
      await send('bad tensor name', infer(gw.url, { body: JSON.stringify({ inputs: [{ name: marker, shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }), headers: A }));
      await send('malformed JSON', infer(gw.url, { body: `{"inputs": "${marker}`, headers: A }));
      await send('oversized', infer(gw.url, { body: marker.repeat(Math.ceil(70_000 / marker.length)), headers: A }));
      await send('key in the body', infer(gw.url, { body: JSON.stringify({ api_key: ka.key, inputs: [] }), headers: A }));
      await send('key in the query', call(`${gw.url}/v2/models/iris/infer?api_key=${ka.key}&note=${queryMarker}`, { method: 'POST', body: withMarker, headers: A }));
      // Client mistakes that the gateway answers with 500 today, so their error message is logged:
      // a malformed path segment with a key glued to it (the logger must still cut the key out),
      // and bodies in encodings it cannot read.
      for (const [path, extra] of [
        [`/v2/models/%ZZ${ka.key}/infer`, []],
        ['/v2/models/iris/infer', [['Content-Encoding', 'gzip']]],
        ['/v2/models/iris/infer', [['Content-Encoding', 'compress']]],
      ] as const) {
        const r = await rawRequest(port, { method: 'POST', path, headers: [['Authorization', `Bearer ${ka.key}`], ...extra], body: withMarker });
        requests++;
        tally.add(r.status ?? r.outcome);
      }
      // Authentication failures.
      await send('no key', infer(gw.url, { body: withMarker }));
      await send('wrong key', infer(gw.url, { body: withMarker, headers: { authorization: `Bearer ${wrongKey}` } }));
      await send('revoked key', infer(gw.url, { body: withMarker, headers: { authorization: `Bearer ${kb.key}` } }));
      await send('key in Basic', infer(gw.url, { body: withMarker, headers: { authorization: `Basic ${Buffer.from(`u:${ka.key}`).toString('base64')}` } }));
      await send('both headers', infer(gw.url, { body: withMarker, headers: { ...A, 'x-api-key': ka.key } }));
      await send('cookie', infer(gw.url, { body: withMarker, headers: { ...A, cookie: `session=${ka.key}` } }));
    }
    // An eviction: the fake backend starts signing receipts with another key; requests are spread
    // over the admitted backends, so send until it has been hit.
    fake.mode = 'wrong-key';
    const evicted = await poll(async () => ((await send('until evicted', infer(gw.url, { body: withMarker, headers: A }))).status === 502 ? true : undefined), 10_000, 0);
    if (evicted === undefined) problems.add('the lying backend was never hit (no eviction to log)');
    await send('after the eviction', infer(gw.url, { body: withMarker, headers: A }));
    for (const p of ['/v2/health/ready', '/.well-known/jwks.json', '/metrics', '/v1/log/checkpoint']) await send(p, call(`${gw.url}${p}`));
    await gw.stop();

    const logged = gw.output();
    const lines = logged.split('\n').filter((l) => l.trim() !== '');
    // What the log must show, so that the scan covered the events it was meant to.
    for (const msg of ['backend admitted', 'backend refused', 'backend evicted', 'request failed', 'gateway signing key created']) {
      if (!logged.includes(`"msg":"${msg}"`)) problems.add(`the log has no "${msg}" line: the scan did not cover that event`);
    }
    const keyFiles: string[] = [];
    for (const f of await readdir(dataDir)) if (f.endsWith('.pem')) keyFiles.push(await readFile(join(dataDir, f), 'utf8'));
    const needles: [string, string][] = [];
    for (const [name, k] of [['API key A', ka.key], ['API key B (revoked)', kb.key], ['the wrong key presented', wrongKey]] as const) {
      // The secret is the 43 characters after ag_<16 hex>_ (it may itself contain '_': never split on the last one).
      const secret = API_KEY_PATTERN.exec(k)?.[2] ?? k;
      needles.push([name, k], [`${name}, secret part`, secret], [`${name}, SHA-256`, createHash('sha256').update(k).digest('hex')]);
    }
    needles.push(['the body marker', marker], ['the query-string marker', queryMarker]);
    for (const pem of keyFiles) for (const l of pem.split('\n')) if (l.length >= 40 && !l.startsWith('-----')) needles.push(['a line of a private key file', l]);
    const hits = new Tally();
    for (const [name, needle] of needles) if (logged.includes(needle)) hits.add(name);
    for (const [name, re] of [['"PRIVATE KEY"', /PRIVATE KEY/], ['a JWK private member "d"', /"d"\s*:\s*"/]] as const) if (re.test(logged)) hits.add(name);
    if (hits.total() > 0) {
      const example = lines.find((l) => needles.some(([, n]) => l.includes(n))) ?? '';
      problems.add(`the gateway's output contains ${hits.toString()}; e.g. ${example.slice(0, 300)}`);
    }
    // Nothing of the client's credentials travels on to a backend.
    const forwarded = proxy.seen.length + fake.seen.length;
    const leakedHeaders = proxy.seen.filter((s) => ['authorization', 'x-api-key', 'cookie'].some((h) => s.headers[h] !== undefined) || JSON.stringify(s).includes(ka.key));
    if (leakedHeaders.length > 0) problems.add(`${leakedHeaders.length} requests to the backend carried the client's credentials (${Object.keys(leakedHeaders[0]?.headers ?? {}).join(', ')})`);
    if (e.output().includes(ka.key)) problems.add('the enclave printed an API key');
    return finish(problems, `${requests} requests (${tally.toString()}); ${lines.length} lines printed by the gateway process scanned for ${needles.length + 2} secrets: ${hits.total() === 0 ? 'no hit' : `hits ${hits.toString()}`}; ${forwarded} requests reached the backends, none with credentials (checked on the ${proxy.seen.length} through the recording proxy)`, { requests, log_lines: lines.length });
  },
};

// ================================================================================================
// constant-time-compares

/** Time `fn` per call (ns), interleaving variants in blocks so that drift and GC hit all alike. */
async function timeInterleaved(variants: readonly (() => unknown)[], perVariant: number, block: number): Promise<number[][]> {
  const out = variants.map((): number[] => []);
  for (let done = 0; done < perVariant; done += block) {
    for (let v = 0; v < variants.length; v++) {
      // Rotate the order every block: no variant always runs right after a given other one.
      const i = (v + done / block) % variants.length;
      const fn = variants[i];
      const xs = out[i];
      if (fn === undefined || xs === undefined) continue;
      for (let k = 0; k < block; k++) {
        const t0 = process.hrtime.bigint();
        await fn();
        xs.push(Number(process.hrtime.bigint() - t0));
      }
    }
  }
  return out;
}

/** Time a batch of `batch` synchronous calls per sample (ns per call), interleaved likewise. */
function timeBatches(variants: readonly (() => unknown)[], samples: number, batch: number): number[][] {
  const out = variants.map((): number[] => []);
  let sink = 0;
  for (let s = 0; s < samples; s++) {
    for (let v = 0; v < variants.length; v++) {
      const i = (v + s) % variants.length;
      const fn = variants[i];
      if (fn === undefined) continue;
      const t0 = process.hrtime.bigint();
      for (let k = 0; k < batch; k++) if (fn() === true) sink++;
      out[i]?.push(Number(process.hrtime.bigint() - t0) / batch);
    }
  }
  if (sink < 0) throw new Error('unreachable'); // keeps the results observable to the JIT
  return out;
}

/** An early-exit comparison: the positive control that shows the harness can see a leak. */
function naiveEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface CompareHit {
  readonly file: string;
  readonly line: number;
  readonly text: string;
  readonly verdict: 'secret' | 'public' | 'unexplained';
  /** A short tag (public hits) or the verdict. */
  readonly tag: string;
  readonly why: string;
}

/**
 * The static scan's rules (kept narrow so that every hit means something):
 *   1. only `===`, `!==`, `==`, `!=`, `Buffer.compare(...)` and `x.equals(y)`;
 *   2. not when either side is a literal (string, number, template without substitutions, true,
 *      false, null, undefined), a `typeof`, an ALL_CAPS constant (a public format value), or a
 *      `.length` / `.size` / `.byteLength` (widths are public: equalBytes returns early on them too);
 *   3. only when a side names a secret or a digest: a word (split on case and `_`) of its salient
 *      names (salientNames: the last property, not the object it hangs on) is a SECRET_WORD or a
 *      DIGEST_WORD, or it calls a function so named (sha256hex(...));
 *   4. comparisons inside the constant-time helpers themselves (equalBytes, equalText, isAllZero)
 *      are not reported.
 * Each hit is then judged: secret words (an API key, a MAC, a token) are a failure unless a
 * PUBLIC rule explains the value; digest words are public when a PUBLIC rule explains them, and
 * `unexplained` (also a failure, for a human to decide) otherwise.
 */
const SECRET_WORDS = new Set(['secret', 'secrets', 'password', 'passphrase', 'token', 'apikey', 'hmac', 'mac', 'private', 'privkey', 'credential', 'credentials']);
const DIGEST_WORDS = new Set(['digest', 'digests', 'hash', 'hashes', 'sha', 'sha1', 'sha256', 'sha384', 'sha512', 'signature', 'sig', 'thumb', 'thumbprint', 'nonce', 'mrtd', 'mrenclave', 'mrsigner', 'measurement']);
const HELPERS = new Set(['equalBytes', 'equalText', 'isAllZero', 'timingSafeEqual']);

/** Values that are public: a short tag for the table and the reason (matched against the comparison's source text). */
const PUBLIC: readonly (readonly [RegExp, string, string])[] = [
  [/evidence_?sha256|evidenceSha256/i, 'evidence digests', 'SHA-256 of attestation evidence, which the enclave sends in clear and the log and record publish'],
  [/request_sha256|response_sha256/, 'request/response digests', 'digests of request and response bytes that the comparing side holds in clear; the receipt states them in clear'],
  [/receipt_?sha256|receiptSha256|receiptDigest/i, 'receipt digests', 'digest of the receipt JWS, published in the log and in the countersignature'],
  [/policy_digest|digestOfPublished|published\.digest/, 'policy digests', 'the policy digest, published at /v1/policy and in every EAR'],
  [/\b[a-z]\.sha256\b|arkSha|root\.sha256|model\.sha256/, 'model/root digests', 'model and root-certificate digests: public reference values (manifest, policy, pinned roots)'],
  [/toHex\(sha256\(\w+\)\)|sha256\(\w+\)\.toString\('hex'\)|\bd !== c\.sha256|\bgot === sha\b/, 'blob names', 'content-addressed blobs: the name is the digest of the public bytes it names'],
  [/nonce/i, 'nonces', 'nonces travel in clear (client nonce in a header, attestation nonce in the request and the record)'],
  [/\bkid\b|thumb/, 'key ids', 'key ids and RFC 7638 thumbprints of public keys'],
  [/signatureAlgo|signingKey|signatureV|SIG_TYPE|keyBits|digest\?\.kind|digest\.value/, 'format fields', 'format fields of parsed structures (algorithm identifiers, enum values)'],
];

function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
}

/**
 * The names that say what an operand's value is: its last identifier or property (`sig.name` is a
 * name, not a signature), the literal key of an element access (`sub['attestgate.evidence_sha256']`),
 * and for a call the callee and what it is applied to (`toHex(sha256(x))`, `b.toString('hex')`).
 */
function salientNames(t: typeof TS, node: TS.Expression): string[] {
  if (t.isParenthesizedExpression(node) || t.isNonNullExpression(node) || t.isAsExpression(node) || t.isAwaitExpression(node)) return salientNames(t, node.expression);
  if (t.isIdentifier(node)) return [node.text];
  if (t.isPropertyAccessExpression(node)) return [node.name.text];
  if (t.isElementAccessExpression(node)) return t.isStringLiteral(node.argumentExpression) ? [node.argumentExpression.text] : salientNames(t, node.expression);
  if (t.isCallExpression(node)) {
    const callee = node.expression;
    const own = t.isPropertyAccessExpression(callee) ? [callee.name.text, ...salientNames(t, callee.expression)] : salientNames(t, callee);
    return [...own, ...node.arguments.flatMap((a) => salientNames(t, a))];
  }
  if (t.isBinaryExpression(node)) return [...salientNames(t, node.left), ...salientNames(t, node.right)];
  if (t.isConditionalExpression(node)) return [...salientNames(t, node.whenTrue), ...salientNames(t, node.whenFalse)];
  return [];
}

function isPublicLiteral(t: typeof TS, n: TS.Expression): boolean {
  const e = t.isParenthesizedExpression(n) ? n.expression : n;
  if (t.isStringLiteral(e) || t.isNumericLiteral(e) || t.isNoSubstitutionTemplateLiteral(e) || t.isBigIntLiteral(e) || t.isRegularExpressionLiteral(e)) return true;
  if (e.kind === t.SyntaxKind.TrueKeyword || e.kind === t.SyntaxKind.FalseKeyword || e.kind === t.SyntaxKind.NullKeyword) return true;
  if (t.isIdentifier(e) && (e.text === 'undefined' || /^[A-Z][A-Z0-9_]+$/.test(e.text))) return true;
  if (t.isPropertyAccessExpression(e) && /^[A-Z][A-Z0-9_]+$/.test(e.name.text)) return true;
  if (t.isTypeOfExpression(e) || t.isVoidExpression(e)) return true;
  if (t.isPrefixUnaryExpression(e) && t.isNumericLiteral(e.operand)) return true;
  if (t.isPropertyAccessExpression(e) && ['length', 'size', 'byteLength'].includes(e.name.text)) return true;
  return false;
}

function insideHelper(t: typeof TS, n: TS.Node): boolean {
  return t.findAncestor(n, (p) => (t.isFunctionDeclaration(p) || t.isFunctionExpression(p)) && p.name !== undefined && HELPERS.has(p.name.text)) !== undefined;
}

async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await tsFiles(p)));
    else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The static scan (rules above) over src/ and attestation/. */
async function scanComparisons(): Promise<{ files: number; hits: CompareHit[] }> {
  // Loaded here, not at the top: importing the compiler takes seconds, and the runner imports this
  // file whichever scenarios it runs.
  const t = (await import('typescript')).default;
  const files = [...(await tsFiles(join(ROOT, 'src'))), ...(await tsFiles(join(ROOT, 'attestation')))];
  const hits: CompareHit[] = [];
  const EQ = new Set([t.SyntaxKind.EqualsEqualsEqualsToken, t.SyntaxKind.ExclamationEqualsEqualsToken, t.SyntaxKind.EqualsEqualsToken, t.SyntaxKind.ExclamationEqualsToken]);
  for (const file of files) {
    const src = t.createSourceFile(file, await readFile(file, 'utf8'), t.ScriptTarget.ES2022, true);
    const judge = (node: TS.Node, operands: readonly TS.Expression[]): void => {
      if (operands.some((o) => isPublicLiteral(t, o)) || insideHelper(t, node)) return;
      const ws = operands.flatMap((o) => salientNames(t, o).flatMap(words));
      const secret = ws.some((w) => SECRET_WORDS.has(w));
      const digest = ws.some((w) => DIGEST_WORDS.has(w));
      if (!secret && !digest) return;
      const text = node.getText(src).replace(/\s+/g, ' ');
      const rule = PUBLIC.find(([re]) => re.test(text));
      const line = src.getLineAndCharacterOfPosition(node.getStart(src)).line + 1;
      const rel = relative(ROOT, file);
      if (rule !== undefined) hits.push({ file: rel, line, text, verdict: 'public', tag: rule[1], why: rule[2] });
      else if (secret) hits.push({ file: rel, line, text, verdict: 'secret', tag: 'secret', why: 'a secret compared with an early-exit operator' });
      else hits.push({ file: rel, line, text, verdict: 'unexplained', tag: 'unexplained', why: 'a digest-named value no rule explains' });
    };
    const visit = (n: TS.Node): void => {
      if (t.isBinaryExpression(n) && EQ.has(n.operatorToken.kind)) judge(n, [n.left, n.right]);
      else if (t.isCallExpression(n) && t.isPropertyAccessExpression(n.expression)) {
        const callee = n.expression;
        if (callee.name.text === 'equals' && n.arguments[0] !== undefined) judge(n, [callee.expression, n.arguments[0]]);
        else if (callee.name.text === 'compare' && t.isIdentifier(callee.expression) && callee.expression.text === 'Buffer') judge(n, [...n.arguments]);
      }
      n.forEachChild(visit);
    };
    visit(src);
  }
  return { files: files.length, hits };
}

const constantTimeCompares: Scenario = {
  name: 'constant-time-compares',
  group: 'security',
  injected:
    '(a) timed: authenticate() of src/auth/api-keys.ts (SQLite store in memory) with a key whose secret differs from a valid one in its first vs its last character (short: 10,000 calls each, long: 200,000), and equalBytes / equalText on 4 KiB values differing at the first vs the last byte (short: 2,000 alternated batches of 16 calls each, long: 30,000); positive controls: a key failing the public ag_ prefix check, and an early-exit comparison; (b) a static scan of src/ and attestation/ (TypeScript AST) for ===/!==/==/!=/equals/Buffer.compare on secret- or digest-named values outside equalBytes, equalText and timingSafeEqual',
  expected:
    '(a) medians of first- vs last-character mismatches within 10 % (plus 150 ns of timer noise) for authenticate, within 10 % for equalBytes and equalText, while each positive control differs by more than that (the measurement can see a leak); (b) no secret compared outside the helpers; every digest comparison found is of public data, with the reason',
  budgetMs: { short: 30_000, long: 120_000 },
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const problems = new Problems();
    const notes: string[] = [];
    const t0 = Date.now();
    // (a1) API keys, end to end through authenticate().
    const store = openSqliteStore({ dataDir: MEMORY });
    ctx.defer(() => store.close());
    const k = await store.createApiKey('timing');
    const prefix = `ag_${k.id}_`;
    const flip = (s: string, i: number): string => `${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`;
    const firstKey = flip(k.secret, prefix.length);
    const lastKey = flip(k.secret, k.secret.length - 1);
    const controlKey = `bg_${k.secret.slice(3)}`;
    const opts = { store, demo: false };
    const check = (key: string) => async (): Promise<void> => {
      const r = await authenticate({ authorization: `Bearer ${key}` }, '127.0.0.1', opts);
      if (!('code' in r)) throw new Error('a wrong key was accepted');
    };
    const n = ctx.mode === 'long' ? 200_000 : 10_000;
    await timeInterleaved([check(firstKey), check(lastKey), check(controlKey)], 2_000, 100); // warm-up (JIT, SQLite cache)
    const [tFirst = [], tLast = [], tControl = []] = await timeInterleaved([check(firstKey), check(lastKey), check(controlKey)], n, 200);
    const [mFirst, mLast, mControl] = [median(tFirst), median(tLast), median(tControl)];
    const tol = (a: number, b: number, rel: number, abs: number): number => Math.max(rel * Math.min(a, b), abs);
    const authTol = tol(mFirst, mLast, 0.1, 150);
    if (Math.abs(mFirst - mLast) > authTol) problems.add(`authenticate: median ${mFirst.toFixed(0)} ns (first character wrong) vs ${mLast.toFixed(0)} ns (last), beyond ±${authTol.toFixed(0)} ns`);
    if (Math.abs(mControl - mLast) <= authTol) problems.add(`the positive control (early prefix refusal, ${mControl.toFixed(0)} ns vs ${mLast.toFixed(0)} ns) is not distinguishable: the measurement has no power`);
    ctx.log(`authenticate timed after ${Date.now() - t0} ms`);
    notes.push(`authenticate: medians ${mFirst.toFixed(0)} ns (first secret character wrong) vs ${mLast.toFixed(0)} ns (last), |Δ| ${Math.abs(mFirst - mLast).toFixed(0)} ns ≤ ${authTol.toFixed(0)}; control (prefix refused before the store) ${mControl.toFixed(0)} ns`);

    // (a2) The byte helpers on 4 KiB values.
    const a = new Uint8Array(randomBytes(4096));
    const b0 = a.slice();
    b0[0] = (b0[0] ?? 0) ^ 1;
    const bN = a.slice();
    bN[4095] = (bN[4095] ?? 0) ^ 1;
    const [sa, s0, sN] = [Buffer.from(a).toString('latin1'), Buffer.from(b0).toString('latin1'), Buffer.from(bN).toString('latin1')];
    // Small batches (16 calls, ~0.1 ms) strictly alternated: a burst of load from elsewhere on the
    // machine then falls on all variants alike (batches of 256 gave medians 20 % apart by chance).
    const samples = ctx.mode === 'long' ? 30_000 : 2_000;
    const [eb0 = [], ebN = [], et0 = [], etN = [], nv0 = [], nvN = []] = timeBatches(
      [() => equalBytes(a, b0), () => equalBytes(a, bN), () => equalText(sa, s0), () => equalText(sa, sN), () => naiveEqual(a, b0), () => naiveEqual(a, bN)],
      samples,
      16,
    );
    for (const [name, x, y] of [['equalBytes', median(eb0), median(ebN)], ['equalText', median(et0), median(etN)]] as const) {
      const t = tol(x, y, 0.1, 0);
      if (Math.abs(x - y) > t) problems.add(`${name}: median ${x.toFixed(0)} ns (first byte differs) vs ${y.toFixed(0)} ns (last), beyond ±${t.toFixed(0)} ns`);
      notes.push(`${name}: ${x.toFixed(0)} vs ${y.toFixed(0)} ns per 4 KiB call`);
    }
    const [n0, nN] = [median(nv0), median(nvN)];
    if (Math.abs(n0 - nN) <= tol(n0, nN, 0.1, 0)) problems.add(`the early-exit control (${n0.toFixed(0)} vs ${nN.toFixed(0)} ns) is not distinguishable: the measurement has no power`);
    notes.push(`early-exit control: ${n0.toFixed(0)} vs ${nN.toFixed(0)} ns`);
    ctx.log(`byte helpers timed after ${Date.now() - t0} ms`);

    // (b) The static scan.
    const scan = await scanComparisons();
    const bad = scan.hits.filter((h) => h.verdict !== 'public');
    for (const h of bad) problems.add(`${h.file}:${h.line} ${h.verdict}: ${h.text.slice(0, 140)} (${h.why})`);
    const publicWhy = new Tally();
    for (const h of scan.hits) if (h.verdict === 'public') publicWhy.add(h.tag);
    ctx.log(`static scan: ${scan.files} files, ${scan.hits.length} hits, done after ${Date.now() - t0} ms`);
    for (const h of scan.hits) ctx.log(`  ${h.verdict.padEnd(11)} ${h.file}:${h.line} ${h.text.slice(0, 110)} — ${h.why}`);
    notes.push(`static scan of ${scan.files} files: ${bad.length} secret or unexplained comparisons; ${scan.hits.length - bad.length} of public data (${publicWhy.toString().replace(/×/g, ' ')}; each listed with its reason in the progress log)`);
    return finish(problems, notes.join('; '), {
      calls: 3 * n + 6 * samples * 16,
      auth_first_ns: Math.round(mFirst),
      auth_last_ns: Math.round(mLast),
      auth_p99_ns: Math.round(percentile([...tFirst, ...tLast], 99)),
      scan_hits: scan.hits.length,
    });
  },
};

export const scenarios: Scenario[] = [noUnadmittedForward, noSecretsInLogs, constantTimeCompares];
