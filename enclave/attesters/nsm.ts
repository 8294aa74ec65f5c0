/**
 * AWS Nitro evidence from the Nitro Secure Module. The NSM speaks CBOR over an ioctl on
 * /dev/nsm, which Node cannot issue, so a small helper executable does the one call
 * (enclave/nsm-helper/, protocol in its README):
 *
 *   stdin   one JSON object {"user_data": b64, "nonce": b64, "public_key": b64} (public_key optional)
 *   stdout  exit 0: the attestation document (COSE_Sign1) bytes, nothing else
 *           exit != 0: {"error": "<CODE>", "message": "<text>"}; exit 69 means no NSM device
 *
 * The helper is ours, but its output is handled as untrusted input anyway: it is size-bounded
 * (64 KiB), time-bounded (5 s, then SIGKILL), parsed as a Nitro document (structure only; the
 * verifier checks the signature), and must carry the user_data, nonce and public_key we asked
 * for. A document for other values (a helper bug, a replayed file) is refused here rather than
 * at the verifier. The child gets a minimal environment. Requests are serialised.
 */
import { spawn } from 'node:child_process';
import type { TeeKind } from '../../attestation/result.ts';
import { parseNitroDocument, type NitroDocument } from '../../attestation/nitro/parse.ts';
import { AttesterError, checkAttestRequest, type Attester, type AttestRequest, type Evidence } from './attester.ts';
import { errnoOf, quoteText } from './configfs-tsm.ts';

export const DEFAULT_NSM_HELPER = 'attestgate-nsm-helper';
export const DEFAULT_NSM_TIMEOUT_MS = 5_000;
export const DEFAULT_NSM_MAX_OUTPUT_BYTES = 64 * 1024;
/** The NSM's limit on public_key (AWS Nitro Enclaves attestation document: 1..1024 bytes). */
export const NSM_MAX_PUBLIC_KEY_BYTES = 1024;
/** Kept of the helper's stderr, for messages only. */
const MAX_STDERR_BYTES = 4 * 1024;
/** Of the helper's words, this many characters go into an error message. */
const HELPER_MESSAGE_CHARS = 300;

/** The helper's exit statuses (sysexits.h names). */
export const NSM_HELPER_EXIT = {
  OK: 0,
  /** EX_USAGE: the request on stdin was malformed. */
  USAGE: 64,
  /** EX_UNAVAILABLE: no NSM device (not in a Nitro enclave, or /dev/nsm not accessible). */
  UNAVAILABLE: 69,
  /** EX_SOFTWARE: the NSM refused (its ErrorCode) or answered something malformed. */
  NSM: 70,
  /** EX_IOERR: reading stdin or writing stdout failed. */
  IO: 74,
} as const;

export interface NsmOptions {
  /** Path or name (looked up on PATH) of the helper. Default `attestgate-nsm-helper`. */
  readonly helper?: string;
  readonly timeoutMs?: number;
  readonly maxOutputBytes?: number;
}

function failed(message: string, cause?: unknown): AttesterError {
  return new AttesterError('ERR_ATTESTER_FAILED', message, cause === undefined ? undefined : { cause });
}

function b64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

function hex(b: Uint8Array | null): string {
  return b === null ? '(absent)' : b.length === 0 ? '(empty)' : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function sameBytes(a: Uint8Array | null, b: Uint8Array): boolean {
  return a !== null && a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The helper's request: one JSON object, base64 values, public_key left out when not given. */
export function encodeNsmHelperRequest(req: AttestRequest): Uint8Array {
  const body: Record<string, string> = { user_data: b64(req.reportData), nonce: b64(req.nonce) };
  if (req.publicKey !== undefined) body['public_key'] = b64(req.publicKey);
  return new TextEncoder().encode(JSON.stringify(body));
}

interface HelperRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Uint8Array;
  readonly stderr: string;
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Run the helper once: input on stdin, stdout bounded, killed on timeout or oversize. */
function runHelper(helper: string, input: Uint8Array, timeoutMs: number, maxOutput: number): Promise<HelperRun> {
  return new Promise<HelperRun>((resolve, reject) => {
    let settled = false;
    let abort: AttesterError | undefined;
    const out: Uint8Array[] = [];
    let outLen = 0;
    const err: Uint8Array[] = [];
    let errLen = 0;
    // A minimal environment: the helper needs none, and the enclave's variables are none of its business.
    const child = spawn(helper, [], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin' }, shell: false });
    const stop = (why: AttesterError): void => {
      abort ??= why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => {
      stop(failed(`NSM helper ${helper} did not finish within ${timeoutMs} ms; killed`));
    }, timeoutMs);
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    child.on('error', (e: Error) => {
      const code = errnoOf(e);
      if (code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR') {
        settle(() => {
          reject(new AttesterError('ERR_ATTESTER_UNAVAILABLE', `NSM helper ${helper} cannot be run (${code}): install enclave/nsm-helper or configure its path`, { cause: e }));
        });
      } else if (child.pid === undefined) {
        settle(() => {
          reject(failed(`NSM helper ${helper} could not be started: ${e.message}`, e));
        });
      }
      // Otherwise (a failed kill and the like) the close event still reports the outcome.
    });
    child.stdout.on('data', (c: Buffer) => {
      outLen += c.length;
      if (outLen > maxOutput) stop(failed(`NSM helper output exceeds ${maxOutput} bytes; killed`));
      else out.push(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
    });
    child.stderr.on('data', (c: Buffer) => {
      if (errLen >= MAX_STDERR_BYTES) return;
      const keep = c.subarray(0, MAX_STDERR_BYTES - errLen);
      err.push(new Uint8Array(keep.buffer, keep.byteOffset, keep.byteLength));
      errLen += keep.length;
    });
    // EPIPE when the helper exits without reading stdin: its exit status says why.
    child.stdin.on('error', () => undefined);
    child.on('close', (code, signal) => {
      settle(() => {
        if (abort !== undefined) reject(abort);
        else resolve({ code, signal, stdout: concat(out, Math.min(outLen, maxOutput)), stderr: Buffer.from(concat(err, errLen)).toString('utf8') });
      });
    });
    child.stdin.end(input);
  });
}

/** The helper's own words about a failure: its JSON error on stdout, else its stderr, bounded and quoted. */
function helperMessage(run: HelperRun): string {
  if (run.stdout.length > 0 && run.stdout.length <= MAX_STDERR_BYTES) {
    try {
      const v: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(run.stdout));
      if (typeof v === 'object' && v !== null && 'error' in v && typeof v.error === 'string') {
        const message = 'message' in v && typeof v.message === 'string' ? `: ${v.message}` : '';
        return quoteText(`${v.error}${message}`, HELPER_MESSAGE_CHARS);
      }
    } catch {
      // Not JSON: fall back to stderr.
    }
  }
  const text = run.stderr.trim();
  return text === '' ? '(no message)' : quoteText(text, HELPER_MESSAGE_CHARS);
}

let queue: Promise<unknown> = Promise.resolve();
function serialised<T>(fn: () => Promise<T>): Promise<T> {
  const run = queue.then(fn, fn);
  queue = run.catch(() => undefined);
  return run;
}

export class NsmAttester implements Attester {
  readonly kind = 'nitro' as const;
  readonly tee: TeeKind = 'nitro';
  readonly helper: string;
  readonly #timeoutMs: number;
  readonly #maxOutput: number;

  constructor(opts: NsmOptions = {}) {
    if (opts.timeoutMs !== undefined && (!Number.isInteger(opts.timeoutMs) || opts.timeoutMs < 1 || opts.timeoutMs > 600_000)) {
      throw new AttesterError('ERR_ATTESTER_INPUT', `NSM timeoutMs must be an integer 1..600000, got ${String(opts.timeoutMs)}`);
    }
    if (opts.maxOutputBytes !== undefined && (!Number.isInteger(opts.maxOutputBytes) || opts.maxOutputBytes < 1 || opts.maxOutputBytes > 16 * 1024 * 1024)) {
      throw new AttesterError('ERR_ATTESTER_INPUT', `NSM maxOutputBytes must be an integer 1..16 MiB, got ${String(opts.maxOutputBytes)}`);
    }
    if (opts.helper !== undefined && opts.helper === '') throw new AttesterError('ERR_ATTESTER_INPUT', 'NSM helper path is empty');
    this.helper = opts.helper ?? DEFAULT_NSM_HELPER;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_NSM_TIMEOUT_MS;
    this.#maxOutput = opts.maxOutputBytes ?? DEFAULT_NSM_MAX_OUTPUT_BYTES;
  }

  async attest(req: AttestRequest): Promise<Evidence> {
    checkAttestRequest(req);
    if (req.publicKey !== undefined && (!(req.publicKey instanceof Uint8Array) || req.publicKey.length === 0 || req.publicKey.length > NSM_MAX_PUBLIC_KEY_BYTES)) {
      throw new AttesterError('ERR_ATTESTER_INPUT', `public key must be 1..${NSM_MAX_PUBLIC_KEY_BYTES} bytes for the NSM, got ${req.publicKey instanceof Uint8Array ? req.publicKey.length : typeof req.publicKey}`);
    }
    const snapshot: AttestRequest = {
      reportData: req.reportData.slice(),
      nonce: req.nonce.slice(),
      ...(req.publicKey === undefined ? {} : { publicKey: req.publicKey.slice() }),
    };
    return await serialised(() => this.#attest(snapshot));
  }

  async #attest(req: AttestRequest): Promise<Evidence> {
    // 1. One helper run.
    const run = await runHelper(this.helper, encodeNsmHelperRequest(req), this.#timeoutMs, this.#maxOutput);
    if (run.signal !== null) throw failed(`NSM helper ${this.helper} was killed by ${run.signal}: ${helperMessage(run)}`);
    if (run.code === NSM_HELPER_EXIT.UNAVAILABLE) {
      throw new AttesterError('ERR_ATTESTER_UNAVAILABLE', `NSM helper reports no NSM device (exit ${run.code}): ${helperMessage(run)}`);
    }
    if (run.code !== NSM_HELPER_EXIT.OK) throw failed(`NSM helper ${this.helper} failed (exit ${String(run.code)}): ${helperMessage(run)}`);
    if (run.stdout.length === 0) throw failed(`NSM helper ${this.helper} exited 0 without a document`);

    // 2. The output is an attestation document (structure only; the verifier checks its signature).
    let doc: NitroDocument;
    try {
      doc = parseNitroDocument(run.stdout);
    } catch (e: unknown) {
      throw failed(`NSM helper output is not a Nitro attestation document: ${e instanceof Error ? e.message : String(e)}`, e);
    }

    // 3. It carries what we asked for.
    const p = doc.payload;
    if (!sameBytes(p.user_data, req.reportData)) throw failed(`NSM document user_data is ${hex(p.user_data)}, want ${hex(req.reportData)}`);
    if (!sameBytes(p.nonce, req.nonce)) throw failed(`NSM document nonce is ${hex(p.nonce)}, want ${hex(req.nonce)}`);
    if (req.publicKey === undefined) {
      if (p.public_key !== null && p.public_key.length > 0) throw failed(`NSM document public_key is ${hex(p.public_key)}, want absent`);
    } else if (!sameBytes(p.public_key, req.publicKey)) {
      throw failed(`NSM document public_key is ${hex(p.public_key)}, want ${hex(req.publicKey)}`);
    }
    return { tee: 'nitro', evidence: run.stdout, collateral: [], simulated: false };
  }
}
