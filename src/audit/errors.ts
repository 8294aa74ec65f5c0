/**
 * The one error class of the transparency log (merkle, checkpoint, store, log). Pure: no imports,
 * so the browser client can reuse it with merkle.ts and checkpoint.ts.
 *
 * Programs branch on `code` (stable, documented in the report to the lead for docs/errors.md);
 * messages are for the operator and say what to do.
 */

export const LOG_ERROR_CODES = [
  /** An index, size or range outside the log (or an entry larger than the configured limit). */
  'ERR_LOG_RANGE',
  /** The log was closed (or is closing) when the call was made. */
  'ERR_LOG_CLOSED',
  /** The stored tree contradicts itself or an earlier checkpoint; never sign over it. */
  'ERR_LOG_INCONSISTENT',
  /** The database could not be opened, read or written (read-only file, disk full, lock held). */
  'ERR_LOG_IO',
  /** An inclusion or consistency proof does not verify. */
  'ERR_LOG_BAD_PROOF',
  /** A checkpoint, signed note or verifier key does not follow C2SP tlog-checkpoint / signed-note. */
  'ERR_CHECKPOINT_MALFORMED',
  /** No trusted signature on a checkpoint verifies, or a trusted one fails to verify. */
  'ERR_CHECKPOINT_SIGNATURE',
] as const;
export type LogErrorCode = (typeof LOG_ERROR_CODES)[number];

const BRAND = Symbol.for('attestgate.LogError');

export interface LogErrorOptions {
  readonly cause?: unknown;
  readonly details?: Readonly<Record<string, unknown>>;
}

export class LogError extends Error {
  readonly code: LogErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: LogErrorCode, message: string, options: LogErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** `instanceof` that also works across two copies of this package (browser bundle + Node). */
  static is(e: unknown): e is LogError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
  }
}
