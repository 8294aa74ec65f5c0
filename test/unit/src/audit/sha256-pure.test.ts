/**
 * The pure-TypeScript SHA-256 the browser uses for Merkle hashing and signed-note key IDs: equal to
 * node:crypto on the FIPS 180-4 examples, on every length around the block and padding boundaries,
 * on random inputs (fast-check), on views into larger buffers, and through merkle.ts itself.
 */
import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inclusionProof, leafHash, rootAt, rootFromLeaves, verifyInclusion } from '../../../../src/audit/merkle.ts';
import { sha256 as nodeSha256 } from '../../../../src/audit/sha256-node.ts';
import { sha256 } from '../../../../src/audit/sha256-pure.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ref = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('sha256-pure', () => {
  it('FIPS 180-4 examples', () => {
    const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
    expect(hex(sha256(enc('')))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hex(sha256(enc('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hex(sha256(enc('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')))).toBe('248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
    expect(hex(sha256(new Uint8Array(1_000_000).fill(0x61)))).toBe('cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
  });

  it('every length from 0 to 300 (all padding cases), and long inputs', () => {
    for (let n = 0; n <= 300; n++) {
      const d = randomBytes(n);
      expect(hex(sha256(d)), `length ${n}`).toBe(ref(d));
    }
    for (const n of [1023, 1024, 4097, 65_536, 1_000_003]) {
      const d = randomBytes(n);
      expect(hex(sha256(d))).toBe(ref(d));
    }
  });

  it('random inputs (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (d) => hex(sha256(d)) === ref(d)),
      { numRuns: 500 },
    );
  });

  it('a view into a larger buffer hashes its own bytes only, and the input is not changed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 600 }), fc.nat(), fc.nat(), (big, a, b) => {
        const start = a % big.length;
        const end = start + (b % (big.length - start + 1));
        const view = big.subarray(start, end);
        const before = hex(big);
        const ok = hex(sha256(view)) === ref(view);
        return ok && hex(big) === before;
      }),
      { numRuns: 300 },
    );
  });

  it('merkle.ts gives the same roots and proofs with it as with node:crypto', () => {
    const leaves = Array.from({ length: 37 }, (_, i) => randomBytes(i * 7));
    const pure = leaves.map((l) => leafHash(sha256, l));
    expect(pure).toEqual(leaves.map((l) => leafHash(nodeSha256, l)));
    const root = rootFromLeaves(sha256, pure);
    expect(root).toEqual(rootFromLeaves(nodeSha256, pure));
    const nodes = new Map<string, Uint8Array>();
    for (let level = 0, width = 1; width <= pure.length; level++, width *= 2) {
      for (let i = 0; (i + 1) * width <= pure.length; i++) nodes.set(`${level}/${i}`, rootFromLeaves(sha256, pure.slice(i * width, (i + 1) * width)));
    }
    const read = (level: number, index: number): Uint8Array => nodes.get(`${level}/${index}`) as Uint8Array;
    expect(rootAt(sha256, read, pure.length)).toEqual(root);
    for (let i = 0; i < pure.length; i++) verifyInclusion(sha256, i, pure.length, pure[i] as Uint8Array, inclusionProof(sha256, read, i, pure.length), root);
  });
});
