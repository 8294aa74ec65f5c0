/**
 * A strict, bounded CBOR (RFC 8949) decoder for exactly what AWS Nitro attestation documents use:
 * unsigned and negative integers, byte and text strings, arrays, maps, tag 18 (COSE_Sign1) and
 * the simple values false/true/null. Everything else is refused.
 *
 * Why our own and why so strict: the document arrives from the (untrusted) host, and the fields we
 * report must be exactly the ones the signature covers. Decoder differentials are the attacker's
 * lever, so every construct two decoders could read differently is an error:
 * - duplicate map keys (RFC 8949 5.6: "a map with duplicate keys ... is not valid"), compared on
 *   the decoded key, so `0x05` and `0x18 0x05` are duplicates too;
 * - bytes after the top-level item, lengths past the end, a break (0xff) outside an indefinite
 *   container, reserved additional-information values 28-30;
 * - indefinite-length (chunked) strings: a chunked protected header or payload would make "the
 *   bytes exactly as received" ambiguous, and no Nitro producer emits them;
 * - floats, `undefined` and every other simple value, tags other than 18;
 * - map keys other than integers and text (COSE labels and the payload's keys are never anything else);
 * - text that is not valid UTF-8 (decoded with a fatal TextDecoder).
 * Indefinite-length maps and arrays are accepted: NSM documents seen in 2025 use an indefinite
 * map for the payload, and their meaning is unambiguous. Non-preferred ("non-minimal") argument
 * encodings are accepted for the same reason: every decoder reads them the same way, the signature
 * is checked over the received bytes, and duplicate detection works on decoded values.
 *
 * Resource bounds: nesting is limited (default 4 containers, enough for COSE_Sign1 and the payload),
 * and a declared element count may not exceed the bytes that remain, so a 5-byte input cannot make
 * us allocate a 2^32-element array. Every failure is ERR_EVIDENCE_MALFORMED, never a RangeError.
 */
import { decodeUtf8 } from '../common/bytes.ts';
import { malformed } from '../errors.ts';

export type CborKey = bigint | string;

export type CborValue =
  | { readonly kind: 'int'; readonly value: bigint }
  /** A view into the input (no copy): callers copy what they keep. `start` is its offset in the input. */
  | { readonly kind: 'bytes'; readonly value: Uint8Array; readonly start: number }
  | { readonly kind: 'text'; readonly value: string }
  | { readonly kind: 'array'; readonly items: readonly CborValue[]; readonly indefinite: boolean }
  | { readonly kind: 'map'; readonly entries: readonly CborEntry[]; readonly indefinite: boolean }
  | { readonly kind: 'tag'; readonly tag: bigint; readonly value: CborValue }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'null' };

export interface CborEntry {
  readonly key: CborKey;
  readonly value: CborValue;
}

export interface DecodeOptions {
  /** What is being decoded, for messages (`COSE_Sign1`, `payload`). */
  readonly what?: string;
  /** The error reason (step name) to report. */
  readonly reason?: string;
  /** Maximum nesting of arrays, maps and tags. */
  readonly maxDepth?: number;
}

export const CBOR_REASON = 'malformed_cbor';
export const DEFAULT_MAX_DEPTH = 4;

const MAJOR_UINT = 0;
const MAJOR_NINT = 1;
const MAJOR_BYTES = 2;
const MAJOR_TEXT = 3;
const MAJOR_ARRAY = 4;
const MAJOR_MAP = 5;
const MAJOR_TAG = 6;
const MAJOR_SIMPLE = 7;

const AI_INDEFINITE = 31;
const BREAK = 0xff;
const SIMPLE_FALSE = 20;
const SIMPLE_TRUE = 21;
const SIMPLE_NULL = 22;
/** The only tag in a Nitro document: COSE_Sign1 (RFC 9052 section 2). */
export const TAG_COSE_SIGN1 = 18n;

/** Decode exactly one CBOR item that spans all of `bytes`. */
export function decodeCbor(bytes: Uint8Array, opts: DecodeOptions = {}): CborValue {
  const d = new Decoder(bytes, opts.what ?? 'CBOR', opts.reason ?? CBOR_REASON, opts.maxDepth ?? DEFAULT_MAX_DEPTH);
  const v = d.item(0);
  if (d.pos !== bytes.length) {
    throw d.fail(`${bytes.length - d.pos} trailing bytes after the item (got ${bytes.length} bytes, want ${d.pos})`);
  }
  return v;
}

/** A key's identity for duplicate detection: integers and text never collide with each other. */
function keyId(k: CborKey): string {
  return typeof k === 'bigint' ? `i${k.toString()}` : `t${k}`;
}

class Decoder {
  pos = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
    private readonly reason: string,
    private readonly maxDepth: number,
  ) {}

  fail(msg: string): Error {
    return malformed(`${this.what}: ${msg}`, this.reason);
  }

  private byte(): number {
    const b = this.bytes[this.pos];
    if (b === undefined) throw this.fail(`unexpected end of input at offset ${this.pos}`);
    this.pos++;
    return b;
  }

  /** The argument of a head (RFC 8949 3.1), as a bigint so 64-bit values stay exact. */
  private argument(ai: number): bigint {
    if (ai < 24) return BigInt(ai);
    const n = ai === 24 ? 1 : ai === 25 ? 2 : ai === 26 ? 4 : ai === 27 ? 8 : 0;
    if (n === 0) throw this.fail(`reserved additional information ${ai} at offset ${this.pos - 1}`);
    let v = 0n;
    for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(this.byte());
    return v;
  }

  /** A length or count, bounded by what remains (each element takes at least `perItem` bytes). */
  private length(ai: number, perItem: number, field: string): number {
    const start = this.pos - 1;
    const n = this.argument(ai);
    const remaining = BigInt(this.bytes.length - this.pos);
    if (n * BigInt(perItem) > remaining) {
      throw this.fail(`${field} at offset ${start} declares ${n.toString()}, only ${remaining.toString()} bytes remain`);
    }
    return Number(n);
  }

  item(depth: number): CborValue {
    const at = this.pos;
    const ib = this.byte();
    const major = ib >> 5;
    const ai = ib & 0x1f;
    if (ai === AI_INDEFINITE && (major === MAJOR_UINT || major === MAJOR_NINT || major === MAJOR_TAG)) {
      throw this.fail(`indefinite length is not defined for major type ${major} (offset ${at})`);
    }
    switch (major) {
      case MAJOR_UINT:
        return { kind: 'int', value: this.argument(ai) };
      case MAJOR_NINT:
        return { kind: 'int', value: -1n - this.argument(ai) };
      case MAJOR_BYTES:
      case MAJOR_TEXT: {
        if (ai === AI_INDEFINITE) throw this.fail(`indefinite-length (chunked) string at offset ${at} is not accepted`);
        const n = this.length(ai, 1, major === MAJOR_BYTES ? 'byte string length' : 'text string length');
        const start = this.pos;
        const value = this.bytes.subarray(start, start + n);
        this.pos += n;
        if (major === MAJOR_BYTES) return { kind: 'bytes', value, start };
        return { kind: 'text', value: decodeUtf8(value, `${this.what}: text string at offset ${at}`, this.reason) };
      }
      case MAJOR_ARRAY: {
        this.enter(depth, at);
        const items: CborValue[] = [];
        if (ai === AI_INDEFINITE) {
          while (!this.atBreak()) items.push(this.item(depth + 1));
          this.pos++;
          return { kind: 'array', items, indefinite: true };
        }
        const n = this.length(ai, 1, 'array count');
        for (let i = 0; i < n; i++) items.push(this.item(depth + 1));
        return { kind: 'array', items, indefinite: false };
      }
      case MAJOR_MAP: {
        this.enter(depth, at);
        const entries: CborEntry[] = [];
        const seen = new Set<string>();
        const entry = (): void => {
          const keyAt = this.pos;
          const k = this.item(depth + 1);
          if (k.kind !== 'int' && k.kind !== 'text') throw this.fail(`map key at offset ${keyAt} is a ${k.kind}, want an integer or text`);
          const id = keyId(k.value);
          if (seen.has(id)) throw this.fail(`duplicate map key ${describeKey(k.value)} at offset ${keyAt}`);
          seen.add(id);
          entries.push({ key: k.value, value: this.item(depth + 1) });
        };
        if (ai === AI_INDEFINITE) {
          while (!this.atBreak()) entry();
          this.pos++;
          return { kind: 'map', entries, indefinite: true };
        }
        const n = this.length(ai, 2, 'map count');
        for (let i = 0; i < n; i++) entry();
        return { kind: 'map', entries, indefinite: false };
      }
      case MAJOR_TAG: {
        const tag = this.argument(ai);
        if (tag !== TAG_COSE_SIGN1) throw this.fail(`tag ${tag.toString()} at offset ${at} is not accepted (only 18, COSE_Sign1)`);
        // COSE_Sign1's tag can only wrap a whole document; a nested one is a smuggling attempt.
        if (depth !== 0) throw this.fail(`tag 18 at offset ${at} is nested, want it only around the top-level item`);
        this.enter(depth, at);
        return { kind: 'tag', tag, value: this.item(depth + 1) };
      }
      case MAJOR_SIMPLE:
        if (ai === SIMPLE_FALSE) return { kind: 'bool', value: false };
        if (ai === SIMPLE_TRUE) return { kind: 'bool', value: true };
        if (ai === SIMPLE_NULL) return { kind: 'null' };
        if (ib === BREAK) throw this.fail(`break (0xff) outside an indefinite-length container at offset ${at}`);
        throw this.fail(`simple value or float 0x${ib.toString(16)} at offset ${at} is not accepted`);
      /* v8 ignore next 3 -- major is a 3-bit field (0..7), all handled above; kept so the switch is total. */
      default:
        throw this.fail(`unknown major type ${major}`);
    }
  }

  private enter(depth: number, at: number): void {
    if (depth + 1 > this.maxDepth) throw this.fail(`nesting deeper than ${this.maxDepth} at offset ${at}`);
  }

  /** True at a break byte; an indefinite container that runs off the end is truncated input. */
  private atBreak(): boolean {
    const b = this.bytes[this.pos];
    if (b === undefined) throw this.fail('indefinite-length container is not terminated');
    return b === BREAK;
  }
}

function describeKey(k: CborKey): string {
  return typeof k === 'bigint' ? k.toString() : JSON.stringify(k);
}

/** Look up a map entry by key (integer labels as bigint, text keys as string). */
export function mapGet(m: { readonly entries: readonly CborEntry[] }, key: CborKey): CborValue | undefined {
  for (const e of m.entries) if (e.key === key) return e.value;
  return undefined;
}

/** The CBOR head for a major type and argument, in preferred (shortest) form. For encoding Sig_structure. */
export function encodeHead(major: number, n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`CBOR argument ${n} out of range`);
  const mt = major << 5;
  if (n < 24) return Uint8Array.of(mt | n);
  if (n < 0x100) return Uint8Array.of(mt | 24, n);
  if (n < 0x10000) return Uint8Array.of(mt | 25, n >> 8, n & 0xff);
  if (n < 0x100000000) return Uint8Array.of(mt | 26, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  const hi = Math.floor(n / 0x100000000);
  return Uint8Array.of(mt | 27, 0, (hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

export const CBOR_MAJOR = { bytes: MAJOR_BYTES, text: MAJOR_TEXT, array: MAJOR_ARRAY } as const;
