/**
 * Tensor element types as the Open Inference Protocol v2 names them, and their onnxruntime
 * counterparts. One table, so the metadata a client reads and the check its request goes
 * through cannot disagree.
 */
import type { Tensor } from 'onnxruntime-node';

export const OIP_DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const;
export type OipDatatype = (typeof OIP_DATATYPES)[number];

const OIP_TO_ORT = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
} as const satisfies Record<OipDatatype, Tensor.Type>;
export type OrtDatatype = (typeof OIP_TO_ORT)[OipDatatype];

const ORT_TO_OIP = new Map<string, OipDatatype>(OIP_DATATYPES.map((d) => [OIP_TO_ORT[d], d]));
const OIP_SET: ReadonlySet<string> = new Set(OIP_DATATYPES);

export function isOipDatatype(s: unknown): s is OipDatatype {
  return typeof s === 'string' && OIP_SET.has(s);
}

export function ortTypeOf(d: OipDatatype): OrtDatatype {
  return OIP_TO_ORT[d];
}

/** undefined for onnxruntime types OIP has no name for (uint4, int4). */
export function oipDatatypeOf(t: string): OipDatatype | undefined {
  return ORT_TO_OIP.get(t);
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The largest finite FP16 value; anything from 65520 up rounds to infinity. */
export const FP16_MAX = 65504;

/**
 * IEEE 754 binary16 bits of a number, rounded to nearest-even straight from the double (going
 * through float32 first would round twice). Node 20 has no Float16Array, and onnxruntime takes
 * FP16 tensors as Uint16Array bit patterns.
 */
export function halfBitsOf(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) {
    // Subnormal: a = m · 2^-24 with m < 1024; m = 1024 after rounding is the smallest normal,
    // whose encoding is exactly 0x0400, so no special case is needed.
    return sign | roundHalfEven(a / 2 ** -24);
  }
  let e = Math.floor(Math.log2(a));
  // log2 is not exact next to powers of two; fix the exponent so that 2^e <= a < 2^(e+1).
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  // a / 2^e is exact (power-of-two scaling), so only the final rounding loses bits. A mantissa
  // that rounds up to 1024 carries into the exponent through the addition.
  const m = roundHalfEven((a / 2 ** e - 1) * 1024);
  return sign | (((e + 15) << 10) + m);
}

export function numberOfHalfBits(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m === 0 ? s * Infinity : NaN;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
