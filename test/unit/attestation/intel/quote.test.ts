/**
 * Quote header and body-descriptor combinations no real quote has (parse.ts), the caller's TEE
 * expectation, the bounded verification cache, and a PCK CA without a common name (verify.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { concatBytes } from '../../../../attestation/common/bytes.ts';
import { parseCertificate } from '../../../../attestation/common/x509.ts';
import { AttestationError } from '../../../../attestation/errors.ts';
import { toDcapCollateral, type DcapCollateral } from '../../../../attestation/intel/bundle.ts';
import { parseQuote } from '../../../../attestation/intel/parse.ts';
import { createDcapCache, verifyDcapQuote } from '../../../../attestation/intel/verify.ts';
import { anchorFromPem } from '../../../../attestation/roots/index.ts';
import { mintIntelPki, reSignCollateral, reSignQuote, templateFromQuote } from '../../../fakes/intel-pki.ts';
import { errorOf } from '../../../helpers/errors.ts';
import { FIXTURES, readBytes } from '../../../helpers/fixtures.ts';

interface Case {
  readonly quote: Uint8Array;
  readonly collateral: DcapCollateral;
  readonly at: Date;
}
function fixture(name: string): Case {
  const dir = join(FIXTURES, 'intel', name);
  const meta = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { verify_at: string };
  return {
    quote: readBytes(dir, 'quote.bin'),
    collateral: toDcapCollateral(JSON.parse(readFileSync(join(dir, 'collateral.json'), 'utf8'))),
    at: new Date(meta.verify_at),
  };
}
const SGX_V3 = fixture('sgx-v3-phala-processor-00a067');
const TDX_V4 = fixture('tdx-v4-phala-b0c06f');
const TDX_V5 = fixture('tdx-v5-gotdx-90c06f');

function patched(b: Uint8Array, edits: readonly [offset: number, bytes: 2 | 4, value: number][]): Uint8Array {
  const out = b.slice();
  const v = new DataView(out.buffer);
  for (const [off, n, value] of edits) {
    if (n === 2) v.setUint16(off, value, true);
    else v.setUint32(off, value, true);
  }
  return out;
}

const TEE_TYPE = 4;
const BODY_TYPE = 48;
const BODY_SIZE = 50;

async function rejects(p: Promise<unknown>): Promise<AttestationError> {
  try {
    await p;
  } catch (e: unknown) {
    if (AttestationError.is(e)) return e;
    throw new Error(`not an AttestationError: ${String(e)}`, { cause: e });
  }
  throw new Error('verification unexpectedly succeeded');
}

describe('quote header and body descriptor (parseQuote)', () => {
  it('a v3 quote with the TDX tee_type -> ERR_EVIDENCE_UNSUPPORTED', () => {
    const e = errorOf(() => parseQuote(patched(SGX_V3.quote, [[TEE_TYPE, 4, 0x81]])));
    expect([e.code, e.reason, e.message]).toEqual(['ERR_EVIDENCE_UNSUPPORTED', 'unsupported_tee_type', 'quote version 3 carries SGX enclave reports only']);
  });

  it('v5: a body size that is not the size of its body type -> ERR_EVIDENCE_MALFORMED', () => {
    // The fixture is a TD report 1.5 (type 3, 648 bytes).
    for (const [type, want] of [
      [1, 384],
      [2, 584],
    ] as const) {
      const e = errorOf(() => parseQuote(patched(TDX_V5.quote, [[BODY_TYPE, 2, type]])));
      expect([e.code, e.reason, e.message]).toEqual(['ERR_EVIDENCE_MALFORMED', 'malformed_quote', `quote body descriptor size is 648, want ${want} for body type ${type}`]);
    }
  });

  it('v5: an SGX body type under the TDX tee_type -> ERR_EVIDENCE_MALFORMED', () => {
    const e = errorOf(() => parseQuote(patched(TDX_V5.quote, [[BODY_TYPE, 2, 1], [BODY_SIZE, 4, 384]])));
    expect([e.code, e.reason, e.message]).toEqual(['ERR_EVIDENCE_MALFORMED', 'malformed_quote', 'quote body type 1 does not match tee_type 0x81']);
  });

  it('v4: a byte after the certification data, inside the declared signature data -> ERR_EVIDENCE_MALFORMED', () => {
    const q = parseQuote(TDX_V4.quote);
    const at = q.signedRegion.length;
    const len = new DataView(TDX_V4.quote.buffer, TDX_V4.quote.byteOffset).getUint32(at, true);
    const body = TDX_V4.quote.subarray(at + 4, at + 4 + len);
    const grown = concatBytes(q.signedRegion, patched(new Uint8Array(4), [[0, 4, len + 1]]), body, Uint8Array.of(0), TDX_V4.quote.subarray(at + 4 + len));
    const e = errorOf(() => parseQuote(grown));
    expect([e.code, e.reason, e.message]).toEqual(['ERR_EVIDENCE_MALFORMED', 'malformed_quote', 'quote: 1 unexplained bytes inside the signature data']);
  });
});

describe('verifyDcapQuote options', () => {
  it('a quote of the other TEE than the caller expects -> ERR_EVIDENCE_UNSUPPORTED (tee_mismatch)', async () => {
    const e = await rejects(verifyDcapQuote(SGX_V3.quote, SGX_V3.collateral, { at: SGX_V3.at, tee: 'tdx' }));
    expect([e.code, e.reason, e.message]).toEqual(['ERR_EVIDENCE_UNSUPPORTED', 'tee_mismatch', 'quote is a SGX quote, want TDX']);
  });

  it('a cache of one entry keeps the latest chain and collateral, and results do not change', async () => {
    const cache = createDcapCache(1);
    const cold = await Promise.all([SGX_V3, TDX_V4].map((c) => verifyDcapQuote(c.quote, c.collateral, { at: c.at })));
    for (const [i, c] of [SGX_V3, TDX_V4, SGX_V3].entries()) {
      const r = await verifyDcapQuote(c.quote, c.collateral, { at: c.at, cache });
      expect(r).toEqual(cold[i % 2]);
      expect([cache.chains.size, cache.collateral.size]).toEqual([1, 1]);
      expect([...cache.chains.keys()][0]).toContain(parseQuote(c.quote).pckChainPem);
    }
  });

  it('a cache of zero entries still verifies (it holds at most the last entry)', async () => {
    const cache = createDcapCache(0);
    for (const c of [TDX_V4, TDX_V4]) {
      await expect(verifyDcapQuote(c.quote, c.collateral, { at: c.at, cache })).resolves.toMatchObject({ verdict: 'ok' });
      expect(cache.chains.size).toBe(1);
    }
  });

  it('a PCK CA without a common name is reported by its whole subject', async () => {
    const t = templateFromQuote(SGX_V3.quote);
    const pki = await mintIntelPki({ at: SGX_V3.at, sgxExtension: t.sgxExtension, names: { ...t.names, pckCa: 'O=Intel Corporation, C=US' } });
    const anchor = await anchorFromPem(pki.root.pem, 'test root', false);
    const r = await verifyDcapQuote(reSignQuote(SGX_V3.quote, pki), reSignCollateral(SGX_V3.collateral, pki), { at: SGX_V3.at, trustAnchors: [anchor] });
    const subject = parseCertificate(pki.pckCa.der).subject;
    expect(subject.commonName).toBeUndefined();
    expect(r.claims['pck_ca']).toBe(subject.text);
    expect(r.claims['pck_ca']).toContain('O=Intel Corporation');
  });
});
