/**
 * Where an audit reads a log from: a running gateway's read API (fetch) or a directory written by
 * `attestgate log export`. Both are untrusted: a source only hands over bytes, and the auditor
 * (audit-check.ts) decides what they prove. Sources validate shapes and bound sizes, so that a
 * hostile server can make the audit fail (exit 2) but cannot make it allocate without limit.
 *
 * Errors that stop an audit (network, HTTP 5xx, a missing export file, a response of the wrong
 * shape) are AuditSourceError; a missing blob or record is `undefined`, for the auditor to judge.
 */
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** At most this many entries per GET /v1/log/entries (the gateway's own limit). */
export const ENTRIES_PER_PAGE = 1000;
/** The log's own blob limit (log.ts DEFAULT_MAX_BLOB_BYTES). */
const MAX_BLOB_BYTES = 64 << 20;
const MAX_TEXT_BYTES = 16 << 20;
/** A page of 1000 entries (EARs of a few KB each in base64); bounded, not tight. */
const MAX_PAGE_BYTES = 128 << 20;
const TIMEOUT_MS = 30_000;

export const HEX64 = /^[0-9a-f]{64}$/;
/** Attestation ids are UUIDs (the gateway's route refuses anything else): never a path. */
export const ATTESTATION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class AuditSourceError extends Error {
  override readonly name = 'AuditSourceError';
  readonly code = 'ERR_AUDIT_SOURCE';
}

/** One entry as the source serves it, or a line it could not read (export files only). */
export type SourceEntry = { readonly index: number; readonly leaf: Uint8Array } | { readonly line: number; readonly problem: string };

export interface StoredCheckpoint {
  /** Where it came from (a file name), for messages. */
  readonly name: string;
  readonly note: string;
}

export interface LogSource {
  readonly kind: 'gateway' | 'dir';
  /** The URL or directory, for the report. */
  readonly where: string;
  /** The latest signed checkpoint (C2SP note). */
  checkpoint(): Promise<string>;
  /** The verifier key the source says signs the log. */
  verifierKey(): Promise<string>;
  /** Entries [0, size) in order; fewer, more or misnumbered ones are the auditor's finding. */
  entries(size: number): AsyncIterable<SourceEntry>;
  /** An RFC 9162 consistency proof, or undefined when the source keeps none (the auditor recomputes). */
  consistencyProof(first: number, second: number): Promise<Uint8Array[] | undefined>;
  /** Every older checkpoint the source keeps, in ascending size (an export keeps them all). */
  storedCheckpoints(): Promise<readonly StoredCheckpoint[]>;
  /** The bytes stored under a SHA-256 (unchecked: the auditor hashes them), or undefined. */
  blob(sha256: string): Promise<Uint8Array | undefined>;
  /** The attestation record's JSON text, or undefined when the source has none. */
  attestation(id: string): Promise<string | undefined>;
}

// ---------------------------------------------------------------------------------------------
// Gateway

type Fetch = typeof fetch;

function base64Bytes(s: unknown, what: string): Uint8Array {
  if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new AuditSourceError(`${what} is not base64`);
  return new Uint8Array(Buffer.from(s, 'base64'));
}

function isRecord(v: unknown): v is Readonly<Record<string, unknown>> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The body, refusing more than `max` bytes however the server frames it. */
async function readCapped(r: Response, max: number, what: string): Promise<Uint8Array> {
  const declared = Number(r.headers.get('content-length') ?? '0');
  if (declared > max) throw new AuditSourceError(`${what}: the response is ${declared} bytes, the limit is ${max}`);
  if (r.body === null) return new Uint8Array();
  const parts: Uint8Array[] = [];
  let n = 0;
  const reader: ReadableStreamDefaultReader<Uint8Array> = r.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > max) {
      await reader.cancel();
      throw new AuditSourceError(`${what}: the response exceeds ${max} bytes`);
    }
    parts.push(value);
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Read the log of the gateway at `baseUrl` through its read API (docs/log.md). */
export function gatewaySource(baseUrl: string, fetchImpl: Fetch = fetch): LogSource {
  let base: URL;
  try {
    base = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  } catch (e: unknown) {
    throw new AuditSourceError(`--gateway ${JSON.stringify(baseUrl)} is not a URL`, { cause: e });
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new AuditSourceError(`--gateway must be an http(s) URL, got ${base.protocol}`);

  /** GET a path; undefined on 404 when `missingOk`. */
  const get = async (path: string, max: number, missingOk = false): Promise<Uint8Array | undefined> => {
    const url = new URL(path, base);
    let r: Response;
    try {
      r = await fetchImpl(url, { signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'error' });
    } catch (e: unknown) {
      throw new AuditSourceError(`GET ${url.href} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    if (r.status === 404 && missingOk) {
      await r.body?.cancel();
      return undefined;
    }
    if (r.status !== 200) {
      const text = new TextDecoder().decode((await readCapped(r, 4096, `GET ${url.pathname}`).catch(() => new Uint8Array())).subarray(0, 300));
      throw new AuditSourceError(`GET ${url.href} answered HTTP ${r.status}: ${text}`);
    }
    return readCapped(r, max, `GET ${url.pathname}`);
  };
  const getText = async (path: string, max = MAX_TEXT_BYTES): Promise<string> => {
    const bytes = await get(path, max);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch (e: unknown) {
      throw new AuditSourceError(`GET ${path}: the answer is not UTF-8 text`, { cause: e });
    }
  };
  const getJson = async (path: string, max = MAX_TEXT_BYTES): Promise<Readonly<Record<string, unknown>>> => {
    const text = await getText(path, max);
    let v: unknown;
    try {
      v = JSON.parse(text) as unknown;
    } catch (e: unknown) {
      throw new AuditSourceError(`GET ${path}: the answer is not JSON`, { cause: e });
    }
    if (!isRecord(v)) throw new AuditSourceError(`GET ${path}: the answer is not a JSON object`);
    return v;
  };

  return {
    kind: 'gateway',
    where: base.href,
    checkpoint: () => getText('v1/log/checkpoint'),
    verifierKey: async () => (await getText('v1/log/key')).trim(),
    async *entries(size) {
      for (let start = 0; start < size; start += ENTRIES_PER_PAGE) {
        const end = Math.min(size, start + ENTRIES_PER_PAGE);
        const page = await getJson(`v1/log/entries?start=${start}&end=${end}`, MAX_PAGE_BYTES);
        const list = page['entries'];
        if (!Array.isArray(list) || list.length > end - start) throw new AuditSourceError(`GET /v1/log/entries?start=${start}&end=${end}: entries is not a list of at most ${end - start}`);
        for (const e of list as unknown[]) {
          if (!isRecord(e) || typeof e['index'] !== 'number' || !Number.isSafeInteger(e['index'])) throw new AuditSourceError(`GET /v1/log/entries: an entry has no integer index`);
          yield { index: e['index'], leaf: base64Bytes(e['leaf'], `entry ${e['index']} leaf`) };
        }
      }
    },
    async consistencyProof(first, second) {
      const body = await getJson(`v1/log/proof/consistency?first=${first}&second=${second}`);
      const proof = body['proof'];
      if (body['first'] !== first || body['second'] !== second || !Array.isArray(proof) || proof.length > 128) {
        throw new AuditSourceError(`GET /v1/log/proof/consistency: the answer is not a proof from ${first} to ${second}`);
      }
      return (proof as unknown[]).map((h, i) => base64Bytes(h, `consistency proof hash ${i}`));
    },
    storedCheckpoints: () => Promise.resolve([]),
    blob: (sha) => {
      if (!HEX64.test(sha)) return Promise.resolve(undefined);
      return get(`v1/log/blobs/${sha}`, MAX_BLOB_BYTES, true);
    },
    async attestation(id) {
      if (!ATTESTATION_ID.test(id)) return undefined;
      const b = await get(`v1/attestations/${id}`, MAX_BLOB_BYTES, true);
      return b === undefined ? undefined : new TextDecoder().decode(b);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Export directory (src/audit/export.ts writes it)

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (e: unknown) {
    if ((e as { code?: unknown }).code === 'ENOENT') return undefined;
    throw new AuditSourceError(`cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

async function readRequired(path: string): Promise<string> {
  const b = await readOptional(path);
  if (b === undefined) throw new AuditSourceError(`${path} is missing: is this a directory written by "attestgate log export"?`);
  return b.toString('utf8');
}

/** Parse one entries.jsonl line: `{"index": n, "leaf": "<base64>"}`. */
function parseEntryLine(text: string, line: number): SourceEntry {
  let v: unknown;
  try {
    v = JSON.parse(text) as unknown;
  } catch {
    return { line, problem: 'is not JSON' };
  }
  if (!isRecord(v)) return { line, problem: 'is not a JSON object' };
  const index = v['index'];
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) return { line, problem: 'has no non-negative integer "index"' };
  try {
    return { index, leaf: base64Bytes(v['leaf'], '"leaf"') };
  } catch {
    return { line, problem: 'has a "leaf" that is not base64' };
  }
}

/** Read an export directory: checkpoint.txt, checkpoints/, log-key.txt, entries.jsonl, blobs/, attestations/. */
export function dirSource(dir: string): LogSource {
  return {
    kind: 'dir',
    where: dir,
    checkpoint: () => readRequired(join(dir, 'checkpoint.txt')),
    verifierKey: async () => (await readRequired(join(dir, 'log-key.txt'))).trim(),
    async *entries() {
      const path = join(dir, 'entries.jsonl');
      const stream = createReadStream(path, { encoding: 'utf8' });
      const opened = new Promise<void>((res, rej) => {
        stream.once('open', () => {
          res();
        });
        stream.once('error', rej);
      });
      try {
        await opened;
      } catch (e: unknown) {
        throw new AuditSourceError(`cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      const lines = createInterface({ input: stream, crlfDelay: Infinity });
      let n = 0;
      for await (const text of lines) {
        n++;
        if (text === '') continue;
        yield parseEntryLine(text, n);
      }
    },
    consistencyProof: () => Promise.resolve(undefined),
    async storedCheckpoints() {
      let names: string[];
      try {
        names = await readdir(join(dir, 'checkpoints'));
      } catch (e: unknown) {
        if ((e as { code?: unknown }).code === 'ENOENT') return [];
        throw new AuditSourceError(`cannot list ${join(dir, 'checkpoints')}`, { cause: e });
      }
      const sized = names.filter((n) => /^(?:0|[1-9][0-9]{0,15})\.txt$/.test(n)).map((n) => ({ n, size: Number(n.slice(0, -4)) }));
      sized.sort((a, b) => a.size - b.size);
      const out: StoredCheckpoint[] = [];
      for (const { n } of sized) out.push({ name: `checkpoints/${n}`, note: await readRequired(join(dir, 'checkpoints', n)) });
      return out;
    },
    async blob(sha) {
      if (!HEX64.test(sha)) return undefined;
      const b = await readOptional(join(dir, 'blobs', sha));
      return b === undefined ? undefined : new Uint8Array(b);
    },
    async attestation(id) {
      if (!ATTESTATION_ID.test(id)) return undefined;
      return (await readOptional(join(dir, 'attestations', `${id}.json`)))?.toString('utf8');
    },
  };
}
