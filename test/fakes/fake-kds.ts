/**
 * A fake AMD KDS for tests: node:http on 127.0.0.1, an ephemeral port, no internet. It serves the
 * real fixture files of test/fixtures/amd/ under KDS's paths:
 *   /vcek/v1/{Milan|Genoa|Turin}/{hwid}?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=..[&fmcSPL=..]  VCEK (DER)
 *   /{vcek|vlek}/v1/{product}/cert_chain                                                   PEM
 *   /{vcek|vlek}/v1/{product}/crl                                                          DER (when set)
 * A VCEK is served only when the hwid and every SPL match a fixture VCEK exactly (the query
 * parameters' order does not matter, as on KDS); anything else is 404. Every request is recorded;
 * failures can be injected.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const AMD_FIXTURES_DIR = fileURLToPath(new URL('../fixtures/amd/', import.meta.url));

export type KdsFailure = 'http500' | 'http429' | 'http404' | 'hang' | 'garbage';

interface VcekEntry {
  readonly product: string;
  readonly hwid: string;
  readonly query: Readonly<Record<string, string>>;
  readonly der: Uint8Array;
}

export interface FakeKds {
  readonly baseUrl: string;
  readonly requests: string[];
  /** Make every request whose path contains `pathPart` fail in the given way (until cleared). */
  fail(pathPart: string, mode: KdsFailure): void;
  clearFailures(): void;
  setCrl(kind: 'vcek' | 'vlek', product: string, der: Uint8Array): void;
  close(): Promise<void>;
}

interface CaseJson {
  product: string;
  files: { vek: string; vek_kind: string; cert_chain: string };
  expected: { vek_extensions: { blSPL: number; teeSPL: number; snpSPL: number; ucodeSPL: number; fmcSPL: number | null; hwID: string | null } };
}

function derOf(path: string): Uint8Array {
  const b = readFileSync(path);
  if (!path.endsWith('.pem')) return new Uint8Array(b);
  const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(b.toString('latin1'));
  return new Uint8Array(Buffer.from((m?.[1] ?? '').replace(/\s/g, ''), 'base64'));
}

function load(): { vceks: VcekEntry[]; chains: Map<string, string> } {
  const vceks: VcekEntry[] = [];
  const chains = new Map<string, string>();
  for (const d of readdirSync(AMD_FIXTURES_DIR)) {
    const f = join(AMD_FIXTURES_DIR, d, 'case.json');
    if (!existsSync(f)) continue;
    const c = JSON.parse(readFileSync(f, 'utf8')) as CaseJson;
    const kind = c.files.vek_kind === 'VLEK' ? 'vlek' : 'vcek';
    chains.set(`${kind}/${c.product}`, readFileSync(join(AMD_FIXTURES_DIR, d, c.files.cert_chain), 'utf8'));
    const e = c.expected.vek_extensions;
    if (kind !== 'vcek' || e.hwID === null) continue;
    const query: Record<string, string> = { blSPL: String(e.blSPL), teeSPL: String(e.teeSPL), snpSPL: String(e.snpSPL), ucodeSPL: String(e.ucodeSPL) };
    if (e.fmcSPL !== null) query['fmcSPL'] = String(e.fmcSPL);
    vceks.push({ product: c.product, hwid: e.hwID.toLowerCase(), query, der: derOf(join(AMD_FIXTURES_DIR, d, c.files.vek)) });
  }
  return { vceks, chains };
}

export async function startFakeKds(): Promise<FakeKds> {
  const { vceks, chains } = load();
  const crls = new Map<string, Uint8Array>();
  const failures = new Map<string, KdsFailure>();
  const requests: string[] = [];
  const hanging = new Set<ServerResponse>();

  /** Returns true so that handlers can `return send(...)`. */
  const send = (res: ServerResponse, status: number, body: Uint8Array | string, type: string): true => {
    res.writeHead(status, { 'content-type': type });
    res.end(body);
    return true;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    requests.push(`${url.pathname}${url.search}`);
    for (const [part, mode] of failures) {
      if (!url.pathname.includes(part)) continue;
      if (mode === 'hang') {
        hanging.add(res);
        return false;
      }
      if (mode === 'garbage') return send(res, 200, 'this is not a certificate', 'application/octet-stream');
      return send(res, mode === 'http500' ? 500 : mode === 'http429' ? 429 : 404, 'error', 'text/plain');
    }
    const m = /^\/(vcek|vlek)\/v1\/([A-Za-z]+)\/([^/]+)$/.exec(url.pathname);
    if (m === null) return send(res, 404, 'not found', 'text/plain');
    const [, kind, product, last] = m as unknown as [string, string, string, string];
    if (last === 'cert_chain') {
      const chain = chains.get(`${kind}/${product}`);
      return chain === undefined ? send(res, 404, 'not found', 'text/plain') : send(res, 200, chain, 'application/x-pem-file');
    }
    if (last === 'crl') {
      const crl = crls.get(`${kind}/${product}`);
      return crl === undefined ? send(res, 404, 'not found', 'text/plain') : send(res, 200, crl, 'application/pkix-crl');
    }
    const params = Object.fromEntries(url.searchParams);
    const hit = vceks.find(
      (v) =>
        kind === 'vcek' &&
        v.product === product &&
        v.hwid === last.toLowerCase() &&
        Object.keys(params).length === Object.keys(v.query).length &&
        Object.entries(v.query).every(([k, want]) => params[k] === want),
    );
    return hit === undefined ? send(res, 404, 'not found', 'text/plain') : send(res, 200, hit.der, 'application/octet-stream');
  };
  const server = createServer((req, res) => {
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    fail(part, mode) {
      failures.set(part, mode);
    },
    clearFailures() {
      failures.clear();
    },
    setCrl(kind, product, der) {
      crls.set(`${kind}/${product}`, der);
    },
    async close() {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}
