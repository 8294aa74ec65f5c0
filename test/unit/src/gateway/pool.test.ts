/**
 * The backend pool's handling of an admission that is already over when it completes (the clock
 * passed its end while it was verified and recorded): it admits nothing, and is never announced.
 */
import { describe, expect, it } from 'vitest';
import type { Admission } from '../../../../src/gateway/admission.ts';
import type { EnclaveClient } from '../../../../src/gateway/enclave-client.ts';
import { BackendPool, type Backend } from '../../../../src/gateway/pool.ts';

function admission(createdAt: number, expiresAt: number): Admission {
  return {
    id: '00000000-0000-4000-8000-000000000001',
    backend: 'e1',
    admitted: true,
    status: 'warning',
    reasons: [],
    createdAt,
    expiresAt,
    nonce: 'n',
    tee: 'tdx',
    simulated: true,
    key: undefined,
    models: [],
    evidenceSha256: undefined,
    evidence: undefined,
    collateral: [],
    result: undefined,
    appraisal: undefined,
    ear: undefined,
  };
}

function pool(now: () => number, admit: () => Promise<Admission>): { pool: BackendPool; admitted: string[]; refused: string[]; reasons: unknown[] } {
  const admitted: string[] = [];
  const refused: string[] = [];
  const reasons: unknown[] = [];
  const p = new BackendPool({
    backends: [{ name: 'e1', client: { name: 'e1', close: () => Promise.resolve() } as unknown as EnclaveClient }],
    admit,
    now,
    reattestBeforeMs: 1_000,
    retryMs: 60_000,
    events: {
      admitted: (b: Backend) => admitted.push(b.name),
      refused: (_b: Backend, a: Admission | undefined, reason: string) => {
        refused.push(reason);
        reasons.push(...(a?.reasons ?? []));
      },
      evicted: () => undefined,
    },
  });
  return { pool: p, admitted, refused, reasons };
}

describe('BackendPool', () => {
  it('refuses an admission whose end has passed by the time it completes, and does not announce it', async () => {
    let now = 1_000_000;
    const t = pool(
      () => now,
      () => {
        const a = admission(now, now + 60_000);
        now += 120_000; // the clock moves past the admission's end while it is recorded
        return Promise.resolve(a);
      },
    );
    await t.pool.start();
    const b = t.pool.backends[0]!;
    expect(b.state).toBe('refused');
    expect(t.admitted).toEqual([]);
    expect(t.refused[0]).toMatch(/expired .* before it could be used/);
    expect(t.reasons[0]).toMatchObject({ code: 'ERR_ADMISSION_EXPIRED', reason: 'expired_before_use' });
    expect(t.pool.usable(b)).toBe(false);
    await t.pool.close();
  });

  it('admits an admission that is still current', async () => {
    const now = 1_000_000;
    const t = pool(
      () => now,
      () => Promise.resolve(admission(now, now + 60_000)),
    );
    await t.pool.start();
    expect(t.pool.backends[0]!.state).toBe('admitted');
    expect(t.admitted).toEqual(['e1']);
    await t.pool.close();
  });
});
