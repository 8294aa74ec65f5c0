/**
 * The two shapes of a gateway answer (docs/client.md), parsed into one form before any crypto:
 *   - plain: the OIP body as the enclave sent it, plus the headers `attestgate-receipt` (enclave
 *     compact JWS), `attestgate-countersignature` (gateway compact JWS), `attestgate-receipt-id`
 *     and `attestgate-attestation`. A plain answer saved to a file is a *capture*:
 *     `{"type": "attestgate-capture/v1", "headers": {...}, "body": "<the body text>"}`.
 *   - jose (`Accept: application/jose+json`): one JWS in General JSON Serialization whose payload is
 *     `{"receipt": <claims>, "response": <OIP response>}`, signed by the enclave (header kid = its
 *     key) and by the gateway (header `attestation`, `receipt_id`, `log_index`).
 * Nothing here is trusted yet: the attestation id only tells the verifier which record to fetch.
 */
import { decodeProtectedHeader, type ProtectedHeaderParameters } from 'jose';
import { StepFailure } from './report.ts';

/** A plain answer: header names in any case; the body as bytes, or as text (encoded UTF-8). */
export interface PlainAnswer {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array | string;
}

export interface JwsSignature {
  readonly protected: string;
  readonly signature: string;
  readonly header?: unknown;
}

/** RFC 7515 §7.2.1 General JSON Serialization. */
export interface GeneralJws {
  readonly payload: string;
  readonly signatures: readonly JwsSignature[];
}

export const CAPTURE_TYPE = 'attestgate-capture/v1';

/** What `attestgate call --out` writes for a plain answer. */
export interface Capture {
  readonly type: typeof CAPTURE_TYPE;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export const RECEIPT_HEADER = 'attestgate-receipt';
export const COUNTERSIGNATURE_HEADER = 'attestgate-countersignature';
export const RECEIPT_ID_HEADER = 'attestgate-receipt-id';
export const ATTESTATION_HEADER = 'attestgate-attestation';
/** Request header: the client's nonce, copied into the receipt. */
export const NONCE_HEADER = 'attestgate-nonce';
export const COUNTERSIGNATURE_TYP = 'attestgate-countersignature+jws';
export const COUNTERSIGNATURE_PAYLOAD_TYP = 'attestgate-countersignature/v1';
export const ANSWER_JWS_TYP = 'attestgate-answer+jws';

export interface FlatSignature {
  readonly protected: string;
  readonly signature: string;
  readonly header: ProtectedHeaderParameters;
}

export type ParsedAnswer =
  | {
      readonly kind: 'plain';
      readonly receiptJws: string;
      readonly countersignature: string | undefined;
      readonly receiptId: string | undefined;
      readonly attestationId: string | undefined;
      readonly body: Uint8Array;
    }
  | {
      readonly kind: 'jose';
      readonly payload: string;
      readonly enclave: FlatSignature;
      readonly gateway: FlatSignature | undefined;
      readonly attestationId: string | undefined;
    };

const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const B64URL = /^[A-Za-z0-9_-]*$/;
const MAX_JWS = 64 * 1024 * 1024;

function malformed(message: string): StepFailure {
  return new StepFailure('ERR_ANSWER_MALFORMED', message);
}

function isRecord(v: unknown): v is Readonly<Record<string, unknown>> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function lowerHeaders(h: unknown): Map<string, string> {
  if (!isRecord(h)) throw malformed('answer headers are not an object');
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(h)) {
    if (typeof v !== 'string') continue;
    const name = k.toLowerCase();
    // Two spellings of one header with different values: which one the verifier reads would be
    // up to object key order; refuse instead.
    if (out.has(name) && out.get(name) !== v) throw malformed(`header ${name} is given twice with different values`);
    out.set(name, v);
  }
  return out;
}

function signatureOf(s: unknown, i: number): FlatSignature {
  if (!isRecord(s) || typeof s['protected'] !== 'string' || typeof s['signature'] !== 'string') throw malformed(`signatures[${i}] lacks protected or signature`);
  if (!B64URL.test(s['protected']) || !B64URL.test(s['signature'])) throw malformed(`signatures[${i}] is not base64url`);
  // Unprotected header members could be changed by anyone: the verifier reads protected ones only.
  if (s['header'] !== undefined) throw malformed(`signatures[${i}] has an unprotected header; attestgate signs every header member`);
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader({ protected: s['protected'] });
  } catch {
    throw malformed(`signatures[${i}] protected header is not base64url JSON`);
  }
  return { protected: s['protected'], signature: s['signature'], header };
}

/** Recognise and check the shape of an answer (or a capture, or a General JSON JWS file). */
export function parseAnswer(answer: unknown): ParsedAnswer {
  if (!isRecord(answer)) throw malformed('the answer is not an object (want a plain answer {headers, body} or a General JSON JWS {payload, signatures})');
  if ('signatures' in answer || 'payload' in answer) {
    const payload = answer['payload'];
    const sigs = answer['signatures'];
    if (typeof payload !== 'string' || !B64URL.test(payload) || payload.length > MAX_JWS) throw malformed('payload is not a base64url string');
    if (!Array.isArray(sigs) || sigs.length < 1 || sigs.length > 2) throw malformed('signatures is not a list of one or two signatures (enclave, gateway)');
    const parsed = (sigs as readonly unknown[]).map(signatureOf);
    // The gateway's signature names the attestation it relied on; the enclave's does not.
    const gateway = parsed.filter((s) => s.header['attestation'] !== undefined);
    const enclave = parsed.filter((s) => s.header['attestation'] === undefined);
    if (enclave.length !== 1 || gateway.length > 1) throw malformed('want exactly one enclave signature and at most one gateway signature (the one with an attestation header member)');
    const att = gateway[0]?.header['attestation'];
    if (att !== undefined && typeof att !== 'string') throw malformed('the gateway signature header member attestation is not a string');
    return { kind: 'jose', payload, enclave: enclave[0] as FlatSignature, gateway: gateway[0], attestationId: att };
  }
  if (!('headers' in answer) || !('body' in answer)) throw malformed('the answer has neither {headers, body} nor {payload, signatures}');
  if (answer['type'] !== undefined && answer['type'] !== CAPTURE_TYPE) throw malformed(`capture type is ${JSON.stringify(answer['type'])}, want "${CAPTURE_TYPE}"`);
  const h = lowerHeaders(answer['headers']);
  const b = answer['body'];
  const body = typeof b === 'string' ? new TextEncoder().encode(b) : b instanceof Uint8Array ? b.slice() : undefined;
  if (body === undefined) throw malformed('the answer body is neither text nor bytes');
  const receiptJws = h.get(RECEIPT_HEADER);
  if (receiptJws === undefined) throw malformed(`the answer has no ${RECEIPT_HEADER} header (was it sent through an attestgate gateway?)`);
  if (!COMPACT.test(receiptJws) || receiptJws.length > 16_384) throw malformed(`${RECEIPT_HEADER} is not a compact JWS`);
  const cs = h.get(COUNTERSIGNATURE_HEADER);
  if (cs !== undefined && !COMPACT.test(cs)) throw malformed(`${COUNTERSIGNATURE_HEADER} is not a compact JWS`);
  return { kind: 'plain', receiptJws, countersignature: cs, receiptId: h.get(RECEIPT_ID_HEADER), attestationId: h.get(ATTESTATION_HEADER), body };
}

/**
 * The answer in a JSON document read from a file: a General JSON JWS or a capture. Only the outer
 * shape is checked here (verifyAnswer's answer_format step checks the rest); throws
 * ERR_ANSWER_MALFORMED when it is neither.
 */
export function answerFromJson(v: unknown): PlainAnswer | GeneralJws {
  if (!isRecord(v)) throw malformed('the answer file is not a JSON object');
  const payload = v['payload'];
  const sigs = v['signatures'];
  if (typeof payload === 'string' && Array.isArray(sigs)) {
    const signatures = (sigs as readonly unknown[]).map((x, i): JwsSignature => {
      if (!isRecord(x) || typeof x['protected'] !== 'string' || typeof x['signature'] !== 'string') throw malformed(`signatures[${i}] lacks protected or signature`);
      return { protected: x['protected'], signature: x['signature'], ...(x['header'] === undefined ? {} : { header: x['header'] }) };
    });
    return { payload, signatures };
  }
  const headers = v['headers'];
  const body = v['body'];
  if (isRecord(headers) && typeof body === 'string') {
    const h: Record<string, string> = {};
    for (const [k, x] of Object.entries(headers)) if (typeof x === 'string') h[k] = x;
    if (v['type'] !== undefined && v['type'] !== CAPTURE_TYPE) throw malformed(`capture type is ${JSON.stringify(v['type'])}, want "${CAPTURE_TYPE}"`);
    return { headers: h, body };
  }
  throw malformed('the answer file is neither a General JSON JWS {payload, signatures} nor a capture {headers, body}');
}

/** A capture of a plain answer (what `attestgate call --out` writes). */
export function toCapture(headers: Readonly<Record<string, string>>, body: string): Capture {
  const keep: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase().startsWith('attestgate-') || k.toLowerCase() === 'content-type') keep[k.toLowerCase()] = v;
  return { type: CAPTURE_TYPE, headers: keep, body };
}
