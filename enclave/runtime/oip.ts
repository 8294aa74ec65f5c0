/**
 * The Open Inference Protocol v2 (KServe / Triton) REST layer, as pure functions the server calls:
 *   modelMetadata      GET  /v2/models/{name}[/versions/{v}]
 *   parseInferRequest  POST /v2/models/{name}[/versions/{v}]/infer   body bytes -> InferRequest
 *   runInference       InferRequest -> InferResponse (the response body as an object)
 *   encodeInferResponse InferResponse -> the exact bytes to send (and to sign in a receipt)
 * https://kserve.github.io/website/docs/concepts/architecture/data-plane/v2-protocol
 *
 * The request body comes from anyone who can reach the gateway. It is parsed to `unknown` and
 * checked field by field against the model's signature before a single byte reaches
 * onnxruntime: onnxruntime's kernels trust their inputs' shapes and types, so a wrong rank, a
 * short buffer or a NaN where the model expects an index is our problem, not theirs. Every
 * rejection is an OipError (400) whose message names the field, what it is and what it should
 * be; nothing else escapes parseInferRequest (the fuzz test holds us to that).
 *
 * JSON numbers are IEEE doubles, so INT64/UINT64 values are taken and returned only within
 * ±(2^53−1), where they are exact. A request with a larger integer is refused; an output with
 * one fails with ERR_OIP_OUTPUT_UNREPRESENTABLE rather than being rounded or turned into a
 * string the client did not ask for. NaN and ±Infinity outputs fail the same way, because
 * JSON.stringify would silently write them as null.
 *
 * The binary tensor extension (binary_data*), shared memory and classification extensions are
 * not implemented, and requests that ask for them are refused instead of being half-served.
 */
import * as ort from 'onnxruntime-node';
import { FP16_MAX, halfBitsOf, isOipDatatype, numberOfHalfBits, oipDatatypeOf, ortTypeOf, type OipDatatype } from './datatypes.ts';
import { OipError } from './errors.ts';
import type { ModelSession, ModelSignature, TensorSpec } from './session.ts';

export interface OipLimits {
  /** Request body size (default 32 MiB). The server should also cap the body before reading it. */
  readonly maxRequestBytes: number;
  /** Elements across all input tensors of one request (default 1,000,000). */
  readonly maxElements: number;
  /** The leading dimension of an input whose leading dimension is dynamic (default 1024). */
  readonly maxBatch: number;
  /** Length of the request `id` (default 256). */
  readonly maxIdLength: number;
  /** Entries in one `parameters` object (default 64). */
  readonly maxParameters: number;
}

export const DEFAULT_OIP_LIMITS: OipLimits = Object.freeze({
  maxRequestBytes: 32 * 1024 * 1024,
  maxElements: 1_000_000,
  maxBatch: 1024,
  maxIdLength: 256,
  maxParameters: 64,
});

/** The stable `reason` of every OipError the parser raises (all ERR_OIP_BAD_REQUEST). */
export const BAD_REQUEST_REASONS = [
  'too_large',
  'not_utf8',
  'not_json',
  'not_object',
  'unknown_key',
  'bad_id',
  'bad_parameters',
  'unsupported_extension',
  'bad_inputs',
  'bad_input',
  'unknown_input',
  'duplicate_input',
  'missing_input',
  'bad_datatype',
  'datatype_mismatch',
  'bad_shape',
  'shape_mismatch',
  'dim_mismatch',
  'batch_too_large',
  'too_many_elements',
  'bad_data',
  'element_count',
  'element_type',
  'element_range',
  'bad_outputs',
  'unknown_output',
  'duplicate_output',
] as const;
export type BadRequestReason = (typeof BAD_REQUEST_REASONS)[number];

export type ParameterValue = string | number | boolean;
export type Parameters = Readonly<Record<string, ParameterValue>>;

/** Input data in the array type onnxruntime takes for the datatype (BOOL as 0/1 bytes, FP16 as bits). */
export type TensorData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array
  | string[];

export interface InferInput {
  readonly name: string;
  readonly datatype: OipDatatype;
  readonly shape: readonly number[];
  readonly data: TensorData;
  readonly parameters?: Parameters;
}

export interface InferRequest {
  /** The model the request was checked against; runInference refuses any other. */
  readonly model: { readonly name: string; readonly version: string };
  readonly id?: string;
  readonly parameters?: Parameters;
  /** In the model's input order. */
  readonly inputs: readonly InferInput[];
  /** Output names to return, in the order asked for; all of the model's outputs when none were. */
  readonly outputs: readonly string[];
}

export interface InferOutput {
  readonly name: string;
  readonly datatype: OipDatatype;
  readonly shape: readonly number[];
  /** Row-major, flat. */
  readonly data: readonly (number | boolean | string)[];
}

export interface InferResponse {
  readonly model_name: string;
  readonly model_version: string;
  readonly id?: string;
  readonly outputs: readonly InferOutput[];
}

export interface MetadataTensor {
  readonly name: string;
  readonly datatype: OipDatatype;
  /** -1 for a dynamic dimension. */
  readonly shape: readonly number[];
}

export interface ModelMetadata {
  readonly name: string;
  readonly versions: readonly string[];
  readonly platform: 'onnxruntime';
  readonly inputs: readonly MetadataTensor[];
  readonly outputs: readonly MetadataTensor[];
}

function metadataTensor(t: TensorSpec): MetadataTensor {
  return { name: t.name, datatype: t.datatype, shape: t.shape.map((d) => (typeof d === 'number' ? d : -1)) };
}

/** The model metadata response; `versions` lists the versions served under this name. */
export function modelMetadata(model: ModelSignature, versions: readonly string[] = [model.version]): ModelMetadata {
  return {
    name: model.name,
    versions: [...versions],
    platform: 'onnxruntime',
    inputs: model.inputs.map(metadataTensor),
    outputs: model.outputs.map(metadataTensor),
  };
}

// ---------------------------------------------------------------------------------------------
// Parsing

function bad(reason: BadRequestReason, message: string, cause?: unknown): OipError {
  return new OipError('ERR_OIP_BAD_REQUEST', reason, message, cause === undefined ? {} : { cause });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** What a value is, in words, without echoing strings or structures back at length. */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'number':
      return String(v);
    case 'boolean':
      return String(v);
    case 'string':
      return 'a string';
    case 'object':
      return 'an object';
    case 'undefined':
      return 'missing';
    case 'bigint':
    case 'symbol':
    case 'function':
      return `a ${typeof v}`;
  }
  return 'a value';
}

function quote(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
}

function closedKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) throw bad('unknown_key', `${where} has unknown field ${quote(k)} (allowed: ${allowed.join(', ')})`);
  }
}

/** Extension parameters we do not implement; asking for them must not be silently ignored. */
const UNSUPPORTED_PARAMETERS: Readonly<Record<'request' | 'input' | 'output', readonly string[]>> = {
  request: ['binary_data_output'],
  input: ['binary_data_size', 'shared_memory_region', 'shared_memory_byte_size', 'shared_memory_offset'],
  output: ['binary_data', 'shared_memory_region', 'shared_memory_byte_size', 'shared_memory_offset', 'classification'],
};

function parseParameters(v: unknown, where: string, level: 'request' | 'input' | 'output', limits: OipLimits): Parameters {
  if (!isRecord(v)) throw bad('bad_parameters', `${where} is ${describe(v)}, want an object`);
  const entries = Object.entries(v);
  if (entries.length > limits.maxParameters) throw bad('bad_parameters', `${where} has ${entries.length} entries, at most ${limits.maxParameters}`);
  for (const [k, val] of entries) {
    if (!(typeof val === 'string' || typeof val === 'boolean' || (typeof val === 'number' && Number.isFinite(val)))) {
      throw bad('bad_parameters', `${where}.${quote(k)} is ${describe(val)}, want a string, a boolean or a finite number`);
    }
    // `binary_data: false` and `binary_data_output: false` ask for what we do anyway.
    if (UNSUPPORTED_PARAMETERS[level].includes(k) && val !== false) {
      throw bad('unsupported_extension', `${where}.${k}: this server implements only the JSON tensor format (no binary data, shared memory or classification extension)`);
    }
  }
  // A fresh object: the caller's keys (even "__proto__") become plain own data properties.
  return Object.fromEntries(entries) as Record<string, ParameterValue>;
}

interface Sink {
  readonly data: TensorData;
  /** Store element i, or say what is wrong with it (`want ...`) and whether it is type or range. */
  put(i: number, v: unknown): ['element_type' | 'element_range', string] | undefined;
}

interface NumberArray {
  [i: number]: number;
}

function intSink(data: TensorData & NumberArray, min: number, max: number, dt: OipDatatype): Sink {
  return {
    data,
    put(i, v) {
      if (typeof v !== 'number' || !Number.isInteger(v)) return ['element_type', `want an integer (${dt})`];
      if (v < min || v > max) return ['element_range', `out of range for ${dt} [${min}, ${max}]`];
      data[i] = v;
      return undefined;
    },
  };
}

function bigintSink(data: BigInt64Array | BigUint64Array, min: number, dt: OipDatatype): Sink {
  return {
    data,
    put(i, v) {
      if (typeof v !== 'number' || !Number.isInteger(v)) return ['element_type', `want an integer (${dt})`];
      // JSON.parse has already rounded anything beyond 2^53; refuse rather than run a value
      // the client did not send.
      if (!Number.isSafeInteger(v) || v < min) {
        return ['element_range', `out of range for ${dt} over JSON [${min === 0 ? 0 : -Number.MAX_SAFE_INTEGER}, ${Number.MAX_SAFE_INTEGER}] (larger integers lose precision in JSON numbers)`];
      }
      data[i] = BigInt(v);
      return undefined;
    },
  };
}

function floatSink(data: Float32Array | Float64Array, dt: 'FP32' | 'FP64'): Sink {
  return {
    data,
    put(i, v) {
      if (typeof v !== 'number') return ['element_type', `want a number (${dt})`];
      // JSON.parse turns 1e400 into Infinity; float32 turns 1e39 into Infinity.
      const stored = dt === 'FP32' ? Math.fround(v) : v;
      if (!Number.isFinite(stored)) return ['element_range', `out of range for ${dt}`];
      data[i] = stored;
      return undefined;
    },
  };
}

function sinkFor(dt: OipDatatype, n: number): Sink {
  switch (dt) {
    case 'BOOL': {
      const data = new Uint8Array(n);
      return {
        data,
        put(i, v) {
          if (typeof v !== 'boolean') return ['element_type', 'want true or false (BOOL)'];
          data[i] = v ? 1 : 0;
          return undefined;
        },
      };
    }
    case 'UINT8':
      return intSink(new Uint8Array(n), 0, 0xff, dt);
    case 'UINT16':
      return intSink(new Uint16Array(n), 0, 0xffff, dt);
    case 'UINT32':
      return intSink(new Uint32Array(n), 0, 0xffffffff, dt);
    case 'UINT64':
      return bigintSink(new BigUint64Array(n), 0, dt);
    case 'INT8':
      return intSink(new Int8Array(n), -0x80, 0x7f, dt);
    case 'INT16':
      return intSink(new Int16Array(n), -0x8000, 0x7fff, dt);
    case 'INT32':
      return intSink(new Int32Array(n), -0x80000000, 0x7fffffff, dt);
    case 'INT64':
      return bigintSink(new BigInt64Array(n), -Number.MAX_SAFE_INTEGER, dt);
    case 'FP16': {
      const data = new Uint16Array(n);
      return {
        data,
        put(i, v) {
          if (typeof v !== 'number') return ['element_type', 'want a number (FP16)'];
          // Values from 65520 up round to infinity in binary16; refuse them like FP32 overflow.
          if (!(Math.abs(v) < 65520)) return ['element_range', `out of range for FP16 (largest finite value ${FP16_MAX})`];
          data[i] = halfBitsOf(v);
          return undefined;
        },
      };
    }
    case 'FP32':
      return floatSink(new Float32Array(n), dt);
    case 'FP64':
      return floatSink(new Float64Array(n), dt);
    case 'BYTES': {
      const data = new Array<string>(n).fill('');
      return {
        data,
        put(i, v) {
          if (typeof v !== 'string') return ['element_type', 'want a string (BYTES)'];
          data[i] = v;
          return undefined;
        },
      };
    }
  }
}

/**
 * Fill the sink from `data`: either flat (row-major, exactly `count` scalars) or nested arrays
 * whose structure is exactly `shape`. Recursion is bounded by the model's rank, not by the input.
 */
function fillData(data: unknown, shape: readonly number[], count: number, sink: Sink, where: string): void {
  if (!Array.isArray(data)) throw bad('bad_data', `${where}.data is ${describe(data)}, want an array`);
  const put = (i: number, v: unknown): void => {
    const problem = sink.put(i, v);
    if (problem !== undefined) throw bad(problem[0], `${where}.data element ${i} is ${describe(v)}, ${problem[1]}`);
  };
  if (shape.length < 2 || !Array.isArray(data[0])) {
    if (data.length !== count) {
      throw bad('element_count', `${where}.data has ${data.length} elements, want ${count} (the product of shape [${shape.join(',')}])`);
    }
    data.forEach((v: unknown, i) => {
      put(i, v);
    });
    return;
  }
  let next = 0;
  const walk = (node: unknown, depth: number, path: string): void => {
    if (depth === shape.length) {
      put(next++, node);
      return;
    }
    const want = shape[depth] as number;
    if (!Array.isArray(node)) throw bad('bad_data', `${where}.data${path} is ${describe(node)}, want an array of ${want} (nested data must follow shape [${shape.join(',')}])`);
    if (node.length !== want) {
      throw bad('bad_data', `${where}.data${path} has ${node.length} entries, want ${want} (nested data must follow shape [${shape.join(',')}])`);
    }
    node.forEach((child: unknown, i) => {
      walk(child, depth + 1, `${path}[${i}]`);
    });
  };
  walk(data, 0, '');
}

interface ShapeContext {
  /** Sizes bound so far to named dynamic dimensions (`batch`), shared across inputs. */
  readonly symbols: Map<string, { size: number; input: string }>;
  elements: number;
}

function parseShape(v: unknown, spec: TensorSpec, where: string, ctx: ShapeContext, limits: OipLimits): { shape: number[]; count: number } {
  if (!Array.isArray(v)) throw bad('bad_shape', `${where}.shape is ${describe(v)}, want an array of dimension sizes`);
  const modelShape = `[${spec.shape.map((d) => (typeof d === 'number' ? String(d) : d === '' ? '-1' : d)).join(',')}]`;
  if (v.length !== spec.shape.length) {
    throw bad('shape_mismatch', `${where}.shape has rank ${v.length}, want rank ${spec.shape.length} (model input ${quote(spec.name)} has shape ${modelShape})`);
  }
  const shape: number[] = [];
  let count = 1;
  v.forEach((d: unknown, i) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) throw bad('bad_shape', `${where}.shape[${i}] is ${describe(d)}, want a non-negative integer`);
    const m = spec.shape[i] as number | string;
    if (typeof m === 'number') {
      if (d !== m) throw bad('shape_mismatch', `${where}.shape[${i}] is ${d}, want ${m} (model input ${quote(spec.name)} has shape ${modelShape})`);
    } else {
      // A dynamic dimension of size 0 is legal ONNX but a corner few kernels are tested on;
      // nobody needs to send an empty batch.
      if (d < 1) throw bad('bad_shape', `${where}.shape[${i}] is ${d}, want at least 1`);
      if (i === 0 && d > limits.maxBatch) throw bad('batch_too_large', `${where}.shape[0] (batch) is ${d}, at most ${limits.maxBatch}`);
      if (m !== '') {
        const bound = ctx.symbols.get(m);
        if (bound === undefined) ctx.symbols.set(m, { size: d, input: spec.name });
        else if (bound.size !== d) {
          throw bad('dim_mismatch', `${where}.shape[${i}] is ${d}, but dimension ${quote(m)} is ${bound.size} in input ${quote(bound.input)}`);
        }
      }
    }
    shape.push(d);
    count *= d;
    // Checked per factor, so the product never grows past the limit times one safe integer.
    if (ctx.elements + count > limits.maxElements) {
      throw bad('too_many_elements', `${where}.shape [${v.map((x) => describe(x)).join(',')}] brings the request over ${limits.maxElements} elements`);
    }
  });
  ctx.elements += count;
  return { shape, count };
}

function parseInput(
  v: unknown,
  index: number,
  model: ModelSignature,
  seen: Set<string>,
  ctx: ShapeContext,
  limits: OipLimits,
): InferInput {
  const where = `inputs[${index}]`;
  if (!isRecord(v)) throw bad('bad_input', `${where} is ${describe(v)}, want an object with name, shape, datatype and data`);
  closedKeys(v, ['name', 'shape', 'datatype', 'data', 'parameters'], where);
  for (const k of ['name', 'shape', 'datatype', 'data'] as const) {
    if (v[k] === undefined) throw bad('bad_input', `${where}.${k} is missing`);
  }

  const name = v['name'];
  if (typeof name !== 'string') throw bad('bad_input', `${where}.name is ${describe(name)}, want a string`);
  const spec = model.inputs.find((s) => s.name === name);
  if (spec === undefined) {
    throw bad('unknown_input', `${where}.name ${quote(name)} is not an input of model ${model.name} (inputs: ${model.inputs.map((s) => s.name).join(', ')})`);
  }
  if (seen.has(name)) throw bad('duplicate_input', `${where}.name ${quote(name)} appears twice`);
  seen.add(name);

  const datatype = v['datatype'];
  if (!isOipDatatype(datatype)) {
    throw bad('bad_datatype', `${where}.datatype is ${typeof datatype === 'string' ? quote(datatype) : describe(datatype)}, want one of ${OIP_DATATYPE_LIST}`);
  }
  if (datatype !== spec.datatype) throw bad('datatype_mismatch', `${where}.datatype is ${datatype}, want ${spec.datatype} (model input ${quote(name)})`);

  const { shape, count } = parseShape(v['shape'], spec, where, ctx, limits);

  let parameters: Parameters | undefined;
  if (v['parameters'] !== undefined) parameters = parseParameters(v['parameters'], `${where}.parameters`, 'input', limits);

  const sink = sinkFor(datatype, count);
  fillData(v['data'], shape, count, sink, where);

  const input: InferInput = { name, datatype, shape, data: sink.data };
  return parameters === undefined ? input : { ...input, parameters };
}

const OIP_DATATYPE_LIST = 'BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES';

function parseOutputs(v: unknown, model: ModelSignature, limits: OipLimits): string[] {
  if (v === undefined) return model.outputs.map((o) => o.name);
  if (!Array.isArray(v) || v.length === 0) throw bad('bad_outputs', `outputs is ${Array.isArray(v) ? 'empty' : describe(v)}, want a non-empty array (or leave it out for all outputs)`);
  const names: string[] = [];
  v.forEach((o: unknown, i) => {
    const where = `outputs[${i}]`;
    if (!isRecord(o)) throw bad('bad_outputs', `${where} is ${describe(o)}, want an object with a name`);
    closedKeys(o, ['name', 'parameters'], where);
    const name = o['name'];
    if (typeof name !== 'string') throw bad('bad_outputs', `${where}.name is ${describe(name)}, want a string`);
    if (!model.outputs.some((s) => s.name === name)) {
      throw bad('unknown_output', `${where}.name ${quote(name)} is not an output of model ${model.name} (outputs: ${model.outputs.map((s) => s.name).join(', ')})`);
    }
    if (names.includes(name)) throw bad('duplicate_output', `${where}.name ${quote(name)} appears twice`);
    if (o['parameters'] !== undefined) parseParameters(o['parameters'], `${where}.parameters`, 'output', limits);
    names.push(name);
  });
  return names;
}

/**
 * Parse and validate an inference request body for `model`.
 *   1. size, UTF-8, JSON, a closed top-level object;
 *   2. id and parameters;
 *   3. each input: closed object, known and unique name, datatype equal to the model's, shape of
 *      the model's rank with its fixed dimensions, batch and element limits, then the data
 *      (count, type and range of every element) into the typed array onnxruntime takes;
 *   4. every model input present;
 *   5. the requested outputs.
 * Throws only OipError (ERR_OIP_BAD_REQUEST).
 */
export function parseInferRequest(bytes: Uint8Array, model: ModelSignature, limits: Partial<OipLimits> = {}): InferRequest {
  const lim: OipLimits = { ...DEFAULT_OIP_LIMITS, ...limits };

  // 1.
  if (bytes.length > lim.maxRequestBytes) throw bad('too_large', `request body is ${bytes.length} bytes, at most ${lim.maxRequestBytes}`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e: unknown) {
    if (e instanceof TypeError) throw bad('not_utf8', 'request body is not valid UTF-8', e);
    throw bad('not_json', `request body is not valid JSON (${e instanceof SyntaxError ? e.message : 'too deeply nested'})`, e);
  }
  if (!isRecord(json)) throw bad('not_object', `request body is ${describe(json)}, want a JSON object`);
  closedKeys(json, ['id', 'parameters', 'inputs', 'outputs'], 'request');

  // 2.
  const id = json['id'];
  if (id !== undefined && (typeof id !== 'string' || id.length > lim.maxIdLength)) {
    throw bad('bad_id', `id is ${typeof id === 'string' ? `${id.length} characters long` : describe(id)}, want a string of at most ${lim.maxIdLength} characters`);
  }
  const parameters = json['parameters'] === undefined ? undefined : parseParameters(json['parameters'], 'parameters', 'request', lim);

  // 3.
  const rawInputs = json['inputs'];
  if (!Array.isArray(rawInputs) || rawInputs.length === 0) {
    throw bad('bad_inputs', `inputs is ${Array.isArray(rawInputs) ? 'empty' : describe(rawInputs)}, want a non-empty array of input tensors`);
  }
  const seen = new Set<string>();
  const ctx: ShapeContext = { symbols: new Map(), elements: 0 };
  const parsed = rawInputs.map((v: unknown, i) => parseInput(v, i, model, seen, ctx, lim));

  // 4.
  const missing = model.inputs.filter((s) => !seen.has(s.name)).map((s) => s.name);
  if (missing.length > 0) throw bad('missing_input', `inputs lacks ${missing.map(quote).join(', ')}, which model ${model.name} requires`);
  const inputs = model.inputs.map((s) => parsed.find((p) => p.name === s.name) as InferInput);

  // 5.
  const outputs = parseOutputs(json['outputs'], model, lim);

  let request: InferRequest = { model: { name: model.name, version: model.version }, inputs, outputs };
  if (id !== undefined) request = { ...request, id };
  if (parameters !== undefined) request = { ...request, parameters };
  return request;
}

// ---------------------------------------------------------------------------------------------
// Inference

function unrepresentable(output: string, i: number, what: string): OipError {
  return new OipError('ERR_OIP_OUTPUT_UNREPRESENTABLE', 'output_unrepresentable', `output ${quote(output)} element ${i} is ${what}, which has no exact JSON number`);
}

function finiteNumbers(name: string, values: ArrayLike<number>): number[] {
  const out = Array.from(values);
  out.forEach((v, i) => {
    if (!Number.isFinite(v)) throw unrepresentable(name, i, String(v));
  });
  return out;
}

function renderOutput(name: string, tensor: ort.Tensor): InferOutput {
  const datatype = oipDatatypeOf(tensor.type);
  if (datatype === undefined) throw unrepresentable(name, 0, `of type ${tensor.type}`);
  const shape = [...tensor.dims];
  const raw = tensor.data;
  let data: (number | boolean | string)[];
  if (raw instanceof BigInt64Array || raw instanceof BigUint64Array) {
    data = Array.from(raw, (v, i) => {
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) throw unrepresentable(name, i, `${v} (beyond ±(2^53−1))`);
      return Number(v);
    });
  } else if (Array.isArray(raw)) {
    data = raw.map(String);
  } else if (datatype === 'BOOL') {
    data = Array.from(raw, (v) => v !== 0);
  } else if (datatype === 'FP16') {
    data = finiteNumbers(name, Array.from(raw, numberOfHalfBits));
  } else {
    data = finiteNumbers(name, raw);
  }
  return { name, datatype, shape, data };
}

function feedOf(input: InferInput): ort.Tensor {
  return new ort.Tensor(ortTypeOf(input.datatype), input.data, input.shape);
}

/**
 * Run a parsed request on its model. Inputs were validated against the same model's signature;
 * a request parsed for another model is a caller bug and is refused.
 */
export async function runInference(model: ModelSession, request: InferRequest): Promise<InferResponse> {
  if (request.model.name !== model.name || request.model.version !== model.version) {
    throw new OipError(
      'ERR_OIP_INFERENCE_FAILED',
      'model_mismatch',
      `request was parsed for model ${request.model.name} version ${request.model.version}, not ${model.name} version ${model.version}`,
    );
  }
  let results: ort.InferenceSession.ReturnType;
  try {
    // Inside the try: ort.Tensor checks data length against shape, and a hand-built request
    // that skipped parseInferRequest could fail there.
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of request.inputs) feeds[input.name] = feedOf(input);
    results = await model.session.run(feeds, [...request.outputs]);
  } catch (e: unknown) {
    throw new OipError('ERR_OIP_INFERENCE_FAILED', 'onnxruntime_failed', `model ${model.name} version ${model.version}: onnxruntime failed`, { cause: e });
  }
  const outputs = request.outputs.map((name) => {
    const t = results[name];
    if (t === undefined) throw new OipError('ERR_OIP_INFERENCE_FAILED', 'missing_output', `model ${model.name}: onnxruntime returned no output ${quote(name)}`);
    return renderOutput(name, t);
  });
  const response: InferResponse = { model_name: model.name, model_version: model.version, outputs };
  return request.id === undefined ? response : { ...response, id: request.id };
}

/** The response body's exact bytes (UTF-8 JSON): what the server sends and a receipt hashes. */
export function encodeInferResponse(response: InferResponse): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(response));
}
