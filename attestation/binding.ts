/**
 * The binding between an enclave's evidence and what it claims to be: the 64 bytes of report data
 * (SGX/TDX REPORTDATA, SNP REPORT_DATA, Nitro user_data) commit to the verifier's fresh nonce, the
 * enclave's signing key and the models it has loaded. Format v1 (docs/binding.md):
 *
 *   report_data = SHA-512( "attestgate-binding-v1" 0x00 || nonce[32] || jwk_thumbprint[32] || models_digest[32] )
 *
 *   jwk_thumbprint = SHA-256 of the RFC 7638 canonical JWK (the raw 32 bytes, not base64url)
 *   models_digest  = SHA-256 of the canonical models manifest (modelsManifestBytes)
 *
 * The enclave computes it before asking its TEE for evidence; verifiers recompute it from the
 * nonce they sent, the key the enclave presented and the manifest it declared, and compare all
 * 64 bytes in constant time. Fixed-width fields and a domain label leave no room for two
 * different inputs to share an encoding. Pure: no I/O, same in Node and in a browser.
 */
import { concatBytes, encodeUtf8, equalBytes, toHex } from './common/bytes.ts';
import { sha256, sha512 } from './common/crypto.ts';
import { PolicyError, VerificationError } from './errors.ts';
import type { EvidenceResult } from './result.ts';

export const BINDING_VERSION = 'attestgate-binding-v1';
export const NONCE_SIZE = 32;
export const REPORT_DATA_SIZE = 64;

/** A public JWK as the enclave publishes it (EC P-256 for ES256, OKP Ed25519 for EdDSA). */
export type PublicJwk =
  | { readonly kty: 'EC'; readonly crv: 'P-256' | 'P-384'; readonly x: string; readonly y: string }
  | { readonly kty: 'OKP'; readonly crv: 'Ed25519'; readonly x: string };

/** One loaded model as the manifest names it; sha256 is the lowercase hex digest of the file's bytes. */
export interface ModelDigest {
  readonly name: string;
  readonly version: string;
  readonly sha256: string;
}

function invalid(msg: string): VerificationError {
  return new VerificationError('ERR_INVALID_ARGUMENT', msg, { reason: 'binding_input' });
}

const B64URL = /^[A-Za-z0-9_-]+$/;

/**
 * RFC 7638 canonical form: only the required members, in lexicographic order, no whitespace.
 * Anything else in the JWK (kid, alg, use) is ignored, as the RFC says.
 */
export function canonicalJwk(jwk: PublicJwk): string {
  const str = (v: unknown, name: string): string => {
    if (typeof v !== 'string' || !B64URL.test(v)) throw invalid(`JWK member "${name}" must be a base64url string`);
    return v;
  };
  if (jwk.kty === 'EC') {
    // The type says P-256 or P-384, but JWKs arrive from the wire: check the value itself.
    const crv: unknown = jwk.crv;
    if (crv !== 'P-256' && crv !== 'P-384') throw invalid(`JWK curve ${String(crv)} is not supported`);
    return `{"crv":"${crv}","kty":"EC","x":"${str(jwk.x, 'x')}","y":"${str(jwk.y, 'y')}"}`;
  }
  if ((jwk as { kty: unknown }).kty === 'OKP') {
    const okp = jwk as { crv: unknown; x: unknown };
    if (okp.crv !== 'Ed25519') throw invalid(`JWK curve ${String(okp.crv)} is not supported`);
    return `{"crv":"Ed25519","kty":"OKP","x":"${str(okp.x, 'x')}"}`;
  }
  throw invalid(`JWK key type ${String((jwk as { kty: unknown }).kty)} is not supported (want EC or OKP)`);
}

/** RFC 7638 JWK thumbprint (SHA-256), raw 32 bytes. */
export async function jwkThumbprint(jwk: PublicJwk): Promise<Uint8Array> {
  return sha256(encodeUtf8(canonicalJwk(jwk)));
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * The canonical manifest: models sorted by name then version, each as {"name","version","sha256"}
 * in that order, JSON without whitespace. Duplicate (name, version) pairs are refused.
 */
export function modelsManifestBytes(models: readonly ModelDigest[]): Uint8Array {
  const sorted = [...models].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
  for (let i = 0; i < sorted.length; i++) {
    const m = sorted[i] as ModelDigest;
    if (typeof m.name !== 'string' || m.name === '' || typeof m.version !== 'string' || m.version === '') throw invalid('every model needs a non-empty name and version');
    if (typeof m.sha256 !== 'string' || !HEX64.test(m.sha256)) throw invalid(`model ${m.name} sha256 must be 64 lowercase hex digits`);
    const prev = sorted[i - 1];
    if (prev !== undefined && prev.name === m.name && prev.version === m.version) throw invalid(`model ${m.name} version ${m.version} is listed twice`);
  }
  return encodeUtf8(JSON.stringify(sorted.map((m) => ({ name: m.name, version: m.version, sha256: m.sha256 }))));
}

export async function modelsDigest(models: readonly ModelDigest[]): Promise<Uint8Array> {
  return sha256(modelsManifestBytes(models));
}

export interface BindingInput {
  /** The verifier's fresh nonce, exactly 32 bytes. */
  readonly nonce: Uint8Array;
  readonly jwk: PublicJwk;
  readonly models: readonly ModelDigest[];
}

const LABEL = encodeUtf8(`${BINDING_VERSION}\u0000`);

/** The 64 bytes of report data for this nonce, key and model set. */
export async function reportDataFor(input: BindingInput): Promise<Uint8Array> {
  if (!(input.nonce instanceof Uint8Array) || input.nonce.length !== NONCE_SIZE) {
    throw invalid(`binding nonce must be exactly ${NONCE_SIZE} bytes`);
  }
  const [thumb, models] = await Promise.all([jwkThumbprint(input.jwk), modelsDigest(input.models)]);
  return sha512(concatBytes(LABEL, input.nonce, thumb, models));
}

/** The report data a verified result carries: REPORTDATA for SGX/TDX/SNP, user_data for Nitro. */
export function reportDataOf(result: EvidenceResult): string | null {
  const v = result.tee === 'nitro' ? result.claims['user_data'] : result.claims['report_data'];
  return typeof v === 'string' ? v : null;
}

/**
 * Check that verified evidence commits to this nonce, key and model set. A PolicyError
 * (ERR_REPORT_DATA_MISMATCH): the evidence is authentic, but not for this session, key or models.
 */
export async function checkBinding(result: EvidenceResult, input: BindingInput): Promise<void> {
  const want = await reportDataFor(input);
  const got = reportDataOf(result);
  if (got === null || got.length !== 2 * REPORT_DATA_SIZE || !equalBytes(encodeUtf8(got), encodeUtf8(toHex(want)))) {
    const field = result.tee === 'nitro' ? 'user_data' : 'REPORT_DATA';
    throw new PolicyError(
      'ERR_REPORT_DATA_MISMATCH',
      `evidence field ${field} is ${got ?? '(absent)'}, want ${toHex(want)} (${BINDING_VERSION} of the nonce sent, the enclave key and its models)`,
      { reason: 'binding' },
    );
  }
}
