/**
 * A misbehaving backend (not an enclave): a node:http server that answers `POST /v1/attest` by
 * proxying to a real enclave, so that the gateway admits it with genuine evidence and key, and
 * answers inference by proxying too, then (depending on `mode`) spoiling the answer:
 *   - `pass`: unchanged;
 *   - `wrong-key`: the enclave's receipt claims re-signed with another ES256 key (same kid);
 *   - `tamper-body`: the response body changed after the enclave signed its digest;
 *   - `replay`: the last genuine infer answer (receipt and body) sent again, without asking the
 *     enclave (what anyone on the path between gateway and enclave can do).
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { CompactSign, decodeProtectedHeader } from 'jose';

export type FakeMode = 'pass' | 'wrong-key' | 'tamper-body' | 'replay';

export interface FakeBackend {
  readonly url: string;
  mode: FakeMode;
  /** Requests seen, by path. */
  readonly seen: string[];
  close(): Promise<void>;
}

interface Upstream {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function forward(target: string, method: string, path: string, headers: IncomingHttpHeaders, body: Buffer): Promise<Upstream> {
  const u = new URL(path, target);
  const h: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v === 'string' && !['host', 'connection', 'content-length', 'keep-alive'].includes(k)) h[k] = v;
  }
  return new Promise((res, rej) => {
    const req = httpRequest(u, { method, headers: { ...h, 'content-length': String(body.length) } }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => {
        res({ status: r.statusCode ?? 0, headers: r.headers, body: Buffer.concat(chunks) });
      });
      r.on('error', rej);
    });
    req.on('error', rej);
    req.end(body);
  });
}

export async function startFakeBackend(target: string): Promise<FakeBackend> {
  const wrongKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const seen: string[] = [];
  const fake: { mode: FakeMode } = { mode: 'pass' };
  let last: Upstream | undefined;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      seen.push(path);
      void (async () => {
        const isInfer = path.endsWith('/infer');
        if (isInfer && fake.mode === 'replay' && last === undefined) throw new Error('replay: nothing recorded yet');
        const up = isInfer && fake.mode === 'replay' && last !== undefined ? last : await forward(target, req.method ?? 'GET', path, req.headers, Buffer.concat(chunks));
        if (isInfer && up.status === 200 && fake.mode === 'pass') last = up;
        let body = up.body;
        let receipt = typeof up.headers['attestgate-receipt'] === 'string' ? up.headers['attestgate-receipt'] : undefined;
        if (isInfer && up.status === 200 && receipt !== undefined) {
          if (fake.mode === 'wrong-key') {
            const [, payload] = receipt.split('.');
            receipt = await new CompactSign(new Uint8Array(Buffer.from(payload!, 'base64url')))
              .setProtectedHeader(decodeProtectedHeader(receipt) as { alg: string })
              .sign(wrongKey);
          } else if (fake.mode === 'tamper-body') {
            // Same length, other bytes: 'setosa' label 0 becomes 2.
            body = Buffer.from(body.toString('utf8').replace('"data":[0]', '"data":[2]'));
            if (body.equals(up.body)) throw new Error('tamper-body: nothing to tamper with');
          }
        }
        const headers: Record<string, string> = { 'content-type': up.headers['content-type'] ?? 'application/json', 'content-length': String(body.length) };
        if (receipt !== undefined) headers['attestgate-receipt'] = receipt;
        res.writeHead(up.status, headers);
        res.end(body);
      })().catch((e: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: String(e), code: 'ERR_FAKE' }));
      });
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    get mode() {
      return fake.mode;
    },
    set mode(m: FakeMode) {
      fake.mode = m;
    },
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((res) => server.close(() => { res(); }));
    },
  };
}
