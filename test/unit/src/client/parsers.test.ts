/**
 * The client's small parts: the synchronous SHA-256 (against node:crypto, every padding edge), the
 * strict base64url codec, the answer/record/JWKS/proof parsers' refusals, the cache's bounds, and
 * the rule that the client imports no Node module and no Buffer (so it runs in a browser).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { answerFromJson, parseAnswer } from '../../../../src/client/answer.ts';
import { AnswerCache } from '../../../../src/client/cache.ts';
import { fromBase64Url, sha256Hex, sha256Sync, toBase64Url } from '../../../../src/client/digest.ts';
import { parseJwks, parseOfflineBundle, parseProofBundle } from '../../../../src/client/record.ts';
import { StepFailure } from '../../../../src/client/report.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function failure(fn: () => unknown): StepFailure {
  try {
    fn();
  } catch (e: unknown) {
    if (e instanceof StepFailure) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('sha256Sync', () => {
  it('equals node:crypto at every padding edge and on random inputs', () => {
    for (const n of [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 1000, 4097]) {
      const d = new Uint8Array(randomBytes(n));
      expect(hex(sha256Sync(d)), `length ${n}`).toBe(createHash('sha256').update(d).digest('hex'));
    }
  });

  it('sha256Hex picks either implementation with the same result', async () => {
    for (const n of [10, 2048, 2049, 100_000]) {
      const d = new Uint8Array(randomBytes(n));
      expect(await sha256Hex(d)).toBe(createHash('sha256').update(d).digest('hex'));
    }
    expect(await sha256Hex('é')).toBe(createHash('sha256').update('é').digest('hex'));
  });
});

describe('base64url', () => {
  it('round-trips and refuses padding, the standard alphabet and non-canonical text', () => {
    const b = new Uint8Array(randomBytes(33));
    expect(fromBase64Url(toBase64Url(b))).toEqual(b);
    expect(fromBase64Url('AA==')).toBeUndefined();
    expect(fromBase64Url('a+b/')).toBeUndefined();
    expect(fromBase64Url('AB')).toBeUndefined(); // non-zero padding bits: "AA" is the canonical spelling
    expect(fromBase64Url('A')).toBeUndefined();
  });
});

describe('parseAnswer', () => {
  const receipt = 'eyJhIjoxfQ.eyJiIjoyfQ.c2ln';
  it('reads header names in any case', () => {
    const a = parseAnswer({ headers: { 'Attestgate-Receipt': receipt, 'ATTESTGATE-ATTESTATION': 'x' }, body: '{}' });
    expect(a).toMatchObject({ kind: 'plain', receiptJws: receipt, attestationId: 'x' });
  });
  it.each([
    ['no receipt header', { headers: {}, body: '' }, /no attestgate-receipt header/],
    ['one header twice with different values', { headers: { 'attestgate-receipt': receipt, 'Attestgate-Receipt': `${receipt}x` }, body: '' }, /given twice/],
    ['a receipt that is not a compact JWS', { headers: { 'attestgate-receipt': 'a.b' }, body: '' }, /not a compact JWS/],
    ['a body that is neither text nor bytes', { headers: { 'attestgate-receipt': receipt }, body: 5 }, /neither text nor bytes/],
    ['three signatures', { payload: 'e30', signatures: [1, 2, 3] }, /one or two/],
    ['an unprotected header', { payload: 'e30', signatures: [{ protected: 'e30', signature: 'AA', header: { kid: 'x' } }] }, /unprotected header/],
    ['two enclave signatures', { payload: 'e30', signatures: [{ protected: 'e30', signature: 'AA' }, { protected: 'e30', signature: 'AA' }] }, /exactly one enclave signature/],
    ['a capture of another type', { type: 'x', headers: { 'attestgate-receipt': receipt }, body: '' }, /capture type/],
  ])('refuses %s', (_name, input, message) => {
    const f = failure(() => parseAnswer(input));
    expect(f.code).toBe('ERR_ANSWER_MALFORMED');
    expect(f.message).toMatch(message);
  });
  it('answerFromJson tells the two file shapes apart and refuses anything else', () => {
    expect(answerFromJson({ payload: 'e30', signatures: [{ protected: 'e30', signature: 'AA' }] })).toHaveProperty('signatures');
    expect(answerFromJson({ type: 'attestgate-capture/v1', headers: { a: 'b', n: 1 }, body: '' })).toEqual({ headers: { a: 'b' }, body: '' });
    expect(failure(() => answerFromJson([])).code).toBe('ERR_ANSWER_MALFORMED');
    expect(failure(() => answerFromJson({ body: '' })).code).toBe('ERR_ANSWER_MALFORMED');
  });
});

describe('record, key set and proof parsers', () => {
  it('refuses a key set that carries a private key', () => {
    const f = failure(() => parseJwks({ keys: [{ kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA', kid: 'k', d: 'secret' }] }));
    expect(f.code).toBe('ERR_RECORD_MALFORMED');
    expect(f.message).toMatch(/private key member/);
  });
  it('refuses a proof bundle with a non-integer index or a hash that is not base64', () => {
    const good = {
      receipt: { id: 'abc', receipt: 'a.b.c', receipt_sha256: 'a'.repeat(64), attestation_id: '00000000-0000-4000-8000-000000000000', log_index: 1 },
      log: { checkpoint: 'x', tree_size: 2, index: 1, leaf: 'e30=', proof: ['AA=='] },
      verifier_key: 'k+00000000+AA',
    };
    expect(parseProofBundle(good).log.index).toBe(1);
    expect(failure(() => parseProofBundle({ ...good, log: { ...good.log, index: 1.5 } })).message).toMatch(/index/);
    expect(failure(() => parseProofBundle({ ...good, log: { ...good.log, proof: ['!!'] } })).message).toMatch(/proof\[0\]/);
  });
  it('refuses a refused backend\'s record as a mismatch, naming it', () => {
    const f = failure(() => parseOfflineBundle({ attestation: { id: '00000000-0000-4000-8000-000000000000', admitted: false, backend: 'b1' }, jwks: { keys: [] } }));
    expect(f.code).toBe('ERR_RECORD_MISMATCH');
    expect(f.message).toMatch(/did not admit backend b1/);
  });
});

describe('AnswerCache', () => {
  it('is bounded (least recently used first) and keeps failures only when asked', async () => {
    const c = new AnswerCache({ maxEntries: 16 });
    for (let i = 0; i < 20; i++) await c.memo(`k${i}`, () => Promise.resolve(i));
    expect(c.has('k0')).toBe(false);
    expect(c.has('k19')).toBe(true);
    await expect(c.memo('f', () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    expect(c.has('f')).toBe(false);
    await expect(c.memo('g', () => Promise.reject(new Error('y')), { keepFailures: true })).rejects.toThrow('y');
    expect(c.has('g')).toBe(true);
    expect(c.logKeySeen('gw', 'a')).toBe('first');
    expect(c.logKeySeen('gw', 'a')).toBe('same');
    expect(c.logKeySeen('gw', 'b')).toBe('changed');
  });
});

describe('browser readiness', () => {
  it('src/client imports no Node module and uses no Buffer', async () => {
    const dir = join(import.meta.dirname, '../../../../src/client');
    for (const f of await readdir(dir)) {
      const text = await readFile(join(dir, f), 'utf8');
      expect(text, f).not.toMatch(/from ['"](node:|fs|path|crypto|http|https|url|util)['"/]/);
      expect(text.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, ''), f).not.toMatch(/\bBuffer\b/);
    }
  });
});
