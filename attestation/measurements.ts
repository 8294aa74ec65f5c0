/**
 * The measurements a piece of evidence states, read by parsing only (no signature is checked):
 * what the enclave puts in its receipts ("the measurement its own evidence states") and what a
 * verifier compares with the verified claims of the same evidence. Names are the claim names of
 * the verifiers (intel/claims.ts, amd/claims.ts, nitro/claims.ts), so a receipt's measurement can
 * be compared key by key with a verified EvidenceResult.
 */
import { parseReport } from './amd/parse.ts';
import { toHex } from './common/bytes.ts';
import { parseQuote } from './intel/parse.ts';
import { parseNitroDocument } from './nitro/parse.ts';
import type { Claims, EvidenceResult, TeeKind } from './result.ts';

export type Measurement = Readonly<Record<string, string>>;

/** The measurement claim names per TEE: SGX MRENCLAVE/MRSIGNER, TDX MRTD/RTMR0-3, SNP MEASUREMENT, Nitro PCR0-2. */
export const MEASUREMENT_CLAIMS: Readonly<Record<TeeKind, readonly string[]>> = {
  sgx: ['mrenclave', 'mrsigner'],
  tdx: ['mrtd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3'],
  'sev-snp': ['measurement'],
  nitro: ['pcr0', 'pcr1', 'pcr2'],
};

/** Parse evidence of `tee` and return its measurement. Throws the parser's AttestationError on malformed bytes. */
export function measurementOf(tee: TeeKind, evidence: Uint8Array): Measurement {
  switch (tee) {
    case 'sgx':
    case 'tdx': {
      const q = parseQuote(evidence);
      if (q.body.kind === 'sgx') return { mrenclave: toHex(q.body.report.mrEnclave), mrsigner: toHex(q.body.report.mrSigner) };
      const r = q.body.report;
      return { mrtd: toHex(r.mrTd), rtmr0: toHex(r.rtmr[0]), rtmr1: toHex(r.rtmr[1]), rtmr2: toHex(r.rtmr[2]), rtmr3: toHex(r.rtmr[3]) };
    }
    case 'sev-snp':
      return { measurement: toHex(parseReport(evidence).measurement) };
    case 'nitro': {
      const pcrs = parseNitroDocument(evidence).payload.pcrs;
      const hex = (i: number): string => {
        const v = pcrs.get(i);
        return v === undefined ? '' : toHex(v);
      };
      return { pcr0: hex(0), pcr1: hex(1), pcr2: hex(2) };
    }
  }
}

/** The same measurement, taken from a verified result's claims (Nitro PCRs live under `pcrs`). */
export function measurementOfResult(result: EvidenceResult): Measurement {
  const claims: Claims = result.claims;
  const out: Record<string, string> = {};
  for (const name of MEASUREMENT_CLAIMS[result.tee]) {
    const v = result.tee === 'nitro' ? (claims['pcrs'] as Readonly<Record<string, unknown>> | undefined)?.[name.slice(3)] : claims[name];
    out[name] = typeof v === 'string' ? v : '';
  }
  return out;
}
