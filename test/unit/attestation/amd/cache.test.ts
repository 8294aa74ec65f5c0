/**
 * The SEV-SNP cache (createSevSnpCache): what a hit may skip and what it must not. A hit reuses
 * only what the exact bytes already verified determine (the parsed and signature-checked VEK
 * chain, a CRL's signature, recognised files); the report's signature, validity and CRL dates at
 * THIS call's time, revocation and the VEK binding of THIS report are checked on every call, and
 * every outcome with a cache must be the outcome without one.
 *
 * Reports, CRLs and certificates that no fixture has are made with the synthetic cases' fake
 * ARK/ASK/VEK keys (test/fixtures/amd/mutated/syn-*-ok), as in minted.test.ts.
 */
import { createPrivateKey, sign as nodeSign, type KeyObject } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { amdAnchorFromPem, parseAmdCertificate, parseAmdPemCertificates, toPem } from '../../../../attestation/amd/cert.ts';
import { parseProduct } from '../../../../attestation/amd/kds.ts';
import { FIELDS, SIGNED_END } from '../../../../attestation/amd/parse.ts';
import { ContentCache, createSevSnpCache, sevSnpInputFromFiles, verifySevSnp, type SevSnpCache, type SevSnpInput } from '../../../../attestation/amd/verify.ts';
import type { Certificate, TrustAnchor } from '../../../../attestation/common/x509.ts';
import { AttestationError } from '../../../../attestation/errors.ts';
import type { EvidenceResult, VerifyOptions } from '../../../../attestation/result.ts';
import { seq, tlv, uint, uintBytes } from '../../../../enclave/sim/x509-amd-nitro.ts';

const FIX = join(import.meta.dirname, '../../../fixtures/amd');

/** A certificate file's DER (the fixtures hold some VEKs as PEM). */
function derOf(path: string): Uint8Array {
  const b = new Uint8Array(readFileSync(path));
  return path.endsWith('.pem') ? parseAmdPemCertificates(new TextDecoder().decode(b), path)[0]!.der : b;
}
const MINUTE = 60_000;
const DAY = 1440 * MINUTE;

/** The outcome of one run, comparable across cached and uncached verification. */
async function outcome(run: () => Promise<EvidenceResult>): Promise<unknown> {
  try {
    return await run();
  } catch (e: unknown) {
    return AttestationError.is(e) ? { code: e.code, reason: e.reason, message: e.message } : { thrown: String(e) };
  }
}

/** Run with the cache, and check the outcome is the uncached one; returns it. */
async function same(input: SevSnpInput, opts: VerifyOptions, cache: SevSnpCache): Promise<unknown> {
  const want = await outcome(() => verifySevSnp(input, opts));
  const got = await outcome(() => verifySevSnp(input, { ...opts, cache }));
  expect(got).toEqual(want);
  return got;
}

/** Whether the last lookup of `c` found an entry (spied on with vi.spyOn(c, 'get')). */
function lastWasHit(spy: { mock: { results: { value: unknown }[] } }): boolean {
  return spy.mock.results.at(-1)?.value !== undefined;
}

interface Pki {
  readonly at: Date;
  readonly report: Uint8Array;
  readonly vek: Certificate;
  readonly ask: Certificate;
  readonly ark: Certificate;
  readonly keys: { readonly ark: KeyObject; readonly vek: KeyObject };
  readonly anchor: TrustAnchor;
}

async function pki(base: 'genoa-v2-oak' | 'milan-v3-oak-rk'): Promise<Pki> {
  const dir = join(FIX, 'mutated', `syn-${base}-ok`);
  const [ask, ark] = parseAmdPemCertificates(readFileSync(join(dir, 'cert_chain.pem'), 'utf8'), 'chain');
  const key = (f: string): KeyObject => createPrivateKey(readFileSync(join(dir, f)));
  return {
    at: new Date((JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { verify_at: string }).verify_at),
    report: new Uint8Array(readFileSync(join(dir, 'report.bin'))),
    vek: parseAmdCertificate(new Uint8Array(readFileSync(join(dir, 'vcek.der')))),
    ask: ask!,
    ark: ark!,
    keys: { ark: key('fake_ark.key'), vek: key('fake_vek.key') },
    anchor: await amdAnchorFromPem(readFileSync(join(dir, 'ark.pem'), 'utf8'), 'fake ARK', false),
  };
}

/** The report with `edit` applied, signed again by the fake VEK (so only the edit differs). */
function resigned(p: Pki, edit: (r: Uint8Array) => void = () => undefined): Uint8Array {
  const out = p.report.slice();
  edit(out);
  const sig = nodeSign('sha384', out.subarray(0, SIGNED_END), { key: p.keys.vek, dsaEncoding: 'ieee-p1363' });
  out.fill(0, FIELDS.SIGNATURE_R.offset, FIELDS.SIGNATURE_S.offset + 72);
  out.set(Uint8Array.from(sig.subarray(0, 48)).reverse(), FIELDS.SIGNATURE_R.offset);
  out.set(Uint8Array.from(sig.subarray(48, 96)).reverse(), FIELDS.SIGNATURE_S.offset);
  return out;
}

function input(p: Pki, over: { report?: Uint8Array; crl?: Uint8Array } = {}): SevSnpInput {
  return {
    report: over.report ?? resigned(p),
    vek: p.vek.der.slice(),
    certChain: toPem(p.ask.der) + toPem(p.ark.der),
    ...(over.crl === undefined ? {} : { crl: over.crl }),
  };
}

const optsAt = (p: Pki, at: Date = p.at): VerifyOptions => ({ at, trustAnchors: [p.anchor] });

// A v2 CRL signed by the fake ARK as AMD signs theirs (RSASSA-PSS SHA-384, salt 48).
const PSS_ALG = seq(
  tlv(0x06, Uint8Array.of(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a)),
  seq(
    tlv(0xa0, seq(tlv(0x06, Uint8Array.of(0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02)), Uint8Array.of(0x05, 0x00))),
    tlv(0xa1, seq(tlv(0x06, Uint8Array.of(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08)), seq(tlv(0x06, Uint8Array.of(0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02)), Uint8Array.of(0x05, 0x00)))),
    tlv(0xa2, uint(48)),
  ),
);
const utc = (d: Date): Uint8Array => tlv(0x17, new TextEncoder().encode(`${d.toISOString().slice(2, 19).replace(/[-T:]/g, '')}Z`));
function mintCrl(p: Pki, thisUpdate: Date, nextUpdate: Date, revoked: readonly Certificate[] = []): Uint8Array {
  const entries = revoked.length === 0 ? [] : [seq(...revoked.map((c) => seq(uintBytes(c.serial), utc(thisUpdate))))];
  const tbs = seq(uint(1), PSS_ALG, p.ark.subject.der, utc(thisUpdate), utc(nextUpdate), ...entries);
  const sig = nodeSign('sha384', tbs, { key: p.keys.ark, padding: 6, saltLength: 48 });
  return seq(tbs, PSS_ALG, tlv(0x03, Uint8Array.of(0), new Uint8Array(sig)));
}

describe('SEV-SNP cache: a hit still checks this call', () => {
  it('refuses a report whose signature does not verify, on a hit', async () => {
    const p = await pki('genoa-v2-oak');
    const cache = createSevSnpCache();
    const get = vi.spyOn(cache.chains, 'get');
    await expect(verifySevSnp(input(p), { ...optsAt(p), cache })).resolves.toMatchObject({ verdict: 'ok' });
    const unsigned = resigned(p);
    unsigned[FIELDS.MEASUREMENT.offset] = (unsigned[FIELDS.MEASUREMENT.offset] ?? 0) ^ 1; // changed after signing
    const badR = resigned(p);
    badR[FIELDS.SIGNATURE_R.offset] = (badR[FIELDS.SIGNATURE_R.offset] ?? 0) ^ 1;
    for (const report of [unsigned, badR]) {
      await expect(verifySevSnp(input(p, { report }), { ...optsAt(p), cache })).rejects.toMatchObject({ code: 'ERR_SIGNATURE_INVALID', reason: 'signature' });
      expect(lastWasHit(get)).toBe(true);
    }
    // A report signed by another key (the fake ARK's RSA key cannot; another P-384 VEK's can).
    const q = await pki('milan-v3-oak-rk');
    const foreign = resigned({ ...p, keys: { ...p.keys, vek: q.keys.vek } });
    await same(input(p, { report: foreign }), optsAt(p), cache);
    expect(lastWasHit(get)).toBe(true);
    expect(cache.chains.size).toBe(1);
  });

  it('refuses, on a hit, a VEK that is not valid at the new time (and says so as a fresh call does)', async () => {
    const p = await pki('genoa-v2-oak');
    const cache = createSevSnpCache();
    await verifySevSnp(input(p), { ...optsAt(p), cache });
    const get = vi.spyOn(cache.chains, 'get');
    for (const at of [new Date(p.vek.notAfter + 1), new Date(p.vek.notBefore - 1)]) {
      const got = await same(input(p), optsAt(p, at), cache);
      expect(got).toMatchObject({ code: 'ERR_CERT_NOT_VALID_AT_TIME', reason: 'validity' });
      expect(lastWasHit(get)).toBe(true);
    }
  });

  it('refuses, on a hit, a different report whose TCB, chip, key kind or policy the VEK does not vouch for', async () => {
    const p = await pki('milan-v3-oak-rk');
    const cache = createSevSnpCache();
    await verifySevSnp(input(p), { ...optsAt(p), cache });
    const get = vi.spyOn(cache.chains, 'get');
    const flip = (field: keyof typeof FIELDS, mask = 1) => (r: Uint8Array): void => {
      r[FIELDS[field].offset] = (r[FIELDS[field].offset] ?? 0) ^ mask;
    };
    const cases: [Uint8Array, string][] = [
      [resigned(p, flip('REPORTED_TCB')), 'tcb_mismatch'], // bl SPL
      [resigned(p, flip('CHIP_ID')), 'hwid_mismatch'],
      [resigned(p, flip('SIGNER_INFO', 1 << 2)), 'signing_key'], // SIGNING_KEY 1: VLEK
      [resigned(p, (r) => void (r[FIELDS.POLICY.offset + 2] = (r[FIELDS.POLICY.offset + 2] ?? 0) | (1 << 3))), 'debug_enclave'], // bit 19
    ];
    for (const [report, reason] of cases) {
      expect(await same(input(p, { report }), optsAt(p), cache)).toMatchObject({ reason });
      expect(lastWasHit(get)).toBe(true);
    }
  });

  it('checks a cached CRL against the new time: past nextUpdate or before thisUpdate is stale', async () => {
    const p = await pki('milan-v3-oak-rk');
    const cache = createSevSnpCache();
    // From 10 minutes before the verification time: this VEK's notBefore is only 56 minutes before it.
    const crl = mintCrl(p, new Date(p.at.getTime() - 10 * MINUTE), new Date(p.at.getTime() + DAY));
    const ok = await same(input(p, { crl }), optsAt(p), cache);
    expect(ok).toMatchObject({ verdict: 'ok', expires_at: new Date(p.at.getTime() + DAY).toISOString() });
    expect((ok as EvidenceResult).collateral.map((c) => c.kind)).toEqual(['vcek', 'ask', 'ark', 'crl']);
    expect(cache.crls.size).toBe(1);
    const get = vi.spyOn(cache.crls, 'get');
    for (const at of [new Date(p.at.getTime() + 2 * DAY), new Date(p.at.getTime() - 20 * MINUTE)]) {
      const got = await same(input(p, { crl }), optsAt(p, at), cache);
      expect(got).toMatchObject({ code: 'ERR_COLLATERAL_STALE', reason: 'collateral_expired' });
      expect(lastWasHit(get)).toBe(true);
    }
    // The warm result is the cold one, CRL digest and expiry included.
    expect(await verifySevSnp(input(p, { crl }), { ...optsAt(p), cache })).toEqual(ok);
    expect(lastWasHit(get)).toBe(true);
  });

  it('a cached CRL still revokes the VEK and the ASK on every call', async () => {
    const p = await pki('milan-v3-oak-rk');
    const span = [new Date(p.at.getTime() - DAY), new Date(p.at.getTime() + DAY)] as const;
    for (const revoked of [p.vek, p.ask]) {
      const cache = createSevSnpCache();
      const crl = mintCrl(p, ...span, [revoked]);
      for (let i = 0; i < 2; i++) expect(await same(input(p, { crl }), optsAt(p), cache)).toMatchObject({ code: 'ERR_REVOKED', reason: 'revoked' });
      expect(cache.crls.size).toBe(1);
    }
  });

  it('a CRL verified under one ARK is not taken as verified under another', async () => {
    const p = await pki('milan-v3-oak-rk');
    const q = await pki('genoa-v2-oak');
    const cache = createSevSnpCache();
    const crl = mintCrl(p, new Date(p.at.getTime() - DAY), new Date(p.at.getTime() + DAY));
    await expect(verifySevSnp(input(p, { crl }), { ...optsAt(p), cache })).resolves.toMatchObject({ verdict: 'ok' });
    expect(await same(input(q, { crl }), optsAt(q), cache)).toMatchObject({ code: 'ERR_CRL_INVALID', reason: 'crl_issuer' });
  });
});

describe('SEV-SNP cache: keys', () => {
  const real = readdirSync(FIX, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== 'mutated')
    .map((d) => {
      const dir = join(FIX, d.name);
      const meta = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { verify_at: string; product: string; files: { report: string; vek: string; cert_chain: string } };
      const product = parseProduct(meta.product);
      return {
        name: d.name,
        at: new Date(meta.verify_at),
        report: new Uint8Array(readFileSync(join(dir, meta.files.report))),
        vek: derOf(join(dir, meta.files.vek)),
        certChain: readFileSync(join(dir, meta.files.cert_chain), 'utf8'),
        ...(product === undefined ? {} : { product }),
      };
    });

  it('never confuses two chains: every VEK with every cert_chain gives the uncached outcome', async () => {
    expect(real.length).toBeGreaterThanOrEqual(9);
    const cache = createSevSnpCache();
    const combos = real.flatMap((a) => real.map((b) => ({ a, b })));
    for (const pass of [combos, [...combos].reverse()]) {
      for (const { a, b } of pass) {
        // a's report and VEK with b's chain, and a's report with b's VEK and a's chain.
        await same({ report: a.report, vek: a.vek, certChain: b.certChain, ...(a.product === undefined ? {} : { product: a.product }) }, { at: a.at }, cache);
        await same({ report: a.report, vek: b.vek, certChain: a.certChain, ...(a.product === undefined ? {} : { product: a.product }) }, { at: a.at }, cache);
      }
    }
    // Every genuine case was verified (and cached) under its own chain; mixed ones only where they verify.
    expect(cache.chains.size).toBeGreaterThanOrEqual(real.length);
  });

  it('the product given is part of the key', async () => {
    const c = real.find((x) => x.name === 'genoa-v5-oak')!;
    const cache = createSevSnpCache();
    const base = { report: c.report, vek: c.vek, certChain: c.certChain };
    await same({ ...base, product: 'genoa' }, { at: c.at }, cache);
    expect(await same({ ...base, product: 'milan' }, { at: c.at }, cache)).toMatchObject({ reason: 'product' });
    expect(await same(base, { at: c.at }, cache)).toMatchObject({ verdict: 'ok' });
  });

  it('trust anchors are part of the key: another name, simulated flag or anchor list is a miss', async () => {
    const p = await pki('genoa-v2-oak');
    const cache = createSevSnpCache();
    const named = async (a: TrustAnchor): Promise<unknown> => same(input(p), { at: p.at, trustAnchors: [a] }, cache);
    expect(await named(p.anchor)).toMatchObject({ trust_anchor: { name: 'fake ARK' }, simulated: false });
    expect(await named({ ...p.anchor, name: 'renamed ARK' })).toMatchObject({ trust_anchor: { name: 'renamed ARK' } });
    expect(await named({ ...p.anchor, simulated: true })).toMatchObject({ simulated: true });
    expect(await same(input(p), { at: p.at, trustAnchors: [] }, cache)).toMatchObject({ reason: 'ark_not_pinned' });
    expect(await same(input(p), { at: p.at }, cache)).toMatchObject({ reason: 'ark_not_pinned' });
    expect(await same(input(p), { at: p.at, trustAnchors: [p.anchor, p.anchor] }, cache)).toMatchObject({ verdict: 'ok' });
    expect(cache.chains.size).toBe(4);
  });

  it('a buffer changed after a call is verified afresh (the cache keeps its own copies)', async () => {
    const p = await pki('genoa-v2-oak');
    const cache = createSevSnpCache();
    const i = input(p);
    await expect(verifySevSnp(i, { ...optsAt(p), cache })).resolves.toMatchObject({ verdict: 'ok' });
    const vek = i.vek!;
    vek[vek.length - 1] = (vek[vek.length - 1] ?? 0) ^ 1; // the VEK's signature, in place
    expect(await same(i, optsAt(p), cache)).toMatchObject({ code: 'ERR_SIGNATURE_INVALID', reason: 'chain' });
    // The entry still stands for the bytes verified then, not for the caller's changed buffer.
    const get = vi.spyOn(cache.chains, 'get');
    await expect(verifySevSnp({ ...i, vek: p.vek.der.slice() }, { ...optsAt(p), cache })).resolves.toMatchObject({ verdict: 'ok' });
    expect(lastWasHit(get)).toBe(true);

    const file = { name: 'vcek.der', bytes: p.vek.der.slice() };
    expect(sevSnpInputFromFiles(p.report, [file], undefined, cache).vek).toEqual(p.vek.der);
    file.bytes[0] = 0; // no longer DER at all
    expect(() => sevSnpInputFromFiles(p.report, [file], undefined, cache)).toThrow(/neither a DER certificate nor a DER CRL/);
    const files = vi.spyOn(cache.files, 'get');
    expect(sevSnpInputFromFiles(p.report, [{ bytes: p.vek.der.slice() }], undefined, cache).vek).toEqual(p.vek.der);
    expect(lastWasHit(files)).toBe(true);
  });
});

describe('ContentCache', () => {
  const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
  const eq = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

  it('a hash collision never gives another key\'s value', () => {
    const c = new ContentCache<Uint8Array, string>(8, () => 7, eq); // every key in one bucket
    c.set(bytes(1), 'one');
    c.set(bytes(2), 'two');
    c.set(bytes(1, 0), 'one-zero');
    expect([c.get(bytes(1)), c.get(bytes(2)), c.get(bytes(1, 0)), c.get(bytes(3))]).toEqual(['one', 'two', 'one-zero', undefined]);
    c.set(bytes(2), 'two again'); // replaces, does not grow
    expect([c.size, c.get(bytes(2))]).toEqual([3, 'two again']);
  });

  it('evicts the least recently used entry first, within and across buckets', () => {
    for (const hash of [(k: Uint8Array): number => k[0] ?? 0, (): number => 0]) {
      const c = new ContentCache<Uint8Array, string>(2, hash, eq);
      c.set(bytes(1), 'a');
      c.set(bytes(2), 'b');
      expect(c.get(bytes(1))).toBe('a'); // 1 is now the most recent
      c.set(bytes(3), 'c');
      expect([c.size, c.get(bytes(1)), c.get(bytes(2)), c.get(bytes(3))]).toEqual([2, 'a', undefined, 'c']);
    }
  });

  it('a bound of zero or less keeps nothing', () => {
    for (const max of [0, -1]) {
      const c = new ContentCache<Uint8Array, string>(max, () => 0, eq);
      c.set(bytes(1), 'a');
      expect([c.size, c.get(bytes(1))]).toEqual([0, undefined]);
    }
  });

  it('the SEV-SNP cache finds files by content, aligned or not', () => {
    const dir = join(FIX, 'milan-v2-virtee');
    const der = new Uint8Array(readFileSync(join(dir, 'vcek.der')));
    const cache = createSevSnpCache();
    sevSnpInputFromFiles(new Uint8Array(), [{ bytes: der }], undefined, cache);
    const get = vi.spyOn(cache.files, 'get');
    // The same bytes at an odd offset of a larger buffer (not 32-bit aligned): still a hit.
    const odd = new Uint8Array(der.length + 1).subarray(1);
    odd.set(der);
    sevSnpInputFromFiles(new Uint8Array(), [{ bytes: odd }], undefined, cache);
    expect(lastWasHit(get)).toBe(true);
    expect(cache.files.size).toBe(1);
  });
});
