/**
 * The fixtures' reason vocabulary (case.json `expected.reason`) mapped to our error code and
 * reason, for SEV-SNP and Nitro, shared by the library tests and the command-line tests so that
 * both hold the verifier to the same answer.
 */
import type { AttestationErrorCode } from '../../attestation/errors.ts';

export interface ExpectedError {
  readonly code: AttestationErrorCode;
  readonly reason: string;
}

/** `vmpl` is not ours: requiring a VMPL is the gateway policy's decision, so the evidence check never raises it. */
export const AMD_REASONS: Readonly<Record<string, ExpectedError | null>> = {
  length: { code: 'ERR_EVIDENCE_MALFORMED', reason: 'length' },
  'signature-algo': { code: 'ERR_EVIDENCE_UNSUPPORTED', reason: 'signature_algo' },
  signature: { code: 'ERR_SIGNATURE_INVALID', reason: 'signature' },
  validity: { code: 'ERR_CERT_NOT_VALID_AT_TIME', reason: 'validity' },
  chain: { code: 'ERR_CHAIN_UNTRUSTED', reason: 'chain' },
  'ark-not-pinned': { code: 'ERR_CHAIN_UNTRUSTED', reason: 'ark_not_pinned' },
  debug: { code: 'ERR_DEBUG_REFUSED', reason: 'debug_enclave' },
  'hwid-mismatch': { code: 'ERR_COLLATERAL_MISMATCH', reason: 'hwid_mismatch' },
  'tcb-mismatch': { code: 'ERR_COLLATERAL_MISMATCH', reason: 'tcb_mismatch' },
  product: { code: 'ERR_COLLATERAL_MISMATCH', reason: 'product' },
  vmpl: null,
};

/** SEV-SNP `expected` keys that describe the case rather than a claim. */
export const AMD_NOT_CLAIMS: ReadonlySet<string> = new Set(['verdict', 'reason', 'crypto_valid', 'lenient_ok_acceptable', 'verdict_with_allow_debug', 'report_data_binding']);

export const NITRO_REASONS: Readonly<Record<string, ExpectedError>> = {
  cbor: { code: 'ERR_EVIDENCE_MALFORMED', reason: 'malformed_cbor' },
  schema: { code: 'ERR_EVIDENCE_MALFORMED', reason: 'payload_schema' },
  alg: { code: 'ERR_EVIDENCE_UNSUPPORTED', reason: 'cose_alg' },
  signature: { code: 'ERR_SIGNATURE_INVALID', reason: 'cose_signature' },
  chain: { code: 'ERR_CHAIN_UNTRUSTED', reason: 'chain_order' },
  root: { code: 'ERR_CHAIN_UNTRUSTED', reason: 'untrusted_root' },
  expired: { code: 'ERR_CERT_NOT_VALID_AT_TIME', reason: 'cert_expired' },
  debug: { code: 'ERR_DEBUG_REFUSED', reason: 'debug_enclave' },
};

/** Nitro `expected` keys that are about the verdict rather than claims. */
export const NITRO_NOT_CLAIMS: ReadonlySet<string> = new Set(['verdict', 'reason', 'also_acceptable_reasons', 'verdict_with_allow_debug', 'lenient_ok_acceptable']);
