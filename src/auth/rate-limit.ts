/**
 * Per-tenant token buckets: each tenant may spend `burst` requests at once and regains
 * `perSecond` per second. Time comes from the injected clock (milliseconds, monotonic by default).
 *
 * Memory is bounded: a bucket that has refilled to `burst` is indistinguishable from a new one,
 * so it is dropped (swept at most once per refill period, which keeps the cost amortised O(1)).
 * If more than `maxBuckets` tenants are active at once anyway, the least recently used bucket
 * goes first; that tenant then starts again with a full bucket, a small leniency under pressure
 * preferable to unbounded growth. Tenants are authenticated before they reach the limiter, so an
 * attacker cannot mint buckets without minting API keys.
 */
import { performance } from 'node:perf_hooks';
import { AppError } from '../errors.ts';

export interface RateLimiterOptions {
  /** Tokens regained per second (> 0). */
  readonly perSecond: number;
  /** Bucket size: the largest burst (integer >= 1). */
  readonly burst: number;
  /** Milliseconds; must not go backwards by much (a backward step is treated as no time passing). */
  readonly clock?: () => number;
  /** Most buckets kept at once. Default 10 000. */
  readonly maxBuckets?: number;
}

export type RateDecision =
  | { readonly allowed: true; /** Whole tokens left after this request. */ readonly remaining: number }
  | { readonly allowed: false; /** Seconds until the request would be allowed (>= 1), for Retry-After. */ readonly retryAfterS: number };

export interface RateLimiter {
  /** Spend `cost` tokens (default 1) of `tenant`'s bucket, or say how long to wait. */
  take(tenant: string, cost?: number): RateDecision;
  /** Number of buckets held (for tests and a gauge). */
  readonly size: number;
}

interface Bucket {
  tokens: number;
  updated: number;
}

export const DEFAULT_MAX_BUCKETS = 10_000;

export function createRateLimiter(opts: RateLimiterOptions): RateLimiter {
  const { perSecond, burst } = opts;
  const maxBuckets = opts.maxBuckets ?? DEFAULT_MAX_BUCKETS;
  if (!(Number.isFinite(perSecond) && perSecond > 0)) throw new AppError('ERR_INTERNAL', `rate limiter: perSecond must be > 0, got ${perSecond}`);
  if (!(Number.isInteger(burst) && burst >= 1)) throw new AppError('ERR_INTERNAL', `rate limiter: burst must be an integer >= 1, got ${burst}`);
  if (!(Number.isInteger(maxBuckets) && maxBuckets >= 1)) throw new AppError('ERR_INTERNAL', `rate limiter: maxBuckets must be an integer >= 1, got ${maxBuckets}`);
  const clock = opts.clock ?? (() => performance.now());
  const perMs = perSecond / 1000;
  const refillMs = burst / perMs;
  // Map iteration order is insertion order; re-inserting on use makes it least-recently-used first.
  const buckets = new Map<string, Bucket>();
  let lastSweep = clock();

  const level = (b: Bucket, now: number): number => Math.min(burst, b.tokens + Math.max(0, now - b.updated) * perMs);

  function sweep(now: number): void {
    for (const [k, b] of buckets) if (level(b, now) >= burst) buckets.delete(k);
    lastSweep = now;
  }

  return {
    take(tenant: string, cost = 1): RateDecision {
      if (!(Number.isFinite(cost) && cost > 0 && cost <= burst)) {
        throw new AppError('ERR_INTERNAL', `rate limiter: cost must be in (0, ${burst}], got ${cost}`);
      }
      const now = clock();
      if (now - lastSweep >= refillMs || now < lastSweep) sweep(now);
      let b = buckets.get(tenant);
      if (b === undefined) {
        b = { tokens: burst, updated: now };
      } else {
        b.tokens = level(b, now);
        b.updated = Math.max(b.updated, now);
        buckets.delete(tenant);
      }
      let decision: RateDecision;
      // The epsilon absorbs binary rounding of elapsed * rate (20 ms at 50/s is 1 token, not 0.999…).
      if (b.tokens + 1e-9 >= cost) {
        b.tokens = Math.max(0, b.tokens - cost);
        decision = { allowed: true, remaining: Math.floor(b.tokens) };
      } else {
        decision = { allowed: false, retryAfterS: Math.max(1, Math.ceil((cost - b.tokens) / perSecond)) };
      }
      // Inserted after spending, so that it is not full and a sweep below cannot drop it.
      buckets.set(tenant, b);
      if (buckets.size > maxBuckets) {
        sweep(now);
        for (const k of buckets.keys()) {
          if (buckets.size <= maxBuckets) break;
          if (k !== tenant) buckets.delete(k);
        }
      }
      return decision;
    },
    get size() {
      return buckets.size;
    },
  };
}
