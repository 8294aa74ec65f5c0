/**
 * The simulated SEV-SNP TEE end to end: its reports and collateral go through the same registry
 * entry point as real evidence, chain to the simulated ARK only when it is named as a trust
 * anchor, and say `simulated` everywhere. One data directory (one PKI, ~0.8 s to make) serves the
 * whole file; a copy of it stands in for a second process reading the stored PKI.
 */
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIELDS, POLICY_BIT, parseReport, policyBit } from '../../../../attestation/amd/parse.ts';
import { toHex } from '../../../../attestation/common/bytes.ts';
import type { TrustAnchor } from '../../../../attestation/common/x509.ts';
import { AttestationError } from '../../../../attestation/errors.ts';
import { verifyEvidence, type RegistryOptions } from '../../../../attestation/registry.ts';
import type { EvidenceResult } from '../../../../attestation/result.ts';
import { anchorFromPem } from '../../../../attestation/roots/index.ts';
import { AttesterError, type AttestRequest, type Evidence } from '../../../../enclave/attesters/attester.ts';
import { createSimulatedSnpAttester, simulatedAmdRoot, type SimSnpOptions } from '../../../../enclave/sim/amd.ts';

let dataDir: string;
let genoa: TrustAnchor;
let milan: TrustAnchor;

const req = (fill = 0x5a): AttestRequest => ({
  reportData: Uint8Array.from({ length: 64 }, (_, i) => (fill + i) & 0xff),
  nonce: new Uint8Array(32).fill(0x11),
});

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'attestgate-sim-amd-'));
  genoa = await anchorFromPem(await simulatedAmdRoot(dataDir), 'sim ARK-Genoa', false);
  milan = await anchorFromPem(await simulatedAmdRoot(dataDir, 'milan'), 'sim ARK-Milan', false);
});

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

function verify(ev: Evidence, opts: Partial<RegistryOptions> = {}): Promise<EvidenceResult> {
  return verifyEvidence({ tee: ev.tee, evidence: ev.evidence, collateral: ev.collateral }, { at: new Date(), trustAnchors: [genoa], ...opts });
}

async function attest(opts: Partial<SimSnpOptions> = {}, r: AttestRequest = req()): Promise<Evidence> {
  return createSimulatedSnpAttester({ dataDir, ...opts }).attest(r);
}

async function errorOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e: unknown) {
    if (AttestationError.is(e) || e instanceof AttesterError) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected a rejection');
}

const sha384Hex = (s: string): string => createHash('sha384').update(s, 'utf8').digest('hex');

describe('simulated SEV-SNP evidence', () => {
  it('is a version 3 ATTESTATION_REPORT with the VCEK and KDS cert_chain as collateral', async () => {
    const r = req();
    const ev = await attest({}, r);
    expect(ev).toMatchObject({ tee: 'sev-snp', simulated: true });
    expect(ev.evidence.length).toBe(0x4a0);
    const report = parseReport(ev.evidence);
    expect(report.version).toBe(3);
    expect(report.signatureAlgo).toBe(1);
    expect(report.signingKey).toBe('VCEK');
    expect(policyBit(report.policy, POLICY_BIT.RESERVED_MUST_BE_ONE)).toBe(true);
    expect(policyBit(report.policy, POLICY_BIT.DEBUG)).toBe(false);
    expect(report.cpuid).toEqual({ family: 0x19, model: 0x11, stepping: 0x01 });
    expect(report.reportData).toEqual(r.reportData);
    // r and s: 48-byte little-endian scalars in 72-byte fields.
    expect(report.signatureR.subarray(48).every((b) => b === 0)).toBe(true);
    expect(report.signatureS.subarray(48).every((b) => b === 0)).toBe(true);
    expect(ev.collateral.map((c) => c.name)).toEqual(['vcek.der', 'cert_chain.pem']);
    const chain = new TextDecoder().decode(ev.collateral[1]!.bytes);
    expect(chain.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(2);
    expect(chain.endsWith(await simulatedAmdRoot(dataDir))).toBe(true); // ASK first, then the ARK
  });

  it('verifies through verifyEvidence with the simulated ARK as the trust anchor, and says simulated', async () => {
    const r = req(0x80);
    const res = await verify(await attest({}, r));
    expect(res.simulated).toBe(true);
    expect(res.trust_anchor).toEqual({ name: 'sim ARK-Genoa', sha256: genoa.sha256, pinned: false });
    expect(res.debug_allowed).toBe(false);
    expect(res.claims).toMatchObject({
      report_version: 3,
      product: 'genoa',
      signing_key: 'VCEK',
      report_data: toHex(r.reportData),
      measurement: sha384Hex('attestgate-enclave'),
      host_data: '00'.repeat(32),
      vmpl: 0,
      debug: false,
      chip_id_check: 'checked',
      reported_tcb: { bl: 10, tee: 0, snp: 25, ucode: 84 },
      vek_extensions: { productName: 'Genoa', blSPL: 10, teeSPL: 0, snpSPL: 25, ucodeSPL: 84 },
      ark_sha256: genoa.sha256,
    });
    expect((res.claims['vek_extensions'] as Record<string, unknown>)['hwID']).toBe(res.claims['chip_id']);
    expect(res.collateral.map((c) => c.kind)).toEqual(['vcek', 'ask', 'ark']);
  });

  it('MEASUREMENT is SHA-384 of the seed: stable across attesters, different for another seed', async () => {
    const a = await verify(await attest({ measurementSeed: 'model-a' }));
    const b = await verify(await attest({ measurementSeed: 'model-a' }));
    const c = await verify(await attest({ measurementSeed: 'model-b' }));
    expect(a.claims['measurement']).toBe(sha384Hex('model-a'));
    expect(b.claims['measurement']).toBe(a.claims['measurement']);
    expect(c.claims['measurement']).not.toBe(a.claims['measurement']);
  });

  it('HOST_DATA and VMPL are reported as given', async () => {
    const hostData = new Uint8Array(32).fill(0xc3);
    const res = await verify(await attest({ hostData, vmpl: 2 }));
    expect(res.claims).toMatchObject({ host_data: 'c3'.repeat(32), vmpl: 2 });
  });

  it('milan: its own ARK-Milan chain, CPUID of Milan; the Genoa ARK does not vouch for it', async () => {
    const ev = await attest({ product: 'milan' });
    expect(parseReport(ev.evidence).cpuid).toMatchObject({ family: 0x19, model: 0x01 });
    const res = await verify(ev, { trustAnchors: [milan] });
    expect(res.claims).toMatchObject({ product: 'milan', vek_extensions: { productName: 'Milan-B0' } });
    expect(res.simulated).toBe(true);
    expect(await errorOf(verify(ev, { trustAnchors: [genoa] }))).toMatchObject({ code: 'ERR_CHAIN_UNTRUSTED' });
  });

  it('without trust anchors (the pinned AMD ARK) it is refused', async () => {
    const ev = await attest();
    const e = await errorOf(verifyEvidence({ tee: 'sev-snp', evidence: ev.evidence, collateral: ev.collateral }, { at: new Date() }));
    expect(e.code).toBe('ERR_CHAIN_UNTRUSTED');
    expect(e.message).toContain('pinned ARK-Genoa');
  });

  it('debug: policy bit 19 set; refused with ERR_DEBUG_REFUSED unless allowDebug', async () => {
    const ev = await attest({ debug: true });
    expect(policyBit(parseReport(ev.evidence).policy, POLICY_BIT.DEBUG)).toBe(true);
    expect(await errorOf(verify(ev))).toMatchObject({ code: 'ERR_DEBUG_REFUSED' });
    const res = await verify(ev, { allowDebug: true });
    expect(res.debug_allowed).toBe(true);
    expect(res.claims['debug']).toBe(true);
  });
});

describe('the simulated AMD PKI', () => {
  it('is stored once and reused: same ARK and VCEK for every attester, from memory and from disk', async () => {
    const a = await attest();
    const b = await attest({ measurementSeed: 'other' });
    expect(b.collateral).toEqual(a.collateral);
    // A second process reads the stored files: a copy of the directory gives the same PKI.
    const copy = await mkdtemp(join(tmpdir(), 'attestgate-sim-amd-copy-'));
    try {
      await cp(join(dataDir, 'sim-pki'), join(copy, 'sim-pki'), { recursive: true });
      expect(await simulatedAmdRoot(copy)).toBe(await simulatedAmdRoot(dataDir));
      const c = await createSimulatedSnpAttester({ dataDir: copy }).attest(req());
      expect(c.collateral).toEqual(a.collateral);
      await verify(c);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  it('keeps private keys 0600 and certificates under sim-pki/amd', async () => {
    const dir = join(dataDir, 'sim-pki', 'amd');
    for (const p of ['genoa', 'milan']) {
      for (const role of ['ark', 'ask', 'vcek']) {
        expect((await stat(join(dir, `${p}-${role}.key.pem`))).mode & 0o777).toBe(0o600);
        expect(await readFile(join(dir, `${p}-${role}.pem`), 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
      }
    }
    expect(await readFile(join(dir, 'genoa-ark.pem'), 'utf8')).toBe(await simulatedAmdRoot(dataDir));
  });
});

describe('refusals', () => {
  const a = (): ReturnType<typeof createSimulatedSnpAttester> => createSimulatedSnpAttester({ dataDir });
  const bad: { name: string; r: AttestRequest }[] = [
    { name: '63-byte report data', r: { reportData: new Uint8Array(63), nonce: new Uint8Array(32) } },
    { name: '65-byte report data', r: { reportData: new Uint8Array(65), nonce: new Uint8Array(32) } },
    { name: '31-byte nonce', r: { reportData: new Uint8Array(64), nonce: new Uint8Array(31) } },
    { name: 'report data not a Uint8Array', r: { reportData: Array(64).fill(0) as unknown as Uint8Array, nonce: new Uint8Array(32) } },
  ];
  it.each(bad)('bad request: $name -> ERR_ATTESTER_INPUT', async ({ r }) => {
    expect(await errorOf(a().attest(r))).toMatchObject({ code: 'ERR_ATTESTER_INPUT' });
  });

  const badOptions: { name: string; o: Partial<SimSnpOptions> }[] = [
    { name: '31-byte hostData', o: { hostData: new Uint8Array(31) } },
    { name: 'vmpl 4', o: { vmpl: 4 } },
    { name: 'vmpl 1.5', o: { vmpl: 1.5 } },
    { name: 'product turin', o: { product: 'turin' as 'genoa' } },
    { name: 'empty dataDir', o: { dataDir: '' } },
  ];
  it.each(badOptions)('bad option: $name -> ERR_ATTESTER_INPUT', ({ o }) => {
    let code: string | undefined;
    try {
      createSimulatedSnpAttester({ dataDir, ...o });
    } catch (e: unknown) {
      if (e instanceof AttesterError) code = e.code;
    }
    expect(code).toBe('ERR_ATTESTER_INPUT');
  });

  // One flipped byte in each signed field the verifier reads before the signature check passes
  // it by (reserved ranges, VERSION and SIGNATURE_ALGO fail earlier, with their own codes).
  const signedFields = ['GUEST_SVN', 'POLICY', 'FAMILY_ID', 'IMAGE_ID', 'REPORT_DATA', 'MEASUREMENT', 'HOST_DATA', 'ID_KEY_DIGEST', 'REPORT_ID', 'REPORTED_TCB', 'CHIP_ID', 'LAUNCH_TCB'] as const;
  it.each(signedFields)('a flipped byte in %s -> ERR_SIGNATURE_INVALID', async (field) => {
    const ev = await attest();
    const bytes = ev.evidence.slice();
    const at = FIELDS[field].offset;
    bytes[at] = (bytes[at] ?? 0) ^ 0x01;
    expect(await errorOf(verify({ ...ev, evidence: bytes }))).toMatchObject({ code: 'ERR_SIGNATURE_INVALID' });
  });

  it('a flipped byte in SIGNATURE.R -> ERR_SIGNATURE_INVALID', async () => {
    const ev = await attest();
    const bytes = ev.evidence.slice();
    bytes[FIELDS.SIGNATURE_R.offset + 5] = (bytes[FIELDS.SIGNATURE_R.offset + 5] ?? 0) ^ 0x80;
    expect(await errorOf(verify({ ...ev, evidence: bytes }))).toMatchObject({ code: 'ERR_SIGNATURE_INVALID' });
  });

  it('the request is snapshotted: changing its buffers after attest() does not change the report', async () => {
    const r = req(0x20);
    const p = a().attest(r);
    const want = toHex(r.reportData);
    r.reportData.fill(0);
    const res = await verify(await p);
    expect(res.claims['report_data']).toBe(want);
  });
});

describe('an ASK re-issued under another product\'s ARK', () => {
  // Regression: with explicit trust anchors the ARK was matched by DER among all anchors, and its
  // product was never compared with the VEK's. A Genoa ASK re-signed by the Milan ARK, with both
  // ARKs trusted, must not make a Genoa report verify.
  it('is refused (ark_not_pinned) even when both ARKs are trusted', async () => {
    const { mintCertificate, privateKeyFromPem, derOfPem, toPem } = await import('../../../../enclave/sim/x509-amd-nitro.ts');
    const { parseCertificate } = await import('../../../../attestation/common/x509.ts');
    const { createPublicKey } = await import('node:crypto');
    const pki = join(dataDir, 'sim-pki', 'amd');
    const askDer = derOfPem(await readFile(join(pki, 'genoa-ask.pem'), 'utf8'), 'ask');
    const arkMilanDer = derOfPem(await readFile(join(pki, 'milan-ark.pem'), 'utf8'), 'ark');
    const ask = parseCertificate(askDer, 'ask');
    const arkMilan = parseCertificate(arkMilanDer, 'ark');
    const reissued = mintCertificate({
      issuer: arkMilan.subject.der,
      subject: ask.subject.der,
      notBefore: new Date(ask.notBefore),
      notAfter: new Date(ask.notAfter),
      publicKey: createPublicKey(privateKeyFromPem(await readFile(join(pki, 'genoa-ask.key.pem'), 'utf8'))),
      extensions: [
        { oid: '2.5.29.19', critical: true, value: Uint8Array.from([0x30, 0x03, 0x01, 0x01, 0xff]) },
      ],
      signer: { key: privateKeyFromPem(await readFile(join(pki, 'milan-ark.key.pem'), 'utf8')), algorithm: 'rsa-pss-sha384-trailer' },
    });
    const ev = await attest();
    const forged = [
      ...ev.collateral.filter((c) => c.name !== 'cert_chain.pem'),
      { name: 'cert_chain.pem', bytes: new TextEncoder().encode(toPem(reissued) + toPem(arkMilanDer)) },
    ];
    const e = await errorOf(verifyEvidence({ tee: 'sev-snp', evidence: ev.evidence, collateral: forged }, { at: new Date(), trustAnchors: [genoa, milan] }));
    expect(e.code).toBe('ERR_CHAIN_UNTRUSTED');
    expect(e.message).toMatch(/Milan ARK, want the Genoa ARK/);
  });
});
