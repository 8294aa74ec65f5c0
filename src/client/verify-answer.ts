/**
 * The client verifier: one call, offline or against a gateway, step by step (docs/client.md).
 *
 *   answer_format         the answer is a plain answer with receipt headers, or the General JSON JWS
 *   attestation_record    the record the answer relied on: given, or fetched from the gateway
 *   enclave_signature     the receipt is signed (ES256 only) by the enclave key of that record, and
 *                         names that record's evidence, TEE, simulation flag, within its lifetime
 *   request_digest        request_sha256 = SHA-256 of the request bytes (when the request is given)
 *   response_digest       response_sha256 = SHA-256 of the response bytes
 *   model_digest          the model that ran is one the enclave attested (and the policy lists)
 *   nonce                 the receipt carries the client's nonce (when one was sent)
 *   attestation_evidence  the evidence verifies to a vendor root at the record's time
 *   key_binding           the evidence's report data binds the record's nonce, key and models
 *   measurement           the receipt's measurement is the verified evidence's
 *   policy                the verified claims satisfy the caller's policy (when one is given)
 *   ear                   the gateway's EAR token verifies and describes this evidence
 *   countersignature      the gateway signed this receipt under this attestation
 *   log_inclusion         the receipt is in the gateway's transparency log (when a proof is at hand)
 *
 * Every step is listed; one whose prerequisites failed is "skipped" (and not ok). Nothing throws
 * for anything wrong with the answer: the report says it. Time is the record's `created_at`, never
 * the clock: an answer verified today or in a year gets the same report.
 *
 * Browser-ready: WebCrypto (through jose and crypto.subtle), Uint8Array, the caller's fetch; no
 * Node module is imported here (attestation/common/crypto.ts is the one module a browser build
 * swaps).
 */
import { compactVerify, decodeProtectedHeader, flattenedVerify, importJWK, jwtVerify, type CryptoKey, type JWK, type ProtectedHeaderParameters } from 'jose';
import { checkBinding, jwkThumbprint } from '../../attestation/binding.ts';
import type { TrustAnchor } from '../../attestation/common/x509.ts';
import { parseEar, type EarClaims } from '../../attestation/ear.ts';
import { measurementOfResult } from '../../attestation/measurements.ts';
import { appraise, type Appraisal } from '../../attestation/policy/appraise.ts';
import { canonicalJson, policyDigest } from '../../attestation/policy/digest.ts';
import { toHex } from '../../attestation/common/bytes.ts';
import type { Policy } from '../../attestation/policy/schema.ts';
import { parseReceiptClaims, type ReceiptClaims } from '../../attestation/receipt.ts';
import { verifyEvidence } from '../../attestation/registry.ts';
import type { EvidenceResult } from '../../attestation/result.ts';
import { ReceiptError, verifyReceiptJws } from '../receipts/verify.ts';
import { anchorsFor, anchorsKey } from './anchors.ts';
import {
  ANSWER_JWS_TYP,
  COUNTERSIGNATURE_PAYLOAD_TYP,
  COUNTERSIGNATURE_TYP,
  parseAnswer,
  type GeneralJws,
  type ParsedAnswer,
  type PlainAnswer,
} from './answer.ts';
import { AnswerCache } from './cache.ts';
import { equalText, fromBase64Strict, fromBase64Url, sha256, sha256Hex, toBase64Url } from './digest.ts';
import { GatewayClient, gatewayBase, type FetchFn } from './gateway.ts';
import { checkInclusion, verifiedCheckpoint } from './log.ts';
import { parseAttestationRecord, type AttestationRecord, type Jwk, type Jwks, type ProofBundle } from './record.ts';
import { Checklist, StepFailure, failed, notChecked, outcomeOf, passed, type PolicySource, type Report, type StepOutcome } from './report.ts';

export interface VerifyAnswerInput {
  /** The answer: a plain answer (headers + body, or a capture) or the General JSON JWS. */
  readonly answer: PlainAnswer | GeneralJws;
  /** The exact request bytes sent; checks request_sha256. */
  readonly request?: Uint8Array;
  /** The `attestgate-nonce` sent with the request; the receipt must carry it. */
  readonly nonce?: string;
  /** Appraise the verified evidence against this policy (attestation/policy/schema.ts). */
  readonly policy?: Policy;
  /** The attestation record (from a bundle); otherwise fetched from `gateway`. */
  readonly attestation?: AttestationRecord;
  /** The gateway's base URL, to fetch the record, its key set, the proof and the log key. */
  readonly gateway?: string;
  /** The gateway's key set (from a bundle); otherwise fetched from `gateway`. */
  readonly gatewayJwks?: Jwks;
  /** The receipt's proof bundle; otherwise fetched from `gateway` when one is given. */
  readonly proof?: ProofBundle;
  /** The log's signed-note verifier key to pin; otherwise trusted on first use. */
  readonly trustedLogKey?: string;
  /** The log's origin line to require in checkpoints. */
  readonly logOrigin?: string;
  /** Anchors added to the pinned vendor roots (e.g. the simulated TEE's roots). */
  readonly trustAnchors?: readonly TrustAnchor[];
  /** Accept evidence from the simulated TEE (it proves nothing about hardware). Default false. */
  readonly allowSimulated?: boolean;
  readonly fetch?: FetchFn;
  /** Share verified records between calls. */
  readonly cache?: AnswerCache;
}

/** A receipt's issue time may precede the record's creation by clock skew between enclave and gateway. */
const CLOCK_SKEW_S = 300;
const utf8 = new TextDecoder('utf-8', { fatal: true });

interface Signed {
  readonly receipt: ReceiptClaims;
  /** The response bytes the receipt's response_sha256 covers. */
  readonly response: Uint8Array;
  /** The compact receipt JWS (plain answers). */
  readonly receiptJws: string | undefined;
}

type GatewayAlg = 'ES256' | 'EdDSA';

/** The gateway's signature, verified: its key, protected header and (compact form) payload. */
interface GatewaySig {
  readonly g: { readonly kid: string; readonly alg: GatewayAlg };
  readonly header: ProtectedHeaderParameters;
  readonly payload: Uint8Array | undefined;
}

function algOf(jwk: Jwk): GatewayAlg | undefined {
  if (jwk.kty === 'EC' && jwk.crv === 'P-256' && jwk.y !== undefined) return 'ES256';
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519' && jwk.y === undefined) return 'EdDSA';
  return undefined;
}

/** Import a public key once per cache (a CryptoKey in WebCrypto). */
function importPublic(cache: AnswerCache, jwk: { kty: string; crv: string; x: string; y?: string }, alg: GatewayAlg): Promise<CryptoKey> {
  const pub: JWK = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, ...(jwk.y === undefined ? {} : { y: jwk.y }) };
  return cache.memo(`key|${alg}|${jwk.kty}|${jwk.crv}|${jwk.x}|${jwk.y ?? ''}`, async () => {
    const k = await importJWK(pub, alg);
    if (k instanceof Uint8Array) throw new StepFailure('ERR_WRONG_KEY', 'a symmetric key is not a signing key here');
    return k;
  });
}

/** The enclave key as one stable object per cache, so src/receipts/verify.ts's key cache holds it. */
function enclaveJwk(cache: AnswerCache, r: AttestationRecord): Promise<JWK & { kid: string }> {
  const k = r.key;
  return cache.memo(`enclave-jwk|${k.kid}|${k.x}|${k.y}`, () => Promise.resolve({ kty: 'EC', crv: 'P-256', x: k.x, y: k.y, kid: k.kid }));
}

/** The record members the verdict depends on, as one string: the cache key of a record. */
function recordKey(r: AttestationRecord): string {
  return JSON.stringify([
    r.evidence_sha256,
    r.id,
    r.backend,
    r.created_at,
    r.expires_at,
    r.nonce,
    r.tee,
    r.simulated,
    r.key,
    r.models,
    r.policy_digest,
    r.collateral.map((c) => [c.name, c.sha256]),
    r.ear,
  ]);
}

function isRecord(v: unknown): v is Readonly<Record<string, unknown>> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** jose failures: a bad signature is ERR_SIGNATURE_INVALID; anything else about the token is `code`. */
function joseFailure(e: unknown, code: string, what: string): StepFailure {
  if (e instanceof StepFailure) return e;
  const joseCode = isRecord(e) && typeof e['code'] === 'string' ? e['code'] : '';
  if (joseCode === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') return new StepFailure('ERR_SIGNATURE_INVALID', `${what} signature does not verify`);
  return new StepFailure(code, `${what}: ${e instanceof Error ? e.message : String(e)}`);
}

/** Verify an answer; never throws for anything about the answer (see the module comment). */
export async function verifyAnswer(input: VerifyAnswerInput): Promise<Report> {
  const cache = input.cache ?? new AnswerCache();
  const c = new Checklist();
  let gw: GatewayClient | undefined;
  let answer: ParsedAnswer | undefined;
  let record: AttestationRecord | undefined;
  let rkey = '';
  let signed: Signed | undefined;
  let result: EvidenceResult | undefined;
  let logIndex: number | undefined;
  /** SHA-256 of the compact receipt JWS (plain answers), computed once. */
  let receiptSha: Promise<string> | undefined;

  const extra = input.trustAnchors;
  const anchors = extra === undefined ? '' : cache.parsedOnce(extra, () => anchorsKey(extra));
  const must = <T>(v: T | undefined): T => {
    // A step runs only after its prerequisites passed, and they set what it reads.
    if (v === undefined) throw new StepFailure('ERR_INTERNAL', 'a prerequisite step left no value');
    return v;
  };

  // The EAR's protected header (decoded once per record): names the gateway key.
  const earHeader = (): Promise<ProtectedHeaderParameters | undefined> => {
    const r = must(record);
    return cache.memo(`ear-header|${rkey}`, () => {
      try {
        return Promise.resolve(decodeProtectedHeader(r.ear));
      } catch {
        return Promise.resolve(undefined);
      }
    });
  };

  // The gateway's signing key for a JWS header: listed in the key set, never the enclave's key.
  const gatewayKey = async (kid: unknown, alg: unknown, what: string): Promise<{ key: CryptoKey; kid: string; alg: GatewayAlg }> => {
    const r = must(record);
    if (typeof kid !== 'string') throw new StepFailure('ERR_WRONG_KEY', `${what} names no key (kid)`);
    if (kid === r.key.kid) throw new StepFailure('ERR_WRONG_KEY', `${what} is signed by the enclave key ${kid}, not by the gateway`);
    let jwks = input.gatewayJwks ?? (await gw?.jwks());
    if (jwks === undefined) throw new StepFailure('ERR_JWKS_UNAVAILABLE', `no gateway key set to check the ${what} with: give gatewayJwks (a bundle) or gateway`);
    let jwk = jwks.keys.find((k) => k.kid === kid);
    if (jwk === undefined && input.gatewayJwks === undefined && gw !== undefined) {
      jwks = await gw.jwks(true);
      jwk = jwks.keys.find((k) => k.kid === kid);
    }
    if (jwk === undefined) throw new StepFailure('ERR_WRONG_KEY', `${what} is signed by key ${kid}, which the gateway's key set does not list`);
    const keyAlg = algOf(jwk);
    if (keyAlg === undefined || (jwk.alg !== undefined && jwk.alg !== keyAlg)) throw new StepFailure('ERR_WRONG_KEY', `gateway key ${kid} is not an ES256 or EdDSA key`);
    if (alg !== keyAlg) throw new StepFailure('ERR_WRONG_KEY', `${what} header alg is ${String(alg)}, gateway key ${kid} is ${keyAlg}`);
    return { key: await importPublic(cache, jwk, keyAlg), kid, alg: keyAlg };
  };

  async function verifyGatewaySignature(): Promise<GatewaySig> {
    const a = must(answer);
    const earKid = (await earHeader())?.kid;
    if (a.kind === 'plain') {
      if (a.countersignature === undefined) throw new StepFailure('ERR_ANSWER_MALFORMED', 'the answer has no attestgate-countersignature header');
      let h: ProtectedHeaderParameters;
      try {
        h = decodeProtectedHeader(a.countersignature);
      } catch {
        throw new StepFailure('ERR_ANSWER_MALFORMED', 'the countersignature header is not base64url JSON');
      }
      if (h.typ !== COUNTERSIGNATURE_TYP) throw new StepFailure('ERR_ANSWER_MALFORMED', `countersignature typ is ${String(h.typ)}, want ${COUNTERSIGNATURE_TYP}`);
      if (earKid !== undefined && h.kid !== earKid) throw new StepFailure('ERR_WRONG_KEY', `countersigned by key ${String(h.kid)}, the gateway signed the EAR with ${earKid}`);
      const g = await gatewayKey(h.kid, h.alg, 'countersignature');
      // The receipt's digest (which the countersignature names) is computed meanwhile, off-thread.
      receiptSha ??= sha256(new TextEncoder().encode(a.receiptJws)).then(toHex);
      try {
        const { payload } = await compactVerify(a.countersignature, g.key, { algorithms: [g.alg] });
        return { g, header: h, payload };
      } catch (e: unknown) {
        throw joseFailure(e, 'ERR_SIGNATURE_INVALID', 'countersignature');
      }
    }
    if (a.gateway === undefined) throw new StepFailure('ERR_ANSWER_MALFORMED', 'the JWS has no gateway signature');
    const h = a.gateway.header;
    if (h.typ !== ANSWER_JWS_TYP) throw new StepFailure('ERR_ANSWER_MALFORMED', `gateway signature typ is ${String(h.typ)}, want ${ANSWER_JWS_TYP}`);
    if (earKid !== undefined && h.kid !== earKid) throw new StepFailure('ERR_WRONG_KEY', `countersigned by key ${String(h.kid)}, the gateway signed the EAR with ${earKid}`);
    const g = await gatewayKey(h.kid, h.alg, 'gateway signature');
    try {
      await flattenedVerify({ payload: a.payload, protected: a.gateway.protected, signature: a.gateway.signature }, g.key, { algorithms: [g.alg] });
    } catch (e: unknown) {
      throw joseFailure(e, 'ERR_SIGNATURE_INVALID', 'gateway');
    }
    return { g, header: h, payload: undefined };
  }

  // 1. The answer's shape, before anything else.
  await c.run('answer_format', [], () => {
    answer = parseAnswer(input.answer);
    return passed(answer.kind === 'plain' ? 'plain OIP answer with receipt headers' : 'General JSON JWS (enclave and gateway signatures over receipt and response)');
  });

  // 2. The record the answer relied on.
  await c.run('attestation_record', ['answer_format'], async () => {
    const a = must(answer);
    if (input.gateway !== undefined) {
      const base = gatewayBase(input.gateway);
      if (base === undefined) throw new StepFailure('ERR_RECORD_UNAVAILABLE', `gateway ${JSON.stringify(input.gateway)} is not an http(s) base URL`);
      gw = new GatewayClient(base, input.fetch ?? fetch, cache);
    }
    let from: string;
    if (input.attestation !== undefined) {
      const given = input.attestation;
      record = cache.parsedOnce(given, () => parseAttestationRecord(given));
      from = 'given';
    } else if (gw !== undefined) {
      if (a.attestationId === undefined) throw new StepFailure('ERR_RECORD_UNAVAILABLE', 'the answer names no attestation to fetch');
      record = await gw.record(a.attestationId);
      from = `fetched from ${gw.base}`;
    } else {
      throw new StepFailure('ERR_RECORD_UNAVAILABLE', 'no attestation record: give the attestation (a bundle) or the gateway to fetch it from');
    }
    if (a.attestationId !== undefined && a.attestationId !== record.id) {
      throw new StepFailure('ERR_RECORD_MISMATCH', `the answer relied on attestation ${a.attestationId}, the record is ${record.id}`);
    }
    const rec = record;
    rkey = cache.idOf(rec, () => recordKey(rec));
    return passed(`attestation ${record.id} (${from}): backend ${record.backend}, ${record.tee}${record.simulated ? ' SIMULATED' : ''}, created ${record.created_at}`);
  });

  // The gateway's signature (header, key, signature) does not depend on the receipt: it is checked
  // alongside the enclave's, so the two signature verifications overlap (WebCrypto runs them off
  // the main thread in Node). Its outcome is reported by the countersignature step, in its place in
  // the checklist; it is discarded when that step is skipped.
  let gatewaySig: Promise<GatewaySig> | undefined;
  if (c.status('attestation_record') === 'passed') {
    gatewaySig = verifyGatewaySignature();
    gatewaySig.catch(() => undefined);
  }

  // 3. The enclave's signature, by the key of that record only, and the receipt names that record.
  await c.run('enclave_signature', ['attestation_record'], async () => {
    const a = must(answer);
    const r = must(record);
    if (a.kind === 'plain') {
      let receipt: ReceiptClaims;
      try {
        receipt = await verifyReceiptJws(a.receiptJws, await enclaveJwk(cache, r));
      } catch (e: unknown) {
        if (!(e instanceof ReceiptError)) throw e;
        const code = e.failure === 'wrong_key' ? 'ERR_WRONG_KEY' : e.failure === 'signature' ? 'ERR_SIGNATURE_INVALID' : 'ERR_ANSWER_MALFORMED';
        throw new StepFailure(code, e.message);
      }
      signed = { receipt, response: a.body, receiptJws: a.receiptJws };
    } else {
      // Cheap header checks first, then the signature, then the payload.
      const h = a.enclave.header;
      if (h.typ !== ANSWER_JWS_TYP) throw new StepFailure('ERR_ANSWER_MALFORMED', `enclave signature typ is ${String(h.typ)}, want ${ANSWER_JWS_TYP}`);
      if (h.alg !== 'ES256') throw new StepFailure('ERR_ANSWER_MALFORMED', `enclave signature alg is ${String(h.alg)}; only ES256 is accepted`);
      if (h.kid !== r.key.kid) throw new StepFailure('ERR_WRONG_KEY', `answer is signed by key ${String(h.kid)}, not by the attested enclave key ${r.key.kid}`);
      let payload: Uint8Array;
      try {
        ({ payload } = await flattenedVerify({ payload: a.payload, protected: a.enclave.protected, signature: a.enclave.signature }, await importPublic(cache, r.key, 'ES256'), { algorithms: ['ES256'] }));
      } catch (e: unknown) {
        throw joseFailure(e, 'ERR_SIGNATURE_INVALID', 'enclave');
      }
      signed = splitJosePayload(payload);
      if (signed.receipt.kid !== r.key.kid) throw new StepFailure('ERR_WRONG_KEY', `receipt claims name key ${signed.receipt.kid}, not ${r.key.kid}`);
    }
    const rc = signed.receipt;
    if (rc.evidence_sha256 !== r.evidence_sha256) throw new StepFailure('ERR_RECEIPT_MISMATCH', `receipt evidence_sha256 is ${rc.evidence_sha256}, the record's evidence is ${r.evidence_sha256}`);
    if (rc.tee !== r.tee) throw new StepFailure('ERR_RECEIPT_MISMATCH', `receipt tee is ${rc.tee}, the record's is ${r.tee}`);
    if (rc.simulated !== r.simulated) throw new StepFailure('ERR_RECEIPT_MISMATCH', `receipt simulated is ${String(rc.simulated)}, the record's is ${String(r.simulated)}`);
    // An answer signed outside the admission's lifetime was not served under it.
    const from = Math.floor(Date.parse(r.created_at) / 1000) - CLOCK_SKEW_S;
    const until = Math.ceil(Date.parse(r.expires_at) / 1000) + CLOCK_SKEW_S;
    if (!(from <= rc.iat && rc.iat <= until)) throw new StepFailure('ERR_RECEIPT_MISMATCH', `receipt iat ${rc.ts} is outside the attestation's lifetime ${r.created_at} .. ${r.expires_at}`);
    return passed(`receipt ${rc.id} signed by enclave key ${r.key.kid} (ES256) at ${rc.ts}`);
  });

  // 4-7. Digests, model, nonce: cheap comparisons of signed claims.
  await c.run('request_digest', ['enclave_signature'], async () => {
    const rc = must(signed).receipt;
    if (input.request === undefined) return notChecked('not checked: no request given');
    const got = await sha256Hex(input.request);
    if (got !== rc.request_sha256) return failed('ERR_DIGEST_MISMATCH', `SHA-256 of the request is ${got}, the receipt's request_sha256 is ${rc.request_sha256}`);
    return passed(`request_sha256 ${got}`);
  });
  await c.run('response_digest', ['enclave_signature'], async () => {
    const s = must(signed);
    const got = await sha256Hex(s.response);
    if (got !== s.receipt.response_sha256) return failed('ERR_DIGEST_MISMATCH', `SHA-256 of the response is ${got}, the receipt's response_sha256 is ${s.receipt.response_sha256}`);
    return passed(`response_sha256 ${got}`);
  });
  await c.run('model_digest', ['enclave_signature'], () => {
    const m = must(signed).receipt.model;
    const r = must(record);
    const same = (x: { name: string; version: string; sha256: string }): boolean => x.name === m.name && x.version === m.version && x.sha256 === m.sha256;
    const label = `${m.name}@${m.version} (${m.sha256})`;
    if (!r.models.some(same)) return failed('ERR_MODEL_MISMATCH', `model ${label} is not in the attested models (${r.models.map((x) => `${x.name}@${x.version}`).join(', ')})`);
    if (input.policy?.models !== undefined && !input.policy.models.some(same)) return failed('ERR_MODEL_MISMATCH', `model ${label} is not one the policy lists`);
    return passed(`model ${label} is attested${input.policy?.models !== undefined ? ' and allowed by the policy' : ''}`);
  });
  await c.run('nonce', ['enclave_signature'], () => {
    const got = must(signed).receipt.nonce;
    if (input.nonce === undefined) return notChecked(got === undefined ? 'not checked: no nonce sent' : `not checked: the receipt carries nonce ${got}, none given to compare`);
    if (got !== input.nonce) return failed('ERR_NONCE_MISMATCH', `receipt nonce is ${got ?? '(absent)'}, want ${input.nonce}`);
    return passed(`receipt carries the nonce sent (${got})`);
  });

  // 8. The evidence, to a vendor root, at the record's time (cached by digests and anchors).
  await c.run('attestation_evidence', ['enclave_signature'], async () => {
    const r = must(record);
    const k = `evidence|${anchors}|${rkey}`;
    if (cache.has(k)) cache.stats.evidenceHits++;
    try {
      result = await cache.memo(k, () => verifyRecordEvidence(cache, r, input.trustAnchors), { keepFailures: true });
    } catch (e: unknown) {
      const out = outcomeOf(e);
      // The commonest mistake with the demo: simulated evidence checked against vendor roots only.
      if (out.status === 'failed' && out.code === 'ERR_CHAIN_UNTRUSTED' && r.simulated) {
        const where = r.tee === 'sev-snp' ? 'amd/genoa-ark.pem' : r.tee === 'nitro' ? 'nitro/root.pem' : 'intel/root.pem';
        return failed(out.code, `${out.detail} (the record says simulated TEE: give its root as a trust anchor, e.g. --trust-root <data dir>/sim-pki/${where})`);
      }
      return out;
    }
    const res = result;
    if (res.tee !== r.tee) return failed('ERR_RECORD_MISMATCH', `the evidence is ${res.tee}, the record says ${r.tee}`);
    if (res.simulated !== r.simulated) return failed('ERR_RECORD_MISMATCH', `the evidence is ${res.simulated ? '' : 'not '}simulated, the record says simulated=${String(r.simulated)}`);
    if (res.simulated && input.allowSimulated !== true) return failed('ERR_SIMULATED_REFUSED', `SIMULATED TEE evidence (root ${res.trust_anchor.name}): it proves nothing about hardware; refused without allowSimulated`);
    if (res.debug_allowed && input.policy === undefined) return failed('ERR_DEBUG_REFUSED', `${res.tee} evidence of a DEBUG enclave (its memory is open to the host); refused without a policy that says dangerouslyAllowDebug`);
    const anchor = `${res.trust_anchor.name} (${res.trust_anchor.pinned ? 'pinned vendor root' : res.simulated ? 'SIMULATED root' : 'root given by the caller, not a pinned vendor root'})`;
    return passed(`${res.tee} evidence ${r.evidence_sha256.slice(0, 16)}… verified to ${anchor} at ${r.created_at}; TCB ${res.tcb_status ?? 'n/a'}${res.debug_allowed ? '; DEBUG' : ''}${res.simulated ? '; SIMULATED' : ''}`);
  });

  // 9. The evidence binds the record's nonce, key and models (so the key that signed the receipt).
  await c.run('key_binding', ['attestation_evidence'], async () => {
    const r = must(record);
    const res = must(result);
    await cache.memo(
      `binding|${rkey}`,
      async () => {
        const nonce = fromBase64Url(r.nonce);
        if (nonce === undefined) throw new StepFailure('ERR_RECORD_MALFORMED', 'record nonce is not base64url');
        const thumb = toBase64Url(await jwkThumbprint(r.key));
        if (thumb !== r.key.kid) throw new StepFailure('ERR_RECORD_MALFORMED', `record key kid is ${r.key.kid}, its RFC 7638 thumbprint is ${thumb}`);
        await checkBinding(res, { nonce, jwk: r.key, models: r.models });
      },
      { keepFailures: true },
    );
    return passed(`report data = attestgate-binding-v1(nonce ${r.nonce.slice(0, 8)}…, key ${r.key.kid}, ${r.models.length} model(s))`);
  });

  // 10. What the enclave says it runs is what the evidence measured.
  await c.run('measurement', ['attestation_evidence', 'key_binding'], async () => {
    const got = must(signed).receipt.measurement;
    const res = must(result);
    const want = await cache.memo(`measurement|${anchors}|${rkey}`, () => Promise.resolve(measurementOfResult(res)));
    const names = [...new Set([...Object.keys(got), ...Object.keys(want)])].sort();
    const bad = names.filter((n) => {
      const x = got[n];
      const y = want[n];
      return x === undefined || y === undefined || !equalText(x, y);
    });
    if (bad.length > 0) {
      return failed('ERR_MEASUREMENT_MISMATCH', bad.map((n) => `receipt measurement ${n} is ${got[n] ?? '(absent)'}, the evidence's is ${want[n] ?? '(absent)'}`).join('; '));
    }
    return passed(`receipt measurement (${names.join(', ')}) is the verified evidence's`);
  });

  // 11. The caller's policy, at the record's time.
  await c.run('policy', ['attestation_evidence'], async () => {
    const r = must(record);
    const res = must(result);
    let p = input.policy;
    if (p === undefined) {
      // No policy of the caller's: appraise against the one the gateway publishes, and say so. Its
      // digest must be the one the gateway's record names, or the gateway used another policy.
      if (gw === undefined) return notChecked('not given — evidence checked to the vendor root only');
      const published = await gw.policy();
      const digestOfPublished = await policyDigest(published.policy);
      if (digestOfPublished !== published.digest || digestOfPublished !== r.policy_digest) {
        throw new StepFailure('ERR_POLICY_MISMATCH', `the gateway publishes policy ${digestOfPublished}, but its record was appraised under ${r.policy_digest}`);
      }
      p = published.policy;
    }
    const pol = p;
    const digest = await cache.parsedOnce(pol, () => policyDigest(pol));
    const appraisal = await cache.memo(`appraisal|${digest}|${anchors}|${rkey}`, () => Promise.resolve(appraise(res, pol, { at: new Date(r.created_at), models: r.models })));
    const outcome = appraisalOutcome(appraisal, pol, digest === r.policy_digest);
    return input.policy === undefined && outcome.status === 'passed' ? { ...outcome, detail: `${outcome.detail}; no policy given: appraised against the policy the gateway publishes (GET /v1/policy)` } : outcome;
  });

  // 12. The gateway's attestation result for this evidence.
  await c.run('ear', ['enclave_signature'], async () => {
    const r = must(record);
    const header = await earHeader();
    if (header === undefined) throw new StepFailure('ERR_EAR_INVALID', 'the record\'s EAR is not a JWT');
    if (header.typ !== 'JWT') throw new StepFailure('ERR_EAR_INVALID', `EAR typ is ${String(header.typ)}, want JWT`);
    const g = await gatewayKey(header.kid, header.alg, 'EAR');
    return cache.memo(
      `ear|${g.kid}|${rkey}`,
      async () => {
        let ear: EarClaims;
        try {
          const { payload } = await jwtVerify(r.ear, g.key, { algorithms: [g.alg], typ: 'JWT', currentDate: new Date(r.created_at), clockTolerance: CLOCK_SKEW_S });
          ear = parseEar(payload);
        } catch (e: unknown) {
          throw joseFailure(e, 'ERR_EAR_INVALID', 'EAR');
        }
        return earOutcome(ear, r, g.kid);
      },
      { keepFailures: true },
    );
  });

  // 13. The gateway's countersignature: its key, this receipt, this attestation. The signature
  // itself was checked alongside the enclave's (gatewaySignature above); here its content.
  await c.run('countersignature', ['enclave_signature'], async () => {
    const a = must(answer);
    const r = must(record);
    const s = must(signed);
    const { g, header: h, payload } = await must(gatewaySig);
    if (a.kind === 'plain') {
      const cs = parseJsonObject(must(payload), 'countersignature payload');
      receiptSha ??= sha256Hex(must(s.receiptJws));
      const receiptDigest = await receiptSha;
      const expect: [string, unknown, unknown][] = [
        ['typ', cs['typ'], COUNTERSIGNATURE_PAYLOAD_TYP],
        ['receipt_sha256', cs['receipt_sha256'], receiptDigest],
        ['receipt_id', cs['receipt_id'], s.receipt.id],
        ['attestation_id', cs['attestation_id'], r.id],
        ['backend', cs['backend'], r.backend],
      ];
      for (const [field, got, want] of expect) {
        if (got !== want) throw new StepFailure('ERR_COUNTERSIGNATURE_MISMATCH', `countersignature ${field} is ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
      }
      if (a.receiptId !== undefined && a.receiptId !== s.receipt.id) throw new StepFailure('ERR_COUNTERSIGNATURE_MISMATCH', `attestgate-receipt-id header is ${a.receiptId}, the receipt's id is ${s.receipt.id}`);
      logIndex = logIndexOf(cs['log_index']);
      return passed(`gateway key ${g.kid} (${g.alg}) countersigned receipt ${s.receipt.id} under attestation ${r.id}${logIndex === undefined ? '' : `, log entry ${logIndex}`}`);
    }
    if (h['attestation'] !== r.id) throw new StepFailure('ERR_COUNTERSIGNATURE_MISMATCH', `gateway signature attestation is ${JSON.stringify(h['attestation'])}, want ${r.id}`);
    if (h['receipt_id'] !== s.receipt.id) throw new StepFailure('ERR_COUNTERSIGNATURE_MISMATCH', `gateway signature receipt_id is ${JSON.stringify(h['receipt_id'])}, want ${s.receipt.id}`);
    logIndex = logIndexOf(h['log_index']);
    return passed(`gateway key ${g.kid} (${g.alg}) signed the answer under attestation ${r.id}${logIndex === undefined ? '' : `, log entry ${logIndex}`}`);
  });

  // 14. The receipt is in the transparency log.
  await c.run('log_inclusion', ['enclave_signature'], async () => {
    const r = must(record);
    const s = must(signed);
    const proof = input.proof ?? (gw === undefined ? undefined : await gw.proof(s.receipt.id));
    if (proof === undefined) return notChecked('not checked: no proof bundle given and no gateway to fetch one from');
    // The log key: pinned by the caller, else the gateway's (trust on first use), else the bundle's own.
    let vkey: string;
    let trust: string;
    if (input.trustedLogKey !== undefined) {
      vkey = input.trustedLogKey;
      trust = 'pinned';
    } else if (gw !== undefined) {
      vkey = await gw.logKey();
      if (cache.logKeySeen(gw.base, vkey) === 'changed') throw new StepFailure('ERR_LOG_KEY_CHANGED', `the gateway's log key is now ${vkey}, not the one first seen`);
      trust = 'trusted on first use from the gateway';
    } else {
      vkey = proof.verifier_key;
      trust = 'taken from the proof bundle itself, not pinned';
    }
    if (proof.receipt.id !== s.receipt.id) throw new StepFailure('ERR_LOG_ENTRY_MISMATCH', `proof is for receipt ${proof.receipt.id}, not ${s.receipt.id}`);
    // The log names the compact receipt JWS by digest. A General JSON answer carries the receipt
    // claims only: the proof bundle's compact receipt must verify with the same enclave key and
    // say exactly the same.
    let digest: Promise<string>;
    if (s.receiptJws !== undefined) {
      receiptSha ??= sha256Hex(s.receiptJws);
      digest = receiptSha;
    } else {
      let claims: ReceiptClaims;
      try {
        claims = await verifyReceiptJws(proof.receipt.receipt, await enclaveJwk(cache, r));
      } catch (e: unknown) {
        throw new StepFailure('ERR_LOG_ENTRY_MISMATCH', `the proof's receipt does not verify with the enclave key: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (canonicalJson(claims) !== canonicalJson(s.receipt)) throw new StepFailure('ERR_LOG_ENTRY_MISMATCH', 'the proof\'s receipt is not the answer\'s receipt');
      digest = sha256Hex(proof.receipt.receipt);
    }
    const receiptDigest = await digest;
    if (proof.receipt.receipt_sha256 !== receiptDigest) throw new StepFailure('ERR_LOG_ENTRY_MISMATCH', `proof's receipt_sha256 is ${proof.receipt.receipt_sha256}, want ${receiptDigest}`);
    const cp = await verifiedCheckpoint(cache, proof.log.checkpoint, vkey, input.logOrigin);
    const index = checkInclusion(proof, cp, { receiptId: s.receipt.id, receiptSha256: receiptDigest, attestationId: r.id, logIndex });
    return passed(`entry ${index} of log ${cp.origin} (tree size ${cp.size}); checkpoint signed by ${cp.signedBy.map((x) => x.name).join(', ')} (key ${trust})`);
  });

  const simulated = result?.simulated === true || record?.simulated === true || signed?.receipt.simulated === true;
  const policySource: PolicySource = input.policy !== undefined ? 'given' : gw !== undefined ? 'gateway' : 'none';
  return c.report(simulated, policySource, {
    ...(signed === undefined ? {} : { receipt: signed.receipt, response: signed.response }),
    ...(record === undefined ? {} : { attestationId: record.id }),
  });
}

/** Decode, check the digests of, and verify the record's evidence (the cold path). */
async function verifyRecordEvidence(cache: AnswerCache, r: AttestationRecord, extra: readonly TrustAnchor[] | undefined): Promise<EvidenceResult> {
  const evidence = fromBase64Strict(r.evidence);
  if (evidence === undefined) throw new StepFailure('ERR_RECORD_MALFORMED', 'record evidence is not base64');
  const got = await sha256Hex(evidence);
  if (got !== r.evidence_sha256) throw new StepFailure('ERR_RECORD_MALFORMED', `record evidence hashes to ${got}, the record says ${r.evidence_sha256}`);
  const collateral = await Promise.all(
    r.collateral.map(async (c, i) => {
      const bytes = fromBase64Strict(c.data);
      if (bytes === undefined) throw new StepFailure('ERR_RECORD_MALFORMED', `record collateral[${i}] is not base64`);
      const d = await sha256Hex(bytes);
      if (d !== c.sha256) throw new StepFailure('ERR_RECORD_MALFORMED', `record collateral[${i}] (${c.name}) hashes to ${d}, the record says ${c.sha256}`);
      return { name: c.name, bytes };
    }),
  );
  const anchors = await anchorsFor(r.tee, extra);
  cache.stats.evidenceVerifications++;
  // Debug evidence is verified in full and left to the policy (whose `debug` check names it); the
  // evidence step refuses it when no policy is given.
  return verifyEvidence({ tee: r.tee, evidence, collateral }, { at: new Date(r.created_at), allowDebug: true, ...(anchors === undefined ? {} : { trustAnchors: anchors }) });
}

function parseJsonObject(bytes: Uint8Array, what: string): Readonly<Record<string, unknown>> {
  let v: unknown;
  try {
    v = JSON.parse(utf8.decode(bytes));
  } catch {
    throw new StepFailure('ERR_ANSWER_MALFORMED', `${what} is not JSON`);
  }
  if (!isRecord(v)) throw new StepFailure('ERR_ANSWER_MALFORMED', `${what} is not a JSON object`);
  return v;
}

/**
 * The enclave's General JSON payload `{"receipt": <claims>, "response": <OIP response>}`. The
 * response digest covers the response text exactly as the enclave embedded it; when the payload is
 * not in that exact layout, the digest of its JSON re-encoding is used (the gateway's rule).
 */
function splitJosePayload(payload: Uint8Array): Signed {
  let text: string;
  let v: unknown;
  try {
    text = utf8.decode(payload);
    v = JSON.parse(text);
  } catch {
    throw new StepFailure('ERR_ANSWER_MALFORMED', 'the JWS payload is not JSON');
  }
  if (!isRecord(v) || Object.keys(v).length !== 2 || !('receipt' in v) || !('response' in v)) throw new StepFailure('ERR_ANSWER_MALFORMED', 'the JWS payload is not {receipt, response}');
  let receipt: ReceiptClaims;
  try {
    receipt = parseReceiptClaims(v['receipt']);
  } catch (e: unknown) {
    throw new StepFailure('ERR_ANSWER_MALFORMED', e instanceof Error ? e.message : String(e));
  }
  const prefix = `{"receipt":${JSON.stringify(v['receipt'])},"response":`;
  const responseText = text.startsWith(prefix) && text.endsWith('}') ? text.slice(prefix.length, -1) : JSON.stringify(v['response']);
  return { receipt, response: new TextEncoder().encode(responseText), receiptJws: undefined };
}

function logIndexOf(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new StepFailure('ERR_ANSWER_MALFORMED', 'log_index is not a non-negative integer');
  return v;
}


function appraisalOutcome(a: Appraisal, p: Policy, gatewaysPolicy: boolean): StepOutcome {
  const name = `policy ${p.name}${gatewaysPolicy ? ' (the gateway\'s own)' : ''}`;
  if (a.status === 'contraindicated') {
    return failed('ERR_POLICY_MISMATCH', `${name}: ${a.mismatches.map((m) => `${m.field} is ${m.got}, want ${m.want}`).join('; ')}`);
  }
  const warnings = a.checks.filter((x) => x.tier === 'warning').map((x) => x.claim);
  return passed(`${name}: ${a.status}, ${a.checks.length} checks${warnings.length > 0 ? ` (warning: ${warnings.join(', ')})` : ''}`);
}

function earOutcome(ear: EarClaims, r: AttestationRecord, kid: string): StepOutcome {
  const sub = ear.submods[r.tee];
  if (sub === undefined) return failed('ERR_EAR_INVALID', `EAR has no appraisal of ${r.tee}`);
  const status = sub['ear.status'];
  if (status !== 'affirming' && status !== 'warning') return failed('ERR_EAR_INVALID', `the gateway appraised this evidence ${status}`);
  if (sub['attestgate.evidence_sha256'] !== r.evidence_sha256) return failed('ERR_EAR_INVALID', `EAR evidence_sha256 is ${sub['attestgate.evidence_sha256']}, the record's is ${r.evidence_sha256}`);
  if (sub['attestgate.simulated'] !== r.simulated) return failed('ERR_EAR_INVALID', `EAR simulated is ${String(sub['attestgate.simulated'])}, the record's is ${String(r.simulated)}`);
  if (ear.eat_nonce !== r.nonce) return failed('ERR_EAR_INVALID', `EAR eat_nonce is ${ear.eat_nonce ?? '(absent)'}, the record's nonce is ${r.nonce}`);
  const policyId = sub['ear.appraisal-policy-id'];
  if (!policyId.endsWith(`#${r.policy_digest}`)) return failed('ERR_EAR_INVALID', `EAR policy ${policyId} is not the record's policy ${r.policy_digest}`);
  return passed(`EAR signed by gateway key ${kid}: ${r.tee} ${status} under ${policyId.replace(/#([0-9a-f]{12})[0-9a-f]+$/, '#$1…')}${sub['attestgate.simulated'] ? ', SIMULATED' : ''}`);
}
