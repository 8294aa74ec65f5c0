/**
 * onnxruntime sessions for verified models.
 *
 * A session is created from the bytes loadManifest hashed, never from the path: a path would be
 * read a second time, and whoever controls the disk could swap the file between the hash and
 * the load. The digest is checked once more right here, so that bytes changed in memory after
 * loading (a caller bug) cannot run under the manifest's digest either.
 *
 * Models whose weights live in external files are refused: those files are not covered by the
 * manifest digest. onnxruntime 1.30 already refuses external data for a model loaded from memory,
 * and we point its external-data folder at /dev/null (not a directory, so every lookup fails) so
 * that this holds whatever a later onnxruntime decides.
 */
import * as ort from 'onnxruntime-node';
import { oipDatatypeOf, type OipDatatype } from './datatypes.ts';
import { ModelError } from './errors.ts';
import { checkDigest, type LoadedModel } from './manifest.ts';

/** The onnxruntime-node version actually loaded (not the one package.json asks for). */
export const ONNXRUNTIME_VERSION: string = ort.env.versions.node ?? ort.env.versions.common;

const NO_EXTERNAL_DATA_DIR = '/dev/null';
const MAX_THREADS = 256;

export interface TensorSpec {
  readonly name: string;
  readonly datatype: OipDatatype;
  /**
   * One entry per dimension: a number is a fixed size; a string is a dynamic dimension, named
   * by the model's dim_param (`batch`) or '' when the model leaves it unnamed.
   */
  readonly shape: readonly (number | string)[];
}

/** What the OIP layer needs to know about a model to validate a request against it. */
export interface ModelSignature {
  readonly name: string;
  readonly version: string;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

export interface ModelSession extends ModelSignature {
  /** Lowercase hex SHA-256 of the bytes the session was created from. */
  readonly sha256: string;
  readonly description?: string;
  readonly session: ort.InferenceSession;
  release(): Promise<void>;
}

export interface SessionOptions {
  /** Threads onnxruntime may use inside one operator (default 1: one request, one core). */
  readonly intraOpNumThreads?: number;
}

function specsOf(model: LoadedModel, metadata: readonly ort.InferenceSession.ValueMetadata[] | undefined, kind: 'input' | 'output'): TensorSpec[] {
  if (metadata === undefined) {
    // onnxruntime-node before 1.22 has no metadata API; we pin 1.30 and refuse to guess.
    throw new ModelError('ERR_MODEL_UNSUPPORTED', `model ${model.name} version ${model.version}: this onnxruntime exposes no ${kind} metadata`, {
      reason: 'no_metadata',
    });
  }
  return metadata.map((m) => {
    const where = `model ${model.name} version ${model.version} ${kind} ${JSON.stringify(m.name)}`;
    if (!m.isTensor) throw new ModelError('ERR_MODEL_UNSUPPORTED', `${where} is not a tensor (sequence or map)`, { reason: 'non_tensor_io' });
    const datatype = oipDatatypeOf(m.type);
    if (datatype === undefined) throw new ModelError('ERR_MODEL_UNSUPPORTED', `${where} has element type ${m.type}, which OIP v2 cannot carry`, { reason: 'unsupported_datatype' });
    // onnxruntime reports an unnamed dynamic dimension as '' (seen) or a negative number
    // (documented for other bindings); both become '' here.
    const shape = m.shape.map((d) => (typeof d === 'number' && d < 0 ? '' : d));
    return { name: m.name, datatype, shape };
  });
}

/**
 * Create the onnxruntime session for one verified model.
 *   1. check the options;
 *   2. re-check the bytes against the manifest digest;
 *   3. create the session from those bytes (no external data);
 *   4. read the input/output metadata and refuse what OIP cannot serve.
 */
export async function createModelSession(model: LoadedModel, options: SessionOptions = {}): Promise<ModelSession> {
  // 1.
  const intraOpNumThreads = options.intraOpNumThreads ?? 1;
  if (!Number.isInteger(intraOpNumThreads) || intraOpNumThreads < 1 || intraOpNumThreads > MAX_THREADS) {
    throw new ModelError('ERR_RUNTIME_OPTION', `intraOpNumThreads is ${intraOpNumThreads}, want an integer from 1 to ${MAX_THREADS}`, { reason: 'bad_option' });
  }

  // 2.
  checkDigest(model, model.bytes);

  // 3.
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(model.bytes, {
      intraOpNumThreads,
      // One request's operators run one after another; concurrency comes from concurrent requests.
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      executionProviders: ['cpu'],
      extra: { session: { model_external_initializers_file_folder_path: NO_EXTERNAL_DATA_DIR } },
    });
  } catch (e: unknown) {
    throw new ModelError('ERR_MODEL_LOAD', `model ${model.name} version ${model.version}: onnxruntime refused it (${e instanceof Error ? e.message.split('\n')[0] ?? '' : 'unknown error'})`, {
      reason: 'onnxruntime_refused',
      cause: e,
    });
  }

  // 4.
  let inputs: TensorSpec[];
  let outputs: TensorSpec[];
  try {
    inputs = specsOf(model, session.inputMetadata, 'input');
    outputs = specsOf(model, session.outputMetadata, 'output');
  } catch (e: unknown) {
    await session.release();
    throw e;
  }

  const base = {
    name: model.name,
    version: model.version,
    sha256: model.sha256,
    inputs,
    outputs,
    session,
    release: () => session.release(),
  };
  return model.description === undefined ? base : { ...base, description: model.description };
}
