/**
 * The attestation result as an EAR claims set (IETF draft-ietf-rats-ear, the
 * `tag:github.com,2023:veraison/ear` profile), so that Veraison and Trustee tooling can read it:
 * one appraisal per attested environment under `submods`, each with its status, its AR4SI
 * trustworthiness vector, the policy it was appraised under, and attestgate's own claims about
 * the evidence (`attestgate.*`: the verified claims, the digests of the evidence and of every
 * collateral item, so that an auditor can replay the verdict offline).
 *
 * Pure: builds and validates the claims set. Signing it (as a JWT) is the gateway's job; a client
 * verifies the JWT signature first and then hands the payload to parseEar, whose schema is closed.
 */
import { toBase64, toHex } from './common/bytes.ts';
import { VerificationError, type PolicyMismatch } from './errors.ts';
import { TRUST_CLAIMS, tierOf, tierRank, type AppraisalStatus, type TrustVector } from './policy/ar4si.ts';
import type { Appraisal } from './policy/appraise.ts';
import { TEE_KINDS, timeOf, type ClaimValue, type Claims, type CollateralDigest, type EvidenceResult, type TeeKind, type TrustAnchorInfo } from './result.ts';

export const EAR_PROFILE = 'tag:github.com,2023:veraison/ear';
export const EAR_DEVELOPER = 'attestgate';

export interface EarVerifierId {
  readonly developer: typeof EAR_DEVELOPER;
  readonly build: string;
}

/** One appraisal (one attested environment) of an EAR. */
export interface EarAppraisal {
  readonly 'ear.status': AppraisalStatus;
  readonly 'ear.trustworthiness-vector': TrustVector;
  /** `policy:<name>#<sha256 of the canonical policy>` (attestation/policy/digest.ts). */
  readonly 'ear.appraisal-policy-id': string;
  /** The verified claims of the evidence (the EvidenceResult's claims, unchanged). */
  readonly 'attestgate.claims': Claims;
  readonly 'attestgate.tcb_status': string | null;
  readonly 'attestgate.advisory_ids': readonly string[];
  readonly 'attestgate.collateral': readonly CollateralDigest[];
  readonly 'attestgate.trust_anchor': TrustAnchorInfo;
  /** Lowercase hex SHA-256 of the evidence bytes as received. */
  readonly 'attestgate.evidence_sha256': string;
  readonly 'attestgate.simulated': boolean;
  /** The result is void after this instant (ISO-8601). */
  readonly 'attestgate.expires_at': string;
  /** Every failed policy check (empty unless the status is contraindicated). */
  readonly 'attestgate.mismatches': readonly PolicyMismatch[];
}

export interface EarClaims {
  readonly eat_profile: typeof EAR_PROFILE;
  /** Issued at, seconds since the epoch. */
  readonly iat: number;
  /** Expiry, seconds since the epoch: the result's expires_at or an earlier time the caller asks for. */
  readonly exp: number;
  readonly iss?: string;
  readonly 'ear.verifier-id': EarVerifierId;
  /** The relying party's nonce, base64url without padding (EAT JSON encoding of a byte string). */
  readonly eat_nonce?: string;
  readonly submods: Readonly<Partial<Record<TeeKind, EarAppraisal>>>;
}

export interface EarInput {
  readonly result: EvidenceResult;
  readonly appraisal: Appraisal;
  /** The appraisal policy's name and digest (policyDigest). */
  readonly policy: { readonly name: string; readonly digest: string };
  /** SHA-256 of the evidence bytes, 32 bytes. */
  readonly evidenceSha256: Uint8Array;
  /** Issue time; never read from the clock. */
  readonly at: Date;
  /** attestgate's version, for `ear.verifier-id.build`. */
  readonly build: string;
  /** The relying party's nonce (8 to 64 bytes, EAT's bounds). */
  readonly nonce?: Uint8Array;
  /** Expire earlier than the result does. */
  readonly expiresAt?: Date;
  readonly issuer?: string;
}

// ---------------------------------------------------------------------------------------------

function bad(message: string, cause?: unknown): VerificationError {
  return new VerificationError('ERR_INVALID_ARGUMENT', `EAR input: ${message}`, { reason: 'ear_input', cause });
}

function malformedEar(path: string, message: string): VerificationError {
  return new VerificationError('ERR_EVIDENCE_MALFORMED', `EAR ${path}: ${message}`, { reason: 'ear_malformed' });
}

const HEX32 = /^[0-9a-f]{64}$/;
const POLICY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const POLICY_ID = /^policy:[A-Za-z0-9][A-Za-z0-9._-]{0,63}#[0-9a-f]{64}$/;
const BUILD = /^[\x21-\x7e][\x20-\x7e]{0,63}$/;
const NONCE_B64URL = /^[A-Za-z0-9_-]{11,86}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$/;

function base64url(a: Uint8Array): string {
  return toBase64(a).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const seconds = (ms: number): number => Math.floor(ms / 1000);

/** The EAR claims set for one appraised result. Throws ERR_INVALID_ARGUMENT (reason ear_input) for inconsistent input. */
export function buildEar(input: EarInput): EarClaims {
  const { result, appraisal } = input;
  const iat = seconds(timeOf(input.at));
  if (appraisal.tee !== result.tee) throw bad(`the appraisal is of ${appraisal.tee}, the result of ${result.tee}`);
  if (!POLICY_NAME.test(input.policy.name) || !HEX32.test(input.policy.digest)) throw bad('policy name or digest is malformed (want a policy name and 64 lowercase hex digits)');
  if (!(input.evidenceSha256 instanceof Uint8Array) || input.evidenceSha256.length !== 32) throw bad('evidenceSha256 must be 32 bytes');
  if (!BUILD.test(input.build)) throw bad('build must be 1-64 printable ASCII characters');
  if (input.nonce !== undefined && (!(input.nonce instanceof Uint8Array) || input.nonce.length < 8 || input.nonce.length > 64)) throw bad('nonce must be 8 to 64 bytes');
  const expires = Date.parse(result.expires_at);
  if (!Number.isFinite(expires)) throw bad(`result expires_at ${JSON.stringify(result.expires_at)} is not a date`);
  const exp = seconds(input.expiresAt === undefined ? expires : Math.min(expires, timeOf(input.expiresAt)));

  const submod: EarAppraisal = {
    'ear.status': appraisal.status,
    'ear.trustworthiness-vector': { ...appraisal.trustVector },
    'ear.appraisal-policy-id': `policy:${input.policy.name}#${input.policy.digest}`,
    // A snapshot: later changes to the result must not change an issued EAR.
    'attestgate.claims': structuredClone(result.claims),
    'attestgate.tcb_status': result.tcb_status,
    'attestgate.advisory_ids': [...result.advisory_ids],
    'attestgate.collateral': result.collateral.map((c) => ({ ...c })),
    'attestgate.trust_anchor': { name: result.trust_anchor.name, sha256: result.trust_anchor.sha256, pinned: result.trust_anchor.pinned },
    'attestgate.evidence_sha256': toHex(input.evidenceSha256),
    'attestgate.simulated': result.simulated,
    'attestgate.expires_at': result.expires_at,
    'attestgate.mismatches': appraisal.mismatches.map((m) => ({ field: m.field, got: m.got, want: m.want })),
  };
  const claims = {
    eat_profile: EAR_PROFILE,
    iat,
    exp,
    ...(input.issuer === undefined ? {} : { iss: input.issuer }),
    'ear.verifier-id': { developer: EAR_DEVELOPER, build: input.build },
    ...(input.nonce === undefined ? {} : { eat_nonce: base64url(input.nonce) }),
    submods: { [result.tee]: submod },
  };
  // What we emit is exactly what clients accept: run it through the same closed schema.
  try {
    return parseEar(claims);
  } catch (e: unknown) {
    throw bad(`would not parse: ${(e as VerificationError).message}`, e);
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing (clients): a closed schema for exactly the fields buildEar emits.

type Obj = Readonly<Record<string, unknown>>;

function obj(v: unknown, path: string, required: readonly string[], optional: readonly string[] = []): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw malformedEar(path, 'is not an object');
  const o = v as Obj;
  for (const k of Object.keys(o)) if (!required.includes(k) && !optional.includes(k)) throw malformedEar(`${path}.${k}`, 'is not a claim of this profile');
  for (const k of required) if (o[k] === undefined) throw malformedEar(`${path}.${k}`, 'is missing');
  return o;
}

function str(v: unknown, path: string, re?: RegExp): string {
  if (typeof v !== 'string' || (re !== undefined && !re.test(v))) throw malformedEar(path, 'is not a string of the expected form');
  return v;
}

function int(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw malformedEar(path, `is not an integer in ${min}..${max}`);
  return v;
}

function bool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') throw malformedEar(path, 'is not a boolean');
  return v;
}

function list<T>(v: unknown, path: string, each: (x: unknown, p: string) => T): readonly T[] {
  if (!Array.isArray(v)) throw malformedEar(path, 'is not a list');
  return v.map((x, i) => each(x, `${path}[${i}]`));
}

const MAX_DEPTH = 16;

/** A JSON value of the claims (string, finite number, boolean, null, list, object), copied. */
function claimValue(v: unknown, path: string, depth: number): ClaimValue {
  if (depth > MAX_DEPTH) throw malformedEar(path, `nests deeper than ${MAX_DEPTH}`);
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw malformedEar(path, 'is not a finite number');
    return v;
  }
  if (Array.isArray(v)) return v.map((x, i) => claimValue(x, `${path}[${i}]`, depth + 1));
  if (typeof v === 'object') {
    const out: Record<string, ClaimValue> = {};
    for (const [k, x] of Object.entries(v as Obj)) out[k] = claimValue(x, `${path}.${k}`, depth + 1);
    return out;
  }
  throw malformedEar(path, 'is not a JSON value');
}

const STATUSES: readonly AppraisalStatus[] = ['affirming', 'warning', 'contraindicated'];

function vector(v: unknown, path: string): TrustVector {
  const o = obj(v, path, TRUST_CLAIMS);
  const out = {} as Record<(typeof TRUST_CLAIMS)[number], number>;
  for (const k of TRUST_CLAIMS) out[k] = int(o[k], `${path}.${k}`, -128, 127);
  return out;
}

function collateral(v: unknown, path: string): CollateralDigest {
  const o = obj(v, path, ['kind', 'sha256'], ['valid_from', 'valid_until']);
  return {
    kind: str(o['kind'], `${path}.kind`),
    sha256: str(o['sha256'], `${path}.sha256`, HEX32),
    ...(o['valid_from'] === undefined ? {} : { valid_from: str(o['valid_from'], `${path}.valid_from`, ISO) }),
    ...(o['valid_until'] === undefined ? {} : { valid_until: str(o['valid_until'], `${path}.valid_until`, ISO) }),
  };
}

const SUBMOD_KEYS = [
  'ear.status',
  'ear.trustworthiness-vector',
  'ear.appraisal-policy-id',
  'attestgate.claims',
  'attestgate.tcb_status',
  'attestgate.advisory_ids',
  'attestgate.collateral',
  'attestgate.trust_anchor',
  'attestgate.evidence_sha256',
  'attestgate.simulated',
  'attestgate.expires_at',
  'attestgate.mismatches',
] as const;

function appraisal(v: unknown, path: string): EarAppraisal {
  // tcb_status may be null, which `required` would treat as present: check it by hand.
  const o = obj(v, path, SUBMOD_KEYS.filter((k) => k !== 'attestgate.tcb_status'), ['attestgate.tcb_status']);
  if (!('attestgate.tcb_status' in o)) throw malformedEar(`${path}.attestgate.tcb_status`, 'is missing');
  const status = str(o['ear.status'], `${path}.ear.status`) as AppraisalStatus;
  if (!STATUSES.includes(status)) throw malformedEar(`${path}.ear.status`, `is ${JSON.stringify(status)}, want affirming, warning or contraindicated`);
  const tv = vector(o['ear.trustworthiness-vector'], `${path}.ear.trustworthiness-vector`);
  // EAR: the status may not claim more trust than any claim of the vector does.
  for (const k of TRUST_CLAIMS) {
    if (tierRank(tierOf(tv[k])) > tierRank(status)) throw malformedEar(`${path}.ear.status`, `is ${status}, but ${k} is ${tv[k]} (${tierOf(tv[k])})`);
  }
  const claims = claimValue(o['attestgate.claims'], `${path}.attestgate.claims`, 0);
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw malformedEar(`${path}.attestgate.claims`, 'is not an object');
  const tcb = o['attestgate.tcb_status'];
  const anchor = obj(o['attestgate.trust_anchor'], `${path}.attestgate.trust_anchor`, ['name', 'sha256', 'pinned']);
  const mismatches = list(o['attestgate.mismatches'], `${path}.attestgate.mismatches`, (x, p): PolicyMismatch => {
    const m = obj(x, p, ['field', 'got', 'want']);
    return { field: str(m['field'], `${p}.field`), got: str(m['got'], `${p}.got`), want: str(m['want'], `${p}.want`) };
  });
  if ((status === 'contraindicated') !== (mismatches.length > 0)) throw malformedEar(`${path}.attestgate.mismatches`, 'lists mismatches if and only if the status is contraindicated');
  return {
    'ear.status': status,
    'ear.trustworthiness-vector': tv,
    'ear.appraisal-policy-id': str(o['ear.appraisal-policy-id'], `${path}.ear.appraisal-policy-id`, POLICY_ID),
    'attestgate.claims': claims as Claims,
    'attestgate.tcb_status': tcb === null ? null : str(tcb, `${path}.attestgate.tcb_status`),
    'attestgate.advisory_ids': list(o['attestgate.advisory_ids'], `${path}.attestgate.advisory_ids`, (x, p) => str(x, p)),
    'attestgate.collateral': list(o['attestgate.collateral'], `${path}.attestgate.collateral`, collateral),
    'attestgate.trust_anchor': {
      name: str(anchor['name'], `${path}.attestgate.trust_anchor.name`),
      sha256: str(anchor['sha256'], `${path}.attestgate.trust_anchor.sha256`, HEX32),
      pinned: bool(anchor['pinned'], `${path}.attestgate.trust_anchor.pinned`),
    },
    'attestgate.evidence_sha256': str(o['attestgate.evidence_sha256'], `${path}.attestgate.evidence_sha256`, HEX32),
    'attestgate.simulated': bool(o['attestgate.simulated'], `${path}.attestgate.simulated`),
    'attestgate.expires_at': str(o['attestgate.expires_at'], `${path}.attestgate.expires_at`, ISO),
    'attestgate.mismatches': mismatches,
  };
}

/** Validate an EAR claims set (a verified JWT's payload) against attestgate's profile. Throws ERR_EVIDENCE_MALFORMED (reason ear_malformed). */
export function parseEar(input: unknown): EarClaims {
  const o = obj(input, 'claims', ['eat_profile', 'iat', 'exp', 'ear.verifier-id', 'submods'], ['iss', 'eat_nonce']);
  if (o['eat_profile'] !== EAR_PROFILE) throw malformedEar('claims.eat_profile', `is not ${EAR_PROFILE}`);
  const iat = int(o['iat'], 'claims.iat', 0, Number.MAX_SAFE_INTEGER);
  const exp = int(o['exp'], 'claims.exp', 0, Number.MAX_SAFE_INTEGER);
  const vid = obj(o['ear.verifier-id'], 'claims.ear.verifier-id', ['developer', 'build']);
  if (vid['developer'] !== EAR_DEVELOPER) throw malformedEar('claims.ear.verifier-id.developer', `is not ${EAR_DEVELOPER}`);
  const build = str(vid['build'], 'claims.ear.verifier-id.build', BUILD);
  const sub = obj(o['submods'], 'claims.submods', [], TEE_KINDS);
  const submods: Partial<Record<TeeKind, EarAppraisal>> = {};
  for (const tee of TEE_KINDS) if (sub[tee] !== undefined) submods[tee] = appraisal(sub[tee], `claims.submods.${tee}`);
  if (Object.keys(submods).length === 0) throw malformedEar('claims.submods', 'holds no appraisal');
  return {
    eat_profile: EAR_PROFILE,
    iat,
    exp,
    ...(o['iss'] === undefined ? {} : { iss: str(o['iss'], 'claims.iss', /^\S(?:.{0,254}\S)?$/) }),
    'ear.verifier-id': { developer: EAR_DEVELOPER, build },
    ...(o['eat_nonce'] === undefined ? {} : { eat_nonce: str(o['eat_nonce'], 'claims.eat_nonce', NONCE_B64URL) }),
    submods,
  };
}

/** The worst status among an EAR's appraisals (a relying party's one-line answer). */
export function earStatus(ear: EarClaims): AppraisalStatus {
  let worst: AppraisalStatus = 'affirming';
  for (const a of Object.values(ear.submods)) if (tierRank(a['ear.status']) > tierRank(worst)) worst = a['ear.status'];
  return worst;
}
