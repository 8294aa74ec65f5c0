/**
 * The receipt an enclave signs for every inference answer (docs/receipts.md), format v1: the
 * digests of the exact request and response bytes, the model that ran, the runtime, the key, the
 * TEE and the measurement its own evidence states, the evidence it was attested with, the time,
 * and the client's nonce if one was sent. The enclave signs it as a compact JWS (ES256, kid = the
 * key's RFC 7638 thumbprint); this module only builds and checks the claims (pure), so the
 * gateway, the client and a browser share one closed schema.
 */
import { VerificationError } from './errors.ts';
import type { TeeKind } from './result.ts';
import { TEE_KINDS } from './result.ts';

export const RECEIPT_TYPE = 'attestgate-receipt/v1';
/** The JWS `typ` header of a receipt. */
export const RECEIPT_JWS_TYP = 'attestgate-receipt+jws';

export interface ReceiptModel {
  readonly name: string;
  readonly version: string;
  readonly sha256: string;
}

export interface ReceiptClaims {
  readonly typ: typeof RECEIPT_TYPE;
  /** Unique id (base64url of 16 random bytes). */
  readonly id: string;
  /** Seconds since the epoch (JWT iat) and the same instant in ISO-8601 with milliseconds. */
  readonly iat: number;
  readonly ts: string;
  readonly request_sha256: string;
  readonly response_sha256: string;
  readonly model: ReceiptModel;
  readonly runtime: { readonly name: string; readonly version: string };
  /** RFC 7638 thumbprint of the signing key, base64url; equals the JWS kid. */
  readonly kid: string;
  readonly tee: TeeKind;
  readonly simulated: boolean;
  readonly measurement: Readonly<Record<string, string>>;
  /** SHA-256 of the evidence the enclave was attested with (the one the gateway named, or its latest). */
  readonly evidence_sha256: string;
  /** The client's nonce, as sent (base64url, 16-128 characters). */
  readonly nonce?: string;
}

const HEX64 = /^[0-9a-f]{64}$/;
const HEX = /^[0-9a-f]*$/;
const B64URL = /^[A-Za-z0-9_-]+$/;
export const CLIENT_NONCE = /^[A-Za-z0-9_-]{16,128}$/;

function bad(msg: string): VerificationError {
  return new VerificationError('ERR_EVIDENCE_MALFORMED', `receipt: ${msg}`, { reason: 'receipt_schema' });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function closed(v: unknown, what: string, required: readonly string[], optional: readonly string[] = []): Record<string, unknown> {
  if (!isRecord(v)) throw bad(`${what} is not an object`);
  for (const k of Object.keys(v)) if (!required.includes(k) && !optional.includes(k)) throw bad(`${what} has unknown member "${k}"`);
  for (const k of required) if (!(k in v)) throw bad(`${what} lacks member "${k}"`);
  return v;
}

function str(v: unknown, what: string, re?: RegExp, max = 256): string {
  if (typeof v !== 'string' || v.length > max || (re !== undefined && !re.test(v))) throw bad(`${what} is not a valid string`);
  return v;
}

/** Check a decoded receipt payload against the v1 schema (unknown members are refused). */
export function parseReceiptClaims(v: unknown): ReceiptClaims {
  const o = closed(
    v,
    'payload',
    ['typ', 'id', 'iat', 'ts', 'request_sha256', 'response_sha256', 'model', 'runtime', 'kid', 'tee', 'simulated', 'measurement', 'evidence_sha256'],
    ['nonce'],
  );
  if (o['typ'] !== RECEIPT_TYPE) throw bad(`typ is ${JSON.stringify(o['typ'])}, want "${RECEIPT_TYPE}"`);
  const iat = o['iat'];
  if (typeof iat !== 'number' || !Number.isSafeInteger(iat) || iat < 0) throw bad('iat is not a non-negative integer');
  const ts = str(o['ts'], 'ts', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  if (Math.floor(Date.parse(ts) / 1000) !== iat) throw bad('ts and iat are not the same instant');
  const m = closed(o['model'], 'model', ['name', 'version', 'sha256']);
  const rt = closed(o['runtime'], 'runtime', ['name', 'version']);
  const tee = o['tee'];
  if (typeof tee !== 'string' || !(TEE_KINDS as readonly string[]).includes(tee)) throw bad(`tee ${JSON.stringify(tee)} is not one of ${TEE_KINDS.join(', ')}`);
  if (typeof o['simulated'] !== 'boolean') throw bad('simulated is not a boolean');
  const meas = o['measurement'];
  if (!isRecord(meas) || Object.keys(meas).length === 0 || Object.keys(meas).length > 8) throw bad('measurement is not a small object');
  const measurement: Record<string, string> = {};
  for (const [k, val] of Object.entries(meas)) measurement[str(k, 'measurement name', /^[a-z0-9_]{1,32}$/)] = str(val, `measurement ${k}`, HEX, 192);
  const nonce = o['nonce'];
  return {
    typ: RECEIPT_TYPE,
    id: str(o['id'], 'id', B64URL, 64),
    iat,
    ts,
    request_sha256: str(o['request_sha256'], 'request_sha256', HEX64),
    response_sha256: str(o['response_sha256'], 'response_sha256', HEX64),
    model: { name: str(m['name'], 'model.name'), version: str(m['version'], 'model.version'), sha256: str(m['sha256'], 'model.sha256', HEX64) },
    runtime: { name: str(rt['name'], 'runtime.name'), version: str(rt['version'], 'runtime.version') },
    kid: str(o['kid'], 'kid', B64URL, 64),
    tee: tee as TeeKind,
    simulated: o['simulated'],
    measurement,
    evidence_sha256: str(o['evidence_sha256'], 'evidence_sha256', HEX64),
    ...(nonce === undefined ? {} : { nonce: str(nonce, 'nonce', CLIENT_NONCE) }),
  };
}
