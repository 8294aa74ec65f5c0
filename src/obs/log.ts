/**
 * Structured JSON-lines logger: one object per line, `{"time","level","msg",...fields}`.
 *
 * Every line goes through `redact` first, because logs are copied to places (terminals, log
 * shippers, bug reports) with wider access than the gateway's data directory, and the likeliest
 * leak is a well-meant `log.debug('request', { headers })`. Redaction works two ways:
 * - keys named like secrets (secret, authorization, api_key, password, private, body, cookie,
 *   credential, token) are dropped with their whole value, at any depth;
 * - strings anywhere (messages, values, error messages and stacks) have API keys (`ag_...`,
 *   keeping only the public id) and PEM private keys cut out.
 * Bytes are never written, only their length: a Uint8Array in a log is most likely key material.
 */
import { KeyObject } from 'node:crypto';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type Fields = Readonly<Record<string, unknown>>;

export interface Logger {
  readonly level: LogLevel;
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** A logger that adds `fields` to every line (e.g. a request id). */
  child(fields: Fields): Logger;
  isEnabled(level: LogLevel): boolean;
}

export interface LoggerOptions {
  /** Lines below this level are dropped. Default info. */
  readonly level?: LogLevel;
  /** Receives each line without its newline. Default: write to stdout. */
  readonly sink?: (line: string) => void;
  /** Milliseconds since the epoch for `time`. Default Date.now. */
  readonly clock?: () => number;
  /** Fields on every line. */
  readonly base?: Fields;
}

const RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };
const RESERVED = new Set(['time', 'level', 'msg']);

/** Keys whose values never reach a log. */
export const SECRET_KEY = /secret|authori[sz]ation|api[-_]?key|passw(?:or)?d|passphrase|private|body|cookie|credential|token/i;

// `ag_<16 hex id>_<secret>` keeps its public id; any other `ag_` + 8 or more key characters (a
// truncated or mangled key) is cut whole. The lookbehind spares words like `tag_name` (but not
// `x_ag_...`: an underscore is how a key gets glued into an identifier).
// A key in its full shape (ag_<16 hex>_<secret>) is redacted wherever it stands, even glued to a
// word (a raw path such as `/v2/models/%ZZag_...` quoted in an error message): the first branch.
// One pass, so that a redacted key is not matched again.
const API_KEY_LIKE = /ag_([0-9a-f]{16})_[A-Za-z0-9_-]{8,}|(?<![A-Za-z0-9])ag_([0-9a-f]{16}_)?[A-Za-z0-9_-]{8,}/g;
// A PEM private key of any kind (PKCS#8, RSA, EC, ENCRYPTED, OPENSSH); a missing END line (a cut
// string) redacts to the end of the string.
const PEM_PRIVATE = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$)/g;

const MAX_DEPTH = 8;
const MAX_STRING = 8192;

export function redactString(s: string): string {
  const out = s
    .replace(PEM_PRIVATE, '[REDACTED PRIVATE KEY]')
    .replace(API_KEY_LIKE, (_m, full: string | undefined, id: string | undefined) => (full !== undefined ? `ag_${full}_[REDACTED]` : id === undefined ? 'ag_[REDACTED]' : `ag_${id}[REDACTED]`));
  return out.length > MAX_STRING ? `${out.slice(0, MAX_STRING)}…[truncated]` : out;
}

/** A JSON-safe copy of `value` with secrets removed (see the module comment). */
export function redact(value: unknown): unknown {
  return walk(value, 0, new WeakSet());
}

function walk(v: unknown, depth: number, seen: WeakSet<object>): unknown {
  switch (typeof v) {
    case 'string':
      return redactString(v);
    case 'number':
      return Number.isFinite(v) ? v : String(v);
    case 'boolean':
      return v;
    case 'bigint':
      return v.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'object':
      break;
  }
  if (v === null) return null;
  if (v instanceof Uint8Array) return `[${v.byteLength} bytes]`;
  if (v instanceof ArrayBuffer) return `[${v.byteLength} bytes]`;
  if (v instanceof KeyObject) return `[${v.type} key]`;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
  if (seen.has(v)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Truncated]';
  seen.add(v);
  try {
    if (Array.isArray(v)) return v.map((x: unknown) => walk(x, depth + 1, seen) ?? null);
    if (v instanceof Map) return walkEntries([...v.entries()].map(([k, x]: [unknown, unknown]) => [String(k), x]), depth, seen);
    if (v instanceof Set) return [...v].map((x: unknown) => walk(x, depth + 1, seen) ?? null);
    if (v instanceof Error) {
      const e: Record<string, unknown> = { name: v.name, message: v.message };
      for (const k of ['code', 'httpStatus', 'reason', 'details']) if (k in v) e[k] = (v as unknown as Record<string, unknown>)[k];
      if (v.stack !== undefined) e['stack'] = v.stack;
      if (v.cause !== undefined) e['cause'] = v.cause;
      return walkEntries(Object.entries(e), depth, seen);
    }
    return walkEntries(Object.entries(v), depth, seen);
  } finally {
    seen.delete(v);
  }
}

function walkEntries(entries: readonly (readonly [string, unknown])[], depth: number, seen: WeakSet<object>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of entries) {
    if (SECRET_KEY.test(k)) continue;
    const r = walk(x, depth + 1, seen);
    if (r !== undefined) out[redactString(k)] = r;
  }
  return out;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const sink = opts.sink ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const clock = opts.clock ?? Date.now;
  return make(level, sink, clock, opts.base ?? {});
}

function make(level: LogLevel, sink: (line: string) => void, clock: () => number, base: Fields): Logger {
  const isEnabled = (l: LogLevel): boolean => RANK[l] >= RANK[level];
  const emit = (l: LogLevel, msg: string, fields: Fields | undefined): void => {
    if (!isEnabled(l)) return;
    const line: Record<string, unknown> = { time: new Date(clock()).toISOString(), level: l, msg: redactString(msg) };
    const extra = walk({ ...base, ...fields }, 0, new WeakSet());
    if (typeof extra === 'object' && extra !== null) {
      for (const [k, v] of Object.entries(extra)) line[RESERVED.has(k) ? `_${k}` : k] = v;
    }
    try {
      sink(JSON.stringify(line));
    } catch {
      // Logging must never take the gateway down (a closed stdout, a failing sink).
    }
  };
  return {
    level,
    isEnabled,
    debug: (msg, fields) => {
      emit('debug', msg, fields);
    },
    info: (msg, fields) => {
      emit('info', msg, fields);
    },
    warn: (msg, fields) => {
      emit('warn', msg, fields);
    },
    error: (msg, fields) => {
      emit('error', msg, fields);
    },
    child: (fields) => make(level, sink, clock, { ...base, ...fields }),
  };
}
