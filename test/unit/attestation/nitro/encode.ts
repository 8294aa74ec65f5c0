/**
 * A minimal CBOR encoder for tests only: builds documents and payloads with exactly the shape a
 * test wants (including shapes the decoder must refuse). Production code never encodes CBOR
 * except Sig_structure.
 */
export type Enc =
  | number
  | bigint
  | string
  | null
  | boolean
  | Uint8Array
  | readonly Enc[]
  | { readonly map: readonly (readonly [Enc, Enc])[]; readonly indefinite?: boolean }
  | { readonly tag: number; readonly value: Enc }
  | { readonly raw: Uint8Array };

export function head(major: number, n: number | bigint): Uint8Array {
  const v = BigInt(n);
  const mt = major << 5;
  if (v < 24n) return Uint8Array.of(mt | Number(v));
  const widths: [number, number][] = [[1, 24], [2, 25], [4, 26], [8, 27]];
  for (const [w, ai] of widths) {
    if (v < 1n << BigInt(8 * w)) {
      const out = new Uint8Array(1 + w);
      out[0] = mt | ai;
      for (let i = 0; i < w; i++) out[w - i] = Number((v >> BigInt(8 * i)) & 0xffn);
      return out;
    }
  }
  throw new Error('too large');
}

export function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function enc(v: Enc): Uint8Array {
  if (v === null) return Uint8Array.of(0xf6);
  if (v === true) return Uint8Array.of(0xf5);
  if (v === false) return Uint8Array.of(0xf4);
  if (typeof v === 'number' || typeof v === 'bigint') {
    const b = BigInt(v);
    return b >= 0n ? head(0, b) : head(1, -1n - b);
  }
  if (typeof v === 'string') {
    const t = new TextEncoder().encode(v);
    return cat(head(3, t.length), t);
  }
  if (v instanceof Uint8Array) return cat(head(2, v.length), v);
  if (Array.isArray(v)) return cat(head(4, v.length), ...(v as readonly Enc[]).map(enc));
  if ('raw' in v) return v.raw;
  if ('tag' in v) return cat(head(6, v.tag), enc(v.value));
  const m = v as { readonly map: readonly (readonly [Enc, Enc])[]; readonly indefinite?: boolean };
  const body = m.map.flatMap(([k, x]) => [enc(k), enc(x)]);
  return m.indefinite === true ? cat(Uint8Array.of(0xbf), ...body, Uint8Array.of(0xff)) : cat(head(5, m.map.length), ...body);
}

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
