/**
 * One error family for everything the attestation library rejects.
 *
 * Two branches, as in sigstore: a VerificationError says the evidence is not authentic (or cannot
 * be shown to be); a PolicyError says it is authentic but not acceptable. Programs branch on
 * `code` (a small, stable set) and, when they need the exact failed step, on `reason` (stable too,
 * one per verification step; the fixture cases name these). Messages are for people.
 */

export const VERIFICATION_CODES = [
  'ERR_EVIDENCE_MALFORMED',
  'ERR_EVIDENCE_UNSUPPORTED',
  'ERR_SIGNATURE_INVALID',
  'ERR_CHAIN_UNTRUSTED',
  'ERR_CERT_NOT_VALID_AT_TIME',
  'ERR_REVOKED',
  'ERR_CRL_INVALID',
  'ERR_COLLATERAL_MALFORMED',
  'ERR_COLLATERAL_MISMATCH',
  'ERR_COLLATERAL_STALE',
  'ERR_COLLATERAL_UNAVAILABLE',
  'ERR_TCB_STATUS',
  'ERR_INVALID_ARGUMENT',
] as const;
export type VerificationErrorCode = (typeof VERIFICATION_CODES)[number];

export const POLICY_CODES = ['ERR_DEBUG_REFUSED', 'ERR_REPORT_DATA_MISMATCH', 'ERR_POLICY_MISMATCH'] as const;
export type PolicyErrorCode = (typeof POLICY_CODES)[number];

export type AttestationErrorCode = VerificationErrorCode | PolicyErrorCode;

const BRAND = Symbol.for('attestgate.AttestationError');

export interface ErrorOptions {
  /** The verification step that failed (stable, snake_case), e.g. `quote_signature`. */
  readonly reason?: string;
  readonly cause?: unknown;
  readonly details?: Readonly<Record<string, unknown>>;
}

export abstract class AttestationError extends Error {
  abstract readonly family: 'verification' | 'policy';
  readonly code: AttestationErrorCode;
  readonly reason: string;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: AttestationErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.reason = options.reason ?? defaultReason(code);
    this.details = options.details;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** `instanceof` that also works across two copies of this package (browser bundle + Node). */
  static is(e: unknown): e is AttestationError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
  }
}

export class VerificationError extends AttestationError {
  readonly family = 'verification' as const;
  declare readonly code: VerificationErrorCode;
  // Not useless: it narrows `code` to the verification family at compile time.
  // eslint-disable-next-line @typescript-eslint/no-useless-constructor
  constructor(code: VerificationErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

export interface PolicyMismatch {
  readonly field: string;
  readonly got: string;
  readonly want: string;
}

export class PolicyError extends AttestationError {
  readonly family = 'policy' as const;
  declare readonly code: PolicyErrorCode;
  readonly mismatches: readonly PolicyMismatch[];
  constructor(code: PolicyErrorCode, message: string, options: ErrorOptions & { mismatches?: readonly PolicyMismatch[] } = {}) {
    super(code, message, options);
    this.mismatches = options.mismatches ?? [];
  }
}

function defaultReason(code: AttestationErrorCode): string {
  return code.replace(/^ERR_/, '').toLowerCase();
}

/** Shorthand for the parsers, which only ever raise ERR_EVIDENCE_MALFORMED. */
export function malformed(message: string, reason = 'malformed_evidence', cause?: unknown): VerificationError {
  return new VerificationError('ERR_EVIDENCE_MALFORMED', message, cause === undefined ? { reason } : { reason, cause });
}
