/**
 * Tiny ONNX models minted for tests (onnx-proto), to reach the datatypes and failure paths the
 * shipped Iris model does not: one Identity per element type, a model whose weights live in an
 * external file, a model with an unknown operator.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const DT = onnx.TensorProto.DataType;

export const ONNX_ELEM_TYPE = {
  BOOL: DT.BOOL,
  UINT8: DT.UINT8,
  UINT16: DT.UINT16,
  UINT32: DT.UINT32,
  UINT64: DT.UINT64,
  INT8: DT.INT8,
  INT16: DT.INT16,
  INT32: DT.INT32,
  INT64: DT.INT64,
  FP16: DT.FLOAT16,
  FP32: DT.FLOAT,
  FP64: DT.DOUBLE,
  BYTES: DT.STRING,
} as const;

type Dims = readonly (number | string | null)[];

function valueInfo(name: string, elemType: number, dims: Dims): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (d === null ? {} : typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

function encode(graph: onnxProto.onnx.IGraphProto, opset = 17): Uint8Array {
  return Uint8Array.from(
    onnx.ModelProto.encode(
      onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: opset }], producerName: 'attestgate-test', graph }),
    ).finish(),
  );
}

/** y = Identity(x) for one element type; `dims` as given (string = symbolic, null = unknown). */
export function identityModel(elemType: number, dims: Dims = ['batch', 2]): Uint8Array {
  return encode({
    name: 'identity',
    node: [{ opType: 'Identity', input: ['x'], output: ['y'] }],
    input: [valueInfo('x', elemType, dims)],
    output: [valueInfo('y', elemType, dims)],
  });
}

/** Two float inputs sharing the symbolic dim `n`, two outputs: sum = a + b, diff = a - b. */
export function twoInputModel(): Uint8Array {
  return encode({
    name: 'two',
    node: [
      { opType: 'Add', input: ['a', 'b'], output: ['sum'] },
      { opType: 'Sub', input: ['a', 'b'], output: ['diff'] },
    ],
    input: [valueInfo('a', DT.FLOAT, ['n', 3]), valueInfo('b', DT.FLOAT, ['n', 3])],
    output: [valueInfo('sum', DT.FLOAT, ['n', 3]), valueInfo('diff', DT.FLOAT, ['n', 3])],
  });
}

/** y = x + w where w[2] lives in an external file `location` (relative to some folder). */
export function externalDataModel(location: string): Uint8Array {
  return encode({
    name: 'external',
    node: [{ opType: 'Add', input: ['x', 'w'], output: ['y'] }],
    initializer: [
      {
        name: 'w',
        dims: [2],
        dataType: DT.FLOAT,
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: location },
          { key: 'offset', value: '0' },
          { key: 'length', value: '8' },
        ],
      },
    ],
    input: [valueInfo('x', DT.FLOAT, [2])],
    output: [valueInfo('y', DT.FLOAT, [2])],
  });
}

/** A graph with an operator no runtime has. */
export function unknownOpModel(): Uint8Array {
  return encode({
    name: 'unknown',
    node: [{ opType: 'NoSuchOperatorAnywhere', input: ['x'], output: ['y'] }],
    input: [valueInfo('x', DT.FLOAT, [1])],
    output: [valueInfo('y', DT.FLOAT, [1])],
  });
}

/** A model whose output is a sequence of tensors (not a tensor: OIP cannot carry it). */
export function sequenceOutputModel(): Uint8Array {
  return encode({
    name: 'sequence',
    node: [
      { opType: 'Identity', input: ['x'], output: ['y'] },
      { opType: 'SequenceEmpty', input: [], output: ['s'], attribute: [{ name: 'dtype', type: onnx.AttributeProto.AttributeType.INT, i: DT.FLOAT }] },
    ],
    input: [valueInfo('x', DT.FLOAT, [1])],
    output: [valueInfo('y', DT.FLOAT, [1]), { name: 's', type: { sequenceType: { elemType: { tensorType: { elemType: DT.FLOAT } } } } }],
  });
}

/** DequantizeLinear of 4-bit integers (ONNX INT4 = 22, opset 21): onnxruntime has them, OIP does not. */
export function int4Model(): Uint8Array {
  return encode(
    {
      name: 'int4',
      node: [{ opType: 'DequantizeLinear', input: ['x', 'scale'], output: ['y'] }],
      initializer: [{ name: 'scale', dims: [], dataType: DT.FLOAT, floatData: [1] }],
      input: [valueInfo('x', 22, [2])],
      output: [valueInfo('y', DT.FLOAT, [2])],
    },
    21,
  );
}

/** y = x / x for FP32 [n]: 0/0 gives NaN, the output OIP JSON cannot carry. */
export function divSelfModel(): Uint8Array {
  return encode({
    name: 'div',
    node: [{ opType: 'Div', input: ['x', 'x'], output: ['y'] }],
    input: [valueInfo('x', DT.FLOAT, ['n'])],
    output: [valueInfo('y', DT.FLOAT, ['n'])],
  });
}
