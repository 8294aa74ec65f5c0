/**
 * What the collateral clients (Intel PCS/PCCS, AMD KDS) share: bounded body reads and the typed
 * errors they raise. A hostile or broken service must not make us buffer without limit, and every
 * failure is a VerificationError the verifier and the CLI already know how to report.
 */
import { VerificationError } from '../../attestation/errors.ts';

/** Read a response body, refusing more than `maxBytes` whether or not Content-Length says so. */
export async function readBounded(res: Response, url: string, maxBytes: number): Promise<Uint8Array> {
  const declared = res.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw malformedCollateral(`GET ${url}: body of ${declared} bytes exceeds the ${maxBytes}-byte limit`);
  }
  if (res.body === null) return new Uint8Array(0);
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    const value: unknown = r.value;
    if (!(value instanceof Uint8Array)) throw malformedCollateral(`GET ${url}: body stream yielded a non-byte chunk`);
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw malformedCollateral(`GET ${url}: body exceeds the ${maxBytes}-byte limit`);
    }
    parts.push(value);
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function invalidArgument(message: string): VerificationError {
  return new VerificationError('ERR_INVALID_ARGUMENT', message, { reason: 'invalid_argument' });
}

export function unavailable(message: string, cause?: unknown, details?: Record<string, unknown>): VerificationError {
  return new VerificationError('ERR_COLLATERAL_UNAVAILABLE', message, {
    reason: 'collateral_unavailable',
    ...(cause === undefined ? {} : { cause }),
    ...(details === undefined ? {} : { details }),
  });
}

export function malformedCollateral(message: string, cause?: unknown): VerificationError {
  return new VerificationError('ERR_COLLATERAL_MALFORMED', message, cause === undefined ? { reason: 'collateral_malformed' } : { reason: 'collateral_malformed', cause });
}
