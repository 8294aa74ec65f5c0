/**
 * A small deterministic CBOR (RFC 8949) encoder for the simulated Nitro Secure Module: definite
 * lengths and the shortest argument form only (RFC 8949 4.2.1 "preferred serialization"), map
 * entries in the order given (the NSM writes AWS's field order; the same input always yields the
 * same bytes). Kept separate from the verifier's decoder on purpose: the simulated TEE and the
 * verifier then agree because both follow the format, not because they share code, so a decoder
 * bug is not mirrored by the encoder and hidden from the tests.
 */
import { concatBytes, encodeUtf8 } from '../../attestation/common/bytes.ts';

export type CborItem =
  | bigint
  | number
  | string
  | Uint8Array
  | boolean
  | null
  | readonly CborItem[]
  | CborMap
  | CborTag;

/** A map as ordered entries (keys are integers or text, as in COSE and the NSM payload). */
export interface CborMap {
  readonly map: readonly (readonly [bigint | number | string, CborItem])[];
}

export interface CborTag {
  readonly tag: number;
  readonly value: CborItem;
}

export const MAJOR = { uint: 0, nint: 1, bytes: 2, text: 3, array: 4, map: 5, tag: 6, simple: 7 } as const;

/** The head of an item: major type and argument, in the shortest form. */
export function head(major: number, arg: bigint | number): Uint8Array {
  const v = BigInt(arg);
  if (v < 0n || v >= 1n << 64n) throw new RangeError(`CBOR argument ${v.toString()} out of range`);
  const mt = major << 5;
  if (v < 24n) return Uint8Array.of(mt | Number(v));
  // Additional information 24/25/26/27: a 1/2/4/8-byte big-endian argument follows.
  const width = v < 0x100n ? 1 : v < 0x10000n ? 2 : v < 0x100000000n ? 4 : 8;
  const out = new Uint8Array(1 + width);
  out[0] = mt | (24 + Math.log2(width));
  for (let i = 0; i < width; i++) out[width - i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return out;
}

function integer(n: bigint | number): Uint8Array {
  if (typeof n === 'number' && !Number.isSafeInteger(n)) throw new RangeError(`CBOR integer ${n} is not a safe integer (floats are not encoded)`);
  const v = BigInt(n);
  return v >= 0n ? head(MAJOR.uint, v) : head(MAJOR.nint, -1n - v);
}

function isMap(v: CborMap | CborTag): v is CborMap {
  return 'map' in v;
}

export function encodeCbor(v: CborItem): Uint8Array {
  if (v === null) return Uint8Array.of(0xf6);
  if (v === true) return Uint8Array.of(0xf5);
  if (v === false) return Uint8Array.of(0xf4);
  if (typeof v === 'number' || typeof v === 'bigint') return integer(v);
  if (typeof v === 'string') {
    const t = encodeUtf8(v);
    return concatBytes(head(MAJOR.text, t.length), t);
  }
  if (v instanceof Uint8Array) return concatBytes(head(MAJOR.bytes, v.length), v);
  if (Array.isArray(v)) {
    const items = v as readonly CborItem[];
    return concatBytes(head(MAJOR.array, items.length), ...items.map(encodeCbor));
  }
  const obj = v as CborMap | CborTag;
  if (isMap(obj)) {
    const keys = new Set<string>();
    const parts: Uint8Array[] = [head(MAJOR.map, obj.map.length)];
    for (const [k, item] of obj.map) {
      // A duplicate key makes the map invalid (RFC 8949 5.6); refuse to write one.
      const id = `${typeof k === 'string' ? 's' : 'i'}:${String(k)}`;
      if (keys.has(id)) throw new RangeError(`CBOR map has duplicate key ${String(k)}`);
      keys.add(id);
      parts.push(typeof k === 'string' ? encodeCbor(k) : integer(k), encodeCbor(item));
    }
    return concatBytes(...parts);
  }
  return concatBytes(head(MAJOR.tag, obj.tag), encodeCbor(obj.value));
}
