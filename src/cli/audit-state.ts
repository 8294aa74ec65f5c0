/**
 * The auditor's memory between runs (default ~/.attestgate/audit-state.json): for each log, by
 * its origin, the verifier key pinned on first use and the last checkpoint that audited clean.
 * The next audit proves the new checkpoint extends that one; a log that shows one auditor two
 * histories (a fork) or walks its size back (a rollback) is caught by this file alone.
 *
 *   { "version": 1,
 *     "logs": { "<origin>": { "log_key": "<vkey>", "size": n, "root": "<base64>",
 *                             "checkpoint": "<signed note>", "audited_at": "<ISO>" } } }
 *
 * The signed note is kept whole: two notes of one size with different roots, both signed by
 * the log, are the proof of a fork to show anyone else.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { HASH_SIZE } from '../audit/merkle.ts';

export interface LogState {
  readonly log_key: string;
  readonly size: number;
  /** Base64 root of the checkpoint (as in the note). */
  readonly root: string;
  readonly checkpoint: string;
  readonly audited_at: string;
}

export interface AuditState {
  readonly version: 1;
  readonly logs: Readonly<Record<string, LogState>>;
}

export class StateFileError extends Error {
  override readonly name = 'StateFileError';
}

export const defaultStatePath = (): string => join(homedir(), '.attestgate', 'audit-state.json');

const EMPTY: AuditState = { version: 1, logs: {} };

function isRecord(v: unknown): v is Readonly<Record<string, unknown>> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function logState(v: unknown, origin: string, file: string): LogState {
  const bad = (what: string): StateFileError => new StateFileError(`state file ${file}: log ${JSON.stringify(origin)} ${what}; fix or move the file (it is the auditor's memory of this log)`);
  if (!isRecord(v)) throw bad('is not an object');
  const { log_key, size, root, checkpoint, audited_at } = v;
  if (typeof log_key !== 'string' || log_key === '') throw bad('has no log_key');
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw bad('has no non-negative integer size');
  if (typeof root !== 'string' || Buffer.from(root, 'base64').length !== HASH_SIZE) throw bad('has no base64 32-byte root');
  if (typeof checkpoint !== 'string') throw bad('has no checkpoint note');
  if (typeof audited_at !== 'string') throw bad('has no audited_at');
  return { log_key, size, root, checkpoint, audited_at };
}

/** Read the state; a missing file is an empty state, a damaged one an error (never silently reset). */
export async function loadState(file: string): Promise<AuditState> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e: unknown) {
    if ((e as { code?: unknown }).code === 'ENOENT') return EMPTY;
    throw new StateFileError(`cannot read the state file ${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  let v: unknown;
  try {
    v = JSON.parse(text) as unknown;
  } catch (e: unknown) {
    throw new StateFileError(`state file ${file} is not JSON; fix or move it`, { cause: e });
  }
  if (!isRecord(v) || v['version'] !== 1 || !isRecord(v['logs'])) throw new StateFileError(`state file ${file} is not an attestgate audit state (version 1); fix or move it`);
  const logs: Record<string, LogState> = {};
  for (const [origin, s] of Object.entries(v['logs'])) logs[origin] = logState(s, origin, file);
  return { version: 1, logs };
}

/** Write the state atomically (temporary file + rename), directory 0700, file 0600. */
export async function saveState(file: string, state: AuditState): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, file);
}
