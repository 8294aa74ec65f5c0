/**
 * Real enclave processes for the gateway's integration tests: `attestgate enclave` spawned with
 * `process.execPath bin/attestgate.js enclave ...`, awaited on its `{"event":"listening"}` line.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

export const ROOT = join(import.meta.dirname, '../../..');
export const BIN = join(ROOT, 'bin/attestgate.js');

export type SimTee = 'sim-sgx' | 'sim-tdx' | 'sim-sev-snp' | 'sim-nitro';

export interface EnclaveSpec {
  readonly tee: SimTee;
  /** Shared data directory holding the simulated PKI (`<dir>/sim-pki`). */
  readonly dataDir: string;
  /** 0 (the default): any free port. */
  readonly port?: number;
  readonly measurementSeed?: string;
  readonly debug?: boolean;
}

export interface EnclaveProcess {
  readonly spec: EnclaveSpec;
  readonly url: string;
  readonly port: number;
  /** The enclave key's thumbprint, as printed on the listening line. */
  readonly kid: string;
  readonly pid: number;
  /** Everything the process printed (stdout and stderr), for failure messages. */
  output(): string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  readonly exited: Promise<number | NodeJS.Signals | null>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function spawnEnclave(spec: EnclaveSpec, timeoutMs = 30_000): Promise<EnclaveProcess> {
  const args = [BIN, 'enclave', '--tee', spec.tee, '--host', '127.0.0.1', '--port', String(spec.port ?? 0), '--data-dir', spec.dataDir, '--models', join(ROOT, 'models')];
  if (spec.measurementSeed !== undefined) args.push('--measurement-seed', spec.measurementSeed);
  if (spec.debug === true) args.push('--sim-debug');
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | NodeJS.Signals | null>((res) => {
    child.once('exit', (code, signal) => {
      res(code ?? signal);
    });
  });
  const listening = await new Promise<{ url: string; kid: string }>((res, rej) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`enclave ${spec.tee} printed no listening line within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      for (const line of out.split('\n')) {
        if (!line.includes('"event":"listening"')) continue;
        const e = JSON.parse(line) as { url: string; kid: string };
        clearTimeout(t);
        res({ url: e.url, kid: e.kid });
        return;
      }
    });
    void exited.then((code) => {
      clearTimeout(t);
      rej(new Error(`enclave ${spec.tee} exited (${String(code)}) before listening:\n${out}`));
    });
  });
  const port = Number(new URL(listening.url).port);
  return {
    spec,
    url: listening.url,
    port,
    kid: listening.kid,
    pid: child.pid!,
    output: () => out,
    exited,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
