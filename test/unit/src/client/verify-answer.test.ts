/**
 * The client verifier against real gateways (in process, simulated TEE): the happy path of both
 * answer formats, offline and online; then each step's failure, asserting the step, its code, and
 * what the report says about the steps after it. Paths no honest gateway takes (an enclave lying
 * about its measurement, collateral expired at the record's time) use answers minted with keys the
 * test holds (fixture.ts `mint`).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEnclaveKey } from '../../../../enclave/keys.ts';
import { main } from '../../../../src/cli/main.ts';
import { anchorsFor, anchorsKey } from '../../../../src/client/anchors.ts';
import { parsePolicyText } from '../../../../attestation/policy/schema.ts';
import {
  STEP_NAMES,
  createAnswerCache,
  fetchBundle,
  parseAttestationRecord,
  parseJwks,
  parseProofBundle,
  verifyAnswer,
  type GeneralJws,
  type PlainAnswer,
  type Report,
  type StepName,
  type VerifyAnswerInput,
} from '../../../../src/client/index.ts';
import { buildFixture, decodePart, IRIS_REQUEST, mint, ROOT as ROOT_DIR, signWithFreshKey, type Answered, type Fixture } from './fixture.ts';

let fx: Fixture;
let a1: Answered;

beforeAll(async () => {
  fx = await buildFixture();
  a1 = await fx.gw1.call();
}, 120_000);

afterAll(async () => {
  await fx.close();
});

function step(r: Report, name: StepName): Report['steps'][number] {
  const s = r.steps.find((x) => x.name === name);
  if (s === undefined) throw new Error(`no step ${name}`);
  return s;
}

/** Statuses of all steps, for compact assertions. */
function statuses(r: Report): Record<string, string> {
  return Object.fromEntries(r.steps.map((s) => [s.name, s.status]));
}

/** The offline inputs for a plain answer of gw1 (everything from the bundle, log key pinned). */
function offline(a: Answered, extra: Partial<VerifyAnswerInput> = {}): VerifyAnswerInput {
  return {
    answer: a.plain,
    request: IRIS_REQUEST,
    nonce: a.nonce,
    policy: fx.demoPolicy,
    attestation: parseAttestationRecord(a.record),
    gatewayJwks: parseJwks(fx.gw1.jwks),
    proof: parseProofBundle(a.proof),
    trustedLogKey: fx.gw1.logKey,
    trustAnchors: fx.anchors,
    allowSimulated: true,
    ...extra,
  };
}

/** The input without some members (exactOptionalPropertyTypes: absent, not undefined). */
function omit(i: VerifyAnswerInput, ...keys: (keyof VerifyAnswerInput)[]): VerifyAnswerInput {
  return Object.fromEntries(Object.entries(i).filter(([k]) => !(keys as string[]).includes(k))) as unknown as VerifyAnswerInput;
}

function withHeaders(a: PlainAnswer, h: Record<string, string>): PlainAnswer {
  return { headers: { ...a.headers, ...h }, body: a.body };
}

function expectFailed(r: Report, name: StepName, code: string, detail?: string | RegExp): void {
  const s = step(r, name);
  expect(s, JSON.stringify(r.steps, null, 1)).toMatchObject({ status: 'failed', ok: false, code });
  if (detail !== undefined) expect(s.detail).toMatch(detail);
  expect(r.ok).toBe(false);
}

describe('happy paths', () => {
  it('plain answer, offline bundle, policy, pinned log key: every step passes', async () => {
    const r = await verifyAnswer(offline(a1));
    expect(r.steps.map((s) => s.name)).toEqual([...STEP_NAMES]);
    expect(statuses(r)).toEqual(Object.fromEntries(STEP_NAMES.map((n) => [n, 'passed'])));
    expect(r.ok).toBe(true);
    expect(r.simulated).toBe(true);
    expect(r.receipt?.nonce).toBe(a1.nonce);
    expect(new TextDecoder().decode(r.response)).toBe(a1.plain.body);
    expect(step(r, 'log_inclusion').detail).toMatch(/pinned/);
    expect(step(r, 'policy').detail).toMatch(/attestgate-demo.*warning.*simulated/);
  });

  it('General JSON answer, offline: every step passes (log via the proof bundle\'s compact receipt)', async () => {
    const j = await fx.gw1.callJose();
    const r = await verifyAnswer(omit({ ...offline(a1), answer: j.jws, attestation: parseAttestationRecord(j.record), proof: parseProofBundle(j.proof) }, 'nonce'));
    expect(statuses(r)).toEqual({ ...Object.fromEntries(STEP_NAMES.map((n) => [n, 'passed'])), nonce: 'not_checked' });
    expect(r.ok).toBe(true);
    expect(JSON.parse(new TextDecoder().decode(r.response)) as unknown).toMatchObject({ model_name: 'iris' });
  });

  it('online: the record, key set, proof and log key (trust on first use) are fetched from the gateway', async () => {
    const cache = createAnswerCache();
    const r = await verifyAnswer({ answer: a1.plain, request: IRIS_REQUEST, nonce: a1.nonce, gateway: fx.gw1.url, trustAnchors: fx.anchors, allowSimulated: true, cache });
    expect(r.ok, JSON.stringify(r.steps, null, 1)).toBe(true);
    expect(step(r, 'attestation_record').detail).toMatch(/fetched from/);
    expect(step(r, 'log_inclusion').detail).toMatch(/trusted on first use/);
    // No policy given: the gateway's published policy is fetched, checked against the record's
    // policy digest, and applied, and the report says whose policy it was.
    expect(r.policySource).toBe('gateway');
    expect(step(r, 'policy').detail).toMatch(/attestgate-demo \(the gateway's own\).*appraised against the policy the gateway publishes/);
    expect(cache.stats.fetches).toBe(5); // record, policy, JWKS, proof, log key
  });

  it('online without a policy: a gateway whose published policy is not the one its record names fails the policy step', async () => {
    const other: unknown = await (await fetch(`${fx.gw2.url}/v1/policy`)).json(); // gw2 runs the permissive policy
    const swap: typeof fetch = async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (url.endsWith('/v1/policy')) return new Response(JSON.stringify(other));
      return fetch(input, init);
    };
    const r = await verifyAnswer({ answer: a1.plain, gateway: fx.gw1.url, trustAnchors: fx.anchors, allowSimulated: true, fetch: swap });
    expectFailed(r, 'policy', 'ERR_POLICY_MISMATCH', /record was appraised under/);
  });

  it('without a policy: policy is not checked, and says the evidence was checked to the vendor root only', async () => {
    const r = await verifyAnswer(omit(offline(a1), 'policy'));
    expect(step(r, 'policy')).toMatchObject({ status: 'not_checked', ok: true, detail: 'not given — evidence checked to the vendor root only' });
    expect(r.ok).toBe(true);
  });

  it('never throws: garbage is an answer_format failure, and every other step is listed as skipped', async () => {
    const r = await verifyAnswer({ answer: { nonsense: true } as unknown as PlainAnswer });
    expectFailed(r, 'answer_format', 'ERR_ANSWER_MALFORMED');
    expect(r.steps).toHaveLength(STEP_NAMES.length);
    expect(r.steps.slice(1).every((s) => s.status === 'skipped' && !s.ok)).toBe(true);
  });

  it('no record and no gateway: attestation_record fails, the rest is skipped', async () => {
    const r = await verifyAnswer({ answer: a1.plain });
    expectFailed(r, 'attestation_record', 'ERR_RECORD_UNAVAILABLE');
    expect(step(r, 'enclave_signature').status).toBe('skipped');
  });
});

describe('simulated evidence', () => {
  it('is refused without allowSimulated, and the report still says simulated', async () => {
    const r = await verifyAnswer(offline(a1, { allowSimulated: false }));
    expectFailed(r, 'attestation_evidence', 'ERR_SIMULATED_REFUSED', /SIMULATED/);
    expect(r.simulated).toBe(true);
    for (const n of ['key_binding', 'measurement', 'policy'] as const) expect(step(r, n).status).toBe('skipped');
    // What does not depend on the evidence still ran.
    expect(step(r, 'countersignature').status).toBe('passed');
  });

  it('does not chain to the vendor roots alone (and the detail says how to pass the simulated root)', async () => {
    const r = await verifyAnswer(offline(a1, { trustAnchors: [] }));
    expectFailed(r, 'attestation_evidence', 'ERR_CHAIN_UNTRUSTED', /sim-pki\/intel\/root\.pem/);
  });
});

describe('each step fails', () => {
  it('response_digest: tampered output', async () => {
    const body = String(a1.plain.body).replace('"data":[0]', '"data":[2]');
    expect(body).not.toBe(a1.plain.body);
    const r = await verifyAnswer(offline(a1, { answer: { headers: a1.plain.headers, body } }));
    expectFailed(r, 'response_digest', 'ERR_DIGEST_MISMATCH', /response_sha256/);
    expect(step(r, 'countersignature').status).toBe('passed');
  });

  it('enclave_signature: tampered General JSON payload', async () => {
    const j = await fx.gw1.callJose();
    const text = Buffer.from(j.jws.payload, 'base64url').toString('utf8').replace('"data":[0]', '"data":[2]');
    const jws: GeneralJws = { ...j.jws, payload: Buffer.from(text).toString('base64url') };
    const r = await verifyAnswer({ ...offline(a1), answer: jws, attestation: parseAttestationRecord(j.record), proof: parseProofBundle(j.proof) });
    expectFailed(r, 'enclave_signature', 'ERR_SIGNATURE_INVALID');
    expect(step(r, 'response_digest').status).toBe('skipped');
  });

  it('request_digest: another request', async () => {
    const r = await verifyAnswer(offline(a1, { request: new TextEncoder().encode('{"inputs":[]}') }));
    expectFailed(r, 'request_digest', 'ERR_DIGEST_MISMATCH', /request_sha256/);
  });

  it('nonce: the receipt does not carry the nonce sent', async () => {
    const r = await verifyAnswer(offline(a1, { nonce: 'AAAAAAAAAAAAAAAAAAAAAAAA' }));
    expectFailed(r, 'nonce', 'ERR_NONCE_MISMATCH');
  });

  it('enclave_signature: a receipt re-signed by another enclave key', async () => {
    const other = await generateEnclaveKey();
    const receipt = a1.plain.headers['attestgate-receipt'] ?? '';
    const claims = { ...decodePart(receipt, 1), kid: other.kid };
    const forged = other.signCompact(new TextEncoder().encode(JSON.stringify(claims)), { typ: 'attestgate-receipt+jws' });
    const r = await verifyAnswer(offline(a1, { answer: withHeaders(a1.plain, { 'attestgate-receipt': forged }) }));
    expectFailed(r, 'enclave_signature', 'ERR_WRONG_KEY', /not by the attested enclave key/);
    for (const n of STEP_NAMES.slice(3)) expect(step(r, n).status).toBe('skipped');
  });

  it('enclave_signature: another key that claims the attested kid', async () => {
    const receipt = a1.plain.headers['attestgate-receipt'] ?? '';
    const forged = signWithFreshKey(decodePart(receipt, 0), Buffer.from(receipt.split('.')[1] ?? '', 'base64url'));
    const r = await verifyAnswer(offline(a1, { answer: withHeaders(a1.plain, { 'attestgate-receipt': forged }) }));
    expectFailed(r, 'enclave_signature', 'ERR_SIGNATURE_INVALID');
  });

  it('enclave_signature: alg none is refused before any crypto', async () => {
    const receipt = a1.plain.headers['attestgate-receipt'] ?? '';
    const [, payload] = receipt.split('.');
    const none = `${Buffer.from(JSON.stringify({ ...decodePart(receipt, 0), alg: 'none' })).toString('base64url')}.${payload ?? ''}.AA`;
    const r = await verifyAnswer(offline(a1, { answer: withHeaders(a1.plain, { 'attestgate-receipt': none }) }));
    expectFailed(r, 'enclave_signature', 'ERR_ANSWER_MALFORMED', /only ES256/);
  });

  it('attestation_record: the record of another attestation', async () => {
    const other = await fx.gw2.call();
    const r = await verifyAnswer(offline(a1, { attestation: parseAttestationRecord(other.record) }));
    expectFailed(r, 'attestation_record', 'ERR_RECORD_MISMATCH');
    // Without the attestation header the record is tried, and the enclave key decides.
    const h = { ...a1.plain.headers };
    delete h['attestgate-attestation'];
    const r2 = await verifyAnswer(offline(a1, { answer: { headers: h, body: a1.plain.body }, attestation: parseAttestationRecord(other.record) }));
    expectFailed(r2, 'enclave_signature', 'ERR_WRONG_KEY');
  });

  it('attestation_record: a malformed record', async () => {
    const broken = { ...a1.record, key: { kty: 'EC', crv: 'P-256', x: 'short', y: 'short', kid: 'x' } };
    const r = await verifyAnswer({ ...offline(a1), attestation: broken as unknown as NonNullable<VerifyAnswerInput['attestation']> });
    expectFailed(r, 'attestation_record', 'ERR_RECORD_MALFORMED', /key\.x is not a base64url P-256 coordinate/);
  });

  it('policy (and only policy): evidence of another measurement', async () => {
    const a = await fx.gw2.call();
    const base = { ...offline(a), gatewayJwks: parseJwks(fx.gw2.jwks), trustedLogKey: fx.gw2.logKey };
    const r = await verifyAnswer(base);
    expectFailed(r, 'policy', 'ERR_POLICY_MISMATCH', /mrtd is [0-9a-f]{96}, want/);
    expect(r.steps.filter((s) => s.status !== 'passed').map((s) => s.name)).toEqual(['policy']);
    // The evidence itself is authentic: without a policy nothing pins the measurement.
    const r2 = await verifyAnswer(omit(base, 'policy'));
    expect(r2.ok).toBe(true);
    // And under the policy the gateway used, it passes.
    const r3 = await verifyAnswer({ ...base, policy: fx.permissivePolicy });
    expect(r3.ok).toBe(true);
  });

  it('policy: a debug enclave is refused by the policy; without a policy the evidence step refuses it', async () => {
    const a = await fx.gw3.call();
    const base = { ...offline(a), gatewayJwks: parseJwks(fx.gw3.jwks), trustedLogKey: fx.gw3.logKey };
    const r = await verifyAnswer(base);
    expectFailed(r, 'policy', 'ERR_POLICY_MISMATCH', /debug is true, want false/);
    expect(step(r, 'attestation_evidence').detail).toMatch(/DEBUG/);
    const r2 = await verifyAnswer(omit(base, 'policy'));
    expectFailed(r2, 'attestation_evidence', 'ERR_DEBUG_REFUSED');
  });

  it('model_digest: a policy that lists another model digest', async () => {
    const text = JSON.stringify({ version: 1, name: 'other-model', tee: ['tdx'], allowSimulated: true, reference: { tdx: { mrtd: 'ab'.repeat(48) } }, models: [{ name: 'iris', version: '1', sha256: 'cd'.repeat(32) }] });
    const r = await verifyAnswer(offline(a1, { policy: parsePolicyText(text, 'json') }));
    expectFailed(r, 'model_digest', 'ERR_MODEL_MISMATCH', /not one the policy lists/);
    expectFailed(r, 'policy', 'ERR_POLICY_MISMATCH', /models\.iris@1/);
  });

  it('attestation_evidence: collateral not yet issued at the record\'s time (created_at edited back)', async () => {
    const cache = createAnswerCache();
    const good = await verifyAnswer(offline(a1, { cache }));
    expect(good.ok).toBe(true);
    const edited = { ...a1.record, created_at: '2001-01-01T00:00:00.000Z' };
    const r = await verifyAnswer(offline(a1, { cache, attestation: parseAttestationRecord(edited) }));
    expectFailed(r, 'attestation_evidence', 'ERR_CERT_NOT_VALID_AT_TIME');
    // The cached verdict of the original record did not leak into the edited one.
    expect(cache.stats.evidenceVerifications).toBe(2);
  });

  it('attestation_evidence: collateral expired at the record\'s time (minted: the record dated 40 days after the collateral was issued)', async () => {
    const now = Date.now();
    const m = await mint({ enclaveDir: fx.enclaveDir, anchors: fx.anchors, policy: fx.demoPolicy, evidenceAt: new Date(now), recordAt: new Date(now + 40 * 86_400_000) });
    const r = await verifyAnswer({ answer: m.answer, request: IRIS_REQUEST, attestation: parseAttestationRecord(m.record), gatewayJwks: parseJwks(m.jwks), trustAnchors: fx.anchors, allowSimulated: true });
    expectFailed(r, 'attestation_evidence', 'ERR_COLLATERAL_STALE');
    expect(step(r, 'enclave_signature').status).toBe('passed');
  });

  it('a minted answer with everything in order passes (the mint is sound)', async () => {
    const m = await mint({ enclaveDir: fx.enclaveDir, anchors: fx.anchors, policy: fx.demoPolicy, evidenceAt: new Date() });
    const r = await verifyAnswer({ answer: m.answer, request: IRIS_REQUEST, policy: fx.demoPolicy, attestation: parseAttestationRecord(m.record), gatewayJwks: parseJwks(m.jwks), trustAnchors: fx.anchors, allowSimulated: true });
    expect(statuses(r)).toEqual({ ...Object.fromEntries(STEP_NAMES.map((n) => [n, 'passed'])), nonce: 'not_checked', log_inclusion: 'not_checked' });
  });

  it('measurement: an enclave whose receipt states another measurement than its evidence', async () => {
    const m = await mint({ enclaveDir: fx.enclaveDir, anchors: fx.anchors, policy: fx.demoPolicy, evidenceAt: new Date(), lieAboutMeasurement: true });
    const r = await verifyAnswer({ answer: m.answer, request: IRIS_REQUEST, policy: fx.demoPolicy, attestation: parseAttestationRecord(m.record), gatewayJwks: parseJwks(m.jwks), trustAnchors: fx.anchors, allowSimulated: true });
    expectFailed(r, 'measurement', 'ERR_MEASUREMENT_MISMATCH', /receipt measurement mrtd is (ab){48}/);
    expect(r.steps.filter((s) => s.status === 'failed').map((s) => s.name)).toEqual(['measurement']);
  });

  it('key_binding: a record whose nonce is not the one the evidence binds', async () => {
    const edited = { ...a1.record, nonce: Buffer.alloc(32, 7).toString('base64url') };
    const r = await verifyAnswer(offline(a1, { attestation: parseAttestationRecord(edited) }));
    expectFailed(r, 'key_binding', 'ERR_REPORT_DATA_MISMATCH');
    expect(step(r, 'measurement').status).toBe('skipped');
    expectFailed(r, 'ear', 'ERR_EAR_INVALID', /eat_nonce/);
  });

  it('ear: the EAR of another gateway', async () => {
    const other = await fx.gw2.call();
    const edited = { ...a1.record, ear: other.record['ear'] };
    const r = await verifyAnswer(offline(a1, { attestation: parseAttestationRecord(edited) }));
    expectFailed(r, 'ear', 'ERR_WRONG_KEY', /does not list/);
    // The countersignature's key is checked against the EAR's, so it fails too.
    expectFailed(r, 'countersignature', 'ERR_WRONG_KEY', /signed the EAR with/);
  });

  it('ear and countersignature: no gateway key set', async () => {
    const r = await verifyAnswer(omit(offline(a1), 'gatewayJwks'));
    expectFailed(r, 'ear', 'ERR_JWKS_UNAVAILABLE');
    expectFailed(r, 'countersignature', 'ERR_JWKS_UNAVAILABLE');
  });

  it('countersignature: signed by an unknown key', async () => {
    const cs = a1.plain.headers['attestgate-countersignature'] ?? '';
    const header = decodePart(cs, 0);
    const payload = Buffer.from(cs.split('.')[1] ?? '', 'base64url');
    // A key of its own (its own kid): not the gateway's.
    const own = signWithFreshKey({ ...header, kid: 'an-unknown-key' }, payload);
    const r = await verifyAnswer(offline(a1, { answer: withHeaders(a1.plain, { 'attestgate-countersignature': own }) }));
    expectFailed(r, 'countersignature', 'ERR_WRONG_KEY');
    // Another key claiming the gateway's kid.
    const claimed = signWithFreshKey(header, payload);
    const r2 = await verifyAnswer(offline(a1, { answer: withHeaders(a1.plain, { 'attestgate-countersignature': claimed }) }));
    expectFailed(r2, 'countersignature', 'ERR_SIGNATURE_INVALID');
    expect(r2.steps.filter((s) => s.status === 'failed').map((s) => s.name)).toEqual(['countersignature']);
  });

  it('countersignature: a genuine countersignature of another receipt', async () => {
    const a2 = await fx.gw1.call();
    const r = await verifyAnswer(offline(a1, { answer: withHeaders(a1.plain, { 'attestgate-countersignature': a2.plain.headers['attestgate-countersignature'] ?? '' }) }));
    expectFailed(r, 'countersignature', 'ERR_COUNTERSIGNATURE_MISMATCH', /receipt_sha256/);
  });

  it('countersignature: by the enclave key (minted) is refused as not the gateway\'s', async () => {
    const m = await mint({ enclaveDir: fx.enclaveDir, anchors: fx.anchors, policy: fx.demoPolicy, evidenceAt: new Date() });
    const cs = m.answer.headers['attestgate-countersignature'] ?? '';
    const byEnclave = m.enclaveKey.signCompact(Buffer.from(cs.split('.')[1] ?? '', 'base64url'), { typ: 'attestgate-countersignature+jws' });
    const jwks = parseJwks({ keys: [...m.jwks.keys, m.enclaveKey.jwk] });
    const r = await verifyAnswer({ answer: withHeaders(m.answer, { 'attestgate-countersignature': byEnclave }), attestation: parseAttestationRecord(m.record), gatewayJwks: jwks, trustAnchors: fx.anchors, allowSimulated: true });
    expectFailed(r, 'countersignature', 'ERR_WRONG_KEY');
  });

  it('log_inclusion: a proof against the wrong checkpoint', async () => {
    // A later checkpoint of the same log (the log grew since the proof was made).
    await fx.gw1.call();
    const later = await (await fetch(`${fx.gw1.url}/v1/log/checkpoint`)).text();
    const p = parseProofBundle(a1.proof);
    const r = await verifyAnswer(offline(a1, { proof: { ...p, log: { ...p.log, checkpoint: later } } }));
    expectFailed(r, 'log_inclusion', 'ERR_LOG_BAD_PROOF', /tree size/);
    // The same, with the size adjusted to the checkpoint's: the path no longer leads to its root.
    const size = Number(later.split('\n')[1]);
    const r2 = await verifyAnswer(offline(a1, { proof: { ...p, log: { ...p.log, checkpoint: later, tree_size: size } } }));
    expectFailed(r2, 'log_inclusion', 'ERR_LOG_BAD_PROOF');
    // A checkpoint of another log (another key): no trusted signature.
    const foreign = await (await fetch(`${fx.gw2.url}/v1/log/checkpoint`)).text();
    const r3 = await verifyAnswer(offline(a1, { proof: { ...p, log: { ...p.log, checkpoint: foreign } } }));
    expectFailed(r3, 'log_inclusion', 'ERR_CHECKPOINT_SIGNATURE');
  });

  it('log_inclusion: a leaf in another encoding of the same entry', async () => {
    const p = parseProofBundle(a1.proof);
    const text = Buffer.from(p.log.leaf, 'base64').toString('utf8');
    const spaced = Buffer.from(JSON.stringify(JSON.parse(text) as unknown, null, 1)).toString('base64');
    const r = await verifyAnswer(offline(a1, { proof: { ...p, log: { ...p.log, leaf: spaced } } }));
    expectFailed(r, 'log_inclusion', 'ERR_LOG_ENTRY_MISMATCH', /canonical/);
    const notJson = await verifyAnswer(offline(a1, { proof: { ...p, log: { ...p.log, leaf: Buffer.from('nope').toString('base64') } } }));
    expectFailed(notJson, 'log_inclusion', 'ERR_LOG_ENTRY_MISMATCH', /not JSON/);
  });

  it('log_inclusion: the proof of another receipt', async () => {
    const a2 = await fx.gw1.call();
    const p2 = parseProofBundle(a2.proof);
    const p1 = parseProofBundle(a1.proof);
    const r = await verifyAnswer(offline(a1, { proof: { ...p2, receipt: p1.receipt } }));
    expectFailed(r, 'log_inclusion', 'ERR_LOG_ENTRY_MISMATCH');
  });

  it('log_inclusion: a log key that changed since first use', async () => {
    const cache = createAnswerCache();
    let calls = 0;
    const tofu: typeof fetch = async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (url.endsWith('/v1/log/key') && calls++ > 0) return new Response(`${fx.gw2.logKey}\n`);
      return fetch(input, init);
    };
    const base = { answer: a1.plain, gateway: fx.gw1.url, trustAnchors: fx.anchors, allowSimulated: true, cache, fetch: tofu };
    expect((await verifyAnswer(base)).ok).toBe(true);
    cache.forget(`logkey|${fx.gw1.url}`);
    const r = await verifyAnswer(base);
    expectFailed(r, 'log_inclusion', 'ERR_LOG_KEY_CHANGED');
  });
});

describe('the attestation cache', () => {
  it('verifies a record\'s evidence once: later answers cost their signatures only', async () => {
    const cache = createAnswerCache();
    const answers = [a1, await fx.gw1.call(), await fx.gw1.call()];
    for (const a of answers) {
      const r = await verifyAnswer(offline(a, { cache }));
      expect(r.ok).toBe(true);
    }
    const j = await fx.gw1.callJose();
    expect((await verifyAnswer(omit({ ...offline(a1, { cache }), answer: j.jws, attestation: parseAttestationRecord(j.record), proof: parseProofBundle(j.proof) }, 'nonce'))).ok).toBe(true);
    expect(cache.stats.evidenceVerifications).toBe(1);
    expect(cache.stats.evidenceHits).toBe(3);
  });

  it('online, the record is fetched once per attestation', async () => {
    const cache = createAnswerCache();
    const input = { gateway: fx.gw1.url, trustAnchors: fx.anchors, allowSimulated: true, cache };
    expect((await verifyAnswer({ ...input, answer: a1.plain })).ok).toBe(true);
    const after1 = cache.stats.fetches;
    expect((await verifyAnswer({ ...input, answer: (await fx.gw1.call()).plain })).ok).toBe(true);
    // Only the new receipt's proof is fetched (record, key set and log key are cached).
    expect(cache.stats.fetches - after1).toBe(1);
    expect(cache.stats.evidenceVerifications).toBe(1);
  });
});

describe('fetching from the gateway', () => {
  it('an attestation the gateway does not have, a malformed id, a bad URL, a gateway that is down', async () => {
    const unknown = withHeaders(a1.plain, { 'attestgate-attestation': '00000000-0000-4000-8000-000000000000' });
    const r = await verifyAnswer({ answer: unknown, gateway: fx.gw1.url });
    expectFailed(r, 'attestation_record', 'ERR_RECORD_UNAVAILABLE', /HTTP 404/);
    const bad = await verifyAnswer({ answer: withHeaders(a1.plain, { 'attestgate-attestation': '../../etc' }), gateway: fx.gw1.url });
    expectFailed(bad, 'attestation_record', 'ERR_RECORD_MISMATCH', /not a UUID/);
    expectFailed(await verifyAnswer({ answer: a1.plain, gateway: 'file:///etc' }), 'attestation_record', 'ERR_RECORD_UNAVAILABLE', /http\(s\)/);
    const down = await verifyAnswer({ answer: a1.plain, gateway: 'http://127.0.0.1:9', fetch: () => Promise.reject(new Error('connection refused')) });
    expectFailed(down, 'attestation_record', 'ERR_RECORD_UNAVAILABLE', /connection refused/);
    const notJson = await verifyAnswer({ answer: a1.plain, gateway: fx.gw1.url, fetch: () => Promise.resolve(new Response('<html>')) });
    expectFailed(notJson, 'attestation_record', 'ERR_RECORD_UNAVAILABLE', /did not answer JSON/);
  });

  it('a receipt the log does not have: log_inclusion fails', async () => {
    const proxy: typeof fetch = (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      return url.includes('/proof') ? Promise.resolve(new Response('{"error":{}}', { status: 404 })) : fetch(input, init);
    };
    const r = await verifyAnswer({ answer: a1.plain, gateway: fx.gw1.url, trustAnchors: fx.anchors, allowSimulated: true, fetch: proxy });
    expectFailed(r, 'log_inclusion', 'ERR_LOG_UNAVAILABLE', /HTTP 404/);
  });

  it('fetchBundle saves what offline verification needs, for both answer formats', async () => {
    const b = await fetchBundle(fx.gw1.url, a1.plain);
    expect(b.proof?.receipt.id).toBe(a1.plain.headers['attestgate-receipt-id']);
    const r = await verifyAnswer({ answer: a1.plain, attestation: b.attestation, gatewayJwks: b.jwks, ...(b.proof === undefined ? {} : { proof: b.proof }), trustAnchors: fx.anchors, allowSimulated: true });
    expect(r.ok).toBe(true);
    const j = await fx.gw1.callJose();
    const bj = await fetchBundle(fx.gw1.url, j.jws);
    const rj = await verifyAnswer({ answer: j.jws, attestation: bj.attestation, gatewayJwks: bj.jwks, ...(bj.proof === undefined ? {} : { proof: bj.proof }), trustAnchors: fx.anchors, allowSimulated: true });
    expect(statuses(rj)['log_inclusion']).toBe('passed');
    await expect(fetchBundle('nope', a1.plain)).rejects.toMatchObject({ code: 'ERR_RECORD_UNAVAILABLE' });
    // Without the receipt-id header the id is read from the receipt itself.
    const h = { ...a1.plain.headers };
    delete h['attestgate-receipt-id'];
    expect((await fetchBundle(fx.gw1.url, { headers: h, body: a1.plain.body })).proof?.receipt.id).toBe(a1.plain.headers['attestgate-receipt-id']);
  });
});

describe('anchors', () => {
  it('adds the caller\'s anchors to every TEE\'s pinned vendor roots', async () => {
    expect(await anchorsFor('tdx', undefined)).toBeUndefined();
    const extra = fx.anchors.slice(0, 1);
    expect((await anchorsFor('sev-snp', extra))?.map((a) => a.pinned)).toEqual([true, true, true, false]);
    expect((await anchorsFor('nitro', extra))?.map((a) => a.name)).toEqual(['AWS Nitro Enclaves Root G1', extra[0]?.name]);
    expect(anchorsKey(extra)).toBe(extra[0]?.sha256);
  });
});

describe('the commands, in process', () => {
  const run = async (...args: string[]): Promise<{ status: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const status = await main(args, { out: (s) => (out += s), err: (s) => (err += s) });
    return { status, out, err };
  };

  it('call, then verify the saved answer online and offline', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'attestgate-client-cli-'));
    const root = join(fx.enclaveDir, 'sim-pki/intel/root.pem');
    const req = join(dir, 'req.json');
    await writeFile(req, IRIS_REQUEST);
    try {
      const called = await run('call', 'iris', '--input', req, '--gateway', fx.gw1.url, '--allow-simulated', '--trust-root', root, '--out', join(dir, 'a.json'));
      expect(called.status, called.out + called.err).toBe(0);
      expect(called.out).toMatch(/label INT64 \[1\] = \[0\]/);
      const saved = await run('verify', join(dir, 'a.json'), '--gateway', fx.gw1.url, '--allow-simulated', '--trust-root', root, '--request', req, '--save-bundle', join(dir, 'b.json'));
      expect(saved.status, saved.out + saved.err).toBe(0);
      const offline = await run('verify', join(dir, 'a.json'), '--bundle', join(dir, 'b.json'), '--allow-simulated', '--trust-root', root, '--policy', join(ROOT_DIR, 'config/demo-policy.yaml'), '--log-key', fx.gw1.logKey, '--json');
      expect(offline.status, offline.out + offline.err).toBe(0);
      expect(JSON.parse(offline.out)).toMatchObject({ ok: true, simulated: true, policy_given: true });
      const jose = await run('call', 'iris', '--input', req, '--gateway', fx.gw1.url, '--allow-simulated', '--trust-root', root, '--jose', '--json');
      expect(jose.status, jose.out + jose.err).toBe(0);
      const refused = await run('call', 'nosuchmodel', '--input', req, '--gateway', fx.gw1.url);
      expect(refused.status).toBe(1);
      expect(refused.err).toMatch(/HTTP 503/);
      await writeFile(join(dir, 'bad-policy.yaml'), 'version: 2\n');
      expect((await run('verify', join(dir, 'a.json'), '--gateway', fx.gw1.url, '--policy', join(dir, 'bad-policy.yaml'))).status).toBe(2);
      await writeFile(join(dir, 'bad-root.pem'), 'not a pem');
      expect((await run('verify', join(dir, 'a.json'), '--gateway', fx.gw1.url, '--trust-root', join(dir, 'bad-root.pem'))).status).toBe(2);
      expect((await run('verify', join(dir, 'a.json'), '--gateway', fx.gw1.url, '--no-such-flag')).status).toBe(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
