/**
 * The gateway's pages in headless Chromium: an in-process simulated TDX enclave and gateway, two
 * real answers (the General JSON JWS and a capture of a plain answer), and the pages' checks run by
 * the browser itself:
 *   /verify   every step ✓ and "trusted" (with the request, nonce and demo policy given); one byte
 *             of the payload changed -> ✗ and "untrusted"; without "accept simulated" -> ✗ on the
 *             evidence step; the SIMULATED banner
 *   /log      the checkpoint verified (WebCrypto Ed25519), entries with their kinds, an entry's
 *             inclusion proof ✓, an attestation's evidence digest, claims and checks
 * and a screenshot of each page (kept in $ATTESTGATE_SCREENSHOTS when set, else in a temporary
 * directory removed at the end). No console error, no CSP violation.
 *
 * The gateway serves the pages; one check also mounts the router on an app of the test's own (that
 * forwards every other request to the gateway) to see a gateway that does not trust simulated
 * roots refuse to hand them out. The whole file is skipped, saying so, only when
 * /usr/bin/chromium is absent.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEnclave, type RunningEnclave } from '../../enclave/main.ts';
import { toCapture } from '../../src/client/index.ts';
import { parseConfig } from '../../src/config/schema.ts';
import { toErrorResponse } from '../../src/errors.ts';
import { startGateway, type RunningGateway } from '../../src/gateway/server.ts';
import { createLogger } from '../../src/obs/log.ts';
import { STEP_NAMES } from '../../src/client/index.ts';
import { PAGE_CSP, webRouter } from '../../src/web/routes.ts';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`test/browser/pages.test.ts: SKIPPED — ${CHROMIUM} is absent (apt-get install chromium to run the browser tests)`);

const ROOT = join(import.meta.dirname, '../..');
const IRIS = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] });
const NONCE = 'browser-test-nonce-0123456789';

let dir: string | undefined;
let enclave: RunningEnclave | undefined;
let gateway: RunningGateway | undefined;
let base: string;
let context: BrowserContext | undefined;
let shots: string | undefined;
let profile: string | undefined;
/** Keep the screenshots in this directory (else they go to a temporary one, removed at the end). */
const KEEP_SHOTS = process.env['ATTESTGATE_SCREENSHOTS'];
let jws: string;
let capture: string;
let demoPolicy: string;
const problems: string[] = [];

function listen(app: express.Express): Promise<Server> {
  return new Promise((res, rej) => {
    const s = app.listen(0, '127.0.0.1', () => {
      res(s);
    });
    s.once('error', rej);
  });
}
const urlOf = (s: Server): string => {
  const a = s.address();
  return `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`;
};

/** The router on an app of our own; everything else forwarded (GET, HEAD) to the gateway. */
async function pagesFor(g: RunningGateway, simulatedRoots: boolean): Promise<Server> {
  const app = express();
  app.use(webRouter({ simulatedRoots, dataDir: dir! }));
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      next();
      return;
    }
    const headers: Record<string, string> = {};
    for (const h of ['accept', 'content-type']) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h];
    fetch(`${g.url}${req.originalUrl}`, { method: req.method, headers })
      .then(async (r) => {
        res.status(r.status);
        const ct = r.headers.get('content-type');
        if (ct !== null) res.type(ct);
        res.send(Buffer.from(await r.arrayBuffer()));
      })
      .catch(next);
  });
  app.use((req: Request, _res: Response, next: NextFunction) => {
    next(Object.assign(new Error(`no route for ${req.method} ${req.path}`), { code: 'ERR_NOT_FOUND' }));
  });
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  app.use((e: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const { status, body } = toErrorResponse(e);
    res.status(status).json(body);
  });
  return listen(app);
}

async function infer(jose: boolean): Promise<{ headers: Record<string, string>; body: string }> {
  const r = await fetch(`${(gateway as RunningGateway).url}/v2/models/iris/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'attestgate-nonce': NONCE, ...(jose ? { accept: 'application/jose+json' } : {}) },
    body: IRIS,
  });
  expect(r.status).toBe(200);
  const headers: Record<string, string> = {};
  r.headers.forEach((v, k) => {
    headers[k] = v;
  });
  return { headers, body: await r.text() };
}

async function newPage(): Promise<Page> {
  const page = await (context as BrowserContext).newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${page.url()}: console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => {
    problems.push(`${page.url()}: page error: ${e.message}`);
  });
  return page;
}

async function shoot(page: Page, name: string): Promise<string> {
  const path = join(shots!, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  const s = await stat(path);
  expect(s.size).toBeGreaterThan(1000);
  const png = await readFile(path);
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return path;
}

describe.skipIf(!HAVE_CHROMIUM)(`the /verify and /log pages in headless Chromium${HAVE_CHROMIUM ? '' : ` (SKIPPED: ${CHROMIUM} is absent)`}`, () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'attestgate-browser-'));
    if (KEEP_SHOTS === undefined) shots = await mkdtemp(join(tmpdir(), 'attestgate-screenshots-'));
    else await mkdir((shots = KEEP_SHOTS), { recursive: true });
    profile = await mkdtemp(join(tmpdir(), 'attestgate-chromium-'));
    enclave = await startEnclave(
      { tee: 'sim-tdx', host: '127.0.0.1', port: 0, modelDir: join(ROOT, 'models'), dataDir: dir, threads: 1, maxBodyBytes: 1 << 20, simDebug: false },
      () => undefined,
    );
    const config = parseConfig(
      {
        listen: { host: '127.0.0.1', port: 0 },
        data_dir: dir,
        demo: true,
        policy: 'config/demo-policy.yaml',
        trust: { simulated_roots: true },
        backends: [{ name: 'e1', url: enclave.url }],
      },
      { baseDir: ROOT },
    );
    gateway = await startGateway(config, { log: createLogger({ level: 'error', base: {}, sink: () => undefined }), checkpointEveryMs: 0 });
    // The gateway serves the pages itself (src/web/routes.ts, mounted by src/gateway/server.ts).
    base = gateway.url;
    jws = (await infer(true)).body;
    const plain = await infer(false);
    capture = JSON.stringify(toCapture(plain.headers, plain.body));
    demoPolicy = await readFile(join(ROOT, 'config/demo-policy.yaml'), 'utf8');
    // A fresh user-data directory: no state from any earlier run (the log page pins its key there).
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1200, height: 900 },
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await gateway?.close();
    await enclave?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    if (profile !== undefined) await rm(profile, { recursive: true, force: true });
    if (KEEP_SHOTS !== undefined) console.log(`screenshots of the pages: ${KEEP_SHOTS}`);
    else if (shots !== undefined) await rm(shots, { recursive: true, force: true });
  });

  /** Fill the form and run; returns the verdict and every step's status and detail. */
  async function verify(page: Page, o: { answer: string; allowSimulated: boolean; request?: string; nonce?: string; policy?: string }): Promise<{ verdict: string; simulated: boolean; steps: Record<string, { status: string; text: string; code: string | null }> }> {
    await page.fill('#answer', o.answer);
    if ((await page.getAttribute('#more', 'open')) === null) await page.click('#more summary');
    await page.fill('#request', o.request ?? '');
    await page.fill('#nonce', o.nonce ?? '');
    await page.fill('#policy', o.policy ?? '');
    await page.setChecked('#allow-simulated', o.allowSimulated);
    await page.click('#run');
    await page.waitForSelector('#result[data-verdict]', { timeout: 20_000 });
    const steps: Record<string, { status: string; text: string; code: string | null }> = {};
    for (const li of await page.locator('#steps li').all()) {
      const name = (await li.getAttribute('data-step')) ?? '';
      steps[name] = { status: (await li.getAttribute('data-status')) ?? '', text: await li.innerText(), code: await li.getAttribute('data-code') };
    }
    return {
      verdict: await page.innerText('#verdict'),
      simulated: await page.locator('#simulated-banner').isVisible(),
      steps,
    };
  }

  it('serves the pages with a strict CSP, the scripts, and the simulated roots only when trusted', async () => {
    const page = await fetch(`${base}/verify`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toBe(PAGE_CSP);
    expect(await page.text()).toContain('web/verify-app.js');
    const js = await fetch(`${base}/web/verify-app.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await js.text()).length).toBeGreaterThan(10_000);
    for (const bad of ['/web/nope.js', '/web/build-meta.json', '/web/..%2Fpackage.json']) {
      const r = await fetch(`${base}${bad}`);
      await r.arrayBuffer();
      expect({ bad, status: r.status }).toEqual({ bad, status: 404 });
    }
    const roots = await fetch(`${base}/v1/trust/simulated-roots`);
    expect(roots.status).toBe(200);
    const body = (await roots.json()) as { roots: { file: string; pem: string; sha256: string }[] };
    expect(body.roots.map((r) => r.file)).toContain('sim-pki/intel/root.pem');
    expect(body.roots[0]?.pem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    // A gateway that does not trust simulated roots does not offer them.
    const strict = await pagesFor(gateway as RunningGateway, false);
    try {
      const r = await fetch(`${urlOf(strict)}/v1/trust/simulated-roots`);
      expect(r.status).toBe(404);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('ERR_NOT_FOUND');
    } finally {
      await new Promise<void>((res) => strict.close(() => { res(); }));
    }
  });

  it('/verify: the JWS answer with request, nonce and policy -> every step ✓, trusted, SIMULATED banner; a changed byte -> untrusted; without allow-simulated -> ✗ evidence', async () => {
    const page = await newPage();
    await page.goto(`${base}/verify`);
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.isChecked('#allow-simulated')).toBe(false);

    const good = await verify(page, { answer: jws, allowSimulated: true, request: IRIS, nonce: NONCE, policy: demoPolicy });
    expect(Object.keys(good.steps)).toEqual([...STEP_NAMES]);
    for (const [name, s] of Object.entries(good.steps)) expect({ name, status: s.status }, s.text).toEqual({ name, status: 'passed' });
    for (const s of Object.values(good.steps)) expect(s.text.startsWith('✓')).toBe(true);
    expect(good.verdict).toBe('trusted');
    expect(good.simulated).toBe(true);
    expect(await page.innerText('#simulated-banner')).toContain('SIMULATED');
    expect(good.steps['attestation_evidence']?.text).toContain('SIMULATED');
    expect(good.steps['log_inclusion']?.text).toMatch(/entry \d+ of log/);
    expect(await page.innerText('#summary')).toContain('iris');
    await shoot(page, 'verify-trusted');

    // One byte of the signed payload changed (a base64url character in its middle).
    const doc = JSON.parse(jws) as { payload: string };
    const i = Math.floor(doc.payload.length / 2);
    const ch = doc.payload[i] === 'A' ? 'B' : 'A';
    const tampered = JSON.stringify({ ...doc, payload: `${doc.payload.slice(0, i)}${ch}${doc.payload.slice(i + 1)}` });
    const bad = await verify(page, { answer: tampered, allowSimulated: true, request: IRIS, nonce: NONCE, policy: demoPolicy });
    expect(bad.verdict).toBe('untrusted');
    const failed = Object.entries(bad.steps).filter(([, s]) => s.status === 'failed');
    expect(failed.length).toBeGreaterThan(0);
    expect(bad.steps['enclave_signature']?.status).toBe('failed');
    expect(bad.steps['enclave_signature']?.text.startsWith('✗')).toBe(true);
    await shoot(page, 'verify-tampered');

    // The same good answer without accepting the simulated TEE.
    const refused = await verify(page, { answer: jws, allowSimulated: false, request: IRIS, nonce: NONCE, policy: demoPolicy });
    expect(refused.verdict).toBe('untrusted');
    expect(refused.steps['attestation_evidence']).toMatchObject({ status: 'failed', code: 'ERR_SIMULATED_REFUSED' });
    expect(refused.steps['attestation_evidence']?.text.startsWith('✗')).toBe(true);
    expect(refused.steps['enclave_signature']?.status).toBe('passed');
    expect(refused.simulated).toBe(true);
    await shoot(page, 'verify-simulated-refused');
    await page.close();
  });

  it('/verify: a capture of a plain answer (headers + body) -> trusted; a changed body -> ✗ response digest', async () => {
    const page = await newPage();
    await page.goto(`${base}/verify`);
    await page.waitForSelector('body[data-ready="true"]');
    const good = await verify(page, { answer: capture, allowSimulated: true, request: IRIS });
    expect(good.verdict).toBe('trusted');
    for (const name of ['answer_format', 'enclave_signature', 'request_digest', 'response_digest', 'attestation_evidence', 'key_binding', 'countersignature', 'log_inclusion']) {
      expect({ name, status: good.steps[name]?.status }).toEqual({ name, status: 'passed' });
    }
    expect(good.steps['answer_format']?.text).toContain('plain');
    const c = JSON.parse(capture) as { body: string };
    const changed = JSON.stringify({ ...c, body: c.body.replace(/\d/, (d) => String((Number(d) + 1) % 10)) });
    const bad = await verify(page, { answer: changed, allowSimulated: true, request: IRIS });
    expect(bad.verdict).toBe('untrusted');
    expect(bad.steps['response_digest']).toMatchObject({ status: 'failed', code: 'ERR_DIGEST_MISMATCH' });
    // Not JSON at all: said at once, no checklist.
    await page.fill('#answer', 'not json');
    await page.click('#run');
    await page.waitForSelector('#status.error');
    expect(await page.innerText('#status')).toContain('not JSON');
    await page.close();
  });

  it('/log: the checkpoint verified in the browser, entries with kinds, inclusion proofs ✓, an attestation\'s evidence, claims and checks', async () => {
    const page = await newPage();
    await page.goto(`${base}/log`);
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.getAttribute('#checkpoint-status', 'data-status')).toBe('verified');
    expect(await page.innerText('#checkpoint-status')).toContain('✓');
    const fields = await page.innerText('#checkpoint-fields');
    expect(fields).toContain('attestgate.invalid/log');
    expect(fields).toContain('checked with WebCrypto');
    const kinds = await Promise.all((await page.locator('#entries tbody tr').all()).map((r) => r.getAttribute('data-kind')));
    expect(kinds.length).toBeGreaterThanOrEqual(5);
    expect(new Set(kinds)).toEqual(new Set(['attestation', 'receipt', 'key']));
    expect(await page.innerText('#entries')).toMatch(/\tattestation\t(affirming|warning)\t/);

    // Paging: 20 entries a page, newest first.
    for (let i = 0; i < 18; i++) await infer(false);
    await page.click('#reload');
    await expect.poll(() => page.locator('#entries tbody tr').count()).toBe(20);
    const size = Number(await page.locator('#entries tbody tr').first().getAttribute('data-index')) + 1;
    expect(size).toBeGreaterThanOrEqual(23);
    expect(await page.innerText('#range')).toBe(`${size - 20}–${size - 1} of ${size}`);
    expect(await page.isDisabled('#newer')).toBe(true);
    await page.click('#older');
    await expect.poll(() => page.locator('#entries tbody tr').last().getAttribute('data-index')).toBe('0');
    expect(await page.innerText('#range')).toBe(`0–19 of ${size}`);
    expect(await page.isDisabled('#older')).toBe(true);

    // A receipt entry and its inclusion proof.
    const receipt = page.locator('#entries tbody tr[data-kind="receipt"]').first();
    const ri = await receipt.getAttribute('data-index');
    await receipt.click();
    await page.waitForSelector(`#entry[data-index="${ri}"][data-loaded="true"]`);
    expect(await page.getAttribute('#inclusion', 'data-status')).toBe('passed');
    expect(await page.innerText('#inclusion')).toMatch(/^✓ inclusion proof verified/);

    // The attestation entry: the record's evidence digest, the claims and the policy checks.
    const att = page.locator('#entries tbody tr[data-kind="attestation"]').first();
    const ai = await att.getAttribute('data-index');
    await att.click();
    await page.waitForSelector(`#entry[data-index="${ai}"][data-loaded="true"]`);
    expect(await page.getAttribute('#inclusion', 'data-status')).toBe('passed');
    expect(await page.getAttribute('#evidence-digest', 'data-status')).toBe('passed');
    const body = await page.innerText('#entry-body');
    expect(body).toContain('Claims');
    expect(body).toContain('mrtd');
    expect(body).toContain('Policy checks');
    expect(body).toContain('SIMULATED');
    await shoot(page, 'log');
    await page.close();
  });

  it('no console error, page error or CSP violation on any page', () => {
    expect(problems).toEqual([]);
  });
});
