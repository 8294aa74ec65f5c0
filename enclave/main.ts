/**
 * The enclave process: load and verify the models, make the signing key, pick the attester, and
 * serve (enclave/server.ts). Started by `attestgate enclave [options]` or directly with
 * `node --import tsx enclave/main.ts`. Prints one JSON line per event on stdout; never a key,
 * never a request body.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ATTESTER_KINDS, type Attester, type AttesterKind, type SimulatedAttesterKind } from './attesters/attester.ts';
import { createAttester } from './attesters/detect.ts';
import { generateEnclaveKey } from './keys.ts';
import { modelRuntime } from './runtime-adapter.ts';
import { loadManifest } from './runtime/manifest.ts';
import { ModelRegistry } from './runtime/registry.ts';
import { createEnclaveServer, type EnclaveServer } from './server.ts';
import { createSimulatedAttester } from './sim/index.ts';

export const ENCLAVE_USAGE = `usage: attestgate enclave [options]

  --tee <kind>            ${ATTESTER_KINDS.join(' | ')} (env ATTESTGATE_TEE; default sim-tdx)
  --host <addr>           listen address (default 127.0.0.1)
  --port <n>              listen port (env ENCLAVE_PORT; default 9001; 0 = any free port)
  --models <dir>          model directory with manifest.json (default ./models)
  --data-dir <dir>        where the simulated TEE keeps its PKI (env ATTESTGATE_DATA_DIR; default ./data)
  --threads <n>           onnxruntime intra-op threads (default 1)
  --max-body <bytes>      largest infer request (default 1048576)
  --measurement-seed <s>  simulated TEE only: seed of the simulated measurements
  --sim-debug             simulated TEE only: produce debug evidence (policies refuse it)
`;

export interface EnclaveOptions {
  readonly tee: AttesterKind;
  readonly host: string;
  readonly port: number;
  readonly modelDir: string;
  readonly dataDir: string;
  readonly threads: number;
  readonly maxBodyBytes: number;
  readonly measurementSeed?: string;
  readonly simDebug: boolean;
}

export class UsageError extends Error {}

function int(v: string | undefined, name: string, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${name} must be an integer from ${min} to ${max}, got "${v}"`);
  return n;
}

export function parseEnclaveArgs(argv: readonly string[], env: NodeJS.ProcessEnv): EnclaveOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        tee: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        models: { type: 'string' },
        'data-dir': { type: 'string' },
        threads: { type: 'string' },
        'max-body': { type: 'string' },
        'measurement-seed': { type: 'string' },
        'sim-debug': { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e: unknown) {
    throw new UsageError((e as Error).message);
  }
  const tee = values.tee ?? env['ATTESTGATE_TEE'] ?? 'sim-tdx';
  if (!(ATTESTER_KINDS as readonly string[]).includes(tee)) throw new UsageError(`--tee must be one of ${ATTESTER_KINDS.join(', ')}, got "${tee}"`);
  return {
    tee: tee as AttesterKind,
    host: values.host ?? '127.0.0.1',
    port: int(values.port ?? env['ENCLAVE_PORT'], '--port', 9001, 0, 65535),
    modelDir: resolve(values.models ?? 'models'),
    dataDir: resolve(values['data-dir'] ?? env['ATTESTGATE_DATA_DIR'] ?? 'data'),
    threads: int(values.threads, '--threads', 1, 1, 64),
    maxBodyBytes: int(values['max-body'], '--max-body', 1024 * 1024, 1024, 256 * 1024 * 1024),
    ...(values['measurement-seed'] === undefined ? {} : { measurementSeed: values['measurement-seed'] }),
    simDebug: values['sim-debug'] === true,
  };
}

function attesterFor(o: EnclaveOptions): Attester {
  if (o.tee.startsWith('sim-')) {
    return createSimulatedAttester(o.tee as SimulatedAttesterKind, {
      dataDir: o.dataDir,
      debug: o.simDebug,
      ...(o.measurementSeed === undefined ? {} : { measurementSeed: o.measurementSeed }),
    });
  }
  if (o.measurementSeed !== undefined || o.simDebug) throw new UsageError('--measurement-seed and --sim-debug apply to the simulated TEE only');
  return createAttester(o.tee);
}

export interface RunningEnclave {
  readonly url: string;
  readonly kid: string;
  readonly enclave: EnclaveServer;
  close(): Promise<void>;
}

export async function startEnclave(o: EnclaveOptions, log: (e: Record<string, unknown>) => void): Promise<RunningEnclave> {
  const registry = await ModelRegistry.fromManifest(await loadManifest(o.modelDir), { intraOpNumThreads: o.threads });
  const key = await generateEnclaveKey();
  const attester = attesterFor(o);
  if (attester.kind.startsWith('sim-')) {
    log({ event: 'warning', message: `SIMULATED TEE (${attester.kind}): evidence is signed by a simulated vendor PKI in ${o.dataDir}/sim-pki and proves nothing about hardware` });
  }
  const enclave = createEnclaveServer({ key, attester, runtime: modelRuntime(registry), maxBodyBytes: o.maxBodyBytes, log });
  await new Promise<void>((res, rej) => {
    enclave.server.once('error', rej);
    enclave.server.listen(o.port, o.host, () => {
      enclave.server.off('error', rej);
      res();
    });
  });
  const addr = enclave.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : o.port;
  const url = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;
  log({ event: 'listening', url, tee: attester.tee, attester: attester.kind, kid: key.kid, models: registry.digests() });
  return {
    url,
    kid: key.kid,
    enclave,
    async close() {
      await new Promise<void>((res) => enclave.server.close(() => { res(); }));
      enclave.server.closeAllConnections();
      await registry.release();
    },
  };
}

export async function enclaveMain(argv: readonly string[]): Promise<number> {
  let o: EnclaveOptions;
  try {
    o = parseEnclaveArgs(argv, process.env);
  } catch (e: unknown) {
    process.stderr.write(`${(e as Error).message}\n\n${ENCLAVE_USAGE}`);
    return 2;
  }
  const log = (e: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), component: 'enclave', ...e })}\n`);
  let running: RunningEnclave;
  try {
    running = await startEnclave(o, log);
  } catch (e: unknown) {
    log({ event: 'fatal', code: (e as { code?: unknown }).code ?? 'ERR_START', message: e instanceof Error ? e.message : String(e) });
    return 1;
  }
  await new Promise<void>((res) => {
    const stop = (): void => { res(); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await running.close();
  return 0;
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  process.exitCode = await enclaveMain(process.argv.slice(2));
}
