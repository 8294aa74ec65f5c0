/**
 * Every Intel fixture case, real and mutated, through the library: verdict, failing step, TCB
 * status, advisory IDs and every expected claim. The cases' `reason` vocabulary is the library's
 * own `reason` vocabulary, so the mapping is the identity; REASONS lists it to catch a typo in either.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AttestationError } from '../../../../attestation/errors.ts';
import { toDcapCollateral } from '../../../../attestation/intel/bundle.ts';
import { parseQuote } from '../../../../attestation/intel/parse.ts';
import { createDcapCache, verifyDcapQuote } from '../../../../attestation/intel/verify.ts';
import { INTEL_SGX_ROOT_CA, anchorFromPem } from '../../../../attestation/roots/index.ts';
import type { TrustAnchor } from '../../../../attestation/common/x509.ts';
import { listCases, readBytes, type FixtureCase } from '../../../helpers/fixtures.ts';

const REASONS = new Set([
  'malformed_quote',
  'quote_signature',
  'qe_report_signature',
  'qe_report_data',
  'untrusted_root',
  'revoked',
  'crl_issuer',
  'tcb_info_signature',
  'collateral_expired',
  'tcb_not_supported',
  'debug_enclave',
]);

/** Fields of `expected` that are not claims of the result (checked elsewhere or meta). */
const NOT_CLAIMS = new Set(['verdict', 'reason', 'tcb_status', 'advisory_ids', 'dcap_only', 'quote_bytes', 'declared_end', 'verdict_with_allow_debug', 'lenient_ok_acceptable']);

const cases = [...listCases('intel'), ...listCases('intel-mutated')];

async function anchorsFor(c: FixtureCase): Promise<TrustAnchor[] | undefined> {
  const ta = c.meta.trust_anchor;
  if (ta === undefined) return undefined;
  const pem = readFileSync(join(c.dir, ta), 'utf8');
  if (pem.trim() === INTEL_SGX_ROOT_CA.pem.trim()) return undefined; // the pinned root: use the default
  return [await anchorFromPem(pem, ta, false)];
}

async function run(c: FixtureCase, allowDebug: boolean, anchors: TrustAnchor[] | undefined) {
  const quote = readBytes(c.dir, 'quote.bin');
  const collateral = toDcapCollateral(JSON.parse(readFileSync(join(c.dir, 'collateral.json'), 'utf8')));
  return verifyDcapQuote(quote, collateral, {
    at: new Date(c.meta.verify_at),
    tee: c.meta.tee as 'sgx' | 'tdx',
    allowDebug,
    ...(anchors !== undefined ? { trustAnchors: anchors } : {}),
  });
}

function checkClaims(claims: Record<string, unknown>, expected: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(expected)) {
    if (NOT_CLAIMS.has(k)) continue;
    expect(claims[k], `claim ${k}`).toEqual(v);
  }
}

describe('Intel fixtures through the library', () => {
  it('has every case', () => {
    expect(cases.length).toBeGreaterThanOrEqual(36);
  });

  for (const c of cases) {
    const exp = c.meta.expected;
    it(`${c.name}: ${exp.verdict}${exp.reason !== undefined ? ` (${exp.reason})` : ''}`, async () => {
      const anchors = await anchorsFor(c);
      const allowDebug = c.meta.run_with_allow_debug === true;
      if (exp.verdict === 'ok') {
        const r = await run(c, allowDebug, anchors);
        expect(r.verdict).toBe('ok');
        expect(r.tee).toBe(c.meta.tee);
        expect(r.tcb_status).toBe(exp.tcb_status);
        if (exp['advisory_ids'] !== undefined) expect(r.advisory_ids).toEqual(exp['advisory_ids']);
        checkClaims(r.claims, exp);
        expect(r.trust_anchor.pinned).toBe(anchors === undefined);
        expect(r.collateral.map((d) => d.kind)).toEqual(expect.arrayContaining(['intel.tcb_info', 'intel.qe_identity', 'intel.pck_crl', 'intel.root_ca_crl']));
        for (const d of r.collateral) expect(d.sha256).toMatch(/^[0-9a-f]{64}$/);
      } else {
        expect(REASONS.has(exp.reason ?? ''), `known reason ${String(exp.reason)}`).toBe(true);
        const err = await run(c, allowDebug, anchors).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(AttestationError.is(err), String(err)).toBe(true);
        const e = err as AttestationError;
        expect(e.reason, e.message).toBe(exp.reason);
        expect(e.family).toBe(exp.reason === 'debug_enclave' ? 'policy' : 'verification');
      }
      if (exp['verdict_with_allow_debug'] !== undefined) {
        const r = await run(c, true, anchors).then(
          (x) => x,
          (e: unknown) => e,
        );
        if (exp['verdict_with_allow_debug'] === 'ok') {
          expect((r as { verdict: string }).verdict).toBe('ok');
          expect((r as { debug_allowed: boolean }).debug_allowed).toBe(true);
          expect((r as { tcb_status: string }).tcb_status).toBe(exp.tcb_status);
          checkClaims((r as { claims: Record<string, unknown> }).claims, exp);
        } else expect(AttestationError.is(r)).toBe(true);
      }
      // Parse facts the cases record: total size and the end of the declared signature data.
      if (typeof exp['quote_bytes'] === 'number') {
        const bytes = readBytes(c.dir, 'quote.bin');
        expect(bytes.length).toBe(exp['quote_bytes']);
        const q = parseQuote(bytes);
        expect(q.declaredEnd).toBe(exp['declared_end']);
        expect(q.trailingBytes).toBe(bytes.length - q.declaredEnd);
      }
    });
  }

  for (const c of cases.filter((x) => x.meta.trust_anchor !== undefined && x.meta.trust_anchor !== 'intel-sgx-root-ca.pem')) {
    it(`${c.name}: with the pinned Intel root instead of its test root -> untrusted_root`, async () => {
      const err = await run(c, c.meta.run_with_allow_debug === true, undefined).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as AttestationError).reason).toBe('untrusted_root');
    });
  }

  it('a warm cache gives the same results as cold verification, for every ok case', async () => {
    const cache = createDcapCache();
    for (const c of cases.filter((x) => x.meta.expected.verdict === 'ok')) {
      const anchors = await anchorsFor(c);
      const quote = readBytes(c.dir, 'quote.bin');
      const collateral = toDcapCollateral(JSON.parse(readFileSync(join(c.dir, 'collateral.json'), 'utf8')));
      const opts = { at: new Date(c.meta.verify_at), cache, ...(anchors !== undefined ? { trustAnchors: anchors } : {}) };
      const cold = await verifyDcapQuote(quote, collateral, opts);
      const warm = await verifyDcapQuote(quote, collateral, opts);
      expect(warm).toEqual(cold);
    }
    expect(cache.chains.size).toBeGreaterThan(0);
  });
});
