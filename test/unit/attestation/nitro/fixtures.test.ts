/**
 * Every case in test/fixtures/nitro/ through verifyNitro: verdict, reason (mapped to our error
 * code and step by the table below) and every expected claim. Time is the case's verify_at.
 *
 * Trust anchor: a case names a custom root with `trust_anchor`; otherwise the folder's root.pem is
 * used as the only anchor when it is not the AWS root (the pos-* and neg-*-syn-* cases, and
 * neg-cape0915-untrusted-root whose root.pem is a look-alike), and the pinned AWS root otherwise.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AttestationError } from '../../../../attestation/errors.ts';
import { nitroClaims } from '../../../../attestation/nitro/claims.ts';
import { parseNitroDocument } from '../../../../attestation/nitro/parse.ts';
import { verifyNitro } from '../../../../attestation/nitro/verify.ts';
import { AWS_NITRO_ROOT_G1 } from '../../../../attestation/roots/aws-nitro-root.ts';
import { anchorFromPem, pinnedAnchor } from '../../../../attestation/roots/index.ts';
import type { Claims, EvidenceResult, VerifyOptions } from '../../../../attestation/result.ts';

import { NITRO_NOT_CLAIMS, NITRO_REASONS } from '../../../helpers/fixture-reasons.ts';

const DIR = join(import.meta.dirname, '../../../fixtures/nitro');

const REASONS = NITRO_REASONS;
const NOT_CLAIMS = NITRO_NOT_CLAIMS;

interface Case {
  readonly verify_at: string;
  readonly trust_anchor?: string;
  readonly run_with_allow_debug?: boolean;
  readonly expected: Record<string, unknown> & {
    readonly verdict: 'ok' | 'error';
    readonly reason?: string;
    readonly also_acceptable_reasons?: readonly string[];
    readonly verdict_with_allow_debug?: 'ok' | 'error';
  };
  readonly facts?: { readonly chain_valid_until?: string; readonly root_sha256?: string; readonly derived_from?: string };
}

const cases = readdirSync(DIR, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

async function optionsFor(name: string, c: Case): Promise<{ opts: VerifyOptions; pinned: boolean }> {
  const aws = await pinnedAnchor(AWS_NITRO_ROOT_G1);
  const file = c.trust_anchor ?? 'root.pem';
  const path = join(DIR, name, file);
  const base: VerifyOptions = { at: new Date(c.verify_at), ...(c.run_with_allow_debug === true ? { allowDebug: true } : {}) };
  if (!existsSync(path)) return { opts: base, pinned: true };
  const anchor = await anchorFromPem(readFileSync(path, 'utf8'), `${name}/${file}`, false);
  if (c.trust_anchor === undefined && anchor.sha256 === aws.sha256) return { opts: base, pinned: true };
  return { opts: { ...base, trustAnchors: [anchor] }, pinned: false };
}

/**
 * Every expected claim must be reported with that value. `pcrs` is compared per index: the real
 * cases list PCR0-2 and the non-zero PCRs only, while we report every PCR the document carries
 * (a policy may want to check that, say, PCR3 is zero), so extra all-zero-or-not indices are fine.
 */
function expectClaims(got: Claims, expected: Record<string, unknown>, keys: readonly string[]): void {
  for (const k of keys) {
    if (k === 'pcrs') {
      const want = expected[k] as Record<string, string>;
      const have = got[k] as Record<string, string>;
      for (const [i, v] of Object.entries(want)) expect(have[i], `claim pcrs[${i}]`).toBe(v);
      expect(Object.keys(have).length).toBeGreaterThanOrEqual(Object.keys(want).length);
    } else {
      expect(got[k], `claim ${k}`).toEqual(expected[k]);
    }
  }
}

async function outcome(doc: Uint8Array, opts: VerifyOptions): Promise<EvidenceResult | AttestationError> {
  try {
    return await verifyNitro(doc, opts);
  } catch (e: unknown) {
    if (AttestationError.is(e)) return e;
    throw e;
  }
}

it('finds the Nitro fixture cases', () => {
  expect(cases.length).toBeGreaterThanOrEqual(32);
});

describe.each(cases)('%s', (name) => {
  const c = JSON.parse(readFileSync(join(DIR, name, 'case.json'), 'utf8')) as Case;
  const doc = new Uint8Array(readFileSync(join(DIR, name, 'attestation.cbor')));
  const claimKeys = Object.keys(c.expected).filter((k) => !NOT_CLAIMS.has(k));

  it(`verdict ${c.expected.verdict}${c.expected.reason !== undefined ? ` (${c.expected.reason})` : ''}`, async () => {
    const { opts, pinned } = await optionsFor(name, c);
    const got = await outcome(doc, opts);
    if (c.expected.verdict === 'ok') {
      if (AttestationError.is(got)) throw new Error(`want ok, got ${got.code}/${got.reason}: ${got.message}`);
      expect(got.verdict).toBe('ok');
      expect(got.tee).toBe('nitro');
      expect(got.tcb_status).toBeNull();
      expect(got.advisory_ids).toEqual([]);
      expect(got.trust_anchor.pinned).toBe(pinned);
      expect(got.debug_allowed).toBe(false);
      expect(got.claims['debug']).toBe(false);
      // The path is leaf, the bundle's CAs, the anchor; each with its validity window.
      expect(got.collateral.length).toBeGreaterThanOrEqual(2);
      expect(got.collateral.at(-1)?.sha256).toBe(got.trust_anchor.sha256);
      for (const d of got.collateral) expect(d.sha256).toMatch(/^[0-9a-f]{64}$/);
      if (pinned) expect(got.trust_anchor.sha256).toBe(AWS_NITRO_ROOT_G1.sha256);
      if (c.facts?.chain_valid_until !== undefined) expect(got.expires_at).toBe(c.facts.chain_valid_until);
      if (c.facts?.root_sha256 !== undefined && pinned) expect(got.trust_anchor.sha256).toBe(c.facts.root_sha256);
      expectClaims(got.claims, c.expected, claimKeys);
      return;
    }
    if (!AttestationError.is(got)) throw new Error(`want error ${String(c.expected.reason)}, got ok`);
    const reasons = [c.expected.reason ?? '', ...(c.expected.also_acceptable_reasons ?? [])];
    const allowed = reasons.map((r) => {
      const m = REASONS[r];
      if (m === undefined) throw new Error(`fixture reason ${r} has no entry in the table`);
      return m;
    });
    expect(allowed, `${got.code}/${got.reason}: ${got.message}`).toContainEqual({ code: got.code, reason: got.reason });
    // The primary reason is what we report, except where a case allows another (see the report).
    if (reasons.length === 1) expect({ code: got.code, reason: got.reason }).toEqual(REASONS[reasons[0] ?? '']);
  });

  if (c.expected.verdict_with_allow_debug !== undefined) {
    it(`verdict with allowDebug ${c.expected.verdict_with_allow_debug}`, async () => {
      const { opts } = await optionsFor(name, c);
      const got = await outcome(doc, { ...opts, allowDebug: true });
      if (c.expected.verdict_with_allow_debug === 'ok') {
        if (AttestationError.is(got)) throw new Error(`want ok, got ${got.code}/${got.reason}: ${got.message}`);
        expect(got.debug_allowed).toBe(c.expected.reason === 'debug');
        expect(got.claims['debug']).toBe(c.expected.reason === 'debug');
        expectClaims(got.claims, c.expected, claimKeys);
      } else {
        expect(AttestationError.is(got)).toBe(true);
      }
    });
  }

  if (c.expected.verdict === 'error' && claimKeys.length > 0) {
    it('decodes the expected claims even though the document is refused', () => {
      const claims = nitroClaims(parseNitroDocument(doc).payload);
      expectClaims(claims, c.expected, claimKeys);
      if (c.expected.reason === 'debug') expect(claims['debug']).toBe(true);
    });
  }
});
