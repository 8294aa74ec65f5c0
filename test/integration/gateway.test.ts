/**
 * The gateway end to end against REAL enclave processes (`attestgate enclave --tee sim-*`) on
 * 127.0.0.1: admission on each simulated TEE with its EAR token, evidence and collateral
 * re-verified offline; refusal for every policy mismatch and for untrusted roots; eviction on a
 * bad receipt; re-attestation ahead of expiry; fail closed once an admission expires and cannot be
 * renewed; failover and re-admission after a crash; authentication and rate limits; both answer
 * formats with their signatures; JWKS; limits, pass-through errors and metrics.
 *
 * Processes: seven enclaves started once (one per TEE, one with another measurement seed, one
 * debug, one replica to kill) and the replica restarted twice on its port (nine in all). Gateways
 * run in process, each with its own temporary data directory; a fake backend (node:http, proxying
 * attestation to a real enclave) plays the backend that lies about its answers.
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactVerify, createLocalJWKSet, decodeProtectedHeader, generalVerify, importJWK, jwtVerify, type GeneralJWSInput, type JSONWebKeySet, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrustAnchor } from '../../attestation/common/x509.ts';
import { policyDigest } from '../../attestation/policy/digest.ts';
import { parsePolicy } from '../../attestation/policy/schema.ts';
import { verifyEvidence } from '../../attestation/registry.ts';
import type { EvidenceResult, TeeKind } from '../../attestation/result.ts';
import { parseReceiptClaims, type ReceiptClaims } from '../../attestation/receipt.ts';
import { anchorFromPem } from '../../attestation/roots/index.ts';
import { simulatedRoots } from '../../enclave/sim/index.ts';
import { spawnEnclave, type EnclaveProcess, type EnclaveSpec } from './helpers/enclave-process.ts';
import { startFakeBackend } from './helpers/fake-backend.ts';
import { demoPolicy, startTestGateway, writePolicy, type GatewaySpec, type LogLine, type TestGateway } from './helpers/gateway.ts';
import { call, errorOf, infer, IRIS_BODY, ready, sha256hex, sleep, waitFor, type Answer } from './helpers/http.ts';

const TEES: readonly TeeKind[] = ['sgx', 'tdx', 'sev-snp', 'nitro'];
const SIM: Record<TeeKind, EnclaveSpec['tee']> = { sgx: 'sim-sgx', tdx: 'sim-tdx', 'sev-snp': 'sim-sev-snp', nitro: 'sim-nitro' };
const DAY_MS = 86_400_000;

type EnclaveName = TeeKind | 'other' | 'debug' | 'replica';

interface AttestationRecordBody {
  id: string;
  backend: string;
  created_at: string;
  expires_at: string;
  admitted: boolean;
  status: string;
  reasons: { code: string; reason: string; message: string }[];
  nonce: string;
  tee: TeeKind | null;
  simulated: boolean;
  key: (JWK & { kid: string }) | null;
  models: { name: string; version: string; sha256: string }[];
  policy_digest: string;
  evidence_sha256: string | null;
  evidence: string | null;
  collateral: { name: string; sha256: string; data: string }[];
  checks: { claim: string; got: unknown; want: unknown; ok: boolean }[];
  result: EvidenceResult | null;
  ear: string | null;
}

interface EarPayload {
  iss?: string;
  exp: number;
  submods: Record<string, Record<string, unknown>>;
}

let shared: string; // the enclaves' data directory (simulated PKI)
let scratch: string; // policy files
let anchors: TrustAnchor[];
const enclaves = {} as Record<EnclaveName, EnclaveProcess>;
const started: EnclaveProcess[] = [];
const t0 = Date.now();

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

async function gateway(spec: Omit<GatewaySpec, 'simRootsFrom'>): Promise<TestGateway> {
  return startTestGateway({ simRootsFrom: shared, ...spec });
}

/** A request with exactly these header lines (repeated names stay separate lines), as fetch cannot send. */
function rawRequest(base: string, method: string, path: string, headers: readonly [string, string][], body?: Uint8Array): Promise<{ status: number; code: string | undefined; text: string; headers: Record<string, string> }> {
  const u = new URL(base);
  // Object form, a list for a repeated name: Node sends each value as a header line of its own.
  const lines: Record<string, string | string[]> = {};
  for (const [k, v] of [...headers, ...(body === undefined ? [] : ([['content-length', String(body.length)]] as [string, string][]))]) {
    const had = lines[k];
    lines[k] = had === undefined ? v : [...(Array.isArray(had) ? had : [had]), v];
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers: lines }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let code: string | undefined;
        try {
          code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
        } catch {
          code = undefined;
        }
        const h: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h[k] = v;
        resolve({ status: res.statusCode ?? 0, code, text, headers: h });
      });
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : Buffer.from(body));
  });
}

async function jwksOf(url: string): Promise<JSONWebKeySet> {
  const a = await call(`${url}/.well-known/jwks.json`);
  expect(a.status).toBe(200);
  expect(a.headers.get('cache-control')).toBe('no-store');
  return a.json as JSONWebKeySet;
}

async function record(url: string, id: string): Promise<AttestationRecordBody> {
  const a = await call(`${url}/v1/attestations/${id}`);
  expect(a.status, a.text).toBe(200);
  return a.json as AttestationRecordBody;
}

/** The id of the last attestation the gateway logged for `backend` with this message. */
function loggedAttestation(logs: readonly LogLine[], msg: string, backend: string): string | undefined {
  const l = logs.filter((x) => x.msg === msg && x['backend'] === backend).at(-1);
  return typeof l?.['attestation'] === 'string' ? l['attestation'] : undefined;
}

function backendOf(g: TestGateway, name: string) {
  const b = g.gw.pool.backends.find((x) => x.name === name);
  if (b === undefined) throw new Error(`no backend ${name}`);
  return b;
}

function expectError(a: Answer, status: number, code: string, message?: RegExp): void {
  expect(a.status, a.text).toBe(status);
  const e = errorOf(a);
  expect(e.code, a.text).toBe(code);
  if (message !== undefined) expect(e.message).toMatch(message);
}

beforeAll(async () => {
  shared = await mkdtemp(join(tmpdir(), 'attestgate-gw-enclaves-'));
  scratch = await mkdtemp(join(tmpdir(), 'attestgate-gw-policies-'));
  // Make the simulated PKI once, before the enclaves start, and keep its roots for offline checks.
  anchors = await Promise.all((await simulatedRoots(shared)).map((pem, i) => anchorFromPem(pem, `simulated root ${i}`, false)));
  const specs: [EnclaveName, Omit<EnclaveSpec, 'dataDir'>][] = [
    ...TEES.map((t): [EnclaveName, Omit<EnclaveSpec, 'dataDir'>] => [t, { tee: SIM[t] }]),
    ['other', { tee: 'sim-tdx', measurementSeed: 'other' }],
    ['debug', { tee: 'sim-tdx', debug: true }],
    ['replica', { tee: 'sim-tdx' }],
  ];
  await Promise.all(
    specs.map(async ([name, s]) => {
      const e = await spawnEnclave({ ...s, dataDir: shared });
      enclaves[name] = e;
      started.push(e);
    }),
  );
  console.log(`[timing] ${specs.length} enclave processes listening after ${Date.now() - t0} ms`);
}, 60_000);

afterAll(async () => {
  await Promise.all(started.map((e) => e.kill('SIGTERM')));
  await rm(shared, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
  console.log(`[timing] whole file ${Date.now() - t0} ms`);
});

// ------------------------------------------------------------------------------------------------
describe('a gateway in front of the four simulated TEEs (demo policy)', () => {
  let g: TestGateway;
  beforeAll(async () => {
    g = await gateway({
      backends: TEES.map((t) => ({ name: `enc-${t}`, url: enclaves[t].url })),
      config: { limits: { max_body_bytes: 4096 } },
    });
  }, 30_000);
  afterAll(async () => {
    await g.close();
  });

  it.each(TEES)('admits %s: the record carries a verifying EAR (warning, simulated), the evidence and collateral, which re-verify offline to the same claims', async (tee) => {
    const b = backendOf(g, `enc-${tee}`);
    expect(b.state, b.reason).toBe('admitted');
    const id = b.admission!.id;
    const rec = await record(g.url, id);
    expect(rec).toMatchObject({ id, backend: `enc-${tee}`, admitted: true, status: 'warning', reasons: [], tee, simulated: true, key: { kid: enclaves[tee].kid } });
    expect(rec.evidence).not.toBeNull();
    const evidence = b64(rec.evidence!);
    expect(rec.evidence_sha256).toBe(sha256hex(evidence));
    for (const c of rec.collateral) expect(c.sha256).toBe(sha256hex(b64(c.data)));
    if (tee !== 'nitro') expect(rec.collateral.length).toBeGreaterThan(0);

    // The EAR: signed by the gateway key published in the JWKS.
    const jwks = await jwksOf(g.url);
    const { payload, protectedHeader } = await jwtVerify(rec.ear!, createLocalJWKSet(jwks), { algorithms: ['ES256', 'EdDSA'] });
    expect(protectedHeader.kid).toBe(g.gw.key.kid);
    const ear = payload as unknown as EarPayload;
    expect(Object.keys(ear.submods)).toEqual([tee]);
    const sub = ear.submods[tee]!;
    expect(sub['ear.status']).toBe('warning');
    expect(sub['attestgate.simulated']).toBe(true);
    expect(sub['attestgate.mismatches']).toEqual([]);
    expect(sub['attestgate.evidence_sha256']).toBe(rec.evidence_sha256);
    expect(sub['ear.appraisal-policy-id']).toBe(`policy:attestgate-demo#${rec.policy_digest}`);
    expect(ear.exp * 1000).toBeLessThanOrEqual(Date.parse(rec.expires_at) + 1000);

    // Offline: the recorded evidence and collateral, the simulated roots, the recorded time.
    const result = await verifyEvidence(
      { tee, evidence, collateral: rec.collateral.map((c) => ({ name: c.name, bytes: b64(c.data) })) },
      { at: new Date(rec.created_at), trustAnchors: anchors },
    );
    expect(result.simulated).toBe(true);
    expect(plain(result.claims)).toEqual(rec.result!.claims);
    expect(plain(result.claims)).toEqual(sub['attestgate.claims']);
    expect(result.trust_anchor.sha256).toBe(rec.result!.trust_anchor.sha256);
    expect(result.expires_at).toBe(rec.result!.expires_at);

    // (11) The demo policy's reference values are this enclave's: every check passes, the
    // reference fields among them; only "simulated" is a warning.
    const failed = rec.checks.filter((c) => !c.ok);
    expect(failed).toEqual([]);
    const claims = rec.checks.map((c) => c.claim);
    const want: Record<TeeKind, string[]> = { sgx: ['mrenclave', 'mrsigner'], tdx: ['mrtd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3'], 'sev-snp': ['measurement', 'vmpl'], nitro: ['pcrs.0', 'pcrs.1', 'pcrs.2'] };
    for (const c of [...want[tee], 'simulated', 'debug']) expect(claims, c).toContain(c);
  });

  it('publishes its policy at /v1/policy: normalised, loadable again, and with the digest every record names', async () => {
    const a = await call(`${g.url}/v1/policy`);
    expect(a.status, a.text).toBe(200);
    const body = a.json as { name: string; digest: string; policy: unknown };
    expect(body.name).toBe('attestgate-demo');
    const reparsed = parsePolicy(body.policy);
    expect(plain(reparsed)).toEqual(body.policy);
    expect(await policyDigest(reparsed)).toBe(body.digest);
    const rec = await record(g.url, backendOf(g, 'enc-tdx').admission!.id);
    expect(rec.policy_digest).toBe(body.digest);
  });

  it('answers plainly with the receipt, a countersignature naming the attestation, and the body the enclave signed', async () => {
    const jwks = await jwksOf(g.url);
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const a = await infer(g.url, { headers: { 'attestgate-nonce': 'client-nonce-0123456789' } });
      expect(a.status, a.text).toBe(200);
      expect(a.headers.get('content-type')).toMatch(/^application\/json/);
      const attestationId = a.headers.get('attestgate-attestation')!;
      const receiptJws = a.headers.get('attestgate-receipt')!;
      const counter = a.headers.get('attestgate-countersignature')!;
      expect(receiptJws).toBeTruthy();
      expect(counter).toBeTruthy();

      // The enclave's receipt, with the enclave key the JWKS lists under its kid.
      const kid = decodeProtectedHeader(receiptJws).kid!;
      const enclaveJwk = jwks.keys.find((k) => k.kid === kid);
      expect(enclaveJwk, `kid ${kid} in the JWKS`).toBeDefined();
      const rv = await compactVerify(receiptJws, await importJWK(enclaveJwk!, 'ES256'), { algorithms: ['ES256'] });
      const receipt = parseReceiptClaims(JSON.parse(new TextDecoder().decode(rv.payload)));
      expect(receipt.request_sha256).toBe(sha256hex(IRIS_BODY));
      expect(receipt.response_sha256).toBe(sha256hex(a.bytes)); // the body is unchanged
      expect(receipt.nonce).toBe('client-nonce-0123456789');
      expect(receipt.simulated).toBe(true);
      const b = g.gw.pool.backends.find((x) => x.admission?.id === attestationId)!;
      expect(b, 'the answer names an admitted backend').toBeDefined();
      expect(receipt.tee).toBe(b.admission!.tee);
      expect(receipt.evidence_sha256).toBe(b.admission!.evidenceSha256);
      expect(kid).toBe(b.admission!.key!.kid);
      seen.add(receipt.tee);

      // The gateway's countersignature, with the gateway key.
      const ch = decodeProtectedHeader(counter);
      expect(ch.kid).toBe(g.gw.key.kid);
      const gatewayJwk = jwks.keys.find((k) => k.kid === ch.kid)!;
      const cv = await compactVerify(counter, await importJWK(gatewayJwk, g.gw.key.alg), { algorithms: [g.gw.key.alg] });
      const cp = JSON.parse(new TextDecoder().decode(cv.payload)) as Record<string, unknown>;
      expect(ch.typ).toBe('attestgate-countersignature+jws');
      expect(cp).toMatchObject({ typ: 'attestgate-countersignature/v1', receipt_sha256: sha256hex(receiptJws), attestation_id: attestationId, receipt_id: receipt.id, backend: b.name });
      expect(typeof cp['log_index']).toBe('number');
      expect(a.headers.get('attestgate-receipt-id')).toBe(receipt.id);

      // The stored receipt.
      const stored = await call(`${g.url}/v1/receipts/${receipt.id}`);
      expect(stored.status).toBe(200);
      expect(stored.json).toMatchObject({ id: receipt.id, receipt: receiptJws, receipt_sha256: sha256hex(receiptJws), attestation_id: attestationId, backend: b.name, model: 'iris:1', log_index: cp['log_index'] });
    }
    expect(seen.size, 'requests spread over the replicas').toBeGreaterThan(1);
    expectError(await call(`${g.url}/v1/receipts/nope-not-there`), 404, 'ERR_NOT_FOUND');
    expectError(await call(`${g.url}/v1/receipts/${'x'.repeat(65)}`), 400, 'ERR_BAD_REQUEST');
    expectError(await call(`${g.url}/v1/attestations/00000000-0000-0000-0000-000000000000`), 404, 'ERR_NOT_FOUND');
    expectError(await call(`${g.url}/v1/attestations/not-a-uuid`), 400, 'ERR_BAD_REQUEST');
  });

  it('answers application/jose+json as a General JSON JWS signed by the enclave and by the gateway', async () => {
    const jwks = await jwksOf(g.url);
    for (let i = 0; i < 4; i++) {
      const a = await infer(g.url, { headers: { accept: 'application/jose+json' } });
      expect(a.status, a.text).toBe(200);
      expect(a.headers.get('content-type')).toMatch(/^application\/jose\+json/);
      const attestationId = a.headers.get('attestgate-attestation')!;
      const b = g.gw.pool.backends.find((x) => x.admission?.id === attestationId)!;
      const jws = a.json as GeneralJWSInput;
      expect(jws.signatures).toHaveLength(2);
      const kids = jws.signatures.map((s) => decodeProtectedHeader(s).kid);
      expect(kids).toEqual([b.admission!.key!.kid, g.gw.key.kid]);

      const enclaveJwk = jwks.keys.find((k) => k.kid === kids[0])!;
      const gatewayJwk = jwks.keys.find((k) => k.kid === kids[1])!;
      const ev = await generalVerify(jws, await importJWK(enclaveJwk, 'ES256'), { algorithms: ['ES256'] });
      expect(ev.protectedHeader!.kid).toBe(kids[0]);
      expect(ev.protectedHeader!.typ).toBe('attestgate-answer+jws');
      const gv = await generalVerify(jws, await importJWK(gatewayJwk, g.gw.key.alg), { algorithms: [g.gw.key.alg] });
      expect(gv.protectedHeader!.kid).toBe(g.gw.key.kid);
      expect(gv.protectedHeader!['attestation']).toBe(attestationId);

      const payload = JSON.parse(new TextDecoder().decode(ev.payload)) as { receipt: unknown; response: { outputs: { name: string; data: unknown[] }[] } };
      expect(Object.keys(payload).sort()).toEqual(['receipt', 'response']);
      const receipt: ReceiptClaims = parseReceiptClaims(payload.receipt);
      expect(receipt.request_sha256).toBe(sha256hex(IRIS_BODY));
      expect(receipt.kid).toBe(kids[0]);
      expect(receipt.evidence_sha256).toBe(b.admission!.evidenceSha256);
      expect(payload.response.outputs.find((o) => o.name === 'label')?.data).toEqual([0]);
      // The response inside the payload is the one whose digest the receipt states.
      const rawResponse = /,"response":(.*)\}$/s.exec(new TextDecoder().decode(ev.payload))?.[1];
      expect(sha256hex(rawResponse!)).toBe(receipt.response_sha256);
      expect(gv.protectedHeader!['receipt_id']).toBe(receipt.id);
      expect(gv.protectedHeader!.typ).toBe('attestgate-answer+jws');
      expect(typeof gv.protectedHeader!['log_index']).toBe('number');

      // The stored receipt is the enclave's compact JWS of the same claims.
      const stored = await call(`${g.url}/v1/receipts/${receipt.id}`);
      expect(stored.status).toBe(200);
      const s = stored.json as { receipt: string; attestation_id: string };
      expect(s.attestation_id).toBe(attestationId);
      const sv = await compactVerify(s.receipt, await importJWK(enclaveJwk, 'ES256'), { algorithms: ['ES256'] });
      expect(JSON.parse(new TextDecoder().decode(sv.payload))).toEqual(payload.receipt);
    }
  });

  it('publishes the gateway key and every admitted enclave key in the JWKS', async () => {
    const jwks = await jwksOf(g.url);
    const kids = jwks.keys.map((k) => k.kid);
    expect(kids[0]).toBe(g.gw.key.kid);
    expect(jwks.keys[0]).toMatchObject({ kid: g.gw.key.kid, alg: g.gw.key.alg, use: 'sig' });
    expect(jwks.keys[0]).not.toHaveProperty('d');
    for (const t of TEES) {
      const kid = enclaves[t].kid;
      expect(kids, t).toContain(kid);
      expect(backendOf(g, `enc-${t}`).admission!.key!.kid).toBe(kid); // the attest answer's kid
      expect(jwks.keys.find((k) => k.kid === kid)).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    }
    expect(kids).toHaveLength(1 + TEES.length);
  });

  it('limits bodies (413), passes the enclave’s 400 through, refuses unknown models (503) and exposes metrics', async () => {
    expectError(await infer(g.url, { body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }], pad: 'x'.repeat(5000) }) }), 413, 'ERR_BODY_TOO_LARGE', /4096/);

    const bad = await infer(g.url, { body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 5], datatype: 'FP32', data: [1, 2, 3, 4, 5] }] }) });
    expect(bad.status, bad.text).toBe(400);
    expect(bad.json).toMatchObject({ code: 'ERR_OIP_BAD_REQUEST' });
    expect((bad.json as { error: string }).error).toMatch(/shape|element/i);
    const notJson = await infer(g.url, { body: 'nope' });
    expect(notJson.status).toBe(400);
    expect(notJson.json).toMatchObject({ code: 'ERR_OIP_BAD_REQUEST' });
    // Bodies are forwarded byte for byte: an encoded one is refused, never inflated (the receipt
    // would cover bytes the client did not send) and never a 500.
    for (const enc of ['gzip', 'deflate', 'compress', 'br']) {
      const r = await rawRequest(g.url, 'POST', '/v2/models/iris/infer', [['content-encoding', enc], ['content-type', 'application/json']], gzipSync(IRIS_BODY));
      expect({ enc, status: r.status, code: r.code }, r.text).toEqual({ enc, status: 415, code: 'ERR_UNSUPPORTED_MEDIA_TYPE' });
    }
    // A path segment that is not valid percent-encoding is the client's mistake: 400, and its raw
    // text (which could hold a secret) is neither echoed nor logged.
    for (const path of ['/v1/attestations/%ZZ', '/v1/receipts/%ZZ/proof', '/v2/models/%ZZ', '/v2/models/%ZZag_0123456789abcdef_secretsecretsecret/infer']) {
      const r = await rawRequest(g.url, path.endsWith('infer') ? 'POST' : 'GET', path, [], path.endsWith('infer') ? IRIS_BODY : undefined);
      expect({ path, status: r.status, code: r.code }).toEqual({ path, status: 400, code: 'ERR_BAD_REQUEST' });
      expect(r.text).not.toContain('%ZZ');
    }
    expect(JSON.stringify(g.logs)).not.toContain('secretsecretsecret');
    // Every header counts: 2500 header lines (under the 16 KiB size limit) still carry the body.
    const many: [string, string][] = Array.from({ length: 2500 }, (_, i) => [`x${i}`, '1']);
    const flood = await rawRequest(g.url, 'POST', '/v2/models/iris/infer', [...many, ['content-type', 'application/json'], ['attestgate-nonce', 'late-nonce-0123456789']], IRIS_BODY);
    expect(flood.status, flood.text).toBe(200);
    expect(parseReceiptClaims(JSON.parse(Buffer.from(flood.headers['attestgate-receipt']!.split('.')[1]!, 'base64url').toString('utf8'))).nonce).toBe('late-nonce-0123456789');
    // A client's mistake evicts nobody.
    expect((await ready(g.url)).body.backends.map((b) => b.state)).toEqual(TEES.map(() => 'admitted'));

    expectError(await infer(g.url, { model: 'resnet' }), 503, 'ERR_NO_BACKEND', /resnet/);
    expectError(await infer(g.url, { model: 'iris', headers: { 'attestgate-nonce': 'short' } }), 400, 'ERR_BAD_REQUEST', /attestgate-nonce/);
    expectError(await call(`${g.url}/v2/models/iris/versions/9/infer`, { method: 'POST', body: IRIS_BODY }), 503, 'ERR_NO_BACKEND');

    const meta = await call(`${g.url}/v2/models/iris`);
    expect(meta.status, meta.text).toBe(200);
    expect(meta.json).toMatchObject({ name: 'iris', inputs: [{ name: 'input', datatype: 'FP32' }] });
    expectError(await call(`${g.url}/v2/models/resnet`), 503, 'ERR_NO_BACKEND');
    const list = await call(`${g.url}/v2/models`);
    expect(list.status).toBe(200);
    expect(list.json).toEqual({ models: [{ name: 'iris', version: '1', sha256: backendOf(g, 'enc-tdx').admission!.models[0]!.sha256 }] });

    expect((await infer(g.url)).status).toBe(200);
    const m = await call(`${g.url}/metrics`);
    expect(m.status).toBe(200);
    expect(m.text).toContain('attestgate_backend_admissions_total');
    expect(m.text).toMatch(/attestgate_backend_admissions_total\{backend="enc-tdx"\} [1-9]/);
    expect(m.text).toContain('attestgate_http_request_duration_seconds');
    expect(m.text).toMatch(/attestgate_http_request_duration_seconds_count\{[^}]*status="200"[^}]*\} [1-9]/);
    expect(m.text).toMatch(/attestgate_admitted_backends 4/);
    // Every answer waited for its receipt to be durable, and that wait is measured.
    expect(m.text).toMatch(/^attestgate_receipt_log_duration_seconds_count [1-9]\d*$/m);
    expect(m.text).toMatch(/^attestgate_receipt_log_duration_seconds_sum \d/m);
    expect(m.text).toMatch(/^attestgate_verification_duration_seconds_count\{tee="tdx"\} [1-9]/m);
  });
});

// ------------------------------------------------------------------------------------------------
describe('refusals (fail closed, with the reason)', () => {
  it('refuses another measurement and a debug enclave: ready 503 names the claim, infer 503 ERR_NO_BACKEND', async () => {
    const g = await gateway({ backends: [{ name: 'other', url: enclaves.other.url }, { name: 'debug', url: enclaves.debug.url }] });
    try {
      const r = await ready(g.url);
      expect(r.status).toBe(503);
      expect(r.body.ready).toBe(false);
      const other = r.body.backends.find((b) => b.name === 'other')!;
      const debug = r.body.backends.find((b) => b.name === 'debug')!;
      expect(other.state).toBe('refused');
      expect(other.reason).toMatch(/\bmrtd is [0-9a-f]{96}, want 4e9e7e36/);
      expect(debug.state).toBe('refused');
      expect(debug.reason).toMatch(/debug/i);

      const ro = await record(g.url, loggedAttestation(g.logs, 'backend refused', 'other')!);
      expect(ro).toMatchObject({ admitted: false, status: 'contraindicated', tee: 'tdx', simulated: true });
      expect(ro.reasons.map((x) => x.reason)).toContain('mrtd');
      for (const x of ro.reasons) expect(x.code).toBe('ERR_POLICY_MISMATCH');
      expect(ro.checks.find((c) => c.claim === 'mrtd')).toMatchObject({ ok: false });
      const rd = await record(g.url, loggedAttestation(g.logs, 'backend refused', 'debug')!);
      expect(rd.admitted).toBe(false);
      expect(rd.reasons[0]).toMatchObject({ code: 'ERR_DEBUG_REFUSED' });

      const a = await infer(g.url);
      expectError(a, 503, 'ERR_NO_BACKEND', /other: .*mrtd.*; debug: .*debug/i);
      expect(g.logs.filter((l) => l.msg === 'backend admitted')).toEqual([]);
      const jwks = await jwksOf(g.url);
      expect(jwks.keys.map((k) => k.kid)).toEqual([g.gw.key.kid]);
      const m = await call(`${g.url}/metrics`);
      expect(m.text).toMatch(/attestgate_backend_refusals_total\{backend="other",reason="ERR_POLICY_MISMATCH"\} 1/);
      expect(m.text).toMatch(/attestgate_backend_refusals_total\{backend="debug",reason="ERR_DEBUG_REFUSED"\} 1/);
    } finally {
      await g.close();
    }
  });

  it('refuses a simulated enclave under a policy without allowSimulated', async () => {
    const p = await demoPolicy();
    const path = await writePolicy(scratch, 'no-sim', { ...p, name: 'no-sim', allowSimulated: false });
    const g = await gateway({ backends: [{ name: 'tdx', url: enclaves.tdx.url }], policy: path });
    try {
      const r = await ready(g.url);
      expect(r.status).toBe(503);
      expect(r.body.backends[0]).toMatchObject({ name: 'tdx', state: 'refused' });
      expect(r.body.backends[0]!.reason).toMatch(/simulated/);
      const rec = await record(g.url, loggedAttestation(g.logs, 'backend refused', 'tdx')!);
      expect(rec.reasons).toEqual([expect.objectContaining({ code: 'ERR_POLICY_MISMATCH', reason: 'simulated' })]);
      expectError(await infer(g.url), 503, 'ERR_NO_BACKEND', /simulated/);
    } finally {
      await g.close();
    }
  });

  it('refuses an enclave whose model digest the policy does not list', async () => {
    const p = await demoPolicy();
    const path = await writePolicy(scratch, 'other-model', { ...p, name: 'other-model', models: [{ name: 'iris', version: '1', sha256: 'ab'.repeat(32) }] });
    const g = await gateway({ backends: [{ name: 'sgx', url: enclaves.sgx.url }], policy: path });
    try {
      const r = await ready(g.url);
      expect(r.status).toBe(503);
      expect(r.body.backends[0]).toMatchObject({ name: 'sgx', state: 'refused' });
      expect(r.body.backends[0]!.reason).toMatch(/models/);
      const rec = await record(g.url, loggedAttestation(g.logs, 'backend refused', 'sgx')!);
      expect(rec.reasons.length).toBe(1);
      expect(rec.reasons[0]).toMatchObject({ code: 'ERR_POLICY_MISMATCH' });
      expect(rec.reasons[0]!.reason).toMatch(/^models/);
      expectError(await infer(g.url), 503, 'ERR_NO_BACKEND');
    } finally {
      await g.close();
    }
  });

  it('refuses simulated evidence when the gateway does not trust the simulated roots (ERR_CHAIN_UNTRUSTED)', async () => {
    const g = await gateway({ backends: TEES.map((t) => ({ name: `enc-${t}`, url: enclaves[t].url })), trustSimulated: false });
    try {
      const r = await ready(g.url);
      expect(r.status).toBe(503);
      for (const t of TEES) {
        expect(r.body.backends.find((b) => b.name === `enc-${t}`)?.state, t).toBe('refused');
        const rec = await record(g.url, loggedAttestation(g.logs, 'backend refused', `enc-${t}`)!);
        expect(rec.admitted).toBe(false);
        expect(rec.reasons[0], t).toMatchObject({ code: 'ERR_CHAIN_UNTRUSTED' });
        expect(rec.ear).toBeNull();
      }
      expectError(await infer(g.url), 503, 'ERR_NO_BACKEND');
    } finally {
      await g.close();
    }
  });
});

// ------------------------------------------------------------------------------------------------
describe('a backend that answers with a bad receipt', () => {
  it('gets the client a 502 ERR_RECEIPT_INVALID, is evicted, loses its key from the JWKS, and is re-admitted only after a fresh attestation', async () => {
    const fake = await startFakeBackend(enclaves.tdx.url);
    const g = await gateway({ backends: [{ name: 'fake', url: fake.url }], opts: { retryMs: 1_000 } });
    try {
      const first = backendOf(g, 'fake').admission?.id;
      expect(backendOf(g, 'fake').state).toBe('admitted');
      const ok = await infer(g.url);
      expect(ok.status, ok.text).toBe(200);
      expect((await jwksOf(g.url)).keys.map((k) => k.kid)).toContain(enclaves.tdx.kid);

      // 1. A receipt signed by another key.
      fake.mode = 'wrong-key';
      const a = await infer(g.url);
      expectError(a, 502, 'ERR_RECEIPT_INVALID', /receipt|signature|key/i);
      expect(a.headers.get('attestgate-receipt')).toBeNull();
      expect(a.text).not.toContain('outputs');
      const r = await ready(g.url);
      expect(r.status).toBe(503);
      expect(r.body.backends[0]).toMatchObject({ name: 'fake', state: 'evicted' });
      expect((await jwksOf(g.url)).keys.map((k) => k.kid)).toEqual([g.gw.key.kid]);
      expectError(await infer(g.url), 503, 'ERR_NO_BACKEND', /fake/);
      expect(g.logs.some((l) => l.msg === 'backend evicted' && l['backend'] === 'fake')).toBe(true);

      // Re-admitted by a fresh attestation (the pool retries).
      const second = await waitFor('re-admission', () => {
        const b = backendOf(g, 'fake');
        return b.state === 'admitted' && b.admission!.id !== first ? b.admission!.id : undefined;
      });
      expect(second).not.toBe(first);

      // 2. A response body changed after the enclave signed its digest.
      fake.mode = 'tamper-body';
      expectError(await infer(g.url), 502, 'ERR_RECEIPT_INVALID', /response_sha256/);
      expect((await ready(g.url)).body.backends[0]).toMatchObject({ name: 'fake', state: 'evicted' });
      expect((await ready(g.url)).body.backends[0]!.reason).toMatch(/response_sha256/);
      expectError(await infer(g.url), 503, 'ERR_NO_BACKEND');
    } finally {
      await g.close();
      await fake.close();
    }
  });

  it('with a second replica, the next request goes to the good one', async () => {
    const fake = await startFakeBackend(enclaves.tdx.url);
    const g = await gateway({ backends: [{ name: 'fake', url: fake.url }, { name: 'good', url: enclaves.sgx.url }], opts: { retryMs: 60_000 } });
    try {
      fake.mode = 'wrong-key';
      let refused = 0;
      for (let i = 0; i < 6; i++) {
        const a = await infer(g.url);
        if (a.status === 502) {
          refused++;
          expect(errorOf(a).code).toBe('ERR_RECEIPT_INVALID');
        } else {
          expect(a.status, a.text).toBe(200);
          expect(a.headers.get('attestgate-attestation')).toBe(backendOf(g, 'good').admission!.id);
        }
      }
      expect(refused).toBe(1); // once evicted, the fake gets no more traffic
      expect(backendOf(g, 'fake').state).toBe('evicted');
    } finally {
      await g.close();
      await fake.close();
    }
  });

  it('refuses a replayed answer whose receipt does not carry the client nonce of this request', async () => {
    // Anyone on the path between gateway and enclave (the untrusted host) can send an earlier
    // genuine answer for the same request bytes again. Its receipt verifies with the attested key
    // and names the same request digest, but not this request's client nonce (and repeats a
    // receipt id): the gateway must not countersign it.
    const fake = await startFakeBackend(enclaves.tdx.url);
    const g = await gateway({ backends: [{ name: 'fake', url: fake.url }], opts: { retryMs: 500 } });
    try {
      // Without a client nonce: the same receipt (same id) a second time.
      expect((await infer(g.url)).status).toBe(200);
      fake.mode = 'replay';
      expectError(await infer(g.url), 502, 'ERR_RECEIPT_INVALID');
      expect(backendOf(g, 'fake').state).toBe('evicted');
      fake.mode = 'pass';
      await waitFor('re-admission', () => (backendOf(g, 'fake').state === 'admitted' ? true : undefined));

      // With a client nonce: the replayed receipt carries the earlier request's nonce.
      const first = await infer(g.url, { headers: { 'attestgate-nonce': 'nonce-of-request-one' } });
      expect(first.status, first.text).toBe(200);
      fake.mode = 'replay';
      const replayed = await infer(g.url, { headers: { 'attestgate-nonce': 'nonce-of-request-two' } });
      expectError(replayed, 502, 'ERR_RECEIPT_INVALID', /nonce/);
      expect(backendOf(g, 'fake').state).toBe('evicted');
    } finally {
      await g.close();
      await fake.close();
    }
  });
});

// ------------------------------------------------------------------------------------------------
describe('attestation lifetime', () => {
  it('re-attests ahead of expiry while traffic keeps flowing', async () => {
    // lifetime 60 s, re-attest 58 s before: a fresh attestation every ~2 s.
    const g = await gateway({ backends: [{ name: 'nitro', url: enclaves.nitro.url }], config: { attestation: { lifetime_s: 60, reattest_before_s: 58 } } });
    try {
      const ids = new Set<string>();
      const first = backendOf(g, 'nitro').admission!.id;
      const until = Date.now() + 5_000;
      let n = 0;
      while (Date.now() < until) {
        const a = await infer(g.url);
        expect(a.status, a.text).toBe(200);
        ids.add(a.headers.get('attestgate-attestation')!);
        n++;
        await sleep(25);
      }
      expect(ids.has(first)).toBe(true);
      expect(ids.size, `${n} requests answered under ${ids.size} attestations`).toBeGreaterThanOrEqual(2);
      for (const id of ids) {
        const rec = await record(g.url, id);
        expect(rec).toMatchObject({ admitted: true, backend: 'nitro' });
        expect(Date.parse(rec.expires_at) - Date.parse(rec.created_at)).toBe(60_000);
      }
      expect(g.logs.filter((l) => l.msg === 'backend evicted')).toEqual([]);
    } finally {
      await g.close();
    }
  }, 20_000);

  it('admits at most until the collateral it used expires: 10 minutes left on the collateral cap a 1 h lifetime', async () => {
    // The simulated collateral is issued 5 min back and current for 30 days: put the gateway's
    // clock 15 min before that end.
    const skew = 30 * DAY_MS - 15 * 60_000;
    const g = await gateway({ backends: [{ name: 'tdx', url: enclaves.tdx.url }], opts: { now: () => Date.now() + skew } });
    try {
      const b = backendOf(g, 'tdx');
      expect(b.state, b.reason).toBe('admitted');
      const a = b.admission!;
      const rec = await record(g.url, a.id);
      const collateralEnd = Date.parse(rec.result!.expires_at);
      expect(a.expiresAt).toBe(collateralEnd);
      const left = a.expiresAt - a.createdAt;
      expect(left).toBeLessThan(11 * 60_000);
      expect(left).toBeGreaterThan(8 * 60_000);
      expect(Math.abs(Date.parse(rec.expires_at) - collateralEnd)).toBeLessThanOrEqual(1000);
      // The EAR says so too: it expires no later than the collateral.
      const jwks = await jwksOf(g.url);
      const { payload } = await jwtVerify(rec.ear!, createLocalJWKSet(jwks), { algorithms: ['ES256', 'EdDSA'], currentDate: new Date(a.createdAt) });
      expect((payload as unknown as EarPayload).exp * 1000).toBeLessThanOrEqual(collateralEnd + 1000);
      expect((await infer(g.url)).status).toBe(200);
    } finally {
      await g.close();
    }
  });

  it('fails closed once the admission expires and cannot be renewed (expired collateral), with an injected clock', async () => {
    let skew = 0;
    const g = await gateway({ backends: [{ name: 'tdx', url: enclaves.tdx.url }], opts: { now: () => Date.now() + skew, retryMs: 300 } });
    try {
      const b = backendOf(g, 'tdx');
      const first = b.admission!;
      // The admission lasts attestation.lifetime_s (3600 s), less than the collateral (30 days).
      expect(first.expiresAt - first.createdAt).toBe(3_600_000);
      expect((await infer(g.url)).status).toBe(200);

      // 1 h later the admission has lapsed: no traffic until a fresh attestation.
      skew = 3_600_000 + 1_000;
      expectError(await infer(g.url), 503, 'ERR_NO_BACKEND', /admission expired/);
      await waitFor('re-admission after expiry', () => (b.state === 'admitted' && b.admission!.id !== first.id ? true : undefined));
      expect((await infer(g.url)).status).toBe(200);

      // 31 days later the enclave's collateral (30 days) has expired too: re-attestation fails
      // and the backend stays out (fail closed).
      skew = 31 * DAY_MS;
      expectError(await infer(g.url), 503, 'ERR_NO_BACKEND');
      const refusedId = await waitFor('refused re-attestation', () => loggedAttestation(g.logs, 'backend refused', 'tdx'));
      const rec = await record(g.url, refusedId);
      expect(rec.admitted).toBe(false);
      expect(rec.reasons[0]!.code).toMatch(/^ERR_(COLLATERAL_STALE|CERT_NOT_VALID_AT_TIME|COLLATERAL_UNAVAILABLE)$/);
      expect(rec.reasons[0]!.message).toMatch(/valid from .* to .*, not at /);
      const r = await ready(g.url);
      expect(r.status).toBe(503);
      expect(r.body.backends[0]!.state).toBe('refused');
      expect(r.body.backends[0]!.reason).toMatch(/valid from .* to .*, not at /);
      await sleep(700); // a few more retries, all refused
      expectError(await infer(g.url), 503, 'ERR_NO_BACKEND');
      expect(backendOf(g, 'tdx').state).toBe('refused');

      // Back to the real time: admitted again.
      skew = 0;
      await waitFor('re-admission', () => (backendOf(g, 'tdx').state === 'admitted' ? true : undefined));
      expect((await infer(g.url)).status).toBe(200);
    } finally {
      await g.close();
    }
  });
});

// ------------------------------------------------------------------------------------------------
describe('a crashed, restarted or forgetful backend', () => {
  it('fails over to the other replica, is evicted, and is re-admitted with a fresh attestation once restarted', async () => {
    const g = await gateway({ backends: [{ name: 'a', url: enclaves.tdx.url }, { name: 'b', url: enclaves.replica.url }], opts: { retryMs: 300 } });
    try {
      const a = backendOf(g, 'a');
      const b = backendOf(g, 'b');
      expect([a.state, b.state]).toEqual(['admitted', 'admitted']);
      const firstB = b.admission!;
      // Warm keep-alive connections to both.
      const warm = new Set<string>();
      for (let i = 0; i < 4; i++) warm.add((await infer(g.url)).headers.get('attestgate-attestation')!);
      expect(warm.size).toBe(2);

      await enclaves.replica.kill('SIGKILL');
      for (let i = 0; i < 6; i++) {
        const r = await infer(g.url);
        expect(r.status, r.text).toBe(200);
        expect(r.headers.get('attestgate-attestation')).toBe(a.admission!.id);
      }
      const evicted = g.logs.find((l) => l.msg === 'backend evicted' && l['backend'] === 'b');
      expect(evicted, 'b evicted').toBeDefined();
      expect(String(evicted!['reason'])).toMatch(/unreachable/);
      const r = await ready(g.url);
      expect(r.status).toBe(200);
      const rb = r.body.backends.find((x) => x.name === 'b')!;
      expect(['evicted', 'refused']).toContain(rb.state);
      expect((await jwksOf(g.url)).keys.map((k) => k.kid)).not.toContain(firstB.key!.kid);

      // Restart on the same port: a new key, a new attestation.
      const restarted = await spawnEnclave({ tee: 'sim-tdx', dataDir: shared, port: enclaves.replica.port });
      started.push(restarted);
      enclaves.replica = restarted;
      const second = await waitFor(
        're-admission of b',
        () => (b.state === 'admitted' && b.admission!.id !== firstB.id ? b.admission! : undefined),
        15_000,
      );
      expect(second.key!.kid).toBe(restarted.kid);
      expect(second.key!.kid).not.toBe(firstB.key!.kid);
      const kids = (await jwksOf(g.url)).keys.map((k) => k.kid);
      expect(kids).toContain(restarted.kid);
      expect(kids).not.toContain(firstB.key!.kid);
      const ids = new Set<string>();
      for (let i = 0; i < 4; i++) {
        const x = await infer(g.url);
        expect(x.status).toBe(200);
        ids.add(x.headers.get('attestgate-attestation')!);
      }
      expect(ids.has(second.id)).toBe(true);
    } finally {
      await g.close();
    }
  }, 30_000);

  it('re-attests a backend restarted before any request noticed (its evidence and key are gone) instead of passing its 409 through', async () => {
    const g = await gateway({ backends: [{ name: 'r', url: enclaves.replica.url }], opts: { retryMs: 300 } });
    try {
      const b = backendOf(g, 'r');
      const before = b.admission!;
      expect((await infer(g.url)).status).toBe(200);
      // A supervisor restarts the crashed enclave at once, on the same port.
      await enclaves.replica.kill('SIGKILL');
      const again = await spawnEnclave({ tee: 'sim-tdx', dataDir: shared, port: enclaves.replica.port });
      started.push(again);
      enclaves.replica = again;
      await sleep(200);
      // The restarted enclave never produced the evidence the admission names and holds another
      // key: its answer is 409 ERR_UNKNOWN_EVIDENCE / ERR_NOT_ATTESTED. The admission is void.
      const a = await infer(g.url);
      expect(a.status, a.text).not.toBe(409);
      if (a.status !== 200) expect(['ERR_NO_BACKEND', 'ERR_BACKEND_FAILED']).toContain(errorOf(a).code);
      const after = await waitFor('re-admission with the new key', () => (b.state === 'admitted' && b.admission!.id !== before.id ? b.admission! : undefined), 5_000);
      expect(after.key!.kid).toBe(again.kid);
      expect((await infer(g.url)).status).toBe(200);
    } finally {
      await g.close();
    }
  }, 20_000);

  it('re-attests a backend whose enclave has forgotten the evidence the admission names (other verifiers attested it 32 times since)', async () => {
    // The enclave keeps its last 32 pieces of evidence; other gateways (or a gateway retrying a
    // refusal every few seconds) attest it too. Then it answers 409 ERR_UNKNOWN_EVIDENCE to this
    // gateway's requests: the admission is void, the request never ran.
    const g = await gateway({ backends: [{ name: 'sgx', url: enclaves.sgx.url }], opts: { retryMs: 300 } });
    try {
      const b = backendOf(g, 'sgx');
      const before = b.admission!.id;
      expect((await infer(g.url)).status).toBe(200);
      for (let i = 0; i < 33; i++) {
        const r = await call(`${enclaves.sgx.url}/v1/attest`, { method: 'POST', body: JSON.stringify({ nonce: randomBytes(32).toString('base64url') }) });
        expect(r.status).toBe(200);
      }
      const a = await infer(g.url);
      expect(a.status, a.text).not.toBe(409);
      if (a.status !== 200) expect(['ERR_NO_BACKEND', 'ERR_BACKEND_FAILED']).toContain(errorOf(a).code);
      await waitFor('a fresh admission', () => (b.state === 'admitted' && b.admission!.id !== before ? true : undefined), 5_000);
      expect((await infer(g.url)).status).toBe(200);
    } finally {
      await g.close();
    }
  });
});

// ------------------------------------------------------------------------------------------------
describe('authentication and rate limits (demo off)', () => {
  it('needs an API key, refuses revoked keys, and limits each tenant', async () => {
    const g = await gateway({ backends: [{ name: 'sgx', url: enclaves.sgx.url }], config: { demo: false, limits: { rate: { per_second: 1, burst: 2 } } } });
    try {
      expectError(await infer(g.url), 401, 'ERR_UNAUTHENTICATED', /API key is required/);
      expectError(await call(`${g.url}/v2/models`), 401, 'ERR_UNAUTHENTICATED');
      expectError(await infer(g.url, { headers: { authorization: 'Bearer ag_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } }), 401, 'ERR_UNAUTHENTICATED', /invalid or revoked/);
      expectError(await infer(g.url, { headers: { authorization: 'Basic abc' } }), 401, 'ERR_UNAUTHENTICATED');

      const k1 = await g.gw.store.createApiKey('t1');
      const one = await infer(g.url, { headers: { authorization: `Bearer ${k1.secret}` } });
      expect(one.status, one.text).toBe(200);
      const two = await infer(g.url, { headers: { 'x-api-key': k1.secret } });
      expect(two.status, two.text).toBe(200);
      const three = await infer(g.url, { headers: { authorization: `Bearer ${k1.secret}` } });
      expectError(three, 429, 'ERR_RATE_LIMITED', /t1/);
      expect(Number(three.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

      // Another tenant has its own bucket; a revoked key is refused like an unknown one.
      const k2 = await g.gw.store.createApiKey('t2');
      expect((await infer(g.url, { headers: { authorization: `Bearer ${k2.secret}` } })).status).toBe(200);
      expect(await g.gw.store.revokeApiKey(k2.id)).toBe(true);
      expectError(await infer(g.url, { headers: { authorization: `Bearer ${k2.secret}` } }), 401, 'ERR_UNAUTHENTICATED', /invalid or revoked/);

      // The bucket refills at 1 token per second.
      await sleep(1_100);
      expect((await infer(g.url, { headers: { authorization: `Bearer ${k1.secret}` } })).status).toBe(200);
      // Records and keys stay public (they are what clients verify with).
      expect((await call(`${g.url}/.well-known/jwks.json`)).status).toBe(200);
    } finally {
      await g.close();
    }
  });

  it('refuses a request that carries two Authorization headers, in either order (never judged on one of them)', async () => {
    const g = await gateway({ backends: [{ name: 'sgx', url: enclaves.sgx.url }], config: { demo: false } });
    try {
      const k = await g.gw.store.createApiKey('t1');
      const wrong = 'Bearer ag_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
      for (const order of [[`Bearer ${k.secret}`, wrong], [wrong, `Bearer ${k.secret}`], [`Bearer ${k.secret}`, `Bearer ${k.secret}`]]) {
        const r = await rawRequest(g.url, 'POST', '/v2/models/iris/infer', [...order.map((v): [string, string] => ['authorization', v]), ['content-type', 'application/json']], IRIS_BODY);
        expect({ order, status: r.status, code: r.code }, r.text).toEqual({ order, status: 401, code: 'ERR_UNAUTHENTICATED' });
      }
      expect((await rawRequest(g.url, 'POST', '/v2/models/iris/infer', [['authorization', `Bearer ${k.secret}`]], IRIS_BODY)).status).toBe(200);
    } finally {
      await g.close();
    }
  });
});
