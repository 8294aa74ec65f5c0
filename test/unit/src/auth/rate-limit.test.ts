import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRateLimiter } from '../../../../src/auth/rate-limit.ts';
import { AppError } from '../../../../src/errors.ts';

function clock(start = 0): { now: () => number; advance: (ms: number) => void; set: (ms: number) => void } {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
    set: (ms) => {
      t = ms;
    },
  };
}

describe('createRateLimiter', () => {
  it('allows a burst, then refuses with Retry-After, then refills at the rate', () => {
    const c = clock();
    const rl = createRateLimiter({ perSecond: 2, burst: 3, clock: c.now });
    expect(rl.take('a')).toEqual({ allowed: true, remaining: 2 });
    expect(rl.take('a')).toEqual({ allowed: true, remaining: 1 });
    expect(rl.take('a')).toEqual({ allowed: true, remaining: 0 });
    expect(rl.take('a')).toEqual({ allowed: false, retryAfterS: 1 });
    c.advance(499);
    expect(rl.take('a').allowed).toBe(false);
    c.advance(1);
    expect(rl.take('a')).toEqual({ allowed: true, remaining: 0 });
    c.advance(60_000);
    expect(rl.take('a')).toEqual({ allowed: true, remaining: 2 });
  });

  it('rounds Retry-After up to whole seconds', () => {
    const c = clock();
    const rl = createRateLimiter({ perSecond: 0.25, burst: 1, clock: c.now });
    expect(rl.take('a').allowed).toBe(true);
    expect(rl.take('a')).toEqual({ allowed: false, retryAfterS: 4 });
    c.advance(2500);
    expect(rl.take('a')).toEqual({ allowed: false, retryAfterS: 2 });
  });

  it('does not let a refused request spend tokens', () => {
    const c = clock();
    const rl = createRateLimiter({ perSecond: 1, burst: 1, clock: c.now });
    rl.take('a');
    for (let i = 0; i < 10; i++) rl.take('a');
    c.advance(1000);
    expect(rl.take('a').allowed).toBe(true);
  });

  it('keeps tenants apart', () => {
    const c = clock();
    const rl = createRateLimiter({ perSecond: 1, burst: 1, clock: c.now });
    expect(rl.take('a').allowed).toBe(true);
    expect(rl.take('a').allowed).toBe(false);
    expect(rl.take('b').allowed).toBe(true);
  });

  it('charges a cost, and refuses a cost the bucket can never hold', () => {
    const c = clock();
    const rl = createRateLimiter({ perSecond: 1, burst: 5, clock: c.now });
    expect(rl.take('a', 4)).toEqual({ allowed: true, remaining: 1 });
    expect(rl.take('a', 2)).toEqual({ allowed: false, retryAfterS: 1 });
    expect(() => rl.take('a', 6)).toThrow(AppError);
    expect(() => rl.take('a', 0)).toThrow(AppError);
  });

  it('does not mint tokens when the clock goes backwards', () => {
    const c = clock(10_000);
    const rl = createRateLimiter({ perSecond: 1, burst: 2, clock: c.now });
    rl.take('a');
    rl.take('a');
    c.set(0);
    expect(rl.take('a').allowed).toBe(false);
    c.set(10_999);
    expect(rl.take('a').allowed).toBe(false);
    c.set(11_000);
    expect(rl.take('a').allowed).toBe(true);
  });

  it('drops buckets that have refilled (idle tenants cost no memory)', () => {
    const c = clock();
    const rl = createRateLimiter({ perSecond: 10, burst: 10, clock: c.now }); // refills in 1 s
    for (let i = 0; i < 100; i++) rl.take(`t${i}`);
    expect(rl.size).toBe(100);
    c.advance(1000);
    rl.take('fresh');
    expect(rl.size).toBe(1);
  });

  it('never holds more than maxBuckets, evicting the least recently used', () => {
    const c = clock();
    const rl = createRateLimiter({ perSecond: 0.001, burst: 1, clock: c.now, maxBuckets: 3 });
    for (const t of ['a', 'b', 'c']) rl.take(t);
    c.advance(1);
    rl.take('a'); // a is now the most recent
    rl.take('d'); // evicts b
    expect(rl.size).toBe(3);
    expect(rl.take('a').allowed).toBe(false);
    expect(rl.take('c').allowed).toBe(false);
    expect(rl.take('b').allowed).toBe(true); // b started over: the leniency under pressure
    for (let i = 0; i < 1000; i++) rl.take(`x${i}`);
    expect(rl.size).toBe(3);
  });

  it('refuses invalid settings', () => {
    expect(() => createRateLimiter({ perSecond: 0, burst: 1 })).toThrow(AppError);
    expect(() => createRateLimiter({ perSecond: 1, burst: 0.5 })).toThrow(AppError);
    expect(() => createRateLimiter({ perSecond: Number.NaN, burst: 1 })).toThrow(AppError);
    expect(() => createRateLimiter({ perSecond: 1, burst: 1, maxBuckets: 0 })).toThrow(AppError);
  });

  it('uses a monotonic clock by default', () => {
    const rl = createRateLimiter({ perSecond: 1, burst: 1 });
    expect(rl.take('a').allowed).toBe(true);
    expect(rl.take('a').allowed).toBe(false);
  });

  it('never allows more than burst + rate x elapsed (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.1, max: 100, noNaN: true }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 500 }), fc.constantFrom('a', 'b')), { maxLength: 200 }),
        (perSecond, burst, steps) => {
          const c = clock();
          const rl = createRateLimiter({ perSecond, burst, clock: c.now, maxBuckets: 10 });
          const allowed = { a: 0, b: 0 };
          let elapsed = 0;
          for (const [dt, tenant] of steps) {
            c.advance(dt);
            elapsed += dt;
            if (rl.take(tenant).allowed) allowed[tenant]++;
            expect(allowed[tenant]).toBeLessThanOrEqual(burst + (perSecond * elapsed) / 1000 + 1e-6);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
