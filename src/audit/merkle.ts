/**
 * RFC 6962 / RFC 9162 Merkle tree hashing and proofs, pure: no I/O, no Node modules. The hash is
 * passed in (a synchronous SHA-256), so the browser client reuses this file unchanged with any
 * SHA-256 implementation; `sha256-node.ts` is the Node default.
 *
 * The tree over n leaves (RFC 9162 §2.1.1):
 *   MTH({})       = SHA-256()
 *   MTH({d0})     = SHA-256(0x00 || d0)                       leaf hash
 *   MTH(D[n])     = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))  k = largest power of two < n
 *
 * Storage model (what a NodeReader serves): the hash of every *complete* subtree, addressed as
 * (level, index): level k covers the 2^k leaves [index·2^k, (index+1)·2^k). Level 0 is the leaf
 * hashes. Complete subtrees never change once written, so an append-only store can hold them, and
 * every hash a proof needs is either one of them or a fold of at most log2(n) of them: proofs cost
 * O(log n) reads, never a recomputation of the tree.
 *
 * Sizes and indices are JavaScript numbers checked to be safe integers (< 2^53); arithmetic uses
 * division rather than 32-bit bit operations so trees above 2^32 leaves stay correct.
 */
import { equalBytes } from '../../attestation/common/bytes.ts';
import { LogError } from './errors.ts';

/** A synchronous SHA-256: 32 bytes out for any input. */
export type HashFn = (data: Uint8Array) => Uint8Array;

/** Hash of the complete subtree at (level, index); throws when it does not exist. */
export type NodeReader = (level: number, index: number) => Uint8Array;

/** A complete subtree's hash, as a store keeps it. */
export interface MerkleNode {
  readonly level: number;
  readonly index: number;
  readonly hash: Uint8Array;
}

export const HASH_SIZE = 32;

const LEAF_PREFIX = 0x00;
const NODE_PREFIX = 0x01;

export function leafHash(hash: HashFn, entry: Uint8Array): Uint8Array {
  const buf = new Uint8Array(1 + entry.length);
  buf[0] = LEAF_PREFIX;
  buf.set(entry, 1);
  return hash(buf);
}

export function nodeHash(hash: HashFn, left: Uint8Array, right: Uint8Array): Uint8Array {
  const buf = new Uint8Array(1 + left.length + right.length);
  buf[0] = NODE_PREFIX;
  buf.set(left, 1);
  buf.set(right, 1 + left.length);
  return hash(buf);
}

/** MTH of the empty tree: SHA-256 of the empty string. */
export function emptyRoot(hash: HashFn): Uint8Array {
  return hash(new Uint8Array(0));
}

/**
 * Reference MTH straight from the RFC's recursive definition, over leaf hashes (not entries).
 * O(n) and recursive: for tests and small trees only; the log never calls it.
 */
export function rootFromLeaves(hash: HashFn, leafHashes: readonly Uint8Array[]): Uint8Array {
  const mth = (lo: number, hi: number): Uint8Array => {
    if (hi - lo === 1) return leafHashes[lo] as Uint8Array;
    const k = splitPoint(hi - lo);
    return nodeHash(hash, mth(lo, lo + k), mth(lo + k, hi));
  };
  return leafHashes.length === 0 ? emptyRoot(hash) : mth(0, leafHashes.length);
}

/** The largest power of two strictly less than n (n >= 2): where RFC 9162 splits a tree of n leaves. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isSize(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

function half(n: number): number {
  return Math.floor(n / 2);
}

/**
 * MTH(D[lo:hi]) for a range that is a subtree of some RFC 6962 tree (lo is a multiple of the
 * largest power of two <= hi - lo, which holds for every range a proof or a root asks for). The
 * range is a run of complete subtrees of decreasing size; their hashes fold from the right.
 */
function rangeRoot(hash: HashFn, read: NodeReader, lo: number, hi: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let pos = lo;
  while (pos < hi) {
    let level = 0;
    let width = 1;
    while (width * 2 <= hi - pos && pos % (width * 2) === 0) {
      width *= 2;
      level++;
    }
    parts.push(read(level, pos / width));
    pos += width;
  }
  let r = parts[parts.length - 1] as Uint8Array;
  for (let i = parts.length - 2; i >= 0; i--) r = nodeHash(hash, parts[i] as Uint8Array, r);
  return r;
}

/** Root of the tree's first `size` leaves, from stored complete subtrees (O(log size) reads). */
export function rootAt(hash: HashFn, read: NodeReader, size: number): Uint8Array {
  if (!isSize(size)) throw new LogError('ERR_LOG_RANGE', `tree size ${String(size)} is not a non-negative safe integer`);
  return size === 0 ? emptyRoot(hash) : rangeRoot(hash, read, 0, size);
}

/**
 * PATH(index, D[size]) of RFC 9162 §2.1.3.1: sibling hashes from the leaf up to the root.
 * Reads O(log size) stored nodes.
 */
export function inclusionProof(hash: HashFn, read: NodeReader, index: number, size: number): Uint8Array[] {
  if (!isSize(size) || !isSize(index) || index >= size) {
    throw new LogError('ERR_LOG_RANGE', `no inclusion proof for leaf ${String(index)} in a tree of size ${String(size)}: want 0 <= index < size`);
  }
  const path: Uint8Array[] = [];
  let lo = 0;
  let hi = size;
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (index < lo + k) {
      path.push(rangeRoot(hash, read, lo + k, hi));
      hi = lo + k;
    } else {
      path.push(rangeRoot(hash, read, lo, lo + k));
      lo += k;
    }
  }
  return path.reverse();
}

/**
 * PROOF(size1, D[size2]) of RFC 9162 §2.1.4.1 (SUBPROOF with b = true at the top). Empty when
 * size1 is 0 or equals size2. Reads O(log size2) stored nodes.
 */
export function consistencyProof(hash: HashFn, read: NodeReader, size1: number, size2: number): Uint8Array[] {
  if (!isSize(size1) || !isSize(size2) || size1 > size2) {
    throw new LogError('ERR_LOG_RANGE', `no consistency proof from size ${String(size1)} to size ${String(size2)}: want 0 <= size1 <= size2`);
  }
  if (size1 === 0 || size1 === size2) return [];
  const path: Uint8Array[] = [];
  let lo = 0;
  let hi = size2;
  let m = size1;
  let complete = true; // RFC's b: the old tree's root is a node of the new tree the verifier already has
  for (;;) {
    if (m === hi - lo) {
      if (!complete) path.push(rangeRoot(hash, read, lo, hi));
      break;
    }
    const k = splitPoint(hi - lo);
    if (m <= k) {
      path.push(rangeRoot(hash, read, lo + k, hi));
      hi = lo + k;
    } else {
      path.push(rangeRoot(hash, read, lo, lo + k));
      lo += k;
      m -= k;
      complete = false;
    }
  }
  return path.reverse();
}

function badProof(message: string): LogError {
  return new LogError('ERR_LOG_BAD_PROOF', message);
}

function checkHashes(what: string, hashes: readonly Uint8Array[]): void {
  for (const [i, h] of hashes.entries()) {
    if (h.length !== HASH_SIZE) throw badProof(`${what}[${i}] is ${h.length} bytes, want ${HASH_SIZE}`);
  }
}

/**
 * RFC 9162 §2.1.3.2: throws ERR_LOG_BAD_PROOF unless `proof` shows that the leaf with hash
 * `leaf` sits at `index` in the tree of `size` leaves whose root is `root`.
 */
export function verifyInclusion(
  hash: HashFn,
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  // 1. Cheap checks first: index within the tree, every hash 32 bytes.
  if (!isSize(size) || !isSize(index) || index >= size) {
    throw badProof(`inclusion proof for leaf ${String(index)} in a tree of size ${String(size)}: want 0 <= index < size`);
  }
  checkHashes('leaf hash', [leaf]);
  checkHashes('root hash', [root]);
  checkHashes('inclusion proof', proof);
  // 2. Walk from the leaf up: fn is the node's index at the current level, sn the last index.
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    // An extra element: the path already reached the root (trailing garbage, wrong size).
    if (sn === 0) throw badProof('inclusion proof is longer than the path to the root');
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(hash, p, r);
      // A right-edge node with no right sibling moves up without hashing until it is a right child.
      while (fn % 2 === 0 && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(hash, r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // 3. The path must end exactly at the root, and the root must match.
  if (sn !== 0) throw badProof('inclusion proof is shorter than the path to the root');
  if (!equalBytes(r, root)) throw badProof('inclusion proof does not lead to the given root');
}

/**
 * RFC 9162 §2.1.4.2: throws ERR_LOG_BAD_PROOF unless `proof` shows that the tree of size1 leaves
 * with root1 is a prefix of the tree of size2 leaves with root2.
 *
 * Edge cases (as transparency-dev/merkle, but stricter on the empty tree): equal sizes need equal
 * roots and an empty proof; size1 = 0 needs an empty proof and root1 = MTH({}).
 */
export function verifyConsistency(
  hash: HashFn,
  size1: number,
  size2: number,
  root1: Uint8Array,
  root2: Uint8Array,
  proof: readonly Uint8Array[],
): void {
  // 1. Sizes and lengths.
  if (!isSize(size1) || !isSize(size2) || size1 > size2) {
    throw badProof(`consistency proof from size ${String(size1)} to size ${String(size2)}: want 0 <= size1 <= size2`);
  }
  checkHashes('root1', [root1]);
  checkHashes('root2', [root2]);
  checkHashes('consistency proof', proof);
  // 2. Trivial cases: nothing to prove, so any proof element is garbage.
  if (size1 === size2) {
    if (proof.length !== 0) throw badProof(`consistency proof between equal sizes must be empty, got ${proof.length} hashes`);
    if (!equalBytes(root1, root2)) throw badProof(`two different roots for tree size ${size1}`);
    return;
  }
  if (size1 === 0) {
    if (proof.length !== 0) throw badProof(`consistency proof from the empty tree must be empty, got ${proof.length} hashes`);
    if (!equalBytes(root1, emptyRoot(hash))) throw badProof('root1 is not the root of the empty tree');
    return;
  }
  if (proof.length === 0) throw badProof(`consistency proof from size ${size1} to ${size2} is empty`);
  // 3. A complete old tree is a node of the new one: the proof omits it, the verifier knows it.
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : proof;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0] as Uint8Array;
  let sr = fr;
  for (const c of path.slice(1)) {
    if (sn === 0) throw badProof('consistency proof is longer than the path to the root');
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(hash, c, fr);
      sr = nodeHash(hash, c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(hash, sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // 4. Both reconstructed roots must match, and the path must end at the new root.
  if (sn !== 0) throw badProof('consistency proof is shorter than the path to the root');
  const ok1 = equalBytes(fr, root1);
  const ok2 = equalBytes(sr, root2);
  if (!ok1 || !ok2) throw badProof('consistency proof does not lead to the given roots');
}

function isPowerOfTwo(n: number): boolean {
  let k = 1;
  while (k < n) k *= 2;
  return k === n;
}

/** The complete subtrees whose concatenation is leaves [0, size), left (largest) to right. */
export function frontierCoordinates(size: number): { level: number; index: number }[] {
  if (!isSize(size)) throw new LogError('ERR_LOG_RANGE', `tree size ${String(size)} is not a non-negative safe integer`);
  const out: { level: number; index: number }[] = [];
  let start = 0;
  let width = 1;
  let level = 0;
  while (width * 2 <= size) {
    width *= 2;
    level++;
  }
  for (; level >= 0; level--, width /= 2) {
    if (size - start >= width) {
      out.push({ level, index: start / width });
      start += width;
    }
  }
  return out;
}

/**
 * The right edge of a tree (one hash per set bit of its size): enough to append leaves and compute
 * the root without reading anything. `append` returns the complete subtrees (level >= 1) that the
 * new leaf completes, for the store to keep.
 */
export class Frontier {
  readonly #hash: HashFn;
  #size: number;
  /** Hashes of frontierCoordinates(size), largest subtree first. */
  readonly #hashes: Uint8Array[];

  constructor(hash: HashFn, size = 0, hashes: readonly Uint8Array[] = []) {
    const want = frontierCoordinates(size).length;
    if (hashes.length !== want) {
      throw new LogError('ERR_LOG_INCONSISTENT', `a tree of size ${size} has ${want} frontier hashes, got ${hashes.length}`);
    }
    if (hashes.some((h) => h.length !== HASH_SIZE)) throw new LogError('ERR_LOG_INCONSISTENT', `frontier hashes must be ${HASH_SIZE} bytes`);
    this.#hash = hash;
    this.#size = size;
    this.#hashes = [...hashes];
  }

  get size(): number {
    return this.#size;
  }

  clone(): Frontier {
    return new Frontier(this.#hash, this.#size, this.#hashes);
  }

  append(leaf: Uint8Array): MerkleNode[] {
    if (!Number.isSafeInteger(this.#size + 1)) throw new LogError('ERR_LOG_RANGE', 'the tree is full (2^53 leaves)');
    const made: MerkleNode[] = [];
    let h = leaf;
    let level = 0;
    let width = 1;
    // Like a binary increment: each set low bit of the size is a subtree the new one merges with.
    while (Math.floor(this.#size / width) % 2 === 1) {
      h = nodeHash(this.#hash, this.#hashes.pop() as Uint8Array, h);
      level++;
      width *= 2;
      made.push({ level, index: (this.#size + 1) / width - 1, hash: h });
    }
    this.#hashes.push(h);
    this.#size++;
    return made;
  }

  root(): Uint8Array {
    if (this.#hashes.length === 0) return emptyRoot(this.#hash);
    let r = this.#hashes[this.#hashes.length - 1] as Uint8Array;
    for (let i = this.#hashes.length - 2; i >= 0; i--) r = nodeHash(this.#hash, this.#hashes[i] as Uint8Array, r);
    return r;
  }
}
