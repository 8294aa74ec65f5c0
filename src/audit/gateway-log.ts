/**
 * The gateway's transparency log: every attestation record, every receipt and every key event
 * is appended (durably, before the answer that names it leaves) to the Merkle log of log.ts; a
 * checkpoint is signed at a regular interval and on demand. Entries are canonical JSON
 * `{"kind": ..., ...}`, so anyone can recompute the tree from the served leaf bytes.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson } from '../../attestation/policy/digest.ts';
import { openLog, type TransparencyLog } from './log.ts';

export interface GatewayLog {
  readonly tlog: TransparencyLog;
  append(kind: 'attestation' | 'receipt' | 'key', entry: Readonly<Record<string, unknown>>): Promise<number>;
  /** Sign a checkpoint of the current size when it grew since the latest one; returns the note. */
  checkpointNow(): string;
  close(): Promise<void>;
}

export interface GatewayLogOptions {
  readonly dataDir: string;
  /** The log's origin line (C2SP): a schema-less URL-like name, unique per log. */
  readonly origin: string;
  /** Sign a checkpoint this often when the log grew (default 5 s; 0 = only on demand). */
  readonly checkpointEveryMs?: number;
  readonly now?: () => number;
}

async function loadOrCreateLogKey(file: string): Promise<KeyObject> {
  try {
    return createPrivateKey(await readFile(file, 'utf8'));
  } catch (e: unknown) {
    if ((e as { code?: unknown }).code !== 'ENOENT') throw new Error(`cannot read the log signing key ${file}: ${(e as Error).message}`, { cause: e });
  }
  const { privateKey } = generateKeyPairSync('ed25519');
  await writeFile(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
  return privateKey;
}

export async function openGatewayLog(o: GatewayLogOptions): Promise<GatewayLog> {
  await mkdir(o.dataDir, { recursive: true, mode: 0o700 });
  const privateKey = await loadOrCreateLogKey(join(o.dataDir, 'log-key.pem'));
  const tlog = openLog({ path: join(o.dataDir, 'log.sqlite'), origin: o.origin, signer: { name: o.origin, privateKey }, ...(o.now === undefined ? {} : { now: o.now }) });
  const checkpointNow = (): string => {
    const latest = tlog.latestCheckpoint();
    if (latest !== undefined && latest.size === tlog.size()) return latest.note;
    return tlog.checkpoint().note;
  };
  checkpointNow();
  const every = o.checkpointEveryMs ?? 5_000;
  const timer =
    every > 0
      ? setInterval(() => {
          try {
            checkpointNow();
          } catch {
            // A failed periodic checkpoint is retried at the next tick; appends are unaffected.
          }
        }, every)
      : undefined;
  timer?.unref();
  return {
    tlog,
    async append(kind, entry) {
      const bytes = new TextEncoder().encode(canonicalJson({ kind, ...entry }));
      return (await tlog.append(bytes)).index;
    },
    checkpointNow,
    close() {
      if (timer !== undefined) clearInterval(timer);
      try {
        checkpointNow();
      } finally {
        tlog.close();
      }
      return Promise.resolve();
    },
  };
}
