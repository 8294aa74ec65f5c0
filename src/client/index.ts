/**
 * The client library's public surface (docs/client.md): verify an answer of an attestgate gateway
 * down to the vendor root, offline or against the gateway, in Node or a browser.
 */
export { verifyAnswer, type VerifyAnswerInput } from './verify-answer.ts';
export { AnswerCache, createAnswerCache, type AnswerCacheOptions, type AnswerCacheStats } from './cache.ts';
export {
  ATTESTATION_HEADER,
  CAPTURE_TYPE,
  COUNTERSIGNATURE_HEADER,
  NONCE_HEADER,
  RECEIPT_HEADER,
  RECEIPT_ID_HEADER,
  answerFromJson,
  parseAnswer,
  toCapture,
  type Capture,
  type GeneralJws,
  type JwsSignature,
  type PlainAnswer,
} from './answer.ts';
export {
  BUNDLE_TYPE,
  parseAttestationRecord,
  parseJwks,
  parseOfflineBundle,
  parseProofBundle,
  type AttestationRecord,
  type Jwk,
  type Jwks,
  type OfflineBundle,
  type ProofBundle,
} from './record.ts';
export { gatewayBase, type FetchFn } from './gateway.ts';
export { fetchBundle } from './bundle.ts';
export { CLIENT_CODES, STEP_NAMES, type ClientCode, type Report, type StepName, type StepReport, type StepStatus } from './report.ts';
