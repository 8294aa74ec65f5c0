/**
 * Every case folder of test/fixtures/amd (real and mutated) through verifySevSnp: verdict, the
 * error's code and reason, and every expected claim. Time is the case's `verify_at`, never the clock.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { amdAnchorFromPem } from '../../../../attestation/amd/cert.ts';
import { parseProduct } from '../../../../attestation/amd/kds.ts';
import { createSevSnpCache, sevSnpInputFromFiles, verifySevSnp, type SevSnpInput } from '../../../../attestation/amd/verify.ts';
import { fromBase64 } from '../../../../attestation/common/bytes.ts';
import { AttestationError } from '../../../../attestation/errors.ts';
import type { EvidenceResult, VerifyOptions } from '../../../../attestation/result.ts';

import { AMD_NOT_CLAIMS, AMD_REASONS } from '../../../helpers/fixture-reasons.ts';

const ROOT = join(import.meta.dirname, '../../../fixtures/amd');

const REASON_MAP = AMD_REASONS;

/** `expected` keys that describe the case rather than a claim. */
const META = AMD_NOT_CLAIMS;

interface Case {
  dir: string;
  name: string;
  product: string;
  verify_at: string;
  trust_anchor?: string;
  run_with_allow_debug?: boolean;
  files: { report: string; vek: string; cert_chain: string; crl: string | null };
  expected: Record<string, unknown> & { verdict: 'ok' | 'error'; reason?: string; lenient_ok_acceptable?: boolean; verdict_with_allow_debug?: string };
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const base of [ROOT, join(ROOT, 'mutated')]) {
    for (const d of readdirSync(base).sort()) {
      const f = join(base, d, 'case.json');
      if (!existsSync(f)) continue;
      out.push({ ...(JSON.parse(readFileSync(f, 'utf8')) as Omit<Case, 'dir'>), dir: join(base, d) });
    }
  }
  return out;
}

function derOf(path: string): Uint8Array {
  const b = new Uint8Array(readFileSync(path));
  if (!path.endsWith('.pem')) return b;
  const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(Buffer.from(b).toString('latin1'));
  return fromBase64(m![1]!);
}

function inputOf(c: Case): SevSnpInput {
  const product = parseProduct(c.product);
  return {
    report: new Uint8Array(readFileSync(join(c.dir, c.files.report))),
    vek: derOf(join(c.dir, c.files.vek)),
    certChain: readFileSync(join(c.dir, c.files.cert_chain), 'utf8'),
    ...(c.files.crl === null ? {} : { crl: new Uint8Array(readFileSync(join(c.dir, c.files.crl))) }),
    ...(product === undefined ? {} : { product }),
  };
}

async function optsOf(c: Case, allowDebug: boolean): Promise<VerifyOptions> {
  const trustAnchors = c.trust_anchor === undefined ? undefined : [await amdAnchorFromPem(readFileSync(join(c.dir, 'ark.pem'), 'utf8'), `${c.name} test ARK`, false)];
  return { at: new Date(c.verify_at), allowDebug, ...(trustAnchors === undefined ? {} : { trustAnchors }) };
}

function checkClaims(c: Case, r: EvidenceResult): void {
  for (const [k, want] of Object.entries(c.expected)) {
    if (META.has(k)) continue;
    expect(r.claims[k], `claim ${k}`).toEqual(want);
  }
  if (typeof c.expected['ark_sha256'] === 'string') expect(r.trust_anchor.sha256).toBe(c.expected['ark_sha256']);
  expect(r.trust_anchor.pinned).toBe(c.trust_anchor === undefined);
}

const ALL = cases();

describe('AMD SEV-SNP fixtures', () => {
  it('has every case folder', () => {
    expect(ALL.length).toBeGreaterThanOrEqual(9 + 73);
  });

  it.each(ALL.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const allowDebug = c.run_with_allow_debug === true;
    const run = async (): Promise<EvidenceResult> => verifySevSnp(inputOf(c), await optsOf(c, allowDebug));
    if (c.expected.verdict === 'ok') {
      const r = await run();
      expect(r.verdict).toBe('ok');
      expect(r.tee).toBe('sev-snp');
      checkClaims(c, r);
      // Every certificate used is recorded with its digest; the result expires with the earliest.
      expect(r.collateral.map((d) => d.kind)).toEqual([c.expected['signing_key'] === 'VLEK' ? 'vlek' : 'vcek', c.expected['signing_key'] === 'VLEK' ? 'asvk' : 'ask', 'ark']);
      expect(r.collateral[2]!.sha256).toBe(r.trust_anchor.sha256);
      return;
    }
    const want = REASON_MAP[c.expected.reason ?? ''];
    expect(want, `reason ${String(c.expected.reason)} is in the table`).not.toBeUndefined();
    let err: unknown;
    try {
      await run();
    } catch (e: unknown) {
      err = e;
    }
    if (err === undefined && c.expected.lenient_ok_acceptable === true) return;
    expect(AttestationError.is(err), `rejected with an AttestationError: ${String(err)}`).toBe(true);
    const e = err as AttestationError;
    expect({ code: e.code, reason: e.reason }, e.message).toEqual(want);

    if (c.expected.verdict_with_allow_debug !== undefined) {
      const r = await verifySevSnp(inputOf(c), await optsOf(c, true));
      expect(r.verdict).toBe(c.expected.verdict_with_allow_debug);
      expect(r.debug_allowed).toBe(true);
      checkClaims(c, r);
    }
  });

  it('milan-v5-gcp-vmpl1-teekit: report_data is SHA-512(nonce || x25519 key)', async () => {
    const c = ALL.find((x) => x.name === 'milan-v5-gcp-vmpl1-teekit')!;
    const b = c.expected['report_data_binding'] as { nonce: string; x25519_key: string };
    const r = await verifySevSnp(inputOf(c), await optsOf(c, false));
    const want = createHash('sha512').update(Buffer.from(b.nonce + b.x25519_key, 'hex')).digest('hex');
    expect(r.claims['report_data']).toBe(want);
  });

  it('v2 reports take the product from the VEK issuer when none is given', async () => {
    for (const name of ['genoa-v2-oak', 'milan-v2-virtee']) {
      const c = ALL.find((x) => x.name === name)!;
      const input: SevSnpInput = { ...inputOf(c) };
      delete (input as { product?: unknown }).product;
      const r = await verifySevSnp(input, await optsOf(c, false));
      expect(r.claims['product']).toBe(c.product.toLowerCase());
    }
  });

  it('with the real AMD ARK pinned, every synthetic case is refused', async () => {
    for (const c of ALL.filter((x) => x.trust_anchor !== undefined)) {
      await expect(verifySevSnp(inputOf(c), { at: new Date(c.verify_at), allowDebug: true })).rejects.toMatchObject({
        code: 'ERR_CHAIN_UNTRUSTED',
        reason: 'ark_not_pinned',
      });
    }
  });
});

/** The outcome of one run, comparable across cached and uncached verification. */
async function outcome(run: () => Promise<EvidenceResult>): Promise<unknown> {
  try {
    const r = await run();
    return { ok: r.claims, collateral: r.collateral, anchor: r.trust_anchor, expires: r.expires_at };
  } catch (e: unknown) {
    return AttestationError.is(e) ? { code: e.code, reason: e.reason, message: e.message } : { thrown: String(e) };
  }
}

describe('AMD SEV-SNP warm cache', () => {
  // One cache shared by every case, real and mutated, in two passes (forward, then backward):
  // mutated cases share certificates with the real ones, so any key that confused two inputs
  // would change some outcome here.
  it('gives every case the same outcome as an uncached verification', async () => {
    const cache = createSevSnpCache();
    const plain = new Map<string, unknown>();
    for (const c of ALL) plain.set(c.name, await outcome(async () => verifySevSnp(inputOf(c), await optsOf(c, c.run_with_allow_debug === true))));
    for (const order of [ALL, [...ALL].reverse()]) {
      for (const c of order) {
        const got = await outcome(async () => verifySevSnp(inputOf(c), { ...(await optsOf(c, c.run_with_allow_debug === true)), cache }));
        expect(got, c.name).toEqual(plain.get(c.name));
      }
    }
    expect(cache.chains.size).toBeGreaterThan(0);
  });

  it('still checks the report signature, validity and anchor on a hit', async () => {
    const c = ALL.find((x) => x.name === 'genoa-v5-oak')!;
    const cache = createSevSnpCache();
    await verifySevSnp(inputOf(c), { at: new Date(c.verify_at), cache });
    const flipped = inputOf(c).report.slice();
    flipped[0x90] = (flipped[0x90] ?? 0) ^ 1; // inside REPORT_DATA, which the signature covers
    await expect(verifySevSnp({ ...inputOf(c), report: flipped }, { at: new Date(c.verify_at), cache })).rejects.toMatchObject({ reason: 'signature' });
    await expect(verifySevSnp(inputOf(c), { at: new Date('2060-01-01T00:00:00Z'), cache })).rejects.toMatchObject({ reason: 'validity' });
    // Another anchor set is another key: the cached chain (anchored at the pinned ARK) is not reused.
    const other = await amdAnchorFromPem(readFileSync(join(ROOT, 'mutated', ALL.find((x) => x.trust_anchor !== undefined)!.name, 'ark.pem'), 'utf8'), 'test ARK', false);
    await expect(verifySevSnp(inputOf(c), { at: new Date(c.verify_at), cache, trustAnchors: [other] })).rejects.toMatchObject({ reason: 'ark_not_pinned' });
  });

  it('recognises collateral files once and keeps the bounds it was given', () => {
    const c = ALL.find((x) => x.name === 'milan-v2-virtee')!;
    const cache = createSevSnpCache(2);
    const files = [c.files.vek, c.files.cert_chain].map((n) => ({ name: n, bytes: new Uint8Array(readFileSync(join(c.dir, n))) }));
    const a = sevSnpInputFromFiles(inputOf(c).report, files, undefined, cache);
    const b = sevSnpInputFromFiles(inputOf(c).report, files, undefined, cache);
    expect(b).toEqual(a);
    expect(a).toEqual(sevSnpInputFromFiles(inputOf(c).report, files));
    expect(cache.files.size).toBe(2);
    sevSnpInputFromFiles(inputOf(c).report, [{ bytes: new TextEncoder().encode(`${inputOf(c).certChain!.split('-----END CERTIFICATE-----')[0] ?? ''}-----END CERTIFICATE-----\n`) }], undefined, cache);
    expect(cache.files.size).toBe(2);
  });
});
