import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ModelError } from '../../../../enclave/runtime/errors.ts';
import { checkDigest, loadManifest, parseManifest, sha256Hex } from '../../../../enclave/runtime/manifest.ts';

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const MODEL = new TextEncoder().encode('not really onnx, but the manifest only hashes bytes');
const DIGEST = createHash('sha256').update(MODEL).digest('hex');

function entry(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'iris', version: '1', file: 'iris/1/model.onnx', sha256: DIGEST, ...over };
}

function catchModelError(f: () => unknown): ModelError {
  try {
    f();
  } catch (e: unknown) {
    if (ModelError.is(e)) return e;
    throw e;
  }
  throw new Error('expected a ModelError');
}

async function rejects(p: Promise<unknown>): Promise<ModelError> {
  try {
    await p;
  } catch (e: unknown) {
    if (ModelError.is(e)) return e;
    throw e;
  }
  throw new Error('expected a ModelError');
}

describe('parseManifest', () => {
  it('accepts a good manifest, with and without description', () => {
    const m = parseManifest(enc({ version: 1, models: [entry(), entry({ version: '2', description: 'second' })] }));
    expect(m.models).toHaveLength(2);
    expect(m.models[0]).toEqual({ name: 'iris', version: '1', file: 'iris/1/model.onnx', sha256: DIGEST });
    expect(m.models[1]?.description).toBe('second');
  });

  it('accepts an empty model list', () => {
    expect(parseManifest(enc({ version: 1, models: [] })).models).toEqual([]);
  });

  const cases: { name: string; doc: unknown; code: string; reason: string; message?: string }[] = [
    { name: 'not JSON', doc: '{"version":1,', code: 'ERR_MANIFEST_INVALID', reason: 'not_json' },
    { name: 'top level array', doc: [], code: 'ERR_MANIFEST_INVALID', reason: 'wrong_type', message: 'want an object' },
    { name: 'unknown top-level key', doc: { version: 1, models: [], extra: true }, code: 'ERR_MANIFEST_INVALID', reason: 'unknown_key', message: '"extra"' },
    { name: 'unknown entry key', doc: { version: 1, models: [entry({ url: 'x' })] }, code: 'ERR_MANIFEST_INVALID', reason: 'unknown_key', message: 'models[0] has unknown key "url"' },
    { name: 'wrong version', doc: { version: 2, models: [] }, code: 'ERR_MANIFEST_INVALID', reason: 'unsupported_version', message: 'version is 2, want 1' },
    { name: 'missing version', doc: { models: [] }, code: 'ERR_MANIFEST_INVALID', reason: 'unsupported_version', message: 'version is missing' },
    { name: 'models not an array', doc: { version: 1, models: {} }, code: 'ERR_MANIFEST_INVALID', reason: 'wrong_type' },
    { name: 'models missing', doc: { version: 1 }, code: 'ERR_MANIFEST_INVALID', reason: 'wrong_type', message: 'models is missing' },
    { name: 'entry not an object', doc: { version: 1, models: ['iris'] }, code: 'ERR_MANIFEST_INVALID', reason: 'wrong_type' },
    { name: 'missing sha256', doc: { version: 1, models: [entry({ sha256: undefined })] }, code: 'ERR_MANIFEST_INVALID', reason: 'missing_key', message: 'models[0].sha256 is missing' },
    { name: 'name not a string', doc: { version: 1, models: [entry({ name: 7 })] }, code: 'ERR_MANIFEST_INVALID', reason: 'wrong_type' },
    { name: 'uppercase name', doc: { version: 1, models: [entry({ name: 'Iris' })] }, code: 'ERR_MANIFEST_INVALID', reason: 'bad_name' },
    { name: 'name with slash', doc: { version: 1, models: [entry({ name: 'a/b' })] }, code: 'ERR_MANIFEST_INVALID', reason: 'bad_name' },
    { name: 'name too long', doc: { version: 1, models: [entry({ name: 'a'.repeat(65) })] }, code: 'ERR_MANIFEST_INVALID', reason: 'bad_name' },
    { name: 'version with space', doc: { version: 1, models: [entry({ version: '1 ' })] }, code: 'ERR_MANIFEST_INVALID', reason: 'bad_version' },
    { name: 'empty version', doc: { version: 1, models: [entry({ version: '' })] }, code: 'ERR_MANIFEST_INVALID', reason: 'bad_version' },
    { name: 'uppercase sha256', doc: { version: 1, models: [entry({ sha256: DIGEST.toUpperCase() })] }, code: 'ERR_MANIFEST_INVALID', reason: 'bad_sha256' },
    { name: 'short sha256', doc: { version: 1, models: [entry({ sha256: DIGEST.slice(2) })] }, code: 'ERR_MANIFEST_INVALID', reason: 'bad_sha256' },
    { name: 'description not a string', doc: { version: 1, models: [entry({ description: 1 })] }, code: 'ERR_MANIFEST_INVALID', reason: 'wrong_type' },
    { name: 'description too long', doc: { version: 1, models: [entry({ description: 'x'.repeat(1025) })] }, code: 'ERR_MANIFEST_INVALID', reason: 'too_long' },
    { name: 'duplicate model', doc: { version: 1, models: [entry(), entry({ file: 'other.onnx' })] }, code: 'ERR_MODEL_DUPLICATE', reason: 'duplicate_model', message: 'repeats model iris version 1' },
    { name: 'path with ..', doc: { version: 1, models: [entry({ file: '../secret.onnx' })] }, code: 'ERR_MODEL_PATH', reason: 'path_escape' },
    { name: 'path with inner ..', doc: { version: 1, models: [entry({ file: 'iris/../../x' })] }, code: 'ERR_MODEL_PATH', reason: 'path_escape' },
    { name: 'absolute path', doc: { version: 1, models: [entry({ file: '/etc/passwd' })] }, code: 'ERR_MODEL_PATH', reason: 'path_escape', message: 'is absolute' },
    { name: 'backslash path', doc: { version: 1, models: [entry({ file: '..\\x.onnx' })] }, code: 'ERR_MODEL_PATH', reason: 'path_escape' },
    { name: 'dot segment', doc: { version: 1, models: [entry({ file: './iris.onnx' })] }, code: 'ERR_MODEL_PATH', reason: 'path_escape' },
    { name: 'empty segment', doc: { version: 1, models: [entry({ file: 'iris//model.onnx' })] }, code: 'ERR_MODEL_PATH', reason: 'path_escape' },
    { name: 'trailing slash', doc: { version: 1, models: [entry({ file: 'iris/' })] }, code: 'ERR_MODEL_PATH', reason: 'path_escape' },
    { name: 'empty path', doc: { version: 1, models: [entry({ file: '' })] }, code: 'ERR_MODEL_PATH', reason: 'path_escape' },
    { name: 'NUL in path', doc: { version: 1, models: [entry({ file: 'a\0b' })] }, code: 'ERR_MODEL_PATH', reason: 'path_escape' },
  ];
  it.each(cases)('$name -> $code/$reason', ({ doc, code, reason, message }) => {
    const e = catchModelError(() => parseManifest(enc(doc)));
    expect(e.code).toBe(code);
    expect(e.reason).toBe(reason);
    if (message !== undefined) expect(e.message).toContain(message);
  });

  it('refuses bytes that are not UTF-8', () => {
    const e = catchModelError(() => parseManifest(new Uint8Array([0x7b, 0xff, 0x7d])));
    expect([e.code, e.reason]).toEqual(['ERR_MANIFEST_INVALID', 'not_utf8']);
  });

  it('refuses more than 1024 models', () => {
    const models = Array.from({ length: 1025 }, (_, i) => entry({ version: String(i) }));
    expect(catchModelError(() => parseManifest(enc({ version: 1, models }))).reason).toBe('too_many_models');
  });
});

describe('checkDigest', () => {
  it('names model, want and got on a mismatch', () => {
    const e = catchModelError(() => {
      checkDigest({ name: 'iris', version: '1', file: 'f', sha256: DIGEST }, new Uint8Array([1]));
    });
    expect(e.code).toBe('ERR_MODEL_DIGEST_MISMATCH');
    const got = sha256Hex(new Uint8Array([1]));
    expect(e.message).toBe(`model iris version 1 (f): sha256 is ${got}, want ${DIGEST} (manifest)`);
    expect(e.details).toMatchObject({ model: 'iris', version: '1', want: DIGEST, got });
  });

  it('refuses a digest that is not lowercase hex before comparing', () => {
    const e = catchModelError(() => {
      checkDigest({ name: 'iris', version: '1', file: 'f', sha256: 'zz' }, MODEL);
    });
    expect(e.code).toBe('ERR_MANIFEST_INVALID');
  });
});

describe('loadManifest', () => {
  let root: string;
  let dir: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'attestgate-manifest-'));
    dir = join(root, 'models');
    await mkdir(join(dir, 'iris', '1'), { recursive: true });
    await writeFile(join(dir, 'iris', '1', 'model.onnx'), MODEL);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const writeManifest = (doc: unknown): Promise<void> => writeFile(join(dir, 'manifest.json'), enc(doc));

  it('loads a good manifest: bytes are the file, digest checked', async () => {
    await writeManifest({ version: 1, models: [entry({ description: 'd' })] });
    const m = await loadManifest(dir);
    expect(m.models).toHaveLength(1);
    const [model] = m.models;
    expect(model?.name).toBe('iris');
    expect(model?.sha256).toBe(DIGEST);
    expect(model?.description).toBe('d');
    expect(model?.bytes).toEqual(MODEL);
    expect(model?.path.endsWith(join('iris', '1', 'model.onnx'))).toBe(true);
  });

  it('refuses a file whose digest differs from the manifest, naming model, want and got', async () => {
    await writeFile(join(dir, 'iris', '1', 'model.onnx'), Uint8Array.from([...MODEL, 0]));
    await writeManifest({ version: 1, models: [entry()] });
    const e = await rejects(loadManifest(dir));
    expect(e.code).toBe('ERR_MODEL_DIGEST_MISMATCH');
    expect(e.message).toContain('model iris version 1');
    expect(e.message).toContain(`want ${DIGEST}`);
    expect(e.details?.['got']).toBe(sha256Hex(Uint8Array.from([...MODEL, 0])));
  });

  it('refuses an unknown key', async () => {
    await writeManifest({ version: 1, models: [entry({ signature: 'x' })] });
    const e = await rejects(loadManifest(dir));
    expect([e.code, e.reason]).toEqual(['ERR_MANIFEST_INVALID', 'unknown_key']);
  });

  it('refuses a missing model file', async () => {
    await writeManifest({ version: 1, models: [entry({ file: 'iris/2/model.onnx' })] });
    const e = await rejects(loadManifest(dir));
    expect([e.code, e.reason]).toEqual(['ERR_MODEL_FILE', 'missing_file']);
    expect(e.message).toContain('iris/2/model.onnx');
  });

  it('refuses a duplicate model', async () => {
    await writeManifest({ version: 1, models: [entry(), entry()] });
    expect((await rejects(loadManifest(dir))).code).toBe('ERR_MODEL_DUPLICATE');
  });

  it('refuses a .. path before touching the disk', async () => {
    await writeFile(join(root, 'outside.onnx'), MODEL);
    await writeManifest({ version: 1, models: [entry({ file: '../outside.onnx' })] });
    expect((await rejects(loadManifest(dir))).code).toBe('ERR_MODEL_PATH');
  });

  it('refuses a symlink that escapes the model directory', async () => {
    await writeFile(join(root, 'outside.onnx'), MODEL);
    await symlink(join(root, 'outside.onnx'), join(dir, 'escape.onnx'));
    await writeManifest({ version: 1, models: [entry({ file: 'escape.onnx' })] });
    const e = await rejects(loadManifest(dir));
    expect([e.code, e.reason]).toEqual(['ERR_MODEL_PATH', 'path_escape']);
    expect(e.message).toContain('outside the model directory');
  });

  it('refuses a symlinked directory that escapes', async () => {
    await mkdir(join(root, 'elsewhere'));
    await writeFile(join(root, 'elsewhere', 'model.onnx'), MODEL);
    await symlink(join(root, 'elsewhere'), join(dir, 'linked'));
    await writeManifest({ version: 1, models: [entry({ file: 'linked/model.onnx' })] });
    expect((await rejects(loadManifest(dir))).code).toBe('ERR_MODEL_PATH');
  });

  it('accepts a symlink that stays inside (Kubernetes volume layout)', async () => {
    await symlink(join(dir, 'iris', '1', 'model.onnx'), join(dir, 'current.onnx'));
    await writeManifest({ version: 1, models: [entry({ file: 'current.onnx' })] });
    const m = await loadManifest(dir);
    expect(m.models[0]?.path).toBe(join(m.dir, 'iris', '1', 'model.onnx'));
  });

  it('refuses a manifest that is a symlink out of the directory', async () => {
    await writeFile(join(root, 'manifest.json'), enc({ version: 1, models: [] }));
    await symlink(join(root, 'manifest.json'), join(dir, 'manifest.json'));
    expect((await rejects(loadManifest(dir))).code).toBe('ERR_MODEL_PATH');
  });

  it('refuses a directory where a file should be', async () => {
    await writeManifest({ version: 1, models: [entry({ file: 'iris/1' })] });
    expect((await rejects(loadManifest(dir))).reason).toBe('not_a_file');
  });

  it('refuses a model file over the size limit', async () => {
    await writeManifest({ version: 1, models: [entry()] });
    const e = await rejects(loadManifest(dir, { maxModelBytes: MODEL.length - 1 }));
    expect([e.code, e.reason]).toEqual(['ERR_MODEL_FILE', 'file_too_large']);
  });

  it('refuses a manifest over the size limit', async () => {
    await writeManifest({ version: 1, models: [entry()] });
    expect((await rejects(loadManifest(dir, { maxManifestBytes: 10 }))).reason).toBe('file_too_large');
  });

  it('refuses a missing manifest and a missing directory', async () => {
    expect((await rejects(loadManifest(dir))).reason).toBe('missing_file');
    expect((await rejects(loadManifest(join(root, 'nope')))).reason).toBe('missing_dir');
  });
});
