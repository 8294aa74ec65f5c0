/**
 * Read the configuration once at start: a file (JSON or YAML by extension) plus environment
 * overrides, checked by schema.ts into a frozen Config. Nothing else in the gateway reads
 * process.env or the config file; they receive the Config.
 *
 * Precedence, lowest first: defaults, the file, the environment. The file is `file` if given
 * (a command-line flag), else $ATTESTGATE_CONFIG, else none (defaults and environment only).
 * Relative paths written in the file, and the defaults, are resolved against the file's
 * directory (so a config and its policy move together); relative paths from the environment,
 * and everything when there is no file, against `cwd`. An empty environment variable counts as
 * unset, as `docker run -e X=` produces one.
 */
import { readFileSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError, parseConfig, type Config } from './schema.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export interface LoadConfigOptions {
  /** Config file (e.g. from --config); overrides $ATTESTGATE_CONFIG. */
  readonly file?: string;
  readonly env: Env;
  readonly cwd: string;
}

/** Environment variable -> config path, and how its text becomes a value. */
const ENV_OVERRIDES: readonly { readonly name: string; readonly path: readonly string[]; readonly kind: 'string' | 'path' | 'port' | 'bool' }[] = [
  { name: 'HOST', path: ['listen', 'host'], kind: 'string' },
  { name: 'PORT', path: ['listen', 'port'], kind: 'port' },
  { name: 'ATTESTGATE_DATA_DIR', path: ['data_dir'], kind: 'path' },
  { name: 'ATTESTGATE_POLICY', path: ['policy'], kind: 'path' },
  { name: 'ATTESTGATE_LOG_LEVEL', path: ['log', 'level'], kind: 'string' },
  { name: 'ATTESTGATE_DEMO', path: ['demo'], kind: 'bool' },
  { name: 'ATTESTGATE_LOG_ORIGIN', path: ['transparency_log', 'origin'], kind: 'string' },
];

export const CONFIG_ENV_VARS: readonly string[] = ['ATTESTGATE_CONFIG', ...ENV_OVERRIDES.map((o) => o.name)];

const MAX_CONFIG_BYTES = 1_048_576;

export function loadConfig(opts: LoadConfigOptions): Config {
  const envFile = nonEmpty(opts.env['ATTESTGATE_CONFIG']);
  const fileArg = opts.file ?? envFile;
  const file = fileArg === undefined ? null : resolve(opts.cwd, fileArg);
  const raw: unknown = file === null ? {} : readConfigFile(file);
  if (!isPlainObject(raw)) {
    throw new ConfigError([{ path: '(root)', message: `must be a mapping, got ${raw === null ? 'null' : Array.isArray(raw) ? 'a list' : typeof raw}` }], file);
  }
  // Work on a copy: the parsed tree is ours, but overrides must not alias shared sub-objects.
  const tree = structuredClone(raw);
  const origins = new Map<string, string>();
  for (const o of ENV_OVERRIDES) {
    const text = nonEmpty(opts.env[o.name]);
    if (text === undefined) continue;
    if (setPath(tree, o.path, envValue(text, o.kind, opts.cwd))) origins.set(o.path.join('.'), o.name);
  }
  return parseConfig(tree, { baseDir: file === null ? opts.cwd : dirname(file), file, envOrigins: origins });
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

/** Text from the environment as a config value; anything that does not convert stays a string
 * so that the schema reports it with its path and the variable's name. */
function envValue(text: string, kind: 'string' | 'path' | 'port' | 'bool', cwd: string): unknown {
  switch (kind) {
    case 'string':
      return text;
    case 'path':
      return resolve(cwd, text);
    case 'port':
      return /^[0-9]{1,5}$/.test(text) ? Number(text) : text;
    case 'bool': {
      const t = text.toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(t)) return true;
      if (['0', 'false', 'no', 'off'].includes(t)) return false;
      return text;
    }
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Set tree[path] creating sections on the way; false when a section on the way is not a
 * mapping (the schema reports that section, so the override has nowhere to go). */
function setPath(tree: Record<string, unknown>, path: readonly string[], value: unknown): boolean {
  let node = tree;
  for (const [i, key] of path.entries()) {
    if (i === path.length - 1) {
      node[key] = value;
      return true;
    }
    const next = Object.hasOwn(node, key) ? node[key] : undefined;
    if (next === undefined || next === null) {
      const created: Record<string, unknown> = {};
      node[key] = created;
      node = created;
    } else if (isPlainObject(next)) {
      node = next;
    } else {
      return false;
    }
  }
  return false;
}

function readConfigFile(file: string): unknown {
  const ext = extname(file).toLowerCase();
  if (ext !== '.json' && ext !== '.yaml' && ext !== '.yml') {
    throw new ConfigError([{ path: '(file)', message: `unsupported extension ${JSON.stringify(ext)}: use .json, .yaml or .yml` }], file);
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e: unknown) {
    const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : 'unknown error';
    throw new ConfigError([{ path: '(file)', message: `cannot read the file (${code})` }], file, { cause: e });
  }
  if (bytes.length > MAX_CONFIG_BYTES) {
    throw new ConfigError([{ path: '(file)', message: `larger than ${MAX_CONFIG_BYTES} bytes` }], file);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e: unknown) {
    throw new ConfigError([{ path: '(file)', message: 'not valid UTF-8' }], file, { cause: e });
  }
  if (ext === '.json') {
    try {
      return JSON.parse(text) as unknown;
    } catch (e: unknown) {
      throw new ConfigError([{ path: '(file)', message: `not valid JSON: ${e instanceof Error ? e.message : String(e)}` }], file, { cause: e });
    }
  }
  // YAML 1.2 core schema (no `yes`/`no` booleans, no timestamps); duplicate keys are errors, and
  // warnings (unknown tags, ...) are errors too: the file is small and should be unambiguous.
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, strict: true });
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    throw new ConfigError(problems.map((p) => ({ path: '(file)', message: `YAML: ${p.message.split('\n')[0] ?? p.code}` })), file, { cause: problems[0] });
  }
  // An empty document (or only comments) means "all defaults", as an empty mapping would.
  if (doc.contents === null) return {};
  try {
    return doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (e: unknown) {
    throw new ConfigError([{ path: '(file)', message: `YAML: ${e instanceof Error ? e.message : String(e)}` }], file, { cause: e });
  }
}
