/**
 * docker-compose.yml, docker/*.Dockerfile and config/compose.yaml, checked statically (Docker
 * does not run where the tests run): what the compose file names exists, what the images copy is
 * what the code imports, the commands are ones the CLI knows, the gateway config loads and its
 * policy parses, and the ports, the volume and the start order fit together.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { basename, dirname, join, posix, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parsePolicyText } from '../../../attestation/policy/schema.ts';
import { parseEnclaveArgs } from '../../../enclave/main.ts';
import { loadConfig } from '../../../src/config/load.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const read = (p: string): string => readFileSync(p, 'utf8');
const isFile = (p: string): boolean => existsSync(p) && statSync(p).isFile();
const isDir = (p: string): boolean => existsSync(p) && statSync(p).isDirectory();

// ---- a small Dockerfile reader ---------------------------------------------------------------

interface Copy {
  readonly from: string | undefined;
  readonly sources: readonly string[];
  readonly dest: string;
  /** WORKDIR when the instruction ran. */
  readonly workdir: string;
}
interface Stage {
  readonly image: string;
  readonly name: string | undefined;
  readonly copies: Copy[];
  readonly runs: string[];
  user: string | undefined;
  workdir: string;
  cmd: string[] | undefined;
}

/** Instructions with continuation lines joined and comments dropped. */
function instructions(text: string): { op: string; args: string }[] {
  const out: { op: string; args: string }[] = [];
  let cur = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) continue;
    const l = line.replace(/\s+$/, '');
    if (l.endsWith('\\')) {
      cur += `${l.slice(0, -1)} `;
      continue;
    }
    cur += l;
    const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(cur);
    if (m !== null) out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim() });
    cur = '';
  }
  return out;
}

/** Exec form (JSON array) or shell form words. */
function words(args: string): string[] {
  if (args.startsWith('[')) return JSON.parse(args) as string[];
  return args.split(/\s+/).filter((w) => w !== '');
}

function readDockerfile(path: string): Stage[] {
  const stages: Stage[] = [];
  for (const { op, args } of instructions(read(path))) {
    if (op === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      expect(m, `${path}: FROM ${args}`).not.toBeNull();
      stages.push({ image: m![1]!, name: m![2], copies: [], runs: [], user: undefined, workdir: '/', cmd: undefined });
      continue;
    }
    const stage = stages.at(-1);
    expect(stage, `${path}: ${op} before FROM`).toBeDefined();
    const s = stage!;
    if (op === 'WORKDIR') s.workdir = posix.resolve(s.workdir, args);
    else if (op === 'USER') s.user = args;
    else if (op === 'RUN') s.runs.push(args);
    else if (op === 'CMD') s.cmd = words(args);
    else if (op === 'ENTRYPOINT') throw new Error(`${path}: no ENTRYPOINT, so that a compose command or \`docker compose exec\` runs as written`);
    else if (op === 'COPY' || op === 'ADD') {
      expect(op, `${path}: COPY, not ADD`).toBe('COPY');
      const w = words(args);
      let from: string | undefined;
      while (w[0]?.startsWith('--') === true) {
        const flag = w.shift()!;
        if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
      }
      expect(w.length, `${path}: COPY ${args}`).toBeGreaterThanOrEqual(2);
      s.copies.push({ from, sources: w.slice(0, -1), dest: w.at(-1)!, workdir: s.workdir });
    }
  }
  return stages;
}

/** Where each repository path a stage copies lands in the image: [container path, repo path]. */
function copyMap(stage: Stage, context: string): [string, string][] {
  const out: [string, string][] = [];
  for (const c of stage.copies) {
    if (c.from !== undefined) continue;
    const dest = posix.resolve(c.workdir, c.dest);
    const intoDir = c.sources.length > 1 || c.dest.endsWith('/') || c.dest === '.';
    for (const src of c.sources) out.push([intoDir ? posix.join(dest, posix.basename(src)) : dest, resolve(context, src)]);
  }
  return out;
}

function containerToRepo(map: readonly [string, string][], p: string): string | undefined {
  let best: [string, string] | undefined;
  for (const e of map) if ((p === e[0] || p.startsWith(`${e[0]}/`)) && (best === undefined || e[0].length > best[0].length)) best = e;
  return best === undefined ? undefined : join(best[1], p.slice(best[0].length));
}

function inImage(map: readonly [string, string][], repoPath: string): boolean {
  return map.some(([, r]) => repoPath === r || repoPath.startsWith(`${r}${sep}`));
}

// ---- the modules a command loads ---------------------------------------------------------------

/** bin/attestgate.js: which subcommands it knows and the module each one imports. */
function binCommands(binPath: string): Map<string, string> {
  const text = read(binPath);
  const out = new Map<string, string>();
  for (const branch of text.split(/\}\s*else\b/)) {
    const target = /\bimport\(\s*'([^']+)'\s*\)/.exec(branch)?.[1];
    const cmds = [...branch.matchAll(/\bcommand\s*===\s*'([a-z-]+)'/g)].map((m) => m[1]!);
    if (target !== undefined) for (const c of cmds) out.set(c, resolve(dirname(binPath), target));
  }
  return out;
}

/** Runtime imports of one source file (type-only imports are erased and do not count). */
function importsOf(text: string, dynamic = true): string[] {
  const specs: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s+(type\s+)?[\w$\s{},*]*?\bfrom\s*['"]([^'"]+)['"]/gm)) if (m[1] === undefined) specs.push(m[2]!);
  for (const m of text.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)) specs.push(m[1]!);
  if (dynamic) for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) specs.push(m[1]!);
  return specs;
}

const BUILTINS = new Set(builtinModules);
function packageName(spec: string): string | undefined {
  if (spec.startsWith('node:') || BUILTINS.has(spec.split('/')[0]!)) return undefined;
  const parts = spec.split('/');
  return spec.startsWith('@') ? `${parts[0]!}/${parts[1]!}` : parts[0]!;
}

/** Every repository file and every package reachable by runtime imports from the entries; the
 * dynamic imports of `lazy` (bin/attestgate.js: one per subcommand) are not followed. */
function importGraph(entries: readonly string[], lazy: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const todo = [...entries];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (files.has(f)) continue;
    expect(isFile(f), `imported file ${relative(ROOT, f)} exists`).toBe(true);
    files.add(f);
    for (const spec of importsOf(read(f), f !== lazy)) {
      if (spec.startsWith('.')) {
        const p = resolve(dirname(f), spec);
        todo.push([p, `${p}.ts`, join(p, 'index.ts')].find(isFile) ?? p);
      } else {
        const pkg = packageName(spec);
        if (pkg !== undefined) packages.add(pkg);
      }
    }
  }
  return { files, packages };
}

// ---- the compose file -------------------------------------------------------------------------

interface Service {
  build: { context: string; dockerfile: string };
  command: string[] | string;
  working_dir?: string;
  volumes?: (string | { type?: string; source?: string; target: string })[];
  ports?: (string | number | { target: number; published?: string | number; host_ip?: string })[];
  expose?: (string | number)[];
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test: string[] | string };
}

const compose = parse(read(join(ROOT, 'docker-compose.yml')), { uniqueKeys: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const pkg = JSON.parse(read(join(ROOT, 'package.json'))) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
const BIN_COMMANDS = binCommands(join(ROOT, 'bin/attestgate.js'));

interface Built {
  readonly name: string;
  readonly service: Service;
  readonly context: string;
  readonly dockerfile: string;
  readonly stages: Stage[];
  readonly final: Stage;
  readonly map: [string, string][];
  readonly argv: string[];
  readonly subcommand: string;
  /** Arguments after the subcommand. */
  readonly args: string[];
}

function built(name: string): Built {
  const service = compose.services[name];
  if (service === undefined) throw new Error(`docker-compose.yml has no service ${name}`);
  const context = resolve(ROOT, service.build.context);
  const dockerfile = resolve(context, service.build.dockerfile);
  const stages = readDockerfile(dockerfile);
  const final = stages.at(-1)!;
  const argv = typeof service.command === 'string' ? words(service.command) : service.command.map(String);
  return { name, service, context, dockerfile, stages, final, map: copyMap(final, context), argv, subcommand: argv[2] ?? '', args: argv.slice(3) };
}

function mountOf(s: Service, target: string): string | undefined {
  for (const v of s.volumes ?? []) {
    if (typeof v === 'string') {
      const [src, dst] = v.split(':');
      if (dst === target) return src;
    } else if (v.target === target) {
      return v.source;
    }
  }
  return undefined;
}

function portsOf(s: Service): { host: number | undefined; container: number }[] {
  return (s.ports ?? []).map((p) => {
    if (typeof p === 'object') return { host: p.published === undefined ? undefined : Number(p.published), container: p.target };
    const parts = String(p).replace(/\/(tcp|udp)$/, '').split(':');
    const container = Number(parts.at(-1));
    return { host: parts.length >= 2 ? Number(parts.at(-2)) : undefined, container };
  });
}

/** The URL a `node -e fetch(...)` healthcheck asks. */
function healthUrl(s: Service): URL {
  const t = s.healthcheck?.test;
  expect(Array.isArray(t), 'healthcheck.test is an exec-form list').toBe(true);
  const test = t as string[];
  expect(test.slice(0, 3), 'healthcheck runs node (the image has no curl)').toEqual(['CMD', 'node', '-e']);
  const m = /fetch\('([^']+)'\)/.exec(test[3] ?? '');
  expect(m, 'healthcheck fetches a URL').not.toBeNull();
  return new URL(m![1]!);
}

const enclave = built('enclave');
const gateway = built('gateway');
const services = [enclave, gateway];

describe('docker-compose.yml', () => {
  it('has the two services, each built from a Dockerfile in the repository', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['enclave', 'gateway']);
    for (const b of services) {
      expect(isDir(b.context), `${b.name}: build context`).toBe(true);
      expect(isFile(b.dockerfile), `${b.name}: ${relative(ROOT, b.dockerfile)}`).toBe(true);
    }
  });

  it('runs bin/attestgate.js with a subcommand it knows, in the image and in compose', () => {
    expect([...BIN_COMMANDS.keys()]).toEqual(expect.arrayContaining(['enclave', 'gateway', 'keys']));
    for (const b of services) {
      expect(b.subcommand).toBe(b.name);
      for (const argv of [b.argv, b.final.cmd ?? []]) {
        expect(argv[0], `${b.name}: runs node`).toBe('node');
        const script = containerToRepo(b.map, posix.resolve(b.service.working_dir ?? b.final.workdir, argv[1] ?? ''));
        expect(script, `${b.name}: ${argv[1]} is copied into the image`).toBe(join(ROOT, 'bin/attestgate.js'));
        expect(BIN_COMMANDS.has(argv[2] ?? ''), `${b.name}: bin/attestgate.js knows "${argv[2]}"`).toBe(true);
      }
      // The image runs the same thing on its own (docker run) as in compose.
      expect(b.final.cmd).toEqual(b.argv);
    }
  });

  it('shares one named volume at /data: the enclave writes the simulated PKI there, the gateway reads its roots', () => {
    const vol = mountOf(enclave.service, '/data');
    expect(vol).toBeDefined();
    expect(vol!.startsWith('/') || vol!.startsWith('.'), 'a named volume, not a bind mount').toBe(false);
    expect(Object.keys(compose.volumes ?? {})).toContain(vol);
    expect(mountOf(gateway.service, '/data')).toBe(vol);
    expect(parseEnclaveArgs(enclave.args, {}).dataDir).toBe('/data');
    // Owned by the unprivileged user in both images, so a fresh volume starts out writable.
    for (const b of services) expect(b.final.runs.some((r) => /mkdir -p \/data\b.*chown node:node \/data/.test(r)), `${b.name}: /data owned by node`).toBe(true);
    // The simulated PKI is written mode 0700: the gateway reads its roots only as the same user.
    expect(gateway.final.user).toBe(enclave.final.user);
  });

  it('starts the gateway only once the enclave answers its readiness check', () => {
    const o = parseEnclaveArgs(enclave.args, {});
    const url = healthUrl(enclave.service);
    expect(url.pathname).toBe('/v2/health/ready');
    expect(Number(url.port)).toBe(o.port);
    expect(gateway.service.depends_on).toEqual({ enclave: { condition: 'service_healthy' } });
  });
});

describe('the enclave service', () => {
  it('parses as the enclave CLI parses it, listening for the compose network, with the shipped models', () => {
    const o = parseEnclaveArgs(enclave.args, {});
    expect(o.tee.startsWith('sim-'), 'the simulated TEE (the demo policy allows only it)').toBe(true);
    expect(o.host).toBe('0.0.0.0');
    const models = containerToRepo(enclave.map, o.modelDir);
    expect(models, `${o.modelDir} is copied into the image`).toBe(join(ROOT, 'models'));
    expect(isFile(join(models!, 'manifest.json'))).toBe(true);
    expect(enclave.service.ports ?? [], 'the enclave is not published on the host').toEqual([]);
    expect((enclave.service.expose ?? []).map(Number)).toEqual([o.port]);
  });
});

describe('the gateway service and config/compose.yaml', () => {
  const { values } = parseArgs({ args: gateway.args, options: { config: { type: 'string' } }, strict: true, allowPositionals: false });
  const configPath = containerToRepo(gateway.map, posix.resolve(gateway.final.workdir, values.config ?? ''));
  // loadConfig only reads the file (parseConfig does no I/O): /data is not created here.
  const config = loadConfig({ file: configPath ?? '', env: {}, cwd: ROOT });

  it('names a config file that is in the image and loads', () => {
    expect(configPath).toBe(join(ROOT, 'config/compose.yaml'));
    expect(config.data_dir).toBe('/data');
    expect(config.source.file).toBe(configPath);
  });

  it('names a policy that is in the image, parses, and admits the simulated enclave', () => {
    expect(config.policy).not.toBeNull();
    const policyPath = config.policy!.startsWith(`${ROOT}${sep}`) ? config.policy! : containerToRepo(gateway.map, config.policy!);
    expect(policyPath).toBeDefined();
    expect(inImage(gateway.map, policyPath!), `${relative(ROOT, policyPath!)} is copied into the gateway image`).toBe(true);
    const policy = parsePolicyText(read(policyPath!), policyPath!.endsWith('.json') ? 'json' : 'yaml');
    const tee = parseEnclaveArgs(enclave.args, {}).tee.replace(/^sim-/, '');
    expect(policy.tee).toContain(tee);
    expect(policy.allowSimulated).toBe(true);
    expect(config.trust.simulated_roots).toBe(true);
  });

  it('listens where compose publishes it and reaches the enclave where it listens', () => {
    expect(config.listen.host).toBe('0.0.0.0');
    const ports = portsOf(gateway.service);
    expect(ports).toHaveLength(1);
    expect(ports[0]!.container).toBe(config.listen.port);
    expect(ports[0]!.host).toBe(config.listen.port);
    expect(Number(healthUrl(gateway.service).port)).toBe(config.listen.port);
    expect(config.backends).toHaveLength(1);
    const backend = new URL(config.backends[0]!.url);
    expect(backend.hostname).toBe('enclave');
    expect(Number(backend.port)).toBe(parseEnclaveArgs(enclave.args, {}).port);
  });
});

describe.each(services.map((b) => [b.name, b] as const))('the %s image', (_name, b) => {
  it('copies only sources that exist, and the build context lets them in', () => {
    const stageNames = b.stages.map((s) => s.name);
    const ignoreFile = `${b.dockerfile}.dockerignore`;
    const allowed = isFile(ignoreFile) ? read(ignoreFile).split('\n').filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, '')) : undefined;
    if (allowed !== undefined) expect(read(ignoreFile).split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'))[0], 'an allow-list').toBe('*');
    for (const s of b.stages) {
      for (const c of s.copies) {
        if (c.from !== undefined) {
          expect(stageNames, `COPY --from=${c.from}`).toContain(c.from);
          continue;
        }
        for (const src of c.sources) {
          expect(existsSync(resolve(b.context, src)), `COPY ${src}`).toBe(true);
          if (allowed !== undefined) expect(allowed.some((a) => src === a || src.startsWith(`${a}/`)), `${basename(ignoreFile)} lets ${src} in`).toBe(true);
        }
      }
    }
  });

  it('installs production dependencies with the repository .npmrc, builds native addons in a build stage, and runs unprivileged', () => {
    for (const s of b.stages) expect(s.image).toBe('node:20-bookworm-slim');
    const deps = b.stages.find((s) => s.runs.some((r) => /\bnpm ci\b/.test(r)));
    expect(deps).toBeDefined();
    expect(deps).not.toBe(b.final);
    expect(deps!.runs.find((r) => /\bnpm ci\b/.test(r))).toMatch(/--omit=dev/);
    expect(deps!.copies.flatMap((c) => c.sources)).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', '.npmrc']));
    expect(deps!.runs.some((r) => /apt-get install/.test(r) && ['python3', 'make', 'g++'].every((p) => r.includes(` ${p}`)))).toBe(true);
    expect(b.final.copies.some((c) => c.from === deps!.name && c.sources.includes('/app/node_modules'))).toBe(true);
    expect(b.final.user).toBeDefined();
    expect(['root', '0'].includes(b.final.user!)).toBe(false);
  });

  it('contains every file its command imports, and every package it imports is a production dependency left in the image', () => {
    const entry = BIN_COMMANDS.get(b.subcommand);
    expect(entry).toBeDefined();
    const bin = join(ROOT, 'bin/attestgate.js');
    const { files, packages } = importGraph([bin, entry!], bin);
    const missing = [...files].filter((f) => !inImage(b.map, f)).map((f) => relative(ROOT, f));
    expect(missing, 'files the command imports that the image does not copy').toEqual([]);
    const removed = new Set(b.stages.flatMap((s) => s.runs.flatMap((r) => [...r.matchAll(/rm -rf ((?:node_modules\/[\w@./-]+\s*)+)/g)].flatMap((m) => m[1]!.trim().split(/\s+/).map((p) => p.replace(/^node_modules\//, ''))))));
    for (const p of packages) {
      expect(Object.keys(pkg.dependencies), `${p} is a dependency, not a devDependency (npm ci --omit=dev)`).toContain(p);
      expect(removed.has(p), `${p} is imported but removed from the image`).toBe(false);
    }
    expect(packages).toContain('tsx');
  });
});

describe('the gateway image and the pages', () => {
  it('holds the pages\' sources and everything they import, and builds their bundle at image build time', () => {
    // web/*.ts are bundled, not imported: follow them as entries of their own.
    const web = readdirSync(join(ROOT, 'web')).filter((f) => /\.(ts|html|css)$/.test(f)).map((f) => join(ROOT, 'web', f));
    expect(web.length).toBeGreaterThanOrEqual(5);
    const { files, packages } = importGraph([...web.filter((f) => f.endsWith('.ts')), join(ROOT, 'scripts/build-web.ts')], '');
    for (const f of web) files.add(f);
    const missing = [...files].filter((f) => !inImage(gateway.map, f)).map((f) => relative(ROOT, f));
    expect(missing, 'files the web bundle needs that the gateway image does not copy').toEqual([]);
    for (const p of packages) expect(Object.keys(pkg.dependencies), `${p} is a production dependency`).toContain(p);
    expect(packages).toContain('esbuild');
    expect(gateway.final.runs.some((r) => /scripts\/build-web\.ts/.test(r)), 'a RUN that builds the bundle').toBe(true);
    const ignore = read(`${gateway.dockerfile}.dockerignore`).split('\n');
    expect(ignore, 'a bundle built on the host stays out of the build context').toContain('web/dist');
  });
});
