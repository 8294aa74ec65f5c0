/**
 * One entry point for every TEE: evidence bytes plus collateral files (recognised by content, so
 * their names do not matter) -> an EvidenceResult or an AttestationError. The one exhaustive
 * switch over TeeKind lives here.
 */
import { decodeUtf8 } from './common/bytes.ts';
import { VerificationError } from './errors.ts';
import { isDcapCollateral, toDcapCollateral, type DcapCollateral } from './intel/bundle.ts';
import { verifyDcapQuote, type DcapCache } from './intel/verify.ts';
import { verifyNitro } from './nitro/verify.ts';
import { sevSnpInputFromFiles, verifySevSnp, type SevSnpCache } from './amd/verify.ts';
import type { EvidenceResult, TeeKind, VerifyOptions } from './result.ts';

export interface CollateralFile {
  readonly name: string;
  readonly bytes: Uint8Array;
  /**
   * Found in a directory rather than named one by one: a file that is not collateral for this TEE
   * (a case.json, the evidence itself) is skipped instead of refused.
   */
  readonly optional?: boolean;
}

export type AmdProduct = 'milan' | 'genoa' | 'turin';

export interface EvidenceInput {
  readonly tee: TeeKind;
  readonly evidence: Uint8Array;
  readonly collateral: readonly CollateralFile[];
  /** SEV-SNP only: the product, needed for v2 reports that do not carry a CPUID. */
  readonly product?: AmdProduct;
}

export interface RegistryOptions extends VerifyOptions {
  readonly dcapCache?: DcapCache;
  readonly snpCache?: SevSnpCache;
}

function tryJson(file: CollateralFile): unknown {
  // Only files that look like JSON are parsed; binary collateral (DER) is left to other recognisers.
  const first = file.bytes.find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09);
  if (first !== 0x7b) return undefined;
  try {
    return JSON.parse(decodeUtf8(file.bytes, file.name, 'collateral_malformed')) as unknown;
  } catch {
    return undefined;
  }
}

/** The DCAP collateral bundle among the files; exactly one is required. */
export function findDcapCollateral(files: readonly CollateralFile[]): DcapCollateral {
  const bundles = files.map((f) => ({ f, json: tryJson(f) })).filter((x) => isDcapCollateral(x.json));
  if (bundles.length === 0) {
    throw new VerificationError('ERR_COLLATERAL_UNAVAILABLE', 'no DCAP collateral bundle given (a JSON file with tcb_info, qe_identity, pck_crl, ...)', {
      reason: 'collateral_missing',
    });
  }
  if (bundles.length > 1) {
    throw new VerificationError('ERR_INVALID_ARGUMENT', `more than one DCAP collateral bundle given (${bundles.map((b) => b.f.name).join(', ')})`, {
      reason: 'collateral_ambiguous',
    });
  }
  return toDcapCollateral((bundles[0] as { json: unknown }).json);
}

function isSnpCollateralOrRequired(f: CollateralFile): boolean {
  if (f.optional !== true) return true;
  try {
    sevSnpInputFromFiles(new Uint8Array(), [f]);
    return true;
  } catch {
    return false;
  }
}

export async function verifyEvidence(input: EvidenceInput, opts: RegistryOptions): Promise<EvidenceResult> {
  switch (input.tee) {
    case 'sgx':
    case 'tdx':
      return verifyDcapQuote(input.evidence, findDcapCollateral(input.collateral), {
        ...opts,
        tee: input.tee,
        ...(opts.dcapCache !== undefined ? { cache: opts.dcapCache } : {}),
      });
    case 'nitro':
      // The document carries its whole chain; collateral files play no part.
      return verifyNitro(input.evidence, opts);
    case 'sev-snp':
      return verifySevSnp(sevSnpInputFromFiles(input.evidence, input.collateral.filter(isSnpCollateralOrRequired), input.product, opts.snpCache), {
        ...opts,
        ...(opts.snpCache !== undefined ? { cache: opts.snpCache } : {}),
      });
  }
}
