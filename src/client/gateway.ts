/**
 * What the verifier may fetch from a gateway, with the caller's `fetch` (the browser's, Node's, or
 * a test's): the attestation record, the JWKS, a receipt's proof bundle and the log's verifier key.
 * Responses are size-bounded and parsed as untrusted JSON; ids are checked before they go into a
 * URL. A failure is a StepFailure with the caller's "unavailable" code, so the step that needed the
 * document fails and says why.
 */
import { parsePolicy, type Policy } from '../../attestation/policy/schema.ts';
import type { AnswerCache } from './cache.ts';
import { parseAttestationRecord, parseJwks, parseProofBundle, type AttestationRecord, type Jwks, type ProofBundle } from './record.ts';
import { StepFailure } from './report.ts';

export type FetchFn = (input: string, init?: { headers?: Record<string, string>; signal?: AbortSignal }) => Promise<{
  readonly ok: boolean;
  readonly status: number;
  arrayBuffer(): Promise<ArrayBuffer>;
}>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RECEIPT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const TIMEOUT_MS = 15_000;
const MAX_RECORD = 32 * 1024 * 1024;
const MAX_SMALL = 1024 * 1024;

/** The gateway's base URL without a trailing slash; undefined when it is not an http(s) URL. */
export function gatewayBase(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
  if (u.search !== '' || u.hash !== '' || u.username !== '' || u.password !== '') return undefined;
  return u.href.replace(/\/+$/, '');
}

export class GatewayClient {
  constructor(
    readonly base: string,
    private readonly fetchFn: FetchFn,
    private readonly cache: AnswerCache,
  ) {}

  async #get(path: string, code: string, max: number, accept: string): Promise<Uint8Array> {
    const url = `${this.base}${path}`;
    this.cache.stats.fetches++;
    let res;
    try {
      res = await this.fetchFn(url, { headers: { accept }, signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch (e: unknown) {
      throw new StepFailure(code, `GET ${url} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!res.ok) throw new StepFailure(code, `GET ${url} answered HTTP ${res.status}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (bytes.length > max) throw new StepFailure(code, `GET ${url} answered ${bytes.length} bytes, more than the ${max} allowed`);
    return bytes;
  }

  async #json(path: string, code: string, max: number): Promise<unknown> {
    const bytes = await this.#get(path, code, max, 'application/json');
    try {
      return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
    } catch {
      throw new StepFailure(code, `GET ${this.base}${path} did not answer JSON`);
    }
  }

  /** The attestation record (immutable once written, so cached for good). */
  record(id: string): Promise<AttestationRecord> {
    if (!UUID.test(id)) return Promise.reject(new StepFailure('ERR_RECORD_MISMATCH', `attestation id ${JSON.stringify(id.slice(0, 80))} is not a UUID`));
    return this.cache.memo(`record|${this.base}|${id}`, async () => parseAttestationRecord(await this.#json(`/v1/attestations/${id}`, 'ERR_RECORD_UNAVAILABLE', MAX_RECORD)));
  }

  /** The appraisal policy the gateway publishes (GET /v1/policy), parsed with the closed schema. */
  policy(): Promise<{ policy: Policy; digest: string }> {
    return this.cache.memo(`policy|${this.base}`, async () => {
      const raw = await this.#json('/v1/policy', 'ERR_POLICY_UNAVAILABLE', MAX_SMALL);
      const o = raw as { policy?: unknown; digest?: unknown };
      if (typeof o.digest !== 'string' || typeof o.policy !== 'object' || o.policy === null) throw new StepFailure('ERR_POLICY_UNAVAILABLE', 'GET /v1/policy did not answer {policy, digest}');
      let policy: Policy;
      try {
        policy = parsePolicy(o.policy);
      } catch (e: unknown) {
        throw new StepFailure('ERR_POLICY_UNAVAILABLE', `the gateway's published policy does not load: ${e instanceof Error ? e.message : String(e)}`);
      }
      return { policy, digest: o.digest };
    });
  }

  /** The gateway's key set; `refresh` fetches it again (a key it did not list before). */
  jwks(refresh = false): Promise<Jwks> {
    const key = `jwks|${this.base}`;
    if (refresh) this.cache.forget(key);
    return this.cache.memo(key, async () => {
      const raw = await this.#json('/.well-known/jwks.json', 'ERR_JWKS_UNAVAILABLE', MAX_SMALL);
      try {
        return parseJwks(raw);
      } catch (e: unknown) {
        throw new StepFailure('ERR_JWKS_UNAVAILABLE', e instanceof Error ? e.message : String(e));
      }
    });
  }

  /** The proof bundle of one receipt (fetched every time: the log grows). */
  async proof(receiptId: string): Promise<ProofBundle> {
    if (!RECEIPT_ID.test(receiptId)) throw new StepFailure('ERR_LOG_UNAVAILABLE', 'receipt id is not base64url');
    const raw = await this.#json(`/v1/receipts/${receiptId}/proof`, 'ERR_LOG_UNAVAILABLE', MAX_SMALL);
    try {
      return parseProofBundle(raw);
    } catch (e: unknown) {
      throw new StepFailure('ERR_LOG_UNAVAILABLE', e instanceof Error ? e.message : String(e));
    }
  }

  /** The log's verifier key as the gateway states it (`GET /v1/log/key`). */
  logKey(): Promise<string> {
    return this.cache.memo(`logkey|${this.base}`, async () => {
      const text = new TextDecoder('utf-8', { fatal: true }).decode(await this.#get('/v1/log/key', 'ERR_LOG_UNAVAILABLE', 4096, 'text/plain')).trim();
      if (!/^[\x21-\x7e]{1,512}$/.test(text)) throw new StepFailure('ERR_LOG_UNAVAILABLE', 'the gateway log key is not a signed-note verifier key');
      return text;
    });
  }
}
