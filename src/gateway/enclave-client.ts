/**
 * Talking to one enclave backend over the wire protocol (docs/enclave-protocol.md): the attest
 * call, whose answer is parsed with a closed schema (the backend is untrusted until its evidence
 * is verified), and the forwarding of infer requests byte for byte over a keep-alive pool.
 */
import { Pool } from 'undici';
import type { AttestResponseBody } from '../../enclave/protocol.ts';
import { AppError } from '../errors.ts';

export interface AttestAnswer {
  readonly tee: AttestResponseBody['tee'];
  readonly simulated: boolean;
  readonly binding: string;
  readonly evidence: Uint8Array;
  readonly evidenceSha256: string;
  readonly collateral: readonly { readonly name: string; readonly bytes: Uint8Array }[];
  readonly key: AttestResponseBody['key'];
  readonly models: readonly { readonly name: string; readonly version: string; readonly sha256: string }[];
  readonly runtime: { readonly name: string; readonly version: string };
}

const MAX_ATTEST_BYTES = 4 * 1024 * 1024;

function bad(backend: string, msg: string): AppError {
  return new AppError('ERR_BACKEND_FAILED', `backend ${backend}: attest answer ${msg}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function closed(backend: string, v: unknown, what: string, keys: readonly string[]): Record<string, unknown> {
  if (!isRecord(v)) throw bad(backend, `${what} is not an object`);
  for (const k of Object.keys(v)) if (!keys.includes(k)) throw bad(backend, `${what} has unknown member "${k}"`);
  for (const k of keys) if (!(k in v)) throw bad(backend, `${what} lacks "${k}"`);
  return v;
}

function str(backend: string, v: unknown, what: string, re: RegExp, max = 4096): string {
  if (typeof v !== 'string' || v.length > max || !re.test(v)) throw bad(backend, `${what} is not valid`);
  return v;
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;
const B64URL = /^[A-Za-z0-9_-]+$/;
const HEX64 = /^[0-9a-f]{64}$/;
const NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
const TEES = ['sgx', 'tdx', 'sev-snp', 'nitro'] as const;

/** Parse an attest answer; every member is checked, unknown ones refused. */
export function parseAttestAnswer(backend: string, body: unknown): AttestAnswer {
  const o = closed(backend, body, 'body', ['protocol', 'tee', 'simulated', 'binding', 'evidence', 'evidence_sha256', 'collateral', 'key', 'models', 'runtime']);
  if (o['protocol'] !== 'attestgate-enclave/v1') throw bad(backend, `protocol is ${JSON.stringify(o['protocol'])}, want "attestgate-enclave/v1"`);
  const tee = TEES.find((t) => t === o['tee']);
  if (tee === undefined) throw bad(backend, `tee ${JSON.stringify(o['tee'])} is not one of ${TEES.join(', ')}`);
  if (typeof o['simulated'] !== 'boolean') throw bad(backend, 'simulated is not a boolean');
  const evidence = new Uint8Array(Buffer.from(str(backend, o['evidence'], 'evidence', B64, MAX_ATTEST_BYTES), 'base64'));
  const col = o['collateral'];
  if (!Array.isArray(col) || col.length > 32) throw bad(backend, 'collateral is not a list of at most 32 items');
  const collateral = col.map((c: unknown, i) => {
    const x = closed(backend, c, `collateral[${i}]`, ['name', 'data']);
    return { name: str(backend, x['name'], `collateral[${i}].name`, /^[A-Za-z0-9_.-]{1,128}$/), bytes: new Uint8Array(Buffer.from(str(backend, x['data'], `collateral[${i}].data`, B64, MAX_ATTEST_BYTES), 'base64')) };
  });
  const k = closed(backend, o['key'], 'key', ['kty', 'crv', 'x', 'y', 'kid', 'alg', 'use']);
  if (k['kty'] !== 'EC' || k['crv'] !== 'P-256' || k['alg'] !== 'ES256' || k['use'] !== 'sig') throw bad(backend, 'key is not an ES256 P-256 signing JWK');
  const key: AttestAnswer['key'] = {
    kty: 'EC',
    crv: 'P-256',
    x: str(backend, k['x'], 'key.x', B64URL, 64),
    y: str(backend, k['y'], 'key.y', B64URL, 64),
    kid: str(backend, k['kid'], 'key.kid', B64URL, 64),
    alg: 'ES256',
    use: 'sig',
  };
  const ms = o['models'];
  if (!Array.isArray(ms) || ms.length > 256) throw bad(backend, 'models is not a list');
  const models = ms.map((m: unknown, i) => {
    const x = closed(backend, m, `models[${i}]`, ['name', 'version', 'sha256']);
    return { name: str(backend, x['name'], `models[${i}].name`, NAME), version: str(backend, x['version'], `models[${i}].version`, NAME), sha256: str(backend, x['sha256'], `models[${i}].sha256`, HEX64) };
  });
  const rt = closed(backend, o['runtime'], 'runtime', ['name', 'version']);
  return {
    tee,
    simulated: o['simulated'],
    binding: str(backend, o['binding'], 'binding', /^[a-z0-9-]{1,64}$/),
    evidence,
    evidenceSha256: str(backend, o['evidence_sha256'], 'evidence_sha256', HEX64),
    collateral,
    key,
    models,
    runtime: { name: str(backend, rt['name'], 'runtime.name', /^[\x20-\x7e]{1,64}$/), version: str(backend, rt['version'], 'runtime.version', /^[\x20-\x7e]{1,64}$/) },
  };
}

export interface ForwardResult {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Uint8Array;
}

/** One backend's connection pool. Errors before a response are `connect` failures (safe to retry elsewhere). */
export class EnclaveClient {
  private readonly pool: Pool;
  constructor(
    readonly name: string,
    readonly url: string,
    timeoutMs: number,
  ) {
    this.pool = new Pool(url, { connections: 64, pipelining: 1, keepAliveTimeout: 4_000, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connectTimeout: Math.min(timeoutMs, 5_000) });
  }

  async request(method: 'GET' | 'POST', path: string, body: Uint8Array | undefined, headers: Record<string, string>, maxBytes: number): Promise<ForwardResult> {
    let res;
    try {
      res = await this.pool.request({ method, path, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: Buffer.from(body.buffer, body.byteOffset, body.byteLength) }) });
    } catch (e: unknown) {
      const code = (e as { code?: unknown }).code;
      const timeout = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
      throw new AppError(timeout ? 'ERR_BACKEND_TIMEOUT' : 'ERR_BACKEND_UNREACHABLE', `backend ${this.name}: ${(e as Error).message}`, { cause: e });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const c of res.body as AsyncIterable<Buffer>) {
        size += c.length;
        if (size > maxBytes) {
          res.body.destroy();
          throw new AppError('ERR_BACKEND_FAILED', `backend ${this.name}: answer exceeds ${maxBytes} bytes`);
        }
        chunks.push(c);
      }
    } catch (e: unknown) {
      if (e instanceof AppError) throw e;
      throw new AppError('ERR_BACKEND_FAILED', `backend ${this.name}: answer broken off: ${(e as Error).message}`, { cause: e });
    }
    return { status: res.statusCode, headers: res.headers, body: new Uint8Array(Buffer.concat(chunks)) };
  }

  async attest(nonce: Uint8Array): Promise<AttestAnswer> {
    const body = new TextEncoder().encode(JSON.stringify({ nonce: Buffer.from(nonce).toString('base64url') }));
    const r = await this.request('POST', '/v1/attest', body, {}, MAX_ATTEST_BYTES);
    if (r.status !== 200) {
      throw new AppError('ERR_BACKEND_FAILED', `backend ${this.name}: attest answered HTTP ${r.status}: ${new TextDecoder().decode(r.body.subarray(0, 300))}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(r.body));
    } catch {
      throw bad(this.name, 'is not JSON');
    }
    return parseAttestAnswer(this.name, json);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
