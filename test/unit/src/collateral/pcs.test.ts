import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AttestationError } from '../../../../attestation/errors.ts';
import {
  INTEL_PCS_BASE_URL,
  INTEL_ROOT_CA_CRL_URL,
  createPcsProvider,
  decodeCrlBody,
  decodeIssuerChainHeader,
  rawJsonMember,
  type DcapCollateralRequest,
  type PcsProviderOptions,
} from '../../../../src/collateral/pcs.ts';
import { listIntelCases, startFakePcs, type FailureMode, type FakeEndpoint, type FakePcs, type IntelCase } from '../../../fakes/fake-pcs.ts';

const CASES = listIntelCases();
const SGX_CASE = 'sgx-v3-phala-processor-00a067';
const TDX_CASE = 'tdx-v4-phala-b0c06f';

let pcs: FakePcs; // imitates Intel PCS (root CA CRL from the "certificates site" path)
let pccs: FakePcs; // imitates a PCCS (rootcacrl route, hex CRLs, v3 TCB chain header name)

beforeAll(async () => {
  pcs = await startFakePcs();
  pccs = await startFakePcs({ flavour: 'pccs', tcbInfoHeader: 'SGX-TCB-Info-Issuer-Chain' });
});
afterAll(async () => {
  await pcs.close();
  await pccs.close();
});
beforeEach(() => {
  pcs.reset();
  pccs.reset();
});

function urlOf(input: Parameters<typeof fetch>[0]): string {
  if (typeof input === 'string') return input;
  return input instanceof URL ? input.href : input.url;
}

function caseOf(fake: FakePcs, name: string): IntelCase {
  const c = fake.cases.get(name);
  if (c === undefined) throw new Error(`no case ${name}`);
  return c;
}

function reqOf(c: IntelCase): DcapCollateralRequest {
  return { tee: c.tee, fmspc: c.fmspc, ca: c.ca };
}

function pcsProvider(name: string, extra: Partial<PcsProviderOptions> = {}) {
  return createPcsProvider({ baseUrl: pcs.baseUrl(name), kind: 'intel-pcs', rootCaCrlUrl: pcs.rootCaCrlUrl(name), timeoutMs: 2000, ...extra });
}

function pccsProvider(name: string, extra: Partial<PcsProviderOptions> = {}) {
  return createPcsProvider({ baseUrl: pccs.baseUrl(name), kind: 'pccs', timeoutMs: 2000, ...extra });
}

async function expectCode(p: Promise<unknown>, code: string, reason: string, message?: RegExp): Promise<AttestationError> {
  const e: unknown = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(AttestationError.is(e), `expected an AttestationError, got ${String(e)}`).toBe(true);
  const ae = e as AttestationError;
  expect(ae.code).toBe(code);
  expect(ae.reason).toBe(reason);
  if (message) expect(ae.message).toMatch(message);
  return ae;
}

function normalised(c: Record<string, string>): Record<string, string> {
  // CRL hex may differ only in case (the fixtures use lowercase; so does the provider).
  return { ...c, root_ca_crl: c['root_ca_crl']!.toLowerCase(), pck_crl: c['pck_crl']!.toLowerCase() };
}

describe('fixture collateral', () => {
  it('fixture CRL hex is lowercase (the provider emits lowercase too)', () => {
    for (const name of CASES) {
      const c = caseOf(pcs, name).collateral;
      expect(c.pck_crl).toBe(c.pck_crl.toLowerCase());
      expect(c.root_ca_crl).toBe(c.root_ca_crl.toLowerCase());
    }
  });
});

describe.each(CASES)('case %s', (name) => {
  it('Intel PCS shapes: the nine fields equal collateral.json', async () => {
    const c = caseOf(pcs, name);
    const got = await pcsProvider(name).getDcapCollateral(reqOf(c));
    expect(Object.keys(got).sort()).toEqual(Object.keys(c.collateral).sort());
    expect(normalised({ ...got })).toEqual(normalised({ ...c.collateral }));
    // The signed texts must be byte-identical, not merely equal as JSON.
    expect(got.tcb_info).toBe(c.collateral.tcb_info);
    expect(got.qe_identity).toBe(c.collateral.qe_identity);
  });

  it('PCCS shapes (hex root CRL, v3 TCB chain header): the nine fields equal collateral.json', async () => {
    const c = caseOf(pccs, name);
    const got = await pccsProvider(name).getDcapCollateral(reqOf(c));
    expect(normalised({ ...got })).toEqual(normalised({ ...c.collateral }));
  });

  it('requests the right paths for its tee and ca', async () => {
    const c = caseOf(pcs, name);
    await pcsProvider(name).getDcapCollateral(reqOf(c));
    const byPath = new Map(pcs.requests.map((r) => [r.path, r]));
    expect(pcs.requests.every((r) => r.caseName === name && r.method === 'GET')).toBe(true);
    expect(byPath.get('/sgx/certification/v4/pckcrl')?.query).toEqual({ ca: c.ca, encoding: 'der' });
    expect(byPath.get(`/${c.tee}/certification/v4/tcb`)?.query).toEqual({ fmspc: c.fmspc.toUpperCase(), update: 'standard' });
    expect(byPath.get(`/${c.tee}/certification/v4/qe/identity`)?.query).toEqual({ update: 'standard' });
    expect(byPath.has('/IntelSGXRootCA.der')).toBe(true);
    expect(pcs.requests).toHaveLength(4);
  });
});

describe('paths and parameters', () => {
  it('SGX: TCB info and QE identity under /sgx/, PCK CRL for the Processor CA', async () => {
    const c = caseOf(pcs, SGX_CASE);
    await pcsProvider(SGX_CASE).getDcapCollateral(reqOf(c));
    expect(pcs.requests.map((r) => r.path).sort()).toEqual([
      '/IntelSGXRootCA.der',
      '/sgx/certification/v4/pckcrl',
      '/sgx/certification/v4/qe/identity',
      '/sgx/certification/v4/tcb',
    ]);
    expect(pcs.requests.find((r) => r.path.endsWith('/pckcrl'))?.query['ca']).toBe('processor');
  });

  it('TDX: TCB info and QE identity under /tdx/, PCK CRL still under /sgx/ (Platform CA)', async () => {
    const c = caseOf(pcs, TDX_CASE);
    await pcsProvider(TDX_CASE).getDcapCollateral(reqOf(c));
    expect(pcs.requests.map((r) => r.path).sort()).toEqual([
      '/IntelSGXRootCA.der',
      '/sgx/certification/v4/pckcrl',
      '/tdx/certification/v4/qe/identity',
      '/tdx/certification/v4/tcb',
    ]);
    expect(pcs.requests.find((r) => r.path.endsWith('/pckcrl'))?.query['ca']).toBe('platform');
  });

  it('PCCS: root CA CRL from {base}/sgx/certification/v4/rootcacrl', async () => {
    const c = caseOf(pccs, TDX_CASE);
    await pccsProvider(TDX_CASE).getDcapCollateral(reqOf(c));
    expect(pccs.requests.map((r) => r.path)).toContain('/sgx/certification/v4/rootcacrl');
    expect(pccs.requests.map((r) => r.path)).not.toContain('/IntelSGXRootCA.der');
  });

  it.each(['early', 'standard'] as const)('update=%s from the provider option reaches TCB info and QE identity', async (update) => {
    const c = caseOf(pcs, TDX_CASE);
    await pcsProvider(TDX_CASE, { update }).getDcapCollateral(reqOf(c));
    const tcb = pcs.requests.find((r) => r.path === '/tdx/certification/v4/tcb');
    const qe = pcs.requests.find((r) => r.path === '/tdx/certification/v4/qe/identity');
    expect(tcb?.query['update']).toBe(update);
    expect(qe?.query['update']).toBe(update);
  });

  it('a request may override the update type', async () => {
    const c = caseOf(pcs, SGX_CASE);
    const p = pcsProvider(SGX_CASE, { update: 'standard' });
    expect(p.update).toBe('standard');
    await p.getDcapCollateral({ ...reqOf(c), update: 'early' });
    expect(pcs.requests.find((r) => r.path.endsWith('/tcb'))?.query['update']).toBe('early');
  });

  it('accepts a base URL written with /sgx/certification/v4/ (as PCCS URLs often are)', async () => {
    const c = caseOf(pccs, SGX_CASE);
    const p = createPcsProvider({ baseUrl: `${pccs.baseUrl(SGX_CASE)}/sgx/certification/v4/`, kind: 'pccs' });
    expect(p.baseUrl).toBe(pccs.baseUrl(SGX_CASE));
    const got = await p.getDcapCollateral(reqOf(c));
    expect(got.tcb_info).toBe(c.collateral.tcb_info);
  });

  it('accepts upper-case FMSPC in the request', async () => {
    const c = caseOf(pcs, TDX_CASE);
    const got = await pcsProvider(TDX_CASE).getDcapCollateral({ ...reqOf(c), fmspc: c.fmspc.toUpperCase() });
    expect(got.tcb_info).toBe(c.collateral.tcb_info);
  });

  it('returns the signed member text verbatim, never a re-serialisation', async () => {
    // Whitespace, a \u escape and a trailing-zero number all change under JSON.stringify(JSON.parse()).
    const c = caseOf(pcs, SGX_CASE);
    const odd = c.collateral.tcb_info.replace('{"id":"SGX"', '{ "id" : "S\\u0047X" , "extra": 1.50').replace(/"version":3/, '"version":3 ');
    expect(JSON.stringify(JSON.parse(odd))).not.toBe(odd);
    const swap: typeof fetch = async (input, init) => {
      const url = urlOf(input);
      const res = await fetch(url, init);
      if (!url.includes('/tcb?')) return res;
      const headers = new Headers(res.headers);
      headers.delete('content-length');
      return new Response(`{\n  "signature" : "${c.collateral.tcb_info_signature}",\n  "tcbInfo" : ${odd}\n}\n`, { status: 200, headers });
    };
    const got = await pcsProvider(SGX_CASE, { fetch: swap }).getDcapCollateral(reqOf(c));
    expect(got.tcb_info).toBe(odd);
  });

  it('PCK CRL as PEM (PCS default) or hex (PCCS default) decodes to the same DER', async () => {
    // A fetch that drops encoding=der, so the fakes answer in their default CRL encodings.
    const dropEncoding: typeof fetch = (input, init) => fetch(urlOf(input).replace('&encoding=der', ''), init);
    for (const [fake, make] of [
      [pcs, pcsProvider],
      [pccs, pccsProvider],
    ] as const) {
      const c = caseOf(fake, SGX_CASE);
      const got = await make(SGX_CASE, { fetch: dropEncoding }).getDcapCollateral(reqOf(c));
      expect(got.pck_crl).toBe(c.collateral.pck_crl);
      expect(fake.requests.find((r) => r.path.endsWith('/pckcrl'))?.query['encoding']).toBeUndefined();
    }
  });

  it('defaults: Intel base URL means kind intel-pcs and the root CRL from Intel certificates site (no network in this test)', async () => {
    const seen: string[] = [];
    const offline: typeof fetch = (input) => {
      seen.push(urlOf(input));
      return Promise.reject(new TypeError('fetch failed'));
    };
    const p = createPcsProvider({ baseUrl: INTEL_PCS_BASE_URL, fetch: offline });
    expect(p.kind).toBe('intel-pcs');
    expect(p.update).toBe('standard');
    await expectCode(p.getDcapCollateral({ tee: 'tdx', fmspc: 'b0c06f000000', ca: 'platform' }), 'ERR_COLLATERAL_UNAVAILABLE', 'collateral_unavailable');
    expect(seen.sort()).toEqual(
      [
        `${INTEL_PCS_BASE_URL}/sgx/certification/v4/pckcrl?ca=platform&encoding=der`,
        `${INTEL_PCS_BASE_URL}/tdx/certification/v4/qe/identity?update=standard`,
        `${INTEL_PCS_BASE_URL}/tdx/certification/v4/tcb?fmspc=B0C06F000000&update=standard`,
        INTEL_ROOT_CA_CRL_URL,
      ].sort(),
    );
    expect(createPcsProvider({ baseUrl: 'https://pccs.example:8081' }).kind).toBe('pccs');
  });
});

describe('failures', () => {
  const endpoints: readonly FakeEndpoint[] = ['pckcrl', 'tcb', 'qe_identity', 'root_ca_crl_der'];
  const withChain: readonly FakeEndpoint[] = ['pckcrl', 'tcb', 'qe_identity'];
  const table: { endpoint: FakeEndpoint; mode: FailureMode; code: string; reason: string; message: RegExp }[] = [];
  for (const endpoint of endpoints) {
    table.push({ endpoint, mode: 'http500', code: 'ERR_COLLATERAL_UNAVAILABLE', reason: 'collateral_unavailable', message: /returned HTTP 500, want 200/ });
    table.push({ endpoint, mode: 'http404', code: 'ERR_COLLATERAL_UNAVAILABLE', reason: 'collateral_unavailable', message: /returned HTTP 404/ });
    table.push({ endpoint, mode: 'hang', code: 'ERR_COLLATERAL_UNAVAILABLE', reason: 'collateral_unavailable', message: /timed out after 300 ms/ });
    table.push({ endpoint, mode: 'garbage', code: 'ERR_COLLATERAL_MALFORMED', reason: 'collateral_malformed', message: /GET http:\/\/127\.0\.0\.1/ });
  }
  for (const endpoint of withChain) {
    table.push({ endpoint, mode: 'missing-header', code: 'ERR_COLLATERAL_MALFORMED', reason: 'collateral_malformed', message: /Issuer-Chain header/ });
    table.push({ endpoint, mode: 'bad-chain', code: 'ERR_COLLATERAL_MALFORMED', reason: 'collateral_malformed', message: /not a PEM certificate chain/ });
  }

  it.each(table)('$endpoint $mode -> $code', async ({ endpoint, mode, code, reason, message }) => {
    pcs.fail(endpoint, mode);
    const c = caseOf(pcs, TDX_CASE);
    const e = await expectCode(pcsProvider(TDX_CASE, { timeoutMs: 300 }).getDcapCollateral(reqOf(c)), code, reason, message);
    if (mode === 'http500' || mode === 'http404') {
      // The message names the URL that failed.
      const paths: Record<FakeEndpoint, string> = { pckcrl: '/pckcrl', tcb: '/tcb', qe_identity: '/qe/identity', rootcacrl: '/rootcacrl', root_ca_crl_der: '/IntelSGXRootCA.der' };
      const path = paths[endpoint];
      expect(e.message).toContain(path);
    }
  });

  it('PCCS rootcacrl failures too', async () => {
    pccs.fail('rootcacrl', 'http500');
    const c = caseOf(pccs, SGX_CASE);
    await expectCode(pccsProvider(SGX_CASE).getDcapCollateral(reqOf(c)), 'ERR_COLLATERAL_UNAVAILABLE', 'collateral_unavailable', /rootcacrl returned HTTP 500/);
    pccs.fail('rootcacrl', 'garbage');
    await expectCode(pccsProvider(SGX_CASE).getDcapCollateral(reqOf(c)), 'ERR_COLLATERAL_MALFORMED', 'collateral_malformed', /Root CA CRL/);
  });

  it('an FMSPC the service does not know gives UNAVAILABLE (HTTP 404)', async () => {
    await expectCode(
      pcsProvider(TDX_CASE).getDcapCollateral({ tee: 'tdx', fmspc: '00906ed50000', ca: 'platform' }),
      'ERR_COLLATERAL_UNAVAILABLE',
      'collateral_unavailable',
      /tcb\?fmspc=00906ED50000&update=standard returned HTTP 404/,
    );
  });

  it('connection refused gives UNAVAILABLE with the cause kept', async () => {
    const s = createServer();
    await new Promise<void>((r) => {
      s.listen(0, '127.0.0.1', r);
    });
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((r) => {
      s.close(() => {
        r();
      });
    });
    const p = createPcsProvider({ baseUrl: `http://127.0.0.1:${port}`, kind: 'pccs', timeoutMs: 2000 });
    const e = await expectCode(p.getDcapCollateral({ tee: 'sgx', fmspc: '00a067110000', ca: 'processor' }), 'ERR_COLLATERAL_UNAVAILABLE', 'collateral_unavailable', /failed/);
    expect(e.cause).toBeDefined();
  });

  it('a fetch that throws a TypeError is wrapped, never leaked', async () => {
    const broken: typeof fetch = () => Promise.reject(new TypeError('fetch failed', { cause: new Error('ECONNRESET') }));
    const e = await expectCode(
      createPcsProvider({ baseUrl: 'https://pccs.invalid', fetch: broken }).getDcapCollateral({ tee: 'sgx', fmspc: '00a067110000', ca: 'processor' }),
      'ERR_COLLATERAL_UNAVAILABLE',
      'collateral_unavailable',
      /fetch failed: ECONNRESET/,
    );
    expect(e.cause).toBeInstanceOf(TypeError);
  });

  it('TCB info for another TEE is a mismatch (misrouted answer)', async () => {
    // Route the SGX case's TCB request to the TDX case's TDX TCB info.
    const tdx = caseOf(pcs, TDX_CASE);
    const reroute: typeof fetch = (input, init) => {
      const url = urlOf(input);
      return fetch(url.includes('/tcb?') ? `${pcs.baseUrl(TDX_CASE)}/tdx/certification/v4/tcb?fmspc=${tdx.fmspc}` : url, init);
    };
    const c = caseOf(pcs, SGX_CASE);
    await expectCode(pcsProvider(SGX_CASE, { fetch: reroute }).getDcapCollateral(reqOf(c)), 'ERR_COLLATERAL_MISMATCH', 'collateral_mismatch', /tcbInfo.id is "TDX", want "SGX"/);
  });

  it('QE identity for another TEE is a mismatch', async () => {
    const reroute: typeof fetch = (input, init) => {
      const url = urlOf(input);
      return fetch(url.includes('/qe/identity') ? `${pcs.baseUrl(TDX_CASE)}/tdx/certification/v4/qe/identity` : url, init);
    };
    const c = caseOf(pcs, SGX_CASE);
    await expectCode(pcsProvider(SGX_CASE, { fetch: reroute }).getDcapCollateral(reqOf(c)), 'ERR_COLLATERAL_MISMATCH', 'collateral_mismatch', /enclaveIdentity.id is "TD_QE", want "QE"/);
  });

  it('a 200 with a body over the size limit is refused', async () => {
    const big: typeof fetch = () => Promise.resolve(new Response('x', { status: 200, headers: { 'content-length': String(64 * 1024 * 1024) } }));
    await expectCode(
      createPcsProvider({ baseUrl: 'https://pccs.invalid', fetch: big }).getDcapCollateral({ tee: 'sgx', fmspc: '00a067110000', ca: 'processor' }),
      'ERR_COLLATERAL_MALFORMED',
      'collateral_malformed',
      /exceeds/,
    );
  });

  it.each([
    ['bad fmspc', { tee: 'sgx', fmspc: '00a06711000', ca: 'processor' }],
    ['fmspc with a query injection', { tee: 'sgx', fmspc: '00a067&x=1aa', ca: 'processor' }],
    ['bad tee', { tee: 'snp', fmspc: '00a067110000', ca: 'processor' }],
    ['bad ca', { tee: 'sgx', fmspc: '00a067110000', ca: 'root' }],
    ['bad update', { tee: 'sgx', fmspc: '00a067110000', ca: 'processor', update: 'late' }],
  ])('%s: ERR_INVALID_ARGUMENT before any request', async (_n, req) => {
    await expectCode(pcsProvider(SGX_CASE).getDcapCollateral(req as unknown as DcapCollateralRequest), 'ERR_INVALID_ARGUMENT', 'invalid_argument');
    expect(pcs.requests).toHaveLength(0);
  });

  it('bad options are refused at construction', () => {
    expect(() => createPcsProvider({ baseUrl: 'not a url' })).toThrow(/baseUrl is not a URL/);
    expect(() => createPcsProvider({ baseUrl: 'ftp://x' })).toThrow(/http/);
    expect(() => createPcsProvider({ baseUrl: 'https://x', timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => createPcsProvider({ baseUrl: 'https://x', update: 'late' as 'early' })).toThrow(/update/);
  });
});

describe('rawJsonMember', () => {
  it('returns the exact text, whitespace and escapes included', () => {
    const inner = '{ "a" : "}{\\"[" , "b":[1,{"c":"\\\\"}], "n": -1.5e3 }';
    const body = ` {"signature" : "ab", "tcbInfo" :${inner} , "z": null}`;
    expect(rawJsonMember(body, 'tcbInfo')).toBe(inner);
    expect(rawJsonMember(body, 'signature')).toBe('"ab"');
    expect(rawJsonMember(body, 'z')).toBe('null');
  });

  it('matches an escaped member name by its value', () => {
    expect(rawJsonMember('{"tcb\\u0049nfo":{"x":1}}', 'tcbInfo')).toBe('{"x":1}');
  });

  it.each([
    ['missing member', '{"a":1}', /missing/],
    ['empty object', '{}', /missing/],
    ['duplicate member', '{"tcbInfo":{},"tcbInfo":{"x":1}}', /more than once/],
    ['not an object', '[1]', /not a JSON object/],
    ['unterminated', '{"tcbInfo":{"a":"}', /unterminated/],
    ['missing colon', '{"tcbInfo" {}}', /expected ":"/],
    ['trailing junk in members', '{"tcbInfo":{} "x":1}', /expected "," or "}"/],
  ])('%s -> ERR_COLLATERAL_MALFORMED', (_n, text, msg) => {
    let e: unknown;
    try {
      rawJsonMember(text, 'tcbInfo');
    } catch (err: unknown) {
      e = err;
    }
    expect(AttestationError.is(e)).toBe(true);
    expect((e as AttestationError).code).toBe('ERR_COLLATERAL_MALFORMED');
    expect((e as AttestationError).message).toMatch(msg);
  });

  it('every fixture tcb_info / qe_identity survives a real wrapper body unchanged', () => {
    for (const name of CASES) {
      const c = caseOf(pcs, name).collateral;
      expect(rawJsonMember(`{"tcbInfo":${c.tcb_info},"signature":"${c.tcb_info_signature}"}`, 'tcbInfo')).toBe(c.tcb_info);
      expect(rawJsonMember(`{"enclaveIdentity":${c.qe_identity},"signature":"${c.qe_identity_signature}"}`, 'enclaveIdentity')).toBe(c.qe_identity);
    }
  });
});

describe('body and header decoders', () => {
  const c = () => caseOf(pcs, SGX_CASE).collateral;
  const der = () => Uint8Array.from(Buffer.from(c().pck_crl, 'hex'));

  it('CRL: DER, PEM, lower and upper hex all decode to the same DER', () => {
    const d = der();
    const b64 = Buffer.from(d).toString('base64').replace(/.{64}/g, '$&\n');
    expect(decodeCrlBody(d)).toEqual(d);
    expect(decodeCrlBody(new TextEncoder().encode(`-----BEGIN X509 CRL-----\n${b64}\n-----END X509 CRL-----\n`))).toEqual(d);
    expect(decodeCrlBody(new TextEncoder().encode(c().pck_crl))).toEqual(d);
    expect(decodeCrlBody(new TextEncoder().encode(c().pck_crl.toUpperCase() + '\n'))).toEqual(d);
  });

  it.each([
    ['empty', new Uint8Array(0)],
    ['html', new TextEncoder().encode('<html></html>')],
    ['odd hex', new TextEncoder().encode('308')],
    ['truncated DER', Uint8Array.from([0x30, 0x82, 0x01])],
    ['invalid UTF-8', Uint8Array.from([0xff, 0xfe])],
    ['hex of a non-CRL', new TextEncoder().encode('3000')],
  ])('CRL %s -> ERR_COLLATERAL_MALFORMED', (_n, body) => {
    expect(() => decodeCrlBody(body)).toThrow(expect.objectContaining({ code: 'ERR_COLLATERAL_MALFORMED', reason: 'collateral_malformed' }) as Error);
  });

  it('issuer chain: percent-decoding keeps "+" and repairs form-encoded armour lines', () => {
    const pem = c().tcb_info_issuer_chain;
    expect(pem).toContain('+');
    expect(decodeIssuerChainHeader(encodeURIComponent(pem))).toBe(pem);
    const formStyle = encodeURIComponent(pem).replace(/%20/g, '+');
    expect(decodeIssuerChainHeader(formStyle)).toBe(pem);
    expect(() => decodeIssuerChainHeader('%E0%A4%A')).toThrow(expect.objectContaining({ code: 'ERR_COLLATERAL_MALFORMED' }) as Error);
  });
});
