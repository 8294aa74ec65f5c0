/**
 * Nitro payload -> normalised claims, named as in the fixtures' `expected` objects (lowercase hex
 * for bytes). public_key, user_data and nonce are null when absent or CBOR null and "" when present
 * but empty: the two are different statements by the enclave, so we do not merge them.
 */
import { isAllZero, toHex } from '../common/bytes.ts';
import type { Claims, ClaimValue } from '../result.ts';
import type { NitroPayload } from './parse.ts';


/**
 * AWS: "In debug mode, PCRs 0, 1 and 2 contain all zeros" (User Guide, Where to get an enclave's
 * measurements). A production enclave's PCR0 is the SHA-384 of its image and is never zero, so
 * PCR0 all zero is enough to call it debug; a document without PCR0 gives no production
 * measurement at all and is treated the same way (fail closed).
 */
export function isDebug(p: NitroPayload): boolean {
  const pcr0 = p.pcrs.get(0);
  return pcr0 === undefined || isAllZero(pcr0);
}

export function nitroClaims(p: NitroPayload): Claims {
  const pcrs: Record<string, ClaimValue> = {};
  for (const [i, v] of p.pcrs) pcrs[String(i)] = toHex(v);
  return {
    module_id: p.module_id,
    digest: p.digest,
    timestamp: p.timestamp,
    pcrs,
    public_key: p.public_key === null ? null : toHex(p.public_key),
    user_data: p.user_data === null ? null : toHex(p.user_data),
    nonce: p.nonce === null ? null : toHex(p.nonce),
    debug: isDebug(p),
  };
}
