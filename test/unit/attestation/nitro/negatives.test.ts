/**
 * Generated negatives on a real document (cape-2022-09-15-prod-pcr8, production, AWS root):
 * every truncated prefix, trailing junk, a flipped byte in each signed field, re-encodings that
 * keep the meaning but change the signed bytes, time edges around the leaf's validity, payload
 * schema cases (including the genuine shapes peers wrongly refuse), and property tests.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate } from '../../../../attestation/common/x509.ts';
import { AttestationError, type AttestationErrorCode } from '../../../../attestation/errors.ts';
import { decodeCbor, type CborValue } from '../../../../attestation/nitro/cbor.ts';
import { parseNitroDocument, parsePayload } from '../../../../attestation/nitro/parse.ts';
import { sigStructure, verifyNitro } from '../../../../attestation/nitro/verify.ts';
import type { VerifyOptions } from '../../../../attestation/result.ts';
import { cat, enc, head, type Enc } from './encode.ts';

const CASE = join(import.meta.dirname, '../../../fixtures/nitro/cape-2022-09-15-prod-pcr8');
const DOC = new Uint8Array(readFileSync(join(CASE, 'attestation.cbor')));
const AT = new Date('2022-09-15T17:43:28.848Z');
const OPTS: VerifyOptions = { at: AT };

async function codeOf(doc: Uint8Array, opts: VerifyOptions = OPTS): Promise<{ code: AttestationErrorCode; reason: string } | 'ok'> {
  try {
    await verifyNitro(doc, opts);
    return 'ok';
  } catch (e: unknown) {
    if (!AttestationError.is(e)) throw e;
    return { code: e.code, reason: e.reason };
  }
}

const flip = (doc: Uint8Array, i: number, mask = 0x01): Uint8Array => {
  const out = doc.slice();
  out[i] = (out[i] as number) ^ mask;
  return out;
};

/** Offsets of the COSE fields in DOC (untagged: 0x84, then the four items). */
function layout(): { protectedAt: number; protectedLen: number; payloadAt: number; payloadLen: number; sigAt: number; payload: CborValue } {
  const top = decodeCbor(DOC);
  if (top.kind !== 'array') throw new Error('not an array');
  const [p, , pl, s] = top.items;
  if (p?.kind !== 'bytes' || pl?.kind !== 'bytes' || s?.kind !== 'bytes') throw new Error('shape');
  return { protectedAt: p.start, protectedLen: p.value.length, payloadAt: pl.start, payloadLen: pl.value.length, sigAt: s.start, payload: decodeCbor(pl.value) };
}

describe('the base document', () => {
  it('verifies at verify_at', async () => {
    expect(await codeOf(DOC)).toBe('ok');
  });
  it('is untagged with protected header {1: -35} and a 96-byte signature', () => {
    const l = layout();
    expect(Buffer.from(DOC.subarray(l.protectedAt, l.protectedAt + l.protectedLen)).toString('hex')).toBe('a1013822');
    expect(DOC.length - l.sigAt).toBe(96);
  });
});

describe('input bounds', () => {
  it('a document over 64 KiB is refused before decoding', async () => {
    expect(await codeOf(new Uint8Array(64 * 1024 + 1))).toEqual({ code: 'ERR_EVIDENCE_MALFORMED', reason: 'malformed_cbor' });
  });
  it('a non-Uint8Array from a JavaScript caller is an argument error', async () => {
    expect(await codeOf('hello' as unknown as Uint8Array)).toEqual({ code: 'ERR_INVALID_ARGUMENT', reason: 'invalid_argument' });
  });
  it('a Buffer is accepted like any Uint8Array', async () => {
    expect(await codeOf(Buffer.from(DOC))).toBe('ok');
  });
});

describe('truncation and trailing bytes', () => {
  it('every truncated prefix is ERR_EVIDENCE_MALFORMED', async () => {
    for (let n = 0; n < DOC.length; n++) {
      const got = await codeOf(DOC.subarray(0, n));
      if (got === 'ok' || got.code !== 'ERR_EVIDENCE_MALFORMED') throw new Error(`prefix of ${n} bytes: ${JSON.stringify(got)}`);
    }
  });
  it.each([[[0x00]], [[0xff]], [[0xf6]], [[0x84, 0x40, 0xa0, 0x40, 0x40]]])('trailing %j is ERR_EVIDENCE_MALFORMED', async (junk) => {
    expect(await codeOf(cat(DOC, Uint8Array.from(junk)))).toEqual({ code: 'ERR_EVIDENCE_MALFORMED', reason: 'malformed_cbor' });
  });
});

describe('flipped bytes', () => {
  const SIG_INVALID = { code: 'ERR_SIGNATURE_INVALID', reason: 'cose_signature' };

  it('each of the 96 signature bytes -> ERR_SIGNATURE_INVALID', async () => {
    const { sigAt } = layout();
    for (let i = sigAt; i < DOC.length; i++) {
      for (const mask of [0x01, 0x80]) expect(await codeOf(flip(DOC, i, mask)), `byte ${i}`).toEqual(SIG_INVALID);
    }
  });

  it('each byte of every PCR, public_key, user_data and nonce value -> ERR_SIGNATURE_INVALID', async () => {
    const l = layout();
    if (l.payload.kind !== 'map') throw new Error('payload');
    const values: Uint8Array[] = [];
    const ranges: [number, number][] = [];
    for (const e of l.payload.entries) {
      const v = e.value;
      if (v.kind === 'bytes' && (e.key === 'public_key' || e.key === 'user_data' || e.key === 'nonce')) ranges.push([v.start, v.value.length]);
      if (e.key === 'pcrs' && v.kind === 'map') for (const p of v.entries) if (p.value.kind === 'bytes') ranges.push([p.value.start, p.value.value.length]);
      if (v.kind === 'bytes') values.push(v.value);
    }
    expect(ranges.length).toBe(16 + 3);
    let n = 0;
    for (const [start, len] of ranges) {
      for (let i = 0; i < len; i++) {
        expect(await codeOf(flip(DOC, l.payloadAt + start + i)), `payload byte ${start + i}`).toEqual(SIG_INVALID);
        n++;
      }
    }
    expect(n).toBe(16 * 48 + 32 + 250 + 12);
  });

  it('module_id and timestamp bytes -> ERR_SIGNATURE_INVALID', async () => {
    const l = layout();
    const payload = DOC.subarray(l.payloadAt, l.payloadAt + l.payloadLen);
    const modAt = Buffer.from(payload).indexOf('i-0697c9729fa547b20');
    expect(modAt).toBeGreaterThan(0);
    expect(await codeOf(flip(DOC, l.payloadAt + modAt))).toEqual(SIG_INVALID);
    const ts = enc(1663263808848);
    const tsAt = Buffer.from(payload).indexOf(ts);
    expect(tsAt).toBeGreaterThan(0);
    expect(await codeOf(flip(DOC, l.payloadAt + tsAt + ts.length - 1))).toEqual(SIG_INVALID);
  });

  it('every other byte of the document is refused, never accepted and never a foreign error', async () => {
    // Structure, certificates, lengths: the outcome depends on where the flip lands (malformed
    // CBOR, a schema violation, a certificate that no longer parses or chains, a signature), but
    // it is always one of our errors.
    const seen = new Set<string>();
    for (let i = 0; i < DOC.length; i += 3) {
      const got = await codeOf(flip(DOC, i));
      if (got === 'ok') throw new Error(`flipping byte ${i} was accepted`);
      seen.add(got.code);
    }
    expect([...seen].sort()).toEqual(
      expect.arrayContaining(['ERR_EVIDENCE_MALFORMED', 'ERR_SIGNATURE_INVALID']),
    );
  });

  it('protected header bytes', async () => {
    const { protectedAt } = layout();
    // a1 01 38 22 = {1: -35}
    expect(await codeOf(flip(DOC, protectedAt - 1))).toMatchObject({ code: 'ERR_EVIDENCE_MALFORMED' }); // bstr length 4 -> 5
    expect(await codeOf(flip(DOC, protectedAt))).toEqual({ code: 'ERR_EVIDENCE_MALFORMED', reason: 'malformed_cbor' }); // a1 -> a0: 3 trailing bytes in the header
    expect(await codeOf(flip(DOC, protectedAt + 1))).toEqual({ code: 'ERR_EVIDENCE_MALFORMED', reason: 'cose_alg' }); // label 1 -> 0: no alg
    expect(await codeOf(flip(DOC, protectedAt + 2, 0x20))).toEqual({ code: 'ERR_EVIDENCE_UNSUPPORTED', reason: 'cose_alg' }); // 38 -> 18: alg = 34
    expect(await codeOf(flip(DOC, protectedAt + 3))).toEqual({ code: 'ERR_EVIDENCE_UNSUPPORTED', reason: 'cose_alg' }); // -35 -> -36
  });
});

describe('the signature covers the bytes as received, not a re-encoding', () => {
  /** Rebuild DOC with other protected-header or payload bytes (the signature unchanged). */
  function rebuild(protectedBytes: Uint8Array | null, payloadBytes: Uint8Array | null, tagged = false): Uint8Array {
    const l = layout();
    const p = protectedBytes ?? DOC.subarray(l.protectedAt, l.protectedAt + l.protectedLen);
    const pl = payloadBytes ?? DOC.subarray(l.payloadAt, l.payloadAt + l.payloadLen);
    const body = cat(Uint8Array.of(0x84), head(2, p.length), p, Uint8Array.of(0xa0), head(2, pl.length), pl, DOC.subarray(l.sigAt - 2));
    return tagged ? cat(Uint8Array.of(0xd2), body) : body;
  }

  it('a rebuilt identical document still verifies, tagged too (the harness is sound)', async () => {
    expect(await codeOf(rebuild(null, null))).toBe('ok');
    expect(await codeOf(rebuild(null, null, true))).toBe('ok');
  });

  it('alg -35 in a non-preferred encoding -> ERR_SIGNATURE_INVALID', async () => {
    expect(await codeOf(rebuild(Uint8Array.of(0xa1, 0x01, 0x39, 0x00, 0x22), null))).toEqual({ code: 'ERR_SIGNATURE_INVALID', reason: 'cose_signature' });
  });

  it('the same payload as an indefinite-length map -> ERR_SIGNATURE_INVALID', async () => {
    const l = layout();
    const pl = DOC.slice(l.payloadAt, l.payloadAt + l.payloadLen);
    expect(pl[0]).toBe(0xa9);
    const indefinite = cat(Uint8Array.of(0xbf), pl.subarray(1), Uint8Array.of(0xff));
    expect(parsePayload(indefinite).module_id).toBe('i-0697c9729fa547b20-enc0183422ede9a5dc8');
    expect(await codeOf(rebuild(null, indefinite))).toEqual({ code: 'ERR_SIGNATURE_INVALID', reason: 'cose_signature' });
  });

  it('an empty or absent protected header is refused before any signature check', async () => {
    expect(await codeOf(rebuild(new Uint8Array(0), null))).toEqual({ code: 'ERR_EVIDENCE_MALFORMED', reason: 'cose_alg' });
    expect(await codeOf(rebuild(enc({ map: [] }), null))).toEqual({ code: 'ERR_EVIDENCE_MALFORMED', reason: 'cose_alg' });
    expect(await codeOf(rebuild(enc({ map: [[1, -35], [2, [1]]] }), null))).toEqual({ code: 'ERR_EVIDENCE_UNSUPPORTED', reason: 'cose_alg' });
    expect(await codeOf(rebuild(enc({ map: [[1, 'ES384']] }), null))).toEqual({ code: 'ERR_EVIDENCE_MALFORMED', reason: 'cose_alg' });
    expect(await codeOf(rebuild(enc([1, -35]), null))).toEqual({ code: 'ERR_EVIDENCE_MALFORMED', reason: 'cose_structure' });
  });

  it('Sig_structure is the RFC 9052 one', () => {
    const s = sigStructure(Uint8Array.of(0xa1, 0x01, 0x38, 0x22), Uint8Array.of(0xa0));
    expect(Buffer.from(s).toString('hex')).toBe('846a5369676e61747572653144a101382240' + '41a0');
  });
});

describe('COSE envelope shape', () => {
  const l = (): ReturnType<typeof layout> => layout();
  const prot = (): Uint8Array => DOC.slice(l().protectedAt, l().protectedAt + l().protectedLen);
  const pay = (): Uint8Array => DOC.slice(l().payloadAt, l().payloadAt + l().payloadLen);
  const sig = (): Uint8Array => DOC.slice(l().sigAt);

  it.each<[string, () => Enc, string]>([
    ['an array of 3', () => [prot(), { map: [] }, pay()], 'cose_structure'],
    ['an array of 5', () => [prot(), { map: [] }, pay(), sig(), null], 'cose_structure'],
    ['a map', () => ({ map: [[1, 2]] }), 'cose_structure'],
    ['a detached (nil) payload', () => [prot(), { map: [] }, null, sig()], 'cose_structure'],
    ['unprotected header not a map', () => [prot(), [], pay(), sig()], 'cose_structure'],
    ['protected header as a map, not a bstr', () => [{ map: [[1, -35]] }, { map: [] }, pay(), sig()], 'cose_structure'],
    ['signature as text', () => [prot(), { map: [] }, pay(), 'sig'], 'cose_structure'],
    ['alg repeated in the unprotected header', () => [prot(), { map: [[1, -35]] }, pay(), sig()], 'cose_structure'],
    ['a tag other than 18', () => ({ tag: 98, value: [prot(), { map: [] }, pay(), sig()] }), 'malformed_cbor'],
  ])('%s -> ERR_EVIDENCE_MALFORMED', async (_name, build, reason) => {
    expect(await codeOf(enc(build()))).toEqual({ code: 'ERR_EVIDENCE_MALFORMED', reason });
  });

  it('a signature of the wrong length -> ERR_SIGNATURE_INVALID', async () => {
    for (const s of [new Uint8Array(0), sig().subarray(0, 95), cat(sig(), Uint8Array.of(0)), new Uint8Array(96)]) {
      expect(await codeOf(enc([prot(), { map: [] }, pay(), s]))).toEqual({ code: 'ERR_SIGNATURE_INVALID', reason: 'cose_signature' });
    }
  });

  it('unprotected header contents other than alg/crit are ignored (not signed, not reported)', async () => {
    expect(await codeOf(enc([prot(), { map: [[4, new Uint8Array(3)]] }, pay(), sig()]))).toBe('ok');
  });
});

describe('time edges of the leaf (2022-09-15T17:43:24Z .. 20:43:27Z)', () => {
  let notBefore = 0;
  let notAfter = 0;
  beforeAll(() => {
    const p = parseNitroDocument(DOC).payload;
    const leaf = parseCertificate(p.certificate);
    notBefore = leaf.notBefore;
    notAfter = leaf.notAfter;
    expect(new Date(notBefore).toISOString()).toBe('2022-09-15T17:43:24.000Z');
    expect(new Date(notAfter).toISOString()).toBe('2022-09-15T20:43:27.000Z');
  });
  const EXPIRED = { code: 'ERR_CERT_NOT_VALID_AT_TIME', reason: 'cert_expired' };
  it('notBefore - 1 ms is refused', async () => { expect(await codeOf(DOC, { at: new Date(notBefore - 1) })).toEqual(EXPIRED); });
  it('notBefore is accepted', async () => { expect(await codeOf(DOC, { at: new Date(notBefore) })).toBe('ok'); });
  it('notAfter is accepted, and the result expires then', async () => {
    const r = await verifyNitro(DOC, { at: new Date(notAfter) });
    expect(r.expires_at).toBe('2022-09-15T20:43:27.000Z');
  });
  it('notAfter + 1 ms is refused', async () => { expect(await codeOf(DOC, { at: new Date(notAfter + 1) })).toEqual(EXPIRED); });
  it('an Invalid Date is an argument error, never a pass', async () => {
    expect(await codeOf(DOC, { at: new Date(Number.NaN) })).toEqual({ code: 'ERR_INVALID_ARGUMENT', reason: 'invalid_time' });
  });
  it('an empty list of trust anchors is an argument error', async () => {
    expect(await codeOf(DOC, { at: AT, trustAnchors: [] })).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('payload schema', () => {
  const base = parseNitroDocument(DOC).payload;
  const pcrs = (n: number, len = 48): Enc => ({ map: Array.from({ length: n }, (_, i) => [i, new Uint8Array(len).fill(i + 1)] as const) });
  const fields = (over: Record<string, Enc | undefined> = {}, indefinite = false): Uint8Array => {
    const all: Record<string, Enc | undefined> = {
      module_id: base.module_id,
      digest: 'SHA384',
      timestamp: base.timestamp,
      pcrs: pcrs(16),
      certificate: base.certificate,
      cabundle: [...base.cabundle],
      public_key: base.public_key,
      user_data: base.user_data,
      nonce: base.nonce,
      ...over,
    };
    return enc({ map: Object.entries(all).filter((e): e is [string, Enc] => e[1] !== undefined), indefinite });
  };
  const bad = (over: Record<string, Enc | undefined>, message: RegExp): void => {
    let err: unknown;
    try {
      parsePayload(fields(over));
    } catch (e: unknown) {
      err = e;
    }
    expect(AttestationError.is(err)).toBe(true);
    expect(err).toMatchObject({ code: 'ERR_EVIDENCE_MALFORMED', reason: 'payload_schema' });
    expect((err as Error).message).toMatch(message);
  };

  it('the genuine shapes peers refuse are accepted: empty, null, absent, 746 and 1024 bytes', () => {
    expect(parsePayload(fields({ public_key: new Uint8Array(0), user_data: new Uint8Array(0), nonce: new Uint8Array(0) }))).toMatchObject({
      public_key: new Uint8Array(0),
      user_data: new Uint8Array(0),
      nonce: new Uint8Array(0),
    });
    expect(parsePayload(fields({ public_key: null, user_data: null, nonce: null }))).toMatchObject({ public_key: null, user_data: null, nonce: null });
    expect(parsePayload(fields({ public_key: undefined, user_data: undefined, nonce: undefined }))).toMatchObject({ public_key: null, user_data: null, nonce: null });
    expect(parsePayload(fields({ user_data: new Uint8Array(746).fill(1) })).user_data?.length).toBe(746);
    const max = parsePayload(fields({ public_key: new Uint8Array(1024), user_data: new Uint8Array(1024), nonce: new Uint8Array(1024) }));
    expect(max.nonce?.length).toBe(1024);
  });

  it('indefinite-length payload map, 1 and 32 PCRs, PCR index 31', () => {
    expect(parsePayload(fields({}, true)).module_id).toBe(base.module_id);
    expect(parsePayload(fields({ pcrs: pcrs(1) })).pcrs.size).toBe(1);
    expect(parsePayload(fields({ pcrs: pcrs(32) })).pcrs.size).toBe(32);
    expect([...parsePayload(fields({ pcrs: { map: [[31, new Uint8Array(48)], [3, new Uint8Array(48)]] } })).pcrs.keys()]).toEqual([3, 31]);
  });

  it.each<[string, Record<string, Enc | undefined>, RegExp]>([
    ['module_id absent', { module_id: undefined }, /module_id is absent/],
    ['module_id empty', { module_id: '' }, /module_id is empty/],
    ['module_id bytes', { module_id: new Uint8Array(3) }, /module_id is bytes/],
    ['digest SHA256', { digest: 'SHA256' }, /digest is "SHA256", want "SHA384"/],
    ['digest sha384', { digest: 'sha384' }, /digest/],
    ['digest absent', { digest: undefined }, /digest is absent/],
    ['timestamp 0', { timestamp: 0 }, /timestamp is 0/],
    ['timestamp negative', { timestamp: -1 }, /timestamp is -1/],
    ['timestamp text', { timestamp: '1663263808848' }, /timestamp is text/],
    ['timestamp beyond 2^53', { timestamp: 2n ** 60n }, /timestamp/],
    ['pcrs empty', { pcrs: { map: [] } }, /pcrs has 0 entries/],
    ['pcrs array', { pcrs: [new Uint8Array(48)] }, /pcrs is array/],
    ['pcr index 32', { pcrs: { map: [[32, new Uint8Array(48)]] } }, /pcrs key 32/],
    ['pcr index -1', { pcrs: { map: [[-1, new Uint8Array(48)]] } }, /pcrs key -1/],
    ['pcr index text', { pcrs: { map: [['0', new Uint8Array(48)]] } }, /pcrs key "0"/],
    ['pcr of 47 bytes', { pcrs: { map: [[0, new Uint8Array(47)]] } }, /pcrs\[0\] is 47 bytes, want 48/],
    ['pcr of 32 bytes', { pcrs: { map: [[0, new Uint8Array(32)]] } }, /pcrs\[0\] is 32 bytes/],
    ['pcr of 64 bytes', { pcrs: { map: [[0, new Uint8Array(64)]] } }, /pcrs\[0\] is 64 bytes/],
    ['pcr null', { pcrs: { map: [[0, null]] } }, /pcrs\[0\] is null/],
    ['certificate absent', { certificate: undefined }, /certificate is absent/],
    ['certificate empty', { certificate: new Uint8Array(0) }, /certificate is 0 bytes/],
    ['certificate of 1025 bytes', { certificate: new Uint8Array(1025) }, /certificate is 1025 bytes/],
    ['cabundle empty', { cabundle: [] }, /cabundle has 0 entries/],
    ['cabundle of 17', { cabundle: Array.from({ length: 17 }, () => new Uint8Array(1)) }, /cabundle has 17 entries/],
    ['cabundle entry text', { cabundle: ['x'] }, /cabundle\[0\] is text/],
    ['cabundle a bstr', { cabundle: new Uint8Array(10) }, /cabundle is bytes/],
    ['user_data 1025 bytes', { user_data: new Uint8Array(1025) }, /user_data is 1025 bytes, want at most 1024/],
    ['public_key 1025 bytes', { public_key: new Uint8Array(1025) }, /public_key is 1025 bytes/],
    ['nonce text', { nonce: 'abc' }, /nonce is text/],
    ['nonce false', { nonce: false }, /nonce is bool/],
    ['an unknown field', { extra: new Uint8Array(1) }, /unknown field "extra"/],
  ])('%s', (_name, over, message) => { bad(over, message); });

  it('an integer key in the payload map', () => {
    expect(() => parsePayload(enc({ map: [[1, 2]] }))).toThrow(/integer, want a text key/);
  });
  it('a payload that is not a map', () => {
    expect(() => parsePayload(enc([1]))).toThrow(/payload is a array, want a map/);
  });
  it('a duplicate payload field is malformed CBOR', () => {
    const dup = cat(head(5, 2), enc('digest'), enc('SHA384'), enc('digest'), enc('SHA384'));
    expect(() => parsePayload(dup)).toThrow(/duplicate map key "digest"/);
  });
  it('a duplicate PCR index is malformed CBOR', () => {
    expect(() => parsePayload(fields({ pcrs: { map: [[0, new Uint8Array(48)], [0, new Uint8Array(48)]] } }))).toThrow(/duplicate map key 0/);
  });
  it('the parsed fields are copies, not views of the input', () => {
    const input = fields();
    const p = parsePayload(input);
    input.fill(0);
    expect(p.certificate).toEqual(base.certificate);
  });
  it('the document is snapshotted: mutating the input after the call does not change the verdict', async () => {
    const copy = DOC.slice();
    const pending = verifyNitro(copy, OPTS);
    copy.fill(0);
    await expect(pending).resolves.toMatchObject({ verdict: 'ok' });
  });
});

describe('property: arbitrary input raises only AttestationError', () => {
  const only = async (bytes: Uint8Array): Promise<void> => {
    try {
      await verifyNitro(bytes, OPTS);
    } catch (e: unknown) {
      if (!AttestationError.is(e)) throw e;
    }
  };

  it('arbitrary bytes', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), only), { numRuns: 2000 });
  });

  it('arbitrary bytes behind a COSE-looking prefix', async () => {
    const prefix = DOC.subarray(0, 7);
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), (b) => only(cat(prefix, b))), { numRuns: 1000 });
  });

  it('random byte edits of the real document are never accepted', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat({ max: DOC.length - 1 }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), async (edits) => {
        const d = DOC.slice();
        for (const [i, x] of edits) d[i] = (d[i] as number) ^ x;
        try {
          await verifyNitro(d, OPTS);
        } catch (e: unknown) {
          if (AttestationError.is(e)) return;
          throw e;
        }
        throw new Error(`edits ${JSON.stringify(edits)} were accepted`);
      }),
      { numRuns: 300 },
    );
  });

  it('random CBOR-shaped documents', async () => {
    const leaf: fc.Arbitrary<Enc> = fc.oneof(
      fc.integer(),
      fc.string({ maxLength: 8 }),
      fc.uint8Array({ maxLength: 8 }),
      fc.constant(null),
      fc.boolean(),
    );
    const tree = fc.letrec<{ node: Enc }>((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        leaf,
        fc.array(tie('node'), { maxLength: 4 }),
        fc.array(fc.tuple(fc.oneof(fc.integer(), fc.string({ maxLength: 4 })), tie('node')), { maxLength: 4 }).map((m) => ({ map: m })),
      ),
    })).node;
    await fc.assert(fc.asyncProperty(tree, (t) => only(enc(t))), { numRuns: 1000 });
  });
});
