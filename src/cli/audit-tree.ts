/**
 * The auditor's own copy of a log's Merkle tree, rebuilt from the leaf bytes and kept level by
 * level in memory: level k holds the hash of every complete subtree of 2^k leaves, packed 32 bytes
 * apiece in one growing buffer (about 64 bytes per leaf over all levels: 64 MB for 10^6 entries).
 * That is exactly merkle.ts's storage model, so its rootAt() folds any prefix's root from here in
 * O(log n): the auditor checks every signed checkpoint (and an earlier state) against one tree it
 * computed itself, trusting nothing the log says about its own nodes.
 */
import { HASH_SIZE, leafHash, nodeHash, rootAt, type NodeReader } from '../audit/merkle.ts';
import { sha256 } from '../audit/sha256-node.ts';

class HashLevel {
  #buf = new Uint8Array(HASH_SIZE * 64);
  count = 0;

  push(h: Uint8Array): void {
    if ((this.count + 1) * HASH_SIZE > this.#buf.length) {
      const bigger = new Uint8Array(this.#buf.length * 2);
      bigger.set(this.#buf);
      this.#buf = bigger;
    }
    this.#buf.set(h, this.count * HASH_SIZE);
    this.count++;
  }

  /** A view; callers that keep it must copy. */
  at(i: number): Uint8Array {
    return this.#buf.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
  }
}

export class MemoryTree {
  readonly #levels: HashLevel[] = [new HashLevel()];

  get size(): number {
    return (this.#levels[0] as HashLevel).count;
  }

  /** Append one entry's bytes (hashed as an RFC 6962 leaf). */
  appendEntry(entry: Uint8Array): void {
    this.appendLeafHash(leafHash(sha256, entry));
  }

  appendLeafHash(h: Uint8Array): void {
    let level = 0;
    let hash = h;
    for (;;) {
      let l = this.#levels[level];
      if (l === undefined) {
        l = new HashLevel();
        this.#levels.push(l);
      }
      l.push(hash);
      // An even count means this node completed its parent: carry up, like a binary increment.
      if (l.count % 2 !== 0) return;
      hash = nodeHash(sha256, l.at(l.count - 2), l.at(l.count - 1));
      level++;
    }
  }

  /** merkle.ts NodeReader over the complete subtrees held here (copies out). */
  readonly read: NodeReader = (level, index) => {
    const l = this.#levels[level];
    if (l === undefined || !Number.isSafeInteger(index) || index < 0 || index >= l.count) {
      throw new RangeError(`no complete subtree at level ${level}, index ${index} in a tree of ${this.size} leaves`);
    }
    return l.at(index).slice();
  };

  /** MTH of the first `size` leaves (size <= this.size). */
  rootAt(size: number): Uint8Array {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.size) throw new RangeError(`tree size ${size} is beyond the ${this.size} leaves held`);
    return rootAt(sha256, this.read, size);
  }
}
