/**
 * Saving what an answer's verification needs from the gateway (the attestation record, the key set
 * and the receipt's proof bundle) into one offline bundle, so the answer can be verified later
 * without the gateway: `verifyAnswer({answer, attestation, gatewayJwks, proof})`.
 */
import { parseAnswer, type GeneralJws, type PlainAnswer } from './answer.ts';
import { AnswerCache } from './cache.ts';
import { fromBase64Url } from './digest.ts';
import { GatewayClient, gatewayBase, type FetchFn } from './gateway.ts';
import { BUNDLE_TYPE, type OfflineBundle, type ProofBundle } from './record.ts';
import { StepFailure } from './report.ts';

/** The receipt id an answer names (unverified: a lookup key only). */
function receiptIdOf(answer: PlainAnswer | GeneralJws): string | undefined {
  const a = parseAnswer(answer);
  if (a.kind === 'plain') {
    if (a.receiptId !== undefined) return a.receiptId;
    const payload = fromBase64Url(a.receiptJws.split('.')[1] ?? '');
    return payload === undefined ? undefined : idIn(payload, (v) => v);
  }
  const rid = a.gateway?.header['receipt_id'];
  if (typeof rid === 'string') return rid;
  const payload = fromBase64Url(a.payload);
  return payload === undefined ? undefined : idIn(payload, (v) => (typeof v === 'object' && v !== null ? (v as Readonly<Record<string, unknown>>)['receipt'] : undefined));
}

function idIn(bytes: Uint8Array, pick: (v: unknown) => unknown): string | undefined {
  try {
    const v = pick(JSON.parse(new TextDecoder().decode(bytes)) as unknown);
    const id = typeof v === 'object' && v !== null ? (v as Readonly<Record<string, unknown>>)['id'] : undefined;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Fetch the record, key set and (when the log has it) proof bundle of an answer. Throws
 * StepFailure (with the code of what could not be had) when the record or key set cannot be fetched.
 */
export async function fetchBundle(gateway: string, answer: PlainAnswer | GeneralJws, options: { readonly fetch?: FetchFn } = {}): Promise<OfflineBundle> {
  const base = gatewayBase(gateway);
  if (base === undefined) throw new StepFailure('ERR_RECORD_UNAVAILABLE', `gateway ${JSON.stringify(gateway)} is not an http(s) base URL`);
  const a = parseAnswer(answer);
  const attestationId = a.attestationId;
  if (attestationId === undefined) throw new StepFailure('ERR_RECORD_UNAVAILABLE', 'the answer names no attestation');
  const gw = new GatewayClient(base, options.fetch ?? fetch, new AnswerCache());
  const [attestation, jwks] = await Promise.all([gw.record(attestationId), gw.jwks()]);
  const receiptId = receiptIdOf(answer);
  let proof: ProofBundle | undefined;
  if (receiptId !== undefined) {
    try {
      proof = await gw.proof(receiptId);
    } catch {
      // A gateway without the log, or a receipt not yet in it: the bundle is still useful.
      proof = undefined;
    }
  }
  return { type: BUNDLE_TYPE, attestation, jwks, ...(proof === undefined ? {} : { proof }) };
}
