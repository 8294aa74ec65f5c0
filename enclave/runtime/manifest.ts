/**
 * models/manifest.json: which models the enclave serves, and the SHA-256 of each file.
 *
 * The manifest's digests are what the enclave binds into its attestation evidence
 * (attestation/binding.ts, models_digest), so a client that checks the evidence knows which
 * bytes answered it. That promise holds only if the bytes served are the bytes hashed: this
 * module reads each file once, hashes that buffer, refuses it on any mismatch, and hands the
 * same buffer on to onnxruntime (session.ts). Whoever controls the disk (the host, outside the
 * TEE) can swap files, plant symlinks or edit the manifest; a swapped file fails the digest, a
 * path that leaves the model directory is refused before it is opened, and an edited manifest
 * changes the attested digest, which the verifier's policy catches.
 *
 * Parsing (parseManifest) is pure and separate from loading (loadManifest), which touches the disk.
 */
import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { equalBytes, fromHex, toHex } from '../../attestation/common/bytes.ts';
import { ModelError } from './errors.ts';

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_VERSION = 1;
/** Model names and versions: they appear in URL paths (/v2/models/{name}/versions/{version}). */
export const MODEL_NAME_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const MAX_FILE_PATH_LENGTH = 1024;
const MAX_DESCRIPTION_LENGTH = 1024;
const MAX_MODELS = 1024;

export const DEFAULT_MAX_MANIFEST_BYTES = 1024 * 1024;
export const DEFAULT_MAX_MODEL_BYTES = 2 * 1024 * 1024 * 1024 - 1;

export interface ManifestEntry {
  readonly name: string;
  readonly version: string;
  /** Relative to the model directory, `/`-separated, never leaving it. */
  readonly file: string;
  /** Lowercase hex SHA-256 of the file's bytes. */
  readonly sha256: string;
  readonly description?: string;
}

export interface Manifest {
  readonly version: typeof MANIFEST_VERSION;
  readonly models: readonly ManifestEntry[];
}

export interface LoadedModel extends ManifestEntry {
  /** The resolved absolute path the bytes were read from (for logs; never read again). */
  readonly path: string;
  /** The file's bytes, hashed and checked against `sha256`. */
  readonly bytes: Uint8Array;
}

export interface LoadedManifest {
  readonly version: typeof MANIFEST_VERSION;
  /** The resolved model directory. */
  readonly dir: string;
  readonly models: readonly LoadedModel[];
}

export interface LoadManifestOptions {
  /** Refuse a manifest larger than this (default 1 MiB). */
  readonly maxManifestBytes?: number;
  /** Refuse a model file larger than this (default 2 GiB − 1, onnxruntime's protobuf limit). */
  readonly maxModelBytes?: number;
}

function invalid(reason: string, message: string, cause?: unknown): ModelError {
  return new ModelError('ERR_MANIFEST_INVALID', `models manifest: ${message}`, cause === undefined ? { reason } : { reason, cause });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function closedKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) throw invalid('unknown_key', `${where} has unknown key ${JSON.stringify(k)} (allowed: ${allowed.join(', ')})`);
  }
}

function requireString(obj: Record<string, unknown>, key: string, where: string): string {
  const v = obj[key];
  if (v === undefined) throw invalid('missing_key', `${where}.${key} is missing`);
  if (typeof v !== 'string') throw invalid('wrong_type', `${where}.${key} is ${typeName(v)}, want a string`);
  return v;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

/**
 * A relative, `/`-separated path with no empty, `.` or `..` segment. Backslashes are refused
 * because they would be separators on Windows and a plain character here: one path must not mean
 * two files. The symlink check needs the disk and happens in loadManifest.
 */
function checkRelativePath(file: string, where: string): void {
  const bad = (why: string): ModelError =>
    new ModelError('ERR_MODEL_PATH', `models manifest: ${where}.file ${JSON.stringify(file)} ${why}`, { reason: 'path_escape' });
  if (file.length === 0 || file.length > MAX_FILE_PATH_LENGTH) throw bad(`must be 1 to ${MAX_FILE_PATH_LENGTH} characters`);
  if (file.startsWith('/')) throw bad('is absolute, want a path relative to the model directory');
  if (file.includes('\\') || file.includes('\0')) throw bad('contains a backslash or NUL');
  for (const seg of file.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') throw bad('has an empty, "." or ".." segment');
  }
}

/** Parse and validate the manifest (closed schema); no disk access. */
export function parseManifest(bytes: Uint8Array): Manifest {
  let text: string;
  let json: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e: unknown) {
    throw invalid('not_utf8', 'is not valid UTF-8', e);
  }
  try {
    json = JSON.parse(text);
  } catch (e: unknown) {
    throw invalid('not_json', `is not valid JSON (${e instanceof Error ? e.message : 'parse error'})`, e);
  }
  if (!isRecord(json)) throw invalid('wrong_type', `top level is ${typeName(json)}, want an object`);
  closedKeys(json, ['version', 'models'], 'manifest');
  if (json['version'] !== MANIFEST_VERSION) {
    throw invalid('unsupported_version', `version is ${json['version'] === undefined ? 'missing' : JSON.stringify(json['version'])}, want ${MANIFEST_VERSION}`);
  }
  const models = json['models'];
  if (!Array.isArray(models)) throw invalid('wrong_type', `models is ${models === undefined ? 'missing' : typeName(models)}, want an array`);
  if (models.length > MAX_MODELS) throw invalid('too_many_models', `lists ${models.length} models, at most ${MAX_MODELS}`);

  const seen = new Set<string>();
  const out: ManifestEntry[] = [];
  models.forEach((m: unknown, i) => {
    const where = `models[${i}]`;
    if (!isRecord(m)) throw invalid('wrong_type', `${where} is ${typeName(m)}, want an object`);
    closedKeys(m, ['name', 'version', 'file', 'sha256', 'description'], where);
    const name = requireString(m, 'name', where);
    const version = requireString(m, 'version', where);
    const file = requireString(m, 'file', where);
    const sha256 = requireString(m, 'sha256', where);
    if (!MODEL_NAME_PATTERN.test(name)) throw invalid('bad_name', `${where}.name ${JSON.stringify(name)} does not match ${MODEL_NAME_PATTERN.source}`);
    if (!MODEL_NAME_PATTERN.test(version)) throw invalid('bad_version', `${where}.version ${JSON.stringify(version)} does not match ${MODEL_NAME_PATTERN.source}`);
    // Lowercase only: the digest is compared as bytes, but the attested models manifest
    // (attestation/binding.ts) carries this text as is, and two spellings of one digest would
    // give two binding values for the same model.
    if (!SHA256_HEX.test(sha256)) throw invalid('bad_sha256', `${where}.sha256 must be 64 lowercase hex digits`);
    checkRelativePath(file, where);
    const key = `${name}\0${version}`;
    if (seen.has(key)) {
      throw new ModelError('ERR_MODEL_DUPLICATE', `models manifest: ${where} repeats model ${name} version ${version}`, { reason: 'duplicate_model' });
    }
    seen.add(key);
    let entry: ManifestEntry = { name, version, file, sha256 };
    if (m['description'] !== undefined) {
      const description = requireString(m, 'description', where);
      if (description.length > MAX_DESCRIPTION_LENGTH) throw invalid('too_long', `${where}.description is longer than ${MAX_DESCRIPTION_LENGTH} characters`);
      entry = { ...entry, description };
    }
    out.push(entry);
  });
  return { version: MANIFEST_VERSION, models: out };
}

function isInside(dir: string, path: string): boolean {
  return path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/**
 * Read one regular file that must resolve (symlinks followed) to a place inside `dir`.
 * realpath first, then open the resolved path with O_NOFOLLOW and fstat the open handle, so the
 * size limit and the file type apply to the very file read.
 */
async function readInside(dir: string, rel: string, maxBytes: number, what: string): Promise<{ path: string; bytes: Uint8Array }> {
  let real: string;
  try {
    real = await realpath(join(dir, rel));
  } catch (e: unknown) {
    throw new ModelError('ERR_MODEL_FILE', `${what} ${rel}: cannot be resolved (${errnoOf(e)})`, { reason: 'missing_file', cause: e });
  }
  if (!isInside(dir, real)) {
    throw new ModelError('ERR_MODEL_PATH', `${what} ${rel} resolves to ${real}, outside the model directory ${dir}`, { reason: 'path_escape' });
  }
  let handle;
  try {
    handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e: unknown) {
    throw new ModelError('ERR_MODEL_FILE', `${what} ${rel}: cannot be opened (${errnoOf(e)})`, { reason: 'unreadable_file', cause: e });
  }
  try {
    let st: Stats;
    try {
      st = await handle.stat();
    } catch (e: unknown) {
      throw new ModelError('ERR_MODEL_FILE', `${what} ${rel}: cannot be read (${errnoOf(e)})`, { reason: 'unreadable_file', cause: e });
    }
    if (!st.isFile()) throw new ModelError('ERR_MODEL_FILE', `${what} ${rel} is not a regular file`, { reason: 'not_a_file' });
    if (st.size > maxBytes) throw new ModelError('ERR_MODEL_FILE', `${what} ${rel} is ${st.size} bytes, at most ${maxBytes}`, { reason: 'file_too_large' });
    let buf: Buffer;
    try {
      buf = await handle.readFile();
    } catch (e: unknown) {
      throw new ModelError('ERR_MODEL_FILE', `${what} ${rel}: cannot be read (${errnoOf(e)})`, { reason: 'unreadable_file', cause: e });
    }
    // The file may grow between fstat and read; the limit holds for what was read.
    if (buf.length > maxBytes) throw new ModelError('ERR_MODEL_FILE', `${what} ${rel} is ${buf.length} bytes, at most ${maxBytes}`, { reason: 'file_too_large' });
    // A plain Uint8Array over the Buffer's own memory (readFile does not use the shared pool).
    return { path: real, bytes: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) };
  } finally {
    await handle.close();
  }
}

function errnoOf(e: unknown): string {
  return isRecord(e) && typeof e['code'] === 'string' ? e['code'] : 'I/O error';
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Refuse bytes whose digest is not the manifest's (ERR_MODEL_DIGEST_MISMATCH, naming both). */
export function checkDigest(entry: Pick<ManifestEntry, 'name' | 'version' | 'file' | 'sha256'>, bytes: Uint8Array): void {
  if (!SHA256_HEX.test(entry.sha256)) {
    throw invalid('bad_sha256', `model ${entry.name} version ${entry.version}: sha256 must be 64 lowercase hex digits`);
  }
  const got = createHash('sha256').update(bytes).digest();
  const want = fromHex(entry.sha256);
  if (!equalBytes(new Uint8Array(got.buffer, got.byteOffset, got.byteLength), want)) {
    const gotHex = toHex(got);
    throw new ModelError(
      'ERR_MODEL_DIGEST_MISMATCH',
      `model ${entry.name} version ${entry.version} (${entry.file}): sha256 is ${gotHex}, want ${entry.sha256} (manifest)`,
      { reason: 'digest_mismatch', details: { model: entry.name, version: entry.version, file: entry.file, want: entry.sha256, got: gotHex } },
    );
  }
}

/**
 * Load `<modelDir>/manifest.json` and every model it lists.
 *   1. resolve the model directory;
 *   2. read the manifest (a regular file inside the directory, size-limited) and parse it;
 *   3. for each model: resolve its path, refuse one outside the directory, read it (regular
 *      file, size-limited), hash the bytes read and refuse them unless the digest is the
 *      manifest's.
 * Stops at the first failure: the enclave serves a verified set or nothing.
 */
export async function loadManifest(modelDir: string, options: LoadManifestOptions = {}): Promise<LoadedManifest> {
  const maxManifestBytes = options.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
  const maxModelBytes = options.maxModelBytes ?? DEFAULT_MAX_MODEL_BYTES;

  // 1.
  let dir: string;
  try {
    dir = await realpath(modelDir);
  } catch (e: unknown) {
    throw new ModelError('ERR_MODEL_FILE', `model directory ${modelDir} cannot be resolved (${errnoOf(e)})`, { reason: 'missing_dir', cause: e });
  }

  // 2.
  const manifest = parseManifest((await readInside(dir, MANIFEST_FILE, maxManifestBytes, 'models manifest')).bytes);

  // 3.
  const models: LoadedModel[] = [];
  for (const entry of manifest.models) {
    const { path, bytes } = await readInside(dir, entry.file, maxModelBytes, `model ${entry.name} version ${entry.version}:`);
    checkDigest(entry, bytes);
    models.push({ ...entry, path, bytes });
  }
  return { version: MANIFEST_VERSION, dir, models };
}
