import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { halfBitsOf, isOipDatatype, numberOfHalfBits, OIP_DATATYPES, oipDatatypeOf, ortTypeOf } from '../../../../enclave/runtime/datatypes.ts';

describe('OIP <-> onnxruntime datatypes', () => {
  it('round-trips every OIP datatype', () => {
    for (const d of OIP_DATATYPES) expect(oipDatatypeOf(ortTypeOf(d))).toBe(d);
  });
  it('has no OIP name for 4-bit types', () => {
    expect(oipDatatypeOf('int4')).toBeUndefined();
    expect(oipDatatypeOf('uint4')).toBeUndefined();
  });
  it('recognises only exact OIP names', () => {
    expect(isOipDatatype('FP32')).toBe(true);
    expect(isOipDatatype('fp32')).toBe(false);
    expect(isOipDatatype('FLOAT32')).toBe(false);
    expect(isOipDatatype(1)).toBe(false);
  });
});

describe('FP16 conversion', () => {
  const known: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff],
    [65519.99, 0x7bff],
    [65520, 0x7c00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -24, 0x0001],
    [2 ** -25, 0x0000], // a tie rounds to even (0)
    [3 * 2 ** -25, 0x0002], // a tie rounds to even (2)
    [2 ** -14, 0x0400],
    [2 ** -14 - 2 ** -25, 0x0400], // the largest subnormal tie rounds up into the normals
    [0.1, 0x2e66],
    [1 + 2 ** -11, 0x3c00], // tie between 1 and 1+2^-10 rounds to even (1)
    [1 + 3 * 2 ** -11, 0x3c02],
    [2047, 0x67ff],
    [2049, 0x6800], // tie rounds to even (2048)
  ];
  it.each(known)('%s -> 0x%s', (v, bits) => {
    expect(halfBitsOf(v)).toBe(bits);
  });
  it('encodes NaN as a quiet NaN', () => {
    expect(Number.isNaN(numberOfHalfBits(halfBitsOf(NaN)))).toBe(true);
  });
  it('decodes every finite half exactly and re-encodes it to the same bits', () => {
    const wrong: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const v = numberOfHalfBits(h);
      const isNanBits = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (Number.isNaN(v) ? !isNanBits : halfBitsOf(v) !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });
  it('rounds to the nearest half (property)', () => {
    fc.assert(
      fc.property(fc.double({ min: -65000, max: 65000, noNaN: true }), (v) => {
        const h = numberOfHalfBits(halfBitsOf(v));
        // No other half is strictly closer: check both neighbours of the result.
        const bits = halfBitsOf(h);
        for (const n of [bits - 1, bits + 1]) {
          if (n < 0 || n > 0xffff) continue;
          const other = numberOfHalfBits(n);
          if (!Number.isNaN(other)) expect(Math.abs(other - v)).toBeGreaterThanOrEqual(Math.abs(h - v));
        }
      }),
    );
  });
});
