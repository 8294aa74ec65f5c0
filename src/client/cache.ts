/**
 * The verifier's cache, so that many answers from one enclave cost one JWS check each (plus the
 * gateway's countersignature): verified attestation records are kept by the evidence digest and
 * every other record member the verdict depends on (see `recordKey`), with the trust anchors used;
 * so are appraisals (by policy digest), EAR checks (by gateway key), imported keys, fetched records,
 * key sets and verified checkpoints. A record whose time, nonce, key or collateral differs in any
 * way is another key: an edited record never inherits the verdict of the original.
 *
 * Verification at a recorded time against fixed anchors is deterministic, so failures are kept as
 * well; network fetches are not (a failed fetch is retried by the next call). Bounded: the least
 * recently used entries go first.
 */

export interface AnswerCacheStats {
  /** Times the evidence of a record was actually verified (cache misses of the expensive step). */
  evidenceVerifications: number;
  /** Evidence verdicts served from the cache. */
  evidenceHits: number;
  /** HTTP requests made to a gateway. */
  fetches: number;
}

export interface AnswerCacheOptions {
  /** Most entries kept (default 4096). */
  readonly maxEntries?: number;
}

export class AnswerCache {
  readonly stats: AnswerCacheStats = { evidenceVerifications: 0, evidenceHits: 0, fetches: 0 };
  readonly #max: number;
  readonly #memo = new Map<string, Promise<unknown>>();
  /** Log keys first seen per gateway (trust on first use); never evicted. */
  readonly #logKeys = new Map<string, string>();
  /** Parsed copies of input objects (records, policies), by identity. */
  #parsed = new WeakMap<object, unknown>();
  /** Short ids for long keys (a record's members), by identity and by value. */
  #ids = new WeakMap<object, string>();
  readonly #interned = new Map<string, string>();
  #next = 0;

  constructor(options: AnswerCacheOptions = {}) {
    this.#max = Math.max(16, options.maxEntries ?? 4096);
  }

  /** True when `key` is held (settled or in flight). */
  has(key: string): boolean {
    return this.#memo.has(key);
  }

  /**
   * The value for `key`, computed once by `make` (concurrent callers share the promise). The key's
   * namespace fixes T: callers use one `make` type per prefix.
   */
  memo<T>(key: string, make: () => Promise<T>, options: { readonly keepFailures?: boolean } = {}): Promise<T> {
    const held = this.#memo.get(key);
    if (held !== undefined) {
      // Least recently used order: move to the end.
      this.#memo.delete(key);
      this.#memo.set(key, held);
      return held as Promise<T>;
    }
    const p = make();
    this.#memo.set(key, p);
    if (options.keepFailures !== true) {
      p.catch(() => {
        if (this.#memo.get(key) === p) this.#memo.delete(key);
      });
    }
    while (this.#memo.size > this.#max) {
      const oldest = this.#memo.keys().next().value;
      if (oldest === undefined) break;
      this.#memo.delete(oldest);
    }
    return p;
  }

  /**
   * Parse `obj` once: later calls with the same object get the first parse's result. The copy is a
   * snapshot: changes made to the object after its first verification are not seen (pass a new
   * object to verify a changed record).
   */
  parsedOnce<T>(obj: object, parse: () => T): T {
    if (this.#parsed.has(obj)) return this.#parsed.get(obj) as T;
    const v = parse();
    this.#parsed.set(obj, v);
    return v;
  }

  /** A short id for the value `key()` names (equal keys get one id), cached by the object's identity. */
  idOf(obj: object, key: () => string): string {
    const known = this.#ids.get(obj);
    if (known !== undefined) return known;
    const k = key();
    let id = this.#interned.get(k);
    if (id === undefined) {
      // Forgetting ids only costs recomputation: a new id never matches a stale entry.
      if (this.#interned.size >= this.#max) this.#interned.clear();
      id = `r${String(this.#next++)}`;
      this.#interned.set(k, id);
    }
    this.#ids.set(obj, id);
    return id;
  }

  /** Forget one entry (a key set to refetch). */
  forget(key: string): void {
    this.#memo.delete(key);
  }

  /**
   * Trust on first use: remember the first log key seen for `gateway`; later calls say whether the
   * key is still the same.
   */
  logKeySeen(gateway: string, key: string): 'first' | 'same' | 'changed' {
    const seen = this.#logKeys.get(gateway);
    if (seen === undefined) {
      this.#logKeys.set(gateway, key);
      return 'first';
    }
    return seen === key ? 'same' : 'changed';
  }

  clear(): void {
    this.#memo.clear();
    this.#logKeys.clear();
    this.#parsed = new WeakMap();
    this.#ids = new WeakMap();
    this.#interned.clear();
    this.stats.evidenceVerifications = 0;
    this.stats.evidenceHits = 0;
    this.stats.fetches = 0;
  }
}

/** A cache to share between calls of verifyAnswer (one per gateway or per application). */
export function createAnswerCache(options: AnswerCacheOptions = {}): AnswerCache {
  return new AnswerCache(options);
}
