/**
 * The gateway's HTTP API (express), built from injected dependencies and never listening by
 * itself, so tests drive it directly. Routes (docs/gateway.md):
 *   OIP v2 in front: /v2/health/live|ready, /v2, /v2/models, /v2/models/{name}[/versions/{v}],
 *     POST /v2/models/{name}[/versions/{v}]/infer (authenticated, rate limited, size limited)
 *   /v1/attestations/{id}   the EAR token, evidence and collateral of one attestation
 *   /v1/receipts/{id}       a receipt as recorded: its JWS, digest, attestation, backend, model and
 *                           log index (/v1/receipts/{id}/proof adds the offline proof bundle)
 *   /v1/policy              the appraisal policy in force, normalised, with its digest (clients
 *                           that bring no policy of their own appraise against it, and check that
 *                           its digest is the one each attestation record names)
 *   /.well-known/jwks.json  the gateway key and every admitted enclave key
 *   /metrics                Prometheus text
 *   /v1/log/*               the transparency log (mounted by the caller)
 * Fail closed: no admitted backend for a model -> 503 with the reasons; a bad receipt -> the
 * backend is evicted and the client gets 502, never the answer.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { JWK } from 'jose';
import { NONCE_HEADER } from '../../enclave/protocol.ts';
import type { RateLimiter } from '../auth/rate-limit.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../obs/log.ts';
import { PROMETHEUS_CONTENT_TYPE } from '../obs/metrics.ts';
import type { GatewayMetrics } from '../obs/metrics.ts';
import type { Policy } from '../../attestation/policy/schema.ts';
import type { GatewayKey } from '../signing/keys.ts';
import type { Store } from '../store/store.ts';
import { authorizeInference, forwardInfer, NAME, type ReceiptSink } from './infer.ts';
import type { BackendPool } from './pool.ts';
import { errorAnswer, measureRequest } from './request-outcome.ts';

export interface GatewayDeps {
  readonly store: Store;
  readonly pool: BackendPool;
  readonly key: GatewayKey;
  readonly log: Logger;
  readonly metrics: GatewayMetrics;
  readonly limiter: RateLimiter;
  readonly now: () => number;
  readonly demo: boolean;
  readonly maxBodyBytes: number;
  readonly receipts: ReceiptSink;
  /** The policy every admission is appraised under, and its digest (attestation/policy/digest.ts). */
  readonly policy: { readonly policy: Policy; readonly digest: string };
  /** Extra routers (the transparency log) mounted before the error handler. */
  readonly mount?: (app: express.Express) => void;
}

type Handler = (req: Request, res: Response) => Promise<void>;
const wrap =
  (h: Handler) =>
  (req: Request, res: Response, next: NextFunction): void => {
    h(req, res).catch(next);
  };

function param(req: Request, name: string): string {
  const v = (req.params as Record<string, string | undefined>)[name];
  if (v === undefined || !NAME.test(v)) throw new AppError('ERR_BAD_REQUEST', `path parameter ${name} must match ${NAME.source}`);
  return v;
}

/**
 * Express and body-parser signal a client's mistake with an error carrying a 4xx `status` (a body
 * too large, an unsupported encoding, a path segment that is not valid percent-encoding, ...):
 * each becomes a typed AppError with a fixed message. Their own messages are not passed on or
 * logged, because they quote the raw path or headers, which can hold a secret.
 */
function clientError(e: unknown, maxBodyBytes: number): unknown {
  const o = (typeof e === 'object' && e !== null ? e : {}) as { type?: unknown; status?: unknown; statusCode?: unknown };
  const status = typeof o.status === 'number' ? o.status : typeof o.statusCode === 'number' ? o.statusCode : undefined;
  if (status === undefined || status < 400 || status > 499) return e;
  switch (o.type) {
    case 'entity.too.large':
      return new AppError('ERR_BODY_TOO_LARGE', `request body exceeds the limit of ${maxBodyBytes} bytes`);
    case 'encoding.unsupported':
      return new AppError('ERR_UNSUPPORTED_MEDIA_TYPE', 'request bodies are forwarded to the enclave byte for byte: send them without Content-Encoding');
    case 'request.aborted':
    case 'request.size.invalid':
      return new AppError('ERR_BAD_REQUEST', 'request body could not be read');
    default:
      return new AppError('ERR_BAD_REQUEST', e instanceof URIError ? 'a path segment is not valid percent-encoding' : `the request could not be read (HTTP ${status})`);
  }
}

export function createApp(d: GatewayDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  // Metrics and one structured log line per request (no bodies, no keys, no query strings).
  app.use((req, res, next) => {
    measureRequest(
      res,
      req.method,
      () => {
        const route = (req.route as { path?: unknown } | undefined)?.path;
        return typeof route === 'string' ? route : 'unmatched';
      },
      d.metrics,
      d.log,
    );
    next();
  });

  // ---- health and metadata -------------------------------------------------------------------
  app.get('/v2/health/live', (_req, res) => {
    res.json({ live: true });
  });
  app.get('/v2/health/ready', (_req, res) => {
    const backends = d.pool.backends.map((b) => ({ name: b.name, state: d.pool.usable(b) ? 'admitted' : b.state, reason: b.reason ?? null }));
    const ready = backends.some((b) => b.state === 'admitted');
    res.status(ready ? 200 : 503).json({ ready, backends });
  });
  app.get('/v2', (_req, res) => {
    res.json({ name: 'attestgate', version: '1', extensions: ['attestgate-receipts', 'attestgate-ear'] });
  });
  app.get('/metrics', (_req, res) => {
    d.metrics.admittedBackends.set({}, d.pool.backends.filter((b) => d.pool.usable(b)).length);
    res.type(PROMETHEUS_CONTENT_TYPE).send(d.metrics.registry.expose());
  });
  app.get('/.well-known/jwks.json', (_req, res) => {
    const enclaveKeys: JWK[] = [];
    for (const b of d.pool.backends) if (d.pool.usable(b) && b.admission.key !== undefined) enclaveKeys.push({ ...b.admission.key });
    res.set('cache-control', 'no-store').json({ keys: [d.key.jwk, ...enclaveKeys] });
  });

  // ---- authentication and rate limits for the inference API ----------------------------------
  const authorize = async (req: Request, res: Response): Promise<void> => {
    const refused = await authorizeInference(d, req.headersDistinct, req.socket.remoteAddress);
    if (refused === undefined) return;
    if (refused.retryAfterS !== undefined) res.set('retry-after', String(refused.retryAfterS));
    throw refused.error;
  };
  const authThen =
    (h: Handler) =>
    (req: Request, res: Response, next: NextFunction): void => {
      authorize(req, res)
        .then(() => h(req, res))
        .catch(next);
    };

  app.get(
    '/v2/models',
    authThen(async (_req, res) => {
      await Promise.resolve();
      res.json({ models: d.pool.models().map((m) => ({ name: m.name, version: m.version, sha256: m.sha256 })) });
    }),
  );

  const metadata: Handler = async (req, res) => {
    const name = param(req, 'name');
    const version = req.params['version'] === undefined ? undefined : param(req, 'version');
    const b = d.pool.pick(name, version);
    if (b === undefined) throw new AppError('ERR_NO_BACKEND', `no admitted backend serves model ${name}${version === undefined ? '' : ` version ${version}`}`);
    const path = `/v2/models/${name}${version === undefined ? '' : `/versions/${version}`}`;
    const r = await b.client.request('GET', path, undefined, {}, 1024 * 1024);
    res.status(r.status).type('application/json').send(Buffer.from(r.body));
  };
  app.get('/v2/models/:name', authThen(metadata));
  app.get('/v2/models/:name/versions/:version', authThen(metadata));

  // ---- inference -----------------------------------------------------------------------------
  // inflate: false: a gzip body would otherwise be inflated before forwarding, and the receipt
  // would cover bytes the client never sent. Encoded bodies are refused (415) instead.
  const raw = express.raw({ type: () => true, limit: d.maxBodyBytes, inflate: false });
  const infer: Handler = async (req, res) => {
    const reply = await forwardInfer(d, {
      name: param(req, 'name'),
      version: req.params['version'] === undefined ? undefined : param(req, 'version'),
      body: Buffer.isBuffer(req.body) ? new Uint8Array(req.body) : new Uint8Array(),
      nonce: req.get(NONCE_HEADER),
      accept: req.get('accept'),
    });
    res.status(reply.status).set(reply.headers).type(reply.contentType).send(Buffer.from(reply.body.buffer, reply.body.byteOffset, reply.body.byteLength));
  };
  const authMw = (req: Request, res: Response, next: NextFunction): void => {
    authorize(req, res).then(() => {
      next();
    }, next);
  };
  app.post('/v2/models/:name/infer', authMw, raw, wrap(infer));
  app.post('/v2/models/:name/versions/:version/infer', authMw, raw, wrap(infer));

  // ---- records -------------------------------------------------------------------------------
  app.get('/v1/policy', (_req, res) => {
    res.set('cache-control', 'no-cache').json({ name: d.policy.policy.name, digest: d.policy.digest, policy: d.policy.policy });
  });
  app.get(
    '/v1/attestations/:id',
    wrap(async (req, res) => {
      const id = String(req.params['id'] ?? '');
      if (!/^[0-9a-f-]{36}$/.test(id)) throw new AppError('ERR_BAD_REQUEST', 'attestation id must be a UUID');
      const rec = await d.store.getAttestation(id);
      if (rec === undefined) throw new AppError('ERR_NOT_FOUND', `no attestation ${id}`);
      res.type('application/json').send(rec.record_json);
    }),
  );
  app.get(
    '/v1/receipts/:id',
    wrap(async (req, res) => {
      const id = String(req.params['id'] ?? '');
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new AppError('ERR_BAD_REQUEST', 'receipt id must be base64url');
      const rec = await d.store.getReceipt(id);
      if (rec === undefined) throw new AppError('ERR_NOT_FOUND', `no receipt ${id}`);
      res.type('application/json').send(rec.body_json);
    }),
  );

  d.mount?.(app);

  app.use((req, _res, next) => {
    next(new AppError('ERR_NOT_FOUND', `no route for ${req.method} ${req.path}`));
  });
  // The only place that maps errors to HTTP.
  // Express recognises an error handler by its four parameters, so `_next` must stay.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  app.use((e: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const { status, body } = errorAnswer(AppError.is(e) ? e : clientError(e, d.maxBodyBytes), e, d.log);
    if (res.headersSent) return;
    res.status(status).json(body);
  });
  return app;
}
