/**
 * The simulated Intel TEE against the real verifier: evidence from createSimulatedIntelAttester must
 * pass every step of attestation/intel when (and only when) the simulated root is named as a trust
 * anchor, and every refusal the verifier is meant to make on it carries its code.
 */
import { generateKeyPairSync } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { QuoteVerifier } from '@phala/dcap-qvl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../../../attestation/common/bytes.ts';
import type { TrustAnchor } from '../../../../attestation/common/x509.ts';
import { AttestationError } from '../../../../attestation/errors.ts';
import { toDcapCollateral } from '../../../../attestation/intel/bundle.ts';
import { parseQuote } from '../../../../attestation/intel/parse.ts';
import { verifyDcapQuote } from '../../../../attestation/intel/verify.ts';
import { verifyEvidence } from '../../../../attestation/registry.ts';
import { anchorFromPem } from '../../../../attestation/roots/index.ts';
import type { EvidenceResult } from '../../../../attestation/result.ts';
import { AttesterError, type Evidence } from '../../../../enclave/attesters/attester.ts';
import { createSimulatedIntelAttester, simulatedIntelRoot, type SimIntelOptions } from '../../../../enclave/sim/intel.ts';
import { issueCollateral } from '../../../../enclave/sim/intel-collateral.ts';
import { CPU_SVN, PCE_SVN, QE_AUTH_DATA, SGX_QE } from '../../../../enclave/sim/intel-platform.ts';
import { loadIntelPki, withPckCertificate } from '../../../../enclave/sim/intel-pki.ts';
import { encodeQuote } from '../../../../enclave/sim/intel-quote.ts';

const TEES = ['sgx', 'tdx'] as const;
type Tee = (typeof TEES)[number];

let parent: string;
let dataDir: string;
let anchor: TrustAnchor;

beforeAll(async () => {
  // The data directory lives inside a parent of its own, so "nothing written outside dataDir" can be checked.
  parent = await mkdtemp(join(tmpdir(), 'attestgate-sim-intel-'));
  dataDir = join(parent, 'data');
  await mkdir(dataDir);
  anchor = await anchorFromPem(await simulatedIntelRoot(dataDir), 'sim', false);
});

afterAll(async () => {
  await rm(parent, { recursive: true, force: true });
});

function request(fill = 0xa5): { reportData: Uint8Array; nonce: Uint8Array } {
  const reportData = Uint8Array.from({ length: 64 }, (_, i) => (i * 7 + fill) & 0xff);
  return { reportData, nonce: new Uint8Array(32).fill(1) };
}

async function attest(tee: Tee, opts: Partial<SimIntelOptions> = {}, fill?: number): Promise<{ ev: Evidence; reportData: Uint8Array }> {
  const { reportData, nonce } = request(fill);
  const ev = await createSimulatedIntelAttester(tee, { dataDir, ...opts }).attest({ reportData, nonce });
  return { ev, reportData };
}

function verify(ev: Evidence, extra: { trustAnchors?: readonly TrustAnchor[]; allowDebug?: boolean } = { trustAnchors: [anchor] }): Promise<EvidenceResult> {
  return verifyEvidence({ tee: ev.tee, evidence: ev.evidence, collateral: ev.collateral }, { at: new Date(), ...extra });
}

async function rejection(p: Promise<unknown>): Promise<AttestationError> {
  try {
    await p;
  } catch (e: unknown) {
    if (AttestationError.is(e)) return e;
    throw new Error(`not an AttestationError: ${String(e)}`);
  }
  throw new Error('did not reject');
}

function measurements(r: EvidenceResult): Record<string, unknown> {
  const c = r.claims;
  return r.tee === 'sgx' ? { mrenclave: c['mrenclave'], mrsigner: c['mrsigner'] } : { mrtd: c['mrtd'], rtmr0: c['rtmr0'], rtmr1: c['rtmr1'], rtmr2: c['rtmr2'], rtmr3: c['rtmr3'] };
}

describe.each(TEES)('simulated %s', (tee) => {
  it('verifies through verifyEvidence with the simulated root named, and says simulated', async () => {
    const { ev, reportData } = await attest(tee);
    expect(ev.tee).toBe(tee);
    expect(ev.simulated).toBe(true);
    expect(ev.collateral.map((c) => c.name)).toEqual(['collateral.json']);
    const steps: string[] = [];
    const r = await verifyEvidence({ tee, evidence: ev.evidence, collateral: ev.collateral }, { at: new Date(), trustAnchors: [anchor], onStep: (s) => steps.push(s) });
    expect(r.verdict).toBe('ok');
    expect(r.tee).toBe(tee);
    expect(r.simulated).toBe(true);
    expect(r.trust_anchor.pinned).toBe(false);
    expect(r.trust_anchor.sha256).toBe(anchor.sha256);
    expect(r.tcb_status).toBe('UpToDate');
    expect(r.advisory_ids).toEqual([]);
    expect(r.debug_allowed).toBe(false);
    expect(r.claims['report_data']).toBe(toHex(reportData));
    expect(r.claims['debug']).toBe(false);
    expect(r.claims['quote_version']).toBe(4);
    expect(r.claims['tee_type']).toBe(tee === 'sgx' ? 0 : 0x81);
    expect(r.claims['pck_ca']).toBe('Intel SGX PCK Processor CA (simulated)');
    if (tee === 'tdx') {
      // TEE_TCB_SVN[1] = 1 sends the verifier down the tdxModuleIdentities (TDX_01) path.
      expect(r.claims['tee_tcb_svn']).toBe('03010200000000000000000000000000');
      expect(r.claims['sept_ve_disable']).toBe(true);
    }
    expect(steps.length).toBeGreaterThanOrEqual(8);
  });

  it('issues collateral at now() - 5 min (clock skew) for 30 days, and the verdict expires with it', async () => {
    const now = new Date(Date.now() - 3_600_000);
    const { ev } = await attest(tee, { now: () => now });
    const bundle = toDcapCollateral(JSON.parse(new TextDecoder().decode(ev.collateral[0]?.bytes)));
    const issue = new Date(Math.floor((now.getTime() - 5 * 60_000) / 1000) * 1000);
    const next = new Date(issue.getTime() + 30 * 86_400_000);
    for (const doc of [bundle.tcb_info, bundle.qe_identity]) {
      const j = JSON.parse(doc) as { issueDate: string; nextUpdate: string };
      expect(Date.parse(j.issueDate)).toBe(issue.getTime());
      expect(Date.parse(j.nextUpdate)).toBe(next.getTime());
    }
    const r = await verify(ev);
    expect(r.expires_at).toBe(next.toISOString());
    const crls = r.collateral.filter((c) => c.kind === 'intel.root_ca_crl' || c.kind === 'intel.pck_crl');
    expect(crls.map((c) => [c.valid_from, c.valid_until])).toEqual([
      [issue.toISOString(), next.toISOString()],
      [issue.toISOString(), next.toISOString()],
    ]);
    // Before the issue time the collateral is not yet current; after nextUpdate it is stale.
    const early = await rejection(verifyDcapQuote(ev.evidence, bundle, { at: new Date(issue.getTime() - 1000), trustAnchors: [anchor] }));
    expect(early.code).toBe('ERR_COLLATERAL_STALE');
    const late = await rejection(verifyDcapQuote(ev.evidence, bundle, { at: new Date(next.getTime() + 1000), trustAnchors: [anchor] }));
    expect(late.code).toBe('ERR_COLLATERAL_STALE');
  });

  it('measurements are stable for one seed and data dir, and differ for another seed', async () => {
    const a = await verify((await attest(tee)).ev);
    const b = await verify((await attest(tee, {}, 0x11)).ev);
    const c = await verify((await attest(tee, { measurementSeed: 'another-enclave' })).ev);
    const d = await verify((await attest(tee, { measurementSeed: 'attestgate-enclave' })).ev);
    expect(measurements(a)).toEqual(measurements(b));
    expect(measurements(a)).toEqual(measurements(d));
    for (const [k, v] of Object.entries(measurements(c))) expect(v, k).not.toBe(measurements(a)[k]);
    for (const v of Object.values(measurements(a))) expect(v).toMatch(tee === 'sgx' ? /^[0-9a-f]{64}$/ : /^[0-9a-f]{96}$/);
  });

  it('is refused under the pinned Intel root (no trust anchors named): ERR_CHAIN_UNTRUSTED', async () => {
    const { ev } = await attest(tee);
    const e = await rejection(verify(ev, {}));
    expect(e.code).toBe('ERR_CHAIN_UNTRUSTED');
    expect(e.reason).toBe('untrusted_root');
  });

  it('debug: true is refused with ERR_DEBUG_REFUSED unless allowDebug', async () => {
    const { ev } = await attest(tee, { debug: true });
    const e = await rejection(verify(ev));
    expect(e.code).toBe('ERR_DEBUG_REFUSED');
    expect(e.family).toBe('policy');
    const r = await verify(ev, { trustAnchors: [anchor], allowDebug: true });
    expect(r.debug_allowed).toBe(true);
    expect(r.claims['debug']).toBe(true);
    expect(r.tcb_status).toBe('UpToDate');
  });

  it('a flipped byte in the quote body breaks the quote signature: ERR_SIGNATURE_INVALID', async () => {
    const { ev } = await attest(tee);
    const q = parseQuote(ev.evidence);
    // A measurement register (MRENCLAVE at body offset 64, MRTD at 136) and the last REPORTDATA byte.
    for (const offset of [48 + (tee === 'sgx' ? 64 : 136), q.signedRegion.length - 1]) {
      const bad = ev.evidence.slice();
      bad[offset] = (bad[offset] ?? 0) ^ 0x01;
      const e = await rejection(verify({ ...ev, evidence: bad }));
      expect(e.code, `offset ${offset}`).toBe('ERR_SIGNATURE_INVALID');
      expect(e.reason).toBe('quote_signature');
    }
  });

  it('rejects bad requests with ERR_ATTESTER_INPUT', async () => {
    const attester = createSimulatedIntelAttester(tee, { dataDir });
    expect(attester.kind).toBe(`sim-${tee}`);
    expect(attester.tee).toBe(tee);
    const cases = [
      { reportData: new Uint8Array(63), nonce: new Uint8Array(32) },
      { reportData: new Uint8Array(65), nonce: new Uint8Array(32) },
      { reportData: new Uint8Array(64), nonce: new Uint8Array(31) },
    ];
    for (const req of cases) {
      const e: unknown = await attester.attest(req).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(AttesterError);
      expect((e as AttesterError).code).toBe('ERR_ATTESTER_INPUT');
    }
  });
});

describe('simulated Intel PKI', () => {
  it('is persisted: the same root for every attester on the data dir, read back from disk by a fresh process', async () => {
    const root = await simulatedIntelRoot(dataDir);
    expect(await simulatedIntelRoot(dataDir)).toBe(root);
    expect(await readFile(join(dataDir, 'sim-pki', 'intel', 'root.pem'), 'utf8')).toBe(root);
    expect(anchor.simulated).toBe(true);
    expect(anchor.certificate.subject.text).toContain('attestgate simulated TEE');

    // A copy of the directory is a path this process has never loaded, so the store reads the files
    // back as a second process would; its evidence must chain to the root created here.
    const copy = join(parent, 'copy');
    await cp(dataDir, copy, { recursive: true });
    expect(await simulatedIntelRoot(copy)).toBe(root);
    const ev = await createSimulatedIntelAttester('sgx', { dataDir: copy }).attest(request());
    expect((await verify(ev)).simulated).toBe(true);
    await rm(copy, { recursive: true, force: true });
  });

  it('writes private keys 0600, and nothing outside the data dir', async () => {
    await attest('sgx');
    await attest('tdx');
    expect(await readdir(parent)).toEqual(['data']);
    const files = (await readdir(dataDir, { recursive: true })).map((f) => relative(dataDir, join(dataDir, f)));
    expect(files.sort()).toEqual(
      ['sim-pki', 'sim-pki/intel', ...['pck-ca.key.pem', 'pck-ca.pem', 'root.key.pem', 'root.pem', 'tcb-signing.key.pem', 'tcb-signing.pem'].map((f) => `sim-pki/intel/${f}`)].sort(),
    );
    for (const f of files.filter((n) => n.endsWith('.key.pem'))) {
      expect((await stat(join(dataDir, f))).mode & 0o777, f).toBe(0o600);
    }
    for (const f of files.filter((n) => n.endsWith('.pem') && !n.endsWith('.key.pem'))) {
      expect(await readFile(join(dataDir, f), 'utf8'), f).not.toContain('PRIVATE KEY');
    }
  });

  it.each([
    // The PCK CA's key in the root's place: a valid PEM key, but not the root certificate's.
    { name: 'a key that is not its certificate\'s', file: 'root.key.pem', from: 'pck-ca.key.pem', want: 'root.key.pem does not belong to root.pem' },
    { name: 'a certificate that does not parse', file: 'tcb-signing.pem', text: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', want: 'cannot read tcb-signing.pem' },
  ])('a damaged PKI ($name) is refused with ERR_ATTESTER_UNAVAILABLE naming the directory', async ({ file, from, text, want }) => {
    const broken = await mkdtemp(join(parent, 'broken-'));
    await cp(dataDir, broken, { recursive: true });
    const dir = join(broken, 'sim-pki', 'intel');
    if (from !== undefined) await cp(join(dir, from), join(dir, file));
    if (text !== undefined) await writeFile(join(dir, file), text);
    const attester = createSimulatedIntelAttester('tdx', { dataDir: broken });
    for (let i = 0; i < 2; i++) {
      // Twice: a failed start is not remembered, the next call tries again (and fails again here).
      const e: unknown = await attester.attest(request()).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(AttesterError);
      expect((e as AttesterError).code).toBe('ERR_ATTESTER_UNAVAILABLE');
      expect(String((e as Error).cause)).toContain(dir);
      expect(String((e as Error).cause)).toContain(want);
    }
    await rm(broken, { recursive: true, force: true });
  });

  it('a clock that returns an invalid date fails the request with ERR_ATTESTER_FAILED', async () => {
    const attester = createSimulatedIntelAttester('sgx', { dataDir, now: () => new Date(Number.NaN) });
    const e: unknown = await attester.attest(request()).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(AttesterError);
    expect((e as AttesterError).code).toBe('ERR_ATTESTER_FAILED');
  });
});

describe('an independent verifier (@phala/dcap-qvl) agrees', () => {
  const peer = (): QuoteVerifier => QuoteVerifier.newWithRootCa(Buffer.from(anchor.certificate.der));
  type PeerCollateral = Parameters<QuoteVerifier['verify']>[1];
  const bundleOf = (ev: Evidence): PeerCollateral => JSON.parse(new TextDecoder().decode(ev.collateral[0]?.bytes)) as PeerCollateral;

  it('TDX quote v4 and its collateral: UpToDate; DEBUG refused', async () => {
    const { ev } = await attest('tdx');
    expect(peer().verify(ev.evidence, bundleOf(ev), Math.floor(Date.now() / 1000)).status).toBe('UpToDate');
    const dbg = (await attest('tdx', { debug: true })).ev;
    expect(() => peer().verify(dbg.evidence, bundleOf(dbg), Math.floor(Date.now() / 1000))).toThrow(/debug/i);
  });

  // dcap-qvl takes SGX quotes only in version 3 (what Intel's SGX QE3 emits), so the encoder's v3
  // layout is checked here against both verifiers; the attester itself emits v4.
  it('SGX quote v3 from the same encoder, platform and collateral: UpToDate in both', async () => {
    const keys = await withPckCertificate(await loadIntelPki(dataDir));
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const { reportData } = request();
    const quote = encodeQuote({
      version: 3,
      body: {
        kind: 'sgx',
        report: { cpuSvn: CPU_SVN, miscSelect: new Uint8Array(4), attributes: Uint8Array.of(5, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0), mrEnclave: new Uint8Array(32).fill(1), mrSigner: new Uint8Array(32).fill(2), isvProdId: 1, isvSvn: 1, reportData },
      },
      qe: SGX_QE,
      cpuSvn: CPU_SVN,
      pceSvn: PCE_SVN,
      qeAuthData: QE_AUTH_DATA,
      qeId: new Uint8Array(16),
      attestationKey: privateKey,
      pckKey: keys.pck.key,
      pckChainPem: keys.pckChainPem,
    });
    const collateral = await issueCollateral(keys, 'sgx', new Date());
    const ours = await verifyDcapQuote(quote, collateral, { at: new Date(), tee: 'sgx', trustAnchors: [anchor] });
    expect([ours.claims['quote_version'], ours.tcb_status, ours.simulated, ours.claims['report_data']]).toEqual([3, 'UpToDate', true, toHex(reportData)]);
    const theirs = peer().verify(quote, collateral, Math.floor(Date.now() / 1000));
    expect(theirs.status).toBe('UpToDate');
    expect(() => encodeQuote({ version: 3, body: { kind: 'tdx', report: {} as never }, qe: SGX_QE, cpuSvn: CPU_SVN, pceSvn: PCE_SVN, qeAuthData: QE_AUTH_DATA, qeId: new Uint8Array(16), attestationKey: privateKey, pckKey: keys.pck.key, pckChainPem: '' })).toThrow(/version 3/);
  });
});
