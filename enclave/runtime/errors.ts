/**
 * The two error families of the model runtime.
 *
 * - ModelError: the operator's side went wrong at startup (manifest, model files, onnxruntime).
 *   The enclave refuses to start rather than serve a model it cannot vouch for, so these never
 *   reach a client.
 * - OipError: a request (or its inference) failed. It carries the HTTP status the Open Inference
 *   Protocol server answers with, and whether its message may be shown to the client (`expose`).
 *   Messages of 4xx errors name the request field (`inputs[0].shape`) with got and want, so the
 *   person who wrote the request can fix it; 5xx messages are fixed and the cause stays inside.
 *
 * Both carry a stable `code` (for programs) and a stable snake_case `reason` (one per check, for
 * tests and logs), and are branded with Symbol.for so `is()` works across duplicate installs.
 */

export type ModelErrorCode =
  /** models/manifest.json does not parse or breaks the closed schema. */
  | 'ERR_MANIFEST_INVALID'
  /** A model path leaves the model directory (`..`, absolute, a symlink pointing out). */
  | 'ERR_MODEL_PATH'
  /** A model file (or the manifest) is missing, unreadable, not a regular file or too large. */
  | 'ERR_MODEL_FILE'
  /** A model file's SHA-256 differs from the manifest's. */
  | 'ERR_MODEL_DIGEST_MISMATCH'
  /** onnxruntime refused the model bytes. */
  | 'ERR_MODEL_LOAD'
  /** The model loads but uses something the OIP layer cannot serve (non-tensor or 4-bit I/O). */
  | 'ERR_MODEL_UNSUPPORTED'
  /** Two models with the same name and version. */
  | 'ERR_MODEL_DUPLICATE'
  /** A caller error: a runtime option out of range. */
  | 'ERR_RUNTIME_OPTION';

const MODEL_BRAND = Symbol.for('attestgate.ModelError');
const OIP_BRAND = Symbol.for('attestgate.OipError');

export interface RuntimeErrorOptions {
  readonly reason?: string;
  readonly cause?: unknown;
  readonly details?: Readonly<Record<string, unknown>>;
}

export class ModelError extends Error {
  readonly code: ModelErrorCode;
  readonly reason: string;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ModelErrorCode, message: string, options: RuntimeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.reason = options.reason ?? code.slice(4).toLowerCase();
    this.details = options.details;
    Object.defineProperty(this, MODEL_BRAND, { value: true });
  }

  static is(e: unknown): e is ModelError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[MODEL_BRAND] === true;
  }
}

export type OipErrorCode =
  /** The request is not a valid OIP v2 inference request for this model (400). */
  | 'ERR_OIP_BAD_REQUEST'
  /** No such model, or no such version of it (404). */
  | 'ERR_OIP_MODEL_NOT_FOUND'
  /** onnxruntime failed on a request that passed validation (500). */
  | 'ERR_OIP_INFERENCE_FAILED'
  /** An output value has no exact JSON form: NaN, ±Infinity, an int64 beyond ±(2^53−1) (500). */
  | 'ERR_OIP_OUTPUT_UNREPRESENTABLE';

/** The HTTP status for each code; the server maps with this table and nothing else. */
export const OIP_HTTP_STATUS: Readonly<Record<OipErrorCode, number>> = {
  ERR_OIP_BAD_REQUEST: 400,
  ERR_OIP_MODEL_NOT_FOUND: 404,
  ERR_OIP_INFERENCE_FAILED: 500,
  ERR_OIP_OUTPUT_UNREPRESENTABLE: 500,
};

export class OipError extends Error {
  readonly code: OipErrorCode;
  readonly reason: string;
  readonly httpStatus: number;
  /** Whether `message` may go to the client. 5xx messages may not: they could leak internals. */
  readonly expose: boolean;

  constructor(code: OipErrorCode, reason: string, message: string, options: { readonly cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.reason = reason;
    this.httpStatus = OIP_HTTP_STATUS[code];
    this.expose = this.httpStatus < 500;
    Object.defineProperty(this, OIP_BRAND, { value: true });
  }

  static is(e: unknown): e is OipError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[OIP_BRAND] === true;
  }

  /** The OIP v2 error body (`{"error": "..."}`); 5xx errors say only their code. */
  responseBody(): { error: string } {
    return { error: this.expose ? this.message : `${this.code}: inference failed` };
  }
}
