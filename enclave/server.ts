/**
 * The enclave's HTTP server (node:http; no framework inside the TEE): the Open Inference Protocol
 * v2 endpoints for the loaded models, and `POST /v1/attest` for the gateway. Every infer answer
 * carries a receipt signed by the enclave key (`attestgate-receipt` header). Request bodies are
 * bounded, JSON is parsed to unknown and validated, and every failure is a clear JSON error;
 * nothing a client sends can crash the process.
 *
 * The host is not trusted: it can drop or delay requests, but it cannot make the enclave sign a
 * receipt for bytes it did not receive or evidence for a key it does not hold.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { BINDING_VERSION, reportDataFor } from '../attestation/binding.ts';
import { measurementOf, type Measurement } from '../attestation/measurements.ts';
import { CLIENT_NONCE } from '../attestation/receipt.ts';
import { AttesterError, type Attester } from './attesters/attester.ts';
import type { EnclaveKey } from './keys.ts';
import { ANSWER_JWS_TYP, EVIDENCE_HEADER, NONCE_HEADER, RECEIPT_HEADER, type AttestResponseBody } from './protocol.ts';
import { buildReceipt, signReceipt } from './receipt.ts';

/** What the server needs from the model runtime (enclave/runtime/*), kept narrow so tests can fake it. */
export interface ModelRuntime {
  /** The loaded models, as the binding's manifest digest covers them. */
  readonly models: readonly { readonly name: string; readonly version: string; readonly sha256: string }[];
  readonly runtime: { readonly name: string; readonly version: string };
  /** OIP model metadata, or undefined when no such model/version is loaded. */
  metadata(name: string, version: string | undefined): unknown;
  /**
   * Run one OIP infer request (the exact body bytes). Resolves with the exact response bytes and
   * the model that ran; rejects with an error carrying `status` (4xx for the client's fault) and `message`.
   */
  infer(name: string, version: string | undefined, body: Uint8Array): Promise<{ response: Uint8Array; model: { name: string; version: string; sha256: string } }>;
}

export interface EnclaveServerOptions {
  readonly key: EnclaveKey;
  readonly attester: Attester;
  readonly runtime: ModelRuntime;
  /** Largest request body accepted, bytes (default 1 MiB). */
  readonly maxBodyBytes?: number;
  readonly now?: () => Date;
  /** Called with one structured line per event; never with bodies or secrets. */
  readonly log?: (event: Record<string, unknown>) => void;
}

export interface EnclaveServer {
  readonly server: Server;
  /** Evidence produced so far (newest last, bounded), by SHA-256 hex. */
  readonly evidenceDigests: () => readonly string[];
  /** Counters for tests and the reliability suite: requests served per route kind. */
  readonly counters: { attest: number; infer: number; rejected: number };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const MAX_EVIDENCE_KEPT = 32;

function wantsJose(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  return typeof accept === 'string' && accept.toLowerCase().includes('application/jose+json');
}
const sha256hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function readBody(req: IncomingMessage, max: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (Number.isFinite(declared) && declared > max) {
      reject(new HttpError(413, 'ERR_BODY_TOO_LARGE', `request body is ${declared} bytes, the limit is ${max}`));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > max) {
        done = true;
        reject(new HttpError(413, 'ERR_BODY_TOO_LARGE', `request body exceeds the limit of ${max} bytes`));
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!done) resolve(new Uint8Array(Buffer.concat(chunks)));
    });
    req.on('error', (e) => {
      if (!done) reject(new HttpError(400, 'ERR_BAD_REQUEST', `request body could not be read: ${e.message}`));
    });
  });
}

function send(res: ServerResponse, status: number, body: Uint8Array | string, headers: Record<string, string> = {}): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(bytes.length), 'cache-control': 'no-store', ...headers });
  res.end(bytes);
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  send(res, status, JSON.stringify(value), headers);
}

function fromB64url(s: unknown, what: string, size: number): Uint8Array {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]+$/.test(s)) throw new HttpError(400, 'ERR_BAD_REQUEST', `${what} must be base64url`);
  const b = new Uint8Array(Buffer.from(s, 'base64url'));
  if (b.length !== size) throw new HttpError(400, 'ERR_BAD_REQUEST', `${what} must be ${size} bytes, got ${b.length}`);
  return b;
}

function parseJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body)) as unknown;
  } catch {
    throw new HttpError(400, 'ERR_BAD_REQUEST', 'request body is not valid UTF-8 JSON');
  }
}

/** `/v2/models/{name}[/versions/{v}][/suffix]` -> parts, or undefined. Names are checked by the runtime. */
function modelRoute(path: string): { name: string; version: string | undefined; suffix: string } | undefined {
  const m = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/infer|\/ready)?$/.exec(path);
  if (m === null) return undefined;
  let name: string;
  let version: string | undefined;
  try {
    name = decodeURIComponent(m[1] ?? '');
    version = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
  } catch {
    return undefined;
  }
  return { name, version, suffix: m[3] ?? '' };
}

export function createEnclaveServer(opts: EnclaveServerOptions): EnclaveServer {
  const { key, attester, runtime } = opts;
  const maxBody = opts.maxBodyBytes ?? 1024 * 1024;
  const now = opts.now ?? ((): Date => new Date());
  const log = opts.log ?? ((): void => undefined);
  const evidence: { sha256: string; measurement: Measurement }[] = [];
  const counters = { attest: 0, infer: 0, rejected: 0 };

  async function attest(body: Uint8Array): Promise<AttestResponseBody> {
    const req = parseJson(body);
    if (typeof req !== 'object' || req === null || Array.isArray(req)) throw new HttpError(400, 'ERR_BAD_REQUEST', 'attest request must be a JSON object {"nonce": ...}');
    const extra = Object.keys(req).filter((k) => k !== 'nonce');
    if (extra.length > 0) throw new HttpError(400, 'ERR_BAD_REQUEST', `attest request has unknown member(s): ${extra.join(', ')}`);
    const nonce = fromB64url((req as { nonce?: unknown }).nonce, 'nonce', 32);
    const reportData = await reportDataFor({ nonce, jwk: key.jwk, models: runtime.models });
    const ev = await attester.attest({ reportData, nonce, publicKey: key.spki });
    const digest = sha256hex(ev.evidence);
    evidence.push({ sha256: digest, measurement: measurementOf(ev.tee, ev.evidence) });
    if (evidence.length > MAX_EVIDENCE_KEPT) evidence.shift();
    counters.attest++;
    log({ event: 'attested', tee: ev.tee, simulated: ev.simulated, evidence_sha256: digest });
    return {
      protocol: 'attestgate-enclave/v1',
      tee: ev.tee,
      simulated: ev.simulated,
      binding: BINDING_VERSION,
      evidence: Buffer.from(ev.evidence).toString('base64'),
      evidence_sha256: digest,
      collateral: ev.collateral.map((c) => ({ name: c.name, data: Buffer.from(c.bytes).toString('base64') })),
      key: key.jwk,
      models: runtime.models.map((m) => ({ name: m.name, version: m.version, sha256: m.sha256 })),
      runtime: runtime.runtime,
    };
  }

  async function infer(req: IncomingMessage, res: ServerResponse, name: string, version: string | undefined, body: Uint8Array): Promise<void> {
    // The evidence this answer is tied to: the one the caller names (it must be ours), else the latest.
    const named = req.headers[EVIDENCE_HEADER];
    const ev =
      typeof named === 'string' ? evidence.find((e) => e.sha256 === named.toLowerCase()) : evidence[evidence.length - 1];
    if (ev === undefined) {
      throw typeof named === 'string'
        ? new HttpError(409, 'ERR_UNKNOWN_EVIDENCE', `this enclave did not produce evidence ${named} (or it is too old); attest again`)
        : new HttpError(409, 'ERR_NOT_ATTESTED', 'this enclave has not been attested yet: POST /v1/attest first');
    }
    const nonceHeader = req.headers[NONCE_HEADER];
    if (nonceHeader !== undefined && (typeof nonceHeader !== 'string' || !CLIENT_NONCE.test(nonceHeader))) {
      throw new HttpError(400, 'ERR_BAD_REQUEST', `${NONCE_HEADER} must be base64url, 16 to 128 characters`);
    }
    const { response: out, model } = await runtime.infer(name, version, body);
    const receipt = buildReceipt(key, {
      request: body,
      response: out,
      model,
      runtime: runtime.runtime,
      tee: attester.tee,
      simulated: attester.kind.startsWith('sim-'),
      measurement: ev.measurement,
      evidenceSha256: ev.sha256,
      ...(nonceHeader === undefined ? {} : { nonce: nonceHeader }),
      now: now(),
    });
    counters.infer++;
    const receiptJws = signReceipt(key, receipt);
    if (wantsJose(req)) {
      // One JWS whose payload holds the receipt claims and the response (the exact response bytes,
      // embedded as JSON text: response_sha256 is their digest). The gateway adds its own
      // signature over the same payload (General JSON Serialization).
      const payload = new TextEncoder().encode(`{"receipt":${JSON.stringify(receipt)},"response":${new TextDecoder().decode(out)}}`);
      const [protectedHeader = '', payloadB64 = '', signature = ''] = key.signCompact(payload, { typ: ANSWER_JWS_TYP }).split('.');
      sendJson(res, 200, { payload: payloadB64, protected: protectedHeader, signature }, { [RECEIPT_HEADER]: receiptJws, 'content-type': 'application/jose+json' });
      return;
    }
    send(res, 200, out, { [RECEIPT_HEADER]: receiptJws });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const path = url.split('?')[0] ?? '/';
    const method = req.method ?? 'GET';
    if (method === 'GET' && path === '/v2/health/live') { sendJson(res, 200, { live: true }); return; }
    if (method === 'GET' && path === '/v2/health/ready') { sendJson(res, 200, { ready: true }); return; }
    if (method === 'GET' && path === '/v2') {
      sendJson(res, 200, { name: 'attestgate-enclave', version: '1', extensions: ['attestgate-receipts'] }); return;
    }
    if (method === 'POST' && path === '/v1/attest') {
      sendJson(res, 200, await attest(await readBody(req, 64 * 1024))); return;
    }
    const route = modelRoute(path);
    if (route !== undefined) {
      if (route.suffix === '/infer') {
        if (method !== 'POST') throw new HttpError(405, 'ERR_METHOD', 'infer takes POST');
        return infer(req, res, route.name, route.version, await readBody(req, maxBody));
      }
      if (method !== 'GET') throw new HttpError(405, 'ERR_METHOD', 'model metadata takes GET');
      const meta = runtime.metadata(route.name, route.version);
      if (meta === undefined) throw new HttpError(404, 'ERR_MODEL_NOT_FOUND', `model ${route.name}${route.version === undefined ? '' : ` version ${route.version}`} is not loaded`);
      sendJson(res, 200, route.suffix === '/ready' ? { name: route.name, ready: true } : meta);
      return;
    }
    throw new HttpError(404, 'ERR_NOT_FOUND', `no route for ${method} ${path}`);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      counters.rejected++;
      const status = e instanceof HttpError ? e.status : typeof (e as { status?: unknown }).status === 'number' ? (e as { status: number }).status : e instanceof AttesterError ? 503 : 500;
      const code = e instanceof HttpError ? e.code : e instanceof AttesterError ? e.code : typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : 'ERR_INTERNAL';
      // Client errors explain themselves; internal errors say little to the caller and all to the log.
      const message = status < 500 || e instanceof AttesterError ? (e as Error).message : 'internal error';
      if (status >= 500) log({ event: 'error', code, message: e instanceof Error ? e.message : String(e) });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendJson(res, status, { error: message, code });
    });
  });
  // Slow clients cannot hold a connection forever (slow-loris): bounded header and request times.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  return { server, evidenceDigests: () => evidence.map((e) => e.sha256), counters };
}
