/**
 * Reading the gateway's log entries (src/audit/gateway-log.ts writes them; docs/log.md lists the
 * fields) and attestation records, as untrusted input: bytes -> canonical JSON -> one of the
 * entry kinds with every field the audit relies on checked, or a problem to report.
 *
 * Fields the audit does not use may be present (a newer gateway may add some); every field it
 * does use must have the documented type. An entry must be exactly canonicalJson of its value,
 * as the gateway writes it, so one logged fact has one encoding.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../attestation/policy/digest.ts';
import type { ModelDigest, PublicJwk } from '../../attestation/binding.ts';
import { TEE_KINDS, type TeeKind } from '../../attestation/result.ts';
import { equalText } from '../client/digest.ts';
import { HEX64 } from './audit-source.ts';

export const VERDICTS = ['affirming', 'warning', 'contraindicated', 'error'] as const;
export type Verdict = (typeof VERDICTS)[number];

/** Verdicts under which the gateway admits a backend (and so may serve answers from it). */
export const isAdmitting = (v: Verdict): boolean => v === 'affirming' || v === 'warning';

export interface AttestationEntry {
  readonly kind: 'attestation';
  readonly id: string;
  readonly backend: string;
  /** ms since the epoch: when the gateway began the attestation (the time its verdict is replayed at). */
  readonly time: number;
  readonly verdict: Verdict;
  readonly evidenceSha256: string | null;
  readonly collateralSha256: readonly string[];
  readonly policyDigest: string;
  readonly ear: string | null;
  readonly keyKid: string | null;
}

export interface ReceiptEntry {
  readonly kind: 'receipt';
  readonly id: string;
  readonly receiptSha256: string;
  readonly attestation: string;
  readonly backend: string;
  readonly model: string;
  readonly time: number;
}

export type KeyEntry =
  | { readonly kind: 'key'; readonly event: 'gateway_key_created'; readonly kid: string; readonly alg: 'ES256' | 'EdDSA'; readonly jwk: Readonly<Record<string, unknown>> }
  | { readonly kind: 'key'; readonly event: 'enclave_key_admitted'; readonly backend: string; readonly kid: string | null; readonly attestation: string }
  /** Other key events (eviction, and any a newer gateway adds) carry nothing the audit checks. */
  | { readonly kind: 'key'; readonly event: 'other'; readonly name: string };

export type LogEntryView = AttestationEntry | ReceiptEntry | KeyEntry;

export class EntryError extends Error {
  override readonly name = 'EntryError';
}

type Obj = Readonly<Record<string, unknown>>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$/;

function str(o: Obj, k: string, max = 1024): string {
  const v = o[k];
  if (typeof v !== 'string' || v === '' || v.length > max) throw new EntryError(`field "${k}" is not a non-empty string`);
  return v;
}

function strOrNull(o: Obj, k: string, max = 1 << 20): string | null {
  const v = o[k];
  if (v === null) return null;
  if (typeof v !== 'string' || v === '' || v.length > max) throw new EntryError(`field "${k}" is neither null nor a non-empty string`);
  return v;
}

function hex64(o: Obj, k: string): string {
  const v = o[k];
  if (typeof v !== 'string' || !HEX64.test(v)) throw new EntryError(`field "${k}" is not 64 lowercase hex digits`);
  return v;
}

function time(o: Obj, k: string): number {
  const v = o[k];
  const t = typeof v === 'string' && ISO.test(v) ? Date.parse(v) : NaN;
  if (!Number.isFinite(t)) throw new EntryError(`field "${k}" is not an ISO-8601 UTC time`);
  return t;
}

function attestation(o: Obj): AttestationEntry {
  const verdict = o['verdict'];
  if (typeof verdict !== 'string' || !(VERDICTS as readonly string[]).includes(verdict)) throw new EntryError(`field "verdict" is ${JSON.stringify(verdict)}, want one of ${VERDICTS.join(', ')}`);
  const evidence = o['evidence_sha256'];
  if (evidence !== null && (typeof evidence !== 'string' || !HEX64.test(evidence))) throw new EntryError('field "evidence_sha256" is neither null nor 64 lowercase hex digits');
  const collateral = o['collateral_sha256'];
  if (!Array.isArray(collateral) || collateral.some((c) => typeof c !== 'string' || !HEX64.test(c))) throw new EntryError('field "collateral_sha256" is not a list of SHA-256 hex digests');
  if (!Array.isArray(o['reasons'])) throw new EntryError('field "reasons" is not a list');
  return {
    kind: 'attestation',
    id: str(o, 'id', 256),
    backend: str(o, 'backend'),
    time: time(o, 'time'),
    verdict: verdict as Verdict,
    evidenceSha256: evidence,
    collateralSha256: collateral as string[],
    policyDigest: hex64(o, 'policy_digest'),
    ear: strOrNull(o, 'ear'),
    keyKid: strOrNull(o, 'key_kid', 256),
  };
}

function receipt(o: Obj): ReceiptEntry {
  const receiptSha256 = hex64(o, 'receipt_sha256');
  // The receipt JWS itself (entries written since it was added): it must be the one the digest names.
  if (o['receipt'] !== undefined && !equalText(createHash('sha256').update(str(o, 'receipt', 16_384)).digest('hex'), receiptSha256)) {
    throw new EntryError('field "receipt" is not the receipt whose SHA-256 is receipt_sha256');
  }
  return {
    kind: 'receipt',
    id: str(o, 'id', 256),
    receiptSha256,
    attestation: str(o, 'attestation', 256),
    backend: str(o, 'backend'),
    model: str(o, 'model'),
    time: time(o, 'time'),
  };
}

function keyEvent(o: Obj): KeyEntry {
  const event = str(o, 'event', 64);
  // `gateway_key_in_use` is logged at every start with an existing key, `gateway_key_rotated` at a
  // start with another key than the last one logged (it also names previous_kid): same fields,
  // same trust from that entry on.
  if (event === 'gateway_key_created' || event === 'gateway_key_in_use' || event === 'gateway_key_rotated') {
    const alg = o['alg'];
    if (alg !== 'ES256' && alg !== 'EdDSA') throw new EntryError(`field "alg" is ${JSON.stringify(alg)}, want ES256 or EdDSA`);
    const jwk = o['jwk'];
    if (!isObj(jwk)) throw new EntryError('field "jwk" is not an object');
    // A private member would make this a secret key in a public log, and no verifier needs it.
    if ('d' in jwk) throw new EntryError('field "jwk" holds a private key member "d"');
    return { kind: 'key', event: 'gateway_key_created', kid: str(o, 'kid', 256), alg, jwk };
  }
  if (event === 'enclave_key_admitted') return { kind: 'key', event, backend: str(o, 'backend'), kid: strOrNull(o, 'kid', 256), attestation: str(o, 'attestation', 256) };
  return { kind: 'key', event: 'other', name: event };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** One entry's leaf bytes as the gateway wrote them; throws EntryError saying what is wrong. */
export function parseLogEntry(leaf: Uint8Array): LogEntryView {
  let text: string;
  let v: unknown;
  try {
    text = utf8.decode(leaf);
    v = JSON.parse(text) as unknown;
  } catch {
    throw new EntryError('is not UTF-8 JSON');
  }
  if (!isObj(v)) throw new EntryError('is not a JSON object');
  if (canonicalJson(v) !== text) throw new EntryError('is not canonical JSON (sorted keys, no white space) as the gateway writes it');
  const kind = v['kind'];
  switch (kind) {
    case 'attestation':
      return attestation(v);
    case 'receipt':
      return receipt(v);
    case 'key':
      return keyEvent(v);
    default:
      throw new EntryError(`has kind ${JSON.stringify(kind)}, want attestation, receipt or key`);
  }
}

// ---------------------------------------------------------------------------------------------
// Attestation records (GET /v1/attestations/{id}; attestations/<id>.json in an export)

export interface AttestationRecordView {
  readonly id: string;
  readonly backend: string;
  readonly status: string;
  readonly tee: TeeKind | null;
  readonly simulated: boolean;
  readonly nonce: Uint8Array;
  readonly key: (PublicJwk & { readonly kid: string }) | null;
  readonly models: readonly ModelDigest[];
  readonly evidenceSha256: string | null;
  /** The record's own copies of the evidence and collateral, by digest (unchecked here). */
  readonly copies: ReadonlyMap<string, Uint8Array>;
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;
const B64URL = /^[A-Za-z0-9_-]+$/;

function b64(v: unknown, what: string): Uint8Array {
  if (typeof v !== 'string' || !B64.test(v) || v.length % 4 !== 0) throw new EntryError(`${what} is not base64`);
  return new Uint8Array(Buffer.from(v, 'base64'));
}

/** The record JSON the gateway serves (server.ts attestationRecord); throws EntryError. */
export function parseAttestationRecord(text: string): AttestationRecordView {
  let v: unknown;
  try {
    v = JSON.parse(text) as unknown;
  } catch {
    throw new EntryError('is not JSON');
  }
  if (!isObj(v)) throw new EntryError('is not a JSON object');
  const tee = v['tee'];
  if (tee !== null && !(typeof tee === 'string' && (TEE_KINDS as readonly string[]).includes(tee))) throw new EntryError('field "tee" is not a TEE kind');
  if (typeof v['simulated'] !== 'boolean') throw new EntryError('field "simulated" is not a boolean');
  const nonce = v['nonce'];
  if (typeof nonce !== 'string' || !B64URL.test(nonce)) throw new EntryError('field "nonce" is not base64url');
  const key = v['key'];
  let jwk: (PublicJwk & { readonly kid: string }) | null = null;
  if (key !== null) {
    if (!isObj(key) || typeof key['kid'] !== 'string' || typeof key['kty'] !== 'string' || typeof key['crv'] !== 'string' || typeof key['x'] !== 'string') throw new EntryError('field "key" is not a public JWK with a kid');
    // binding.ts canonicalJwk checks kty, crv and the coordinates again before hashing.
    jwk = key as unknown as PublicJwk & { readonly kid: string };
  }
  const models = v['models'];
  if (!Array.isArray(models) || models.some((m) => !isObj(m) || typeof m['name'] !== 'string' || typeof m['version'] !== 'string' || typeof m['sha256'] !== 'string')) {
    throw new EntryError('field "models" is not a list of {name, version, sha256}');
  }
  const evidenceSha256 = v['evidence_sha256'];
  if (evidenceSha256 !== null && (typeof evidenceSha256 !== 'string' || !HEX64.test(evidenceSha256))) throw new EntryError('field "evidence_sha256" is not a SHA-256 hex digest');
  const copies = new Map<string, Uint8Array>();
  if (evidenceSha256 !== null && v['evidence'] !== null && v['evidence'] !== undefined) copies.set(evidenceSha256, b64(v['evidence'], 'field "evidence"'));
  const collateral = v['collateral'];
  if (collateral !== undefined) {
    if (!Array.isArray(collateral)) throw new EntryError('field "collateral" is not a list');
    for (const c of collateral as unknown[]) {
      if (!isObj(c) || typeof c['sha256'] !== 'string' || !HEX64.test(c['sha256'])) throw new EntryError('a collateral item has no SHA-256');
      copies.set(c['sha256'], b64(c['data'], 'collateral data'));
    }
  }
  return {
    id: str(v, 'id', 256),
    backend: str(v, 'backend'),
    status: str(v, 'status', 64),
    tee: tee as TeeKind | null,
    simulated: v['simulated'],
    nonce: new Uint8Array(Buffer.from(nonce, 'base64url')),
    key: jwk,
    models: (models as Obj[]).map((m) => ({ name: m['name'] as string, version: m['version'] as string, sha256: m['sha256'] as string })),
    evidenceSha256,
    copies,
  };
}
