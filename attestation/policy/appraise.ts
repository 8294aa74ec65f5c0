/**
 * Appraisal: a verified EvidenceResult x a loaded Policy -> affirming | warning | contraindicated,
 * with every claim checked listed with what it was and what the policy wanted.
 *
 * This layer runs after verification and trusts the result to be authentic; it decides only
 * whether it is acceptable. Unlike verification it never stops at the first problem: an operator
 * fixing a policy or an image wants every mismatch at once. Anything it cannot read (a claim of
 * the wrong type, an unknown TCB status, an unparsable date) counts against the evidence.
 */
import type { ModelDigest } from '../binding.ts';
import { equalBytes, fromHex } from '../common/bytes.ts';
import { PolicyError, type PolicyMismatch } from '../errors.ts';
import { isoTime, timeOf, type ClaimValue, type EvidenceResult, type TeeKind } from '../result.ts';
import { AR4SI, type AppraisalStatus, type TrustClaim, type TrustVector } from './ar4si.ts';
import { HEX_FIELDS, MASKED_FIELDS, NITRO_PCRS, type AllowedHex, type MaskedValue, type Policy, type SnpTcbMinimum } from './schema.ts';

export type { AppraisalStatus, TrustVector } from './ar4si.ts';

export interface AppraisalCheck {
  /** Where the value lives: a claim path (`mrtd`, `pcrs.0`, `reported_tcb.snp`) or a result field (`tee`, `tcb_status`). */
  readonly claim: string;
  readonly got: unknown;
  readonly want: unknown;
  readonly ok: boolean;
  /** affirming; warning (accepted, with a caveat: a non-UpToDate TCB, an allowed debug or simulated TEE); contraindicated (= !ok). */
  readonly tier: AppraisalStatus;
  /** The AR4SI trustworthiness claim this check informs. */
  readonly category: TrustClaim;
}

export interface Appraisal {
  readonly tee: TeeKind;
  readonly status: AppraisalStatus;
  readonly checks: readonly AppraisalCheck[];
  /** The failed checks, as PolicyError reports them (got and want as text). */
  readonly mismatches: readonly PolicyMismatch[];
  readonly trustVector: TrustVector;
}

export interface AppraisalContext {
  /** Appraisal time; never read from the clock. */
  readonly at: Date;
  /** The models the enclave declared loaded (its binding commits to them). */
  readonly models?: readonly ModelDigest[];
}

/**
 * Collateral that its vendor reissues on a schedule and whose age max_collateral_age bounds.
 * Certificates are not here: a root issued years ago is not stale, and every certificate's
 * validity window was checked by the verifier. Intel's root CA CRL is reissued yearly by design.
 */
export const DATED_COLLATERAL_KINDS: readonly string[] = ['intel.tcb_info', 'intel.qe_identity', 'intel.pck_crl', 'crl'];

// Byte fields by the trustworthiness claim they inform (the rest measure code: executables).
const CONFIGURATION_FIELDS = new Set(['host_data', 'mrconfigid', 'mrowner', 'mrownerconfig', 'pcr3', 'pcr4']);
const HARDWARE_FIELDS = new Set(['mrseam']);

function categoryOf(field: string): TrustClaim {
  if (CONFIGURATION_FIELDS.has(field)) return 'configuration';
  if (HARDWARE_FIELDS.has(field)) return 'hardware';
  return 'executables';
}

const CANONICAL_HEX = /^(?:[0-9a-f]{2})*$/;

/** Byte equality of a claim (untrusted shape) and a canonical policy value. */
function sameHex(got: unknown, want: string): boolean {
  return typeof got === 'string' && got.length === want.length && CANONICAL_HEX.test(got) && equalBytes(fromHex(got), fromHex(want));
}

function maskedMatch(got: unknown, want: MaskedValue): boolean {
  if (typeof got !== 'string' || got.length !== want.value.length || !CANONICAL_HEX.test(got)) return false;
  const g = fromHex(got);
  const v = fromHex(want.value);
  const m = fromHex(want.mask);
  let diff = 0;
  for (let i = 0; i < g.length; i++) diff |= ((g[i] as number) & (m[i] as number)) ^ (v[i] as number);
  return diff === 0;
}

/** A claim by dotted path; undefined where any step is missing or not an object. */
function claimAt(claims: Readonly<Record<string, ClaimValue>>, path: string): ClaimValue | undefined {
  let cur: ClaimValue | undefined = claims;
  for (const seg of path.split('.')) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return undefined;
    cur = (cur as Readonly<Record<string, ClaimValue>>)[seg];
  }
  return cur;
}

/** A list of one is shown as its value. */
const wantOf = <T>(xs: readonly T[]): T | readonly T[] => (xs.length === 1 ? (xs[0] as T) : xs);

/** Got and want as text: a list of wanted values reads `one of [..]`, a list value `[..]`. */
function show(v: unknown, want = false): string {
  if (v === undefined || v === null) return 'absent';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return `${want ? 'one of ' : ''}[${v.map((x) => show(x)).join(', ')}]`;
  return JSON.stringify(v);
}

class Checks {
  readonly list: AppraisalCheck[] = [];
  add(category: TrustClaim, claim: string, got: unknown, want: unknown, ok: boolean, warning = false): void {
    this.list.push({ claim, got: got ?? null, want, ok, tier: !ok ? 'contraindicated' : warning ? 'warning' : 'affirming', category });
  }
}

function checkTee(c: Checks, result: EvidenceResult, policy: Policy): void {
  c.add('hardware', 'tee', result.tee, wantOf(policy.tee), policy.tee.includes(result.tee));
  if (result.tee === 'sev-snp' && policy.products !== undefined) {
    const product = result.claims['product'];
    c.add('hardware', 'product', product, wantOf(policy.products), typeof product === 'string' && (policy.products as readonly string[]).includes(product));
  }
}

function checkTcb(c: Checks, result: EvidenceResult, policy: Policy): void {
  const status = result.tcb_status;
  const intel = result.tee === 'sgx' || result.tee === 'tdx';
  // SEV-SNP and Nitro have no status string (SNP's TCB is compared by min_tcb). A status where
  // none is expected is appraised like Intel's; none where Intel always gives one is refused.
  if (!intel && status === null) return;
  const accept: readonly string[] = policy.tcb.accept;
  if (status === 'UpToDate') {
    c.add('hardware', 'tcb_status', status, wantOf(accept), true);
    return;
  }
  const accepted = status !== null && accept.includes(status);
  c.add('hardware', 'tcb_status', status, wantOf(accept), accepted, true);
  if (!accepted) return;
  // An accepted out-of-date TCB is tolerable only for advisories the operator has assessed.
  const allowed = policy.tcb.allowed_advisories;
  const unassessed = result.advisory_ids.filter((a) => !allowed.includes(a));
  c.add('hardware', 'advisory_ids', result.advisory_ids, `each in [${allowed.join(', ')}]`, unassessed.length === 0, true);
}

function checkDebugAndSimulation(c: Checks, result: EvidenceResult, policy: Policy): void {
  // Fail closed: anything but an explicit `debug: false` claim is treated as debug.
  const debug = result.claims['debug'] !== false || result.debug_allowed;
  c.add('configuration', 'debug', result.claims['debug'], false, !debug || policy.dangerouslyAllowDebug, debug);
  c.add('hardware', 'simulated', result.simulated, false, !result.simulated || policy.allowSimulated, result.simulated);
}

function checkHexFields(c: Checks, result: EvidenceResult, ref: object, table: Readonly<Record<string, number>>): void {
  for (const field of Object.keys(table)) {
    const allowed = (ref as Readonly<Record<string, AllowedHex | undefined>>)[field];
    if (allowed === undefined) continue;
    const got = result.claims[field];
    c.add(categoryOf(field), field, got, wantOf(allowed), allowed.some((w) => sameHex(got, w)));
  }
}

function checkMaskedFields(c: Checks, result: EvidenceResult, ref: object, table: Readonly<Record<string, number>>): void {
  for (const field of Object.keys(table)) {
    const want = (ref as Readonly<Record<string, MaskedValue | undefined>>)[field];
    if (want === undefined) continue;
    const got = result.claims[field];
    c.add('configuration', field, got, want, maskedMatch(got, want));
  }
}

function checkIntegers(c: Checks, category: TrustClaim, claim: string, got: ClaimValue | undefined, allowed: readonly number[]): void {
  c.add(category, claim, got, wantOf(allowed), typeof got === 'number' && allowed.includes(got));
}

function checkMinimum(c: Checks, category: TrustClaim, claim: string, got: ClaimValue | undefined, min: number): void {
  c.add(category, claim, got, `>= ${min}`, typeof got === 'number' && got >= min);
}

function checkSnpTcb(c: Checks, result: EvidenceResult, min: SnpTcbMinimum): void {
  // REPORTED_TCB is the TCB the VCEK was derived for, i.e. the one the signature vouches for; the
  // firmware keeps it at or below COMMITTED_TCB and CURRENT_TCB.
  for (const part of ['bl', 'tee', 'snp', 'ucode'] as const) {
    checkMinimum(c, 'hardware', `reported_tcb.${part}`, claimAt(result.claims, `reported_tcb.${part}`), min[part]);
  }
  // FMC exists only on Turin; the claim is absent on Milan and Genoa and has nothing to compare.
  const fmc = claimAt(result.claims, 'reported_tcb.fmc');
  if (min.fmc !== undefined && fmc !== undefined) checkMinimum(c, 'hardware', 'reported_tcb.fmc', fmc, min.fmc);
}

function checkReference(c: Checks, result: EvidenceResult, policy: Policy): void {
  switch (result.tee) {
    case 'sgx': {
      const ref = policy.reference.sgx;
      if (ref === undefined) return;
      checkHexFields(c, result, ref, HEX_FIELDS.sgx);
      checkMaskedFields(c, result, ref, MASKED_FIELDS.sgx);
      if (ref.isvprodid !== undefined) checkIntegers(c, 'executables', 'isvprodid', result.claims['isvprodid'], ref.isvprodid);
      if (ref.min_isvsvn !== undefined) checkMinimum(c, 'executables', 'isvsvn', result.claims['isvsvn'], ref.min_isvsvn);
      return;
    }
    case 'tdx': {
      const ref = policy.reference.tdx;
      if (ref === undefined) return;
      checkHexFields(c, result, ref, HEX_FIELDS.tdx);
      checkMaskedFields(c, result, ref, MASKED_FIELDS.tdx);
      return;
    }
    case 'sev-snp': {
      const ref = policy.reference['sev-snp'];
      if (ref === undefined) return;
      checkHexFields(c, result, ref, HEX_FIELDS['sev-snp']);
      if (ref.min_tcb !== undefined) checkSnpTcb(c, result, ref.min_tcb);
      if (ref.vmpl !== undefined) checkIntegers(c, 'configuration', 'vmpl', result.claims['vmpl'], ref.vmpl);
      return;
    }
    case 'nitro': {
      const ref = policy.reference.nitro;
      if (ref === undefined) return;
      for (const [i, pcr] of NITRO_PCRS.entries()) {
        const allowed = ref[pcr];
        if (allowed === undefined) continue;
        const got = claimAt(result.claims, `pcrs.${i}`);
        c.add(categoryOf(pcr), `pcrs.${i}`, got, wantOf(allowed), allowed.some((w) => sameHex(got, w)));
      }
      return;
    }
  }
}

function checkFreshness(c: Checks, result: EvidenceResult, policy: Policy, at: number): void {
  const expires = Date.parse(result.expires_at);
  c.add('hardware', 'expires_at', result.expires_at, `>= ${isoTime(at)}`, Number.isFinite(expires) && at <= expires);
  const maxAge = policy.max_collateral_age;
  if (maxAge === undefined) return;
  const oldest = at - maxAge * 1000;
  for (const item of result.collateral) {
    if (!DATED_COLLATERAL_KINDS.includes(item.kind)) continue;
    const from = item.valid_from === undefined ? NaN : Date.parse(item.valid_from);
    c.add('hardware', `collateral.${item.kind}.valid_from`, item.valid_from, `>= ${isoTime(oldest)}`, Number.isFinite(from) && from >= oldest);
  }
}

function checkModels(c: Checks, policy: Policy, loaded: readonly ModelDigest[] | undefined): void {
  const allowed = policy.models;
  if (allowed === undefined) return;
  // Fail closed: a policy that pins models cannot be satisfied by a caller that does not say which are loaded.
  if (loaded === undefined || loaded.length === 0) {
    c.add('executables', 'models', loaded, allowed, loaded !== undefined);
    return;
  }
  for (const m of loaded) {
    const digests = allowed.filter((a) => a.name === m.name && a.version === m.version).map((a) => a.sha256);
    c.add('executables', `models.${m.name}@${m.version}`, m.sha256, wantOf(digests), digests.some((d) => sameHex(m.sha256, d)));
  }
}

function vectorOf(result: EvidenceResult, checks: readonly AppraisalCheck[], allowDebug: boolean): TrustVector {
  const of = (cat: TrustClaim): readonly AppraisalCheck[] => checks.filter((x) => x.category === cat);
  const failed = (cat: TrustClaim): boolean => of(cat).some((x) => !x.ok);
  const warned = (cat: TrustClaim): boolean => of(cat).some((x) => x.tier === 'warning');
  const debug = result.claims['debug'] !== false || result.debug_allowed;
  const sim = result.simulated;

  // Executables: a security version below the minimum is a recognised but vulnerable runtime;
  // any other difference is a runtime we do not recognise.
  // Nothing measured (the TEE is not allowed, so none of its reference values apply): no claim.
  const exeFailed = of('executables').filter((x) => !x.ok);
  const executables =
    of('executables').length === 0
      ? AR4SI.NO_CLAIM
      : exeFailed.length === 0
        ? AR4SI.executables.APPROVED_RUNTIME
        : exeFailed.every((x) => x.claim === 'isvsvn')
          ? AR4SI.executables.UNSAFE_RUNTIME
          : AR4SI.executables.UNRECOGNIZED_RUNTIME;
  const configuration = failed('configuration') ? AR4SI.configuration.UNSUPPORTABLE : warned('configuration') ? AR4SI.configuration.UNSAFE : AR4SI.configuration.APPROVED;
  // A simulated TEE says nothing about hardware or the instance: no claim, unless refused.
  const hardware = failed('hardware') ? AR4SI.hardware.CONTRAINDICATED : sim ? AR4SI.NO_CLAIM : warned('hardware') ? AR4SI.hardware.UNSAFE : AR4SI.hardware.GENUINE;
  const instance = sim || !result.trust_anchor.pinned ? AR4SI.NO_CLAIM : AR4SI.instance.RECOGNIZED;
  // Memory encryption: SGX, TDX and SEV-SNP encrypt guest memory; a debug guest's is readable by
  // the host. Nitro isolates rather than encrypts (AR4SI isolated_rt is a warning tier), so no claim.
  const runtimeOpaque = debug
    ? allowDebug
      ? AR4SI.NO_CLAIM
      : AR4SI.runtimeOpaque.VISIBLE
    : sim || result.tee === 'nitro'
      ? AR4SI.NO_CLAIM
      : AR4SI.runtimeOpaque.ENCRYPTED;
  return {
    'instance-identity': instance,
    configuration,
    executables,
    'file-system': AR4SI.NO_CLAIM,
    hardware,
    'runtime-opaque': runtimeOpaque,
    'storage-opaque': AR4SI.NO_CLAIM,
    'sourced-data': AR4SI.NO_CLAIM,
  };
}

/** Appraise a verified result against a policy at `ctx.at`. Pure; never throws for a mismatch. */
export function appraise(result: EvidenceResult, policy: Policy, ctx: AppraisalContext): Appraisal {
  const at = timeOf(ctx.at);
  const c = new Checks();
  checkTee(c, result, policy);
  checkDebugAndSimulation(c, result, policy);
  checkTcb(c, result, policy);
  checkReference(c, result, policy);
  checkFreshness(c, result, policy, at);
  checkModels(c, policy, ctx.models);
  const checks = c.list;
  const status: AppraisalStatus = checks.some((x) => !x.ok) ? 'contraindicated' : checks.some((x) => x.tier === 'warning') ? 'warning' : 'affirming';
  const mismatches = checks.filter((x) => !x.ok).map((x): PolicyMismatch => ({ field: x.claim, got: show(x.got), want: show(x.want, true) }));
  return { tee: result.tee, status, checks, mismatches, trustVector: vectorOf(result, checks, policy.dangerouslyAllowDebug) };
}

/** Throw PolicyError ERR_POLICY_MISMATCH (listing every mismatch) unless the appraisal is affirming or warning. */
export function assertAffirmed(appraisal: Appraisal): asserts appraisal is Appraisal & { readonly status: 'affirming' | 'warning' } {
  if (appraisal.status !== 'contraindicated') return;
  const { mismatches } = appraisal;
  const text = mismatches.map((m) => `${m.field} is ${m.got}, want ${m.want}`).join('; ');
  throw new PolicyError('ERR_POLICY_MISMATCH', `${appraisal.tee} attestation result does not satisfy the policy: ${text}`, {
    mismatches,
    details: { mismatches },
  });
}
