/**
 * Parsing what the gateway serves, for the client verifier: the attestation record
 * (`GET /v1/attestations/{id}`), the JWKS (`GET /.well-known/jwks.json`), a receipt's proof bundle
 * (`GET /v1/receipts/{id}/proof`) and the offline bundle that carries all three. Everything arrives
 * as untrusted JSON: each parser takes `unknown`, checks every member it will use (type, width,
 * encoding) and returns a typed copy; a value it cannot use is an error naming the member.
 *
 * Members the verifier does not use (`checks`, `result`, `reasons`, `status`) are ignored, never
 * trusted: the verifier recomputes the result from the evidence and appraises it itself.
 */
import type { ModelDigest } from '../../attestation/binding.ts';
import type { TeeKind } from '../../attestation/result.ts';
import { TEE_KINDS } from '../../attestation/result.ts';
import { fromBase64Url } from './digest.ts';
import { StepFailure } from './report.ts';

/** The enclave key as the record states it (ES256, kid = RFC 7638 thumbprint). */
export interface EnclaveJwk {
  readonly kty: 'EC';
  readonly crv: 'P-256';
  readonly x: string;
  readonly y: string;
  readonly kid: string;
}

export interface RecordCollateral {
  readonly name: string;
  readonly sha256: string;
  /** base64 */
  readonly data: string;
}

/** The attestation record the gateway serves (src/gateway/server.ts), as far as a verifier reads it. */
export interface AttestationRecord {
  readonly id: string;
  readonly backend: string;
  readonly created_at: string;
  readonly expires_at: string;
  readonly admitted: boolean;
  /** base64url of the 32-byte nonce the gateway sent. */
  readonly nonce: string;
  readonly tee: TeeKind;
  readonly simulated: boolean;
  readonly key: EnclaveJwk;
  readonly models: readonly ModelDigest[];
  readonly policy_digest: string;
  readonly evidence_sha256: string;
  /** base64 */
  readonly evidence: string;
  readonly collateral: readonly RecordCollateral[];
  /** The gateway's EAR token (JWT). */
  readonly ear: string;
}

export interface Jwk {
  readonly kty: string;
  readonly crv: string;
  readonly x: string;
  readonly y?: string;
  readonly kid: string;
  readonly alg?: string;
}

export interface Jwks {
  readonly keys: readonly Jwk[];
}

/** `GET /v1/receipts/{id}/proof`. */
export interface ProofBundle {
  readonly receipt: {
    readonly id: string;
    /** The receipt compact JWS the log entry names (for General JSON answers the only copy). */
    readonly receipt: string;
    readonly receipt_sha256: string;
    readonly attestation_id: string;
    readonly log_index: number;
  };
  readonly log: {
    /** C2SP signed note. */
    readonly checkpoint: string;
    readonly tree_size: number;
    readonly index: number;
    /** base64 of the exact leaf bytes. */
    readonly leaf: string;
    /** base64 hashes, leaf to root. */
    readonly proof: readonly string[];
  };
  /** The log's signed-note verifier key, as the gateway states it (trust on first use only). */
  readonly verifier_key: string;
}

/**
 * An offline bundle: everything `verifyAnswer` would fetch from the gateway, saved by
 * `attestgate verify --gateway URL --save-bundle out.json`.
 */
export interface OfflineBundle {
  readonly type: typeof BUNDLE_TYPE;
  readonly attestation: AttestationRecord;
  readonly jwks: Jwks;
  /** The receipt's proof bundle; its verifier_key is the log key as the gateway stated it. */
  readonly proof?: ProofBundle;
}

export const BUNDLE_TYPE = 'attestgate-bundle/v1';

type Obj = Readonly<Record<string, unknown>>;

const HEX64 = /^[0-9a-f]{64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const B64URL = /^[A-Za-z0-9_-]+$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$/;
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

function bad(what: string, path: string, message: string): StepFailure {
  return new StepFailure('ERR_RECORD_MALFORMED', `${what} ${path} ${message}`);
}

function obj(v: unknown, what: string, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(what, path, 'is not an object');
  return v as Obj;
}

function str(o: Obj, k: string, what: string, re?: RegExp, max = 4096, path = k): string {
  const v = o[k];
  if (typeof v !== 'string' || v.length > max || (re !== undefined && !re.test(v))) throw bad(what, path, 'is missing or not a string of the expected form');
  return v;
}

function bool(o: Obj, k: string, what: string): boolean {
  const v = o[k];
  if (typeof v !== 'boolean') throw bad(what, k, 'is missing or not a boolean');
  return v;
}

function index(o: Obj, k: string, what: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(what, k, 'is missing or not a non-negative integer');
  return v;
}

function time(o: Obj, k: string, what: string): string {
  const v = str(o, k, what, ISO, 40);
  if (!Number.isFinite(Date.parse(v))) throw bad(what, k, 'is not a valid time');
  return v;
}

function list(v: unknown, what: string, path: string, max: number): readonly unknown[] {
  if (!Array.isArray(v) || v.length > max) throw bad(what, path, `is not a list of at most ${max} items`);
  return v as readonly unknown[];
}

function coordinate(o: Obj, k: string, what: string): string {
  const v = str(o, k, what, B64URL, 64, `key.${k}`);
  if (fromBase64Url(v)?.length !== 32) throw bad(what, `key.${k}`, 'is not a base64url P-256 coordinate (32 bytes)');
  return v;
}

/** Check an attestation record's members (throws StepFailure ERR_RECORD_MALFORMED / ERR_RECORD_MISMATCH). */
export function parseAttestationRecord(input: unknown): AttestationRecord {
  const what = 'attestation record';
  const o = obj(input, what, '(top level)');
  const id = str(o, 'id', what, UUID);
  // A refused backend's record has no key and no token; say so instead of "key is missing".
  if (o['admitted'] === false) throw new StepFailure('ERR_RECORD_MISMATCH', `attestation ${id} is a refusal: the gateway did not admit backend ${String(o['backend'])}`);
  const tee = o['tee'];
  if (typeof tee !== 'string' || !(TEE_KINDS as readonly string[]).includes(tee)) throw bad(what, 'tee', `is not one of ${TEE_KINDS.join(', ')}`);
  const k = obj(o['key'], what, 'key');
  if (k['kty'] !== 'EC' || k['crv'] !== 'P-256') throw bad(what, 'key', 'is not an EC P-256 key (enclave keys are ES256)');
  const key: EnclaveJwk = { kty: 'EC', crv: 'P-256', x: coordinate(k, 'x', what), y: coordinate(k, 'y', what), kid: str(k, 'kid', what, B64URL, 64, 'key.kid') };
  const models = list(o['models'], what, 'models', 256).map((m, i): ModelDigest => {
    const mo = obj(m, what, `models[${i}]`);
    return {
      name: str(mo, 'name', what, /^.{1,256}$/s, 256, `models[${i}].name`),
      version: str(mo, 'version', what, /^.{1,256}$/s, 256, `models[${i}].version`),
      sha256: str(mo, 'sha256', what, HEX64, 64, `models[${i}].sha256`),
    };
  });
  if (models.length === 0) throw bad(what, 'models', 'is empty');
  const collateral = list(o['collateral'], what, 'collateral', 64).map((c, i): RecordCollateral => {
    const co = obj(c, what, `collateral[${i}]`);
    // The data is decoded (strictly) only when the evidence is verified: a cached verdict for the
    // same digests never reads it again.
    return {
      name: str(co, 'name', what, /^.{1,256}$/s, 256, `collateral[${i}].name`),
      sha256: str(co, 'sha256', what, HEX64, 64, `collateral[${i}].sha256`),
      data: str(co, 'data', what, undefined, 64 * 1024 * 1024, `collateral[${i}].data`),
    };
  });
  const nonce = str(o, 'nonce', what, B64URL, 64);
  if (fromBase64Url(nonce)?.length !== 32) throw bad(what, 'nonce', 'is not base64url of 32 bytes');
  const createdAt = time(o, 'created_at', what);
  const expiresAt = time(o, 'expires_at', what);
  if (!(Date.parse(createdAt) <= Date.parse(expiresAt))) throw bad(what, 'expires_at', `(${expiresAt}) is before created_at (${createdAt})`);
  return {
    id,
    backend: str(o, 'backend', what, /^.{1,128}$/s),
    created_at: createdAt,
    expires_at: expiresAt,
    admitted: bool(o, 'admitted', what),
    nonce,
    tee: tee as TeeKind,
    simulated: bool(o, 'simulated', what),
    key,
    models,
    policy_digest: str(o, 'policy_digest', what, HEX64),
    evidence_sha256: str(o, 'evidence_sha256', what, HEX64),
    evidence: str(o, 'evidence', what, undefined, 64 * 1024 * 1024),
    collateral,
    ear: str(o, 'ear', what, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 1024 * 1024),
  };
}

/** A JWKS of public keys: each with a kid; private members refused. */
export function parseJwks(input: unknown): Jwks {
  const what = 'JWKS';
  const o = obj(input, what, '(top level)');
  const keys = list(o['keys'], what, 'keys', 1024).map((k, i): Jwk => {
    const ko = obj(k, what, `keys[${i}]`);
    // A private member in a published key set is a gateway bug at best; never import one.
    for (const p of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) if (p in ko) throw bad(what, `keys[${i}].${p}`, 'is a private key member');
    const y = ko['y'];
    const alg = ko['alg'];
    return {
      kty: str(ko, 'kty', what, /^[A-Z]{2,3}$/),
      crv: str(ko, 'crv', what, /^[A-Za-z0-9-]{1,16}$/),
      x: str(ko, 'x', what, B64URL, 256),
      ...(typeof y === 'string' ? { y } : {}),
      kid: str(ko, 'kid', what, /^[\x21-\x7e]{1,128}$/),
      ...(typeof alg === 'string' ? { alg } : {}),
    };
  });
  return { keys };
}

/** A receipt's proof bundle, as the gateway serves it. */
export function parseProofBundle(input: unknown): ProofBundle {
  const what = 'proof bundle';
  const o = obj(input, what, '(top level)');
  const r = obj(o['receipt'], what, 'receipt');
  const l = obj(o['log'], what, 'log');
  const proof = list(l['proof'], what, 'log.proof', 64).map((p, i) => {
    if (typeof p !== 'string' || !B64.test(p) || p.length > 64) throw bad(what, `log.proof[${i}]`, 'is not a base64 hash');
    return p;
  });
  return {
    receipt: {
      id: str(r, 'id', what, B64URL, 64),
      receipt: str(r, 'receipt', what, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 16_384),
      receipt_sha256: str(r, 'receipt_sha256', what, HEX64),
      attestation_id: str(r, 'attestation_id', what, UUID),
      log_index: index(r, 'log_index', what),
    },
    log: {
      checkpoint: str(l, 'checkpoint', what, undefined, 1 << 20),
      tree_size: index(l, 'tree_size', what),
      index: index(l, 'index', what),
      leaf: str(l, 'leaf', what, B64, 1 << 20),
      proof,
    },
    verifier_key: str(o, 'verifier_key', what, /^[\x21-\x7e]{1,512}$/),
  };
}

/** An offline bundle file (`{type, attestation, jwks, proof?}`). */
export function parseOfflineBundle(input: unknown): OfflineBundle {
  const what = 'bundle';
  const o = obj(input, what, '(top level)');
  if (o['type'] !== undefined && o['type'] !== BUNDLE_TYPE) throw bad(what, 'type', `is not "${BUNDLE_TYPE}"`);
  return {
    type: BUNDLE_TYPE,
    attestation: parseAttestationRecord(o['attestation']),
    jwks: parseJwks(o['jwks']),
    ...(o['proof'] === undefined ? {} : { proof: parseProofBundle(o['proof']) }),
  };
}
