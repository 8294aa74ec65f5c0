/**
 * AR4SI (draft-ietf-rats-ar4si) trustworthiness claims as EAR (draft-ietf-rats-ear) carries them:
 * one small integer per claim of the trustworthiness vector, whose range gives its tier
 * (none -1..1, affirming 2..31, warning 32..95, contraindicated 96..127, and the negative mirror).
 * Only the code points attestgate asserts are named here; docs/policy.md says when each is used.
 */

export type AppraisalStatus = 'affirming' | 'warning' | 'contraindicated';

export const TRUST_CLAIMS = [
  'instance-identity',
  'configuration',
  'executables',
  'file-system',
  'hardware',
  'runtime-opaque',
  'storage-opaque',
  'sourced-data',
] as const;
export type TrustClaim = (typeof TRUST_CLAIMS)[number];
export type TrustVector = Readonly<Record<TrustClaim, number>>;

/** Code points (AR4SI section 2.3), by claim. */
export const AR4SI = {
  /** The evidence is insufficient to make a conclusion: no claim. */
  NO_CLAIM: 0,
  instance: { RECOGNIZED: 2 },
  configuration: { APPROVED: 2, UNSAFE: 32, UNSUPPORTABLE: 96 },
  executables: { APPROVED_RUNTIME: 2, UNSAFE_RUNTIME: 32, UNRECOGNIZED_RUNTIME: 33 },
  hardware: { GENUINE: 2, UNSAFE: 32, CONTRAINDICATED: 96 },
  runtimeOpaque: { ENCRYPTED: 2, VISIBLE: 96 },
} as const;

/** The tier of one trustworthiness claim value; `none` for -1..1. */
export function tierOf(value: number): AppraisalStatus | 'none' {
  const v = Math.abs(value);
  if (v <= 1) return 'none';
  if (v <= 31) return 'affirming';
  if (v <= 95) return 'warning';
  return 'contraindicated';
}

const RANK: Readonly<Record<AppraisalStatus | 'none', number>> = { none: 0, affirming: 1, warning: 2, contraindicated: 3 };

/** The worse (less trustworthy) of two tiers. */
export function worse<T extends AppraisalStatus | 'none'>(a: T, b: T): T {
  return RANK[a] >= RANK[b] ? a : b;
}

export function tierRank(t: AppraisalStatus | 'none'): number {
  return RANK[t];
}
