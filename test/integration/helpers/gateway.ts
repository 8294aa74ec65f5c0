/**
 * In-process gateways for the integration tests: a fresh temporary data directory each (with the
 * simulated roots copied in when the test trusts them), a configuration checked by parseConfig,
 * and a logger whose lines the test can read (refusals and evictions are logged with their ids).
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { SIMULATED_ROOT_FILES } from '../../../enclave/protocol.ts';
import { parseConfig } from '../../../src/config/schema.ts';
import { startGateway, type GatewayOptions, type RunningGateway } from '../../../src/gateway/server.ts';
import { createLogger } from '../../../src/obs/log.ts';
import { ROOT } from './enclave-process.ts';

export const DEMO_POLICY = join(ROOT, 'config/demo-policy.yaml');

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface TestGateway {
  readonly gw: RunningGateway;
  readonly url: string;
  readonly dataDir: string;
  readonly logs: LogLine[];
  close(): Promise<void>;
}

export interface GatewaySpec {
  readonly backends: readonly { name: string; url: string; models?: string[] }[];
  /** Copy the simulated roots of this directory into the gateway's data dir and trust them (default: trust). */
  readonly simRootsFrom: string;
  readonly trustSimulated?: boolean;
  readonly policy?: string;
  /** Extra raw configuration merged over the defaults (top-level keys). */
  readonly config?: Record<string, unknown>;
  readonly opts?: GatewayOptions;
}

/** The demo policy as a plain object (to write variants of it). */
export async function demoPolicy(): Promise<Record<string, unknown>> {
  return parseYaml(await readFile(DEMO_POLICY, 'utf8')) as Record<string, unknown>;
}

export async function writePolicy(dir: string, name: string, policy: Record<string, unknown>): Promise<string> {
  const path = join(dir, `${name}.json`);
  await writeFile(path, JSON.stringify(policy, null, 2));
  return path;
}

export async function startTestGateway(spec: GatewaySpec): Promise<TestGateway> {
  const dataDir = await mkdtemp(join(tmpdir(), 'attestgate-gw-'));
  if (spec.trustSimulated !== false) {
    for (const f of SIMULATED_ROOT_FILES) {
      await mkdir(dirname(join(dataDir, f)), { recursive: true });
      await copyFile(join(spec.simRootsFrom, f), join(dataDir, f));
    }
  }
  const config = parseConfig(
    {
      listen: { host: '127.0.0.1', port: 0 },
      data_dir: dataDir,
      demo: true,
      policy: spec.policy ?? DEMO_POLICY,
      trust: { simulated_roots: spec.trustSimulated !== false },
      backends: spec.backends.map((b) => ({ ...b, timeout_ms: 10_000 })),
      log: { level: 'debug' },
      ...spec.config,
    },
    { baseDir: dataDir },
  );
  const logs: LogLine[] = [];
  const log = createLogger({
    level: 'debug',
    base: { component: 'gateway' },
    sink: (line) => {
      logs.push(JSON.parse(line) as LogLine);
      if (process.env['ATTESTGATE_TEST_LOG'] === '1') process.stderr.write(`${line}\n`);
    },
  });
  let gw: RunningGateway;
  try {
    gw = await startGateway(config, { log, ...spec.opts });
  } catch (e: unknown) {
    await rm(dataDir, { recursive: true, force: true });
    throw e;
  }
  let closed = false;
  return {
    gw,
    url: gw.url,
    dataDir,
    logs,
    async close() {
      if (closed) return;
      closed = true;
      await gw.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
