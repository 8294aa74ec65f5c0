import { describe, expect, it } from 'vitest';
import { AttestationError } from '../../../../attestation/errors.ts';
import { decodeCbor, encodeHead, mapGet, type CborValue } from '../../../../attestation/nitro/cbor.ts';
import { cat, enc, head, hex } from './encode.ts';

function malformed(bytes: Uint8Array, message?: RegExp, maxDepth?: number): void {
  let err: unknown;
  try {
    decodeCbor(bytes, maxDepth === undefined ? {} : { maxDepth });
  } catch (e: unknown) {
    err = e;
  }
  expect(AttestationError.is(err), `no AttestationError for ${Buffer.from(bytes).toString('hex')}`).toBe(true);
  const e = err as AttestationError;
  expect(e.code).toBe('ERR_EVIDENCE_MALFORMED');
  expect(e.reason).toBe('malformed_cbor');
  if (message !== undefined) expect(e.message).toMatch(message);
}

const int = (v: CborValue): bigint => {
  if (v.kind !== 'int') throw new Error(`not an int: ${v.kind}`);
  return v.value;
};

describe('CBOR decoder: accepted items', () => {
  it.each([
    ['00', 0n],
    ['17', 23n],
    ['1818', 24n],
    ['1903e8', 1000n],
    ['1a000f4240', 1000000n],
    ['1bffffffffffffffff', 18446744073709551615n],
    ['20', -1n],
    ['3822', -35n],
    ['3bffffffffffffffff', -18446744073709551616n],
  ])('integer %s', (h, want) => {
    expect(int(decodeCbor(hex(h)))).toBe(want);
  });

  it('accepts non-preferred argument encodings, whose meaning is unambiguous', () => {
    expect(int(decodeCbor(hex('1805')))).toBe(5n);
    expect(int(decodeCbor(hex('1b0000000000000005')))).toBe(5n);
  });

  it('byte and text strings, with the byte string as a view at its offset', () => {
    const b = decodeCbor(hex('43010203'));
    expect(b.kind === 'bytes' && [...b.value]).toEqual([1, 2, 3]);
    expect(b.kind === 'bytes' && b.start).toBe(1);
    const t = decodeCbor(enc('héllo ☃'));
    expect(t).toEqual({ kind: 'text', value: 'héllo ☃' });
    expect(decodeCbor(hex('40'))).toMatchObject({ kind: 'bytes' });
    expect(decodeCbor(hex('60'))).toEqual({ kind: 'text', value: '' });
  });

  it('simple values false, true, null', () => {
    expect(decodeCbor(hex('f4'))).toEqual({ kind: 'bool', value: false });
    expect(decodeCbor(hex('f5'))).toEqual({ kind: 'bool', value: true });
    expect(decodeCbor(hex('f6'))).toEqual({ kind: 'null' });
  });

  it('definite-length maps and arrays', () => {
    const m = decodeCbor(enc({ map: [[1, -35], ['a', [1, 2]]] }));
    expect(m.kind === 'map' && m.indefinite).toBe(false);
    if (m.kind !== 'map') throw new Error('map');
    expect(int(mapGet(m, 1n)!)).toBe(-35n);
    expect(mapGet(m, 'a')).toMatchObject({ kind: 'array', indefinite: false });
    expect(mapGet(m, '1')).toBeUndefined();
  });

  it('indefinite-length maps (NSM 2025) and arrays', () => {
    const m = decodeCbor(enc({ map: [['x', 1], ['y', { map: [[0, new Uint8Array(2)]], indefinite: true }]], indefinite: true }));
    expect(m).toMatchObject({ kind: 'map', indefinite: true });
    if (m.kind !== 'map') throw new Error('map');
    expect(mapGet(m, 'y')).toMatchObject({ kind: 'map', indefinite: true });
    expect(decodeCbor(hex('9f0102ff'))).toMatchObject({ kind: 'array', indefinite: true, items: [{ value: 1n }, { value: 2n }] });
    expect(decodeCbor(hex('bfff'))).toMatchObject({ kind: 'map', entries: [] });
  });

  it('tag 18 (COSE_Sign1)', () => {
    expect(decodeCbor(hex('d28440a04040'))).toMatchObject({ kind: 'tag', tag: 18n, value: { kind: 'array' } });
  });

  it('integer and text keys with the same spelling are different keys', () => {
    const m = decodeCbor(enc({ map: [[1, 0], ['1', 0]] }));
    expect(m.kind === 'map' && m.entries.length).toBe(2);
  });
});

describe('CBOR decoder: refused input', () => {
  it('empty input', () => { malformed(new Uint8Array(0), /end of input/); });
  it('trailing bytes', () => { malformed(hex('0000'), /trailing/); });
  it('trailing bytes after a map', () => { malformed(hex('a0ff'), /trailing/); });

  it.each([
    ['18', 'uint head'],
    ['1903', 'uint argument'],
    ['1bffffffffffffff', '8-byte argument'],
    ['43 0102', 'bstr body'],
    ['63 6162', 'tstr body'],
    ['82 01', 'array element'],
    ['a1 01', 'map value'],
    ['bf 01 02', 'unterminated indefinite map'],
    ['9f 01', 'unterminated indefinite array'],
    ['d2', 'tag content'],
  ])('truncated %s (%s)', (h) => { malformed(hex(h)); });

  it('a length past the end is refused before any allocation', () => {
    malformed(hex('5bffffffffffffffff00'), /declares/);
    malformed(hex('9b000000010000000000'), /declares/);
    malformed(hex('ba7fffffff0000'), /declares/);
  });

  it('duplicate map keys, in definite and indefinite maps, also when encoded differently', () => {
    malformed(enc({ map: [[1, 0], [1, 1]] }), /duplicate map key 1/);
    malformed(enc({ map: [['pcrs', 0], ['pcrs', 1]], indefinite: true }), /duplicate map key "pcrs"/);
    malformed(hex('a2 05 00 1805 00'), /duplicate map key 5/);
  });

  it('map keys that are not integers or text', () => {
    malformed(hex('a1 4100 00'), /map key/);
    malformed(hex('a1 f6 00'), /map key/);
    malformed(hex('a1 80 00'), /map key/);
  });

  it('nesting beyond the limit', () => {
    malformed(hex('8181818180'), /nesting/);
    malformed(hex('a1 00 a1 00 a1 00 a1 00 a0'), /nesting/);
    expect(decodeCbor(hex('81818180'))).toMatchObject({ kind: 'array' });
    malformed(hex('d2 d2 80'), /nested/);
    malformed(hex('81 d2 80'), /nested/);
    malformed(hex('818180'), /nesting/, 2);
    // A deep input cannot exhaust the stack: the limit stops it long before.
    malformed(new Uint8Array(100_000).fill(0x81), /nesting/);
  });

  it('invalid UTF-8 in text', () => {
    malformed(hex('62 c328'), /UTF-8/);
    malformed(hex('61 ff'), /UTF-8/);
    malformed(hex('63 eda080'), /UTF-8/); // a UTF-16 surrogate encoded in UTF-8
    malformed(hex('62 c0af'), /UTF-8/); // overlong '/'
  });

  it('indefinite-length strings', () => {
    malformed(hex('5f 4101 ff'), /chunked/);
    malformed(hex('7f 6161 ff'), /chunked/);
  });

  it('indefinite length on integers and tags', () => {
    malformed(hex('1f'), /indefinite/);
    malformed(hex('3f'), /indefinite/);
    malformed(hex('df 00'), /indefinite/);
  });

  it('reserved additional information 28..30', () => {
    for (const b of [0x1c, 0x1d, 0x1e, 0x5c, 0x9d, 0xbe]) malformed(Uint8Array.of(b, 0, 0, 0, 0, 0, 0, 0, 0), /reserved/);
  });

  it('break outside an indefinite container', () => {
    malformed(hex('ff'), /break/);
    malformed(hex('82 01 ff'), /break/);
  });

  it('floats, undefined and other simple values', () => {
    for (const h of ['f7', 'f0', 'f818', 'f93c00', 'fa3f800000', 'fb3ff0000000000000']) malformed(hex(h), /simple value or float/);
  });

  it('tags other than 18', () => {
    for (const h of ['c0 60', 'c1 00', 'd818 40', 'd9d9f7 00', 'c2 41 01']) malformed(hex(h), /tag/);
  });

  it('a huge tag number does not leak a RangeError', () => { malformed(hex('dbffffffffffffffff 00'), /tag/); });
});

describe('encodeHead (for Sig_structure)', () => {
  it.each([0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 5])('matches the preferred encoding of %d', (n) => {
    for (const major of [2, 3, 4]) expect([...encodeHead(major, n)]).toEqual([...head(major, n)]);
  });
  it('refuses negative and unsafe arguments', () => {
    expect(() => encodeHead(2, -1)).toThrow(RangeError);
    expect(() => encodeHead(2, 2 ** 53)).toThrow(RangeError);
  });
  it('round-trips through the decoder', () => {
    const body = new Uint8Array(300).fill(7);
    const v = decodeCbor(cat(encodeHead(2, body.length), body));
    expect(v.kind === 'bytes' && v.value.length).toBe(300);
  });
});
