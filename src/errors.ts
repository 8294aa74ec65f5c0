/**
 * The gateway's one error class and its code registry (the fastify / undici shape).
 *
 * Programs branch on `code`, which is stable and documented in docs/gateway-errors.md (a test
 * keeps the registry and that page in step). `httpStatus` comes from the registry so a code cannot
 * be answered with two different statuses in two places. `expose` says whether `message` may be
 * sent to the client: messages of 5xx errors often name files, hosts or SQL state that help the
 * operator and an attacker alike, so by default only 4xx messages are exposed and a 5xx answer
 * carries the registry's description instead. Full details go to the log, never to the client.
 */

export interface AppErrorInfo {
  readonly httpStatus: number;
  /** One line for clients and docs; used as the message of an answer whose error is not exposed. */
  readonly description: string;
}

export const APP_ERRORS = {
  ERR_BAD_REQUEST: { httpStatus: 400, description: 'The request is malformed or names an invalid value.' },
  ERR_UNAUTHENTICATED: { httpStatus: 401, description: 'No valid API key was presented.' },
  ERR_FORBIDDEN: { httpStatus: 403, description: 'The API key is valid but not allowed to do this.' },
  ERR_NOT_FOUND: { httpStatus: 404, description: 'No such resource.' },
  ERR_BODY_TOO_LARGE: { httpStatus: 413, description: 'The request body exceeds limits.max_body_bytes.' },
  ERR_UNSUPPORTED_MEDIA_TYPE: { httpStatus: 415, description: 'The request body has a Content-Encoding: bodies are forwarded to the enclave byte for byte (the receipt covers those bytes), so send them unencoded.' },
  ERR_RATE_LIMITED: { httpStatus: 429, description: 'Too many requests for this tenant; retry after the Retry-After delay.' },
  ERR_CONFIG_INVALID: { httpStatus: 500, description: 'The gateway configuration is invalid (reported at start, never to clients).' },
  ERR_INTERNAL: { httpStatus: 500, description: 'An unexpected error inside the gateway.' },
  ERR_BACKEND_FAILED: { httpStatus: 502, description: 'The backend enclave failed or answered something unusable.' },
  ERR_BACKEND_UNREACHABLE: { httpStatus: 502, description: 'The backend enclave could not be reached (connection refused, reset or DNS failure).' },
  ERR_RECEIPT_INVALID: { httpStatus: 502, description: "The backend's receipt does not verify against its attested key." },
  ERR_NO_BACKEND: { httpStatus: 503, description: 'No admitted (attested and policy-affirmed) backend serves this model.' },
  ERR_STORE_IO: { httpStatus: 503, description: 'The gateway cannot read or write its data store.' },
  ERR_BACKEND_TIMEOUT: { httpStatus: 504, description: 'The backend did not answer within its timeout.' },
} as const satisfies Readonly<Record<string, AppErrorInfo>>;

export type AppErrorCode = keyof typeof APP_ERRORS;

export function isAppErrorCode(code: string): code is AppErrorCode {
  return Object.hasOwn(APP_ERRORS, code);
}

export interface AppErrorOptions {
  readonly cause?: unknown;
  /** Override the default (exposed iff httpStatus < 500). */
  readonly expose?: boolean;
  /** Structured context for the log (never sent to clients). */
  readonly details?: Readonly<Record<string, unknown>>;
}

const BRAND = Symbol.for('attestgate.AppError');

export class AppError extends Error {
  readonly code: AppErrorCode;
  readonly httpStatus: number;
  readonly expose: boolean;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: AppErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.httpStatus = APP_ERRORS[code].httpStatus;
    this.expose = options.expose ?? this.httpStatus < 500;
    this.details = options.details;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** `instanceof` that also works across two copies of this package. */
  static is(e: unknown): e is AppError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
  }
}

export interface ErrorResponse {
  readonly status: number;
  readonly body: { readonly error: { readonly code: AppErrorCode; readonly message: string } };
}

/**
 * The HTTP answer for any thrown value: an AppError keeps its code and status; anything else is
 * ERR_INTERNAL. Unexposed messages are replaced by the registry description, so a stack trace,
 * a path or a SQLite message never reaches a client. The caller logs the original.
 */
export function toErrorResponse(e: unknown): ErrorResponse {
  const err = AppError.is(e) ? e : new AppError('ERR_INTERNAL', 'unexpected error', { cause: e });
  const message = err.expose ? err.message : APP_ERRORS[err.code].description;
  return { status: err.httpStatus, body: { error: { code: err.code, message } } };
}
