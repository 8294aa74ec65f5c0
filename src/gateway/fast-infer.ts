/**
 * The inference route on `node:http` directly, for the ordinary form of the request: POST to the
 * canonical path (lower case, no percent-encoding, no query string, no trailing slash), a
 * Content-Length within the body limit, no Content-Encoding other than identity, no chunked body
 * and no Expect. That is what OIP clients send; it takes every answer's path past express's
 * router, its middleware chain and body-parser, which cost as much as the receipt check and the
 * countersignature together.
 *
 * Every other form (and every other route) goes to the express app, which answers it exactly as
 * before: this handler only claims requests whose answer it produces identically (same checks in
 * the same order, same status, headers and body; test/integration/fast-infer.test.ts compares the
 * two byte for byte).
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { NONCE_HEADER } from '../../enclave/protocol.ts';
import type { GatewayMetrics } from '../obs/metrics.ts';
import { authorizeInference, forwardInfer, JSON_TYPE, NAME, type InferDeps, type Reply } from './infer.ts';
import { errorAnswer, measureRequest } from './request-outcome.ts';

/** The canonical path, with names and versions as NAME spells them (the express route checks the same). */
const SEGMENT = NAME.source.replace(/^\^/, '').replace(/\$$/, '');
const CANONICAL = new RegExp(`^/v2/models/(${SEGMENT})(?:/versions/(${SEGMENT}))?/infer$`);
/** The express route patterns, as metrics label them. */
const ROUTE = '/v2/models/:name/infer';
const VERSIONED_ROUTE = '/v2/models/:name/versions/:version/infer';

export interface FastInferDeps extends InferDeps {
  readonly metrics: GatewayMetrics;
  readonly maxBodyBytes: number;
}

/**
 * The request this handler claims, or undefined when express must take it (an unusual form whose
 * exact answer, e.g. 413, 415 or a percent-decoded name, is express's and body-parser's to give).
 */
export function fastInferTarget(method: string | undefined, url: string | undefined, h: IncomingHttpHeaders, maxBodyBytes: number): { name: string; version: string | undefined; length: number } | undefined {
  if (method !== 'POST') return undefined;
  const m = CANONICAL.exec(url ?? '');
  if (m === null) return undefined;
  if (h['transfer-encoding'] !== undefined || h.expect !== undefined) return undefined;
  const encoding = h['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return undefined;
  const lengthHeader = h['content-length'];
  if (lengthHeader === undefined || !/^[0-9]{1,15}$/.test(lengthHeader)) return undefined;
  const length = Number(lengthHeader);
  if (length > maxBodyBytes) return undefined;
  return { name: m[1] ?? '', version: m[2], length };
}

/** Returns a handler that answers the request and returns true, or returns false and leaves it untouched. */
export function createFastInfer(d: FastInferDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  const write = (res: ServerResponse, r: Reply): void => {
    res.statusCode = r.status;
    for (const [k, v] of Object.entries(r.headers)) res.setHeader(k, v);
    res.setHeader('Content-Type', r.contentType);
    res.setHeader('Content-Length', r.body.byteLength);
    res.end(r.body);
  };

  const fail = (res: ServerResponse, e: unknown, retryAfterS?: number): void => {
    const { status, body } = errorAnswer(e, e, d.log);
    if (res.headersSent) return;
    if (retryAfterS !== undefined) res.setHeader('retry-after', String(retryAfterS));
    write(res, { status, contentType: JSON_TYPE, headers: {}, body: Buffer.from(JSON.stringify(body)) });
  };

  const readBody = (req: IncomingMessage, length: number): Promise<Uint8Array | undefined> =>
    new Promise((resolve) => {
      if (length === 0) {
        // Node ends a request with Content-Length 0 at once; nothing to wait for.
        resolve(new Uint8Array());
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        chunks.push(c);
        size += c.length;
      });
      req.once('end', () => {
        // Node's parser frames the body by Content-Length; a short one ends in 'aborted', not here.
        resolve(size === length ? new Uint8Array(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size)) : undefined);
      });
      req.once('error', () => {
        resolve(undefined);
      });
      // A client gone before the end of its body: Node 20 emits 'aborted', 'error', 'close'; 'close'
      // alone would do as well, so no path leaves this promise pending (after 'end' it is a no-op).
      req.once('close', () => {
        resolve(undefined);
      });
    });

  const handle = async (req: IncomingMessage, res: ServerResponse, name: string, version: string | undefined, length: number): Promise<void> => {
    const refused = await authorizeInference(d, req.headersDistinct, req.socket.remoteAddress);
    if (refused !== undefined) {
      fail(res, refused.error, refused.retryAfterS);
      return;
    }
    const body = await readBody(req, length);
    // The client went away while sending: nobody is left to answer.
    if (body === undefined) return;
    const nonce = req.headers[NONCE_HEADER];
    const reply = await forwardInfer(d, { name, version, body, nonce: typeof nonce === 'string' ? nonce : undefined, accept: req.headers.accept });
    write(res, reply);
  };

  return (req, res) => {
    const target = fastInferTarget(req.method, req.url, req.headers, d.maxBodyBytes);
    if (target === undefined) return false;
    const { name, version, length } = target;
    const route = version === undefined ? ROUTE : VERSIONED_ROUTE;
    measureRequest(res, 'POST', () => route, d.metrics, d.log);
    handle(req, res, name, version, length).catch((e: unknown) => {
      fail(res, e);
    });
    return true;
  };
}
