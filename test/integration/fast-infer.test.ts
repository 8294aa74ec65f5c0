/**
 * The inference route has two front ends (src/gateway/fast-infer.ts): node:http directly for the
 * ordinary request form, express for every other form. They must answer alike. Each case sends the
 * same request twice, once in the ordinary form and once with a query string (which the direct
 * handler leaves to express, and express routes the same), and compares status, headers and body.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReceiptClaims } from '../../attestation/receipt.ts';
import { simulatedRoots } from '../../enclave/sim/index.ts';
import { spawnEnclave, type EnclaveProcess } from './helpers/enclave-process.ts';
import { startTestGateway, type TestGateway } from './helpers/gateway.ts';
import { call, IRIS_BODY, sha256hex, type Answer } from './helpers/http.ts';

let shared: string;
let enclave: EnclaveProcess | undefined;
let g: TestGateway | undefined;
let apiKey: string;
const url = (): string => {
  if (g === undefined) throw new Error('the gateway did not start');
  return g.url;
};

beforeAll(async () => {
  shared = await mkdtemp(join(tmpdir(), 'attestgate-fast-'));
  await simulatedRoots(shared);
  enclave = await spawnEnclave({ tee: 'sim-tdx', dataDir: shared });
  const started = await startTestGateway({ simRootsFrom: shared, backends: [{ name: 'tdx', url: enclave.url }], config: { demo: false, limits: { max_body_bytes: 4096 } } });
  g = started;
  apiKey = (await started.gw.store.createApiKey('fast')).secret;
}, 60_000);

afterAll(async () => {
  await g?.close();
  await enclave?.kill();
  await rm(shared, { recursive: true, force: true });
});

/** Headers that differ from answer to answer by nature (a new receipt, a new time). */
const PER_ANSWER = new Set(['date', 'attestgate-receipt', 'attestgate-countersignature', 'attestgate-receipt-id', 'content-length']);

function comparable(a: Answer): { status: number; headers: Record<string, string>; names: string[]; body: unknown } {
  const headers: Record<string, string> = {};
  a.headers.forEach((v, k) => {
    if (!PER_ANSWER.has(k)) headers[k] = v;
  });
  expect(Number(a.headers.get('content-length'))).toBe(a.bytes.length);
  const names: string[] = [];
  a.headers.forEach((_v, k) => names.push(k));
  let body: unknown = a.json ?? a.text;
  // A General JSON JWS carries this answer's signatures: compare its shape, not its bytes.
  if (typeof body === 'object' && body !== null && 'signatures' in body) body = { signatures: (body as { signatures: unknown[] }).signatures.length };
  return { status: a.status, headers, names: names.sort(), body };
}

async function both(path: string, init: RequestInit): Promise<[ReturnType<typeof comparable>, ReturnType<typeof comparable>]> {
  const direct = await call(`${url()}${path}`, init);
  const viaExpress = await call(`${url()}${path}?form=express`, init);
  return [comparable(direct), comparable(viaExpress)];
}

const post = (headers: Record<string, string>, body: Uint8Array | string = IRIS_BODY): RequestInit => ({ method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });

describe('the direct inference handler and the express route answer alike', () => {
  it('a signed answer: same status, headers and OIP body; both receipts verify as this request’s', async () => {
    const [a, b] = await both('/v2/models/iris/infer', post({ authorization: `Bearer ${apiKey}`, 'attestgate-nonce': 'nonce-0123456789abcdef' }));
    expect(a.status).toBe(200);
    expect(b).toEqual(a);
    expect(a.names).toEqual(expect.arrayContaining(['attestgate-receipt', 'attestgate-countersignature', 'attestgate-receipt-id', 'attestgate-attestation']));
    expect(a.headers['content-type']).toBe('application/json; charset=utf-8');
  });

  it('a versioned path and a JOSE answer', async () => {
    const [a, b] = await both('/v2/models/iris/versions/1/infer', post({ authorization: `Bearer ${apiKey}`, accept: 'application/jose+json' }));
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toBe('application/jose+json');
    expect(a.body).toEqual({ signatures: 2 });
    expect(b).toEqual(a);
  });

  it('refusals: no key, a bad nonce, an unknown model, the enclave’s own 400 and an empty body', async () => {
    const cases: [string, RequestInit, number][] = [
      ['/v2/models/iris/infer', post({}), 401],
      ['/v2/models/iris/infer', post({ authorization: `Bearer ${apiKey}`, 'attestgate-nonce': 'short' }), 400],
      ['/v2/models/nope/infer', post({ authorization: `Bearer ${apiKey}` }), 503],
      ['/v2/models/iris/infer', post({ authorization: `Bearer ${apiKey}` }, '{"inputs":[]}'), 400],
      ['/v2/models/iris/infer', post({ authorization: `Bearer ${apiKey}` }, ''), 400],
    ];
    for (const [path, init, status] of cases) {
      const [a, b] = await both(path, init);
      expect(a.status, `${path} ${JSON.stringify(a.body)}`).toBe(status);
      expect(b, path).toEqual(a);
    }
  });

  it('the receipt of a direct answer names the bytes sent, and the metrics count both front ends under the express route label', async () => {
    const r = await call(`${url()}/v2/models/iris/infer`, post({ authorization: `Bearer ${apiKey}` }));
    expect(r.status).toBe(200);
    const claims = parseReceiptClaims(JSON.parse(Buffer.from(r.headers.get('attestgate-receipt')!.split('.')[1]!, 'base64url').toString('utf8')));
    expect(claims.request_sha256).toBe(sha256hex(IRIS_BODY));
    const metrics = await (await fetch(`${url()}/metrics`)).text();
    expect(metrics).toMatch(/attestgate_http_request_duration_seconds_count\{[^}]*route="\/v2\/models\/:name\/infer"[^}]*status="200"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/attestgate_http_request_duration_seconds_count\{[^}]*route="\/v2\/models\/:name\/versions\/:version\/infer"[^}]*status="200"[^}]*\} [1-9]/);
  });
});

describe('a client that leaves while sending its body', () => {
  it('is dropped without an answer, and the gateway keeps serving', async () => {
    const { connect } = await import('node:net');
    const u = new URL(url());
    const errorsBefore = g?.logs.filter((l) => l.level === 'error' || l.level === 'warn').length;
    await new Promise<void>((resolve, reject) => {
      const s = connect(Number(u.port), u.hostname, () => {
        s.write(`POST /v2/models/iris/infer HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer ${apiKey}\r\ncontent-length: 100\r\n\r\n{"inputs":`);
        setTimeout(() => {
          s.destroy();
          resolve();
        }, 100);
      });
      s.on('error', reject);
    });
    const after = await call(`${url()}/v2/models/iris/infer`, post({ authorization: `Bearer ${apiKey}` }));
    expect(after.status).toBe(200);
    // Nothing failed on the gateway's side: no error or warning was logged for the dropped request.
    expect(g?.logs.filter((l) => l.level === 'error' || l.level === 'warn').length).toBe(errorsBefore);
  });
});
