/**
 * Where the gateway gets collateral for a backend's evidence: the backend's own first, then an
 * offline bundle directory, then Intel PCS / a PCCS through a cache that keeps serving while the
 * service is down and fails closed once the collateral expires.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyEvidence } from '../../../../attestation/registry.ts';
import type { AttestAnswer } from '../../../../src/gateway/enclave-client.ts';
import { createCollateralSource } from '../../../../src/gateway/collateral.ts';
import { MEMORY, openSqliteStore } from '../../../../src/store/sqlite.ts';
import { startFakePcs, type FakePcs } from '../../../fakes/fake-pcs.ts';

const CASE = 'tdx-v4-phala-b0c06f';
const DIR = join(import.meta.dirname, '../../../fixtures/intel', CASE);
let quote: Uint8Array;
let bundle: Uint8Array;
let at: Date;
let tmp: string;
let pcs: FakePcs;

function answer(collateral: { name: string; bytes: Uint8Array }[] = [], tee: AttestAnswer['tee'] = 'tdx'): AttestAnswer {
  return {
    tee,
    simulated: false,
    binding: 'attestgate-binding-v1',
    evidence: quote,
    evidenceSha256: '',
    collateral,
    key: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid: 'k', alg: 'ES256', use: 'sig' },
    models: [],
    runtime: { name: 'onnxruntime-node', version: '1' },
  };
}

beforeAll(async () => {
  quote = new Uint8Array(await readFile(join(DIR, 'quote.bin')));
  bundle = new Uint8Array(await readFile(join(DIR, 'collateral.json')));
  const meta = JSON.parse(await readFile(join(DIR, 'case.json'), 'utf8')) as { verify_at?: string; verification_time?: string; at?: string };
  at = new Date(meta.verify_at ?? meta.verification_time ?? meta.at ?? '');
  tmp = await mkdtemp(join(tmpdir(), 'attestgate-collateral-'));
  pcs = await startFakePcs({ cases: [CASE], flavour: 'pccs' });
});

afterAll(async () => {
  await pcs.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('gateway collateral sources', () => {
  it('uses what the backend sent when it holds a DCAP bundle, asking nothing else', async () => {
    const src = createCollateralSource({ config: { mode: 'offline', bundle_dir: tmp } });
    expect(await src(answer([{ name: 'collateral.json', bytes: bundle }]))).toEqual([]);
  });

  it('reads <tee>-<fmspc>.json from the offline bundle directory, and nothing when it is absent', async () => {
    const src = createCollateralSource({ config: { mode: 'offline', bundle_dir: tmp } });
    expect(await src(answer())).toEqual([]);
    const hits: string[] = [];
    const dir = await mkdtemp(join(tmp, 'b-'));
    const { fmspc } = (await import('../../../../attestation/intel/request.ts')).dcapCollateralNeeds(quote);
    await writeFile(join(dir, `tdx-${fmspc.toLowerCase()}.json`), bundle);
    const src2 = createCollateralSource({ config: { mode: 'offline', bundle_dir: dir }, onCache: (h) => hits.push(h) });
    const files = await src2(answer());
    expect(files.map((f) => f.name)).toEqual([`tdx-${fmspc.toLowerCase()}.json`]);
    expect(hits).toEqual(['hit']);
    const r = await verifyEvidence({ tee: 'tdx', evidence: quote, collateral: files }, { at });
    expect(r.verdict).toBe('ok');
  });

  it('fetches from a PCCS through the cache, then serves the cache while the service is down', async () => {
    let now = at.getTime();
    const src = createCollateralSource({ config: { mode: 'pcs', pcs_url: pcs.baseUrl(CASE), pccs_url: null, kds_url: 'http://127.0.0.1:9', bundle_dir: null }, clock: () => now });
    const first = await src(answer());
    expect(first).toHaveLength(1);
    expect((await verifyEvidence({ tee: 'tdx', evidence: quote, collateral: first }, { at })).verdict).toBe('ok');
    const before = pcs.requests.length;
    pcs.fail('tcb', 'http500');
    const again = await src(answer());
    expect(again[0]?.bytes).toEqual(first[0]?.bytes);
    expect(pcs.requests.length).toBe(before);
    // Once the cached collateral has expired, the service being down means no collateral: refuse.
    now = at.getTime() + 400 * 86_400_000;
    await expect(src(answer())).rejects.toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE' });
    pcs.fail('tcb', undefined);
  });

  it('reports each lookup (miss, hit, stale) and keeps fetched collateral in the store: a restarted gateway serves it while the service is down, until it expires', async () => {
    let now = at.getTime();
    const store = openSqliteStore({ dataDir: MEMORY });
    const config = { mode: 'pcs', pcs_url: pcs.baseUrl(CASE), pccs_url: null, kds_url: 'http://127.0.0.1:9', bundle_dir: null } as const;
    const seen: string[] = [];
    const first = createCollateralSource({ config, clock: () => now, persist: store, onCache: (r) => seen.push(r) });
    const fetched = await first(answer());
    await first(answer());
    expect(seen).toEqual(['miss', 'hit']);

    // "Restart": a new source (empty memory) over the same store, with the service down.
    pcs.fail('tcb', 'http500');
    try {
      const seen2: string[] = [];
      const second = createCollateralSource({ config, clock: () => now, persist: store, onCache: (r) => seen2.push(r) });
      const served = await second(answer());
      expect(served[0]?.bytes).toEqual(fetched[0]?.bytes);
      expect(seen2).toEqual(['miss', 'stale']);
      expect((await verifyEvidence({ tee: 'tdx', evidence: quote, collateral: served }, { at })).verdict).toBe('ok');
      // Without the store, the same restart has nothing to serve: refused.
      const bare = createCollateralSource({ config, clock: () => now });
      await expect(bare(answer())).rejects.toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE' });
      // Past the collateral's own nextUpdate the stored copy is never served (fail closed).
      now = at.getTime() + 400 * 86_400_000;
      const third = createCollateralSource({ config, clock: () => now, persist: store });
      await expect(third(answer())).rejects.toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE' });
      // A stored row that does not parse is as good as none.
      now = at.getTime();
      const junk = { getCollateral: () => Promise.resolve({ bytes: new TextEncoder().encode('{"not":"collateral"}'), expires_at: Number.MAX_SAFE_INTEGER }), putCollateral: () => Promise.resolve() };
      const fourth = createCollateralSource({ config, clock: () => now, persist: junk });
      await expect(fourth(answer())).rejects.toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE' });
    } finally {
      pcs.fail('tcb', undefined);
      await store.close();
    }
  });

  it('adds nothing for Nitro, nor for SEV-SNP evidence that carries its VCEK', async () => {
    const src = createCollateralSource({ config: { mode: 'offline', bundle_dir: tmp } });
    expect(await src(answer([], 'nitro'))).toEqual([]);
    expect(await src(answer([{ name: 'vcek.der', bytes: new Uint8Array(1) }], 'sev-snp'))).toEqual([]);
  });
});
