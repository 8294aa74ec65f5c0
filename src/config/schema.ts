/**
 * The gateway configuration: a closed schema, checked once at start into a readonly typed Config.
 *
 * Closed means an unknown key anywhere is an error naming its path (`backends[1].urll: unknown
 * key`): a misspelt `simulated_roots` or `timeout_ms` that is silently ignored leaves the gateway
 * running with a default the operator believes they changed. Every problem is collected, so one
 * start reports them all. Defaults are documented in docs/configuration.md (keep them in step with
 * DEFAULTS below; a test checks the page names each one).
 *
 * This module does no I/O: load.ts reads the file and the environment and hands the raw tree here.
 */
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { AppError } from '../errors.ts';
import { LOG_LEVELS, type LogLevel } from '../obs/log.ts';

export { LOG_LEVELS, type LogLevel };

export const SIGNING_ALGS = ['ES256', 'EdDSA'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

export const COLLATERAL_MODES = ['offline', 'pcs'] as const;
export type CollateralMode = (typeof COLLATERAL_MODES)[number];

export interface BackendConfig {
  readonly name: string;
  /** Absolute http(s) URL without a trailing slash, credentials, query or fragment. */
  readonly url: string;
  /** Models this backend may serve; null: whatever it attests to. */
  readonly models: readonly string[] | null;
  /** Per-backend request timeout; defaults to limits.backend_timeout_ms. */
  readonly timeout_ms: number;
}

export type CollateralConfig =
  | { readonly mode: 'offline'; readonly bundle_dir: string }
  | {
      readonly mode: 'pcs';
      readonly pcs_url: string;
      /** When set, Intel collateral comes from this PCCS instead of pcs_url. */
      readonly pccs_url: string | null;
      readonly kds_url: string;
      /** Optional local bundle consulted before the network. */
      readonly bundle_dir: string | null;
    };

export interface Config {
  readonly listen: { readonly host: string; readonly port: number };
  /** Absolute. */
  readonly data_dir: string;
  readonly demo: boolean;
  /** Absolute path of the appraisal policy, or null (then no backend can be admitted). */
  readonly policy: string | null;
  readonly trust: { readonly simulated_roots: boolean; readonly extra_roots: readonly string[] };
  readonly backends: readonly BackendConfig[];
  readonly attestation: {
    readonly lifetime_s: number;
    readonly reattest_before_s: number;
    readonly collateral: CollateralConfig;
  };
  readonly limits: {
    readonly max_body_bytes: number;
    readonly backend_timeout_ms: number;
    readonly rate: { readonly per_second: number; readonly burst: number };
  };
  readonly signing: {
    /** Absolute; `<data_dir>/gateway-key.pem` unless configured. */
    readonly key_file: string;
    /** True when key_file was not configured (the gateway may then generate the key, mode 0600). */
    readonly key_file_is_default: boolean;
    readonly alg: SigningAlg;
  };
  readonly log: { readonly level: LogLevel };
  /** The transparency log (src/audit): its origin line, fixed when the log file is created, and how often a checkpoint is signed when it grew (0: only on demand). */
  readonly transparency_log: { readonly origin: string; readonly checkpoint_interval_s: number };
  /** Where the values came from, for the start-up log line. */
  readonly source: { readonly file: string | null; readonly env: readonly string[] };
}

export const INTEL_PCS_URL = 'https://api.trustedservices.intel.com';
export const AMD_KDS_URL = 'https://kdsintf.amd.com';

export const DEFAULTS = {
  'listen.host': '127.0.0.1',
  'listen.port': 8080,
  data_dir: './data',
  demo: false,
  policy: null,
  'trust.simulated_roots': false,
  'trust.extra_roots': [],
  backends: [],
  'attestation.lifetime_s': 3600,
  'attestation.reattest_before_s': 300,
  'attestation.collateral.mode': 'offline',
  'attestation.collateral.bundle_dir': '<data_dir>/collateral',
  'attestation.collateral.pcs_url': INTEL_PCS_URL,
  'attestation.collateral.kds_url': AMD_KDS_URL,
  'limits.max_body_bytes': 1_048_576,
  'limits.backend_timeout_ms': 30_000,
  'limits.rate.per_second': 50,
  'limits.rate.burst': 100,
  'signing.key_file': '<data_dir>/gateway-key.pem',
  'signing.alg': 'ES256',
  'log.level': 'info',
  'transparency_log.origin': 'attestgate.invalid/log',
  'transparency_log.checkpoint_interval_s': 5,
} as const;

/** A C2SP checkpoint origin: printable ASCII, no spaces or '+' (it is also the note's key name). */
const LOG_ORIGIN = /^[\x21-\x2a\x2c-\x7e]{1,200}$/;

export interface ConfigIssue {
  /** Dotted path with [index] for arrays, e.g. `backends[1].url`; `(file)` for the file itself. */
  readonly path: string;
  readonly message: string;
}

/** ERR_CONFIG_INVALID with every issue found; the message lists them one per line. */
export class ConfigError extends AppError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], source: string | null, options: { cause?: unknown } = {}) {
    const where = source === null ? 'configuration' : `configuration ${source}`;
    super('ERR_CONFIG_INVALID', `invalid ${where}:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`, {
      ...options,
      details: { issues },
    });
    this.issues = issues;
  }
}

export interface ParseConfigOptions {
  /** Relative paths in the raw tree (and the defaults) are resolved against this directory. */
  readonly baseDir: string;
  /** The config file, for messages and Config.source. */
  readonly file?: string | null;
  /** Path -> environment variable, for values that came from the environment. */
  readonly envOrigins?: ReadonlyMap<string, string>;
}

// ---------------------------------------------------------------------------------------------
// A tiny validator: each reader records an issue and returns a fallback, so one pass finds every
// problem; parseConfig throws once at the end if anything was recorded.

type Obj = Readonly<Record<string, unknown>>;

class Ctx {
  readonly issues: ConfigIssue[] = [];
  constructor(private readonly origins: ReadonlyMap<string, string>) {}

  issue(path: string, message: string): void {
    const env = this.origins.get(path);
    this.issues.push({ path: env === undefined ? path : `${path} (from ${env})`, message });
  }
}

function join2(base: string, key: string): string {
  return base === '' ? key : `${base}.${key}`;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  return typeof v;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const sub = (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, sub));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/**
 * The object at `path` with only `allowed` keys, or undefined (absent). A non-object is an issue
 * and reads as an empty object so that its children fall back to their defaults.
 */
function section(ctx: Ctx, v: unknown, path: string, allowed: readonly string[]): Obj | undefined {
  if (v === undefined) return undefined;
  if (!isObj(v)) {
    ctx.issue(path === '' ? '(root)' : path, `must be a mapping, got ${describe(v)}`);
    return {};
  }
  for (const key of Object.keys(v)) {
    if (!allowed.includes(key)) {
      const near = allowed.find((k) => editDistance(k, key) <= 2) ?? allowed.find((k) => key.length >= 3 && k.startsWith(key));
      ctx.issue(join2(path, key), near === undefined ? 'unknown key' : `unknown key (did you mean ${near}?)`);
    }
  }
  return v;
}

function field(o: Obj | undefined, key: string): unknown {
  return o !== undefined && Object.hasOwn(o, key) ? o[key] : undefined;
}

function bool(ctx: Ctx, o: Obj | undefined, key: string, path: string, def: boolean): boolean {
  const v = field(o, key);
  if (v === undefined) return def;
  if (typeof v !== 'boolean') {
    ctx.issue(join2(path, key), `must be true or false, got ${describe(v)}`);
    return def;
  }
  return v;
}

interface NumSpec {
  readonly min: number;
  readonly max: number;
  readonly integer: boolean;
}

function num(ctx: Ctx, o: Obj | undefined, key: string, path: string, spec: NumSpec, def: number): number {
  const v = field(o, key);
  if (v === undefined) return def;
  const kind = spec.integer ? 'an integer' : 'a number';
  if (typeof v !== 'number' || !Number.isFinite(v) || (spec.integer && !Number.isInteger(v))) {
    ctx.issue(join2(path, key), `must be ${kind} in [${spec.min}, ${spec.max}], got ${describe(v)}`);
    return def;
  }
  if (!(v >= spec.min && v <= spec.max)) {
    ctx.issue(join2(path, key), `must be ${kind} in [${spec.min}, ${spec.max}], got ${v}`);
    return def;
  }
  return v;
}

function str(ctx: Ctx, v: unknown, path: string): string | undefined {
  if (typeof v !== 'string' || v === '' || v.includes('\0')) {
    ctx.issue(path, `must be a non-empty string, got ${describe(v)}`);
    return undefined;
  }
  return v;
}

function oneOf<T extends string>(ctx: Ctx, o: Obj | undefined, key: string, path: string, values: readonly T[], def: T): T {
  const v = field(o, key);
  if (v === undefined) return def;
  const hit = values.find((x) => x === v);
  if (hit === undefined) {
    ctx.issue(join2(path, key), `must be one of ${values.join(', ')}, got ${describe(v)}`);
    return def;
  }
  return hit;
}

function pathValue(ctx: Ctx, v: unknown, path: string, baseDir: string): string | undefined {
  const s = str(ctx, v, path);
  return s === undefined ? undefined : resolve(baseDir, s);
}

/** http(s) URL without credentials (they would end up in logs), query or fragment. */
function url(ctx: Ctx, v: unknown, path: string): string | undefined {
  const s = str(ctx, v, path);
  if (s === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    ctx.issue(path, `must be an absolute http(s) URL, got ${describe(s)}`);
    return undefined;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    ctx.issue(path, `must use http or https, got ${u.protocol.slice(0, -1)}`);
    return undefined;
  }
  if (u.username !== '' || u.password !== '') {
    ctx.issue(path, 'must not contain credentials (they would be logged)');
    return undefined;
  }
  if (u.search !== '' || u.hash !== '') {
    ctx.issue(path, 'must not contain a query or fragment');
    return undefined;
  }
  return u.href.replace(/\/+$/, '');
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const MODEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const MS_MAX = 600_000;
const SEVEN_DAYS_S = 7 * 24 * 3600;

// ---------------------------------------------------------------------------------------------

/** Check `raw` (the parsed file with environment overrides applied) against the closed schema. */
export function parseConfig(raw: unknown, opts: ParseConfigOptions): Config {
  const ctx = new Ctx(opts.envOrigins ?? new Map());
  const base = opts.baseDir;
  const root = section(ctx, raw ?? {}, '', [
    'listen', 'data_dir', 'demo', 'policy', 'trust', 'backends', 'attestation', 'limits', 'signing', 'log', 'transparency_log',
  ]);

  const listenO = section(ctx, field(root, 'listen'), 'listen', ['host', 'port']);
  const hostRaw = field(listenO, 'host');
  let host: string = DEFAULTS['listen.host'];
  if (hostRaw !== undefined) {
    const h = str(ctx, hostRaw, 'listen.host');
    if (h !== undefined) {
      if (isIP(h) !== 0 || HOSTNAME.test(h)) host = h;
      else ctx.issue('listen.host', `must be an IP address or a host name, got ${describe(h)}`);
    }
  }
  const port = num(ctx, listenO, 'port', 'listen', { min: 0, max: 65_535, integer: true }, DEFAULTS['listen.port']);

  const dataDirRaw = field(root, 'data_dir');
  const dataDir = (dataDirRaw === undefined ? undefined : pathValue(ctx, dataDirRaw, 'data_dir', base)) ?? resolve(base, DEFAULTS.data_dir);

  const demo = bool(ctx, root, 'demo', '', DEFAULTS.demo);

  const policyRaw = field(root, 'policy');
  const policy = policyRaw === undefined || policyRaw === null ? null : (pathValue(ctx, policyRaw, 'policy', base) ?? null);

  const trustO = section(ctx, field(root, 'trust'), 'trust', ['simulated_roots', 'extra_roots']);
  const simulatedRoots = bool(ctx, trustO, 'simulated_roots', 'trust', DEFAULTS['trust.simulated_roots']);
  const extraRoots = list(ctx, field(trustO, 'extra_roots'), 'trust.extra_roots', (v, p) => pathValue(ctx, v, p, base));

  const limitsO = section(ctx, field(root, 'limits'), 'limits', ['max_body_bytes', 'backend_timeout_ms', 'rate']);
  const maxBody = num(ctx, limitsO, 'max_body_bytes', 'limits', { min: 1, max: 256 * 1_048_576, integer: true }, DEFAULTS['limits.max_body_bytes']);
  const backendTimeout = num(ctx, limitsO, 'backend_timeout_ms', 'limits', { min: 1, max: MS_MAX, integer: true }, DEFAULTS['limits.backend_timeout_ms']);
  const rateO = section(ctx, field(limitsO, 'rate'), 'limits.rate', ['per_second', 'burst']);
  // A rate of 0 would lock every tenant out; there is no "unlimited" setting on purpose.
  const perSecond = num(ctx, rateO, 'per_second', 'limits.rate', { min: 0.001, max: 1_000_000, integer: false }, DEFAULTS['limits.rate.per_second']);
  const burst = num(ctx, rateO, 'burst', 'limits.rate', { min: 1, max: 1_000_000, integer: true }, DEFAULTS['limits.rate.burst']);

  const backends = list(ctx, field(root, 'backends'), 'backends', (v, p) => backend(ctx, v, p, backendTimeout));
  checkUnique(ctx, backends, 'backends', 'name', (b) => b.name);
  checkUnique(ctx, backends, 'backends', 'url', (b) => b.url);

  const attO = section(ctx, field(root, 'attestation'), 'attestation', ['lifetime_s', 'reattest_before_s', 'collateral']);
  const lifetime = num(ctx, attO, 'lifetime_s', 'attestation', { min: 60, max: SEVEN_DAYS_S, integer: true }, DEFAULTS['attestation.lifetime_s']);
  const reattest = num(ctx, attO, 'reattest_before_s', 'attestation', { min: 0, max: SEVEN_DAYS_S, integer: true }, DEFAULTS['attestation.reattest_before_s']);
  if (reattest >= lifetime) {
    // Otherwise the gateway would re-attest continuously (or never have a usable result).
    ctx.issue('attestation.reattest_before_s', `must be less than attestation.lifetime_s (${lifetime}), got ${reattest}`);
  }
  const collateral = collateralConfig(ctx, field(attO, 'collateral'), base, dataDir);

  const signingO = section(ctx, field(root, 'signing'), 'signing', ['key_file', 'alg']);
  const keyFileRaw = field(signingO, 'key_file');
  const keyFile = keyFileRaw === undefined ? undefined : pathValue(ctx, keyFileRaw, 'signing.key_file', base);
  const alg = oneOf(ctx, signingO, 'alg', 'signing', SIGNING_ALGS, DEFAULTS['signing.alg']);

  const logO = section(ctx, field(root, 'log'), 'log', ['level']);
  const level = oneOf(ctx, logO, 'level', 'log', LOG_LEVELS, DEFAULTS['log.level']);

  const tlogO = section(ctx, field(root, 'transparency_log'), 'transparency_log', ['origin', 'checkpoint_interval_s']);
  let origin: string = DEFAULTS['transparency_log.origin'];
  const originRaw = field(tlogO, 'origin');
  if (originRaw !== undefined) {
    const o = str(ctx, originRaw, 'transparency_log.origin');
    if (o !== undefined) {
      if (LOG_ORIGIN.test(o)) origin = o;
      else ctx.issue('transparency_log.origin', `must be 1-200 printable ASCII characters without spaces or '+', got ${describe(o)}`);
    }
  }
  const checkpointEvery = num(ctx, tlogO, 'checkpoint_interval_s', 'transparency_log', { min: 0, max: 86_400, integer: false }, DEFAULTS['transparency_log.checkpoint_interval_s']);

  if (ctx.issues.length > 0) throw new ConfigError(ctx.issues, opts.file ?? null);

  const config: Config = {
    listen: { host, port },
    data_dir: dataDir,
    demo,
    policy,
    trust: { simulated_roots: simulatedRoots, extra_roots: extraRoots },
    backends,
    attestation: { lifetime_s: lifetime, reattest_before_s: reattest, collateral },
    limits: { max_body_bytes: maxBody, backend_timeout_ms: backendTimeout, rate: { per_second: perSecond, burst } },
    signing: { key_file: keyFile ?? join(dataDir, 'gateway-key.pem'), key_file_is_default: keyFile === undefined, alg },
    log: { level },
    transparency_log: { origin, checkpoint_interval_s: checkpointEvery },
    source: { file: opts.file ?? null, env: [...new Set((opts.envOrigins ?? new Map<string, string>()).values())].sort() },
  };
  return deepFreeze(config);
}

function list<T>(ctx: Ctx, v: unknown, path: string, item: (v: unknown, path: string) => T | undefined): T[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    ctx.issue(path, `must be a list, got ${describe(v)}`);
    return [];
  }
  const out: T[] = [];
  v.forEach((x: unknown, i) => {
    const r = item(x, `${path}[${i}]`);
    if (r !== undefined) out.push(r);
  });
  return out;
}

function checkUnique<T>(ctx: Ctx, items: readonly T[], path: string, key: string, get: (t: T) => string): void {
  const seen = new Set<string>();
  for (const [i, it] of items.entries()) {
    const k = get(it);
    if (seen.has(k)) ctx.issue(`${path}[${i}].${key}`, `duplicate ${key} ${JSON.stringify(k)}`);
    seen.add(k);
  }
}

function backend(ctx: Ctx, v: unknown, path: string, defaultTimeout: number): BackendConfig | undefined {
  if (!isObj(v)) {
    ctx.issue(path, `must be a mapping, got ${describe(v)}`);
    return undefined;
  }
  const o = section(ctx, v, path, ['name', 'url', 'models', 'timeout_ms']);
  const before = ctx.issues.length;
  const nameRaw = field(o, 'name');
  const name = nameRaw === undefined ? (ctx.issue(`${path}.name`, 'is required'), undefined) : str(ctx, nameRaw, `${path}.name`);
  if (name !== undefined && !NAME.test(name)) ctx.issue(`${path}.name`, `must match ${NAME.source}, got ${describe(name)}`);
  const urlRaw = field(o, 'url');
  const u = urlRaw === undefined ? (ctx.issue(`${path}.url`, 'is required'), undefined) : url(ctx, urlRaw, `${path}.url`);
  let models: string[] | null = null;
  const modelsRaw = field(o, 'models');
  if (modelsRaw !== undefined && modelsRaw !== null) {
    if (Array.isArray(modelsRaw) && modelsRaw.length === 0) {
      // An empty filter would admit the backend and route nothing to it; omit the key instead.
      ctx.issue(`${path}.models`, 'must not be empty (omit it to serve every attested model)');
    }
    models = list(ctx, modelsRaw, `${path}.models`, (m, p) => {
      const s = str(ctx, m, p);
      if (s !== undefined && !MODEL.test(s)) ctx.issue(p, `must match ${MODEL.source}, got ${describe(s)}`);
      return s;
    });
    checkUnique(ctx, models, `${path}.models`, 'model', (m) => m);
  }
  const timeout = num(ctx, o, 'timeout_ms', path, { min: 1, max: MS_MAX, integer: true }, defaultTimeout);
  if (ctx.issues.length > before || name === undefined || u === undefined) return undefined;
  return { name, url: u, models, timeout_ms: timeout };
}

function collateralConfig(ctx: Ctx, v: unknown, base: string, dataDir: string): CollateralConfig {
  const path = 'attestation.collateral';
  const o = section(ctx, v, path, ['mode', 'pcs_url', 'pccs_url', 'kds_url', 'bundle_dir']);
  const mode = oneOf(ctx, o, 'mode', path, COLLATERAL_MODES, DEFAULTS['attestation.collateral.mode']);
  const bundleRaw = field(o, 'bundle_dir');
  const bundle = bundleRaw === undefined ? undefined : pathValue(ctx, bundleRaw, `${path}.bundle_dir`, base);
  switch (mode) {
    case 'offline':
      for (const k of ['pcs_url', 'pccs_url', 'kds_url']) {
        // Silently ignoring them would let an operator believe the gateway fetches fresh collateral.
        if (field(o, k) !== undefined) ctx.issue(`${path}.${k}`, 'only allowed with mode: pcs');
      }
      return { mode, bundle_dir: bundle ?? join(dataDir, 'collateral') };
    case 'pcs': {
      const get = (k: string, def: string | null): string | null => {
        const raw = field(o, k);
        return raw === undefined ? def : (url(ctx, raw, `${path}.${k}`) ?? def);
      };
      return {
        mode,
        pcs_url: get('pcs_url', DEFAULTS['attestation.collateral.pcs_url']) ?? INTEL_PCS_URL,
        pccs_url: get('pccs_url', null),
        kds_url: get('kds_url', DEFAULTS['attestation.collateral.kds_url']) ?? AMD_KDS_URL,
        bundle_dir: bundle ?? null,
      };
    }
  }
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

