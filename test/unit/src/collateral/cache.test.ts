import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AttestationError, VerificationError } from '../../../../attestation/errors.ts';
import type { DcapCollateral } from '../../../../attestation/intel/bundle.ts';
import { collateralExpiry, createCollateralCache } from '../../../../src/collateral/cache.ts';
import { createPcsProvider, type DcapCollateralProvider, type DcapCollateralRequest } from '../../../../src/collateral/pcs.ts';
import { listIntelCases, loadIntelCase, startFakePcs, type FakePcs, type IntelCase } from '../../../fakes/fake-pcs.ts';

const SGX_CASE = 'sgx-v3-phala-processor-00a067';
const TDX_CASE = 'tdx-v4-phala-b0c06f';
const HOUR = 3600_000;

/**
 * Earliest nextUpdate of each fixture's collateral, read independently with openssl and from the
 * JSON (see the case folders): which of the four items expires first differs between cases.
 */
const EXPECTED_EXPIRY: Record<string, string> = {
  'sgx-v3-automata-processor-00a067-debug': '2025-07-19T10:01:18Z', // QE identity
  'sgx-v3-phala-processor-00a067': '2025-07-19T10:01:18Z', // QE identity
  'tdx-v4-automata-00806f05': '2025-08-06T09:06:43Z', // TCB info
  'tdx-v4-gotdx-spr-e4-50806f-tcb-unsupported': '2023-07-08T07:24:59Z', // QE identity
  'tdx-v4-phala-b0c06f': '2025-07-19T10:00:35Z', // PCK CRL
  'tdx-v5-gotdx-90c06f': '2026-03-03T14:49:26Z', // TCB info
};

let fake: FakePcs;
beforeAll(async () => {
  fake = await startFakePcs({ cases: [SGX_CASE, TDX_CASE] });
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => {
  fake.reset();
});

function caseOf(name: string): IntelCase {
  const c = fake.cases.get(name);
  if (c === undefined) throw new Error(name);
  return c;
}
const reqOf = (c: IntelCase): DcapCollateralRequest => ({ tee: c.tee, fmspc: c.fmspc, ca: c.ca });
const tcbFetches = (): number => fake.requests.filter((r) => r.path.endsWith('/tcb')).length;

function providerFor(name: string, timeoutMs = 2000) {
  return createPcsProvider({ baseUrl: fake.baseUrl(name), kind: 'intel-pcs', rootCaCrlUrl: fake.rootCaCrlUrl(name), timeoutMs });
}

class Clock {
  constructor(public now: number) {}
  readonly fn = (): number => this.now;
}

async function rejection(p: Promise<unknown>): Promise<AttestationError> {
  const e: unknown = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(AttestationError.is(e), `expected an AttestationError, got ${String(e)}`).toBe(true);
  return e as AttestationError;
}

/** A provider under the test's control: counts calls, can fail, can be held open. */
class StubProvider implements DcapCollateralProvider {
  calls: DcapCollateralRequest[] = [];
  failWith: Error | undefined = undefined;
  gate: Promise<void> | undefined;
  constructor(readonly collateral: DcapCollateral) {}
  async getDcapCollateral(req: DcapCollateralRequest): Promise<DcapCollateral> {
    this.calls.push(req);
    if (this.gate) await this.gate;
    if (this.failWith !== undefined) throw this.failWith;
    return this.collateral;
  }
}

describe('collateralExpiry', () => {
  it.each(listIntelCases())('%s: the earliest of the four nextUpdate values', (name) => {
    const c = loadIntelCase(name);
    expect(new Date(collateralExpiry(c.collateral)).toISOString().replace('.000Z', 'Z')).toBe(EXPECTED_EXPIRY[name]);
    // verify_at lies inside the window (the fixtures promise this).
    expect(c.verifyAt).toBeLessThan(collateralExpiry(c.collateral));
  });

  it.each([
    ['TCB info without nextUpdate', (c: DcapCollateral) => ({ ...c, tcb_info: c.tcb_info.replace('"nextUpdate"', '"nextUpdateX"') }), /TCB info nextUpdate/],
    ['QE identity with a non-ISO date', (c: DcapCollateral) => ({ ...c, qe_identity: c.qe_identity.replace(/"nextUpdate":"[^"]+"/, '"nextUpdate":"July 19 2025"') }), /QE identity nextUpdate/],
    ['QE identity with an impossible date', (c: DcapCollateral) => ({ ...c, qe_identity: c.qe_identity.replace(/"nextUpdate":"[^"]+"/, '"nextUpdate":"2025-13-45T99:00:00Z"') }), /not a valid time/],
    ['TCB info not JSON', (c: DcapCollateral) => ({ ...c, tcb_info: '{' }), /TCB info is not JSON/],
    ['PCK CRL not DER', (c: DcapCollateral) => ({ ...c, pck_crl: '3000' }), /PCK CRL does not parse/],
    ['root CA CRL not hex', (c: DcapCollateral) => ({ ...c, root_ca_crl: 'zz' }), /Root CA CRL does not parse/],
  ])('%s -> ERR_COLLATERAL_MALFORMED', (_n, mutate, msg) => {
    const c = mutate(loadIntelCase(SGX_CASE).collateral);
    expect(() => collateralExpiry(c)).toThrow(expect.objectContaining({ code: 'ERR_COLLATERAL_MALFORMED', message: expect.stringMatching(msg) as string }) as Error);
  });
});

describe('cache over the fake PCS', () => {
  it('serves within validity without asking the service again', async () => {
    const c = caseOf(SGX_CASE);
    const clock = new Clock(c.verifyAt);
    const cache = createCollateralCache(providerFor(SGX_CASE), { clock: clock.fn });
    const a = await cache.getDcapCollateral(reqOf(c));
    expect(tcbFetches()).toBe(1);
    clock.now += 30 * 60_000;
    const b = await cache.getDcapCollateral(reqOf(c));
    expect(b).toBe(a);
    expect(fake.requests).toHaveLength(4); // one round: pckcrl, tcb, qe identity, root CRL
    expect(cache.size).toBe(1);
  });

  it('refetches at the earliest nextUpdate (QE identity for this case), not before', async () => {
    const c = caseOf(SGX_CASE);
    const expiry = Date.parse(EXPECTED_EXPIRY[SGX_CASE]!);
    const clock = new Clock(c.verifyAt);
    const cache = createCollateralCache(providerFor(SGX_CASE), { clock: clock.fn, maxAgeMs: Infinity });
    await cache.getDcapCollateral(reqOf(c));
    clock.now = expiry - 1;
    await cache.getDcapCollateral(reqOf(c));
    expect(tcbFetches()).toBe(1);
    clock.now = expiry;
    await cache.getDcapCollateral(reqOf(c));
    expect(tcbFetches()).toBe(2);
  });

  it('for the TDX case the PCK CRL expires first and triggers the refetch', async () => {
    const c = caseOf(TDX_CASE);
    const expiry = Date.parse(EXPECTED_EXPIRY[TDX_CASE]!);
    const clock = new Clock(c.verifyAt);
    const cache = createCollateralCache(providerFor(TDX_CASE), { clock: clock.fn, maxAgeMs: Infinity });
    await cache.getDcapCollateral(reqOf(c));
    clock.now = expiry - 1;
    await cache.getDcapCollateral(reqOf(c));
    expect(tcbFetches()).toBe(1);
    clock.now = expiry + 1;
    await cache.getDcapCollateral(reqOf(c));
    expect(tcbFetches()).toBe(2);
  });

  it('refreshes after maxAgeMs and serves the cached entry while the service is down and it is still valid', async () => {
    const c = caseOf(SGX_CASE);
    const clock = new Clock(c.verifyAt);
    const cache = createCollateralCache(providerFor(SGX_CASE), { clock: clock.fn, maxAgeMs: HOUR });
    const first = await cache.getDcapCollateral(reqOf(c));
    fake.fail('tcb', 'http500');
    clock.now += 2 * HOUR;
    const during = await cache.getDcapCollateral(reqOf(c));
    expect(during).toBe(first);
    expect(tcbFetches()).toBe(2); // it did try
  });

  it('a hanging service (timeout) also falls back to the valid cached entry', async () => {
    const c = caseOf(TDX_CASE);
    const clock = new Clock(c.verifyAt);
    const cache = createCollateralCache(providerFor(TDX_CASE, 200), { clock: clock.fn, maxAgeMs: HOUR });
    const first = await cache.getDcapCollateral(reqOf(c));
    fake.fail('qe_identity', 'hang');
    clock.now += 2 * HOUR;
    expect(await cache.getDcapCollateral(reqOf(c))).toBe(first);
  });

  it('refuses after expiry when the service is down: the fetch error, never the expired entry', async () => {
    const c = caseOf(SGX_CASE);
    const clock = new Clock(c.verifyAt);
    const cache = createCollateralCache(providerFor(SGX_CASE), { clock: clock.fn, maxAgeMs: HOUR });
    await cache.getDcapCollateral(reqOf(c));
    fake.fail('pckcrl', 'http500');
    clock.now = Date.parse(EXPECTED_EXPIRY[SGX_CASE]!);
    const e = await rejection(cache.getDcapCollateral(reqOf(c)));
    expect(e.code).toBe('ERR_COLLATERAL_UNAVAILABLE');
    expect(e.reason).toBe('collateral_unavailable');
    expect(e.message).toMatch(/pckcrl\?ca=processor&encoding=der returned HTTP 500/);
    expect(cache.size).toBe(0);
    // And it keeps refusing (the expired entry is gone, not resurrected).
    clock.now += 1;
    expect((await rejection(cache.getDcapCollateral(reqOf(c)))).code).toBe('ERR_COLLATERAL_UNAVAILABLE');
  });

  it('concurrent requests for one key share one fetch', async () => {
    const c = caseOf(TDX_CASE);
    const cache = createCollateralCache(providerFor(TDX_CASE), { clock: new Clock(c.verifyAt).fn });
    const all = await Promise.all(Array.from({ length: 8 }, () => cache.getDcapCollateral(reqOf(c))));
    expect(new Set(all).size).toBe(1);
    expect(tcbFetches()).toBe(1);
    expect(fake.requests).toHaveLength(4);
  });

  it('update=early and update=standard are separate entries, and each reaches the service', async () => {
    const c = caseOf(TDX_CASE);
    const cache = createCollateralCache(providerFor(TDX_CASE), { clock: new Clock(c.verifyAt).fn });
    await cache.getDcapCollateral({ ...reqOf(c), update: 'early' });
    await cache.getDcapCollateral({ ...reqOf(c), update: 'standard' });
    await cache.getDcapCollateral(reqOf(c)); // provider default: standard
    expect(cache.size).toBe(2);
    expect(fake.requests.filter((r) => r.path.endsWith('/tcb')).map((r) => r.query['update'])).toEqual(['early', 'standard']);
  });
});

describe('cache semantics with a stub provider', () => {
  const base = (): DcapCollateral => loadIntelCase(SGX_CASE).collateral;
  const t0 = Date.parse('2025-07-01T00:00:00Z');
  const req: DcapCollateralRequest = { tee: 'sgx', fmspc: '00a067110000', ca: 'processor' };

  it('dedupes while the fetch is held open, then serves from cache', async () => {
    const stub = new StubProvider(base());
    let release!: () => void;
    stub.gate = new Promise<void>((r) => (release = r));
    const cache = createCollateralCache(stub, { clock: () => t0 });
    const ps = [cache.getDcapCollateral(req), cache.getDcapCollateral(req), cache.getDcapCollateral({ ...req, fmspc: '00A067110000' })];
    await Promise.resolve();
    expect(stub.calls).toHaveLength(1);
    release();
    await Promise.all(ps);
    await cache.getDcapCollateral(req);
    expect(stub.calls).toHaveLength(1);
  });

  it('a shared failing fetch rejects every waiter with the same typed error', async () => {
    const stub = new StubProvider(base());
    stub.failWith = new VerificationError('ERR_COLLATERAL_UNAVAILABLE', 'down', { reason: 'collateral_unavailable' });
    const cache = createCollateralCache(stub, { clock: () => t0 });
    const rs = await Promise.all([rejection(cache.getDcapCollateral(req)), rejection(cache.getDcapCollateral(req))]);
    expect(stub.calls).toHaveLength(1);
    expect(rs[0]).toBe(rs[1]);
    expect(rs[0].code).toBe('ERR_COLLATERAL_UNAVAILABLE');
  });

  it('a provider throwing a non-library error is wrapped as ERR_COLLATERAL_UNAVAILABLE', async () => {
    const stub = new StubProvider(base());
    stub.failWith = new TypeError('boom');
    const e = await rejection(createCollateralCache(stub, { clock: () => t0 }).getDcapCollateral(req));
    expect(e.code).toBe('ERR_COLLATERAL_UNAVAILABLE');
    expect(e.cause).toBeInstanceOf(TypeError);
  });

  it('LRU: the least recently used entry is evicted beyond maxEntries', async () => {
    const stub = new StubProvider(base());
    const cache = createCollateralCache(stub, { clock: () => t0, maxEntries: 2 });
    const k = (ca: 'platform' | 'processor', update: 'early' | 'standard'): DcapCollateralRequest => ({ ...req, ca, update });
    await cache.getDcapCollateral(k('processor', 'standard')); // A
    await cache.getDcapCollateral(k('processor', 'early')); // B
    await cache.getDcapCollateral(k('processor', 'standard')); // A used again: B is now LRU
    await cache.getDcapCollateral(k('platform', 'standard')); // C evicts B
    expect(cache.size).toBe(2);
    expect(stub.calls).toHaveLength(3);
    await cache.getDcapCollateral(k('processor', 'standard')); // A still cached
    expect(stub.calls).toHaveLength(3);
    await cache.getDcapCollateral(k('processor', 'early')); // B refetched
    expect(stub.calls).toHaveLength(4);
  });

  it('collateral that is already expired when fetched is returned but never cached', async () => {
    const stub = new StubProvider(base());
    const late = Date.parse(EXPECTED_EXPIRY[SGX_CASE]!) + 1;
    const cache = createCollateralCache(stub, { clock: () => late });
    expect(await cache.getDcapCollateral(req)).toBe(stub.collateral);
    expect(cache.size).toBe(0);
    await cache.getDcapCollateral(req);
    expect(stub.calls).toHaveLength(2);
  });

  it('collateral without a usable nextUpdate is refused, not cached', async () => {
    const c = base();
    const stub = new StubProvider({ ...c, tcb_info: c.tcb_info.replace('"nextUpdate"', '"nextUpdat"') });
    const cache = createCollateralCache(stub, { clock: () => t0 });
    const e = await rejection(cache.getDcapCollateral(req));
    expect(e.code).toBe('ERR_COLLATERAL_MALFORMED');
    expect(cache.size).toBe(0);
  });

  it('clear() drops every entry', async () => {
    const stub = new StubProvider(base());
    const cache = createCollateralCache(stub, { clock: () => t0 });
    await cache.getDcapCollateral(req);
    cache.clear();
    expect(cache.size).toBe(0);
    await cache.getDcapCollateral(req);
    expect(stub.calls).toHaveLength(2);
  });

  it('passes the effective update type to the provider', async () => {
    const stub = new StubProvider(base());
    await createCollateralCache(stub, { clock: () => t0 }).getDcapCollateral(req);
    expect(stub.calls[0]).toEqual({ ...req, update: 'standard' });
  });

  it('refuses bad options', () => {
    const stub = new StubProvider(base());
    expect(() => createCollateralCache(stub, { maxEntries: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }) as Error);
    expect(() => createCollateralCache(stub, { maxAgeMs: -1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }) as Error);
  });
});
