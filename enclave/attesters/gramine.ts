/**
 * SGX evidence through Gramine's /dev/attestation pseudo-filesystem (Gramine documentation,
 * "Attestation and Secret Provisioning", section "/dev/attestation"):
 *
 *   attestation_type   (RO) "none", "epid" or "dcap", from the manifest's sgx.remote_attestation
 *   user_report_data   (WO) exactly 64 bytes: the REPORTDATA of the next report or quote
 *   quote              (RO) an SGX quote over the current user_report_data (DCAP: ECDSA quote v3+)
 *
 * The file pair is global to the enclave: any other code in this process that writes
 * user_report_data between our write and our read makes the quote answer its data, not ours.
 * We serialise our own requests and check the quote's REPORTDATA before returning it; a mismatch
 * is reported as a conflict (retry). The quote's size is bounded on read: the untrusted host runs
 * the quoting enclave that produced it.
 */
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import type { TeeKind } from '../../attestation/result.ts';
import { ENCLAVE_REPORT_SIZE, HEADER_SIZE as QUOTE_HEADER_SIZE, TEE_TYPE_SGX } from '../../attestation/intel/parse.ts';
import { AttesterError, checkAttestRequest, type Attester, type AttestRequest, type Evidence } from './attester.ts';
import { describeError, errnoOf, quoteText, readBounded } from './configfs-tsm.ts';

export const DEFAULT_GRAMINE_ROOT = '/dev/attestation';
export const USER_REPORT_DATA_SIZE = 64;
/** Gramine's own buffer is SGX_QUOTE_MAX_SIZE (8 KiB); the bound leaves room for larger certification data. */
export const DEFAULT_MAX_QUOTE_BYTES = 64 * 1024;
const MAX_TYPE_BYTES = 32;

/** The two file operations the attester needs; injectable for tests (a fake that computes the quote on read). */
export interface GramineFs {
  /** At most `limit` bytes; the attester asks one more than it accepts, to see oversize. */
  readFile(path: string, limit: number): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array): Promise<void>;
}

export const nodeGramineFs: GramineFs = {
  readFile: readBounded,
  writeFile: (path, data) => writeFile(path, data),
};

export interface GramineOptions {
  /** Default /dev/attestation. */
  readonly root?: string;
  readonly fs?: GramineFs;
  readonly maxQuoteBytes?: number;
}

function failed(message: string, cause?: unknown): AttesterError {
  return new AttesterError('ERR_ATTESTER_FAILED', message, cause === undefined ? undefined : { cause });
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** REPORTDATA sits at byte 320 of the SGX enclave report (Intel SGX ECDSA Quote Library API). */
const ENCLAVE_REPORT_REPORTDATA = 320;
const V5_BODY_DESCRIPTOR_SIZE = 6;

/** The REPORTDATA of an SGX quote (v3, v4, or v5 with body type 1), or why it cannot be found. */
export function sgxQuoteReportData(quote: Uint8Array): Uint8Array | string {
  if (quote.length < QUOTE_HEADER_SIZE) return `quote is ${quote.length} bytes, shorter than a quote header (${QUOTE_HEADER_SIZE})`;
  const version = (quote[0] ?? 0) | ((quote[1] ?? 0) << 8);
  const teeType = ((quote[4] ?? 0) | ((quote[5] ?? 0) << 8) | ((quote[6] ?? 0) << 16) | ((quote[7] ?? 0) << 24)) >>> 0;
  if (teeType !== TEE_TYPE_SGX) return `quote tee_type is 0x${teeType.toString(16)}, want 0x0 (SGX)`;
  let body: number;
  if (version === 3 || version === 4) body = QUOTE_HEADER_SIZE;
  else if (version === 5) {
    const bodyType = (quote[QUOTE_HEADER_SIZE] ?? 0) | ((quote[QUOTE_HEADER_SIZE + 1] ?? 0) << 8);
    if (bodyType !== 1) return `quote v5 body type is ${bodyType}, want 1 (SGX enclave report)`;
    body = QUOTE_HEADER_SIZE + V5_BODY_DESCRIPTOR_SIZE;
  } else return `quote version is ${version}, want 3, 4 or 5`;
  if (quote.length < body + ENCLAVE_REPORT_SIZE) return `quote is ${quote.length} bytes, too short for its enclave report`;
  return quote.subarray(body + ENCLAVE_REPORT_REPORTDATA, body + ENCLAVE_REPORT_REPORTDATA + USER_REPORT_DATA_SIZE);
}

let queue: Promise<unknown> = Promise.resolve();
function serialised<T>(fn: () => Promise<T>): Promise<T> {
  const run = queue.then(fn, fn);
  queue = run.catch(() => undefined);
  return run;
}

export class GramineAttester implements Attester {
  readonly kind = 'sgx' as const;
  readonly tee: TeeKind = 'sgx';
  readonly root: string;
  readonly #fs: GramineFs;
  readonly #maxQuote: number;

  constructor(opts: GramineOptions = {}) {
    if (opts.maxQuoteBytes !== undefined && (!Number.isInteger(opts.maxQuoteBytes) || opts.maxQuoteBytes < 1 || opts.maxQuoteBytes > 16 * 1024 * 1024)) {
      throw new AttesterError('ERR_ATTESTER_INPUT', `Gramine maxQuoteBytes must be an integer 1..16 MiB, got ${String(opts.maxQuoteBytes)}`);
    }
    this.root = opts.root ?? DEFAULT_GRAMINE_ROOT;
    this.#fs = opts.fs ?? nodeGramineFs;
    this.#maxQuote = opts.maxQuoteBytes ?? DEFAULT_MAX_QUOTE_BYTES;
  }

  async attest(req: AttestRequest): Promise<Evidence> {
    checkAttestRequest(req);
    const reportData = req.reportData.slice();
    return await serialised(() => this.#attest(reportData));
  }

  async #attest(reportData: Uint8Array): Promise<Evidence> {
    // 1. Gramine is there and produces DCAP quotes.
    await checkAttestationType(this.#fs, this.root);

    // 2. Our report data.
    try {
      await this.#fs.writeFile(join(this.root, 'user_report_data'), reportData);
    } catch (e: unknown) {
      throw failed(`Gramine: writing ${join(this.root, 'user_report_data')} failed: ${describeError(e)}`, e);
    }

    // 3. The quote, bounded.
    let quote: Uint8Array;
    try {
      quote = await this.#fs.readFile(join(this.root, 'quote'), this.#maxQuote + 1);
    } catch (e: unknown) {
      throw failed(`Gramine: reading ${join(this.root, 'quote')} failed: ${describeError(e)}`, e);
    }
    if (quote.length === 0) throw failed('Gramine quote is empty');
    if (quote.length > this.#maxQuote) throw failed(`Gramine quote is larger than ${this.#maxQuote} bytes`);

    // 4. It answers our report data, not someone else's write in between.
    const got = sgxQuoteReportData(quote);
    if (typeof got === 'string') throw failed(`Gramine ${got}`);
    if (!got.every((b, i) => b === reportData[i])) {
      throw new AttesterError(
        'ERR_ATTESTER_CONFLICT',
        `Gramine quote REPORTDATA is ${hex(got)}, want ${hex(reportData)} (the user_report_data written): other code in this enclave wrote user_report_data meanwhile; retry`,
      );
    }
    return { tee: 'sgx', evidence: quote, collateral: [], simulated: false };
  }
}

/** Throws unless attestation_type says "dcap": UNAVAILABLE without Gramine or with attestation off, FAILED for another type. */
async function checkAttestationType(fs: GramineFs, root: string): Promise<void> {
  const path = join(root, 'attestation_type');
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(path, MAX_TYPE_BYTES + 1);
  } catch (e: unknown) {
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') {
      throw new AttesterError('ERR_ATTESTER_UNAVAILABLE', `${path} is not there (${describeError(e)}): not running inside Gramine (gramine-sgx)`, { cause: e });
    }
    throw failed(`Gramine: reading ${path} failed: ${describeError(e)}`, e);
  }
  // Gramine writes the bare word; tolerate a trailing newline or NUL.
  const type = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, MAX_TYPE_BYTES)).toString('latin1').replace(/[\n\0]+$/, '');
  if (type === 'dcap') return;
  if (type === 'none') {
    throw new AttesterError('ERR_ATTESTER_UNAVAILABLE', 'Gramine attestation_type is "none": remote attestation is off; set sgx.remote_attestation = "dcap" in the manifest');
  }
  throw failed(`Gramine attestation_type is ${quoteText(type)}, want "dcap" (the only quote type attestgate verifies)`);
}

/** Whether Gramine's DCAP attestation is available here (for detection; never throws). */
export async function probeGramine(opts: { readonly root?: string; readonly fs?: GramineFs } = {}): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    await checkAttestationType(opts.fs ?? nodeGramineFs, opts.root ?? DEFAULT_GRAMINE_ROOT);
    return { ok: true };
  } catch (e: unknown) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
}
