/** Hex and base64 decoders: strict alphabets, including characters outside ASCII and Latin-1. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sevSnpInputFromFiles } from '../../../../attestation/amd/verify.ts';
import { fromBase64, fromHex, latin1, toBase64 } from '../../../../attestation/common/bytes.ts';
import { decodeName, decodeTime, readDer } from '../../../../attestation/common/der.ts';
import { AttestationError } from '../../../../attestation/errors.ts';
import { errorOf } from '../../../helpers/errors.ts';

describe('fromHex', () => {
  it('decodes both cases', () => {
    expect(fromHex('00aBfF')).toEqual(Uint8Array.of(0x00, 0xab, 0xff));
  });

  // 'é' (0xE9) and '٣' (ARABIC-INDIC DIGIT THREE) lie beyond the ASCII lookup table.
  it.each(['é0', '0é', '٣0', 'g0'])('%j is not hex -> ERR_EVIDENCE_MALFORMED', (s) => {
    const e = errorOf(() => fromHex(s, 'field X', 'some_reason'));
    expect([e.code, e.reason, e.message]).toEqual(['ERR_EVIDENCE_MALFORMED', 'some_reason', 'field X is not valid hex']);
  });
});

describe('fromBase64', () => {
  it('round-trips and ignores whitespace and padding', () => {
    const b = Uint8Array.of(1, 2, 3, 4, 5);
    expect(fromBase64(`${toBase64(b).slice(0, 4)}\n${toBase64(b).slice(4)}`)).toEqual(b);
  });

  // 'ÿ' is inside the 256-entry table (and not base64); '€' and '😀' are beyond it.
  it.each(['ÿAAA', '€AAA', 'AA😀', '-_AA'])('%j is not base64 -> ERR_EVIDENCE_MALFORMED', (s) => {
    const e = errorOf(() => fromBase64(s, 'blob', 'some_reason'));
    expect([e.code, e.reason, e.message]).toEqual(['ERR_EVIDENCE_MALFORMED', 'some_reason', 'blob is not valid base64']);
  });
});

describe('latin1 (fields past the call stack limit of String.fromCharCode(...bytes))', () => {
  it('maps every byte to the code point of its value, for inputs of any size', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const s = latin1(all);
    expect(Array.from({ length: s.length }, (_, i) => s.charCodeAt(i))).toEqual([...all]);
    const big = new Uint8Array(1 << 20).fill(0x41);
    big[big.length - 1] = 0xe9;
    const t = latin1(big);
    expect(t.length).toBe(1 << 20);
    expect(t.endsWith('Aé')).toBe(true);
    expect(latin1(new Uint8Array())).toBe('');
  });
});

describe('huge DER strings and PEM files get a typed answer, never a RangeError (found by fuzzing)', () => {
  const len = (n: number): number[] => (n < 0x80 ? [n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  const tlv = (tag: number, body: Uint8Array): Uint8Array => Uint8Array.from([tag, ...len(body.length), ...body]);
  const big = new Uint8Array(200_000).fill(0x41);

  it('a Name whose attribute is 200 KB decodes', () => {
    const atv = tlv(0x30, Uint8Array.from([...tlv(0x06, Uint8Array.of(0x55, 0x04, 0x03)), ...tlv(0x0c, big)]));
    const name = tlv(0x30, tlv(0x31, atv));
    const { reader, top } = readDer(name, 'name', 'malformed_certificate');
    expect(decodeName(reader, top).text).toHaveLength(3 + 200_000);
  });

  it('a 200 KB time is refused as malformed', () => {
    const time = tlv(0x17, big);
    const { reader, top } = readDer(time, 'time', 'malformed_certificate');
    expect(errorOf(() => decodeTime(reader, top))).toMatchObject({ code: 'ERR_EVIDENCE_MALFORMED' });
  });

  it('a 200 KB SEV-SNP PEM file (a real cert_chain.pem and junk) is recognised or refused with our error', () => {
    const dir = join(import.meta.dirname, '../../../fixtures/amd/genoa-v2-oak');
    const pem = new Uint8Array([...readFileSync(join(dir, 'cert_chain.pem')), ...new TextEncoder().encode('#'.repeat(200_000))]);
    const report = new Uint8Array(readFileSync(join(dir, 'report.bin')));
    let outcome: unknown;
    try {
      outcome = sevSnpInputFromFiles(report, [{ name: 'cert_chain.pem', bytes: pem }]);
    } catch (e: unknown) {
      outcome = e;
    }
    expect(outcome instanceof RangeError).toBe(false);
    if (outcome instanceof Error) expect(AttestationError.is(outcome), String(outcome)).toBe(true);
  });
});
