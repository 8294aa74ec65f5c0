/**
 * A fake Intel PCS / PCCS for tests: node:http on 127.0.0.1, an ephemeral port, no internet.
 *
 * Each fixture case (test/fixtures/intel/<case>/collateral.json) is served as its own service
 * under the path prefix `/<case>`, because every case is a snapshot of the service at a different
 * time (different CRLs, QE identities); a real PCS has only "now". Point a provider at
 * `fake.baseUrl(case)`.
 *
 * Responses have the real shapes:
 *   /sgx/certification/v4/pckcrl?ca=..&encoding=der  DER body (PEM without encoding on `intel-pcs`,
 *                                                    hex text on `pccs`), SGX-PCK-CRL-Issuer-Chain
 *   /{sgx|tdx}/certification/v4/tcb?fmspc=..          {"tcbInfo":<signed text>,"signature":"hex"},
 *                                                    TCB-Info-Issuer-Chain (configurable name)
 *   /{sgx|tdx}/certification/v4/qe/identity           {"enclaveIdentity":<signed text>,"signature":"hex"},
 *                                                    SGX-Enclave-Identity-Issuer-Chain
 *   /sgx/certification/v4/rootcacrl (pccs only)       hex text of the Root CA CRL (what PCCS sends)
 *   /IntelSGXRootCA.der                               DER (Intel's certificates site)
 * Chains go out percent-encoded, as Intel sends them. Wrong tee, fmspc or ca gives 404, as on PCS.
 *
 * Every request is recorded; failures can be injected per endpoint.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DcapCollateral } from '../../attestation/intel/bundle.ts';

export const INTEL_FIXTURES_DIR = fileURLToPath(new URL('../fixtures/intel/', import.meta.url));

export type FakeEndpoint = 'pckcrl' | 'tcb' | 'qe_identity' | 'rootcacrl' | 'root_ca_crl_der';
export type FailureMode =
  | 'http500'
  | 'http404'
  /** Never answers (until the fake closes): the client must time out. */
  | 'hang'
  /** 200 with the right headers and a body that is not what the endpoint returns. */
  | 'garbage'
  /** 200 with the right body and no issuer-chain header. */
  | 'missing-header'
  /** 200 with an issuer-chain header that is not a PEM chain. */
  | 'bad-chain';

/** The fixture collateral.json layout is the library's offline bundle. */
export type FixtureCollateral = DcapCollateral;

export interface IntelCase {
  readonly name: string;
  readonly tee: 'sgx' | 'tdx';
  /** Lowercase, as in case.json. */
  readonly fmspc: string;
  readonly ca: 'platform' | 'processor';
  readonly verifyAt: number;
  readonly collateral: FixtureCollateral;
}

export interface RecordedRequest {
  readonly method: string;
  /** Case prefix the request was addressed to ('' if none matched). */
  readonly caseName: string;
  /** Path below the case prefix, e.g. `/tdx/certification/v4/tcb`. */
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** The raw request target, e.g. `/case/tdx/certification/v4/tcb?fmspc=...`. */
  readonly url: string;
}

export interface FakePcsOptions {
  /** Fixture case folder names; default: every case in test/fixtures/intel. */
  readonly cases?: readonly string[];
  /** Which service to imitate. Default `intel-pcs`. */
  readonly flavour?: 'intel-pcs' | 'pccs';
  /** Name of the TCB info chain header. Default `TCB-Info-Issuer-Chain` (v4). */
  readonly tcbInfoHeader?: string;
}

export interface FakePcs {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly cases: ReadonlyMap<string, IntelCase>;
  readonly requests: RecordedRequest[];
  /** Base URL of one case's service. */
  baseUrl(caseName: string): string;
  /** Intel-certificates-site style URL of one case's Root CA CRL (DER). */
  rootCaCrlUrl(caseName: string): string;
  /** Make an endpoint fail (for all cases) until cleared with `undefined`. */
  fail(endpoint: FakeEndpoint, mode: FailureMode | undefined): void;
  /** Clear recorded requests and injected failures. */
  reset(): void;
  close(): Promise<void>;
}

export function loadIntelCase(name: string, dir = INTEL_FIXTURES_DIR): IntelCase {
  const caseJson = JSON.parse(readFileSync(join(dir, name, 'case.json'), 'utf8'));
  const collateral = JSON.parse(readFileSync(join(dir, name, 'collateral.json'), 'utf8')) as FixtureCollateral;
  const pckCa: string = caseJson.expected.pck_ca;
  const ca = pckCa === 'Intel SGX PCK Processor CA' ? 'processor' : pckCa === 'Intel SGX PCK Platform CA' ? 'platform' : undefined;
  if (ca === undefined) throw new Error(`${name}: unknown pck_ca ${pckCa}`);
  const tee: unknown = caseJson.tee;
  if (tee !== 'sgx' && tee !== 'tdx') throw new Error(`${name}: unexpected tee ${String(tee)}`);
  return { name, tee, fmspc: String(caseJson.expected.fmspc).toLowerCase(), ca, verifyAt: Date.parse(caseJson.verify_at), collateral };
}

export function listIntelCases(dir = INTEL_FIXTURES_DIR): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

/** Intel percent-encodes the PEM chain (spaces, newlines, '+', '/', '='). */
function encodeChain(pem: string): string {
  return encodeURIComponent(pem);
}

export async function startFakePcs(opts: FakePcsOptions = {}): Promise<FakePcs> {
  const flavour = opts.flavour ?? 'intel-pcs';
  const tcbHeader = opts.tcbInfoHeader ?? 'TCB-Info-Issuer-Chain';
  const cases = new Map<string, IntelCase>();
  for (const name of opts.cases ?? listIntelCases()) cases.set(name, loadIntelCase(name));
  const requests: RecordedRequest[] = [];
  const failures = new Map<FakeEndpoint, FailureMode>();
  const hanging = new Set<ServerResponse>();

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const target = new URL(req.url ?? '/', 'http://fake');
    const segs = target.pathname.split('/');
    const caseName = segs[1] !== undefined && cases.has(decodeURIComponent(segs[1])) ? decodeURIComponent(segs[1]) : '';
    const path = caseName === '' ? target.pathname : '/' + segs.slice(2).join('/');
    const query: Record<string, string> = {};
    for (const [k, v] of target.searchParams) query[k] = v;
    requests.push({ method: req.method ?? '', caseName, path, query, url: req.url ?? '' });

    const c = cases.get(caseName);
    const notFound = (why: string): void => {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(why);
    };
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (c === undefined) {
      notFound('no such case');
      return;
    }

    const route = routeOf(path, flavour);
    if (route === undefined) {
      notFound('no such route');
      return;
    }
    const { endpoint, tee } = route;

    const mode = failures.get(endpoint);
    if (mode === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    if (mode === 'http500' || mode === 'http404') {
      res.writeHead(mode === 'http500' ? 500 : 404, { 'content-type': 'text/plain', 'request-id': 'fake' }).end('injected failure');
      return;
    }

    const chainValue = (pem: string): string => (mode === 'bad-chain' ? encodeChain('-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n') : encodeChain(pem));
    const send = (status: number, headers: Record<string, string>, body: Uint8Array | string): void => {
      const h = Object.fromEntries(
        Object.entries({ ...headers, 'request-id': 'fake' }).filter(([k]) => mode !== 'missing-header' || !/issuer-chain$/i.test(k)),
      );
      res.writeHead(status, h).end(mode === 'garbage' ? '<html>502 Bad Gateway</html>' : body);
    };
    const col = c.collateral;

    switch (endpoint) {
      case 'pckcrl': {
        const ca = query['ca']?.toLowerCase();
        if (ca !== 'platform' && ca !== 'processor') {
          res.writeHead(400).end();
          return;
        }
        // The fixture holds only the CRL of the CA that issued the quote's PCK.
        if (ca !== c.ca) {
          notFound(`no ${ca} CRL in fixture ${c.name}`);
          return;
        }
        const der = Buffer.from(col.pck_crl, 'hex');
        const encoding = query['encoding']?.toLowerCase();
        const headers = { 'SGX-PCK-CRL-Issuer-Chain': chainValue(col.pck_crl_issuer_chain) };
        if (encoding === 'der') send(200, { ...headers, 'content-type': 'application/pkix-crl' }, der);
        else if (flavour === 'pccs') send(200, { ...headers, 'content-type': 'application/x-pem-file' }, col.pck_crl);
        else send(200, { ...headers, 'content-type': 'application/x-pem-file' }, toPemCrl(der));
        return;
      }
      case 'tcb': {
        if (!checkUpdate(query, res)) return;
        if (tee !== c.tee || query['fmspc']?.toLowerCase() !== c.fmspc) {
          notFound('TCB info not found');
          return;
        }
        send(
          200,
          { 'content-type': 'application/json', [tcbHeader]: chainValue(col.tcb_info_issuer_chain) },
          `{"tcbInfo":${col.tcb_info},"signature":"${col.tcb_info_signature}"}`,
        );
        return;
      }
      case 'qe_identity': {
        if (!checkUpdate(query, res)) return;
        if (tee !== c.tee) {
          notFound('identity not found');
          return;
        }
        send(
          200,
          { 'content-type': 'application/json', 'SGX-Enclave-Identity-Issuer-Chain': chainValue(col.qe_identity_issuer_chain) },
          `{"enclaveIdentity":${col.qe_identity},"signature":"${col.qe_identity_signature}"}`,
        );
        return;
      }
      case 'rootcacrl':
        // Current PCCS answers with the hex text of the DER CRL.
        send(200, { 'content-type': 'application/x-pem-file' }, col.root_ca_crl);
        return;
      case 'root_ca_crl_der':
        send(200, { 'content-type': 'application/pkix-crl' }, Buffer.from(col.root_ca_crl, 'hex'));
        return;
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    cases,
    requests,
    baseUrl: (name) => `${url}/${encodeURIComponent(name)}`,
    rootCaCrlUrl: (name) => `${url}/${encodeURIComponent(name)}/IntelSGXRootCA.der`,
    fail(endpoint, mode) {
      if (mode === undefined) failures.delete(endpoint);
      else failures.set(endpoint, mode);
    },
    reset() {
      requests.length = 0;
      failures.clear();
    },
    close() {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => {
        server.close((e) => {
          if (e) reject(e);
          else resolve();
        });
      });
    },
  };
}

function routeOf(path: string, flavour: 'intel-pcs' | 'pccs'): { endpoint: FakeEndpoint; tee: 'sgx' | 'tdx' } | undefined {
  if (path === '/IntelSGXRootCA.der') return { endpoint: 'root_ca_crl_der', tee: 'sgx' };
  const m = /^\/(sgx|tdx)\/certification\/v4\/(pckcrl|tcb|qe\/identity|rootcacrl)$/.exec(path);
  if (m === null) return undefined;
  const tee = m[1] as 'sgx' | 'tdx';
  const what = m[2];
  // PCK CRLs and the root CA CRL live under /sgx/ only, on both services.
  if ((what === 'pckcrl' || what === 'rootcacrl') && tee !== 'sgx') return undefined;
  if (what === 'rootcacrl' && flavour !== 'pccs') return undefined;
  const endpoint: FakeEndpoint = what === 'pckcrl' ? 'pckcrl' : what === 'tcb' ? 'tcb' : what === 'rootcacrl' ? 'rootcacrl' : 'qe_identity';
  return { endpoint, tee };
}

function checkUpdate(query: Record<string, string>, res: ServerResponse): boolean {
  const u = query['update'];
  if (u !== undefined && u !== 'early' && u !== 'standard') {
    res.writeHead(400).end('bad update');
    return false;
  }
  return true;
}

function toPemCrl(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN X509 CRL-----\n${lines.join('\n')}\n-----END X509 CRL-----\n`;
}
