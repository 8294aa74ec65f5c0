/**
 * The shape every TEE verifier returns, and the CLI prints with --json. Field names are the ones
 * of the fixtures' `expected` objects (snake_case, lowercase hex for bytes) so that results,
 * fixtures and the command line read the same.
 */
import type { TrustAnchor } from './common/x509.ts';
import { VerificationError } from './errors.ts';

export type TeeKind = 'sgx' | 'tdx' | 'sev-snp' | 'nitro';
export const TEE_KINDS: readonly TeeKind[] = ['sgx', 'tdx', 'sev-snp', 'nitro'];

export type ClaimValue = string | number | boolean | null | readonly ClaimValue[] | { readonly [k: string]: ClaimValue };
export type Claims = Readonly<Record<string, ClaimValue>>;

export interface TrustAnchorInfo {
  readonly name: string;
  readonly sha256: string;
  /** True when the anchor is the vendor root built into the library; false when named explicitly by the caller. */
  readonly pinned: boolean;
}

/** One collateral item the verdict relied on; its digest lets anyone replay the verdict later. */
export interface CollateralDigest {
  readonly kind: string;
  readonly sha256: string;
  /** Validity window of the item, ISO-8601, where it has one. */
  readonly valid_from?: string;
  readonly valid_until?: string;
}

export interface EvidenceResult {
  readonly verdict: 'ok';
  readonly tee: TeeKind;
  /** The vendor's TCB status (Intel's strings); null where the TEE has none (Nitro). */
  readonly tcb_status: string | null;
  readonly advisory_ids: readonly string[];
  readonly claims: Claims;
  readonly trust_anchor: TrustAnchorInfo;
  readonly collateral: readonly CollateralDigest[];
  /** The evidence came from a debug enclave/TD/guest and was accepted only because allowDebug was set. */
  readonly debug_allowed: boolean;
  /**
   * The evidence chains to attestgate's simulated TEE root (passed explicitly as a trust anchor):
   * it proves only that the code paths work, nothing about real hardware.
   */
  readonly simulated: boolean;
  /** Earliest expiry among the certificates and collateral used (ISO-8601); the result is void after it. */
  readonly expires_at: string;
}

export interface VerifyOptions {
  /** Verification time. Always an input: verifiers never read the clock. */
  readonly at: Date;
  /** Trust anchors to use instead of the pinned vendor root(s). Reported as non-pinned in the result. */
  readonly trustAnchors?: readonly TrustAnchor[];
  /** Accept debug enclaves/TDs/guests/documents (after every cryptographic check). Default false. */
  readonly allowDebug?: boolean;
  /** Called with the name of each verification step as it passes (the CLI's step-by-step report). */
  readonly onStep?: (step: string) => void;
}

export function anchorInfo(a: TrustAnchor): TrustAnchorInfo {
  return { name: a.name, sha256: a.sha256, pinned: a.pinned };
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** Validate a verification time once at the edge: an Invalid Date would make every comparison false. */
export function timeOf(at: Date): number {
  const t = at.getTime();
  if (!Number.isFinite(t)) {
    throw new VerificationError('ERR_INVALID_ARGUMENT', 'verification time is an invalid date', { reason: 'invalid_time' });
  }
  return t;
}
