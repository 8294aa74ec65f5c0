/**
 * The DCAP collateral for one quote, in the offline bundle layout used by the fixtures
 * (`collateral.json`, the QuoteCollateralV3 shape of dcap-qvl): PEM issuer chains, CRLs as hex
 * DER, TCB info and QE identity as the exact signed JSON text with hex raw r||s signatures.
 * Keeping the signed text byte for byte matters: TCB info signatures cover the bytes Intel served,
 * not any re-serialisation of them.
 */
import { VerificationError } from '../errors.ts';

export interface DcapCollateral {
  readonly pck_crl_issuer_chain: string;
  /** Hex DER of the Intel SGX Root CA CRL. */
  readonly root_ca_crl: string;
  /** Hex DER of the CRL of the PCK's issuing CA (Platform or Processor). */
  readonly pck_crl: string;
  readonly tcb_info_issuer_chain: string;
  /** The `tcbInfo` member's JSON text exactly as signed. */
  readonly tcb_info: string;
  /** Hex raw r||s (64 bytes) ECDSA P-256 signature over `tcb_info`. */
  readonly tcb_info_signature: string;
  readonly qe_identity_issuer_chain: string;
  /** The `enclaveIdentity` member's JSON text exactly as signed. */
  readonly qe_identity: string;
  readonly qe_identity_signature: string;
}

const FIELDS = [
  'pck_crl_issuer_chain',
  'root_ca_crl',
  'pck_crl',
  'tcb_info_issuer_chain',
  'tcb_info',
  'tcb_info_signature',
  'qe_identity_issuer_chain',
  'qe_identity',
  'qe_identity_signature',
] as const satisfies readonly (keyof DcapCollateral)[];

/** Schema check of an untrusted bundle object (from JSON): every field present and a string. */
export function toDcapCollateral(value: unknown): DcapCollateral {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new VerificationError('ERR_COLLATERAL_MALFORMED', 'DCAP collateral bundle must be a JSON object', { reason: 'collateral_malformed' });
  }
  const rec = value as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const f of FIELDS) {
    const v = rec[f];
    if (typeof v !== 'string' || v.length === 0) {
      throw new VerificationError('ERR_COLLATERAL_MALFORMED', `DCAP collateral bundle: field "${f}" must be a non-empty string`, {
        reason: 'collateral_malformed',
      });
    }
    out[f] = v;
  }
  return out as unknown as DcapCollateral;
}

/** True if the object looks like a DCAP collateral bundle (used to recognise files by content). */
export function isDcapCollateral(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'tcb_info' in value && 'qe_identity' in value && 'pck_crl' in value;
}
