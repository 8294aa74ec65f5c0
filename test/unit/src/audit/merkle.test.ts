import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../../../attestation/common/bytes.ts';
import { LogError } from '../../../../src/audit/errors.ts';
import {
  consistencyProof,
  emptyRoot,
  Frontier,
  frontierCoordinates,
  inclusionProof,
  leafHash,
  nodeHash,
  rootAt,
  rootFromLeaves,
  splitPoint,
  verifyConsistency,
  verifyInclusion,
  type NodeReader,
} from '../../../../src/audit/merkle.ts';
import { sha256 } from '../../../../src/audit/sha256-node.ts';
import { completeSubtrees, logErrorOf } from './helpers.ts';

/*
 * RFC 6962 reference test data: the 8 leaves, the roots of the trees of sizes 1..8 over them, and
 * inclusion / consistency paths. Copied as data from transparency-dev/merkle, proof/verify_test.go
 * (commit 02194e9afb6c1d95b5381350007963aa70fff472; vars `leaves`, `roots`, `inclusionProofs`,
 * `consistencyProofs`), which carries them over from certificate-transparency's C++ and Go test
 * suites (merkle_tree_test.cc). Inclusion vectors there name the leaf 1-based.
 */
const LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) => fromHex(h));
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
].map((h) => fromHex(h));
const INCLUSION: { leaf: number; size: number; proof: string[] }[] = [
  { leaf: 1, size: 1, proof: [] },
  {
    leaf: 1,
    size: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    leaf: 6,
    size: 8,
    proof: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  { leaf: 3, size: 3, proof: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  {
    leaf: 2,
    size: 5,
    proof: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];
const CONSISTENCY: { size1: number; size2: number; proof: string[] }[] = [
  { size1: 1, size2: 1, proof: [] },
  {
    size1: 1,
    size2: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    size1: 6,
    size2: 8,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    size1: 2,
    size2: 5,
    proof: ['5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b'],
  },
  {
    size1: 6,
    size2: 7,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];
const EMPTY_ROOT = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const SOME_HASH = fromHex('abacaba000000000000000000000000000000000000000000060061e00123456');

const LEAF_HASHES = LEAVES.map((l) => leafHash(sha256, l));
const root = (n: number): Uint8Array => ROOTS[n - 1] as Uint8Array;

/** A NodeReader over the reference leaves that refuses any node outside the tree of `size`. */
function readerFor(leafHashes: readonly Uint8Array[], size: number): NodeReader {
  const levels = completeSubtrees(leafHashes);
  return (level, index) => {
    if ((index + 1) * 2 ** level > size) throw new Error(`read node (${level}, ${index}) outside a tree of size ${size}`);
    const h = levels[level]?.[index];
    if (h === undefined) throw new Error(`no node (${level}, ${index})`);
    return h;
  };
}

const flip = (h: Uint8Array, bit = 3): Uint8Array => {
  const c = h.slice();
  c[0] = (c[0] as number) ^ (1 << bit);
  return c;
};
const badProof = (fn: () => unknown): void => {
  expect(logErrorOf(fn).code).toBe('ERR_LOG_BAD_PROOF');
};

describe('hashing (RFC 6962 §2.1)', () => {
  it('MTH of the empty tree is SHA-256 of the empty string', () => {
    expect(toHex(emptyRoot(sha256))).toBe(EMPTY_ROOT);
    expect(toHex(rootFromLeaves(sha256, []))).toBe(EMPTY_ROOT);
    expect(toHex(new Frontier(sha256).root())).toBe(EMPTY_ROOT);
    expect(toHex(rootAt(sha256, () => { throw new Error('no reads for the empty tree'); }, 0))).toBe(EMPTY_ROOT);
  });

  it('reproduces the reference roots of sizes 1..8, three ways', () => {
    for (let n = 1; n <= 8; n++) {
      const leaves = LEAF_HASHES.slice(0, n);
      expect(toHex(rootFromLeaves(sha256, leaves)), `reference MTH, size ${n}`).toBe(toHex(root(n)));
      expect(toHex(rootAt(sha256, readerFor(LEAF_HASHES, n), n)), `from stored subtrees, size ${n}`).toBe(toHex(root(n)));
      const f = new Frontier(sha256);
      for (const l of leaves) f.append(l);
      expect(toHex(f.root()), `frontier, size ${n}`).toBe(toHex(root(n)));
    }
  });

  it('separates leaves from nodes (0x00 / 0x01 prefixes)', () => {
    const a = LEAF_HASHES[1] as Uint8Array;
    const b = LEAF_HASHES[2] as Uint8Array;
    const concat = new Uint8Array([...a, ...b]);
    expect(toHex(nodeHash(sha256, a, b))).not.toBe(toHex(leafHash(sha256, concat)));
    expect(toHex(nodeHash(sha256, a, b))).toBe(toHex(sha256(new Uint8Array([1, ...a, ...b]))));
  });

  it('splits at the largest power of two below n', () => {
    expect([2, 3, 4, 5, 8, 9, 1000].map(splitPoint)).toEqual([1, 2, 2, 4, 4, 8, 512]);
  });
});

describe('inclusion proofs (RFC 9162 §2.1.3)', () => {
  for (const v of INCLUSION) {
    const index = v.leaf - 1;
    const proof = v.proof.map((h) => fromHex(h));
    const leaf = LEAF_HASHES[index] as Uint8Array;

    it(`generates and verifies the reference path for leaf ${index} of ${v.size}`, () => {
      expect(inclusionProof(sha256, readerFor(LEAF_HASHES, v.size), index, v.size).map(toHex)).toEqual(v.proof);
      verifyInclusion(sha256, index, v.size, leaf, proof, root(v.size));
    });

    it(`rejects every corruption of the path for leaf ${index} of ${v.size}`, () => {
      // The corruption families of transparency-dev/merkle's corruptInclusionProof.
      const r = root(v.size);
      const probes: [string, () => void][] = [
        ['index - 1', () => { verifyInclusion(sha256, index - 1, v.size, leaf, proof, r); }],
        ['index + 1', () => { verifyInclusion(sha256, index + 1, v.size, leaf, proof, r); }],
        ['index ^ 2', () => { verifyInclusion(sha256, index ^ 2, v.size, leaf, proof, r); }],
        ['size * 2', () => { verifyInclusion(sha256, index, v.size * 2, leaf, proof, r); }],
        ['size / 2', () => { verifyInclusion(sha256, index, Math.floor(v.size / 2), leaf, proof, r); }],
        ['wrong leaf', () => { verifyInclusion(sha256, index, v.size, flip(leaf), proof, r); }],
        ['empty root', () => { verifyInclusion(sha256, index, v.size, leaf, proof, fromHex(EMPTY_ROOT)); }],
        ['random root', () => { verifyInclusion(sha256, index, v.size, leaf, proof, SOME_HASH); }],
        ['trailing root', () => { verifyInclusion(sha256, index, v.size, leaf, [...proof, r], r); }],
        ['preceding root', () => { verifyInclusion(sha256, index, v.size, leaf, [r, ...proof], r); }],
        ['trailing garbage', () => { verifyInclusion(sha256, index, v.size, leaf, [...proof, new Uint8Array(0)], r); }],
        ...proof.map((_, i): [string, () => void] => [`proof[${i}] bit 3`, () => { verifyInclusion(sha256, index, v.size, leaf, proof.map((p, j) => (j === i ? flip(p) : p)), r); }]),
        ...(proof.length > 0 ? [['removed component', () => { verifyInclusion(sha256, index, v.size, leaf, proof.slice(0, -1), r); }] as [string, () => void]] : []),
        ...(proof.length > 1 ? [['inserted component', () => { verifyInclusion(sha256, index, v.size, leaf, [proof[0] as Uint8Array, SOME_HASH, ...proof.slice(1)], r); }] as [string, () => void]] : []),
      ];
      for (const [name, probe] of probes) {
        expect(() => { probe(); }, name).toThrow(LogError);
        badProof(probe);
      }
    });
  }

  it('rejects the degenerate cases (empty tree, index past the end, wrong hash sizes)', () => {
    const h = LEAF_HASHES[0] as Uint8Array;
    for (const [index, size] of [[0, 0], [1, 0], [2, 1], [-1, 1], [0.5, 1], [0, Number.NaN]] as const) {
      badProof(() => { verifyInclusion(sha256, index, size, h, [], fromHex(EMPTY_ROOT)); });
    }
    badProof(() => { verifyInclusion(sha256, 0, 1, new Uint8Array(0), [], h); });
    badProof(() => { verifyInclusion(sha256, 0, 1, h, [], new Uint8Array(0)); });
    verifyInclusion(sha256, 0, 1, h, [], h); // a one-leaf tree: the root is the leaf hash
  });

  it('refuses to build a proof outside the tree', () => {
    const read = readerFor(LEAF_HASHES, 8);
    for (const [index, size] of [[0, 0], [8, 8], [-1, 8], [1.5, 8], [0, Number.POSITIVE_INFINITY]] as const) {
      expect(logErrorOf(() => inclusionProof(sha256, read, index, size)).code).toBe('ERR_LOG_RANGE');
    }
  });
});

describe('consistency proofs (RFC 9162 §2.1.4)', () => {
  for (const v of CONSISTENCY) {
    const proof = v.proof.map((h) => fromHex(h));
    const r1 = root(v.size1);
    const r2 = root(v.size2);

    it(`generates and verifies the reference proof ${v.size1} → ${v.size2}`, () => {
      expect(consistencyProof(sha256, readerFor(LEAF_HASHES, v.size2), v.size1, v.size2).map(toHex)).toEqual(v.proof);
      verifyConsistency(sha256, v.size1, v.size2, r1, r2, proof);
    });

    if (proof.length === 0) continue;
    it(`rejects every corruption of the proof ${v.size1} → ${v.size2}`, () => {
      // The corruption families of transparency-dev/merkle's corruptConsistencyProof.
      const probes: [string, () => void][] = [
        ['size1 - 1', () => { verifyConsistency(sha256, v.size1 - 1, v.size2, r1, r2, proof); }],
        ['size1 + 1', () => { verifyConsistency(sha256, v.size1 + 1, v.size2, r1, r2, proof); }],
        ['size1 ^ 2', () => { verifyConsistency(sha256, v.size1 ^ 2, v.size2, r1, r2, proof); }],
        ['size2 * 2', () => { verifyConsistency(sha256, v.size1, v.size2 * 2, r1, r2, proof); }],
        ['size2 / 2', () => { verifyConsistency(sha256, v.size1, Math.floor(v.size2 / 2), r1, r2, proof); }],
        ['wrong root1', () => { verifyConsistency(sha256, v.size1, v.size2, flip(r1), r2, proof); }],
        ['wrong root2', () => { verifyConsistency(sha256, v.size1, v.size2, r1, flip(r2), proof); }],
        ['swapped roots', () => { verifyConsistency(sha256, v.size1, v.size2, r2, r1, proof); }],
        ['empty proof', () => { verifyConsistency(sha256, v.size1, v.size2, r1, r2, []); }],
        ['trailing root1', () => { verifyConsistency(sha256, v.size1, v.size2, r1, r2, [...proof, r1]); }],
        ['trailing root2', () => { verifyConsistency(sha256, v.size1, v.size2, r1, r2, [...proof, r2]); }],
        ['preceding root1', () => { verifyConsistency(sha256, v.size1, v.size2, r1, r2, [r1, ...proof]); }],
        ['preceding root2', () => { verifyConsistency(sha256, v.size1, v.size2, r1, r2, [r2, ...proof]); }],
        ['preceding proof[0]', () => { verifyConsistency(sha256, v.size1, v.size2, r1, r2, [proof[0] as Uint8Array, ...proof]); }],
        ['preceding garbage', () => { verifyConsistency(sha256, v.size1, v.size2, r1, r2, [new Uint8Array(0), ...proof]); }],
        ['truncated proof', () => { verifyConsistency(sha256, v.size1, v.size2, r1, r2, proof.slice(0, -1)); }],
        ...proof.map((_, i): [string, () => void] => [`proof[${i}] bit 4`, () => { verifyConsistency(sha256, v.size1, v.size2, r1, r2, proof.map((p, j) => (j === i ? flip(p, 4) : p))); }]),
      ];
      for (const [name, probe] of probes) {
        expect(() => { probe(); }, name).toThrow(LogError);
        badProof(probe);
      }
    });
  }

  it('handles the trivial sizes: equal sizes, the empty tree, time travel', () => {
    const r1 = root(1);
    const r2 = root(2);
    const empty = fromHex(EMPTY_ROOT);
    verifyConsistency(sha256, 0, 0, empty, empty, []);
    verifyConsistency(sha256, 0, 1, empty, r1, []);
    verifyConsistency(sha256, 1, 1, r1, r1, []);
    badProof(() => { verifyConsistency(sha256, 1, 1, r1, r2, []); }); // one size, two roots
    badProof(() => { verifyConsistency(sha256, 0, 0, empty, r1, []); });
    badProof(() => { verifyConsistency(sha256, 0, 1, r1, r2, []); }); // stricter than transparency-dev: root1 must be MTH({})
    badProof(() => { verifyConsistency(sha256, 0, 1, empty, r1, [empty]); });
    badProof(() => { verifyConsistency(sha256, 1, 1, r1, r1, [empty]); });
    badProof(() => { verifyConsistency(sha256, 1, 0, r1, empty, []); });
    badProof(() => { verifyConsistency(sha256, 2, 1, r2, r1, []); });
    badProof(() => { verifyConsistency(sha256, 1, 2, r1, r2, []); });
    badProof(() => { verifyConsistency(sha256, 1, 2, r1, new Uint8Array(31), [r2]); });
    badProof(() => { verifyConsistency(sha256, -1, 2, r1, r2, [r2]); });
    expect(consistencyProof(sha256, readerFor(LEAF_HASHES, 8), 0, 8)).toEqual([]);
    expect(consistencyProof(sha256, readerFor(LEAF_HASHES, 8), 8, 8)).toEqual([]);
    expect(logErrorOf(() => consistencyProof(sha256, readerFor(LEAF_HASHES, 8), 5, 4)).code).toBe('ERR_LOG_RANGE');
  });
});

describe('frontier (the right edge kept in memory)', () => {
  it('lists the complete subtrees of a size, largest first', () => {
    expect(frontierCoordinates(0)).toEqual([]);
    expect(frontierCoordinates(13)).toEqual([
      { level: 3, index: 0 },
      { level: 2, index: 2 },
      { level: 0, index: 12 },
    ]);
    expect(frontierCoordinates(2 ** 40 + 1)).toEqual([
      { level: 40, index: 0 },
      { level: 0, index: 2 ** 40 },
    ]);
  });

  it('emits exactly the nodes each leaf completes, and rejects a malformed edge', () => {
    const f = new Frontier(sha256);
    const made = LEAF_HASHES.map((l) => f.append(l).map((n) => `${n.level}/${n.index}`));
    expect(made).toEqual([[], ['1/0'], [], ['1/1', '2/0'], [], ['1/2'], [], ['1/3', '2/1', '3/0']]);
    expect(f.size).toBe(8);
    // A clone is independent: the log appends a batch to a clone and keeps it only after commit.
    const c = f.clone();
    c.append(LEAF_HASHES[0] as Uint8Array);
    expect([f.size, c.size]).toEqual([8, 9]);
    expect(toHex(f.root())).toBe(toHex(root(8)));
    expect(() => new Frontier(sha256, 3, [LEAF_HASHES[0] as Uint8Array])).toThrow(LogError);
    expect(logErrorOf(() => frontierCoordinates(-1)).code).toBe('ERR_LOG_RANGE');
    expect(logErrorOf(() => rootAt(sha256, readerFor(LEAF_HASHES, 8), 2 ** 53)).code).toBe('ERR_LOG_RANGE');
    // A tree of 2^53 - 1 leaves (53 complete subtrees) cannot take one more with exact indices.
    const full = new Frontier(sha256, Number.MAX_SAFE_INTEGER, Array.from({ length: 53 }, () => LEAF_HASHES[0] as Uint8Array));
    expect(logErrorOf(() => full.append(LEAF_HASHES[1] as Uint8Array)).message).toMatch(/the tree is full/);
    expect(logErrorOf(() => new Frontier(sha256, 1, [new Uint8Array(3)])).code).toBe('ERR_LOG_INCONSISTENT');
  });
});

describe('properties over random trees (fast-check)', () => {
  const MAX = 3000;
  const leaves = Array.from({ length: MAX }, (_, i) => leafHash(sha256, new Uint8Array([i >> 8, i & 0xff, 0x5a])));
  const levels = completeSubtrees(leaves);
  const reader = (size: number): NodeReader => (level, index) => {
    if ((index + 1) * 2 ** level > size) throw new Error(`read node (${level}, ${index}) outside a tree of size ${size}`);
    return levels[level]?.[index] as Uint8Array;
  };
  const roots: Uint8Array[] = [emptyRoot(sha256)];
  const f = new Frontier(sha256);
  for (const l of leaves) {
    f.append(l);
    roots.push(f.root());
  }

  it('frontier roots equal the reference MTH and the stored-subtree root', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX }), (n) => {
        const want = toHex(rootFromLeaves(sha256, leaves.slice(0, n)));
        return toHex(roots[n] as Uint8Array) === want && toHex(rootAt(sha256, reader(n), n)) === want;
      }),
      { numRuns: 60 },
    );
  });

  it('every inclusion proof verifies, and a tampered one does not', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: MAX }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 }), fc.nat(), fc.nat(255))),
        ([n, index, which, bit]) => {
          const proof = inclusionProof(sha256, reader(n), index, n);
          const r = roots[n] as Uint8Array;
          const leaf = leaves[index] as Uint8Array;
          verifyInclusion(sha256, index, n, leaf, proof, r);
          expect(proof.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)));
          if (proof.length > 0) {
            const i = which % proof.length;
            const bad = proof.map((p, j) => {
              if (j !== i) return p;
              const c = p.slice();
              c[bit % 32] = (c[bit % 32] as number) ^ (1 << (bit % 8));
              return c;
            });
            badProof(() => { verifyInclusion(sha256, index, n, leaf, bad, r); });
            badProof(() => { verifyInclusion(sha256, index, n, leaf, proof.slice(1), r); });
          }
          badProof(() => { verifyInclusion(sha256, index, n, leaf, [...proof, r], r); });
          if (n > 1) badProof(() => { verifyInclusion(sha256, (index + 1) % n, n, leaf, proof, r); });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('every leaf of small trees has a verifying proof (exhaustive up to 64)', () => {
    for (let n = 1; n <= 64; n++) {
      for (let i = 0; i < n; i++) verifyInclusion(sha256, i, n, leaves[i] as Uint8Array, inclusionProof(sha256, reader(n), i, n), roots[n] as Uint8Array);
    }
  });

  it('consistency between any m <= n verifies, and a tampered proof does not', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX }).chain((n) => fc.tuple(fc.integer({ min: 0, max: n }), fc.constant(n), fc.nat())),
        ([m, n, which]) => {
          const proof = consistencyProof(sha256, reader(n), m, n);
          const r1 = roots[m] as Uint8Array;
          const r2 = roots[n] as Uint8Array;
          verifyConsistency(sha256, m, n, r1, r2, proof);
          if (proof.length > 0) {
            const i = which % proof.length;
            badProof(() => { verifyConsistency(sha256, m, n, r1, r2, proof.map((p, j) => (j === i ? flip(p) : p))); });
            badProof(() => { verifyConsistency(sha256, m, n, r1, r2, proof.slice(0, -1)); });
            badProof(() => { verifyConsistency(sha256, m, n, r1, r2, [...proof, r2]); });
          }
          if (m > 0 && m < n) badProof(() => { verifyConsistency(sha256, m, n, roots[m - 1] as Uint8Array, r2, proof); });
        },
      ),
      { numRuns: 300 },
    );
  });
});
