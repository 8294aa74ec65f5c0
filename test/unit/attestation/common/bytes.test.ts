/** Hex and base64 decoders: strict alphabets, including characters outside ASCII and Latin-1. */
import { describe, expect, it } from 'vitest';
import { fromBase64, fromHex, toBase64 } from '../../../../attestation/common/bytes.ts';
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
