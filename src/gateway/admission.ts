/**
 * Admitting one backend, as a checklist (docs/gateway.md):
 *   1. send a fresh random 32-byte nonce to POST /v1/attest
 *   2. gather collateral (the backend's own, then the configured providers)
 *   3. verify the evidence with attestation/ (vendor roots, or the simulated roots when the
 *      operator turned them on), at the gateway's time
 *   4. check the binding: report data = v1 binding of our nonce, the presented key, the models
 *   5. appraise the claims against the policy (every check with got/want)
 *   6. sign the result as an EAR token (gateway key) and record it
 * Any failure is a refusal with its code and reason; nothing is admitted on an exception.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { checkBinding } from '../../attestation/binding.ts';
import type { TrustAnchor } from '../../attestation/common/x509.ts';
import { buildEar } from '../../attestation/ear.ts';
import { AttestationError } from '../../attestation/errors.ts';
import { appraise, type Appraisal } from '../../attestation/policy/appraise.ts';
import type { Policy } from '../../attestation/policy/schema.ts';
import { verifyEvidence, type CollateralFile, type RegistryOptions } from '../../attestation/registry.ts';
import type { EvidenceResult, TeeKind } from '../../attestation/result.ts';
import type { GatewayKey } from '../signing/keys.ts';
import type { AttestAnswer, EnclaveClient } from './enclave-client.ts';

export interface AdmissionReason {
  readonly code: string;
  readonly reason: string;
  readonly message: string;
}

export interface Admission {
  readonly id: string;
  readonly backend: string;
  readonly admitted: boolean;
  readonly status: 'affirming' | 'warning' | 'contraindicated' | 'error';
  readonly reasons: readonly AdmissionReason[];
  readonly createdAt: number;
  /** The admission lapses at this instant (ms): the earliest of lifetime and every collateral's expiry. */
  readonly expiresAt: number;
  readonly nonce: string;
  readonly tee: TeeKind | undefined;
  readonly simulated: boolean;
  readonly key: AttestAnswer['key'] | undefined;
  readonly models: AttestAnswer['models'];
  readonly evidenceSha256: string | undefined;
  readonly evidence: Uint8Array | undefined;
  readonly collateral: readonly CollateralFile[];
  readonly result: EvidenceResult | undefined;
  readonly appraisal: Appraisal | undefined;
  /** The signed EAR token (JWT), when the evidence verified. */
  readonly ear: string | undefined;
}

export interface AdmissionContext {
  readonly now: () => number;
  readonly policy: Policy;
  readonly policyDigest: string;
  readonly key: GatewayKey;
  readonly build: string;
  /** Anchors for a TEE; undefined means the pinned vendor roots. Simulated roots only when configured. */
  readonly trustAnchors: (tee: TeeKind) => Promise<readonly TrustAnchor[] | undefined>;
  /** Extra collateral for evidence (PCS/KDS/offline bundle); the backend's own comes first. */
  readonly collateral?: (answer: AttestAnswer) => Promise<readonly CollateralFile[]>;
  readonly lifetimeMs: number;
  readonly verifyOptions?: Partial<RegistryOptions>;
  /** Observed verification time per TEE, seconds. */
  readonly onVerified?: (tee: TeeKind, seconds: number) => void;
}

function reasonOf(e: unknown): AdmissionReason {
  if (AttestationError.is(e)) return { code: e.code, reason: e.reason, message: e.message };
  const code = typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : 'ERR_ADMISSION';
  return { code, reason: 'backend', message: e instanceof Error ? e.message : String(e) };
}

export async function admitBackend(client: EnclaveClient, ctx: AdmissionContext): Promise<Admission> {
  const createdAt = ctx.now();
  const id = randomUUID();
  const nonce = new Uint8Array(randomBytes(32));
  const base = {
    id,
    backend: client.name,
    createdAt,
    nonce: Buffer.from(nonce).toString('base64url'),
  };
  const refused = (reasons: AdmissionReason[], parts: Partial<Admission> = {}): Admission => ({
    ...base,
    admitted: false,
    status: parts.appraisal === undefined ? 'error' : 'contraindicated',
    reasons,
    expiresAt: createdAt,
    tee: undefined,
    simulated: false,
    key: undefined,
    models: [],
    evidenceSha256: undefined,
    evidence: undefined,
    collateral: [],
    result: undefined,
    appraisal: undefined,
    ear: undefined,
    ...parts,
  });

  // 1. Challenge.
  let answer: AttestAnswer;
  try {
    answer = await client.attest(nonce);
  } catch (e: unknown) {
    return refused([reasonOf(e)]);
  }
  const evidenceSha256 = createHash('sha256').update(answer.evidence).digest('hex');
  const seen = { tee: answer.tee, simulated: answer.simulated, key: answer.key, models: answer.models, evidenceSha256, evidence: answer.evidence };
  if (evidenceSha256 !== answer.evidenceSha256) {
    return refused([{ code: 'ERR_BACKEND_FAILED', reason: 'evidence_digest', message: `backend ${client.name} states evidence digest ${answer.evidenceSha256}, the evidence hashes to ${evidenceSha256}` }], seen);
  }
  if (answer.binding !== 'attestgate-binding-v1') {
    return refused([{ code: 'ERR_REPORT_DATA_MISMATCH', reason: 'binding', message: `backend ${client.name} uses binding ${answer.binding}; this gateway knows attestgate-binding-v1` }], seen);
  }

  // 2-3. Collateral and verification.
  let collateral: CollateralFile[] = answer.collateral.map((c) => ({ name: c.name, bytes: c.bytes }));
  let result: EvidenceResult;
  // One time for the whole appraisal (verification, appraisal, EAR, expiry, the record's
  // created_at that clients re-verify at), read once the evidence and collateral are in hand: a
  // clock read per step would let a clock change between them judge one result at two times.
  let at = new Date(ctx.now());
  try {
    if (ctx.collateral !== undefined) collateral = [...collateral, ...(await ctx.collateral(answer))];
    const anchors = await ctx.trustAnchors(answer.tee);
    at = new Date(ctx.now());
    const t0 = performance.now();
    result = await verifyEvidence(
      { tee: answer.tee, evidence: answer.evidence, collateral },
      { ...ctx.verifyOptions, at, allowDebug: ctx.policy.dangerouslyAllowDebug, ...(anchors === undefined ? {} : { trustAnchors: anchors }) },
    );
    ctx.onVerified?.(answer.tee, (performance.now() - t0) / 1000);
    // 4. The evidence must commit to our nonce, the presented key and the declared models.
    await checkBinding(result, { nonce, jwk: answer.key, models: answer.models });
  } catch (e: unknown) {
    return refused([reasonOf(e)], { ...seen, collateral });
  }
  if (result.simulated !== answer.simulated) {
    return refused([{ code: 'ERR_BACKEND_FAILED', reason: 'simulated_flag', message: `backend ${client.name} says simulated=${String(answer.simulated)}, its evidence says ${String(result.simulated)}` }], { ...seen, collateral, result });
  }

  // 5. Appraisal: every check, got and want.
  const appraisal = appraise(result, ctx.policy, { at, models: answer.models });
  const verifiedAt = at.getTime();
  const expiresAt = Math.min(verifiedAt + ctx.lifetimeMs, Date.parse(result.expires_at));

  // 6. The signed attestation result.
  const ear = buildEar({
    result,
    appraisal,
    policy: { name: ctx.policy.name, digest: ctx.policyDigest },
    evidenceSha256: new Uint8Array(Buffer.from(evidenceSha256, 'hex')),
    at,
    build: ctx.build,
    nonce,
    expiresAt: new Date(Math.max(expiresAt, at.getTime() + 1000)),
  });
  const token = await new SignJWT({ ...ear })
    .setProtectedHeader({ alg: ctx.key.alg, kid: ctx.key.kid, typ: 'JWT' })
    .sign(ctx.key.privateKey);
  const admitted = appraisal.status !== 'contraindicated';
  return {
    ...base,
    ...seen,
    createdAt: verifiedAt,
    admitted,
    status: appraisal.status,
    reasons: admitted ? [] : appraisal.mismatches.map((m) => ({ code: 'ERR_POLICY_MISMATCH', reason: m.field, message: `${m.field} is ${m.got}, want ${m.want}` })),
    expiresAt: admitted ? expiresAt : verifiedAt,
    collateral,
    result,
    appraisal,
    ear: token,
  };
}
