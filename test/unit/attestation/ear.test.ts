/**
 * The EAR claims set: shape (draft-ietf-rats-ear, veraison/ear 2023 profile), built from real
 * appraised fixtures; the round trip through JSON and parseEar; parseEar's closed schema (each
 * field removed, added or malformed is refused with ERR_EVIDENCE_MALFORMED / ear_malformed);
 * buildEar's input checks (ERR_INVALID_ARGUMENT / ear_input).
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildEar, earStatus, EAR_PROFILE, parseEar, type EarClaims, type EarInput } from '../../../attestation/ear.ts';
import { AR4SI, TRUST_CLAIMS } from '../../../attestation/policy/ar4si.ts';
import { appraise } from '../../../attestation/policy/appraise.ts';
import { policyDigest } from '../../../attestation/policy/digest.ts';
import { parsePolicy } from '../../../attestation/policy/schema.ts';
import { AttestationError } from '../../../attestation/errors.ts';
import { errorOf } from '../../helpers/errors.ts';
import { flipHex, load, withClaims, withResult, type Loaded } from './policy/fixtures.ts';

const TDX = 'intel/tdx-v4-phala-b0c06f';
const SNP = 'amd/genoa-v2-oak';

function policyOf(l: Loaded, mrtdOverride?: string) {
  if (l.result.tee === 'tdx') return parsePolicy({ version: 1, name: 'prod-inference', tee: ['tdx'], reference: { tdx: { mrtd: mrtdOverride ?? l.expected['mrtd'] } } });
  return parsePolicy({ version: 1, name: 'prod-inference', tee: ['sev-snp'], reference: { 'sev-snp': { measurement: l.expected['measurement'] } } });
}

async function inputFor(name: string, patch: Partial<EarInput> = {}, mrtd?: string): Promise<EarInput> {
  const l = await load(name);
  const policy = policyOf(l, mrtd);
  return {
    result: l.result,
    appraisal: appraise(l.result, policy, { at: l.at }),
    policy: { name: policy.name, digest: await policyDigest(policy) },
    evidenceSha256: new Uint8Array(createHash('sha256').update(l.evidence).digest()),
    at: l.at,
    build: '0.1.0',
    ...patch,
  };
}

/** A JSON copy, as a client gets it after verifying the JWT. */
const wire = (ear: EarClaims): Record<string, unknown> => JSON.parse(JSON.stringify(ear)) as Record<string, unknown>;

describe('buildEar', () => {
  it('builds the EAR claims set of an affirmed TDX result', async () => {
    const input = await inputFor(TDX, { nonce: new Uint8Array(32).fill(0xfb), issuer: 'https://gateway.example' });
    const ear = buildEar(input);
    const l = await load(TDX);
    expect(ear.eat_profile).toBe('tag:github.com,2023:veraison/ear');
    expect(ear.iat).toBe(Math.floor(l.at.getTime() / 1000));
    expect(ear.exp).toBe(Math.floor(Date.parse(l.result.expires_at) / 1000));
    expect(ear.iss).toBe('https://gateway.example');
    expect(ear['ear.verifier-id']).toEqual({ developer: 'attestgate', build: '0.1.0' });
    expect(ear.eat_nonce).toBe(Buffer.alloc(32, 0xfb).toString('base64url'));
    expect(Object.keys(ear.submods)).toEqual(['tdx']);
    const s = ear.submods.tdx!;
    expect(s['ear.status']).toBe('affirming');
    expect(s['ear.trustworthiness-vector']).toEqual({
      'instance-identity': 2,
      configuration: 2,
      executables: 2,
      'file-system': 0,
      hardware: 2,
      'runtime-opaque': 2,
      'storage-opaque': 0,
      'sourced-data': 0,
    });
    expect(s['ear.appraisal-policy-id']).toBe(`policy:prod-inference#${input.policy.digest}`);
    expect(s['attestgate.claims']).toEqual(l.result.claims);
    expect(s['attestgate.tcb_status']).toBe('UpToDate');
    expect(s['attestgate.advisory_ids']).toEqual([]);
    expect(s['attestgate.collateral']).toEqual(l.result.collateral);
    expect(s['attestgate.trust_anchor']).toEqual(l.result.trust_anchor);
    expect(s['attestgate.evidence_sha256']).toBe(createHash('sha256').update(l.evidence).digest('hex'));
    expect(s['attestgate.simulated']).toBe(false);
    expect(s['attestgate.expires_at']).toBe(l.result.expires_at);
    expect(s['attestgate.mismatches']).toEqual([]);
    expect(earStatus(ear)).toBe('affirming');
  });

  it('carries a contraindicated appraisal with its mismatches', async () => {
    const l = await load(TDX);
    const ear = buildEar(await inputFor(TDX, {}, flipHex(l.expected['mrtd'] as string)));
    const s = ear.submods.tdx!;
    expect(s['ear.status']).toBe('contraindicated');
    expect(s['ear.trustworthiness-vector'].executables).toBe(AR4SI.executables.UNRECOGNIZED_RUNTIME);
    expect(s['attestgate.mismatches']).toEqual([{ field: 'mrtd', got: l.expected['mrtd'], want: flipHex(l.expected['mrtd'] as string) }]);
    expect(earStatus(ear)).toBe('contraindicated');
  });

  it('SEV-SNP: null TCB status; expires no later than asked', async () => {
    const l = await load(SNP);
    const earlier = new Date(l.at.getTime() + 3600_000);
    const ear = buildEar(await inputFor(SNP, { expiresAt: earlier }));
    expect(ear.exp).toBe(Math.floor(earlier.getTime() / 1000));
    expect(ear.submods['sev-snp']?.['attestgate.tcb_status']).toBeNull();
    expect(ear.eat_nonce).toBeUndefined();
    expect(ear.iss).toBeUndefined();
    const later = buildEar(await inputFor(SNP, { expiresAt: new Date('2100-01-01T00:00:00Z') }));
    expect(later.exp).toBe(Math.floor(Date.parse(l.result.expires_at) / 1000));
  });

  it('is a snapshot: changing the result afterwards does not change the EAR', async () => {
    const input = await inputFor(SNP);
    const claims = structuredClone(input.result.claims) as Record<string, unknown>;
    const ear = buildEar({ ...input, result: withResult(input.result, { claims: claims as EarInput['result']['claims'] }) });
    (claims['reported_tcb'] as Record<string, unknown>)['bl'] = 99;
    claims['measurement'] = 'changed';
    expect((ear.submods['sev-snp']?.['attestgate.claims']['reported_tcb'] as Record<string, unknown>)['bl']).not.toBe(99);
    expect(ear.submods['sev-snp']?.['attestgate.claims']['measurement']).not.toBe('changed');
  });

  it('refuses inconsistent input with ERR_INVALID_ARGUMENT (ear_input)', async () => {
    const base = await inputFor(TDX);
    const snp = await inputFor(SNP);
    const bad: [string, Partial<EarInput>][] = [
      ['appraisal of another TEE', { appraisal: snp.appraisal }],
      ['policy digest of 63 bytes', { policy: { name: 'p', digest: 'ab'.repeat(31) } }],
      ['policy digest in uppercase', { policy: { name: 'p', digest: 'AB'.repeat(32) } }],
      ['policy name with a #', { policy: { name: 'a#b', digest: 'ab'.repeat(32) } }],
      ['evidence digest of 31 bytes', { evidenceSha256: new Uint8Array(31) }],
      ['evidence digest as hex text', { evidenceSha256: 'ab'.repeat(32) as unknown as Uint8Array }],
      ['empty build', { build: '' }],
      ['build with a newline', { build: '0.1\n' }],
      ['nonce of 7 bytes', { nonce: new Uint8Array(7) }],
      ['nonce of 65 bytes', { nonce: new Uint8Array(65) }],
      ['nonce as an array', { nonce: [1, 2, 3, 4, 5, 6, 7, 8] as unknown as Uint8Array }],
      ['result expiry that is not a date', { result: withResult(base.result, { expires_at: 'never' }) }],
      ['issuer with spaces at the ends', { issuer: ' gateway ' }],
      ['a claim that is not JSON (NaN)', { result: withClaims(base.result, { pcesvn: Number.NaN }) }],
      ['a collateral digest in uppercase', { result: withResult(base.result, { collateral: [{ kind: 'x', sha256: 'AB'.repeat(32) }] }) }],
    ];
    for (const [what, patch] of bad) {
      const e = errorOf(() => buildEar({ ...base, ...patch }));
      expect([e.code, e.reason], what).toEqual(['ERR_INVALID_ARGUMENT', 'ear_input']);
    }
    for (const patch of [{ at: new Date(NaN) }, { expiresAt: new Date('x') }]) {
      expect(errorOf(() => buildEar({ ...base, ...patch })).reason).toBe('invalid_time');
    }
    const e = errorOf(() => buildEar({ ...base, issuer: ' gateway ' }));
    expect(e.message).toContain('would not parse');
    expect(e.cause).toBeDefined();
  });
});

describe('parseEar', () => {
  it('round-trips through JSON', async () => {
    for (const name of [TDX, SNP, 'nitro/cape-2022-09-15-prod-pcr8', 'intel/sgx-v3-phala-processor-00a067']) {
      const l = await load(name);
      const policy =
        l.result.tee === 'nitro'
          ? parsePolicy({ version: 1, name: 'n', tee: ['nitro'], reference: { nitro: { pcr0: (l.expected['pcrs'] as Record<string, string>)['0'] } } })
          : l.result.tee === 'sgx'
            ? parsePolicy({ version: 1, name: 's', tee: ['sgx'], reference: { sgx: { mrenclave: l.expected['mrenclave'] } }, tcb: { accept: ['UpToDate', 'ConfigurationAndSWHardeningNeeded'], allowed_advisories: l.result.advisory_ids } })
            : policyOf(l);
      const ear = buildEar({
        result: l.result,
        appraisal: appraise(l.result, policy, { at: l.at }),
        policy: { name: policy.name, digest: await policyDigest(policy) },
        evidenceSha256: new Uint8Array(32),
        at: l.at,
        build: 'attestgate 0.1.0',
        nonce: new Uint8Array(8),
      });
      expect(parseEar(wire(ear)), name).toEqual(ear);
      if (l.result.tee === 'sgx') expect(earStatus(ear)).toBe('warning');
    }
  });

  it('gives the worst status among several appraisals', async () => {
    const ok = wire(buildEar(await inputFor(SNP)));
    const l = await load(TDX);
    const bad = wire(buildEar(await inputFor(TDX, {}, flipHex(l.expected['mrtd'] as string))));
    const both = { ...ok, submods: { ...(ok['submods'] as object), ...(bad['submods'] as object) } };
    expect(earStatus(parseEar(both))).toBe('contraindicated');
  });

  type Mutation = [string, (ear: Record<string, unknown>, sub: Record<string, unknown>) => void, string];
  const mutations: Mutation[] = [
    ['an unknown top-level claim', (e) => (e['ear.raw-evidence'] = 'AA'), 'claims.ear.raw-evidence'],
    ['no eat_profile', (e) => delete e['eat_profile'], 'claims.eat_profile'],
    ['another profile', (e) => (e['eat_profile'] = 'tag:github.com,2022:veraison/ear'), 'claims.eat_profile'],
    ['iat as text', (e) => (e['iat'] = '1'), 'claims.iat'],
    ['iat negative', (e) => (e['iat'] = -1), 'claims.iat'],
    ['exp fractional', (e) => (e['exp'] = 1.5), 'claims.exp'],
    ['no verifier id', (e) => delete e['ear.verifier-id'], 'claims.ear.verifier-id'],
    ['another developer', (e) => ((e['ear.verifier-id'] as Record<string, unknown>)['developer'] = 'veraison'), 'claims.ear.verifier-id.developer'],
    ['a verifier id with an extra member', (e) => ((e['ear.verifier-id'] as Record<string, unknown>)['x'] = 1), 'claims.ear.verifier-id.x'],
    ['a nonce of 7 bytes', (e) => (e['eat_nonce'] = 'AAAAAAAAAA'), 'claims.eat_nonce'],
    ['a nonce in base64 with padding', (e) => (e['eat_nonce'] = 'AAAAAAAAAAA='), 'claims.eat_nonce'],
    ['iss as a number', (e) => (e['iss'] = 7), 'claims.iss'],
    ['submods as a list', (e) => (e['submods'] = []), 'claims.submods'],
    ['no appraisal', (e) => (e['submods'] = {}), 'claims.submods'],
    ['an unknown submod', (e) => ((e['submods'] as Record<string, unknown>)['cca'] = {}), 'claims.submods.cca'],
    ['an unknown appraisal claim', (_, s) => (s['ear.veraison.annotated-evidence'] = {}), 'claims.submods.tdx.ear.veraison.annotated-evidence'],
    ['no status', (_, s) => delete s['ear.status'], 'claims.submods.tdx.ear.status'],
    ['status none', (_, s) => (s['ear.status'] = 'none'), 'claims.submods.tdx.ear.status'],
    ['status as a number', (_, s) => (s['ear.status'] = 2), 'claims.submods.tdx.ear.status'],
    ['a vector without hardware', (_, s) => delete (s['ear.trustworthiness-vector'] as Record<string, unknown>)['hardware'], 'claims.submods.tdx.ear.trustworthiness-vector.hardware'],
    ['a vector claim out of range', (_, s) => ((s['ear.trustworthiness-vector'] as Record<string, unknown>)['hardware'] = 128), 'claims.submods.tdx.ear.trustworthiness-vector.hardware'],
    ['a vector claim by name', (_, s) => ((s['ear.trustworthiness-vector'] as Record<string, unknown>)['hardware'] = 'genuine_hw'), 'claims.submods.tdx.ear.trustworthiness-vector.hardware'],
    ['a status more trusting than the vector', (_, s) => ((s['ear.trustworthiness-vector'] as Record<string, unknown>)['executables'] = 33), 'claims.submods.tdx.ear.status'],
    ['a malformed policy id', (_, s) => (s['ear.appraisal-policy-id'] = 'policy://prod'), 'claims.submods.tdx.ear.appraisal-policy-id'],
    ['claims as a list', (_, s) => (s['attestgate.claims'] = []), 'claims.submods.tdx.attestgate.claims'],
    ['claims as null', (_, s) => (s['attestgate.claims'] = null), 'claims.submods.tdx.attestgate.claims'],
    ['no tcb status', (_, s) => delete s['attestgate.tcb_status'], 'claims.submods.tdx.attestgate.tcb_status'],
    ['tcb status as a number', (_, s) => (s['attestgate.tcb_status'] = 0), 'claims.submods.tdx.attestgate.tcb_status'],
    ['advisories as a string', (_, s) => (s['attestgate.advisory_ids'] = 'INTEL-SA-00615'), 'claims.submods.tdx.attestgate.advisory_ids'],
    ['an advisory as a number', (_, s) => (s['attestgate.advisory_ids'] = [615]), 'claims.submods.tdx.attestgate.advisory_ids[0]'],
    ['collateral with an extra member', (_, s) => ((s['attestgate.collateral'] as Record<string, unknown>[])[0]!['url'] = 'x'), 'claims.submods.tdx.attestgate.collateral[0].url'],
    ['collateral digest too short', (_, s) => ((s['attestgate.collateral'] as Record<string, unknown>[])[0]!['sha256'] = 'ab'), 'claims.submods.tdx.attestgate.collateral[0].sha256'],
    ['collateral date not ISO', (_, s) => ((s['attestgate.collateral'] as Record<string, unknown>[])[0]!['valid_from'] = '2025-06-19'), 'claims.submods.tdx.attestgate.collateral[0].valid_from'],
    ['collateral end not ISO', (_, s) => ((s['attestgate.collateral'] as Record<string, unknown>[])[0]!['valid_until'] = 1), 'claims.submods.tdx.attestgate.collateral[0].valid_until'],
    ['collateral item as a string', (_, s) => (s['attestgate.collateral'] = ['x']), 'claims.submods.tdx.attestgate.collateral[0]'],
    ['anchor without pinned', (_, s) => delete (s['attestgate.trust_anchor'] as Record<string, unknown>)['pinned'], 'claims.submods.tdx.attestgate.trust_anchor.pinned'],
    ['anchor pinned as text', (_, s) => ((s['attestgate.trust_anchor'] as Record<string, unknown>)['pinned'] = 'true'), 'claims.submods.tdx.attestgate.trust_anchor.pinned'],
    ['anchor name as a number', (_, s) => ((s['attestgate.trust_anchor'] as Record<string, unknown>)['name'] = 1), 'claims.submods.tdx.attestgate.trust_anchor.name'],
    ['anchor digest in uppercase', (_, s) => ((s['attestgate.trust_anchor'] as Record<string, unknown>)['sha256'] = 'AB'.repeat(32)), 'claims.submods.tdx.attestgate.trust_anchor.sha256'],
    ['evidence digest in base64', (_, s) => (s['attestgate.evidence_sha256'] = 'q'.repeat(43)), 'claims.submods.tdx.attestgate.evidence_sha256'],
    ['simulated as text', (_, s) => (s['attestgate.simulated'] = 'false'), 'claims.submods.tdx.attestgate.simulated'],
    ['expiry not ISO', (_, s) => (s['attestgate.expires_at'] = 'tomorrow'), 'claims.submods.tdx.attestgate.expires_at'],
    ['mismatches on an affirming result', (_, s) => (s['attestgate.mismatches'] = [{ field: 'mrtd', got: 'a', want: 'b' }]), 'claims.submods.tdx.attestgate.mismatches'],
    ['a mismatch without want', (_, s) => (s['attestgate.mismatches'] = [{ field: 'mrtd', got: 'a' }]), 'claims.submods.tdx.attestgate.mismatches[0].want'],
    ['a mismatch got as a number', (_, s) => (s['attestgate.mismatches'] = [{ field: 'mrtd', got: 1, want: 'b' }]), 'claims.submods.tdx.attestgate.mismatches[0].got'],
    ['mismatches as an object', (_, s) => (s['attestgate.mismatches'] = {}), 'claims.submods.tdx.attestgate.mismatches'],
  ];

  it.each(mutations)('refuses %s', async (_, mutate, path) => {
    const ear = wire(buildEar(await inputFor(TDX, { nonce: new Uint8Array(16), issuer: 'gw' })));
    mutate(ear, (ear['submods'] as Record<string, Record<string, unknown>>)['tdx']!);
    const e = errorOf(() => parseEar(ear));
    expect([e.code, e.reason], e.message).toEqual(['ERR_EVIDENCE_MALFORMED', 'ear_malformed']);
    expect(e.message).toContain(`EAR ${path}:`);
  });

  it('refuses a contraindicated appraisal without mismatches', async () => {
    const l = await load(TDX);
    const ear = wire(buildEar(await inputFor(TDX, {}, flipHex(l.expected['mrtd'] as string))));
    (ear['submods'] as Record<string, Record<string, unknown>>)['tdx']!['attestgate.mismatches'] = [];
    expect(errorOf(() => parseEar(ear)).reason).toBe('ear_malformed');
  });

  it('refuses claims that are not JSON values or nest too deep', async () => {
    const base = wire(buildEar(await inputFor(TDX)));
    const withClaimsValue = (v: unknown): Record<string, unknown> => {
      const e = structuredClone(base);
      ((e['submods'] as Record<string, Record<string, unknown>>)['tdx']!['attestgate.claims'] as Record<string, unknown>)['x'] = v;
      return e;
    };
    let deep: unknown = 'leaf';
    for (let i = 0; i < 17; i++) deep = [deep];
    for (const [v, where] of [
      [Number.POSITIVE_INFINITY, 'x'],
      [undefined, 'x'],
      [() => 1, 'x'],
      [{ y: [1, { z: Number.NaN }] }, 'x.y[1].z'],
      [deep, 'x' + '[0]'.repeat(16)],
    ] as const) {
      const e = errorOf(() => parseEar(withClaimsValue(v)));
      expect(e.message).toContain(`claims.submods.tdx.attestgate.claims.${where}:`);
    }
    let ok: unknown = 'leaf';
    for (let i = 0; i < 15; i++) ok = [ok];
    expect(parseEar(withClaimsValue(ok)).submods.tdx?.['attestgate.claims']['x']).toEqual(ok);
  });

  it('refuses what is not an object', () => {
    for (const v of [null, [], 'ey...', 1]) expect(errorOf(() => parseEar(v)).message).toContain('EAR claims: is not an object');
  });

  it('names every AR4SI claim of the vector', () => {
    expect(TRUST_CLAIMS).toEqual(['instance-identity', 'configuration', 'executables', 'file-system', 'hardware', 'runtime-opaque', 'storage-opaque', 'sourced-data']);
    expect(EAR_PROFILE).toBe('tag:github.com,2023:veraison/ear');
  });
});

describe('property: parseEar raises only AttestationError', () => {
  it('for any JSON value, and any value in place of an appraisal member', async () => {
    const base = wire(buildEar(await inputFor(TDX)));
    const only = (v: unknown): boolean => {
      try {
        parseEar(v);
        return true;
      } catch (e: unknown) {
        return AttestationError.is(e) && e.reason === 'ear_malformed';
      }
    };
    fc.assert(fc.property(fc.jsonValue(), only));
    const keys = Object.keys((base['submods'] as Record<string, Record<string, unknown>>)['tdx']!);
    fc.assert(
      fc.property(fc.constantFrom(...keys), fc.anything({ withBigInt: true, withMap: true, withSet: true, withDate: true, withTypedArray: true, withNullPrototype: true }), (k, v) => {
        const e = structuredClone(base);
        (e['submods'] as Record<string, Record<string, unknown>>)['tdx']![k] = v;
        return only(e);
      }),
    );
  });
});
