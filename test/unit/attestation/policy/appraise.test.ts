/**
 * Appraisal of REAL verified results (Intel SGX/TDX, AMD SEV-SNP, AWS Nitro fixtures) against
 * policies built from the cases' `expected` claims: the matching policy affirms (or warns where the
 * TCB is out of date), each reference value changed in turn gives exactly one mismatch naming its
 * claim with got and want, every mismatch is collected, and each rule's tier and AR4SI claim.
 */
import { describe, expect, it } from 'vitest';
import { AttestationError, PolicyError } from '../../../../attestation/errors.ts';
import { AR4SI, tierOf, tierRank, worse } from '../../../../attestation/policy/ar4si.ts';
import { appraise, assertAffirmed, DATED_COLLATERAL_KINDS, type Appraisal } from '../../../../attestation/policy/appraise.ts';
import { parsePolicy, type Policy } from '../../../../attestation/policy/schema.ts';
import type { EvidenceResult } from '../../../../attestation/result.ts';
import { errorOf } from '../../../helpers/errors.ts';
import { flipHex, load, withClaims, withResult, type Loaded } from './fixtures.ts';

type Raw = Record<string, unknown>;
const FF = (n: number): string => 'ff'.repeat(n);

/** A reference section that pins every value the case's `expected` claims give for its TEE. */
function referenceOf(l: Loaded): Raw {
  const x = l.expected;
  const s = (k: string): string => x[k] as string;
  switch (l.result.tee) {
    case 'sgx':
      return { mrenclave: s('mrenclave'), mrsigner: s('mrsigner'), isvprodid: x['isvprodid'], min_isvsvn: x['isvsvn'], attributes: { value: s('attributes'), mask: FF(16) } };
    case 'tdx':
      return {
        mrtd: s('mrtd'),
        rtmr0: s('rtmr0'),
        rtmr1: s('rtmr1'),
        rtmr2: s('rtmr2'),
        rtmr3: s('rtmr3'),
        mrseam: s('mrseam'),
        mrconfigid: s('mrconfigid'),
        mrowner: s('mrowner'),
        mrownerconfig: s('mrownerconfig'),
        td_attributes: { value: s('td_attributes'), mask: FF(8) },
        xfam: { value: s('xfam'), mask: FF(8) },
      };
    case 'sev-snp': {
      const min = Object.fromEntries(Object.entries(x['reported_tcb'] as Raw).filter(([k]) => k !== 'raw'));
      return {
        measurement: s('measurement'),
        host_data: s('host_data'),
        id_key_digest: s('id_key_digest'),
        author_key_digest: s('author_key_digest'),
        family_id: s('family_id'),
        image_id: s('image_id'),
        min_tcb: min,
        vmpl: x['vmpl'],
      };
    }
    case 'nitro':
      return Object.fromEntries(Object.entries(x['pcrs'] as Record<string, string>).map(([i, v]) => [`pcr${i}`, v]));
  }
}

function rawPolicy(l: Loaded, extra: Raw = {}): Raw {
  const tee = l.result.tee;
  return {
    version: 1,
    name: 'fixture',
    tee: [tee],
    ...(tee === 'sev-snp' ? { products: [l.result.claims['product']] } : {}),
    reference: { [tee]: referenceOf(l) },
    ...(tee === 'sgx' || tee === 'tdx' ? { tcb: { accept: ['UpToDate', l.result.tcb_status], allowed_advisories: l.result.advisory_ids } } : {}),
    ...extra,
  };
}

const policyFor = (l: Loaded, extra: Raw = {}): Policy => parsePolicy(rawPolicy(l, extra));

function checkOf(a: Appraisal, claim: string) {
  const c = a.checks.find((x) => x.claim === claim);
  if (c === undefined) throw new Error(`no check ${claim} in ${a.checks.map((x) => x.claim).join(', ')}`);
  return c;
}

/** The invariants every appraisal keeps. */
function invariants(a: Appraisal): void {
  const failed = a.checks.filter((c) => !c.ok);
  expect(a.mismatches.map((m) => m.field)).toEqual(failed.map((c) => c.claim));
  for (const c of a.checks) expect(c.tier === 'contraindicated').toBe(!c.ok);
  const want = a.checks.reduce<Appraisal['status']>((s, c) => worse(s, c.tier), 'affirming');
  expect(a.status).toBe(want);
  // EAR: the status claims no more trust than any claim of the vector.
  for (const v of Object.values(a.trustVector)) expect(tierRank(tierOf(v))).toBeLessThanOrEqual(tierRank(a.status));
}

function run(r: EvidenceResult, p: Policy, at: Date, models?: Parameters<typeof appraise>[2]['models']): Appraisal {
  const a = appraise(r, p, { at, ...(models === undefined ? {} : { models }) });
  invariants(a);
  return a;
}

const CASES = [
  'intel/tdx-v4-phala-b0c06f',
  'intel/tdx-v5-gotdx-90c06f',
  'intel/tdx-v4-automata-00806f05',
  'intel/sgx-v3-phala-processor-00a067',
  'amd/genoa-v2-oak',
  'amd/milan-v3-oak-rk',
  'amd/turin-v5-oak',
  'amd/milan-v3-vlek-aws-trustee',
  'nitro/cape-2022-09-15-prod-pcr8',
  'nitro/marlin-2024-12-prod',
];

/** Status of the matching policy: affirming where the TCB is up to date (SNP and Nitro have no status string). */
const statusOf = (l: Loaded): Appraisal['status'] => (l.result.tcb_status === null || l.result.tcb_status === 'UpToDate' ? 'affirming' : 'warning');

describe('a policy built from the fixture claims', () => {
  it.each(CASES)('%s: passes every check', async (name) => {
    const l = await load(name);
    const a = run(l.result, policyFor(l), l.at);
    expect(a.status).toBe(statusOf(l));
    expect(a.tee).toBe(l.result.tee);
    expect(a.mismatches).toEqual([]);
    for (const c of a.checks) expect(c.ok, c.claim).toBe(true);
    // Every reference value of the policy was checked.
    const ref = referenceOf(l);
    expect(a.checks.length).toBeGreaterThanOrEqual(Object.keys(ref).length + 4);
    expect(a.trustVector.executables).toBe(AR4SI.executables.APPROVED_RUNTIME);
    expect(a.trustVector.configuration).toBe(AR4SI.configuration.APPROVED);
    expect(a.trustVector['instance-identity']).toBe(AR4SI.instance.RECOGNIZED);
    expect(a.trustVector.hardware).toBe(statusOf(l) === 'affirming' ? AR4SI.hardware.GENUINE : AR4SI.hardware.UNSAFE);
    expect(a.trustVector['runtime-opaque']).toBe(l.result.tee === 'nitro' ? AR4SI.NO_CLAIM : AR4SI.runtimeOpaque.ENCRYPTED);
    for (const k of ['file-system', 'storage-opaque', 'sourced-data'] as const) expect(a.trustVector[k]).toBe(AR4SI.NO_CLAIM);
    expect(() => {
      assertAffirmed(a);
    }).not.toThrow();
  });

  it('records got and want for each check (TDX)', async () => {
    const l = await load('intel/tdx-v4-phala-b0c06f');
    const a = run(l.result, policyFor(l), l.at);
    expect(checkOf(a, 'mrtd')).toEqual({ claim: 'mrtd', got: l.expected['mrtd'], want: l.expected['mrtd'], ok: true, tier: 'affirming', category: 'executables' });
    expect(checkOf(a, 'mrseam').category).toBe('hardware');
    expect(checkOf(a, 'mrconfigid').category).toBe('configuration');
    expect(checkOf(a, 'td_attributes')).toMatchObject({ got: l.expected['td_attributes'], want: { value: l.expected['td_attributes'], mask: FF(8) }, category: 'configuration' });
    expect(checkOf(a, 'tee')).toMatchObject({ got: 'tdx', want: 'tdx', ok: true });
    expect(checkOf(a, 'debug')).toMatchObject({ got: false, want: false, ok: true });
    expect(checkOf(a, 'simulated')).toMatchObject({ got: false, want: false, ok: true });
    expect(checkOf(a, 'tcb_status')).toMatchObject({ got: 'UpToDate', ok: true, tier: 'affirming' });
    expect(checkOf(a, 'expires_at')).toMatchObject({ got: l.result.expires_at, want: `>= ${l.at.toISOString()}`, ok: true });
  });
});

/** Every way to change one reference value of the matching policy, with the claim it must name. */
function oneChangeEach(l: Loaded): [string, Raw, string][] {
  const ref = referenceOf(l);
  const tee = l.result.tee;
  const out: [string, Raw, string][] = [];
  const withRef = (k: string, v: unknown): Raw => rawPolicy(l, { reference: { [tee]: { ...ref, [k]: v } } });
  for (const [k, v] of Object.entries(ref)) {
    if (typeof v === 'string') out.push([k, withRef(k, flipHex(v)), tee === 'nitro' ? `pcrs.${k.slice(3)}` : k]);
    else if (typeof v === 'number') out.push([k, withRef(k, v + 1), k === 'min_isvsvn' ? 'isvsvn' : k]);
    else if (k === 'min_tcb') {
      for (const [part, n] of Object.entries(v as Record<string, number>)) out.push([`min_tcb.${part}`, withRef(k, { ...(v as Raw), [part]: n + 1 }), `reported_tcb.${part}`]);
    } else {
      const m = v as { value: string; mask: string };
      out.push([k, withRef(k, { ...m, value: flipHex(m.value) }), k]);
    }
  }
  return out;
}

describe('each reference value changed in turn gives exactly one mismatch naming it', () => {
  for (const name of CASES) {
    it(name, async () => {
      const l = await load(name);
      const changes = oneChangeEach(l);
      expect(changes.length).toBeGreaterThanOrEqual(4);
      for (const [what, raw, claim] of changes) {
        const a = run(l.result, parsePolicy(raw), l.at);
        expect(a.status, what).toBe('contraindicated');
        expect(a.mismatches.map((m) => m.field), what).toEqual([claim]);
        const m = a.mismatches[0]!;
        const c = checkOf(a, claim);
        expect(m.got).toBe(typeof c.got === 'string' ? c.got : JSON.stringify(c.got));
        expect(m.want.length).toBeGreaterThan(0);
      }
    });
  }

  it('and all of them at once are all collected', async () => {
    for (const name of CASES) {
      const l = await load(name);
      const changes = oneChangeEach(l);
      const tee = l.result.tee;
      // Every single change of oneChangeEach, applied together.
      const ref = referenceOf(l);
      const merged: Raw = {};
      for (const [k, v] of Object.entries(ref)) {
        if (k === 'min_tcb') merged[k] = Object.fromEntries(Object.entries(v as Record<string, number>).map(([p, n]) => [p, n + 1]));
        else merged[k] = typeof v === 'string' ? flipHex(v) : typeof v === 'number' ? v + 1 : { ...(v as Raw), value: flipHex((v as { value: string }).value) };
      }
      const a = run(l.result, parsePolicy(rawPolicy(l, { reference: { [tee]: merged } })), l.at);
      expect(a.mismatches.map((m) => m.field).sort(), name).toEqual(changes.map(([, , claim]) => claim).sort());
    }
  });
});

describe('got and want as text', () => {
  it('shows a list of allowed values, a minimum and a masked value', async () => {
    const l = await load('intel/sgx-v3-phala-processor-00a067');
    const ref = referenceOf(l);
    const other = 'ee'.repeat(32);
    const p = policyFor(l, {
      reference: { sgx: { ...ref, mrenclave: [other, 'dd'.repeat(32)], min_isvsvn: 3, attributes: { value: '07' + '00'.repeat(15), mask: '07' + '00'.repeat(15) } } },
    });
    const a = run(l.result, p, l.at);
    expect(a.mismatches).toEqual([
      { field: 'mrenclave', got: l.expected['mrenclave'], want: `one of [${'dd'.repeat(32)}, ${other}]` },
      { field: 'attributes', got: l.expected['attributes'], want: JSON.stringify({ value: '07' + '00'.repeat(15), mask: '07' + '00'.repeat(15) }) },
      { field: 'isvsvn', got: '0', want: '>= 3' },
    ]);
  });
});

describe('TCB status (Intel)', () => {
  it('refuses an out-of-date TCB by default, naming status and the accepted list', async () => {
    const l = await load('intel/sgx-v3-phala-processor-00a067');
    const a = run(l.result, policyFor(l, { tcb: undefined }), l.at);
    expect(a.status).toBe('contraindicated');
    expect(a.mismatches).toEqual([{ field: 'tcb_status', got: 'ConfigurationAndSWHardeningNeeded', want: 'UpToDate' }]);
    expect(a.trustVector.hardware).toBe(AR4SI.hardware.CONTRAINDICATED);
  });

  it('warns for an accepted status whose advisories are all allowed, and refuses when one is not', async () => {
    const l = await load('intel/sgx-v3-phala-processor-00a067');
    const ok = run(l.result, policyFor(l), l.at);
    expect(ok.status).toBe('warning');
    expect(checkOf(ok, 'tcb_status').tier).toBe('warning');
    expect(checkOf(ok, 'advisory_ids')).toMatchObject({ got: ['INTEL-SA-00289', 'INTEL-SA-00615'], ok: true, tier: 'warning' });
    expect(ok.trustVector.hardware).toBe(AR4SI.hardware.UNSAFE);

    const one = run(l.result, policyFor(l, { tcb: { accept: ['UpToDate', 'ConfigurationAndSWHardeningNeeded'], allowed_advisories: ['INTEL-SA-00615'] } }), l.at);
    expect(one.status).toBe('contraindicated');
    expect(one.mismatches).toEqual([{ field: 'advisory_ids', got: '[INTEL-SA-00289, INTEL-SA-00615]', want: 'each in [INTEL-SA-00615]' }]);

    const none = run(l.result, policyFor(l, { tcb: { accept: ['UpToDate', 'ConfigurationAndSWHardeningNeeded'] } }), l.at);
    expect(none.mismatches.map((m) => m.field)).toEqual(['advisory_ids']);
  });

  it('OutOfDate (TDX) likewise', async () => {
    const l = await load('intel/tdx-v4-automata-00806f05');
    expect(run(l.result, policyFor(l, { tcb: { accept: 'UpToDate' } }), l.at).mismatches.map((m) => m.field)).toEqual(['tcb_status']);
    expect(run(l.result, policyFor(l), l.at).status).toBe('warning');
  });

  it('refuses an unknown status string, and a missing status where one must be', async () => {
    const l = await load('intel/tdx-v4-phala-b0c06f');
    for (const status of ['Revoked', 'TotallyFine', null]) {
      const a = run(withResult(l.result, { tcb_status: status }), policyFor(l), l.at);
      expect(a.status, String(status)).toBe('contraindicated');
      expect(a.mismatches[0]).toMatchObject({ field: 'tcb_status', got: status ?? 'absent' });
    }
  });

  it('SEV-SNP and Nitro have no status: no check; a status where none belongs is appraised like any', async () => {
    const l = await load('amd/genoa-v2-oak');
    expect(run(l.result, policyFor(l), l.at).checks.some((c) => c.claim === 'tcb_status')).toBe(false);
    expect(run(withResult(l.result, { tcb_status: 'Bogus' }), policyFor(l), l.at).mismatches.map((m) => m.field)).toEqual(['tcb_status']);
    expect(run(withResult(l.result, { tcb_status: 'UpToDate' }), policyFor(l), l.at).status).toBe('affirming');
  });
});

describe('SEV-SNP specifics', () => {
  it('refuses VMPL 1 where the policy wants 0 (milan-v5-gcp-vmpl1)', async () => {
    const l = await load('amd/milan-v5-gcp-vmpl1-teekit');
    const a = run(l.result, policyFor(l, { reference: { 'sev-snp': { ...referenceOf(l), vmpl: 0 } } }), l.at);
    expect(a.mismatches).toEqual([{ field: 'vmpl', got: '1', want: '0' }]);
    expect(a.trustVector.configuration).toBe(AR4SI.configuration.UNSUPPORTABLE);
    expect(run(l.result, policyFor(l, { reference: { 'sev-snp': { ...referenceOf(l), vmpl: [0, 1] } } }), l.at).status).toBe('affirming');
  });

  it('compares fmc on Turin only', async () => {
    const turin = await load('amd/turin-v5-oak');
    expect(checkOf(run(turin.result, policyFor(turin), turin.at), 'reported_tcb.fmc').ok).toBe(true);
    const genoa = await load('amd/genoa-v2-oak');
    const min = { ...(referenceOf(genoa)['min_tcb'] as Raw), fmc: 9 };
    const a = run(genoa.result, policyFor(genoa, { reference: { 'sev-snp': { ...referenceOf(genoa), min_tcb: min } } }), genoa.at);
    expect(a.status).toBe('affirming');
    expect(a.checks.some((c) => c.claim === 'reported_tcb.fmc')).toBe(false);
    const lower = { ...(referenceOf(genoa)['min_tcb'] as Record<string, number>) };
    for (const k of Object.keys(lower)) lower[k] = 0;
    expect(run(genoa.result, policyFor(genoa, { reference: { 'sev-snp': { ...referenceOf(genoa), min_tcb: lower } } }), genoa.at).status).toBe('affirming');
  });

  it('refuses a product the policy does not list', async () => {
    const l = await load('amd/genoa-v2-oak');
    const a = run(l.result, policyFor(l, { products: ['milan', 'turin'] }), l.at);
    expect(a.mismatches).toEqual([{ field: 'product', got: 'genoa', want: 'one of [milan, turin]' }]);
    expect(run(l.result, policyFor(l, { products: undefined }), l.at).checks.some((c) => c.claim === 'product')).toBe(false);
    expect(run(withClaims(l.result, { product: 7 }), policyFor(l), l.at).mismatches.map((m) => m.field)).toEqual(['product']);
  });
});

describe('the TEE itself', () => {
  it('refuses a TEE the policy does not allow, and checks no reference values it has none for', async () => {
    const tdx = await load('intel/tdx-v4-phala-b0c06f');
    const nitro = await load('nitro/cape-2022-09-15-prod-pcr8');
    const a = run(tdx.result, policyFor(nitro), tdx.at);
    expect(a.status).toBe('contraindicated');
    expect(a.mismatches.map((m) => m.field)).toEqual(['tee']);
    expect(a.mismatches[0]).toEqual({ field: 'tee', got: 'tdx', want: 'nitro' });
    expect(a.checks.map((c) => c.claim)).toEqual(['tee', 'debug', 'simulated', 'tcb_status', 'expires_at']);
    expect(a.trustVector.hardware).toBe(AR4SI.hardware.CONTRAINDICATED);
    expect(a.trustVector.executables).toBe(AR4SI.NO_CLAIM);
  });

  it.each([
    ['sgx', 'intel/sgx-v3-phala-processor-00a067'],
    ['tdx', 'intel/tdx-v4-phala-b0c06f'],
    ['sev-snp', 'amd/genoa-v2-oak'],
    ['nitro', 'nitro/cape-2022-09-15-prod-pcr8'],
  ])('a policy allowing %s but without its reference section checks nothing of it (defensive)', async (_, name) => {
    const l = await load(name);
    const p = { ...policyFor(l), reference: {} };
    const a = run(l.result, p, l.at);
    expect(a.checks.every((c) => ['tee', 'product', 'debug', 'simulated', 'tcb_status', 'advisory_ids', 'expires_at'].includes(c.claim))).toBe(true);
  });
});

describe('debug', () => {
  const debugCases = ['intel/sgx-v3-automata-processor-00a067-debug', 'amd/milan-v2-debug-gsg', 'nitro/sui-2024-11-debug-userdata'];

  it.each(debugCases)('%s: refused unless dangerouslyAllowDebug, and then only a warning', async (name) => {
    const l = await load(name);
    expect(l.result.debug_allowed).toBe(true);
    const refused = run(l.result, policyFor(l), l.at);
    expect(refused.status).toBe('contraindicated');
    expect(refused.mismatches.map((m) => m.field)).toEqual(['debug']);
    expect(refused.mismatches[0]).toEqual({ field: 'debug', got: 'true', want: 'false' });
    expect(refused.trustVector['runtime-opaque']).toBe(AR4SI.runtimeOpaque.VISIBLE);

    const allowed = run(l.result, policyFor(l, { dangerouslyAllowDebug: true }), l.at);
    expect(allowed.status).toBe('warning');
    expect(checkOf(allowed, 'debug')).toMatchObject({ ok: true, tier: 'warning' });
    expect(allowed.trustVector.configuration).toBe(AR4SI.configuration.UNSAFE);
    expect(allowed.trustVector['runtime-opaque']).toBe(AR4SI.NO_CLAIM);
  });

  it('treats a missing or non-boolean debug claim, or debug_allowed, as debug (fail closed)', async () => {
    const l = await load('intel/tdx-v4-phala-b0c06f');
    const p = policyFor(l);
    const noDebug = { ...l.result.claims };
    delete (noDebug as Record<string, unknown>)['debug'];
    expect(run(withResult(l.result, { claims: noDebug }), p, l.at).mismatches).toEqual([{ field: 'debug', got: 'absent', want: 'false' }]);
    expect(run(withClaims(l.result, { debug: 'false' }), p, l.at).mismatches.map((m) => m.field)).toEqual(['debug']);
    expect(run(withResult(l.result, { debug_allowed: true }), p, l.at).mismatches.map((m) => m.field)).toEqual(['debug']);
  });
});

describe('simulated TEE', () => {
  it('is refused unless allowSimulated, then a warning with no hardware or instance claim', async () => {
    const l = await load('intel/tdx-v4-phala-b0c06f');
    const sim = withResult(l.result, { simulated: true, trust_anchor: { ...l.result.trust_anchor, pinned: false } });
    const refused = run(sim, policyFor(l), l.at);
    expect(refused.mismatches).toEqual([{ field: 'simulated', got: 'true', want: 'false' }]);
    expect(refused.trustVector.hardware).toBe(AR4SI.hardware.CONTRAINDICATED);

    const allowed = run(sim, policyFor(l, { allowSimulated: true }), l.at);
    expect(allowed.status).toBe('warning');
    expect(checkOf(allowed, 'simulated')).toMatchObject({ ok: true, tier: 'warning' });
    expect(allowed.trustVector.hardware).toBe(AR4SI.NO_CLAIM);
    expect(allowed.trustVector['instance-identity']).toBe(AR4SI.NO_CLAIM);
    expect(allowed.trustVector['runtime-opaque']).toBe(AR4SI.NO_CLAIM);
  });

  it('a caller-named (non-pinned) anchor makes no instance-identity claim', async () => {
    const l = await load('amd/genoa-v2-oak');
    const a = run(withResult(l.result, { trust_anchor: { ...l.result.trust_anchor, pinned: false } }), policyFor(l), l.at);
    expect(a.status).toBe('affirming');
    expect(a.trustVector['instance-identity']).toBe(AR4SI.NO_CLAIM);
  });
});

describe('freshness', () => {
  it('refuses a result appraised after it expired, or whose expiry does not parse', async () => {
    const l = await load('nitro/cape-2022-09-15-prod-pcr8');
    const p = policyFor(l);
    const after = new Date(Date.parse(l.result.expires_at) + 1);
    expect(run(l.result, p, after).mismatches).toEqual([{ field: 'expires_at', got: l.result.expires_at, want: `>= ${after.toISOString()}` }]);
    expect(run(l.result, p, new Date(l.result.expires_at)).status).toBe('affirming');
    expect(run(withResult(l.result, { expires_at: 'soon' }), p, l.at).mismatches.map((m) => m.field)).toEqual(['expires_at']);
  });

  it('max_collateral_age bounds TCB info, QE identity and PCK CRL, not certificates or the root CA CRL', async () => {
    const l = await load('intel/sgx-v3-phala-processor-00a067');
    const fresh = run(l.result, policyFor(l, { max_collateral_age: '30d' }), l.at);
    expect(fresh.status).toBe('warning');
    const dated = fresh.checks.filter((c) => c.claim.startsWith('collateral.')).map((c) => c.claim);
    expect(dated).toEqual(['collateral.intel.tcb_info.valid_from', 'collateral.intel.qe_identity.valid_from', 'collateral.intel.pck_crl.valid_from']);

    const stale = run(l.result, policyFor(l, { max_collateral_age: '10d' }), l.at);
    expect(stale.mismatches.map((m) => m.field)).toEqual(dated);
    expect(stale.mismatches[0]).toEqual({ field: 'collateral.intel.tcb_info.valid_from', got: '2025-06-19T10:56:11.000Z', want: '>= 2025-06-21T00:00:00.000Z' });
    expect(stale.trustVector.hardware).toBe(AR4SI.hardware.CONTRAINDICATED);
  });

  it('applies to an SEV-SNP CRL, and refuses a dated item without a readable valid_from', async () => {
    const l = await load('amd/genoa-v2-oak');
    expect(DATED_COLLATERAL_KINDS).toContain('crl');
    const p = policyFor(l, { max_collateral_age: '1d' });
    expect(run(l.result, p, l.at).checks.some((c) => c.claim.startsWith('collateral.'))).toBe(false);
    const crl = { kind: 'crl', sha256: '00'.repeat(32) };
    const at = l.at.toISOString();
    for (const [item, ok] of [
      [{ ...crl, valid_from: at }, true],
      [{ ...crl, valid_from: '2020-01-01T00:00:00.000Z' }, false],
      [{ ...crl, valid_from: 'yesterday' }, false],
      [crl, false],
    ] as const) {
      const a = run(withResult(l.result, { collateral: [...l.result.collateral, item] }), p, l.at);
      expect(checkOf(a, 'collateral.crl.valid_from').ok, JSON.stringify(item)).toBe(ok);
    }
  });
});

describe('models', () => {
  const iris = { name: 'iris', version: '1', sha256: 'a1'.repeat(32) };
  const resnet = { name: 'resnet', version: '50', sha256: 'b2'.repeat(32) };

  it('passes when every loaded model is in the list, naming each', async () => {
    const l = await load('nitro/marlin-2024-12-prod');
    const p = policyFor(l, { models: [iris, resnet, { ...iris, sha256: 'a3'.repeat(32) }] });
    const a = run(l.result, p, l.at, [iris]);
    expect(a.status).toBe('affirming');
    expect(checkOf(a, 'models.iris@1')).toMatchObject({ got: iris.sha256, want: ['a1'.repeat(32), 'a3'.repeat(32)], ok: true, category: 'executables' });
    expect(run(l.result, p, l.at, []).status).toBe('affirming');
  });

  it('refuses an unknown model, another digest, or no model list at all; collects each', async () => {
    const l = await load('nitro/marlin-2024-12-prod');
    const p = policyFor(l, { models: [iris] });
    const a = run(l.result, p, l.at, [{ ...iris, sha256: 'ff'.repeat(32) }, resnet]);
    expect(a.mismatches).toEqual([
      { field: 'models.iris@1', got: 'ff'.repeat(32), want: iris.sha256 },
      { field: 'models.resnet@50', got: resnet.sha256, want: 'one of []' },
    ]);
    expect(a.trustVector.executables).toBe(AR4SI.executables.UNRECOGNIZED_RUNTIME);
    expect(run(l.result, p, l.at).mismatches).toEqual([{ field: 'models', got: 'absent', want: `one of [${JSON.stringify(iris)}]` }]);
    // Without a models list in the policy, the loaded models are not checked.
    expect(run(l.result, policyFor(l), l.at, [resnet]).checks.some((c) => c.claim.startsWith('models'))).toBe(false);
  });
});

describe('claims of an unexpected shape count against the evidence', () => {
  it('a byte claim that is not canonical hex of the width, or an integer that is not a number', async () => {
    const l = await load('intel/sgx-v3-phala-processor-00a067');
    const p = policyFor(l);
    const mre = l.expected['mrenclave'] as string;
    for (const bad of [mre.toUpperCase(), mre.slice(2), 7, null, mre.slice(1) + 'g']) {
      expect(run(withClaims(l.result, { mrenclave: bad }), p, l.at).mismatches.map((m) => m.field), String(bad)).toEqual(['mrenclave']);
    }
    for (const bad of ['00' + (l.expected['attributes'] as string).slice(2, -2), 12]) {
      expect(run(withClaims(l.result, { attributes: bad }), p, l.at).mismatches.map((m) => m.field)).toEqual(['attributes']);
    }
    expect(run(withClaims(l.result, { isvprodid: '0' }), p, l.at).mismatches.map((m) => m.field)).toEqual(['isvprodid']);
    expect(run(withClaims(l.result, { isvsvn: '0' }), p, l.at).mismatches.map((m) => m.field)).toEqual(['isvsvn']);
  });

  it('a nested claim that is missing or not an object', async () => {
    const snp = await load('amd/genoa-v2-oak');
    const a = run(withClaims(snp.result, { reported_tcb: 'high' }), policyFor(snp), snp.at);
    expect(a.mismatches.map((m) => m.field)).toEqual(['reported_tcb.bl', 'reported_tcb.tee', 'reported_tcb.snp', 'reported_tcb.ucode']);
    const nitro = await load('nitro/cape-2022-09-15-prod-pcr8');
    expect(run(withClaims(nitro.result, { pcrs: [] }), policyFor(nitro), nitro.at).mismatches.length).toBe(6);
  });
});

describe('trustworthiness vector: executables', () => {
  it('a security version below the minimum alone is unsafe_rt (32); with any other difference, unrecognized_rt (33)', async () => {
    const l = await load('intel/sgx-v3-phala-processor-00a067');
    const ref = referenceOf(l);
    const svn = run(l.result, policyFor(l, { reference: { sgx: { ...ref, min_isvsvn: 1 } } }), l.at);
    expect(svn.trustVector.executables).toBe(AR4SI.executables.UNSAFE_RUNTIME);
    const both = run(l.result, policyFor(l, { reference: { sgx: { ...ref, min_isvsvn: 1, mrsigner: flipHex(ref['mrsigner'] as string) } } }), l.at);
    expect(both.trustVector.executables).toBe(AR4SI.executables.UNRECOGNIZED_RUNTIME);
  });
});

describe('appraise inputs', () => {
  it('refuses an invalid appraisal time', async () => {
    const l = await load('intel/tdx-v4-phala-b0c06f');
    const e = errorOf(() => appraise(l.result, policyFor(l), { at: new Date(NaN) }));
    expect([e.code, e.reason]).toEqual(['ERR_INVALID_ARGUMENT', 'invalid_time']);
  });
});

describe('assertAffirmed', () => {
  it('throws ERR_POLICY_MISMATCH with every mismatch when contraindicated', async () => {
    const l = await load('amd/milan-v5-gcp-vmpl1-teekit');
    const ref = referenceOf(l);
    const a = run(l.result, policyFor(l, { reference: { 'sev-snp': { ...ref, vmpl: 0, measurement: flipHex(ref['measurement'] as string) } } }), l.at);
    const e = errorOf(() => {
      assertAffirmed(a);
    });
    if (!(e instanceof PolicyError)) throw new Error('not a PolicyError');
    expect(AttestationError.is(e)).toBe(true);
    expect([e.family, e.code, e.reason]).toEqual(['policy', 'ERR_POLICY_MISMATCH', 'policy_mismatch']);
    const pe = e;
    expect(pe.mismatches.map((m) => m.field)).toEqual(['measurement', 'vmpl']);
    expect(pe.details).toEqual({ mismatches: pe.mismatches });
    expect(e.message).toContain('sev-snp attestation result does not satisfy the policy');
    expect(e.message).toContain(`measurement is ${ref['measurement'] as string}, want ${flipHex(ref['measurement'] as string)}`);
    expect(e.message).toContain('vmpl is 1, want 0');
  });

  it('passes a warning', async () => {
    const l = await load('intel/sgx-v3-phala-processor-00a067');
    const a = run(l.result, policyFor(l), l.at);
    expect(a.status).toBe('warning');
    assertAffirmed(a);
    expect(a.status).not.toBe('contraindicated');
  });
});
