/**
 * The AMD KDS client against a local fake KDS serving the fixture files: URL formats (including
 * Turin's), end-to-end verification with fetched collateral, the cache, and failure modes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAmdCrl } from '../../../../attestation/amd/cert.ts';
import { parseProduct } from '../../../../attestation/amd/kds.ts';
import { verifySevSnp } from '../../../../attestation/amd/verify.ts';
import { concatBytes, fromHex } from '../../../../attestation/common/bytes.ts';
import { AttestationError } from '../../../../attestation/errors.ts';
import { AMD_KDS_BASE_URL, createKdsClient } from '../../../../src/collateral/kds.ts';
import { AMD_FIXTURES_DIR, startFakeKds, type FakeKds } from '../../../fakes/fake-kds.ts';

let kds: FakeKds;
beforeAll(async () => {
  kds = await startFakeKds();
});
afterAll(async () => {
  await kds.close();
});

interface Case {
  name: string;
  report: Uint8Array;
  at: Date;
  product: string;
}
const caseOf = (name: string): Case => {
  const c = JSON.parse(readFileSync(join(AMD_FIXTURES_DIR, name, 'case.json'), 'utf8')) as { verify_at: string; product: string };
  return { name, report: new Uint8Array(readFileSync(join(AMD_FIXTURES_DIR, name, 'report.bin'))), at: new Date(c.verify_at), product: c.product };
};

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e: unknown) {
    if (AttestationError.is(e)) return e.code;
    throw e;
  }
  return 'ok';
}

describe('KDS URLs', () => {
  const client = createKdsClient();
  it('defaults to AMD KDS; VCEK path with the four SPLs (Milan, Genoa)', () => {
    expect(client.baseUrl).toBe(AMD_KDS_BASE_URL);
    const chip = new Uint8Array(64).fill(0xab);
    expect(client.vcekUrl('genoa', chip, 0x3e0f000000000007n)).toBe(
      `https://kdsintf.amd.com/vcek/v1/Genoa/${'ab'.repeat(64)}?blSPL=7&teeSPL=0&snpSPL=15&ucodeSPL=62`,
    );
  });
  it("Turin: 8-byte hwid (16 hex digits) and fmcSPL first", () => {
    const chip = concatBytes(fromHex('3b42092f69c656d3'), new Uint8Array(56));
    expect(client.vcekUrl('turin', chip, 0x4700000002000100n)).toBe(
      'https://kdsintf.amd.com/vcek/v1/Turin/3b42092f69c656d3?fmcSPL=0&blSPL=1&teeSPL=0&snpSPL=2&ucodeSPL=71',
    );
  });
  it('cert_chain and crl for VCEK and VLEK; configurable base without trailing slash', () => {
    const c = createKdsClient({ baseUrl: 'http://kds.internal:8080/' });
    expect(c.certChainUrl('milan')).toBe('http://kds.internal:8080/vcek/v1/Milan/cert_chain');
    expect(c.certChainUrl('milan', 'vlek')).toBe('http://kds.internal:8080/vlek/v1/Milan/cert_chain');
    expect(c.crlUrl('turin')).toBe('http://kds.internal:8080/vcek/v1/Turin/crl');
    expect(c.crlUrl('genoa', 'vlek')).toBe('http://kds.internal:8080/vlek/v1/Genoa/crl');
  });
  it('refuses bad options', () => {
    expect(() => createKdsClient({ baseUrl: 'ftp://x' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => createKdsClient({ baseUrl: 'not a url' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => createKdsClient({ timeoutMs: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('fetching from the fake KDS', () => {
  const VCEK_CASES = ['milan-v2-virtee', 'milan-v3-oak-rk', 'milan-v5-gcp-teekit', 'genoa-v2-oak', 'genoa-v5-oak', 'turin-v5-oak'];
  it.each(VCEK_CASES)('%s: collateral from KDS verifies', async (name) => {
    const c = caseOf(name);
    const client = createKdsClient({ baseUrl: kds.baseUrl });
    const product = parseProduct(c.product)!;
    // v2 reports carry no CPUID: the product must be given.
    const input = await client.collateralFor(c.report, c.report[0] === 2 ? { product } : {});
    const r = await verifySevSnp(input, { at: c.at });
    expect(r.verdict).toBe('ok');
  });

  it('caches responses: a second request, and concurrent ones, hit KDS once', async () => {
    const c = caseOf('turin-v5-oak');
    const client = createKdsClient({ baseUrl: kds.baseUrl });
    const before = kds.requests.length;
    await Promise.all([client.collateralFor(c.report), client.collateralFor(c.report)]);
    await client.collateralFor(c.report);
    expect(kds.requests.length - before).toBe(2); // one VCEK, one cert_chain
    expect(client.size).toBe(2);
    client.clear();
    await client.collateralFor(c.report);
    expect(kds.requests.length - before).toBe(4);
  });

  it('a cached VCEK is served until its notAfter only', async () => {
    const c = caseOf('genoa-v5-oak');
    let now = c.at.getTime();
    const client = createKdsClient({ baseUrl: kds.baseUrl, clock: () => now });
    await client.collateralFor(c.report);
    const before = kds.requests.length;
    await client.collateralFor(c.report);
    expect(kds.requests.length).toBe(before);
    now = Date.parse('2040-01-01T00:00:00Z'); // after the VCEK's notAfter (2032)
    await client.collateralFor(c.report);
    expect(kds.requests.length).toBeGreaterThan(before);
  });

  it('v2 without a product, a VLEK report: refused before any request', async () => {
    const client = createKdsClient({ baseUrl: kds.baseUrl });
    expect(await code(client.collateralFor(caseOf('genoa-v2-oak').report))).toBe('ERR_INVALID_ARGUMENT');
    expect(await code(client.collateralFor(caseOf('milan-v3-vlek-aws-trustee').report))).toBe('ERR_COLLATERAL_UNAVAILABLE');
  });

  it('the VLEK cert_chain (ASVK, ARK) is served under /vlek/', async () => {
    const client = createKdsClient({ baseUrl: kds.baseUrl });
    const chain = await client.getCertChain('milan', 'vlek');
    expect(chain).toBe(readFileSync(join(AMD_FIXTURES_DIR, 'milan-v3-vlek-aws-trustee', 'cert_chain.pem'), 'utf8'));
  });

  it('an unknown TCB is a 404 -> ERR_COLLATERAL_UNAVAILABLE', async () => {
    const client = createKdsClient({ baseUrl: kds.baseUrl });
    expect(await code(client.getVcek('milan', new Uint8Array(64).fill(1), 0n))).toBe('ERR_COLLATERAL_UNAVAILABLE');
  });

  it('the CRL is fetched, parsed, and cached until min(nextUpdate, crlMaxAge)', async () => {
    // Structurally valid (verify.ts checks the signature against the ARK; here only the shape matters).
    const tlv = (tag: number, body: Uint8Array): Uint8Array => concatBytes(Uint8Array.of(tag, body.length), body);
    const utc = (s: string): Uint8Array => tlv(0x17, new TextEncoder().encode(s));
    const alg = fromHex('300d06092a864886f70d01010c0500');
    const name = tlv(0x30, tlv(0x31, tlv(0x30, concatBytes(fromHex('0603550403'), tlv(0x0c, new TextEncoder().encode('ARK-Milan'))))));
    const tbs = tlv(0x30, concatBytes(fromHex('020101'), alg, name, utc('240101000000Z'), utc('240102000000Z')));
    const crl = tlv(0x30, concatBytes(tbs, alg, fromHex('030200ff')));
    expect(parseAmdCrl(crl).nextUpdate).toBe(Date.parse('2024-01-02T00:00:00Z'));
    kds.setCrl('vcek', 'Milan', crl);
    let now = Date.parse('2024-01-01T12:00:00Z');
    const client = createKdsClient({ baseUrl: kds.baseUrl, clock: () => now, crlMaxAgeMs: 60_000 });
    expect(await client.getCrl('milan')).toEqual(crl);
    const before = kds.requests.length;
    await client.getCrl('milan');
    expect(kds.requests.length).toBe(before);
    now += 60_001;
    await client.getCrl('milan');
    expect(kds.requests.length).toBe(before + 1);
    // With the CRL requested, collateralFor returns it for the verifier.
    const c = caseOf('milan-v3-oak-rk');
    const input = await client.collateralFor(c.report, { crl: true });
    expect(input.crl).toEqual(crl);
  });
});

describe('failures', () => {
  const report = caseOf('milan-v3-oak-rk').report;
  it.each([
    ['http500', 'ERR_COLLATERAL_UNAVAILABLE'],
    ['http429', 'ERR_COLLATERAL_UNAVAILABLE'],
    ['http404', 'ERR_COLLATERAL_UNAVAILABLE'],
    ['garbage', 'ERR_COLLATERAL_MALFORMED'],
  ] as const)('%s -> %s', async (mode, want) => {
    const client = createKdsClient({ baseUrl: kds.baseUrl });
    kds.fail('/vcek/v1/Milan/', mode);
    try {
      expect(await code(client.collateralFor(report))).toBe(want);
    } finally {
      kds.clearFailures();
    }
  });

  it('a hanging KDS times out -> ERR_COLLATERAL_UNAVAILABLE', async () => {
    const client = createKdsClient({ baseUrl: kds.baseUrl, timeoutMs: 200 });
    kds.fail('cert_chain', 'hang');
    try {
      expect(await code(client.getCertChain('genoa'))).toBe('ERR_COLLATERAL_UNAVAILABLE');
    } finally {
      kds.clearFailures();
    }
  });

  it('nothing listening -> ERR_COLLATERAL_UNAVAILABLE, and failures are not cached', async () => {
    const closed = await startFakeKds();
    const url = closed.baseUrl;
    await closed.close();
    const client = createKdsClient({ baseUrl: url, timeoutMs: 2000 });
    expect(await code(client.getCertChain('milan'))).toBe('ERR_COLLATERAL_UNAVAILABLE');
    expect(client.size).toBe(0);
  });

  it('an injected fetch that throws -> ERR_COLLATERAL_UNAVAILABLE with the cause kept', async () => {
    const boom = new TypeError('fetch failed', { cause: new Error('ECONNRESET') });
    const client = createKdsClient({ fetch: () => Promise.reject(boom) });
    try {
      await client.getCertChain('turin');
      expect.unreachable();
    } catch (e: unknown) {
      expect(AttestationError.is(e) && e.code).toBe('ERR_COLLATERAL_UNAVAILABLE');
      expect((e as Error).cause).toBe(boom);
      expect((e as Error).message).toContain('ECONNRESET');
    }
  });
});
