/** Small HTTP and polling helpers for the gateway's integration tests. */
import { createHash } from 'node:crypto';

export const IRIS_ROW = { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] };
export const IRIS_BODY = new TextEncoder().encode(JSON.stringify(IRIS_ROW));

export const sha256hex = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly bytes: Uint8Array;
  readonly text: string;
  /** The parsed JSON body, or undefined when it is not JSON. */
  readonly json: unknown;
}

export async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const r = await fetch(url, init);
  const bytes = new Uint8Array(await r.arrayBuffer());
  const text = new TextDecoder().decode(bytes);
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, bytes, text, json };
}

export function infer(gateway: string, opts: { body?: Uint8Array | string; headers?: Record<string, string>; model?: string } = {}): Promise<Answer> {
  return call(`${gateway}/v2/models/${opts.model ?? 'iris'}/infer`, { method: 'POST', body: opts.body ?? IRIS_BODY, headers: { 'content-type': 'application/json', ...opts.headers } });
}

/** The gateway's error body `{error: {code, message}}`. */
export function errorOf(a: Answer): { code: string; message: string } {
  const e = (a.json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (typeof e?.code !== 'string' || typeof e.message !== 'string') throw new Error(`not a gateway error body (HTTP ${a.status}): ${a.text}`);
  return { code: e.code, message: e.message };
}

export const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

/** Poll `probe` until it returns a value other than undefined, or fail after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface ReadyBody {
  readonly ready: boolean;
  readonly backends: readonly { name: string; state: string; reason: string | null }[];
}

export async function ready(gateway: string): Promise<{ status: number; body: ReadyBody }> {
  const a = await call(`${gateway}/v2/health/ready`);
  return { status: a.status, body: a.json as ReadyBody };
}
