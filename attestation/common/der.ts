/**
 * A minimal, strict DER reader: enough for X.509 certificates, CRLs and the extensions the vendors
 * define. Every length is checked against its enclosing element; indefinite lengths, high tag
 * numbers and lengths past the end are malformed input (ERR_EVIDENCE_MALFORMED with the caller's
 * reason), never an exception of another type.
 */
import { malformed } from '../errors.ts';
import { latin1 } from './bytes.ts';

export interface Tlv {
  readonly tag: number;
  /** The whole element (tag, length and value): what a signature covers. */
  readonly raw: Uint8Array;
  readonly value: Uint8Array;
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

export class DerReader {
  private pos = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly what: string,
    private readonly reason: string,
  ) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  fail(msg: string): never {
    throw malformed(`${this.what}: ${msg}`, this.reason);
  }

  peekTag(): number | undefined {
    return this.pos < this.buf.length ? this.buf[this.pos] : undefined;
  }

  next(): Tlv {
    const start = this.pos;
    const b = this.buf;
    if (start + 2 > b.length) this.fail('truncated element');
    const tag = b[start] as number;
    if ((tag & 0x1f) === 0x1f) this.fail('high tag numbers are not used in these structures');
    let len = b[start + 1] as number;
    let p = start + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0) this.fail('indefinite length is not DER');
      if (n > 4) this.fail('length field too large');
      if (p + n > b.length) this.fail('truncated length');
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + (b[p + i] as number);
      p += n;
      if (len < 0x80) this.fail('non-minimal length encoding');
    }
    if (len > b.length - p) this.fail('element length exceeds the enclosing data');
    this.pos = p + len;
    return { tag, raw: b.subarray(start, p + len), value: b.subarray(p, p + len) };
  }

  expect(tag: number, name: string): Tlv {
    const t = this.next();
    if (t.tag !== tag) this.fail(`${name}: expected tag 0x${tag.toString(16)}, got 0x${t.tag.toString(16)}`);
    return t;
  }

  /** Reads the next element only if it carries `tag` (for OPTIONAL and DEFAULT fields). */
  optional(tag: number): Tlv | undefined {
    return this.peekTag() === tag ? this.next() : undefined;
  }

  children(t: Tlv): DerReader {
    return new DerReader(t.value, this.what, this.reason);
  }

  end(name: string): void {
    if (!this.done) this.fail(`${name}: unexpected trailing data`);
  }
}

export function readDer(bytes: Uint8Array, what: string, reason: string): { reader: DerReader; top: Tlv } {
  const r = new DerReader(bytes, what, reason);
  const top = r.next();
  r.end(what);
  return { reader: r, top };
}

export function decodeOid(value: Uint8Array): string {
  const parts: number[] = [];
  let acc = 0;
  for (let i = 0; i < value.length; i++) {
    const b = value[i] as number;
    acc = acc * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      if (parts.length === 0) {
        const first = acc < 80 ? Math.floor(acc / 40) : 2;
        parts.push(first, acc - first * 40);
      } else parts.push(acc);
      acc = 0;
    }
  }
  return parts.join('.');
}

/** INTEGER content as an unsigned big-endian magnitude, leading zero bytes removed. */
export function integerMagnitude(value: Uint8Array): Uint8Array {
  let i = 0;
  while (i < value.length - 1 && value[i] === 0) i++;
  return value.subarray(i);
}

export function decodeSmallInteger(r: DerReader, t: Tlv): number {
  if (t.tag !== TAG.INTEGER || t.value.length === 0 || t.value.length > 6) r.fail('integer out of range');
  let n = 0;
  for (const b of t.value) n = n * 256 + b;
  if (((t.value[0] as number) & 0x80) !== 0) r.fail('negative integer where a count is expected');
  return n;
}

const DIGITS = /^[0-9]+$/;

/** UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ) to milliseconds since the epoch. */
export function decodeTime(r: DerReader, t: Tlv): number {
  const s = latin1(t.value);
  let year: number;
  let rest: string;
  if (t.tag === TAG.UTC_TIME && s.length === 13 && s.endsWith('Z')) {
    const yy = Number(s.slice(0, 2));
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    rest = s.slice(2, 12);
  } else if (t.tag === TAG.GENERALIZED_TIME && s.length === 15 && s.endsWith('Z')) {
    year = Number(s.slice(0, 4));
    rest = s.slice(4, 14);
  } else {
    r.fail(`unsupported time encoding "${s}"`);
  }
  if (!DIGITS.test(rest) || !DIGITS.test(String(year))) r.fail(`invalid time "${s}"`);
  const [mo, d, h, mi, se] = [0, 2, 4, 6, 8].map((o) => Number(rest.slice(o, o + 2))) as [number, number, number, number, number];
  const ms = Date.UTC(year, mo - 1, d, h, mi, se);
  const back = new Date(ms);
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || se > 59) r.fail(`invalid time "${s}"`);
  return ms;
}

/** BIT STRING content with zero unused bits (all signatures and keys here are whole bytes). */
export function bitStringBytes(r: DerReader, t: Tlv): Uint8Array {
  if (t.tag !== TAG.BIT_STRING || t.value.length < 1 || t.value[0] !== 0) r.fail('bit string with unused bits');
  return t.value.subarray(1);
}

const ATTR_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.5': 'serialNumber',
};

export interface Name {
  /** Exact DER of the Name: issuer/subject matching compares these bytes. */
  readonly der: Uint8Array;
  readonly commonName: string | undefined;
  /** Human-readable form for messages only, never for decisions. */
  readonly text: string;
}

export function decodeName(r: DerReader, t: Tlv): Name {
  if (t.tag !== TAG.SEQUENCE) r.fail('Name is not a SEQUENCE');
  const rdns = r.children(t);
  const parts: string[] = [];
  let cn: string | undefined;
  while (!rdns.done) {
    const set = rdns.expect(TAG.SET, 'RelativeDistinguishedName');
    const atvs = rdns.children(set);
    while (!atvs.done) {
      const atv = atvs.children(atvs.expect(TAG.SEQUENCE, 'AttributeTypeAndValue'));
      const oid = decodeOid(atv.expect(TAG.OID, 'attribute type').value);
      const v = atv.next();
      const text = latin1(v.value);
      const label = ATTR_NAMES[oid] ?? oid;
      if (label === 'CN') cn = new TextDecoder().decode(v.value);
      parts.push(`${label}=${text}`);
    }
  }
  return { der: t.raw, commonName: cn, text: parts.join(', ') };
}
