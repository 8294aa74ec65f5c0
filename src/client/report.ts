/**
 * The verifier's report: a fixed checklist of named steps, each passed, failed, skipped (because a
 * step it depends on did not pass) or not checked (nothing to check it against: no request given,
 * no nonce sent, no proof available). `ok` is true only when no step failed or was skipped.
 */
import type { ReceiptClaims } from '../../attestation/receipt.ts';

/** Every step, in the order they run and are listed. */
export const STEP_NAMES = [
  'answer_format',
  'attestation_record',
  'enclave_signature',
  'request_digest',
  'response_digest',
  'model_digest',
  'nonce',
  'attestation_evidence',
  'key_binding',
  'measurement',
  'policy',
  'ear',
  'countersignature',
  'log_inclusion',
] as const;
export type StepName = (typeof STEP_NAMES)[number];

export type StepStatus = 'passed' | 'failed' | 'skipped' | 'not_checked';

/**
 * Stable codes of failed steps. Failures from attestation/ keep their own code (ERR_CHAIN_UNTRUSTED,
 * ERR_COLLATERAL_STALE, ERR_REPORT_DATA_MISMATCH, ...), failures from the log keep the log's
 * (ERR_LOG_BAD_PROOF, ERR_CHECKPOINT_SIGNATURE, ERR_CHECKPOINT_MALFORMED).
 */
export const CLIENT_CODES = [
  /** The answer is neither a plain answer with receipt headers nor the General JSON JWS. */
  'ERR_ANSWER_MALFORMED',
  /** No attestation record: none given, and none could be fetched. */
  'ERR_RECORD_UNAVAILABLE',
  /** The record does not follow the gateway's format (or its evidence does not hash to its digest). */
  'ERR_RECORD_MALFORMED',
  /** The record is not the one this answer relied on, or the gateway did not admit it. */
  'ERR_RECORD_MISMATCH',
  /** A JWS signature does not verify. */
  'ERR_SIGNATURE_INVALID',
  /** A JWS names a key that is not the one it must be signed by. */
  'ERR_WRONG_KEY',
  /** The receipt's claims contradict the attestation record (evidence, TEE, simulated, time). */
  'ERR_RECEIPT_MISMATCH',
  /** request_sha256 or response_sha256 is not the digest of the bytes. */
  'ERR_DIGEST_MISMATCH',
  /** The model that ran is not attested, or not one the policy allows. */
  'ERR_MODEL_MISMATCH',
  /** The receipt does not carry the nonce the client sent. */
  'ERR_NONCE_MISMATCH',
  /** Simulated evidence, and allowSimulated was not given. */
  'ERR_SIMULATED_REFUSED',
  /** The receipt's measurement is not the verified evidence's. */
  'ERR_MEASUREMENT_MISMATCH',
  /** The gateway's EAR token does not verify or does not describe this evidence. */
  'ERR_EAR_INVALID',
  /** No gateway key set: neither given nor fetchable. */
  'ERR_JWKS_UNAVAILABLE',
  /** The gateway's countersignature names another receipt or attestation. */
  'ERR_COUNTERSIGNATURE_MISMATCH',
  /** No proof bundle, or no log key to check it with, although one was asked for. */
  'ERR_LOG_UNAVAILABLE',
  /** The log entry is not this receipt's. */
  'ERR_LOG_ENTRY_MISMATCH',
  /** The gateway's log key differs from the one first seen (trust on first use). */
  'ERR_LOG_KEY_CHANGED',
  /** A bug in the verifier (an unexpected exception); the step counts as failed. */
  'ERR_INTERNAL',
] as const;
export type ClientCode = (typeof CLIENT_CODES)[number];

export interface StepReport {
  readonly name: StepName;
  /** passed or not_checked. */
  readonly ok: boolean;
  readonly status: StepStatus;
  /** What was checked, or why it failed (got and want). */
  readonly detail: string;
  /** For failed steps: a ClientCode, or the code of the attestation or log error. */
  readonly code?: string;
}

export interface Report {
  /** Every step passed or was not checked. */
  readonly ok: boolean;
  /** The evidence (or, if it could not be verified, the record or receipt) says simulated TEE. */
  readonly simulated: boolean;
  readonly steps: readonly StepReport[];
  /** The receipt's claims, once the enclave's signature over them verified. */
  readonly receipt?: ReceiptClaims;
  /** The OIP response bytes the receipt covers (the body, or the JWS payload's response text). */
  readonly response?: Uint8Array;
  /** The attestation the answer relied on. */
  readonly attestationId?: string;
  /**
   * Whose policy the policy step appraised against: the caller's, the one the gateway publishes
   * (no policy given, a gateway to ask), or none (no policy given, offline: evidence checked to the
   * vendor root only).
   */
  readonly policySource: PolicySource;
}

export type PolicySource = 'given' | 'gateway' | 'none';

/** What a step's body returns; a throw is turned into a failure by the runner. */
export type StepOutcome =
  | { readonly status: 'passed'; readonly detail: string }
  | { readonly status: 'failed'; readonly detail: string; readonly code: string }
  | { readonly status: 'not_checked'; readonly detail: string };

export const passed = (detail: string): StepOutcome => ({ status: 'passed', detail });
export const failed = (code: string, detail: string): StepOutcome => ({ status: 'failed', detail, code });
export const notChecked = (detail: string): StepOutcome => ({ status: 'not_checked', detail });

/** A failure a step body throws (cheap checks in sequence read better as throws). */
export class StepFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'StepFailure';
  }
}

/** Runs the checklist: a step whose dependencies did not all pass (or were not checked) is skipped. */
export class Checklist {
  readonly #done = new Map<StepName, StepReport>();

  status(name: StepName): StepStatus | undefined {
    return this.#done.get(name)?.status;
  }

  async run(name: StepName, deps: readonly StepName[], body: () => Promise<StepOutcome> | StepOutcome): Promise<boolean> {
    const blocked = deps.filter((d) => {
      const s = this.#done.get(d)?.status;
      return s !== 'passed' && s !== 'not_checked';
    });
    if (blocked.length > 0) {
      this.#record(name, { status: 'skipped', detail: `skipped: ${blocked.join(', ')} did not pass` });
      return false;
    }
    let out: StepOutcome;
    try {
      out = await body();
    } catch (e: unknown) {
      out = outcomeOf(e);
    }
    this.#record(name, out);
    return out.status !== 'failed';
  }

  #record(name: StepName, out: StepOutcome | { status: 'skipped'; detail: string }): void {
    const ok = out.status === 'passed' || out.status === 'not_checked';
    this.#done.set(name, { name, ok, status: out.status, detail: out.detail, ...('code' in out ? { code: out.code } : {}) });
  }

  report(simulated: boolean, policySource: PolicySource, extra: Pick<Report, 'receipt' | 'response' | 'attestationId'> = {}): Report {
    const steps = STEP_NAMES.map((name): StepReport => this.#done.get(name) ?? { name, ok: false, status: 'skipped', detail: 'skipped: not reached' });
    return { ok: steps.every((s) => s.ok), simulated, steps, policySource, ...extra };
  }
}

/** A thrown value as a failed outcome: StepFailure, AttestationError and LogError keep their code. */
export function outcomeOf(e: unknown): StepOutcome {
  if (e instanceof StepFailure) return failed(e.code, e.message);
  const code = typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : 'ERR_INTERNAL';
  return failed(code, e instanceof Error ? e.message : String(e));
}
