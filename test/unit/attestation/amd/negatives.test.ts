/**
 * Generated negatives from the report's field table (parse.ts FIELDS): every truncated prefix,
 * a flipped byte in every signed field, every must-be-zero range, time edges, CRLs minted with the
 * synthetic cases' fake ARK key, reports re-signed with their fake VEK key, and a property test
 * that arbitrary input raises only AttestationError.
 */
import { createPrivateKey, sign as nodeSign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { amdAnchorFromPem, parseAmdCertificate, parseAmdPemCertificates, toPem } from '../../../../attestation/amd/cert.ts';
import { roleOf } from '../../../../attestation/amd/kds.ts';
import { FIELDS, REPORT_SIZE, SIGNED_END, parseReport, reservedRanges, type FieldName } from '../../../../attestation/amd/parse.ts';
import { sevSnpInputFromFiles, verifySevSnp, type SevSnpInput } from '../../../../attestation/amd/verify.ts';
import { concatBytes, fromHex } from '../../../../attestation/common/bytes.ts';
import type { TrustAnchor } from '../../../../attestation/common/x509.ts';
import { AttestationError } from '../../../../attestation/errors.ts';
import type { VerifyOptions } from '../../../../attestation/result.ts';

const FIX = join(import.meta.dirname, '../../../fixtures/amd');

interface Real {
  name: string;
  input: SevSnpInput;
  at: Date;
}

function real(name: string, vekFile = 'vcek.der'): Real {
  const dir = join(FIX, name);
  const c = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { verify_at: string };
  return {
    name,
    at: new Date(c.verify_at),
    input: {
      report: new Uint8Array(readFileSync(join(dir, 'report.bin'))),
      vek: new Uint8Array(readFileSync(join(dir, vekFile))),
      certChain: readFileSync(join(dir, 'cert_chain.pem'), 'utf8'),
    },
  };
}

const REALS: Real[] = [real('genoa-v2-oak'), real('milan-v3-oak-rk'), real('turin-v5-oak'), real('milan-v3-vlek-aws-trustee', 'vlek.der'), real('genoa-v5-oak')];

async function rejects(p: Promise<unknown>): Promise<AttestationError> {
  try {
    await p;
  } catch (e: unknown) {
    if (AttestationError.is(e)) return e;
    throw new Error(`not an AttestationError: ${String(e)}`, { cause: e });
  }
  throw new Error('verification unexpectedly succeeded');
}

const withReport = (r: Real, report: Uint8Array): SevSnpInput => ({ ...r.input, report });

describe('truncated and extended reports', () => {
  it('every prefix of a real report is ERR_EVIDENCE_MALFORMED (length)', async () => {
    const r = REALS[1]!;
    for (let n = 0; n < REPORT_SIZE; n++) {
      const e = await rejects(verifySevSnp(withReport(r, r.input.report.slice(0, n)), { at: r.at }));
      expect({ n, code: e.code, reason: e.reason }).toEqual({ n, code: 'ERR_EVIDENCE_MALFORMED', reason: 'length' });
    }
  });

  it('trailing bytes are ERR_EVIDENCE_MALFORMED (length)', async () => {
    const r = REALS[0]!;
    for (const extra of [1, 16, 4096]) {
      const e = await rejects(verifySevSnp(withReport(r, concatBytes(r.input.report, new Uint8Array(extra))), { at: r.at }));
      expect([e.code, e.reason]).toEqual(['ERR_EVIDENCE_MALFORMED', 'length']);
    }
  });
});

/** Fields whose values are gates before the signature (they get their own tests). */
const GATES = new Set<FieldName>(['VERSION', 'SIGNATURE_ALGO']);
function fieldsOf(version: number): FieldName[] {
  return (Object.keys(FIELDS) as FieldName[]).filter((f) => {
    if (GATES.has(f)) return false;
    if (f.startsWith('CPUID_') && version < 3) return false; // reserved in v2
    if (f.endsWith('_MIT_VECTOR') && version < 5) return false; // reserved before v5
    return true;
  });
}

describe('a flipped byte in each signed field', () => {
  for (const r of REALS) {
    const version = parseReport(r.input.report).version;
    for (const f of fieldsOf(version)) {
      it(`${r.name}: ${f} (first and last byte) -> ERR_SIGNATURE_INVALID`, async () => {
        const { offset, size } = FIELDS[f];
        for (const at of [offset, offset + size - 1]) {
          const b = r.input.report.slice();
          // Low bit of the first byte, high bit of the last: never a reserved bit of SIGNER_INFO,
          // and for r/s the last byte is padding, which must be refused just the same.
          b[at] = (b[at] as number) ^ (at === offset ? 0x01 : 0x80);
          if (f === 'SIGNER_INFO' && at !== offset) continue; // bit 31 is reserved (see below)
          const e = await rejects(verifySevSnp(withReport(r, b), { at: r.at, allowDebug: true }));
          expect({ f, at, code: e.code, reason: e.reason }).toEqual({ f, at, code: 'ERR_SIGNATURE_INVALID', reason: 'signature' });
        }
      });
    }
  }
});

describe('reserved ranges and gates', () => {
  for (const r of REALS.slice(0, 3)) {
    const version = parseReport(r.input.report).version;
    it(`${r.name}: a set byte in each must-be-zero range -> ERR_EVIDENCE_MALFORMED (reserved)`, async () => {
      const ranges = [...reservedRanges(version), [FIELDS.SIGNER_INFO.offset + 3, FIELDS.SIGNER_INFO.offset + 4] as const];
      for (const [start, end] of ranges) {
        for (const at of [start, end - 1]) {
          const b = r.input.report.slice();
          b[at] = 0x80;
          const e = await rejects(verifySevSnp(withReport(r, b), { at: r.at }));
          expect({ at, code: e.code, reason: e.reason }).toEqual({ at, code: 'ERR_EVIDENCE_MALFORMED', reason: 'reserved' });
        }
      }
    });
  }

  it('VERSION other than 2, 3, 5 -> ERR_EVIDENCE_UNSUPPORTED', async () => {
    const r = REALS[1]!;
    for (const v of [0, 1, 4, 6, 0xffffffff]) {
      const b = r.input.report.slice();
      new DataView(b.buffer).setUint32(0, v, true);
      const e = await rejects(verifySevSnp(withReport(r, b), { at: r.at }));
      expect([e.code, e.reason]).toEqual(['ERR_EVIDENCE_UNSUPPORTED', 'version']);
    }
  });

  it('SIGNATURE_ALGO other than 1 -> ERR_EVIDENCE_UNSUPPORTED (signature_algo)', async () => {
    const r = REALS[2]!;
    for (const v of [0, 2, 0x100]) {
      const b = r.input.report.slice();
      new DataView(b.buffer).setUint32(0x34, v, true);
      const e = await rejects(verifySevSnp(withReport(r, b), { at: r.at }));
      expect([e.code, e.reason]).toEqual(['ERR_EVIDENCE_UNSUPPORTED', 'signature_algo']);
      expect(e.message).toContain('SIGNATURE_ALGO');
    }
  });

  it('r or s with a non-zero byte anywhere in its 24 padding bytes -> ERR_SIGNATURE_INVALID', async () => {
    const r = REALS[0]!;
    for (const base of [FIELDS.SIGNATURE_R.offset, FIELDS.SIGNATURE_S.offset]) {
      for (let i = 48; i < 72; i++) {
        const b = r.input.report.slice();
        b[base + i] = 1;
        const e = await rejects(verifySevSnp(withReport(r, b), { at: r.at }));
        expect([e.code, e.reason]).toEqual(['ERR_SIGNATURE_INVALID', 'signature']);
      }
    }
  });
});

describe('time edges', () => {
  const ms = (d: Date, delta: number): Date => new Date(d.getTime() + delta);
  for (const r of [REALS[1]!, REALS[3]!]) {
    it(`${r.name}: VEK notBefore/notAfter +-1 ms`, async () => {
      const vek = parseAmdCertificate(r.input.vek!);
      const nb = new Date(vek.notBefore);
      const na = new Date(vek.notAfter);
      await expect(verifySevSnp(r.input, { at: nb })).resolves.toMatchObject({ verdict: 'ok' });
      await expect(verifySevSnp(r.input, { at: na })).resolves.toMatchObject({ verdict: 'ok', expires_at: na.toISOString() });
      for (const at of [ms(nb, -1), ms(na, 1)]) {
        const e = await rejects(verifySevSnp(r.input, { at }));
        expect([e.code, e.reason]).toEqual(['ERR_CERT_NOT_VALID_AT_TIME', 'validity']);
        expect(e.message).toContain('SEV-');
      }
    });
  }

  it('ASK notBefore - 1 ms and notAfter + 1 ms', async () => {
    const r = REALS[0]!;
    const [ask] = parseAmdPemCertificates(r.input.certChain!, 'chain');
    for (const at of [ms(new Date(ask!.notBefore), -1), ms(new Date(ask!.notAfter), 1)]) {
      const e = await rejects(verifySevSnp(r.input, { at }));
      expect([e.code, e.reason]).toEqual(['ERR_CERT_NOT_VALID_AT_TIME', 'validity']);
    }
  });

  it('an Invalid Date is refused, not treated as "always valid"', async () => {
    const r = REALS[0]!;
    const e = await rejects(verifySevSnp(r.input, { at: new Date(NaN) }));
    expect(e.code).toBe('ERR_INVALID_ARGUMENT');
  });
});

// ---------------------------------------------------------------------------------------------
// The synthetic cases' fake PKI: reports re-signed with the fake VEK, CRLs signed by the fake ARK.

const SYN = join(FIX, 'mutated');
interface Fake {
  input: SevSnpInput;
  at: Date;
  anchor: TrustAnchor;
  vekKey: KeyObject;
  arkKey: KeyObject;
  opts: VerifyOptions;
}
async function fake(base: 'genoa-v2-oak' | 'milan-v3-oak-rk' | 'turin-v5-oak'): Promise<Fake> {
  const dir = join(SYN, `syn-${base}-ok`);
  const c = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { verify_at: string };
  const anchor = await amdAnchorFromPem(readFileSync(join(dir, 'ark.pem'), 'utf8'), 'fake ARK', false);
  const at = new Date(c.verify_at);
  return {
    input: {
      report: new Uint8Array(readFileSync(join(dir, 'report.bin'))),
      vek: new Uint8Array(readFileSync(join(dir, 'vcek.der'))),
      certChain: readFileSync(join(dir, 'cert_chain.pem'), 'utf8'),
    },
    at,
    anchor,
    vekKey: createPrivateKey(readFileSync(join(dir, 'fake_vek.key'))),
    arkKey: createPrivateKey(readFileSync(join(dir, 'fake_ark.key'))),
    opts: { at, trustAnchors: [anchor] },
  };
}

/** Sign bytes [0, 0x2A0) with the fake VEK and store r, s little-endian in their 72-byte fields. */
function resign(report: Uint8Array, key: KeyObject): Uint8Array {
  const out = report.slice();
  const sig = nodeSign('sha384', out.subarray(0, SIGNED_END), { key, dsaEncoding: 'ieee-p1363' });
  out.fill(0, FIELDS.SIGNATURE_R.offset, FIELDS.SIGNATURE_S.offset + 72);
  out.set(Uint8Array.from(sig.subarray(0, 48)).reverse(), FIELDS.SIGNATURE_R.offset);
  out.set(Uint8Array.from(sig.subarray(48, 96)).reverse(), FIELDS.SIGNATURE_S.offset);
  return out;
}

const u32 = (b: Uint8Array, off: number, v: number): void => {
  new DataView(b.buffer, b.byteOffset).setUint32(off, v, true);
};

describe('re-signed reports (fake PKI as trust anchor)', () => {
  it('the fake chain itself verifies (positive control)', async () => {
    const f = await fake('milan-v3-oak-rk');
    await expect(verifySevSnp({ ...f.input, report: resign(f.input.report, f.vekKey) }, f.opts)).resolves.toMatchObject({
      verdict: 'ok',
      trust_anchor: { pinned: false },
    });
  });

  it('policy bit 17 clear -> ERR_EVIDENCE_MALFORMED (policy)', async () => {
    const f = await fake('milan-v3-oak-rk');
    const b = f.input.report.slice();
    b[FIELDS.POLICY.offset + 2] = (b[FIELDS.POLICY.offset + 2] as number) & ~0x02;
    const e = await rejects(verifySevSnp({ ...f.input, report: resign(b, f.vekKey) }, f.opts));
    expect([e.code, e.reason]).toEqual(['ERR_EVIDENCE_MALFORMED', 'policy']);
  });

  it('SIGNING_KEY = VLEK with a VCEK certificate -> ERR_COLLATERAL_MISMATCH (signing_key)', async () => {
    const f = await fake('genoa-v2-oak');
    const b = f.input.report.slice();
    u32(b, FIELDS.SIGNER_INFO.offset, 1 << 2);
    const e = await rejects(verifySevSnp({ ...f.input, report: resign(b, f.vekKey) }, f.opts));
    expect([e.code, e.reason]).toEqual(['ERR_COLLATERAL_MISMATCH', 'signing_key']);
  });

  it('SIGNING_KEY 2-6 is reserved -> ERR_EVIDENCE_MALFORMED', async () => {
    const f = await fake('genoa-v2-oak');
    const b = f.input.report.slice();
    u32(b, FIELDS.SIGNER_INFO.offset, 3 << 2);
    const e = await rejects(verifySevSnp({ ...f.input, report: resign(b, f.vekKey) }, f.opts));
    expect([e.code, e.reason]).toEqual(['ERR_EVIDENCE_MALFORMED', 'reserved']);
  });

  it('a zero CHIP_ID (MASK_CHIP_ID) skips the hwID check and says so', async () => {
    for (const base of ['genoa-v2-oak', 'turin-v5-oak'] as const) {
      const f = await fake(base);
      const b = f.input.report.slice();
      b.fill(0, FIELDS.CHIP_ID.offset, FIELDS.CHIP_ID.offset + 64);
      const r = await verifySevSnp({ ...f.input, report: resign(b, f.vekKey) }, f.opts);
      expect(r.claims['chip_id_check']).toBe('masked');
    }
  });

  it('Turin: non-zero CHIP_ID bytes after the 8-byte hwID -> hwid_mismatch', async () => {
    const f = await fake('turin-v5-oak');
    const b = f.input.report.slice();
    b[FIELDS.CHIP_ID.offset + 8] = 1;
    const e = await rejects(verifySevSnp({ ...f.input, report: resign(b, f.vekKey) }, f.opts));
    expect([e.code, e.reason]).toEqual(['ERR_COLLATERAL_MISMATCH', 'hwid_mismatch']);
  });

  it('Turin: a changed FMC SPL -> tcb_mismatch naming REPORTED_TCB', async () => {
    const f = await fake('turin-v5-oak');
    const b = f.input.report.slice();
    b[FIELDS.REPORTED_TCB.offset] = 9;
    const e = await rejects(verifySevSnp({ ...f.input, report: resign(b, f.vekKey) }, f.opts));
    expect([e.code, e.reason]).toEqual(['ERR_COLLATERAL_MISMATCH', 'tcb_mismatch']);
    expect(e.message).toContain('REPORTED_TCB');
    expect(e.message).toContain('fmc=9');
  });

  it('a caller product that contradicts the VEK issuer -> product', async () => {
    const f = await fake('genoa-v2-oak');
    const e = await rejects(verifySevSnp({ ...f.input, product: 'milan' }, f.opts));
    expect([e.code, e.reason]).toEqual(['ERR_COLLATERAL_MISMATCH', 'product']);
  });

  it('a debug guest is refused by default, after all crypto, and accepted with allowDebug', async () => {
    const f = await fake('turin-v5-oak');
    const b = f.input.report.slice();
    b[FIELDS.POLICY.offset + 2] = (b[FIELDS.POLICY.offset + 2] as number) | 0x08;
    const input = { ...f.input, report: resign(b, f.vekKey) };
    const e = await rejects(verifySevSnp(input, f.opts));
    expect([e.code, e.reason, e.family]).toEqual(['ERR_DEBUG_REFUSED', 'debug_enclave', 'policy']);
    const ok = await verifySevSnp(input, { ...f.opts, allowDebug: true });
    expect(ok.debug_allowed).toBe(true);
    expect(ok.claims['debug']).toBe(true);
  });

  it('missing collateral -> ERR_COLLATERAL_UNAVAILABLE', async () => {
    const f = await fake('turin-v5-oak');
    const noVek: SevSnpInput = { ...f.input };
    delete (noVek as { vek?: unknown }).vek;
    const e = await rejects(verifySevSnp(noVek, f.opts));
    expect(e.code).toBe('ERR_COLLATERAL_UNAVAILABLE');
  });
});

// Minimal DER writer for minting CRLs in tests.
const len = (n: number): number[] => (n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff]);
const tlv = (tag: number, ...parts: Uint8Array[]): Uint8Array => {
  const body = concatBytes(...parts);
  return concatBytes(Uint8Array.of(tag, ...len(body.length)), body);
};
const utc = (d: Date): Uint8Array => {
  const p = (n: number): string => String(n).padStart(2, '0');
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return tlv(0x17, new TextEncoder().encode(s));
};
const PSS_ALG = fromHex('304106092a864886f70d01010a3034a00f300d06096086480165030402020500a11c301a06092a864886f70d010108300d06096086480165030402020500a203020130');

function mintCrl(issuerName: Uint8Array, key: KeyObject, thisUpdate: Date, nextUpdate: Date, revokedSerials: readonly Uint8Array[]): Uint8Array {
  const revoked = revokedSerials.map((s) => tlv(0x30, tlv(0x02, s), utc(thisUpdate)));
  const tbs = tlv(
    0x30,
    tlv(0x02, Uint8Array.of(1)),
    PSS_ALG,
    issuerName,
    utc(thisUpdate),
    utc(nextUpdate),
    ...(revoked.length === 0 ? [] : [tlv(0x30, ...revoked)]),
  );
  const sig = nodeSign('sha384', tbs, { key, padding: 6, saltLength: 48 });
  return tlv(0x30, tbs, PSS_ALG, tlv(0x03, Uint8Array.of(0), new Uint8Array(sig)));
}

describe('CRL', () => {
  const day = 86_400_000;
  async function setup(): Promise<{ f: Fake; ark: ReturnType<typeof parseAmdCertificate>; ask: ReturnType<typeof parseAmdCertificate>; report: Uint8Array }> {
    const f = await fake('milan-v3-oak-rk');
    const [ask, ark] = parseAmdPemCertificates(f.input.certChain!, 'chain');
    return { f, ark: ark!, ask: ask!, report: resign(f.input.report, f.vekKey) };
  }
  const pos = (s: Uint8Array): Uint8Array => ((s[0] as number) & 0x80 ? concatBytes(Uint8Array.of(0), s) : s);

  it('a current CRL signed by the ARK is checked and recorded', async () => {
    const { f, ark, report } = await setup();
    const crl = mintCrl(ark.subject.der, f.arkKey, new Date(f.at.getTime() - day), new Date(f.at.getTime() + day), [Uint8Array.of(0x77)]);
    const r = await verifySevSnp({ ...f.input, report, crl }, f.opts);
    expect(r.collateral.map((c) => c.kind)).toEqual(['vcek', 'ask', 'ark', 'crl']);
    expect(r.expires_at).toBe(new Date(f.at.getTime() + day).toISOString());
  });

  it('a revoked ASK -> ERR_REVOKED', async () => {
    const { f, ark, ask, report } = await setup();
    const crl = mintCrl(ark.subject.der, f.arkKey, new Date(f.at.getTime() - day), new Date(f.at.getTime() + day), [pos(ask.serial)]);
    const e = await rejects(verifySevSnp({ ...f.input, report, crl }, f.opts));
    expect(e.code).toBe('ERR_REVOKED');
  });

  it('a stale CRL -> ERR_COLLATERAL_STALE; a CRL signed by another key -> ERR_SIGNATURE_INVALID', async () => {
    const { f, ark, report } = await setup();
    const stale = mintCrl(ark.subject.der, f.arkKey, new Date(f.at.getTime() - 2 * day), new Date(f.at.getTime() - 1), []);
    expect((await rejects(verifySevSnp({ ...f.input, report, crl: stale }, f.opts))).code).toBe('ERR_COLLATERAL_STALE');
    const other = (await fake('genoa-v2-oak')).arkKey;
    const forged = mintCrl(ark.subject.der, other, new Date(f.at.getTime() - day), new Date(f.at.getTime() + day), []);
    const e = await rejects(verifySevSnp({ ...f.input, report, crl: forged }, f.opts));
    expect([e.code, e.reason]).toEqual(['ERR_SIGNATURE_INVALID', 'crl_signature']);
  });
});

describe('collateral files recognised by content', () => {
  it('VEK (DER), chain (PEM) and CRL (DER) in any order and name', async () => {
    const f = await fake('genoa-v2-oak');
    const [ask, ark] = parseAmdPemCertificates(f.input.certChain!, 'chain');
    const crl = mintCrl(ark!.subject.der, f.arkKey, new Date(f.at.getTime() - 1000), new Date(f.at.getTime() + 1000), []);
    const report = resign(f.input.report, f.vekKey);
    const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
    const input = sevSnpInputFromFiles(report, [
      { name: 'x.bin', bytes: crl },
      { name: 'b', bytes: enc(toPem(ark!.der)) },
      { name: 'a', bytes: f.input.vek! },
      { name: 'c', bytes: ask!.der },
    ]);
    expect(input.crl).toEqual(crl);
    expect(parseAmdPemCertificates(input.certChain!, 'chain').map((c) => roleOf(c))).toEqual(['ask', 'ark']);
    await expect(verifySevSnp(input, f.opts)).resolves.toMatchObject({ verdict: 'ok' });
  });

  it('a real case from its folder files, and a PEM VEK', async () => {
    const dir = join(FIX, 'milan-v5-gcp-teekit');
    const c = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { verify_at: string };
    const input = sevSnpInputFromFiles(new Uint8Array(readFileSync(join(dir, 'report.bin'))), [
      { bytes: new Uint8Array(readFileSync(join(dir, 'cert_chain.pem'))) },
      { bytes: new Uint8Array(readFileSync(join(dir, 'vcek.pem'))) },
    ]);
    await expect(verifySevSnp(input, { at: new Date(c.verify_at) })).resolves.toMatchObject({ verdict: 'ok', trust_anchor: { pinned: true } });
  });

  it('a multi-certificate chain file keeps its order (a swapped chain still fails)', async () => {
    const dir = join(SYN, 'neg-genoa-v2-oak-chain-swapped');
    const input = sevSnpInputFromFiles(new Uint8Array(readFileSync(join(dir, 'report.bin'))), [
      { bytes: new Uint8Array(readFileSync(join(dir, 'cert_chain.pem'))) },
      { bytes: new Uint8Array(readFileSync(join(dir, 'vcek.der'))) },
    ]);
    const e = await rejects(verifySevSnp(input, { at: new Date('2024-06-26T00:00:00Z') }));
    expect([e.code, e.reason]).toEqual(['ERR_CHAIN_UNTRUSTED', 'chain']);
  });

  it('unrecognisable files -> ERR_COLLATERAL_MALFORMED', () => {
    const r = REALS[0]!.input.report;
    expect(() => sevSnpInputFromFiles(r, [{ name: 'junk', bytes: Uint8Array.of(1, 2, 3) }])).toThrow(expect.objectContaining({ code: 'ERR_COLLATERAL_MALFORMED' }));
    expect(() => sevSnpInputFromFiles(r, [{ name: 'p', bytes: new TextEncoder().encode('-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n') }])).toThrow(
      expect.objectContaining({ code: 'ERR_COLLATERAL_MALFORMED' }),
    );
  });
});

describe('property: arbitrary input raises only AttestationError', () => {
  const base = REALS[1]!;
  const settle = async (input: SevSnpInput): Promise<void> => {
    try {
      await verifySevSnp(input, { at: base.at, allowDebug: true });
    } catch (e: unknown) {
      if (!AttestationError.is(e)) throw e;
    }
  };

  it('random reports of any length, and of exactly 1184 bytes', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 1400 }), async (b) => settle(withReport(base, b))), { numRuns: 300 });
    await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: REPORT_SIZE, maxLength: REPORT_SIZE }), async (b) => settle(withReport(base, b))), { numRuns: 200 });
  });

  it('a real report with random bytes overwritten', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(REPORT_SIZE - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), async (edits) => {
        const b = base.input.report.slice();
        for (const [i, v] of edits) b[i] = v;
        await settle(withReport(base, b));
      }),
      { numRuns: 300 },
    );
  });

  it('random VEK DER, chain text and CRL bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), fc.string({ maxLength: 3000 }), fc.uint8Array({ maxLength: 600 }), async (vek, chain, crl) => {
        await settle({ ...base.input, vek });
        await settle({ ...base.input, certChain: chain });
        await settle({ ...base.input, certChain: `-----BEGIN CERTIFICATE-----\n${Buffer.from(vek).toString('base64')}\n-----END CERTIFICATE-----\n` });
        await settle({ ...base.input, crl });
      }),
      { numRuns: 150 },
    );
  });

  it('random collateral files never escape as another error type', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 800 }), { maxLength: 4 }), (files) => {
        try {
          sevSnpInputFromFiles(base.input.report, files.map((bytes) => ({ bytes })));
        } catch (e: unknown) {
          if (!AttestationError.is(e)) throw e;
        }
      }),
      { numRuns: 300 },
    );
  });
});
