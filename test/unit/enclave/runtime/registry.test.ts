import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelsManifestBytes } from '../../../../attestation/binding.ts';
import { ModelError, OipError } from '../../../../enclave/runtime/errors.ts';
import { loadManifest, sha256Hex } from '../../../../enclave/runtime/manifest.ts';
import { compareVersions, ModelRegistry } from '../../../../enclave/runtime/registry.ts';
import type { ModelSession } from '../../../../enclave/runtime/session.ts';
import { MODELS_DIR } from './helpers.ts';

/** A stand-in session: the registry only looks at name, version, sha256 and release(). */
function fake(name: string, version: string, released: string[] = []): ModelSession {
  return {
    name,
    version,
    sha256: sha256Hex(new TextEncoder().encode(`${name}@${version}`)),
    inputs: [],
    outputs: [],
    session: undefined as never,
    release: () => {
      released.push(`${name}@${version}`);
      return Promise.resolve();
    },
  };
}

function notFound(f: () => unknown): OipError {
  try {
    f();
  } catch (e: unknown) {
    if (OipError.is(e)) return e;
    throw e;
  }
  throw new Error('expected an OipError');
}

describe('compareVersions', () => {
  it.each([
    ['1', '2', -1],
    ['9', '10', -1],
    ['10', '10', 0],
    ['2', 'beta', 1],
    ['alpha', 'beta', -1],
    ['01', '1', -1], // not decimal (leading zero): ranks below any decimal
    ['99999999999999999999', '100000000000000000000', -1],
  ])('%s vs %s -> %i', (a, b, want) => {
    expect(Math.sign(compareVersions(a, b))).toBe(want);
    expect(Math.sign(compareVersions(b, a))).toBe(-want || 0);
  });
});

describe('ModelRegistry', () => {
  it('serves the latest version when none is given, and any named version', () => {
    const reg = new ModelRegistry([fake('m', '2'), fake('m', '10'), fake('m', '9'), fake('other', '1')]);
    expect(reg.get('m').version).toBe('10');
    expect(reg.get('m', '9').version).toBe('9');
    expect(reg.versions('m')).toEqual(['2', '9', '10']);
    expect(reg.versions('nope')).toEqual([]);
    expect(reg.list().map((m) => `${m.name}@${m.version}`)).toEqual(['m@2', 'm@9', 'm@10', 'other@1']);
    expect(reg.has('m')).toBe(true);
    expect(reg.has('m', '3')).toBe(false);
    expect(reg.has('x')).toBe(false);
  });

  it('answers 404 for an unknown model or version', () => {
    const reg = new ModelRegistry([fake('m', '1')]);
    const a = notFound(() => reg.get('x'));
    expect([a.code, a.httpStatus, a.reason, a.message]).toEqual(['ERR_OIP_MODEL_NOT_FOUND', 404, 'unknown_model', 'model "x" is not served here']);
    const b = notFound(() => reg.get('m', '2'));
    expect([b.reason, b.message]).toEqual(['unknown_version', 'model m has no version "2" (versions: 1)']);
    expect(notFound(() => reg.metadata('x')).code).toBe('ERR_OIP_MODEL_NOT_FOUND');
  });

  it('refuses the same name and version twice', () => {
    const reg = new ModelRegistry([fake('m', '1')]);
    expect(() => {
      reg.add(fake('m', '1'));
    }).toThrow(ModelError);
  });

  it('gives the digests the attestation binding commits to', () => {
    const reg = new ModelRegistry([fake('b', '1'), fake('a', '2')]);
    const digests = reg.digests();
    expect(digests.map((d) => d.name)).toEqual(['a', 'b']);
    expect(() => modelsManifestBytes(digests)).not.toThrow();
  });

  it('releases every session', async () => {
    const released: string[] = [];
    const reg = new ModelRegistry([fake('a', '1', released), fake('b', '1', released)]);
    await reg.release();
    expect(released.sort()).toEqual(['a@1', 'b@1']);
    expect(reg.list()).toEqual([]);
  });

  describe('fromManifest', () => {
    let reg: ModelRegistry;
    beforeAll(async () => {
      reg = await ModelRegistry.fromManifest(await loadManifest(MODELS_DIR));
    });
    afterAll(async () => {
      await reg.release();
    });

    it('loads the shipped models and answers metadata', () => {
      expect(reg.get('iris').version).toBe('1');
      expect(reg.metadata('iris')).toMatchObject({ name: 'iris', versions: ['1'], platform: 'onnxruntime' });
    });
  });

  it('fromManifest loads all or nothing', async () => {
    const root = await mkdtemp(join(tmpdir(), 'attestgate-registry-'));
    try {
      await mkdir(join(root, 'iris', '1'), { recursive: true });
      await copyFile(join(MODELS_DIR, 'iris', '1', 'model.onnx'), join(root, 'iris', '1', 'model.onnx'));
      const junk = new TextEncoder().encode('not onnx');
      await writeFile(join(root, 'junk.onnx'), junk);
      const iris = (await loadManifest(MODELS_DIR)).models.find((m) => m.name === 'iris');
      const manifest = {
        version: 1,
        models: [
          { name: 'iris', version: '1', file: 'iris/1/model.onnx', sha256: iris?.sha256 },
          { name: 'junk', version: '1', file: 'junk.onnx', sha256: sha256Hex(junk) },
        ],
      };
      await writeFile(join(root, 'manifest.json'), JSON.stringify(manifest));
      await expect(ModelRegistry.fromManifest(await loadManifest(root))).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD' });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
