/**
 * Fixtures for the client verifier's tests, built once per test file:
 *   - real gateways in front of real (simulated-TEE) enclaves, in process: gw1 (demo policy) over
 *     an enclave with the demo measurements; gw2 and gw3 (a permissive policy) over an enclave with
 *     measurement seed "other" and over a debug enclave. Their answers, records, key sets and proofs
 *     are what a client gets.
 *   - `mint`: a whole answer minted with keys the test holds (enclave key, gateway key, simulated
 *     attester at a chosen time), for the paths no honest gateway produces: an enclave that lies
 *     about its measurement, collateral that expired before the record's time.
 */
import { randomBytes, randomUUID, generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CompactSign, SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { parse as parseYaml } from 'yaml';
import { reportDataFor } from '../../../../attestation/binding.ts';
import type { TrustAnchor } from '../../../../attestation/common/x509.ts';
import { buildEar } from '../../../../attestation/ear.ts';
import { measurementOf } from '../../../../attestation/measurements.ts';
import { appraise } from '../../../../attestation/policy/appraise.ts';
import { policyDigest } from '../../../../attestation/policy/digest.ts';
import { parsePolicyText, type Policy } from '../../../../attestation/policy/schema.ts';
import { verifyEvidence } from '../../../../attestation/registry.ts';
import { anchorFromPem } from '../../../../attestation/roots/index.ts';
import { generateEnclaveKey, type EnclaveKey } from '../../../../enclave/keys.ts';
import { startEnclave, type RunningEnclave } from '../../../../enclave/main.ts';
import { SIMULATED_ROOT_FILES } from '../../../../enclave/protocol.ts';
import { buildReceipt, signReceipt } from '../../../../enclave/receipt.ts';
import { simulatedRoots } from '../../../../enclave/sim/index.ts';
import { createSimulatedIntelAttester } from '../../../../enclave/sim/intel.ts';
import type { GeneralJws, Jwks, PlainAnswer, ProofBundle } from '../../../../src/client/index.ts';
import { parseConfig } from '../../../../src/config/schema.ts';
import { startGateway, type RunningGateway } from '../../../../src/gateway/server.ts';
import { createLogger } from '../../../../src/obs/log.ts';

export const ROOT = join(import.meta.dirname, '../../../..');
export const DEMO_POLICY_FILE = join(ROOT, 'config/demo-policy.yaml');
export const IRIS_REQUEST = new TextEncoder().encode(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] }));
export const IRIS_MODEL = { name: 'iris', version: '1', sha256: '2f5f6204c560b0e6179267e640c71334940d3f31725d379a1a1b52fa06d57918' };

const b64url = (b: Uint8Array | string): string => Buffer.from(b).toString('base64url');

export interface Answered {
  readonly plain: PlainAnswer;
  readonly nonce: string;
  readonly record: Record<string, unknown>;
  readonly proof: ProofBundle;
}

export interface Site {
  readonly gw: RunningGateway;
  readonly url: string;
  readonly jwks: Jwks;
  readonly logKey: string;
  /** A fresh plain answer (with a nonce), its record and its proof. */
  call(): Promise<Answered>;
  /** A fresh General JSON answer. */
  callJose(): Promise<{ jws: GeneralJws; record: Record<string, unknown>; proof: ProofBundle }>;
}

export interface Fixture {
  readonly enclaveDir: string;
  readonly anchors: readonly TrustAnchor[];
  readonly demoPolicy: Policy;
  /** A policy that accepts the "other" measurement and debug (what gw2 and gw3 run). */
  readonly permissivePolicy: Policy;
  readonly gw1: Site;
  readonly gw2: Site;
  readonly gw3: Site;
  close(): Promise<void>;
}

async function getJson(url: string): Promise<unknown> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`GET ${url}: ${r.status} ${await r.text()}`);
  return r.json();
}

async function site(enclaveDir: string, backendUrl: string, policyFile: string, dirs: string[]): Promise<Site> {
  const dataDir = await mkdtemp(join(tmpdir(), 'attestgate-client-gw-'));
  dirs.push(dataDir);
  for (const f of SIMULATED_ROOT_FILES) {
    await mkdir(dirname(join(dataDir, f)), { recursive: true });
    await copyFile(join(enclaveDir, f), join(dataDir, f));
  }
  const config = parseConfig(
    { listen: { host: '127.0.0.1', port: 0 }, data_dir: dataDir, demo: true, policy: policyFile, trust: { simulated_roots: true }, backends: [{ name: 'e1', url: backendUrl }] },
    { baseDir: ROOT },
  );
  const gw = await startGateway(config, { log: createLogger({ level: 'error', base: {}, sink: () => undefined }) });
  const jwks = (await getJson(`${gw.url}/.well-known/jwks.json`)) as Jwks;
  const logKey = (await (await fetch(`${gw.url}/v1/log/key`)).text()).trim();
  const infer = async (headers: Record<string, string>): Promise<Response> => {
    const r = await fetch(`${gw.url}/v2/models/iris/infer`, { method: 'POST', body: IRIS_REQUEST, headers: { 'content-type': 'application/json', ...headers } });
    if (r.status !== 200) throw new Error(`infer: ${r.status} ${await r.text()}`);
    return r;
  };
  return {
    gw,
    url: gw.url,
    jwks,
    logKey,
    async call() {
      const nonce = b64url(randomBytes(24));
      const r = await infer({ 'attestgate-nonce': nonce });
      const headers: Record<string, string> = {};
      r.headers.forEach((v, k) => {
        headers[k] = v;
      });
      const plain = { headers, body: await r.text() };
      const record = (await getJson(`${gw.url}/v1/attestations/${headers['attestgate-attestation'] ?? ''}`)) as Record<string, unknown>;
      const proof = (await getJson(`${gw.url}/v1/receipts/${headers['attestgate-receipt-id'] ?? ''}/proof`)) as ProofBundle;
      return { plain, nonce, record, proof };
    },
    async callJose() {
      const r = await infer({ accept: 'application/jose+json' });
      const id = r.headers.get('attestgate-attestation') ?? '';
      const rid = r.headers.get('attestgate-receipt-id') ?? '';
      const jws = (await r.json()) as GeneralJws;
      return { jws, record: (await getJson(`${gw.url}/v1/attestations/${id}`)) as Record<string, unknown>, proof: (await getJson(`${gw.url}/v1/receipts/${rid}/proof`)) as ProofBundle };
    },
  };
}

export async function buildFixture(): Promise<Fixture> {
  const dirs: string[] = [];
  const enclaveDir = await mkdtemp(join(tmpdir(), 'attestgate-client-enc-'));
  dirs.push(enclaveDir);
  const anchors = await Promise.all((await simulatedRoots(enclaveDir)).map((pem, i) => anchorFromPem(pem, `simulated root ${i}`, false)));
  const enclaves: RunningEnclave[] = [];
  const start = async (extra: { measurementSeed?: string; simDebug?: boolean }): Promise<RunningEnclave> => {
    const e = await startEnclave(
      { tee: 'sim-tdx', host: '127.0.0.1', port: 0, modelDir: join(ROOT, 'models'), dataDir: enclaveDir, threads: 1, maxBodyBytes: 64 * 1024, simDebug: extra.simDebug ?? false, ...(extra.measurementSeed === undefined ? {} : { measurementSeed: extra.measurementSeed }) },
      () => undefined,
    );
    enclaves.push(e);
    return e;
  };
  const [e1, e2, e3] = await Promise.all([start({}), start({ measurementSeed: 'other' }), start({ simDebug: true })]);

  // The permissive policy pins the "other" enclave's MRTD next to the demo one, and allows debug.
  const demoText = await readFile(DEMO_POLICY_FILE, 'utf8');
  const demoPolicy = parsePolicyText(demoText, 'yaml');
  const demo = parseYaml(demoText) as { reference: { tdx: { mrtd: string } } };
  const probe = await attestOnce(e2.url);
  const otherMrtd = measurementOf('tdx', probe)['mrtd'] ?? '';
  const permissive = {
    version: 1,
    name: 'client-test-permissive',
    tee: ['tdx'],
    allowSimulated: true,
    dangerouslyAllowDebug: true,
    reference: { tdx: { mrtd: [demo.reference.tdx.mrtd, otherMrtd] } },
    models: [IRIS_MODEL],
  };
  const permissiveFile = join(enclaveDir, 'permissive-policy.json');
  await writeFile(permissiveFile, JSON.stringify(permissive));
  const [gw1, gw2, gw3] = await Promise.all([
    site(enclaveDir, e1.url, DEMO_POLICY_FILE, dirs),
    site(enclaveDir, e2.url, permissiveFile, dirs),
    site(enclaveDir, e3.url, permissiveFile, dirs),
  ]);
  return {
    enclaveDir,
    anchors,
    demoPolicy,
    permissivePolicy: parsePolicyText(JSON.stringify(permissive), 'json'),
    gw1,
    gw2,
    gw3,
    async close() {
      await Promise.all([gw1.gw.close(), gw2.gw.close(), gw3.gw.close()]);
      await Promise.all(enclaves.map((e) => e.close()));
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

async function attestOnce(url: string): Promise<Uint8Array> {
  const r = await fetch(`${url}/v1/attest`, { method: 'POST', body: JSON.stringify({ nonce: b64url(randomBytes(32)) }) });
  const body = (await r.json()) as { evidence: string };
  return new Uint8Array(Buffer.from(body.evidence, 'base64'));
}

// ---------------------------------------------------------------------------------------------
// Signing helpers for forged answers

/** A compact JWS over `payload` with `header`, signed by a fresh P-256 key (whatever kid the header claims). */
export function signWithFreshKey(header: Record<string, unknown>, payload: Uint8Array | string): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const input = `${b64url(JSON.stringify({ alg: 'ES256', ...header }))}.${b64url(payload)}`;
  const sig = nodeSign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(sig)}`;
}

export function decodePart(jws: string, i: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(jws.split('.')[i] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// Minted answers

export interface MintOptions {
  readonly enclaveDir: string;
  readonly anchors: readonly TrustAnchor[];
  readonly policy: Policy;
  /** When the simulated TEE produced the evidence and its collateral. */
  readonly evidenceAt: Date;
  /** The record's created_at (default evidenceAt). */
  readonly recordAt?: Date;
  /** The receipt's signing time (default recordAt + 1 s). */
  readonly receiptAt?: Date;
  /** Sign a receipt whose measurement is not the evidence's. */
  readonly lieAboutMeasurement?: boolean;
}

export interface Minted {
  readonly answer: PlainAnswer;
  readonly record: Record<string, unknown>;
  readonly jwks: Jwks;
  readonly enclaveKey: EnclaveKey;
  readonly gateway: { readonly kid: string; sign(header: Record<string, unknown>, payload: Uint8Array | string): Promise<string> };
}

export async function mint(o: MintOptions): Promise<Minted> {
  const key = await generateEnclaveKey();
  const models = [IRIS_MODEL];
  const nonce = new Uint8Array(randomBytes(32));
  const attester = createSimulatedIntelAttester('tdx', { dataDir: o.enclaveDir, now: () => o.evidenceAt });
  const ev = await attester.attest({ reportData: await reportDataFor({ nonce, jwk: key.jwk, models }), nonce });
  const collateral = ev.collateral.map((c) => ({ name: c.name, bytes: c.bytes }));
  const result = await verifyEvidence({ tee: 'tdx', evidence: ev.evidence, collateral }, { at: o.evidenceAt, trustAnchors: o.anchors, allowDebug: true });
  const appraisal = appraise(result, o.policy, { at: o.evidenceAt, models });
  const digest = await policyDigest(o.policy);
  const evidenceSha = new Uint8Array(await crypto.subtle.digest('SHA-256', ev.evidence));
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const pub: JWK = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(pub, 'sha256');
  const gatewayJwk = { ...pub, kid, alg: 'ES256', use: 'sig' };
  const ear = buildEar({ result, appraisal, policy: { name: o.policy.name, digest }, evidenceSha256: evidenceSha, at: o.evidenceAt, build: 'client-test', nonce, expiresAt: new Date(o.evidenceAt.getTime() + 3_600_000) });
  const earJwt = await new SignJWT({ ...ear }).setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' }).sign(privateKey);

  const recordAt = o.recordAt ?? o.evidenceAt;
  const record = {
    id: randomUUID(),
    backend: 'minted',
    created_at: recordAt.toISOString(),
    expires_at: new Date(recordAt.getTime() + 3_600_000).toISOString(),
    admitted: true,
    status: appraisal.status,
    reasons: [],
    nonce: b64url(nonce),
    tee: 'tdx',
    simulated: true,
    key: key.jwk,
    models,
    policy_digest: digest,
    evidence_sha256: hex(evidenceSha),
    evidence: Buffer.from(ev.evidence).toString('base64'),
    collateral: await Promise.all(
      collateral.map(async (c) => ({ name: c.name, sha256: hex(new Uint8Array(await crypto.subtle.digest('SHA-256', c.bytes))), data: Buffer.from(c.bytes).toString('base64') })),
    ),
    checks: appraisal.checks,
    result,
    ear: earJwt,
  };
  const measurement = { ...measurementOf('tdx', ev.evidence) };
  if (o.lieAboutMeasurement === true) measurement['mrtd'] = 'ab'.repeat(48);
  const body = '{"model_name":"iris","model_version":"1","outputs":[{"name":"label","datatype":"INT64","shape":[1],"data":[0]}]}';
  const receipt = buildReceipt(key, {
    request: IRIS_REQUEST,
    response: new TextEncoder().encode(body),
    model: IRIS_MODEL,
    runtime: { name: 'onnxruntime-node', version: 'test' },
    tee: 'tdx',
    simulated: true,
    measurement,
    evidenceSha256: hex(evidenceSha),
    now: o.receiptAt ?? new Date(recordAt.getTime() + 1000),
  });
  const receiptJws = signReceipt(key, receipt);
  const sign = (header: Record<string, unknown>, payload: Uint8Array | string): Promise<string> =>
    new CompactSign(typeof payload === 'string' ? new TextEncoder().encode(payload) : payload).setProtectedHeader({ alg: 'ES256', kid, ...header }).sign(privateKey);
  const countersignature = await sign(
    { typ: 'attestgate-countersignature+jws' },
    JSON.stringify({
      typ: 'attestgate-countersignature/v1',
      receipt_sha256: hex(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(receiptJws)))),
      receipt_id: receipt.id,
      attestation_id: record.id,
      backend: record.backend,
      iat: receipt.iat,
    }),
  );
  return {
    answer: {
      headers: { 'attestgate-receipt': receiptJws, 'attestgate-countersignature': countersignature, 'attestgate-receipt-id': receipt.id, 'attestgate-attestation': record.id },
      body,
    },
    record,
    jwks: { keys: [gatewayJwk as unknown as Jwks['keys'][number]] },
    enclaveKey: key,
    gateway: { kid, sign },
  };
}
