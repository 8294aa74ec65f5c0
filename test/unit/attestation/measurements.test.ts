/**
 * measurementOf (parse only) and measurementOfResult (from verified claims) name the same values
 * for every TEE, so a receipt's measurement can be compared key by key with a verified result. A
 * measurement the evidence does not state (a Nitro PCR left out) is "" on both sides.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifySevSnp } from '../../../attestation/amd/verify.ts';
import { toHex } from '../../../attestation/common/bytes.ts';
import { toDcapCollateral } from '../../../attestation/intel/bundle.ts';
import { verifyDcapQuote } from '../../../attestation/intel/verify.ts';
import { MEASUREMENT_CLAIMS, measurementOf, measurementOfResult } from '../../../attestation/measurements.ts';
import { verifyNitro } from '../../../attestation/nitro/verify.ts';
import type { EvidenceResult } from '../../../attestation/result.ts';
import { errorOf } from '../../helpers/errors.ts';
import { FIXTURES, readBytes } from '../../helpers/fixtures.ts';
import { mintNitroPki, payloadFields, PCR, signDocument } from './nitro/fake-nitro.ts';

const at = (dir: string): Date => new Date((JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { verify_at: string }).verify_at);

async function intel(name: string): Promise<{ evidence: Uint8Array; result: EvidenceResult }> {
  const dir = join(FIXTURES, 'intel', name);
  const evidence = readBytes(dir, 'quote.bin');
  const collateral = toDcapCollateral(JSON.parse(readFileSync(join(dir, 'collateral.json'), 'utf8')));
  return { evidence, result: await verifyDcapQuote(evidence, collateral, { at: at(dir) }) };
}

describe('measurementOf agrees with measurementOfResult', () => {
  it('SGX: MRENCLAVE and MRSIGNER', async () => {
    const { evidence, result } = await intel('sgx-v3-phala-processor-00a067');
    const m = measurementOf('sgx', evidence);
    expect(Object.keys(m)).toEqual(MEASUREMENT_CLAIMS.sgx);
    expect(m['mrenclave']).toMatch(/^[0-9a-f]{64}$/);
    expect(measurementOfResult(result)).toEqual(m);
  });

  it('TDX: MRTD and RTMR0-3', async () => {
    const { evidence, result } = await intel('tdx-v4-phala-b0c06f');
    const m = measurementOf('tdx', evidence);
    expect(Object.keys(m)).toEqual(MEASUREMENT_CLAIMS.tdx);
    expect(m['rtmr3']).toMatch(/^[0-9a-f]{96}$/);
    expect(measurementOfResult(result)).toEqual(m);
  });

  it('SEV-SNP: MEASUREMENT', async () => {
    const dir = join(FIXTURES, 'amd', 'genoa-v2-oak');
    const evidence = readBytes(dir, 'report.bin');
    const result = await verifySevSnp({ report: evidence, vek: readBytes(dir, 'vcek.der'), certChain: readFileSync(join(dir, 'cert_chain.pem'), 'utf8') }, { at: at(dir) });
    const m = measurementOf('sev-snp', evidence);
    expect(m['measurement']).toMatch(/^[0-9a-f]{96}$/);
    expect(measurementOfResult(result)).toEqual(m);
  });

  it('Nitro: PCR0-2, and "" for a PCR the document leaves out', async () => {
    const now = new Date('2024-06-01T12:00:00.000Z');
    const pki = await mintNitroPki(now);
    const opts = { at: now, trustAnchors: [pki.anchor], allowDebug: true };
    const full = signDocument(pki, payloadFields(pki, now));
    expect(measurementOf('nitro', full)).toEqual({ pcr0: toHex(PCR(1)), pcr1: toHex(PCR(2)), pcr2: toHex(PCR(3)) });
    expect(measurementOfResult(await verifyNitro(full, opts))).toEqual(measurementOf('nitro', full));

    const partial = signDocument(pki, payloadFields(pki, now, { pcrs: { map: [[0, PCR(7)], [4, PCR(4)]] } }));
    expect(measurementOf('nitro', partial)).toEqual({ pcr0: toHex(PCR(7)), pcr1: '', pcr2: '' });
    expect(measurementOfResult(await verifyNitro(partial, opts))).toEqual(measurementOf('nitro', partial));
  });
});

describe('measurementOfResult on claims without the measurement', () => {
  it('a missing or non-string claim reads as ""', async () => {
    const { result } = await intel('sgx-v3-phala-processor-00a067');
    expect(measurementOfResult({ ...result, claims: { mrenclave: 7 } })).toEqual({ mrenclave: '', mrsigner: '' });
    expect(measurementOfResult({ ...result, tee: 'nitro', claims: {} })).toEqual({ pcr0: '', pcr1: '', pcr2: '' });
  });
});

describe('measurementOf on malformed evidence', () => {
  it('raises the parser error', () => {
    for (const tee of ['sgx', 'tdx', 'sev-snp', 'nitro'] as const) {
      expect(errorOf(() => measurementOf(tee, Uint8Array.of(1, 2, 3))).code).toBe('ERR_EVIDENCE_MALFORMED');
    }
  });
});
