/**
 * What collateral a quote needs: its TEE, the FMSPC of its PCK and which PCK CA issued it. Read
 * from the untrusted quote before verification, only to decide what to fetch; everything fetched
 * is then verified against the pinned root like any other collateral.
 */
import { parsePemCertificates } from '../common/x509.ts';
import { toHex } from '../common/bytes.ts';
import { VerificationError } from '../errors.ts';
import { parseQuote } from './parse.ts';
import { pckExtensions } from './pck.ts';

export interface DcapCollateralNeeds {
  readonly tee: 'sgx' | 'tdx';
  /** 12 lowercase hex characters. */
  readonly fmspc: string;
  readonly ca: 'platform' | 'processor';
}

export function dcapCollateralNeeds(quoteBytes: Uint8Array): DcapCollateralNeeds {
  const quote = parseQuote(quoteBytes);
  const [leaf, issuer] = parsePemCertificates(quote.pckChainPem, 'PCK certificate chain', 'malformed_quote');
  if (leaf === undefined || issuer === undefined) {
    throw new VerificationError('ERR_EVIDENCE_MALFORMED', 'PCK certificate chain needs the PCK and its issuing CA', { reason: 'malformed_quote' });
  }
  const cn = issuer.subject.commonName ?? '';
  const ca = cn === 'Intel SGX PCK Platform CA' ? 'platform' : cn === 'Intel SGX PCK Processor CA' ? 'processor' : undefined;
  if (ca === undefined) {
    throw new VerificationError('ERR_EVIDENCE_UNSUPPORTED', `PCK issuer is "${cn}", want Intel SGX PCK Platform CA or Processor CA`, { reason: 'unknown_pck_ca' });
  }
  return { tee: quote.body.kind, fmspc: toHex(pckExtensions(leaf).fmspc), ca };
}
