/**
 * The one error a policy file raises at load time. A policy is configuration, not evidence: a
 * malformed one is neither a VerificationError (the evidence is not authentic) nor a PolicyError
 * (authentic evidence that is not acceptable), so it is a class of its own with the same stable
 * fields (`code`, `reason`, a message for people) plus `path`, the place in the file that is wrong.
 *
 * It does not extend AttestationError because that class's `code` is the closed union of
 * attestation/errors.ts, which does not (yet) hold ERR_POLICY_INVALID.
 */

export const POLICY_LOAD_CODE = 'ERR_POLICY_INVALID';

/** The failed check, stable and documented in docs/errors.md. */
export const REASONS = {
  syntax: 'policy_syntax',
  unknownKey: 'policy_unknown_key',
  invalidValue: 'policy_invalid_value',
  hexLength: 'policy_hex_length',
  noMeasurement: 'policy_no_measurement',
} as const;
export type PolicyLoadReason = (typeof REASONS)[keyof typeof REASONS];

const BRAND = Symbol.for('attestgate.PolicyLoadError');

export class PolicyLoadError extends Error {
  readonly code = POLICY_LOAD_CODE;
  readonly reason: PolicyLoadReason;
  /** Where in the policy: `reference.tdx.mrtd[1]`, `tee`, or '' for the whole document. */
  readonly path: string;

  constructor(reason: PolicyLoadReason, path: string, message: string, options: { cause?: unknown } = {}) {
    super(path === '' ? `policy: ${message}` : `policy ${path}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.reason = reason;
    this.path = path;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** `instanceof` that also works across two copies of this package. */
  static is(e: unknown): e is PolicyLoadError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
  }
}
