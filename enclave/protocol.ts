/**
 * The wire protocol between the gateway (src/) and the enclave runtime (enclave/), documented in
 * docs/enclave-protocol.md. This is the one enclave file src/ may import, and only with
 * `import type`: the two sides run on different machines and share nothing but these shapes.
 */

/** `POST /v1/attest` request body. */
export interface AttestRequestBody {
  /** The verifier's fresh nonce: 32 random bytes, base64url without padding. */
  readonly nonce: string;
}

export interface WireCollateral {
  readonly name: string;
  /** base64 (standard alphabet, padded). */
  readonly data: string;
}

export interface WireModel {
  readonly name: string;
  readonly version: string;
  readonly sha256: string;
}

/** `POST /v1/attest` response body. */
export interface AttestResponseBody {
  readonly protocol: 'attestgate-enclave/v1';
  readonly tee: 'sgx' | 'tdx' | 'sev-snp' | 'nitro';
  /** True when the evidence comes from the simulated TEE (never from hardware). */
  readonly simulated: boolean;
  /** The binding format of the evidence's report data (attestation/binding.ts). */
  readonly binding: 'attestgate-binding-v1';
  /** The evidence exactly as the TEE produced it, base64. */
  readonly evidence: string;
  /** SHA-256 of the evidence bytes, hex: what receipts name as evidence_sha256. */
  readonly evidence_sha256: string;
  readonly collateral: readonly WireCollateral[];
  /** The enclave's public signing key (ES256, kid = RFC 7638 thumbprint). */
  readonly key: { readonly kty: 'EC'; readonly crv: 'P-256'; readonly x: string; readonly y: string; readonly kid: string; readonly alg: 'ES256'; readonly use: 'sig' };
  /** The loaded models, as the binding's models digest covers them. */
  readonly models: readonly WireModel[];
  readonly runtime: { readonly name: string; readonly version: string };
}

/** Response header carrying the enclave's receipt (compact JWS) on every infer answer. */
export const RECEIPT_HEADER = 'attestgate-receipt';
/** Request header: the client's nonce, copied into the receipt (base64url, 16-128 characters). */
export const NONCE_HEADER = 'attestgate-nonce';
/** Request header: the SHA-256 (hex) of the evidence the caller attested this enclave with. */
export const EVIDENCE_HEADER = 'attestgate-evidence';

/**
 * `typ` of the answer JWS sent for `Accept: application/jose+json`: payload
 * `{"receipt": <receipt claims>, "response": <OIP response>}`, flattened by the enclave, General
 * JSON (enclave + gateway signatures over the same payload) from the gateway.
 */
export const ANSWER_JWS_TYP = 'attestgate-answer+jws';

/** Error body of every enclave endpoint that is not OIP (OIP errors are `{ "error": "..." }`). */
export interface EnclaveErrorBody {
  readonly error: string;
  readonly code: string;
}

/**
 * Where the simulated TEE keeps its roots, relative to the shared data directory. A gateway told to
 * trust simulated roots (and only then) reads these files; it never reads a simulated private key.
 */
export const SIMULATED_ROOT_FILES: readonly string[] = ['sim-pki/intel/root.pem', 'sim-pki/amd/genoa-ark.pem', 'sim-pki/amd/milan-ark.pem', 'sim-pki/nitro/root.pem'];
