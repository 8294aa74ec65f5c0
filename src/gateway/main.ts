/**
 * Commands that run the gateway (kept apart from src/cli, which must stay free of the gateway and
 * SQLite so the client verifiers can be published on their own):
 *   attestgate start            the demo: one simulated enclave (a separate process) + the gateway
 *   attestgate gateway          the gateway from a configuration file and the environment
 *   attestgate keys ...         API keys in the gateway's store
 *   attestgate log export ...   a copy of the transparency log for auditors (src/audit/export.ts)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LOG_USAGE, logCommand } from '../audit/export.ts';
import { runKeysCommand } from '../cli/keys.ts';
import { loadConfig } from '../config/load.ts';
import { parseConfig, type Config } from '../config/schema.ts';
import { AppError } from '../errors.ts';
import { createLogger, type Logger } from '../obs/log.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import { startGateway, type RunningGateway } from './server.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const GATEWAY_USAGE = `usage:
  attestgate start [--tee sim-tdx|sim-sgx|sim-sev-snp|sim-nitro]
      the demo: a simulated enclave and the gateway, on loopback (PORT, ATTESTGATE_DATA_DIR)
  attestgate gateway [--config <file>]
      the gateway from a configuration file (ATTESTGATE_CONFIG) and the environment
  attestgate keys create <tenant> | list | revoke <id> [--config <file>] [--json]
${LOG_USAGE}`;

function waitSignal(): Promise<void> {
  return new Promise((res) => {
    const stop = (): void => {
      res();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/** Spawn `attestgate enclave` and resolve with its URL once it listens; its log lines pass through. */
export function spawnEnclave(args: readonly string[], log: Logger, onLine: (line: string) => void = (l) => void process.stdout.write(`${l}\n`)): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/attestgate.js'), 'enclave', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((res, rej) => {
    let buf = '';
    let done = false;
    const timer = setTimeout(() => {
      if (!done) {
        done = true;
        child.kill('SIGKILL');
        rej(new Error('the enclave did not start within 60 s'));
      }
    }, 60_000);
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        onLine(line);
        const m = /"event":"listening","url":"([^"]+)"/.exec(line);
        if (m !== null && !done) {
          done = true;
          clearTimeout(timer);
          res({ child, url: m[1] ?? '' });
        }
      }
    });
    child.stderr.on('data', (c: Buffer) => {
      log.warn('enclave stderr', { text: c.toString().slice(0, 2000) });
    });
    child.on('exit', (code) => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        rej(new Error(`the enclave exited with status ${String(code)} before listening`));
      }
    });
  });
}

export interface DemoOptions {
  readonly tee: string;
  readonly port: number;
  readonly enclavePort: number;
  readonly dataDir: string;
  readonly log: Logger;
}

export interface RunningDemo {
  readonly gateway: RunningGateway;
  readonly enclave: ChildProcess;
  readonly enclaveUrl: string;
  close(): Promise<void>;
}

export async function startDemo(o: DemoOptions): Promise<RunningDemo> {
  const { child, url } = await spawnEnclave(['--tee', o.tee, '--port', String(o.enclavePort), '--data-dir', o.dataDir, '--models', join(ROOT, 'models')], o.log);
  let config: Config;
  try {
    config = parseConfig(
      {
        listen: { host: '127.0.0.1', port: o.port },
        data_dir: o.dataDir,
        demo: true,
        policy: join(ROOT, 'config/demo-policy.yaml'),
        trust: { simulated_roots: true },
        backends: [{ name: 'enclave-1', url }],
      },
      { baseDir: process.cwd() },
    );
  } catch (e: unknown) {
    child.kill('SIGTERM');
    throw e;
  }
  let gateway: RunningGateway;
  try {
    gateway = await startGateway(config, { log: o.log });
  } catch (e: unknown) {
    child.kill('SIGTERM');
    throw e;
  }
  return {
    gateway,
    enclave: child,
    enclaveUrl: url,
    async close() {
      await gateway.close();
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    },
  };
}

function demoBanner(g: RunningGateway): string {
  const body = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] });
  return [
    '',
    `attestgate demo: gateway on ${g.url}, one SIMULATED enclave admitted (simulated evidence proves nothing about hardware).`,
    'Try:',
    `  curl -s -D - ${g.url}/v2/models/iris/infer -H 'content-type: application/json' -d '${body}'`,
    `  curl -s ${g.url}/v2/models/iris/infer -H 'accept: application/jose+json' -d '${body}' > answer.json`,
    `  curl -s ${g.url}/v1/log/checkpoint`,
    `  curl -s ${g.url}/.well-known/jwks.json`,
    '',
  ].join('\n');
}

function int(v: string | undefined, name: string, def: number): number {
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new AppError('ERR_CONFIG_INVALID', `${name} must be a port number, got "${v}"`);
  return n;
}

export async function gatewayMain(command: string, argv: readonly string[]): Promise<number> {
  // The log's files, not the gateway: its own arguments, no configuration or logger.
  if (command === 'log') return logCommand(argv, { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s) });
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: { config: { type: 'string' }, tee: { type: 'string' }, json: { type: 'boolean' } }, strict: true, allowPositionals: command === 'keys' }));
  } catch (e: unknown) {
    process.stderr.write(`attestgate: ${(e as Error).message}\n${GATEWAY_USAGE}`);
    return 2;
  }
  const log = createLogger({ level: process.env['ATTESTGATE_LOG_LEVEL'] === 'debug' ? 'debug' : 'info', base: { component: 'gateway' } });
  try {
    if (command === 'start') {
      const demo = await startDemo({
        tee: values.tee ?? process.env['ATTESTGATE_DEMO_TEE'] ?? 'sim-tdx',
        port: int(process.env['PORT'], 'PORT', 8080),
        enclavePort: int(process.env['ENCLAVE_PORT'], 'ENCLAVE_PORT', 0),
        dataDir: resolve(process.env['ATTESTGATE_DATA_DIR'] ?? 'data'),
        log,
      });
      process.stdout.write(`${demoBanner(demo.gateway)}\n`);
      const enclaveGone = new Promise<void>((res) => demo.enclave.once('exit', () => { res(); }));
      await Promise.race([waitSignal(), enclaveGone]);
      if (demo.enclave.exitCode !== null) log.error('the enclave exited; stopping the demo', { status: demo.enclave.exitCode });
      await demo.close();
      return demo.enclave.exitCode === null || demo.enclave.exitCode === 0 ? 0 : 1;
    }
    const config = loadConfig({ ...(values.config === undefined ? {} : { file: values.config }), env: process.env, cwd: process.cwd() });
    if (command === 'keys') {
      const store = openSqliteStore({ dataDir: config.data_dir });
      try {
        const args = argv.filter((a, i) => a !== '--config' && argv[i - 1] !== '--config');
        return await runKeysCommand(args, store, { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s) });
      } finally {
        await store.close();
      }
    }
    const g = await startGateway(config, { log });
    await waitSignal();
    await g.close();
    return 0;
  } catch (e: unknown) {
    log.error('cannot start', { code: (e as { code?: unknown }).code ?? 'ERR_START', error: e instanceof Error ? e.message : String(e) });
    return AppError.is(e) && e.code === 'ERR_CONFIG_INVALID' ? 2 : 1;
  }
}
