/**
 * The policy schema: closed (every unknown key refused with its path), exact widths for every byte
 * field (generated from the field tables), the no-measurement refusal for each TEE, normalisation,
 * and YAML/JSON text loading. Every refusal asserts code, reason and path.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PolicyLoadError, REASONS } from '../../../../attestation/policy/errors.ts';
import { HEX_FIELDS, MASKED_FIELDS, MEASUREMENT_FIELDS, NITRO_PCRS, parsePolicy, parsePolicyText, type Policy } from '../../../../attestation/policy/schema.ts';
import { loadErrorOf } from './fixtures.ts';

const H = (bytes: number, pair = 'ab'): string => pair.repeat(bytes);

/** A policy that uses every key of the schema. */
function full(): Record<string, unknown> {
  return {
    version: 1,
    name: 'full.policy-1',
    tee: ['sgx', 'tdx', 'sev-snp', 'nitro'],
    products: ['genoa', 'milan'],
    reference: {
      sgx: { mrenclave: [H(32)], mrsigner: H(32, 'cd'), isvprodid: 1, min_isvsvn: 2, attributes: { value: '01' + '00'.repeat(15), mask: 'ff'.repeat(16) } },
      tdx: {
        mrtd: H(48),
        rtmr0: H(48),
        rtmr1: H(48),
        rtmr2: H(48),
        rtmr3: H(48, '00'),
        mrseam: H(48),
        mrconfigid: H(48),
        mrowner: H(48),
        mrownerconfig: H(48),
        td_attributes: { value: '0000001000000000', mask: 'ffffffffffffffff' },
        xfam: { value: 'e702060000000000', mask: 'ffffffff00000000' },
      },
      'sev-snp': {
        measurement: H(48),
        host_data: H(32),
        id_key_digest: H(48),
        author_key_digest: H(48),
        family_id: H(16),
        image_id: H(16),
        min_tcb: { bl: 1, tee: 0, snp: 2, ucode: 3, fmc: 0 },
        vmpl: [0, 1],
      },
      nitro: { pcr0: H(48), pcr1: H(48), pcr2: H(48), pcr3: H(48), pcr4: H(48), pcr8: H(48), pcr31: H(48) },
    },
    tcb: { accept: ['UpToDate', 'SWHardeningNeeded'], allowed_advisories: ['INTEL-SA-00615'] },
    dangerouslyAllowDebug: false,
    allowSimulated: false,
    max_collateral_age: '30d',
    models: [{ name: 'iris', version: '1', sha256: H(32, 'ef') }],
  };
}

function minimal(tee: string, reference: unknown): Record<string, unknown> {
  return { version: 1, name: 'p', tee: [tee], reference: { [tee]: reference } };
}

type Seg = string | number;
const DELETE = Symbol('delete');

/** A deep copy of `v` with the value at `path` replaced (or deleted). */
function set(v: unknown, path: readonly Seg[], value: unknown): unknown {
  const copy = structuredClone(v) as Record<string, unknown>;
  let cur: Record<Seg, unknown> = copy;
  for (const seg of path.slice(0, -1)) cur = cur[seg] as Record<Seg, unknown>;
  const last = path[path.length - 1] as Seg;
  if (value === DELETE) Reflect.deleteProperty(cur, last);
  else cur[last] = value;
  return copy;
}

const show = (path: readonly Seg[]): string => path.reduce<string>((p, s) => (typeof s === 'number' ? `${p}[${s}]` : p === '' ? s : `${p}.${s}`), '');

/** Every path of a plain object inside `v` (arrays are walked into). */
function objectPaths(v: unknown, path: Seg[] = []): Seg[][] {
  if (Array.isArray(v)) return v.flatMap((x, i) => objectPaths(x, [...path, i]));
  if (typeof v !== 'object' || v === null) return [];
  return [path, ...Object.entries(v).flatMap(([k, x]) => objectPaths(x, [...path, k]))];
}

function refused(input: unknown, reason: string, path: string): PolicyLoadError {
  const e = loadErrorOf(() => parsePolicy(input));
  expect(e.code).toBe('ERR_POLICY_INVALID');
  expect([e.reason, e.path], e.message).toEqual([reason, path]);
  return e;
}

describe('parsePolicy: a full policy', () => {
  it('loads and normalises', () => {
    const p = parsePolicy(full());
    expect(p.tee).toEqual(['sgx', 'tdx', 'sev-snp', 'nitro']);
    expect(p.products).toEqual(['genoa', 'milan']);
    expect(p.reference.sgx).toEqual({ mrenclave: [H(32)], mrsigner: [H(32, 'cd')], isvprodid: [1], min_isvsvn: 2, attributes: { value: '01' + '00'.repeat(15), mask: 'ff'.repeat(16) } });
    expect(p.reference['sev-snp']?.min_tcb).toEqual({ bl: 1, tee: 0, snp: 2, ucode: 3, fmc: 0 });
    expect(p.reference['sev-snp']?.vmpl).toEqual([0, 1]);
    expect(Object.keys(p.reference.nitro ?? {})).toEqual(['pcr0', 'pcr1', 'pcr2', 'pcr3', 'pcr4', 'pcr8', 'pcr31']);
    expect(p.tcb).toEqual({ accept: ['SWHardeningNeeded', 'UpToDate'], allowed_advisories: ['INTEL-SA-00615'] });
    expect(p.max_collateral_age).toBe(30 * 86400);
    expect(p.models).toEqual([{ name: 'iris', version: '1', sha256: H(32, 'ef') }]);
  });

  it('writes defaults out and leaves optional sections away', () => {
    const p = parsePolicy(minimal('tdx', { mrtd: H(48) }));
    expect(p).toEqual<Policy>({
      version: 1,
      name: 'p',
      tee: ['tdx'],
      reference: { tdx: { mrtd: [H(48)] } },
      tcb: { accept: ['UpToDate'], allowed_advisories: [] },
      dangerouslyAllowDebug: false,
      allowSimulated: false,
    });
  });

  it('decodes hex once to lowercase, sorts and de-duplicates sets, orders TEEs canonically', () => {
    const p = parsePolicy({
      version: 1,
      name: 'p',
      tee: ['nitro', 'tdx', 'nitro'],
      reference: { tdx: { mrtd: [H(48, 'CD'), H(48, 'ab'), H(48, 'Ab')] }, nitro: { pcr0: H(48, 'EF') } },
      tcb: { accept: 'UpToDate' },
    });
    expect(p.tee).toEqual(['tdx', 'nitro']);
    expect(p.reference.tdx?.mrtd).toEqual([H(48, 'ab'), H(48, 'cd')]);
    expect(p.reference.nitro?.['pcr0']).toEqual([H(48, 'ef')]);
    expect(p.tcb.accept).toEqual(['UpToDate']);
  });

  it('accepts each duration unit and de-duplicates models', () => {
    for (const [text, seconds] of [['90s', 90], ['15m', 900], ['12h', 43200], ['7d', 604800]] as const) {
      expect(parsePolicy({ ...minimal('tdx', { mrtd: H(48) }), max_collateral_age: text }).max_collateral_age).toBe(seconds);
    }
    const m = { name: 'm', version: 'v', sha256: H(32, 'AA') };
    const p = parsePolicy({ ...minimal('tdx', { mrtd: H(48) }), models: [{ ...m, name: 'z' }, m, m] });
    expect(p.models).toEqual([{ name: 'm', version: 'v', sha256: H(32, 'aa') }, { name: 'z', version: 'v', sha256: H(32, 'aa') }]);
    expect(parsePolicy({ ...minimal('tdx', { mrtd: H(48) }), models: [] }).models).toEqual([]);
  });
});

describe('parsePolicy: closed schema', () => {
  const paths = objectPaths(full());
  it('walks every mapping of the full policy', () => {
    // root, reference, 4 TEE sections, 3 masked pairs, min_tcb, tcb, models[0]
    expect(paths.length).toBe(12);
  });
  it.each(paths.map((p) => [show([...p, 'bogus']), p] as const))('refuses an unknown key at %s', (where, p) => {
    const e = refused(set(full(), [...p, 'bogus'], 1), REASONS.unknownKey, where);
    expect(e.message).toContain('unknown key "bogus"');
  });
  it('refuses inherited-looking keys too (JSON "__proto__" is an own key)', () => {
    refused(JSON.parse('{"__proto__": 1, "version": 1}'), REASONS.unknownKey, '__proto__');
  });
  it('refuses YAML merge keys, which the core schema leaves as a key named <<', () => {
    const e = loadErrorOf(() => parsePolicyText(`base: &b {mrtd: "${H(48)}"}\nversion: 1`, 'yaml'));
    expect([e.reason, e.path]).toEqual([REASONS.unknownKey, 'base']);
    const m = loadErrorOf(() => parsePolicyText(`version: 1\nname: p\ntee: tdx\nreference:\n  tdx:\n    <<: {mrtd: "${H(48)}"}`, 'yaml'));
    expect([m.reason, m.path]).toEqual([REASONS.unknownKey, 'reference.tdx.<<']);
  });
});

describe('parsePolicy: widths of byte fields', () => {
  const cases: [string, Seg[], number][] = [];
  for (const [tee, table] of Object.entries(HEX_FIELDS)) {
    for (const [field, bytes] of Object.entries(table)) cases.push([`${tee}.${field}`, ['reference', tee, field], bytes]);
  }
  for (const [tee, table] of Object.entries(MASKED_FIELDS)) {
    for (const [field, bytes] of Object.entries(table)) {
      cases.push([`${tee}.${field}.value`, ['reference', tee, field, 'value'], bytes]);
      cases.push([`${tee}.${field}.mask`, ['reference', tee, field, 'mask'], bytes]);
    }
  }
  for (const pcr of ['pcr0', 'pcr8', 'pcr31']) cases.push([`nitro.${pcr}`, ['reference', 'nitro', pcr], 48]);

  it('covers every field of the tables', () => {
    expect(cases.length).toBe(2 + 9 + 6 + 2 * 3 + 3);
  });
  it.each(cases)('%s: one byte short and one byte long are refused', (_, path, bytes) => {
    for (const n of [bytes - 1, bytes + 1]) {
      const e = refused(set(full(), path, '00'.repeat(n)), REASONS.hexLength, show(path));
      expect(e.message).toContain(`is ${n} bytes, want ${bytes}`);
    }
  });
  it('refuses a value that is not hex, has odd length, a 0x prefix, or is a number', () => {
    const p: Seg[] = ['reference', 'tdx', 'mrtd'];
    for (const bad of ['zz'.repeat(48), 'a'.repeat(95), '0x' + 'ab'.repeat(47), ' ' + 'ab'.repeat(48)]) refused(set(full(), p, bad), REASONS.invalidValue, 'reference.tdx.mrtd');
    const e = refused(set(full(), p, 1234), REASONS.invalidValue, 'reference.tdx.mrtd');
    expect(e.message).toContain('quote it in YAML');
    refused(set(full(), [...p], [H(48), 7]), REASONS.invalidValue, 'reference.tdx.mrtd[1]');
    refused(set(full(), [...p], []), REASONS.invalidValue, 'reference.tdx.mrtd');
  });
  it('refuses a masked value with bits outside its mask, or half of the pair', () => {
    const e = refused(set(full(), ['reference', 'tdx', 'xfam', 'value'], 'e7020600000000ff'), REASONS.invalidValue, 'reference.tdx.xfam.value');
    expect(e.message).toContain('byte 7');
    refused(set(full(), ['reference', 'tdx', 'xfam', 'mask'], DELETE), REASONS.invalidValue, 'reference.tdx.xfam');
    refused(set(full(), ['reference', 'tdx', 'xfam', 'value'], DELETE), REASONS.invalidValue, 'reference.tdx.xfam');
    refused(set(full(), ['reference', 'tdx', 'xfam'], 'e702060000000000'), REASONS.invalidValue, 'reference.tdx.xfam');
  });
});

describe('parsePolicy: a TEE without any measurement is refused', () => {
  const withoutMeasurement: Record<string, unknown> = {
    sgx: { isvprodid: 1, min_isvsvn: 1 },
    tdx: { mrseam: H(48), td_attributes: { value: '00'.repeat(8), mask: 'ff'.repeat(8) } },
    'sev-snp': { host_data: H(32), min_tcb: { bl: 0, tee: 0, snp: 0, ucode: 0 }, vmpl: 0 },
    nitro: { pcr3: H(48), pcr4: H(48) },
  };
  it.each(Object.entries(withoutMeasurement))('%s with only non-measurement values', (tee, ref) => {
    const e = refused(minimal(tee, ref), REASONS.noMeasurement, `reference.${tee}`);
    expect(e.message).toContain(`${tee} is allowed but no measurement`);
    for (const f of MEASUREMENT_FIELDS[tee as keyof typeof MEASUREMENT_FIELDS]) expect(e.message).toContain(f);
  });
  it.each(Object.keys(withoutMeasurement))('%s with an empty or missing reference section', (tee) => {
    refused(minimal(tee, {}), REASONS.noMeasurement, `reference.${tee}`);
    const other = tee === 'nitro' ? { sgx: { mrenclave: H(32) } } : { nitro: { pcr0: H(48) } };
    refused({ version: 1, name: 'p', tee: [...Object.keys(other), tee], reference: other }, REASONS.noMeasurement, `reference.${tee}`);
  });
  it('refuses a policy without a reference section', () => {
    refused({ version: 1, name: 'p', tee: ['tdx'] }, REASONS.noMeasurement, 'reference');
  });
  it.each(MEASUREMENT_FIELDS.nitro.map((f) => [f]))('any one of the measurements suffices (nitro %s)', (pcr) => {
    expect(parsePolicy(minimal('nitro', { [pcr]: H(48) })).reference.nitro?.[pcr as 'pcr0']).toEqual([H(48)]);
  });
  it('every TEE has measurement fields, and they are fields of the schema', () => {
    for (const [tee, fields] of Object.entries(MEASUREMENT_FIELDS)) {
      const known = tee === 'nitro' ? NITRO_PCRS : Object.keys(HEX_FIELDS[tee as keyof typeof HEX_FIELDS]);
      for (const f of fields) expect(known).toContain(f);
    }
  });
});

describe('parsePolicy: other values', () => {
  const table: [string, Seg[], unknown, string, string?][] = [
    ['version 2', ['version'], 2, 'version'],
    ['version "1"', ['version'], '1', 'version'],
    ['no name', ['name'], DELETE, 'name'],
    ['a name with a space', ['name'], 'a b', 'name'],
    ['a name too long', ['name'], 'x'.repeat(65), 'name'],
    ['no tee', ['tee'], DELETE, 'tee'],
    ['an empty tee list', ['tee'], [], 'tee'],
    ['an unknown tee', ['tee', 1], 'sev', 'tee[1]'],
    ['a tee that is not a string', ['tee'], 1, 'tee'],
    ['an unknown product', ['products', 0], 'rome', 'products[0]'],
    ['an unknown TCB status', ['tcb', 'accept', 1], 'Revoked', 'tcb.accept[1]'],
    ['accept without UpToDate', ['tcb', 'accept'], ['OutOfDate'], 'tcb.accept'],
    ['advisories not a list', ['tcb', 'allowed_advisories'], 'INTEL-SA-00615', 'tcb.allowed_advisories'],
    ['a malformed advisory', ['tcb', 'allowed_advisories', 0], 'SA-00615', 'tcb.allowed_advisories[0]'],
    ['a tcb that is not a mapping', ['tcb'], [], 'tcb'],
    ['dangerouslyAllowDebug "yes"', ['dangerouslyAllowDebug'], 'yes', 'dangerouslyAllowDebug'],
    ['allowSimulated 1', ['allowSimulated'], 1, 'allowSimulated'],
    ['a duration without unit', ['max_collateral_age'], '30', 'max_collateral_age'],
    ['a duration of zero', ['max_collateral_age'], '0d', 'max_collateral_age'],
    ['a duration as a number', ['max_collateral_age'], 30, 'max_collateral_age'],
    ['models not a list', ['models'], { name: 'iris' }, 'models'],
    ['a model without version', ['models', 0, 'version'], DELETE, 'models[0].version'],
    ['a model version as a number', ['models', 0, 'version'], 1, 'models[0].version'],
    ['a model name with a space', ['models', 0, 'name'], 'ir is', 'models[0].name'],
    ['a model digest of 31 bytes', ['models', 0, 'sha256'], H(31), 'models[0].sha256'],
    ['isvprodid 65536', ['reference', 'sgx', 'isvprodid'], 65536, 'reference.sgx.isvprodid'],
    ['isvprodid 1.5', ['reference', 'sgx', 'isvprodid'], [1, 1.5], 'reference.sgx.isvprodid[1]'],
    ['min_isvsvn -1', ['reference', 'sgx', 'min_isvsvn'], -1, 'reference.sgx.min_isvsvn'],
    ['vmpl 4', ['reference', 'sev-snp', 'vmpl'], 4, 'reference.sev-snp.vmpl'],
    ['min_tcb.snp 256', ['reference', 'sev-snp', 'min_tcb', 'snp'], 256, 'reference.sev-snp.min_tcb.snp'],
    ['min_tcb without ucode', ['reference', 'sev-snp', 'min_tcb', 'ucode'], DELETE, 'reference.sev-snp.min_tcb.ucode'],
    ['min_tcb.bl as text', ['reference', 'sev-snp', 'min_tcb', 'bl'], '1', 'reference.sev-snp.min_tcb.bl'],
    ['a reference that is a list', ['reference', 'tdx'], [], 'reference.tdx'],
    ['a reference that is null', ['reference'], null, 'reference'],
  ];
  it.each(table)('refuses %s', (_, path, value, where) => {
    refused(set(full(), path, value), REASONS.invalidValue, where);
  });

  it('describes what it got', () => {
    expect(refused(set(full(), ['name'], DELETE), REASONS.invalidValue, 'name').message).toContain('is missing, want a name');
    expect(refused(set(full(), ['name'], Symbol('x')), REASONS.invalidValue, 'name').message).toContain('is a symbol');
    expect(refused(set(full(), ['version'], 1n), REASONS.invalidValue, 'version').message).toContain('is bigint 1, want 1');
    expect(refused(set(full(), ['allowSimulated'], 'yes'), REASONS.invalidValue, 'allowSimulated').message).toContain('is string "yes"');
  });

  it('refuses sections that apply to no allowed TEE', () => {
    const tdx = minimal('tdx', { mrtd: H(48) });
    refused({ ...tdx, products: ['milan'] }, REASONS.invalidValue, 'products');
    refused({ ...minimal('nitro', { pcr0: H(48) }), tcb: { accept: ['UpToDate'] } }, REASONS.invalidValue, 'tcb');
    const e = refused({ ...tdx, reference: { tdx: { mrtd: H(48) }, sgx: { mrenclave: H(32) } } }, REASONS.invalidValue, 'reference.sgx');
    expect(e.message).toContain('not in tee');
  });

  it('refuses input that is not a plain mapping', () => {
    for (const v of [null, [], 'version: 1', 7, new Map([['version', 1]]), new Date(0)]) refused(v, REASONS.invalidValue, '');
    const e = refused(set(full(), ['reference', 'tdx'], new Date(0)), REASONS.invalidValue, 'reference.tdx');
    expect(e.message).toContain('not a plain mapping');
    expect(parsePolicy(Object.assign(Object.create(null) as object, minimal('tdx', { mrtd: H(48) }))).name).toBe('p');
  });
});

describe('parsePolicyText', () => {
  const yaml = `
version: 1
name: prod-inference
tee: [tdx, sev-snp]
products: [genoa]
reference:
  tdx:
    mrtd: "${H(48)}"
    rtmr1: ["${H(48, '01')}", "${H(48, '02')}"]
    td_attributes: { value: "0000001000000000", mask: "ffffffffffffffff" }
  sev-snp:
    measurement: "${H(48, 'CC')}"
    min_tcb: { bl: 7, tee: 0, snp: 15, ucode: 62 }
    vmpl: 0
tcb: { accept: [UpToDate, SWHardeningNeeded], allowed_advisories: [INTEL-SA-00615] }
max_collateral_age: 30d
models:
  - { name: iris, version: "1", sha256: "${H(32, '0f')}" }
`;
  it('reads YAML and the same policy as JSON to the same value', () => {
    const fromYaml = parsePolicyText(yaml, 'yaml');
    expect(fromYaml.reference['sev-snp']?.measurement).toEqual([H(48, 'cc')]);
    const json = JSON.stringify({
      version: 1,
      name: 'prod-inference',
      tee: ['sev-snp', 'tdx'],
      products: 'genoa',
      reference: {
        'sev-snp': { vmpl: [0], measurement: H(48, 'cc'), min_tcb: { ucode: 62, snp: 15, tee: 0, bl: 7 } },
        tdx: { td_attributes: { mask: 'ffffffffffffffff', value: '0000001000000000' }, rtmr1: [H(48, '02'), H(48, '01')], mrtd: [H(48)] },
      },
      tcb: { allowed_advisories: ['INTEL-SA-00615'], accept: ['SWHardeningNeeded', 'UpToDate'] },
      max_collateral_age: '720h',
      models: [{ sha256: H(32, '0f'), version: '1', name: 'iris' }],
      dangerouslyAllowDebug: false,
    });
    expect(parsePolicyText(json, 'json')).toEqual(fromYaml);
  });

  it('refuses text that does not parse, with reason policy_syntax and the cause', () => {
    const bad: [string, 'json' | 'yaml'][] = [
      ['{"version": 1,', 'json'],
      ['version: 1\nversion: 1', 'yaml'], // duplicate key
      ['version: [1', 'yaml'],
      ['version: 1\n---\nversion: 1', 'yaml'], // two documents
      ['name: !!binary aGVsbG8=', 'yaml'], // a known tag the core schema does not resolve
      ['name: !custom x', 'yaml'],
    ];
    for (const [text, format] of bad) {
      const e = loadErrorOf(() => parsePolicyText(text, format));
      expect([e.code, e.reason, e.path], text).toEqual(['ERR_POLICY_INVALID', REASONS.syntax, '']);
      expect(e.cause).toBeDefined();
    }
  });

  it('bounds YAML alias expansion', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(', ')}]`);
    const e = loadErrorOf(() => parsePolicyText(lines.join('\n'), 'yaml'));
    expect([e.reason, e.message]).toEqual([REASONS.syntax, 'policy: is not valid YAML (alias expansion)']);
  });

  it('reads unquoted digits-only hex in YAML as a number and refuses it', () => {
    const e = loadErrorOf(() => parsePolicyText(`version: 1\nname: p\ntee: [sgx]\nreference: { sgx: { mrenclave: ${'1'.repeat(64)} } }`, 'yaml'));
    expect([e.reason, e.path]).toEqual([REASONS.invalidValue, 'reference.sgx.mrenclave']);
  });

  it('refuses an empty YAML document', () => {
    expect(loadErrorOf(() => parsePolicyText('', 'yaml')).reason).toBe(REASONS.invalidValue);
  });
});

describe('PolicyLoadError', () => {
  it('carries code, reason, path, a message naming the path, and a brand', () => {
    const e = new PolicyLoadError(REASONS.hexLength, 'reference.tdx.mrtd', 'MRTD is 47 bytes, want 48');
    expect([e.name, e.code, e.reason, e.path, e.message]).toEqual([
      'PolicyLoadError',
      'ERR_POLICY_INVALID',
      'policy_hex_length',
      'reference.tdx.mrtd',
      'policy reference.tdx.mrtd: MRTD is 47 bytes, want 48',
    ]);
    expect(e.cause).toBeUndefined();
    expect(PolicyLoadError.is(e)).toBe(true);
    expect(PolicyLoadError.is(new Error('x'))).toBe(false);
    expect(PolicyLoadError.is(null)).toBe(false);
    expect(PolicyLoadError.is({ code: 'ERR_POLICY_INVALID' })).toBe(false);
    expect(new PolicyLoadError(REASONS.syntax, '', 'x').message).toBe('policy: x');
  });
});

describe('property: any input raises only PolicyLoadError', () => {
  const isLoadError = (fn: () => unknown): boolean => {
    try {
      fn();
      return true;
    } catch (e: unknown) {
      return PolicyLoadError.is(e);
    }
  };
  it('for any JSON value, and any value in place of a reference section', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => isLoadError(() => parsePolicy(v))));
    fc.assert(fc.property(fc.anything({ withBigInt: true, withMap: true, withSet: true, withDate: true, withTypedArray: true, withNullPrototype: true }), (v) => isLoadError(() => parsePolicy(set(full(), ['reference', 'sev-snp'], v)))));
  });
  it('for any text, as JSON and as YAML', () => {
    fc.assert(fc.property(fc.string(), (t) => isLoadError(() => parsePolicyText(t, 'yaml')) && isLoadError(() => parsePolicyText(t, 'json'))));
  });
});
