/**
 * The browser bundle of the gateway's two static pages (`/verify`, `/log`): web/verify-app.ts and
 * web/log-app.ts, bundled by esbuild (in-process, well under 2 s) into web/dist/ for the browser:
 *   - attestation/common/crypto.ts (node:crypto) is swapped for crypto-web.ts (WebCrypto), the one
 *     module of the library a browser cannot run;
 *   - any Node module (`node:*` or a bare builtin such as `crypto`, `buffer`) reached from the entry
 *     points fails the build with the chain that imported it, as does a free use of Node's `Buffer`
 *     global in the output; a page that would only break in the browser breaks here.
 *
 * `ensureWebBundle` (the gateway at start, through src/web/routes.ts) builds when an output is
 * missing or older than any input the last build read; `npm run build:web` (scripts/build-web.ts)
 * builds unconditionally. Outputs are written to a temporary name and renamed, so a request never
 * reads half a file and two gateways building at once do not clash.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const WEB_DIR = join(REPO_ROOT, 'web');
export const WEB_DIST = join(WEB_DIR, 'dist');
/** The pages' scripts: web/<name>.ts -> web/dist/<name>.js, served at /web/<name>.js. */
export const WEB_ENTRIES = ['verify-app', 'log-app'] as const;
export type WebEntry = (typeof WEB_ENTRIES)[number];

const CRYPTO_NODE = join(REPO_ROOT, 'attestation/common/crypto.ts');
const CRYPTO_WEB = join(REPO_ROOT, 'attestation/common/crypto-web.ts');
const META_FILE = 'build-meta.json';

export interface WebBuildOptions {
  /** Default web/dist. */
  readonly outDir?: string;
  /** Default true. */
  readonly minify?: boolean;
  /** Write <name>.js.map beside each output (default false). */
  readonly sourcemap?: boolean;
}

export interface WebBuildResult {
  readonly outDir: string;
  readonly files: readonly { readonly path: string; readonly bytes: number }[];
  /** Every source file the bundle was made from (repository-relative). */
  readonly inputs: readonly string[];
  readonly ms: number;
}

export class WebBuildError extends Error {
  override readonly name = 'WebBuildError';
}

const NODE_BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** The esbuild plugin: crypto.ts -> crypto-web.ts, and no Node module in a browser bundle. */
export function browserPlugin(): Plugin {
  return {
    name: 'attestgate-browser',
    setup(build) {
      build.onResolve({ filter: /(^|\/)crypto\.ts$/ }, (args) => {
        const abs = resolve(args.resolveDir, args.path);
        return abs === CRYPTO_NODE ? { path: CRYPTO_WEB } : undefined;
      });
      build.onResolve({ filter: /^[a-z_:][a-z0-9_/:-]*$/ }, (args) => {
        if (!NODE_BUILTINS.has(args.path)) return undefined;
        const from = args.importer === '' ? '(entry)' : relative(REPO_ROOT, args.importer);
        return { errors: [{ text: `Node module "${args.path}" imported by ${from}: the browser bundle must not contain Node modules` }] };
      });
    },
  };
}

/**
 * Free uses of Node's `Buffer` global in bundled code: `Buffer.` / `Buffer(` / `new Buffer` not
 * guarded by `typeof Buffer` (libraries that feature-test for it are fine) and not a property name.
 */
export function bufferUses(js: string): string[] {
  const out: string[] = [];
  const re = /(?<![\w$.'"`])Buffer\b(?!['"`])/g;
  for (let m = re.exec(js); m !== null; m = re.exec(js)) {
    const before = js.slice(Math.max(0, m.index - 7), m.index);
    if (before === 'typeof ') continue;
    const after = js.slice(m.index + 6, m.index + 7);
    if (after !== '.' && after !== '(') continue;
    out.push(js.slice(Math.max(0, m.index - 40), m.index + 40).replace(/\s+/g, ' '));
  }
  return out;
}

async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** Bundle the pages' scripts into `outDir`; throws WebBuildError naming every problem. */
export async function buildWeb(opts: WebBuildOptions = {}): Promise<WebBuildResult> {
  const started = performance.now();
  const outDir = opts.outDir ?? WEB_DIST;
  const esbuild = await import('esbuild');
  let result;
  try {
    result = await esbuild.build({
      entryPoints: WEB_ENTRIES.map((e) => ({ in: join(WEB_DIR, `${e}.ts`), out: e })),
      outdir: outDir,
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      minify: opts.minify ?? true,
      sourcemap: opts.sourcemap === true ? 'linked' : false,
      legalComments: 'none',
      charset: 'utf8',
      write: false,
      metafile: true,
      logLevel: 'silent',
      absWorkingDir: REPO_ROOT,
      plugins: [browserPlugin()],
    });
  } catch (e: unknown) {
    const errors = (e as { errors?: readonly { text: string; location?: { file: string; line: number } | null }[] }).errors;
    const lines = errors?.map((x) => `${x.location === undefined || x.location === null ? '' : `${x.location.file}:${x.location.line}: `}${x.text}`) ?? [String(e)];
    throw new WebBuildError(`web bundle failed:\n  ${lines.join('\n  ')}`, { cause: e });
  }
  const inputs = Object.keys(result.metafile.inputs).sort();
  const node = inputs.filter((p) => p === relative(REPO_ROOT, CRYPTO_NODE) || p.startsWith('node:'));
  if (node.length > 0) throw new WebBuildError(`web bundle contains Node modules: ${node.join(', ')}`);
  const problems: string[] = [];
  for (const f of result.outputFiles) {
    if (f.path.endsWith('.js')) for (const use of bufferUses(f.text)) problems.push(`${relative(outDir, f.path)}: Buffer used: …${use}…`);
  }
  if (problems.length > 0) throw new WebBuildError(`web bundle uses Node's Buffer global:\n  ${problems.join('\n  ')}`);
  await mkdir(outDir, { recursive: true });
  for (const f of result.outputFiles) await writeAtomic(f.path, f.contents);
  await writeAtomic(join(outDir, META_FILE), `${JSON.stringify({ inputs }, null, 1)}\n`);
  return {
    outDir,
    files: result.outputFiles.map((f) => ({ path: f.path, bytes: f.contents.length })),
    inputs,
    ms: Math.round(performance.now() - started),
  };
}

/** True when an output is missing, or an input of the last build is newer than the outputs. */
async function stale(outDir: string): Promise<boolean> {
  let oldest = Infinity;
  for (const e of WEB_ENTRIES) {
    const p = join(outDir, `${e}.js`);
    if (!existsSync(p)) return true;
    oldest = Math.min(oldest, (await stat(p)).mtimeMs);
  }
  let inputs: unknown;
  try {
    inputs = (JSON.parse(await readFile(join(outDir, META_FILE), 'utf8')) as { inputs?: unknown }).inputs;
  } catch {
    return true;
  }
  if (!Array.isArray(inputs)) return true;
  for (const i of inputs) {
    if (typeof i !== 'string') return true;
    try {
      if ((await stat(join(REPO_ROOT, i))).mtimeMs > oldest) return true;
    } catch {
      return true; // an input is gone: the sources moved
    }
  }
  return false;
}

const inFlight = new Map<string, Promise<{ built: boolean; outDir: string; ms: number }>>();

/**
 * Build the bundle if it is missing or stale (see `stale`); concurrent calls share one build.
 * Resolves `built: false` when the outputs were current.
 */
export function ensureWebBundle(opts: WebBuildOptions & { readonly force?: boolean } = {}): Promise<{ built: boolean; outDir: string; ms: number }> {
  const outDir = resolve(opts.outDir ?? WEB_DIST);
  let p = inFlight.get(outDir);
  if (p === undefined) {
    p = (async () => {
      const started = performance.now();
      if (opts.force !== true && !(await stale(outDir))) return { built: false, outDir, ms: Math.round(performance.now() - started) };
      const r = await buildWeb({ ...opts, outDir });
      return { built: true, outDir, ms: r.ms };
    })().finally(() => inFlight.delete(outDir));
    inFlight.set(outDir, p);
  }
  return p;
}
