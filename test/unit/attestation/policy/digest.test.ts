/**
 * policyDigest names a policy by what it says, not how it is spelled: the same rules give the same
 * digest whatever the key order, format, duration unit, list-of-one or written-out defaults; any
 * change of a rule changes it.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, policyDigest, policyId } from '../../../../attestation/policy/digest.ts';
import { parsePolicy, parsePolicyText } from '../../../../attestation/policy/schema.ts';

const MRTD = 'ab'.repeat(48);
const base = {
  version: 1,
  name: 'prod',
  tee: ['tdx', 'nitro'],
  reference: { tdx: { mrtd: MRTD, rtmr0: ['01'.repeat(48), '02'.repeat(48)] }, nitro: { pcr0: 'cd'.repeat(48) } },
  tcb: { accept: ['UpToDate', 'OutOfDate'], allowed_advisories: ['INTEL-SA-00615'] },
  max_collateral_age: '30d',
};

/** The same object with keys in reverse order at every level. */
function reversed(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reversed);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reversed(x)]));
}

describe('canonicalJson', () => {
  it('sorts keys at every level, keeps array order, drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 'x', c: null }, 2], u: undefined, e: true })).toBe('{"a":[{"c":null,"d":"x"},2],"b":1,"e":true}');
    expect(canonicalJson('é"')).toBe('"é\\""');
  });
});

describe('policyDigest', () => {
  it('is the SHA-256 of the canonical JSON of the normalised policy', async () => {
    const p = parsePolicy(base);
    const want = createHash('sha256').update(canonicalJson(p)).digest('hex');
    expect(await policyDigest(p)).toBe(want);
    expect(want).toMatch(/^[0-9a-f]{64}$/);
  });

  it('does not depend on key order, list order, format, units, case or written-out defaults', async () => {
    const d = await policyDigest(parsePolicy(base));
    const variants: unknown[] = [
      reversed(base),
      { ...base, tee: ['nitro', 'tdx', 'tdx'] },
      { ...base, max_collateral_age: '720h' },
      { ...base, dangerouslyAllowDebug: false, allowSimulated: false },
      { ...base, reference: { ...base.reference, tdx: { mrtd: [MRTD.toUpperCase()], rtmr0: ['02'.repeat(48), '01'.repeat(48)] } } },
      { ...base, tcb: { accept: ['OutOfDate', 'UpToDate', 'OutOfDate'], allowed_advisories: ['INTEL-SA-00615'] } },
    ];
    for (const v of variants) expect(await policyDigest(parsePolicy(v)), JSON.stringify(v)).toBe(d);
    const yaml = `
name: prod
version: 1
tee: [nitro, tdx]
max_collateral_age: 2592000s
tcb: { allowed_advisories: [INTEL-SA-00615], accept: [OutOfDate, UpToDate] }
reference:
  nitro: { pcr0: "${'CD'.repeat(48)}" }
  tdx: { rtmr0: ["${'02'.repeat(48)}", "${'01'.repeat(48)}"], mrtd: ["${MRTD}"] }
`;
    expect(await policyDigest(parsePolicyText(yaml, 'yaml'))).toBe(d);
  });

  it('changes with any rule', async () => {
    const d = await policyDigest(parsePolicy(base));
    const changed: unknown[] = [
      { ...base, name: 'prod2' },
      { ...base, tee: ['tdx'], reference: { tdx: base.reference.tdx } },
      { ...base, max_collateral_age: '29d' },
      { ...base, dangerouslyAllowDebug: true },
      { ...base, allowSimulated: true },
      { ...base, reference: { ...base.reference, tdx: { mrtd: 'ac'.repeat(48) } } },
      { ...base, tcb: { accept: ['UpToDate'], allowed_advisories: ['INTEL-SA-00615'] } },
      { ...base, models: [] },
    ];
    const seen = new Set([d]);
    for (const v of changed) seen.add(await policyDigest(parsePolicy(v)));
    expect(seen.size).toBe(changed.length + 1);
  });

  it('gives the EAR policy id', async () => {
    const p = parsePolicy(base);
    expect(await policyId(p)).toBe(`policy:prod#${await policyDigest(p)}`);
  });
});
