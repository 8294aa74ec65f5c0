import { malformed } from '../errors.ts';

/**
 * Bounds-checked little/big-endian reader over untrusted bytes. Every read checks the remaining
 * length first, so a short or lying input raises ERR_EVIDENCE_MALFORMED, never a RangeError from
 * DataView or a silent `undefined` from indexing past the end.
 */
export class ByteReader {
  private readonly view: DataView;
  private pos = 0;

  constructor(
    readonly bytes: Uint8Array,
    private readonly what = 'input',
    private readonly reason = 'malformed_evidence',
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get offset(): number {
    return this.pos;
  }
  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  private need(n: number, field: string): void {
    if (!Number.isSafeInteger(n) || n < 0 || n > this.remaining) {
      throw malformed(
        `${this.what}: ${field} needs ${n} bytes at offset ${this.pos}, only ${this.remaining} remain`,
        this.reason,
      );
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.view.getUint8(this.pos++);
  }
  u16le(field: string): number {
    this.need(2, field);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32le(field: string): number {
    this.need(4, field);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u64le(field: string): bigint {
    this.need(8, field);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  /** A view into the input (no copy): for transient use such as hashing or verifying. */
  sub(n: number, field: string): Uint8Array {
    this.need(n, field);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  /** A copy: for anything that is kept in a result, so later mutation of the input cannot alter it. */
  copy(n: number, field: string): Uint8Array {
    return this.sub(n, field).slice();
  }
  skip(n: number, field: string): void {
    this.need(n, field);
    this.pos += n;
  }
}

/**
 * Constant-time equality for digests, MACs and measurements. Length is not secret here (all our
 * values have public, fixed widths), so a length mismatch returns false at once.
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

export function isAllZero(a: Uint8Array): boolean {
  let acc = 0;
  for (const x of a) acc |= x;
  return acc === 0;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function toHex(a: Uint8Array): string {
  let s = '';
  for (const x of a) s += HEX[x] as string;
  return s;
}

const HEX_VAL = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX_VAL[0x30 + i] = i < 10 ? i : -1;
  HEX_VAL['0123456789abcdef'.charCodeAt(i)] = i;
  HEX_VAL['0123456789ABCDEF'.charCodeAt(i)] = i;
}

/** Strict hex decoding: even length, [0-9a-fA-F] only; anything else is malformed input. */
export function fromHex(s: string, what = 'hex string', reason = 'malformed_evidence'): Uint8Array {
  if (s.length % 2 !== 0) throw malformed(`${what} is not valid hex (odd length)`, reason);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) {
    const a = s.charCodeAt(2 * i);
    const b = s.charCodeAt(2 * i + 1);
    const hi = a < 128 ? (HEX_VAL[a] as number) : -1;
    const lo = b < 128 ? (HEX_VAL[b] as number) : -1;
    if (hi < 0 || lo < 0) throw malformed(`${what} is not valid hex`, reason);
    out[i] = (hi << 4) | lo;
  }
  return out;
}

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const b64 = (i: number): string => B64.charAt(i);
const B64_REV = new Int16Array(256).fill(-1);
for (let i = 0; i < 64; i++) B64_REV[B64.charCodeAt(i)] = i;

/** Base64 (standard alphabet, optional padding, whitespace ignored) without Buffer, for browsers. */
export function fromBase64(s: string, what = 'base64 text', reason = 'malformed_evidence'): Uint8Array {
  const clean = s.replace(/[\s]/g, '').replace(/=+$/, '');
  if (clean.length % 4 === 1) throw malformed(`${what} is not valid base64`, reason);
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < clean.length; i++) {
    const v = B64_REV[clean.charCodeAt(i)] ?? -1;
    if (v < 0) throw malformed(`${what} is not valid base64`, reason);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

export function toBase64(a: Uint8Array): string {
  let s = '';
  let i = 0;
  for (; i + 2 < a.length; i += 3) {
    const n = ((a[i] as number) << 16) | ((a[i + 1] as number) << 8) | (a[i + 2] as number);
    s += b64(n >> 18) + b64((n >> 12) & 63) + b64((n >> 6) & 63) + b64(n & 63);
  }
  if (i < a.length) {
    const n = ((a[i] as number) << 16) | ((a[i + 1] ?? 0) << 8);
    s += b64(n >> 18) + b64((n >> 12) & 63);
    s += i + 1 < a.length ? b64((n >> 6) & 63) + '=' : '==';
  }
  return s;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
export function decodeUtf8(a: Uint8Array, what = 'text', reason = 'malformed_evidence'): string {
  try {
    return utf8.decode(a);
  } catch (e: unknown) {
    throw malformed(`${what} is not valid UTF-8`, reason, e);
  }
}
export function encodeUtf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/**
 * Each byte as the code point of the same value (ISO 8859-1), for ASCII-family fields (DER
 * strings and times, PEM). In chunks: `String.fromCharCode(...bytes)` spreads one argument per
 * byte and overflows the call stack (a RangeError, not our error) on inputs past ~100 KB, which
 * an attacker chooses. Not TextDecoder('latin1'): browsers decode that label as windows-1252.
 */
export function latin1(a: Uint8Array): string {
  const CHUNK = 8192;
  let out = '';
  for (let i = 0; i < a.length; i += CHUNK) out += String.fromCharCode(...a.subarray(i, i + CHUNK));
  return out;
}
