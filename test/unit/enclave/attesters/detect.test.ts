/**
 * detectAttester and createAttester: detection by presence in the documented order, no probe
 * directory left behind, never a simulated attester, undefined when nothing is there.
 */
import { describe, expect, it } from 'vitest';
import { ATTESTER_KINDS, AttesterError, type AttesterKind } from '../../../../enclave/attesters/attester.ts';
import { ConfigfsTsmAttester, probeConfigfsTsm } from '../../../../enclave/attesters/configfs-tsm.ts';
import { createAttester, detectAttester, type DetectOptions } from '../../../../enclave/attesters/detect.ts';
import { GramineAttester, probeGramine } from '../../../../enclave/attesters/gramine.ts';
import { NsmAttester } from '../../../../enclave/attesters/nsm.ts';
import { FakeGramine, FakeTsm } from './fakes.ts';

const NO_TSM = new FakeTsm({ absent: true });
const NO_GRAMINE = new FakeGramine({ absent: true });

interface EnvOptions {
  readonly tsm?: FakeTsm;
  readonly gramine?: FakeGramine;
  readonly nsm?: boolean;
  readonly nsmHelper?: string;
  readonly privlevel?: number;
}

function env(over: EnvOptions = {}): { opts: DetectOptions; probes: string[] } {
  const probes: string[] = [];
  const tsm = over.tsm ?? NO_TSM;
  const gramine = over.gramine ?? NO_GRAMINE;
  const opts: DetectOptions = {
    configfsRoot: tsm.root,
    configfsFs: tsm,
    gramineRoot: gramine.root,
    gramineFs: gramine,
    nsmDevice: '/fake/dev/nsm',
    exists: (p) => Promise.resolve(over.nsm === true && p === '/fake/dev/nsm'),
    onProbe: (kind, outcome) => probes.push(`${kind}: ${outcome}`),
    ...(over.nsmHelper === undefined ? {} : { nsmHelper: over.nsmHelper }),
    ...(over.privlevel === undefined ? {} : { privlevel: over.privlevel }),
  };
  return { opts, probes };
}

/** The value as an instance of `cls`, failing the test otherwise. */
function as<T>(cls: abstract new (...args: never[]) => T, v: unknown): T {
  if (!(v instanceof cls)) throw new Error(`not a ${cls.name}`);
  return v;
}

describe('detectAttester', () => {
  it.each([
    ['tdx_guest', 'tdx'],
    ['sev_guest', 'sev-snp'],
  ] as const)('picks configfs-tsm with provider %s as %s, removing its probe directory', async (provider, kind) => {
    const tsm = new FakeTsm({ provider });
    const { opts, probes } = env({ tsm, gramine: new FakeGramine(), nsm: true });
    const a = await detectAttester(opts);
    expect(a).toBeInstanceOf(ConfigfsTsmAttester);
    expect(a?.kind).toBe(kind);
    expect(tsm.created).toHaveLength(1);
    expect(tsm.created[0]).toMatch(/^attestgate-probe-/);
    expect(tsm.dirs.size).toBe(0);
    expect(probes).toEqual([`configfs-tsm: found provider for ${kind}`]);
    // The attester it built talks to the same interface.
    await expect(a!.attest({ reportData: new Uint8Array(64), nonce: new Uint8Array(32) })).resolves.toMatchObject({ tee: kind });
  });

  it('skips configfs-tsm with an unknown provider and picks Gramine', async () => {
    const { opts, probes } = env({ tsm: new FakeTsm({ provider: 'arm_cca_guest' }), gramine: new FakeGramine() });
    const a = await detectAttester(opts);
    expect(a).toBeInstanceOf(GramineAttester);
    expect(a?.kind).toBe('sgx');
    expect(probes[0]).toContain('"arm_cca_guest"');
    expect(probes[1]).toBe('gramine: found attestation_type dcap');
  });

  it('skips configfs-tsm whose provider cannot be read', async () => {
    const { opts } = env({ tsm: new FakeTsm({ fail: { op: 'read', name: 'provider', code: 'ENXIO' } }), gramine: new FakeGramine() });
    expect(await detectAttester(opts)).toBeInstanceOf(GramineAttester);
  });

  it('skips Gramine with attestation off and picks the NSM', async () => {
    const { opts, probes } = env({ gramine: new FakeGramine({ type: 'none' }), nsm: true, nsmHelper: '/opt/helper' });
    const a = await detectAttester(opts);
    expect(a).toBeInstanceOf(NsmAttester);
    expect(as(NsmAttester, a).helper).toBe('/opt/helper');
    expect(probes).toHaveLength(3);
    expect(probes[1]).toContain('"none"');
    expect(probes[2]).toBe('nsm: found /fake/dev/nsm');
  });

  it('returns undefined when nothing is there, and never a simulated attester', async () => {
    const { opts, probes } = env();
    expect(await detectAttester(opts)).toBeUndefined();
    expect(probes.map((p) => p.split(':')[0])).toEqual(['configfs-tsm', 'gramine', 'nsm']);
    expect(probes.every((p) => p.includes('not found'))).toBe(true);
  });

  it('returns undefined on this machine with the real paths pointed elsewhere', async () => {
    expect(await detectAttester({ configfsRoot: '/nonexistent/tsm', gramineRoot: '/nonexistent/attestation', nsmDevice: '/nonexistent/nsm' })).toBeUndefined();
  });

  it('passes a misconfiguration through instead of ignoring it', async () => {
    const { opts } = env({ tsm: new FakeTsm({ provider: 'tdx_guest' }), privlevel: 1 });
    await expect(detectAttester(opts)).rejects.toMatchObject({ code: 'ERR_ATTESTER_INPUT' });
  });
});

describe('probes', () => {
  it('probeConfigfsTsm reports why it found nothing', async () => {
    expect(await probeConfigfsTsm({ root: NO_TSM.root, fs: NO_TSM })).toMatchObject({ kind: undefined, reason: expect.stringContaining('ENOENT') as string });
    const noMkdir = new FakeTsm({ fail: { op: 'mkdir', code: 'EPERM' } });
    expect(await probeConfigfsTsm({ root: noMkdir.root, fs: noMkdir })).toMatchObject({ kind: undefined, reason: expect.stringContaining('EPERM') as string });
  });

  it('probeGramine never throws', async () => {
    expect(await probeGramine({ root: '/fake/dev/attestation', fs: new FakeGramine({ type: 'epid' }) })).toMatchObject({ ok: false });
    expect(await probeGramine({ root: '/fake/dev/attestation', fs: new FakeGramine() })).toEqual({ ok: true });
  });
});

describe('createAttester', () => {
  it('builds each hardware kind', () => {
    expect(createAttester('tdx')).toBeInstanceOf(ConfigfsTsmAttester);
    expect(createAttester('sev-snp', { privlevel: 0, serviceProvider: 'svsm' }).kind).toBe('sev-snp');
    expect(createAttester('sgx')).toBeInstanceOf(GramineAttester);
    expect(as(NsmAttester, createAttester('nitro', { nsmHelper: '/x/helper', nsmTimeoutMs: 100 })).helper).toBe('/x/helper');
    expect(as(ConfigfsTsmAttester, createAttester('tdx', { configfsRoot: '/r' })).root).toBe('/r');
    expect(as(GramineAttester, createAttester('sgx', { gramineRoot: '/g' })).root).toBe('/g');
  });

  it('builds no simulated kind', () => {
    const sims = ATTESTER_KINDS.filter((k): k is AttesterKind => k.startsWith('sim-'));
    expect(sims.length).toBeGreaterThan(0);
    for (const k of sims) {
      let err: unknown;
      try {
        createAttester(k);
      } catch (e: unknown) {
        err = e;
      }
      expect(err).toBeInstanceOf(AttesterError);
      expect(err).toMatchObject({ code: 'ERR_ATTESTER_UNAVAILABLE' });
    }
  });

  it('refuses an SNP option for TDX', () => {
    expect(() => createAttester('tdx', { privlevel: 0 })).toThrow(expect.objectContaining({ code: 'ERR_ATTESTER_INPUT' }) as Error);
  });
});
