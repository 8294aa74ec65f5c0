/**
 * `attestgate log export --data-dir <dir> --out <dir>`: a self-contained copy of a gateway's
 * transparency log for an auditor (`attestgate audit --from-dir <out>`) who has no access to the
 * gateway, or who wants to keep what the log showed at one moment (docs/log.md, "Export"):
 *
 *   checkpoint.txt             the latest signed checkpoint (C2SP note)
 *   checkpoints/<size>.txt     every checkpoint the log ever signed
 *   log-key.txt                the verifier key (derived from <data-dir>/log-key.pem)
 *   entries.jsonl              {"index": n, "leaf": "<base64 of the exact leaf bytes>"} per line
 *   blobs/<sha256>             the evidence and collateral every attestation entry names
 *   attestations/<id>.json     each attestation record (nonce, key, models) from the gateway's store
 *
 * The log file is opened read-only (store.ts readOnly): nothing is written to the data directory's
 * log. A running gateway holds the log's exclusive lock, so export needs the gateway stopped; a
 * live gateway is audited with `attestgate audit --gateway` instead. Nothing here is a verdict:
 * bytes are copied as they are stored (a damaged blob too), and the audit judges them.
 */
import { createPrivateKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { toBase64, toHex } from '../../attestation/common/bytes.ts';
import { DB_FILE_NAME, openSqliteStore } from '../store/sqlite.ts';
import { formatVerifierKey, parseCheckpoint, parseNote } from './checkpoint.ts';
import { ed25519PublicKeyBytes } from './ed25519-node.ts';
import { LogError } from './errors.ts';
import { MAX_ENTRIES_PER_READ } from './log.ts';
import { sha256 } from './sha256-node.ts';
import { openStore, STORE_FORMAT, type CheckpointRow, type LogStore } from './store.ts';

export const LOG_FILE_NAME = 'log.sqlite';
export const LOG_KEY_FILE_NAME = 'log-key.pem';

const HEX64 = /^[0-9a-f]{64}$/;
/** The gateway's attestation ids (randomUUID); anything else is never used as a file name. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class ExportError extends Error {
  override readonly name = 'ExportError';
}

export interface ExportOptions {
  readonly dataDir: string;
  readonly out: string;
}

export interface ExportSummary {
  readonly origin: string;
  readonly verifierKey: string;
  /** Size of the latest checkpoint. */
  readonly size: number;
  /** All entries written (entries after the latest checkpoint included). */
  readonly entries: number;
  readonly checkpoints: number;
  readonly blobs: number;
  readonly attestations: number;
  /** Blobs and records the entries name that the data directory does not hold. */
  readonly missing: { readonly blobs: readonly string[]; readonly attestations: readonly string[] };
  /** Stored blobs whose bytes do not hash to their name (copied anyway, for the audit to report). */
  readonly damagedBlobs: readonly string[];
}

function fromHex(h: string): Uint8Array {
  return Uint8Array.from(h.match(/../g) ?? [], (x) => Number.parseInt(x, 16));
}

/** The digests and ids an attestation entry names; anything unreadable is left to the audit. */
function namesOf(leaf: Uint8Array): { blobs: string[]; id?: string } {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(leaf)) as unknown;
  } catch {
    return { blobs: [] };
  }
  if (typeof v !== 'object' || v === null || (v as { kind?: unknown }).kind !== 'attestation') return { blobs: [] };
  const o = v as Record<string, unknown>;
  const blobs = [o['evidence_sha256'], ...(Array.isArray(o['collateral_sha256']) ? (o['collateral_sha256'] as unknown[]) : [])].filter((x): x is string => typeof x === 'string' && HEX64.test(x));
  const id = o['id'];
  return typeof id === 'string' && UUID.test(id) ? { blobs, id } : { blobs };
}

async function emptyOrAbsent(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e: unknown) {
    if ((e as { code?: unknown }).code === 'ENOENT') return;
    throw new ExportError(`--out ${dir} cannot be read: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (names.length > 0) throw new ExportError(`--out ${dir} is not empty; export into a new directory (an export is never merged into another)`);
}

function openReadOnlyLog(path: string): LogStore {
  if (!existsSync(path)) throw new ExportError(`${path} does not exist: --data-dir must be the gateway's data directory`);
  try {
    return openStore({ path, readOnly: true });
  } catch (e: unknown) {
    if (LogError.is(e) && e.details?.['sqliteCode'] === 'SQLITE_BUSY') {
      throw new ExportError(`${path} is locked: a gateway is running on this data directory. Stop it first, or audit it live with "attestgate audit --gateway <url>"`, { cause: e });
    }
    throw e;
  }
}

export async function exportLog(o: ExportOptions): Promise<ExportSummary> {
  const dataDir = resolve(o.dataDir);
  const out = resolve(o.out);
  // 1. The destination, before anything is read: a half-written export never mixes with another.
  await emptyOrAbsent(out);
  const store = openReadOnlyLog(join(dataDir, LOG_FILE_NAME));
  try {
    // 2. Identity: an attestgate log, its origin, and the verifier key of its signing key.
    const format = store.getMeta('format');
    const origin = store.getMeta('origin');
    if (format !== STORE_FORMAT || origin === undefined) throw new ExportError(`${join(dataDir, LOG_FILE_NAME)} is not an attestgate log (format ${String(format)})`);
    let verifierKey: string;
    try {
      const key = createPrivateKey(await readFile(join(dataDir, LOG_KEY_FILE_NAME), 'utf8'));
      verifierKey = formatVerifierKey(sha256, origin, ed25519PublicKeyBytes(key));
    } catch (e: unknown) {
      throw new ExportError(`the log signing key ${join(dataDir, LOG_KEY_FILE_NAME)} cannot be read as an Ed25519 key: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }

    // 3. Checkpoints, every one, oldest first.
    const checkpoints: CheckpointRow[] = [];
    for (let min = 0; ; ) {
      const page = store.checkpoints(min, 1000);
      checkpoints.push(...page);
      const last = page[page.length - 1];
      if (page.length < 1000 || last === undefined) break;
      min = last.size + 1;
    }
    const latest = checkpoints[checkpoints.length - 1];
    if (latest === undefined) throw new ExportError('the log has no signed checkpoint yet: start the gateway once (it signs one at start and at stop), then export');
    const body = parseCheckpoint(parseNote(latest.note).text);
    if (body.origin !== origin || body.size !== latest.size) throw new ExportError(`the latest stored checkpoint does not describe ${origin} at size ${latest.size}`);

    await mkdir(join(out, 'checkpoints'), { recursive: true });
    await mkdir(join(out, 'blobs'));
    await mkdir(join(out, 'attestations'));
    await writeFile(join(out, 'checkpoint.txt'), latest.note);
    for (const c of checkpoints) await writeFile(join(out, 'checkpoints', `${c.size}.txt`), c.note);
    await writeFile(join(out, 'log-key.txt'), `${verifierKey}\n`);

    // 4. Entries, in pages, streamed to the file (a log of 10^6 entries does not sit in memory).
    const count = store.entryCount();
    const blobNames = new Set<string>();
    const ids: string[] = [];
    const fh = await open(join(out, 'entries.jsonl'), 'wx');
    try {
      for (let start = 0; start < count; start += MAX_ENTRIES_PER_READ) {
        const rows = store.entries(start, Math.min(count, start + MAX_ENTRIES_PER_READ));
        let chunk = '';
        for (const r of rows) {
          chunk += `${JSON.stringify({ index: r.index, leaf: toBase64(r.data) })}\n`;
          const names = namesOf(r.data);
          for (const b of names.blobs) blobNames.add(b);
          if (names.id !== undefined) ids.push(names.id);
        }
        await fh.write(chunk);
      }
    } finally {
      await fh.close();
    }

    // 5. Blobs the entries name, as stored.
    const missingBlobs: string[] = [];
    const damaged: string[] = [];
    let blobs = 0;
    for (const name of [...blobNames].sort()) {
      const bytes = store.getBlob(fromHex(name));
      if (bytes === undefined) {
        missingBlobs.push(name);
        continue;
      }
      if (toHex(sha256(bytes)) !== name) damaged.push(name);
      await writeFile(join(out, 'blobs', name), bytes);
      blobs++;
    }

    // 6. Attestation records from the gateway's store (not part of the log: the audit checks
    //    them against the entries and the evidence they bind).
    const missingRecords: string[] = [];
    let records = 0;
    if (ids.length > 0) {
      if (!existsSync(join(dataDir, DB_FILE_NAME))) missingRecords.push(...ids);
      else {
        const db = openSqliteStore({ dataDir });
        try {
          for (const id of ids) {
            const rec = await db.getAttestation(id);
            if (rec === undefined) {
              missingRecords.push(id);
              continue;
            }
            await writeFile(join(out, 'attestations', `${id}.json`), rec.record_json);
            records++;
          }
        } finally {
          await db.close();
        }
      }
    }
    return {
      origin,
      verifierKey,
      size: latest.size,
      entries: count,
      checkpoints: checkpoints.length,
      blobs,
      attestations: records,
      missing: { blobs: missingBlobs, attestations: missingRecords },
      damagedBlobs: damaged,
    };
  } finally {
    store.close();
  }
}

export const LOG_USAGE = `  attestgate log export --out <dir> [--data-dir <dir>]
      copy the transparency log of a STOPPED gateway (data directory default ATTESTGATE_DATA_DIR
      or ./data) into <dir> for "attestgate audit --from-dir <dir>"
`;

/** `attestgate log <subcommand>`; returns the exit status (0 done, 1 failed, 2 usage). */
export async function logCommand(argv: readonly string[], io: { out: (s: string) => void; err: (s: string) => void }, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({ args: [...argv], options: { 'data-dir': { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' } }, strict: true, allowPositionals: true }));
    if (positionals.length !== 1 || positionals[0] !== 'export') throw new Error(positionals.length === 0 ? 'give a log command (export)' : `unknown log command "${positionals.join(' ')}"`);
    if (values.out === undefined) throw new Error('--out <dir> is required');
  } catch (e: unknown) {
    io.err(`attestgate log: ${e instanceof Error ? e.message : String(e)}\nusage:\n${LOG_USAGE}`);
    return 2;
  }
  try {
    const s = await exportLog({ dataDir: values['data-dir'] ?? env['ATTESTGATE_DATA_DIR'] ?? 'data', out: values.out });
    if (values.json === true) io.out(`${JSON.stringify(s)}\n`);
    else {
      io.out(`exported ${s.origin} to ${resolve(values.out)}: checkpoint size ${s.size}, ${s.entries} entries, ${s.checkpoints} checkpoints, ${s.blobs} blobs, ${s.attestations} attestation records\n`);
      io.out(`verifier key ${s.verifierKey}\n`);
      if (s.entries > s.size) io.out(`note: ${s.entries - s.size} entries come after the latest checkpoint; start and stop the gateway once to sign them\n`);
    }
    for (const b of s.missing.blobs) io.err(`warning: blob ${b} named by the log is not in the data directory\n`);
    for (const a of s.missing.attestations) io.err(`warning: attestation record ${a} is not in the gateway's store\n`);
    for (const b of s.damagedBlobs) io.err(`warning: blob ${b} does not match its digest (copied as stored)\n`);
    return 0;
  } catch (e: unknown) {
    io.err(`attestgate log export: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
