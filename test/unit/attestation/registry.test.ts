/**
 * The one entry point: collateral files are recognised by content, exactly one DCAP bundle is
 * required, and the caches given in the options reach the TEE verifiers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSevSnpCache } from '../../../attestation/amd/verify.ts';
import { createDcapCache } from '../../../attestation/intel/verify.ts';
import { findDcapCollateral, verifyEvidence, type CollateralFile } from '../../../attestation/registry.ts';
import { errorOf } from '../../helpers/errors.ts';
import { FIXTURES, readBytes } from '../../helpers/fixtures.ts';

const at = (dir: string): Date => new Date((JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { verify_at: string }).verify_at);
const file = (dir: string, name: string): CollateralFile => ({ name, bytes: readBytes(dir, name) });

const SGX = join(FIXTURES, 'intel', 'sgx-v3-phala-processor-00a067');
const SNP = join(FIXTURES, 'amd', 'genoa-v2-oak');

describe('findDcapCollateral', () => {
  it('no bundle among the files -> ERR_COLLATERAL_UNAVAILABLE', () => {
    const files = [file(SGX, 'case.json'), { name: 'broken.json', bytes: new TextEncoder().encode('{ "tcb_info": ') }, file(SGX, 'quote.bin')];
    const e = errorOf(() => findDcapCollateral(files));
    expect([e.code, e.reason]).toEqual(['ERR_COLLATERAL_UNAVAILABLE', 'collateral_missing']);
  });

  it('two bundles -> ERR_INVALID_ARGUMENT naming both files', () => {
    const bundle = readBytes(SGX, 'collateral.json');
    const e = errorOf(() => findDcapCollateral([{ name: 'a.json', bytes: bundle }, { name: 'b.json', bytes: bundle }]));
    expect([e.code, e.reason]).toEqual(['ERR_INVALID_ARGUMENT', 'collateral_ambiguous']);
    expect(e.message).toContain('(a.json, b.json)');
  });
});

describe('verifyEvidence with caches', () => {
  it('SGX: the DCAP cache is filled and a warm call gives the cold result', async () => {
    const dcapCache = createDcapCache();
    const input = { tee: 'sgx' as const, evidence: readBytes(SGX, 'quote.bin'), collateral: [file(SGX, 'collateral.json')] };
    const cold = await verifyEvidence(input, { at: at(SGX), dcapCache });
    expect([dcapCache.chains.size, dcapCache.collateral.size]).toEqual([1, 1]);
    expect(await verifyEvidence(input, { at: at(SGX), dcapCache })).toEqual(cold);
    expect(cold).toMatchObject({ verdict: 'ok', tee: 'sgx' });
  });

  it('SEV-SNP: the SNP cache holds the chain and both files, and a warm call gives the cold result', async () => {
    const snpCache = createSevSnpCache();
    const input = { tee: 'sev-snp' as const, evidence: readBytes(SNP, 'report.bin'), collateral: [file(SNP, 'vcek.der'), file(SNP, 'cert_chain.pem')] };
    const cold = await verifyEvidence(input, { at: at(SNP), snpCache });
    expect([snpCache.chains.size, snpCache.files.size]).toEqual([1, 2]);
    expect(await verifyEvidence(input, { at: at(SNP), snpCache })).toEqual(cold);
    expect(cold).toMatchObject({ verdict: 'ok', tee: 'sev-snp' });
  });
});

describe('SEV-SNP files found in a directory', () => {
  it('an optional file that is not collateral is skipped; the same file named explicitly is refused', async () => {
    const base = [file(SNP, 'vcek.der'), file(SNP, 'cert_chain.pem')];
    const evidence = readBytes(SNP, 'report.bin');
    const caseJson = file(SNP, 'case.json');
    await expect(verifyEvidence({ tee: 'sev-snp', evidence, collateral: [...base, { ...caseJson, optional: true }] }, { at: at(SNP) })).resolves.toMatchObject({ verdict: 'ok' });
    const e = await verifyEvidence({ tee: 'sev-snp', evidence, collateral: [...base, caseJson] }, { at: at(SNP) }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toMatchObject({ code: 'ERR_COLLATERAL_MALFORMED', reason: 'collateral_unrecognised' });
  });
});
