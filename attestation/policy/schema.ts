/**
 * Appraisal policy files: a closed schema, checked once at load (docs/policy.md).
 *
 * An operator writes the policy; whoever can edit it decides which enclaves get traffic, so the
 * loader's job is to make a mistyped or half-written policy fail loudly rather than silently
 * check less than its author meant (the open-by-default trap): every key is known or refused
 * with its path, every byte value has the exact width of its report field and is decoded once
 * to lowercase canonical hex, risky switches default to off, and a policy that would accept a
 * TEE without checking any measurement of it is refused.
 */
import { parseDocument } from 'yaml';
import { TEE_KINDS, type TeeKind } from '../result.ts';
import { PolicyLoadError, REASONS, type PolicyLoadReason } from './errors.ts';

export type AmdProductName = 'milan' | 'genoa' | 'turin';
export const AMD_PRODUCTS: readonly AmdProductName[] = ['milan', 'genoa', 'turin'];

/** Intel's TCB status strings that a policy may accept (Revoked never). */
export const INTEL_TCB_STATUSES = [
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
] as const;
export type IntelTcbStatus = (typeof INTEL_TCB_STATUSES)[number];

/** A bit field compared under a mask: (claim & mask) == value; value has no bit outside mask. */
export interface MaskedValue {
  readonly value: string;
  readonly mask: string;
}

/** Allowed values are lists (a set, sorted); one value in the file is a list of one. */
export type AllowedHex = readonly string[];

export interface SgxReference {
  readonly mrenclave?: AllowedHex;
  readonly mrsigner?: AllowedHex;
  readonly isvprodid?: readonly number[];
  readonly min_isvsvn?: number;
  readonly attributes?: MaskedValue;
}

export interface TdxReference {
  readonly mrtd?: AllowedHex;
  readonly rtmr0?: AllowedHex;
  readonly rtmr1?: AllowedHex;
  readonly rtmr2?: AllowedHex;
  readonly rtmr3?: AllowedHex;
  readonly mrseam?: AllowedHex;
  readonly mrconfigid?: AllowedHex;
  readonly mrowner?: AllowedHex;
  readonly mrownerconfig?: AllowedHex;
  readonly td_attributes?: MaskedValue;
  readonly xfam?: MaskedValue;
}

/** Minimum SPLs of the SEV-SNP reported TCB; `fmc` exists on Turin only. */
export interface SnpTcbMinimum {
  readonly bl: number;
  readonly tee: number;
  readonly snp: number;
  readonly ucode: number;
  readonly fmc?: number;
}

export interface SevSnpReference {
  readonly measurement?: AllowedHex;
  readonly host_data?: AllowedHex;
  readonly id_key_digest?: AllowedHex;
  readonly author_key_digest?: AllowedHex;
  readonly family_id?: AllowedHex;
  readonly image_id?: AllowedHex;
  readonly min_tcb?: SnpTcbMinimum;
  readonly vmpl?: readonly number[];
}

export type NitroPcrName = `pcr${number}`;
/** PCR index (`pcr0` .. `pcr31`) -> allowed SHA-384 values. */
export type NitroReference = Readonly<Partial<Record<NitroPcrName, AllowedHex>>>;

export interface References {
  readonly sgx?: SgxReference;
  readonly tdx?: TdxReference;
  readonly 'sev-snp'?: SevSnpReference;
  readonly nitro?: NitroReference;
}

export interface TcbPolicy {
  /** Always holds UpToDate. */
  readonly accept: readonly IntelTcbStatus[];
  readonly allowed_advisories: readonly string[];
}

export interface ModelRef {
  readonly name: string;
  readonly version: string;
  /** Lowercase hex SHA-256 of the model file. */
  readonly sha256: string;
}

/** A loaded policy: every default explicit, every set sorted and without duplicates. */
export interface Policy {
  readonly version: 1;
  readonly name: string;
  readonly tee: readonly TeeKind[];
  readonly products?: readonly AmdProductName[];
  readonly reference: References;
  readonly tcb: TcbPolicy;
  readonly dangerouslyAllowDebug: boolean;
  readonly allowSimulated: boolean;
  /** Seconds; `30d` in the file is 2592000 here. */
  readonly max_collateral_age?: number;
  readonly models?: readonly ModelRef[];
}

/**
 * Byte fields per TEE and their widths in bytes, as the report defines them (Intel SGX/TDX DCAP
 * quote, AMD SEV-SNP ABI table 23, AWS Nitro SHA-384 PCRs). Keys are the claim names the verifiers
 * emit, so a policy key, a claim and a mismatch all read the same.
 */
export const HEX_FIELDS = {
  sgx: { mrenclave: 32, mrsigner: 32 },
  tdx: { mrtd: 48, rtmr0: 48, rtmr1: 48, rtmr2: 48, rtmr3: 48, mrseam: 48, mrconfigid: 48, mrowner: 48, mrownerconfig: 48 },
  'sev-snp': { measurement: 48, host_data: 32, id_key_digest: 48, author_key_digest: 48, family_id: 16, image_id: 16 },
} as const satisfies Record<Exclude<TeeKind, 'nitro'>, Record<string, number>>;

export const MASKED_FIELDS = {
  sgx: { attributes: 16 },
  tdx: { td_attributes: 8, xfam: 8 },
} as const;

export const NITRO_PCR_COUNT = 32;
export const NITRO_PCR_BYTES = 48;

/**
 * The reference values that measure the code of each TEE; a policy must name at least one per
 * allowed TEE. MRSIGNER and PCR8 (the signing certificate) count: they pin who built the code.
 */
export const MEASUREMENT_FIELDS: Readonly<Record<TeeKind, readonly string[]>> = {
  sgx: ['mrenclave', 'mrsigner'],
  tdx: ['mrtd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3'],
  'sev-snp': ['measurement'],
  nitro: ['pcr0', 'pcr1', 'pcr2', 'pcr8'],
};

// ---------------------------------------------------------------------------------------------
// Reading untrusted values with a path.

function refuse(reason: PolicyLoadReason, path: string, message: string): never {
  throw new PolicyLoadError(reason, path, message);
}

const child = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);
const item = (path: string, i: number): string => `${path}[${i}]`;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'missing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${String(v)}`;
  return typeof v === 'object' ? 'a mapping' : `a ${typeof v}`;
}

type Fields = Readonly<Record<string, unknown>>;

/** A plain mapping whose every key is in `allowed`; anything else is refused with its path. */
function mapping(v: unknown, path: string, allowed: readonly string[]): Fields {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) refuse(REASONS.invalidValue, path, `is ${describe(v)}, want a mapping`);
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) refuse(REASONS.invalidValue, path, 'is not a plain mapping');
  const fields = v as Fields;
  for (const key of Object.keys(fields)) {
    if (!allowed.includes(key)) {
      refuse(REASONS.unknownKey, child(path, key), `unknown key "${key}" (known here: ${allowed.join(', ')})`);
    }
  }
  return fields;
}

function string(v: unknown, path: string, re: RegExp, what: string): string {
  if (typeof v !== 'string') refuse(REASONS.invalidValue, path, `is ${describe(v)}, want ${what} (a quoted string in YAML)`);
  if (!re.test(v)) refuse(REASONS.invalidValue, path, `is ${JSON.stringify(v)}, want ${what}`);
  return v;
}

function integer(v: unknown, path: string, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    refuse(REASONS.invalidValue, path, `is ${describe(v)}, want an integer 0..${max}`);
  }
  return v;
}

function boolean(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') refuse(REASONS.invalidValue, path, `is ${describe(v)}, want true or false`);
  return v;
}

/** One value or a non-empty list of them -> a sorted list without duplicates. */
function oneOrMany<T extends string | number>(v: unknown, path: string, each: (x: unknown, p: string) => T): readonly T[] {
  if (!Array.isArray(v)) return [each(v, path)];
  if (v.length === 0) refuse(REASONS.invalidValue, path, 'is an empty list, which allows nothing (omit the key instead to leave it unchecked)');
  return sortedSet(v.map((x, i) => each(x, item(path, i))));
}

function sortedSet<T extends string | number>(xs: readonly T[]): readonly T[] {
  // Elements are unique after the Set, so no two compare equal.
  return [...new Set(xs)].sort((a, b) => (a < b ? -1 : 1));
}

const HEX_RE = /^[0-9a-fA-F]*$/;

/** Exact-width hex -> lowercase canonical hex. No 0x prefix, no padding, no truncation. */
function hex(v: unknown, path: string, bytes: number, field: string): string {
  if (typeof v !== 'string') {
    refuse(REASONS.invalidValue, path, `is ${describe(v)}, want ${bytes} bytes of hex (quote it in YAML: digits-only hex would be read as a number)`);
  }
  if (!HEX_RE.test(v) || v.length % 2 !== 0) refuse(REASONS.invalidValue, path, `${field} is not hex (even number of 0-9a-f digits, no 0x prefix)`);
  if (v.length !== 2 * bytes) refuse(REASONS.hexLength, path, `${field} is ${v.length / 2} bytes, want ${bytes}`);
  return v.toLowerCase();
}

function masked(v: unknown, path: string, bytes: number, field: string): MaskedValue {
  const m = mapping(v, path, ['value', 'mask']);
  if (m['value'] === undefined || m['mask'] === undefined) refuse(REASONS.invalidValue, path, `${field} needs both value and mask`);
  const value = hex(m['value'], child(path, 'value'), bytes, `${field} value`);
  const mask = hex(m['mask'], child(path, 'mask'), bytes, `${field} mask`);
  for (let i = 0; i < value.length; i += 2) {
    const a = parseInt(value.slice(i, i + 2), 16);
    const b = parseInt(mask.slice(i, i + 2), 16);
    if ((a & ~b) !== 0) refuse(REASONS.invalidValue, child(path, 'value'), `${field} value has bits outside its mask (byte ${i / 2})`);
  }
  return { value, mask };
}

// ---------------------------------------------------------------------------------------------
// The sections.

function hexFields(m: Fields, path: string, table: Readonly<Record<string, number>>): Record<string, AllowedHex> {
  const out: Record<string, AllowedHex> = {};
  for (const [field, bytes] of Object.entries(table)) {
    const v = m[field];
    if (v !== undefined) out[field] = oneOrMany(v, child(path, field), (x, p) => hex(x, p, bytes, field));
  }
  return out;
}

function maskedFields(m: Fields, path: string, table: Readonly<Record<string, number>>): Record<string, MaskedValue> {
  const out: Record<string, MaskedValue> = {};
  for (const [field, bytes] of Object.entries(table)) {
    const v = m[field];
    if (v !== undefined) out[field] = masked(v, child(path, field), bytes, field);
  }
  return out;
}

function sgxReference(v: unknown, path: string): SgxReference {
  const m = mapping(v, path, [...Object.keys(HEX_FIELDS.sgx), ...Object.keys(MASKED_FIELDS.sgx), 'isvprodid', 'min_isvsvn']);
  return {
    ...hexFields(m, path, HEX_FIELDS.sgx),
    ...maskedFields(m, path, MASKED_FIELDS.sgx),
    ...(m['isvprodid'] === undefined ? {} : { isvprodid: oneOrMany(m['isvprodid'], child(path, 'isvprodid'), (x, p) => integer(x, p, 0xffff)) }),
    ...(m['min_isvsvn'] === undefined ? {} : { min_isvsvn: integer(m['min_isvsvn'], child(path, 'min_isvsvn'), 0xffff) }),
  };
}

function tdxReference(v: unknown, path: string): TdxReference {
  const m = mapping(v, path, [...Object.keys(HEX_FIELDS.tdx), ...Object.keys(MASKED_FIELDS.tdx)]);
  return { ...hexFields(m, path, HEX_FIELDS.tdx), ...maskedFields(m, path, MASKED_FIELDS.tdx) };
}

const TCB_PARTS = ['bl', 'tee', 'snp', 'ucode', 'fmc'] as const;

function snpTcb(v: unknown, path: string): SnpTcbMinimum {
  const m = mapping(v, path, TCB_PARTS);
  const part = (k: (typeof TCB_PARTS)[number]): number => {
    if (m[k] === undefined) refuse(REASONS.invalidValue, child(path, k), `min_tcb.${k} is missing (every SPL but fmc is required)`);
    return integer(m[k], child(path, k), 0xff);
  };
  return { bl: part('bl'), tee: part('tee'), snp: part('snp'), ucode: part('ucode'), ...(m['fmc'] === undefined ? {} : { fmc: part('fmc') }) };
}

function snpReference(v: unknown, path: string): SevSnpReference {
  const m = mapping(v, path, [...Object.keys(HEX_FIELDS['sev-snp']), 'min_tcb', 'vmpl']);
  return {
    ...hexFields(m, path, HEX_FIELDS['sev-snp']),
    ...(m['min_tcb'] === undefined ? {} : { min_tcb: snpTcb(m['min_tcb'], child(path, 'min_tcb')) }),
    ...(m['vmpl'] === undefined ? {} : { vmpl: oneOrMany(m['vmpl'], child(path, 'vmpl'), (x, p) => integer(x, p, 3)) }),
  };
}

export const NITRO_PCRS: readonly NitroPcrName[] = Array.from({ length: NITRO_PCR_COUNT }, (_, i): NitroPcrName => `pcr${i}`);

function nitroReference(v: unknown, path: string): NitroReference {
  const m = mapping(v, path, NITRO_PCRS);
  const out: Partial<Record<NitroPcrName, AllowedHex>> = {};
  for (const pcr of NITRO_PCRS) {
    const x = m[pcr];
    if (x !== undefined) out[pcr] = oneOrMany(x, child(path, pcr), (y, p) => hex(y, p, NITRO_PCR_BYTES, pcr.toUpperCase()));
  }
  return out;
}

function references(v: unknown, path: string, tees: readonly TeeKind[]): References {
  const m = mapping(v, path, TEE_KINDS);
  for (const tee of TEE_KINDS) {
    if (m[tee] !== undefined && !tees.includes(tee)) refuse(REASONS.invalidValue, child(path, tee), `reference values for ${tee}, which is not in tee (${tees.join(', ')})`);
  }
  const out: { -readonly [K in keyof References]: References[K] } = {};
  for (const tee of tees) {
    const p = child(path, tee);
    const r = m[tee];
    switch (tee) {
      case 'sgx':
        if (r !== undefined) out.sgx = sgxReference(r, p);
        break;
      case 'tdx':
        if (r !== undefined) out.tdx = tdxReference(r, p);
        break;
      case 'sev-snp':
        if (r !== undefined) out['sev-snp'] = snpReference(r, p);
        break;
      case 'nitro':
        if (r !== undefined) out.nitro = nitroReference(r, p);
        break;
    }
    // Fail closed: accepting a TEE without pinning any of its measurements would admit any code
    // that runs in it, which is what an attacker with a cloud account has.
    const checked = out[tee] as Readonly<Record<string, unknown>> | undefined;
    if (checked === undefined || !MEASUREMENT_FIELDS[tee].some((f) => checked[f] !== undefined)) {
      refuse(REASONS.noMeasurement, p, `${tee} is allowed but no measurement of it is checked (set at least one of ${MEASUREMENT_FIELDS[tee].join(', ')})`);
    }
  }
  return out;
}

const ADVISORY_RE = /^INTEL-[A-Z]+-[0-9]+$/;

function tcbPolicy(v: unknown, path: string): TcbPolicy {
  const m = mapping(v, path, ['accept', 'allowed_advisories']);
  const accept: readonly IntelTcbStatus[] =
    m['accept'] === undefined
      ? (['UpToDate'] as const)
      : oneOrMany(m['accept'], child(path, 'accept'), (x, p) => {
          if (typeof x !== 'string' || !(INTEL_TCB_STATUSES as readonly string[]).includes(x)) {
            refuse(REASONS.invalidValue, p, `is ${describe(x)}, want one of ${INTEL_TCB_STATUSES.join(', ')}`);
          }
          return x as IntelTcbStatus;
        });
  if (!accept.includes('UpToDate')) refuse(REASONS.invalidValue, child(path, 'accept'), 'must include UpToDate');
  let advisories: readonly string[] = [];
  const a = m['allowed_advisories'];
  if (a !== undefined) {
    if (!Array.isArray(a)) refuse(REASONS.invalidValue, child(path, 'allowed_advisories'), `is ${describe(a)}, want a list of advisory IDs`);
    advisories = sortedSet(a.map((x, i) => string(x, item(child(path, 'allowed_advisories'), i), ADVISORY_RE, 'an Intel advisory ID such as INTEL-SA-00615')));
  }
  return { accept: sortedSet(accept), allowed_advisories: advisories };
}

const DURATION_RE = /^([1-9][0-9]{0,8})([smhd])$/;
const UNIT: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 };

function duration(v: unknown, path: string): number {
  const m = DURATION_RE.exec(string(v, path, DURATION_RE, 'a duration such as 30d, 12h, 90m or 3600s'));
  const [, n, unit] = m as RegExpExecArray;
  return Number(n) * (UNIT[unit as string] as number);
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MODEL_TEXT_RE = /^[^\s\p{Cc}]{1,128}$/u;
const SHA256_RE = /^[0-9a-fA-F]{64}$/;

function models(v: unknown, path: string): readonly ModelRef[] {
  if (!Array.isArray(v)) refuse(REASONS.invalidValue, path, `is ${describe(v)}, want a list of {name, version, sha256}`);
  const list = v.map((x, i): ModelRef => {
    const p = item(path, i);
    const m = mapping(x, p, ['name', 'version', 'sha256']);
    return {
      name: string(m['name'], child(p, 'name'), MODEL_TEXT_RE, 'a model name'),
      version: string(m['version'], child(p, 'version'), MODEL_TEXT_RE, 'a model version'),
      sha256: string(m['sha256'], child(p, 'sha256'), SHA256_RE, 'a SHA-256 digest (64 hex digits)').toLowerCase(),
    };
  });
  const key = (m: ModelRef): string => `${m.name}\u0000${m.version}\u0000${m.sha256}`;
  const unique = new Map(list.map((m) => [key(m), m]));
  return [...unique.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, m]) => m); // keys are unique
}

const TOP_KEYS = ['version', 'name', 'tee', 'products', 'reference', 'tcb', 'dangerouslyAllowDebug', 'allowSimulated', 'max_collateral_age', 'models'] as const;

/** Validate a policy value (JSON or YAML already parsed) and normalise it. Throws PolicyLoadError. */
export function parsePolicy(input: unknown): Policy {
  const m = mapping(input, '', TOP_KEYS);
  if (m['version'] !== 1) refuse(REASONS.invalidValue, 'version', `is ${describe(m['version'])}, want 1`);
  const name = string(m['name'], 'name', NAME_RE, 'a name of 1-64 characters [A-Za-z0-9._-]');

  if (m['tee'] === undefined) refuse(REASONS.invalidValue, 'tee', 'is missing: list the allowed TEEs (sgx, tdx, sev-snp, nitro)');
  const listed = oneOrMany(m['tee'], 'tee', (x, p) => {
    if (typeof x !== 'string' || !(TEE_KINDS as readonly string[]).includes(x)) refuse(REASONS.invalidValue, p, `is ${describe(x)}, want one of ${TEE_KINDS.join(', ')}`);
    return x as TeeKind;
  });
  const tee = TEE_KINDS.filter((t) => listed.includes(t));

  let products: readonly AmdProductName[] | undefined;
  if (m['products'] !== undefined) {
    if (!tee.includes('sev-snp')) refuse(REASONS.invalidValue, 'products', 'applies to sev-snp, which is not in tee');
    products = oneOrMany(m['products'], 'products', (x, p) => {
      if (typeof x !== 'string' || !(AMD_PRODUCTS as readonly string[]).includes(x)) refuse(REASONS.invalidValue, p, `is ${describe(x)}, want one of ${AMD_PRODUCTS.join(', ')}`);
      return x as AmdProductName;
    });
  }

  if (m['reference'] === undefined) refuse(REASONS.noMeasurement, 'reference', 'is missing: every allowed TEE needs reference measurements');
  const reference = references(m['reference'], 'reference', tee);

  if (m['tcb'] !== undefined && !tee.includes('sgx') && !tee.includes('tdx')) refuse(REASONS.invalidValue, 'tcb', 'applies to sgx and tdx, neither of which is in tee');
  const tcb = tcbPolicy(m['tcb'] ?? {}, 'tcb');

  return {
    version: 1,
    name,
    tee,
    ...(products === undefined ? {} : { products }),
    reference,
    tcb,
    dangerouslyAllowDebug: m['dangerouslyAllowDebug'] === undefined ? false : boolean(m['dangerouslyAllowDebug'], 'dangerouslyAllowDebug'),
    allowSimulated: m['allowSimulated'] === undefined ? false : boolean(m['allowSimulated'], 'allowSimulated'),
    ...(m['max_collateral_age'] === undefined ? {} : { max_collateral_age: duration(m['max_collateral_age'], 'max_collateral_age') }),
    ...(m['models'] === undefined ? {} : { models: models(m['models'], 'models') }),
  };
}

/**
 * Parse policy text, then validate it. YAML is read with the YAML 1.2 core schema (no tags such as !!binary or custom ones,
 * no merge keys), duplicate keys refused, aliases bounded, and any parser warning is an error.
 */
export function parsePolicyText(text: string, format: 'json' | 'yaml'): Policy {
  let value: unknown;
  if (format === 'json') {
    try {
      value = JSON.parse(text) as unknown;
    } catch (e: unknown) {
      throw new PolicyLoadError(REASONS.syntax, '', 'is not valid JSON', { cause: e });
    }
  } else {
    const doc = parseDocument(text, { schema: 'core', resolveKnownTags: false, uniqueKeys: true, strict: true, prettyErrors: false });
    const problem = doc.errors[0] ?? doc.warnings[0];
    if (problem !== undefined) throw new PolicyLoadError(REASONS.syntax, '', `is not valid YAML: ${problem.message}`, { cause: problem });
    try {
      value = doc.toJS({ maxAliasCount: 100 }) as unknown;
    } catch (e: unknown) {
      throw new PolicyLoadError(REASONS.syntax, '', 'is not valid YAML (alias expansion)', { cause: e });
    }
  }
  return parsePolicy(value);
}
