import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFIG_ENV_VARS, loadConfig } from '../../../../src/config/load.ts';
import { ConfigError, DEFAULTS, type Config } from '../../../../src/config/schema.ts';
import { AppError } from '../../../../src/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'attestgate-config-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
function file(ext: string, text: string | Uint8Array): string {
  const p = join(dir, `c${n++}${ext}`);
  writeFileSync(p, text);
  return p;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e: unknown) {
    if (e instanceof ConfigError) return e;
    throw new Error(`not a ConfigError: ${String(e)}`);
  }
  throw new Error('did not throw');
}

const yamlConfig = (text: string, env: Record<string, string> = {}): Config => loadConfig({ file: file('.yaml', text), env, cwd: '/somewhere' });
const yamlIssues = (text: string, env: Record<string, string> = {}): string[] =>
  configError(() => yamlConfig(text, env)).issues.map((i) => `${i.path}: ${i.message}`);

describe('loadConfig: defaults and shape', () => {
  it('without a file gives the documented defaults, paths against cwd', () => {
    const c = loadConfig({ env: {}, cwd: '/srv/ag' });
    expect(c).toEqual({
      listen: { host: '127.0.0.1', port: 8080 },
      data_dir: '/srv/ag/data',
      demo: false,
      policy: null,
      trust: { simulated_roots: false, extra_roots: [] },
      backends: [],
      attestation: { lifetime_s: 3600, reattest_before_s: 300, collateral: { mode: 'offline', bundle_dir: '/srv/ag/data/collateral' } },
      limits: { max_body_bytes: 1_048_576, backend_timeout_ms: 30_000, rate: { per_second: 50, burst: 100 } },
      signing: { key_file: '/srv/ag/data/gateway-key.pem', key_file_is_default: true, alg: 'ES256' },
      log: { level: 'info' },
      transparency_log: { origin: 'attestgate.invalid/log', checkpoint_interval_s: 5 },
      source: { file: null, env: [] },
    });
  });

  it('reads the transparency log settings, from the file and ATTESTGATE_LOG_ORIGIN, and refuses bad ones', () => {
    const p = file('.yaml', 'transparency_log: { origin: gw.example.com/log, checkpoint_interval_s: 0.5 }\n');
    expect(loadConfig({ file: p, env: {}, cwd: '/' }).transparency_log).toEqual({ origin: 'gw.example.com/log', checkpoint_interval_s: 0.5 });
    expect(loadConfig({ file: p, env: { ATTESTGATE_LOG_ORIGIN: 'other.example/log' }, cwd: '/' }).transparency_log.origin).toBe('other.example/log');
    for (const bad of ['has space', 'a+b', '']) {
      const q = file('.json', JSON.stringify({ transparency_log: { origin: bad } }));
      expect(() => loadConfig({ file: q, env: {}, cwd: '/' }), bad).toThrow(/transparency_log\.origin/);
    }
    const q = file('.json', JSON.stringify({ transparency_log: { checkpoint_interval_s: -1, every: 3 } }));
    expect(() => loadConfig({ file: q, env: {}, cwd: '/' })).toThrow(/transparency_log\.checkpoint_interval_s[\s\S]*transparency_log\.every|transparency_log\.every[\s\S]*transparency_log\.checkpoint_interval_s/);
  });

  it('reads the full YAML example, resolving paths against the file directory', () => {
    const p = file(
      '.yaml',
      `
listen: { host: 0.0.0.0, port: 9000 }
data_dir: ./var
demo: true
policy: ./policy.yaml
trust: { simulated_roots: true, extra_roots: [roots/a.pem, /etc/b.pem] }
backends:
  - { name: enclave-1, url: "http://127.0.0.1:9001/", models: [iris], timeout_ms: 10000 }
  - { name: enclave-2, url: https://e2.example:8443/base }
attestation:
  lifetime_s: 7200
  reattest_before_s: 600
  collateral: { mode: pcs, pccs_url: "https://pccs.local:8081", bundle_dir: bundle }
limits: { max_body_bytes: 2048, backend_timeout_ms: 5000, rate: { per_second: 0.5, burst: 3 } }
signing: { key_file: keys/gw.pem, alg: EdDSA }
log: { level: debug }
transparency_log: { origin: gw.example.com/log, checkpoint_interval_s: 30 }
`,
    );
    const c = loadConfig({ file: p, env: {}, cwd: '/elsewhere' });
    expect(c).toEqual({
      listen: { host: '0.0.0.0', port: 9000 },
      data_dir: join(dir, 'var'),
      demo: true,
      policy: join(dir, 'policy.yaml'),
      trust: { simulated_roots: true, extra_roots: [join(dir, 'roots/a.pem'), '/etc/b.pem'] },
      backends: [
        { name: 'enclave-1', url: 'http://127.0.0.1:9001', models: ['iris'], timeout_ms: 10_000 },
        { name: 'enclave-2', url: 'https://e2.example:8443/base', models: null, timeout_ms: 5000 },
      ],
      attestation: {
        lifetime_s: 7200,
        reattest_before_s: 600,
        collateral: {
          mode: 'pcs',
          pcs_url: 'https://api.trustedservices.intel.com',
          pccs_url: 'https://pccs.local:8081',
          kds_url: 'https://kdsintf.amd.com',
          bundle_dir: join(dir, 'bundle'),
        },
      },
      limits: { max_body_bytes: 2048, backend_timeout_ms: 5000, rate: { per_second: 0.5, burst: 3 } },
      signing: { key_file: join(dir, 'keys/gw.pem'), key_file_is_default: false, alg: 'EdDSA' },
      log: { level: 'debug' },
      transparency_log: { origin: 'gw.example.com/log', checkpoint_interval_s: 30 },
      source: { file: p, env: [] },
    });
  });

  it('reads JSON', () => {
    const c = loadConfig({ file: file('.json', JSON.stringify({ listen: { port: 0 }, backends: [{ name: 'a', url: 'http://a:1' }] })), env: {}, cwd: '/' });
    expect(c.listen.port).toBe(0);
    expect(c.backends[0]).toEqual({ name: 'a', url: 'http://a:1', models: null, timeout_ms: 30_000 });
  });

  it('accepts an empty YAML file as all defaults', () => {
    expect(yamlConfig('').listen.port).toBe(8080);
    expect(yamlConfig('# nothing here\n').demo).toBe(false);
  });

  it('returns a deeply frozen Config', () => {
    const c = yamlConfig('backends: [{ name: a, url: "http://a", models: [m] }]');
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.listen)).toBe(true);
    expect(Object.isFrozen(c.backends)).toBe(true);
    expect(Object.isFrozen(c.backends[0]!.models)).toBe(true);
    expect(() => {
      (c.listen as { port: number }).port = 1;
    }).toThrow(TypeError);
  });
});

describe('loadConfig: the closed schema', () => {
  it('names the path of an unknown key, with a suggestion when one is close', () => {
    expect(yamlIssues('backends: [{ name: a, url: "http://a" }, { name: b, urll: "http://b" }]')).toEqual([
      'backends[1].urll: unknown key (did you mean url?)',
      'backends[1].url: is required',
    ]);
    expect(yamlIssues('trust: { simulated_root: true }')).toEqual(['trust.simulated_root: unknown key (did you mean simulated_roots?)']);
    expect(yamlIssues('frobnicate: 1')).toEqual(['frobnicate: unknown key']);
    expect(yamlIssues('limits: { rate: { per_second: 1, extra: 2 } }')).toEqual(['limits.rate.extra: unknown key']);
    expect(yamlIssues('attestation: { collateral: { mode: pcs, pcs: x } }')).toEqual(['attestation.collateral.pcs: unknown key (did you mean pcs_url?)']);
  });

  it('reports a __proto__ key instead of following it', () => {
    const p = file('.json', '{"__proto__": {"demo": true}}');
    expect(configError(() => loadConfig({ file: p, env: {}, cwd: '/' })).issues).toEqual([{ path: '__proto__', message: 'unknown key' }]);
  });

  const cases: readonly { name: string; yaml: string; issue: string }[] = [
    { name: 'port out of range', yaml: 'listen: { port: 70000 }', issue: 'listen.port: must be an integer in [0, 65535], got 70000' },
    { name: 'port as string', yaml: 'listen: { port: "80" }', issue: 'listen.port: must be an integer in [0, 65535], got string "80"' },
    { name: 'port fractional', yaml: 'listen: { port: 80.5 }', issue: 'listen.port: must be an integer' },
    { name: 'host with a space', yaml: 'listen: { host: "bad host" }', issue: 'listen.host: must be an IP address or a host name' },
    { name: 'host empty', yaml: 'listen: { host: "" }', issue: 'listen.host: must be a non-empty string' },
    { name: 'YAML 1.1 boolean', yaml: 'demo: yes', issue: 'demo: must be true or false, got string "yes"' },
    { name: 'section not a mapping', yaml: 'limits: 5', issue: 'limits: must be a mapping, got number 5' },
    { name: 'backends not a list', yaml: 'backends: { name: a }', issue: 'backends: must be a list, got object' },
    { name: 'backend not a mapping', yaml: 'backends: [a]', issue: 'backends[0]: must be a mapping, got string "a"' },
    { name: 'backend name', yaml: 'backends: [{ name: "a b", url: "http://a" }]', issue: 'backends[0].name: must match' },
    { name: 'duplicate names', yaml: 'backends: [{ name: a, url: "http://a" }, { name: a, url: "http://b" }]', issue: 'backends[1].name: duplicate name "a"' },
    { name: 'duplicate urls', yaml: 'backends: [{ name: a, url: "http://a/" }, { name: b, url: "http://a" }]', issue: 'backends[1].url: duplicate url "http://a"' },
    { name: 'ftp url', yaml: 'backends: [{ name: a, url: "ftp://a" }]', issue: 'backends[0].url: must use http or https, got ftp' },
    { name: 'relative url', yaml: 'backends: [{ name: a, url: "/x" }]', issue: 'backends[0].url: must be an absolute http(s) URL' },
    { name: 'url with credentials', yaml: 'backends: [{ name: a, url: "http://u:p@a" }]', issue: 'backends[0].url: must not contain credentials' },
    { name: 'url with query', yaml: 'backends: [{ name: a, url: "http://a/?x=1" }]', issue: 'backends[0].url: must not contain a query or fragment' },
    { name: 'empty models', yaml: 'backends: [{ name: a, url: "http://a", models: [] }]', issue: 'backends[0].models: must not be empty' },
    { name: 'duplicate models', yaml: 'backends: [{ name: a, url: "http://a", models: [m, m] }]', issue: 'backends[0].models[1].model: duplicate model "m"' },
    { name: 'bad model name', yaml: 'backends: [{ name: a, url: "http://a", models: ["../x"] }]', issue: 'backends[0].models[0]: must match' },
    { name: 'timeout 0', yaml: 'backends: [{ name: a, url: "http://a", timeout_ms: 0 }]', issue: 'backends[0].timeout_ms: must be an integer in [1, 600000], got 0' },
    { name: 'reattest >= lifetime', yaml: 'attestation: { lifetime_s: 300, reattest_before_s: 300 }', issue: 'attestation.reattest_before_s: must be less than attestation.lifetime_s (300), got 300' },
    { name: 'lifetime too short', yaml: 'attestation: { lifetime_s: 10 }', issue: 'attestation.lifetime_s: must be an integer in [60, 604800], got 10' },
    { name: 'unknown mode', yaml: 'attestation: { collateral: { mode: online } }', issue: 'attestation.collateral.mode: must be one of offline, pcs, got string "online"' },
    { name: 'pcs_url offline', yaml: 'attestation: { collateral: { pcs_url: "https://x" } }', issue: 'attestation.collateral.pcs_url: only allowed with mode: pcs' },
    { name: 'kds_url not a URL', yaml: 'attestation: { collateral: { mode: pcs, kds_url: "kds" } }', issue: 'attestation.collateral.kds_url: must be an absolute http(s) URL' },
    { name: 'rate 0', yaml: 'limits: { rate: { per_second: 0 } }', issue: 'limits.rate.per_second: must be a number in [0.001, 1000000], got 0' },
    { name: 'burst fractional', yaml: 'limits: { rate: { burst: 1.5 } }', issue: 'limits.rate.burst: must be an integer' },
    { name: 'max body 0', yaml: 'limits: { max_body_bytes: 0 }', issue: 'limits.max_body_bytes: must be an integer in [1, 268435456], got 0' },
    { name: 'alg RS256', yaml: 'signing: { alg: RS256 }', issue: 'signing.alg: must be one of ES256, EdDSA, got string "RS256"' },
    { name: 'alg none', yaml: 'signing: { alg: none }', issue: 'signing.alg: must be one of ES256, EdDSA' },
    { name: 'level trace', yaml: 'log: { level: trace }', issue: 'log.level: must be one of debug, info, warn, error, got string "trace"' },
    { name: 'extra_roots scalar', yaml: 'trust: { extra_roots: a.pem }', issue: 'trust.extra_roots: must be a list, got string "a.pem"' },
    { name: 'extra_roots item', yaml: 'trust: { extra_roots: [1] }', issue: 'trust.extra_roots[0]: must be a non-empty string, got number 1' },
    { name: 'data_dir empty', yaml: 'data_dir: ""', issue: 'data_dir: must be a non-empty string' },
    { name: 'policy number', yaml: 'policy: 3', issue: 'policy: must be a non-empty string, got number 3' },
    { name: 'NaN-ish .nan', yaml: 'limits: { rate: { per_second: .nan } }', issue: 'limits.rate.per_second: must be a number' },
  ];
  it.each(cases)('$name', ({ yaml, issue }) => {
    const e = configError(() => yamlConfig(yaml));
    expect(e.code).toBe('ERR_CONFIG_INVALID');
    expect(e).toBeInstanceOf(AppError);
    expect(e.httpStatus).toBe(500);
    expect(e.issues.map((i) => `${i.path}: ${i.message}`).join('\n')).toContain(issue);
    expect(e.message).toContain(issue);
  });

  it('reports every problem at once', () => {
    expect(yamlIssues('listen: { port: -1 }\nlog: { level: loud }\nbogus: 1')).toEqual([
      'bogus: unknown key',
      'listen.port: must be an integer in [0, 65535], got -1',
      'log.level: must be one of debug, info, warn, error, got string "loud"',
    ]);
  });

  it('rejects a top level that is not a mapping', () => {
    expect(configError(() => yamlConfig('- a\n- b')).issues).toEqual([{ path: '(root)', message: 'must be a mapping, got a list' }]);
    expect(configError(() => loadConfig({ file: file('.json', '42'), env: {}, cwd: '/' })).issues[0]!.message).toBe('must be a mapping, got number');
  });
});

describe('loadConfig: the file', () => {
  const fileIssue = (p: string): string => {
    const e = configError(() => loadConfig({ file: p, env: {}, cwd: '/' }));
    expect(e.issues[0]!.path).toBe('(file)');
    expect(e.message).toContain(p);
    return e.issues[0]!.message;
  };

  it('names a missing file', () => {
    expect(fileIssue(join(dir, 'missing.yaml'))).toBe('cannot read the file (ENOENT)');
  });
  it('refuses an unknown extension', () => {
    expect(fileIssue(file('.toml', 'a = 1'))).toBe('unsupported extension ".toml": use .json, .yaml or .yml');
  });
  it('refuses invalid JSON', () => {
    expect(fileIssue(file('.json', '{"listen": '))).toMatch(/^not valid JSON: /);
  });
  it('refuses duplicate YAML keys', () => {
    expect(fileIssue(file('.yml', 'demo: true\ndemo: false\n'))).toMatch(/^YAML: .*unique/i);
  });
  it('refuses several YAML documents', () => {
    expect(fileIssue(file('.yaml', 'demo: true\n---\ndemo: false\n'))).toMatch(/^YAML: /);
  });
  it('refuses YAML syntax errors', () => {
    expect(fileIssue(file('.yaml', 'listen: { port: 1\n'))).toMatch(/^YAML: /);
  });
  it('refuses invalid UTF-8', () => {
    expect(fileIssue(file('.yaml', new Uint8Array([0x64, 0x65, 0x6d, 0x6f, 0x3a, 0x20, 0xff])))).toBe('not valid UTF-8');
  });
  it('refuses a huge file', () => {
    expect(fileIssue(file('.yaml', `# ${'x'.repeat(1_048_577)}\n`))).toBe('larger than 1048576 bytes');
  });
});

describe('loadConfig: environment overrides', () => {
  it('apply over the file, paths against cwd', () => {
    const p = file('.yaml', 'listen: { host: 10.0.0.1, port: 1 }\nlog: { level: warn }\n');
    const c = loadConfig({
      file: p,
      env: { PORT: '9999', HOST: '::1', ATTESTGATE_DATA_DIR: 'd', ATTESTGATE_POLICY: '/p.yaml', ATTESTGATE_LOG_LEVEL: 'debug', ATTESTGATE_DEMO: 'true' },
      cwd: '/run/x',
    });
    expect(c.listen).toEqual({ host: '::1', port: 9999 });
    expect(c.data_dir).toBe('/run/x/d');
    expect(c.signing.key_file).toBe('/run/x/d/gateway-key.pem');
    expect(c.policy).toBe('/p.yaml');
    expect(c.log.level).toBe('debug');
    expect(c.demo).toBe(true);
    expect(c.source).toEqual({ file: p, env: ['ATTESTGATE_DATA_DIR', 'ATTESTGATE_DEMO', 'ATTESTGATE_LOG_LEVEL', 'ATTESTGATE_POLICY', 'HOST', 'PORT'] });
  });

  it.each([
    ['1', true],
    ['YES', true],
    ['on', true],
    ['0', false],
    ['false', false],
    ['Off', false],
  ])('ATTESTGATE_DEMO=%s is %s', (v, want) => {
    expect(loadConfig({ env: { ATTESTGATE_DEMO: v }, cwd: '/' }).demo).toBe(want);
  });

  it('name the variable in an error', () => {
    const issues = (env: Record<string, string>): string[] => configError(() => loadConfig({ env, cwd: '/' })).issues.map((i) => `${i.path}: ${i.message}`);
    expect(issues({ PORT: 'http' })).toEqual(['listen.port (from PORT): must be an integer in [0, 65535], got string "http"']);
    expect(issues({ PORT: '99999' })).toEqual(['listen.port (from PORT): must be an integer in [0, 65535], got 99999']);
    expect(issues({ ATTESTGATE_DEMO: 'maybe' })).toEqual(['demo (from ATTESTGATE_DEMO): must be true or false, got string "maybe"']);
    expect(issues({ ATTESTGATE_LOG_LEVEL: 'verbose' })).toEqual(['log.level (from ATTESTGATE_LOG_LEVEL): must be one of debug, info, warn, error, got string "verbose"']);
  });

  it('treat empty variables as unset', () => {
    const c = loadConfig({ env: { PORT: '', ATTESTGATE_DEMO: '', ATTESTGATE_CONFIG: '' }, cwd: '/' });
    expect(c.listen.port).toBe(8080);
    expect(c.source.env).toEqual([]);
  });

  it('find the file through ATTESTGATE_CONFIG (relative to cwd), unless a file is given', () => {
    const a = file('.yaml', 'listen: { port: 1111 }');
    const b = file('.yaml', 'listen: { port: 2222 }');
    expect(loadConfig({ env: { ATTESTGATE_CONFIG: a.slice(dir.length + 1) }, cwd: dir }).listen.port).toBe(1111);
    expect(loadConfig({ file: b, env: { ATTESTGATE_CONFIG: a }, cwd: '/' }).listen.port).toBe(2222);
  });

  it('leave a malformed section to the schema', () => {
    expect(yamlIssues('listen: 8080', { PORT: '1' })).toEqual(['listen: must be a mapping, got number 8080']);
  });
});

describe('docs/configuration.md', () => {
  const doc = readFileSync(join(import.meta.dirname, '../../../../docs/configuration.md'), 'utf8');
  it('documents every key with a default', () => {
    for (const key of Object.keys(DEFAULTS)) expect(doc, key).toContain(`\`${key}\``);
  });
  it('documents every environment variable', () => {
    for (const v of CONFIG_ENV_VARS) expect(doc, v).toContain(`\`${v}\``);
  });
});
