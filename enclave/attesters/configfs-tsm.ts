/**
 * TDX and SEV-SNP evidence through the Linux configfs-tsm report interface
 * (Documentation/ABI/testing/configfs-tsm, kernel 6.7+):
 *
 *   /sys/kernel/config/tsm/report/$name/   one directory per report request (mkdir / rmdir)
 *     inblob            (WO) up to 64 bytes of user data: our report data
 *     outblob           (RO) the report in the provider's format (TDX quote, SNP ATTESTATION_REPORT)
 *     auxblob           (RO) SEV-SNP: the GHCB certificate table (snp-certs.ts); absent for TDX
 *     provider          (RO) "tdx_guest" or "sev_guest"
 *     generation        (RO) incremented on every write to inblob or any option
 *     privlevel         (WO) SEV-SNP VMPL 0-3, at least privlevel_floor (RO)
 *     service_provider  (WO) e.g. "svsm" (6.10+)
 *
 * Who can interfere: any other process of the guest with access to configfs can write into a
 * report directory it can see, and the hypervisor chooses the auxblob's certificates. We take a
 * fresh, unpredictably named directory per request, check `generation` as the ABI prescribes
 * (the number of writes must match ours), check that the report carries our report data, bound
 * every read, and remove the directory afterwards, on failure too. Requests are serialised in
 * the process: one report directory in flight at a time.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TeeKind } from '../../attestation/result.ts';
import { FIELDS as SNP_FIELDS } from '../../attestation/amd/parse.ts';
import { HEADER_SIZE as QUOTE_HEADER_SIZE, TEE_TYPE_TDX } from '../../attestation/intel/parse.ts';
import { AttesterError, checkAttestRequest, type Attester, type AttestRequest, type CollateralItem, type Evidence } from './attester.ts';
import { snpCollateralFromAuxblob, type SnpSigningKey } from './snp-certs.ts';

export type TsmKind = 'tdx' | 'sev-snp';

export const DEFAULT_CONFIGFS_TSM_ROOT = '/sys/kernel/config/tsm/report';

/** The `provider` value each kind needs (tsm_ops.name of the tdx-guest and sev-guest drivers). */
export const TSM_PROVIDER: Readonly<Record<TsmKind, string>> = { tdx: 'tdx_guest', 'sev-snp': 'sev_guest' };

/** TSM_INBLOB_MAX; we always write exactly this much. */
export const INBLOB_SIZE = 64;
/** TSM_PRIVLEVEL_MAX. */
export const PRIVLEVEL_MAX = 3;
/** Default bounds. The kernel caps outblob at TSM_OUTBLOB_MAX (32 KiB) and SNP certs at 16 KiB today; twice that leaves room. */
export const DEFAULT_MAX_OUTBLOB_BYTES = 64 * 1024;
export const DEFAULT_MAX_AUXBLOB_BYTES = 64 * 1024;
/** Small text attributes (generation, provider, privlevel_floor). */
const MAX_TEXT_BYTES = 64;

/**
 * The filesystem operations the attester uses, injectable because plain files do not behave like
 * configfs (outblob is computed on read, generation moves on write). Errors carry a Node-style
 * `code` (ENOENT, EIO, ...).
 */
export interface TsmFs {
  mkdir(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  /** At most `limit` bytes of the file; the attester asks for one byte more than it accepts, to see oversize. */
  readFile(path: string, limit: number): Promise<Uint8Array>;
  /** One open-write-close: configfs commits a binary attribute on close. */
  writeFile(path: string, data: Uint8Array): Promise<void>;
  readdir(path: string): Promise<string[]>;
}

/** Read at most `limit` bytes, never the whole of a file whose size we do not control. */
export async function readBounded(path: string, limit: number): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const buf = new Uint8Array(limit);
    let n = 0;
    while (n < limit) {
      const { bytesRead } = await fh.read(buf, n, limit - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    return buf.slice(0, n);
  } finally {
    await fh.close();
  }
}

export const nodeTsmFs: TsmFs = {
  mkdir: async (path) => {
    await mkdir(path);
  },
  rmdir: (path) => rmdir(path),
  readFile: readBounded,
  writeFile: (path, data) => writeFile(path, data),
  readdir: (path) => readdir(path),
};

export interface ConfigfsTsmOptions {
  readonly kind: TsmKind;
  /** Default /sys/kernel/config/tsm/report. */
  readonly root?: string;
  readonly fs?: TsmFs;
  /** SEV-SNP only: the VMPL to request (0-3). Not written when unset (the kernel's default applies). */
  readonly privlevel?: number;
  /** SEV-SNP only: written to service_provider when set (e.g. "svsm"). */
  readonly serviceProvider?: string;
  readonly maxOutblobBytes?: number;
  readonly maxAuxblobBytes?: number;
  /** Called when the report directory cannot be removed after a request (the request's own outcome stands). */
  readonly onCleanupError?: (error: unknown) => void;
}

export function errnoOf(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string') return e.code;
  return undefined;
}

export function describeError(e: unknown): string {
  const code = errnoOf(e);
  const msg = e instanceof Error ? e.message : String(e);
  return code !== undefined && !msg.includes(code) ? `${code}: ${msg}` : msg;
}

function failed(message: string, cause?: unknown): AttesterError {
  return new AttesterError('ERR_ATTESTER_FAILED', message, cause === undefined ? undefined : { cause });
}

/** Printable form of untrusted text for a message: JSON-quoted (control characters escaped), at most `max` characters. */
export function quoteText(s: string, max = 64): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s);
}

/** The text of a small attribute: ASCII, one trailing newline allowed (sysfs_emit adds one). */
function attributeText(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1').replace(/\n$/, '');
}

function parseCount(bytes: Uint8Array, what: string): number {
  const text = attributeText(bytes);
  if (!/^[0-9]{1,15}$/.test(text)) throw failed(`configfs-tsm ${what} is ${quoteText(text)}, want a decimal number`);
  return Number(text);
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function u16le(b: Uint8Array, at: number): number {
  return (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8);
}

function u32le(b: Uint8Array, at: number): number {
  return ((b[at] ?? 0) | ((b[at + 1] ?? 0) << 8) | ((b[at + 2] ?? 0) << 16) | ((b[at + 3] ?? 0) << 24)) >>> 0;
}

/**
 * TDX quote layout (Intel TDX DCAP Quoting Library API, appendix "Quote format"): header (48) |
 * v4: TD report | v5: u16 body type (2 TD 1.0, 3 TD 1.5) | u32 body size | TD report. REPORTDATA
 * sits at byte 520 of both TD report versions.
 */
const TDX = {
  VERSION: 0,
  TEE_TYPE: 4,
  V5_BODY_DESCRIPTOR_SIZE: 6,
  TD_REPORT_REPORTDATA: 520,
} as const;

/** Where the report data sits in the outblob, or a reason why we cannot tell. */
export function reportDataOf(kind: TsmKind, outblob: Uint8Array): Uint8Array | string {
  let at: number;
  if (kind === 'sev-snp') {
    at = SNP_FIELDS.REPORT_DATA.offset;
  } else {
    if (outblob.length < QUOTE_HEADER_SIZE) return `outblob is ${outblob.length} bytes, shorter than a quote header (${QUOTE_HEADER_SIZE})`;
    const version = u16le(outblob, TDX.VERSION);
    const teeType = u32le(outblob, TDX.TEE_TYPE);
    if (teeType !== TEE_TYPE_TDX) return `outblob quote tee_type is 0x${teeType.toString(16)}, want 0x81 (TDX)`;
    if (version === 4) at = QUOTE_HEADER_SIZE + TDX.TD_REPORT_REPORTDATA;
    else if (version === 5) {
      const bodyType = u16le(outblob, QUOTE_HEADER_SIZE);
      if (bodyType !== 2 && bodyType !== 3) return `outblob quote v5 body type is ${bodyType}, want 2 or 3 (TD report)`;
      at = QUOTE_HEADER_SIZE + TDX.V5_BODY_DESCRIPTOR_SIZE + TDX.TD_REPORT_REPORTDATA;
    } else return `outblob quote version is ${version}, want 4 or 5`;
  }
  if (outblob.length < at + INBLOB_SIZE) return `outblob is ${outblob.length} bytes, too short to hold REPORT_DATA at ${at}`;
  return outblob.subarray(at, at + INBLOB_SIZE);
}

/** SIGNING_KEY (bits 4:2 of SIGNER_INFO): which endorsement key signed an SNP report. */
export function snpSigningKeyOf(report: Uint8Array): SnpSigningKey {
  const bits = (u32le(report, SNP_FIELDS.SIGNER_INFO.offset) >>> 2) & 7;
  return bits === 0 ? 'vcek' : bits === 1 ? 'vlek' : 'none';
}

function uniqueName(prefix: string): string {
  // Unpredictable, so that another guest process cannot pre-create or guess our directory.
  return `attestgate-${prefix}-${process.pid}-${randomBytes(8).toString('hex')}`;
}

/** One request at a time in this process, in arrival order; a failed request does not stop the queue. */
let queue: Promise<unknown> = Promise.resolve();
function serialised<T>(fn: () => Promise<T>): Promise<T> {
  const run = queue.then(fn, fn);
  queue = run.catch(() => undefined);
  return run;
}

function unavailableRoot(root: string, cause: unknown): AttesterError {
  return new AttesterError(
    'ERR_ATTESTER_UNAVAILABLE',
    `configfs-tsm report directory ${root} is not there (${describeError(cause)}): the kernel lacks configfs-tsm (CONFIG_TSM_REPORTS, Linux 6.7+) or configfs is not mounted at /sys/kernel/config`,
    { cause },
  );
}

export class ConfigfsTsmAttester implements Attester {
  readonly kind: TsmKind;
  readonly tee: TeeKind;
  readonly root: string;
  readonly #fs: TsmFs;
  readonly #privlevel: number | undefined;
  readonly #serviceProvider: string | undefined;
  readonly #maxOutblob: number;
  readonly #maxAuxblob: number;
  readonly #onCleanupError: (error: unknown) => void;

  constructor(opts: ConfigfsTsmOptions) {
    // Configuration comes from files and the environment: check the kind at run time too.
    if (!(Object.keys(TSM_PROVIDER) as readonly string[]).includes(opts.kind)) throw new AttesterError('ERR_ATTESTER_INPUT', `configfs-tsm kind must be "tdx" or "sev-snp", got ${quoteText(opts.kind)}`);
    if (opts.privlevel !== undefined) {
      if (opts.kind !== 'sev-snp') throw new AttesterError('ERR_ATTESTER_INPUT', 'configfs-tsm privlevel applies to SEV-SNP (VMPL) only');
      if (!Number.isInteger(opts.privlevel) || opts.privlevel < 0 || opts.privlevel > PRIVLEVEL_MAX) {
        throw new AttesterError('ERR_ATTESTER_INPUT', `configfs-tsm privlevel must be an integer 0-${PRIVLEVEL_MAX}, got ${String(opts.privlevel)}`);
      }
    }
    if (opts.serviceProvider !== undefined) {
      if (opts.kind !== 'sev-snp') throw new AttesterError('ERR_ATTESTER_INPUT', 'configfs-tsm service_provider applies to SEV-SNP only');
      if (!/^[a-z0-9_-]{1,32}$/.test(opts.serviceProvider)) {
        throw new AttesterError('ERR_ATTESTER_INPUT', `configfs-tsm service_provider must be 1-32 of [a-z0-9_-], got ${quoteText(opts.serviceProvider)}`);
      }
    }
    for (const [name, v] of [['maxOutblobBytes', opts.maxOutblobBytes], ['maxAuxblobBytes', opts.maxAuxblobBytes]] as const) {
      if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > 16 * 1024 * 1024)) throw new AttesterError('ERR_ATTESTER_INPUT', `configfs-tsm ${name} must be an integer 1..16 MiB, got ${String(v)}`);
    }
    this.kind = opts.kind;
    this.tee = opts.kind;
    this.root = opts.root ?? DEFAULT_CONFIGFS_TSM_ROOT;
    this.#fs = opts.fs ?? nodeTsmFs;
    this.#privlevel = opts.privlevel;
    this.#serviceProvider = opts.serviceProvider;
    this.#maxOutblob = opts.maxOutblobBytes ?? DEFAULT_MAX_OUTBLOB_BYTES;
    this.#maxAuxblob = opts.maxAuxblobBytes ?? DEFAULT_MAX_AUXBLOB_BYTES;
    this.#onCleanupError = opts.onCleanupError ?? (() => undefined);
  }

  async attest(req: AttestRequest): Promise<Evidence> {
    checkAttestRequest(req);
    // Snapshot: the caller may reuse its buffer while we wait in the queue.
    const reportData = req.reportData.slice();
    return await serialised(() => this.#attest(reportData));
  }

  async #attest(reportData: Uint8Array): Promise<Evidence> {
    const fs = this.#fs;
    // 1. The interface is there.
    try {
      await fs.readdir(this.root);
    } catch (e: unknown) {
      throw unavailableRoot(this.root, e);
    }
    // 2. A fresh report directory of our own.
    const dir = join(this.root, uniqueName('report'));
    try {
      await fs.mkdir(dir);
    } catch (e: unknown) {
      if (errnoOf(e) === 'ENOENT') throw unavailableRoot(this.root, e);
      throw failed(`configfs-tsm: cannot create report directory ${dir}: ${describeError(e)}`, e);
    }
    try {
      return await this.#inDirectory(dir, reportData);
    } finally {
      // Last, on every path: remove it. Each report item holds kernel memory, and a leftover directory
      // would show our last inblob and report to anyone who can read configfs.
      try {
        await fs.rmdir(dir);
      } catch (e: unknown) {
        this.#onCleanupError(e);
      }
    }
  }

  async #read(dir: string, name: string, max: number): Promise<Uint8Array> {
    let bytes: Uint8Array;
    try {
      bytes = await this.#fs.readFile(join(dir, name), max + 1);
    } catch (e: unknown) {
      throw failed(`configfs-tsm: reading ${name} failed: ${describeError(e)}`, e);
    }
    if (bytes.length > max) throw failed(`configfs-tsm ${name} is larger than ${max} bytes`);
    return bytes;
  }

  async #write(dir: string, name: string, data: Uint8Array): Promise<void> {
    try {
      await this.#fs.writeFile(join(dir, name), data);
    } catch (e: unknown) {
      throw failed(`configfs-tsm: writing ${name} failed: ${describeError(e)}`, e);
    }
  }

  async #inDirectory(dir: string, reportData: Uint8Array): Promise<Evidence> {
    // 3. The provider is the one whose format we promise (a TDX quote is no SNP report).
    const provider = attributeText(await this.#read(dir, 'provider', MAX_TEXT_BYTES));
    const want = TSM_PROVIDER[this.kind];
    if (provider !== want) throw failed(`configfs-tsm provider is ${quoteText(provider)}, want "${want}" for ${this.kind}`);

    // 4. The VMPL asked for is one the kernel accepts (a clearer message than its EINVAL).
    if (this.#privlevel !== undefined) {
      const floor = parseCount(await this.#read(dir, 'privlevel_floor', MAX_TEXT_BYTES), 'privlevel_floor');
      if (this.#privlevel < floor) throw failed(`configfs-tsm privlevel ${this.#privlevel} is below privlevel_floor ${floor}`);
    }

    // 5. Generation before any write.
    const before = parseCount(await this.#read(dir, 'generation', MAX_TEXT_BYTES), 'generation');

    // 6. Our writes, counted: options first, then inblob.
    let writes = 0;
    if (this.#privlevel !== undefined) {
      await this.#write(dir, 'privlevel', new TextEncoder().encode(`${this.#privlevel}\n`));
      writes++;
    }
    if (this.#serviceProvider !== undefined) {
      await this.#write(dir, 'service_provider', new TextEncoder().encode(`${this.#serviceProvider}\n`));
      writes++;
    }
    await this.#write(dir, 'inblob', reportData);
    writes++;

    // 7. The report (and, for SNP, the certificate table of the same request).
    const outblob = await this.#read(dir, 'outblob', this.#maxOutblob);
    if (outblob.length === 0) throw failed('configfs-tsm outblob is empty');
    let auxblob: Uint8Array | undefined;
    if (this.kind === 'sev-snp') {
      try {
        auxblob = await this.#fs.readFile(join(dir, 'auxblob'), this.#maxAuxblob + 1);
      } catch (e: unknown) {
        // Kernels before the auxblob attribute (or without certificates) simply have none.
        if (errnoOf(e) !== 'ENOENT') throw failed(`configfs-tsm: reading auxblob failed: ${describeError(e)}`, e);
      }
      if (auxblob !== undefined && auxblob.length > this.#maxAuxblob) throw failed(`configfs-tsm auxblob is larger than ${this.#maxAuxblob} bytes`);
    }

    // 8. Generation after: exactly our writes. More means another writer touched our directory
    // between our writes and our reads, so outblob may answer its inblob, not ours.
    const after = parseCount(await this.#read(dir, 'generation', MAX_TEXT_BYTES), 'generation');
    const expected = before + writes;
    if (after > expected) {
      throw new AttesterError('ERR_ATTESTER_CONFLICT', `configfs-tsm generation is ${after}, want ${expected} (${before} + our ${writes} writes): another writer raced this request; retry`);
    }
    if (after !== expected) throw failed(`configfs-tsm generation is ${after}, want ${expected} (${before} + our ${writes} writes): a write did not take effect`);

    // 9. The report carries our report data. With an SVSM service provider the report data is the
    // SVSM's own hash over our nonce and its manifest, so there is nothing to compare here.
    if (this.#serviceProvider === undefined) {
      const got = reportDataOf(this.kind, outblob);
      if (typeof got === 'string') throw failed(`configfs-tsm ${got}`);
      if (!got.every((b, i) => b === reportData[i])) {
        throw failed(`configfs-tsm outblob REPORT_DATA is ${hex(got)}, want ${hex(reportData)} (the inblob written)`);
      }
    }

    const collateral: CollateralItem[] = auxblob === undefined ? [] : snpCollateralFromAuxblob(auxblob, snpSigningKeyOf(outblob));
    return { tee: this.tee, evidence: outblob, collateral, simulated: false };
  }
}

/**
 * Which TEE the configfs-tsm interface serves here, if any: makes a probe directory, reads its
 * provider and removes it. Undefined when the interface is missing or the provider is unknown.
 */
export async function probeConfigfsTsm(opts: { readonly root?: string; readonly fs?: TsmFs } = {}): Promise<{ kind: TsmKind } | { kind: undefined; reason: string }> {
  const fs = opts.fs ?? nodeTsmFs;
  const root = opts.root ?? DEFAULT_CONFIGFS_TSM_ROOT;
  try {
    await fs.readdir(root);
  } catch (e: unknown) {
    return { kind: undefined, reason: `${root}: ${describeError(e)}` };
  }
  const dir = join(root, uniqueName('probe'));
  try {
    await fs.mkdir(dir);
  } catch (e: unknown) {
    return { kind: undefined, reason: `mkdir ${dir}: ${describeError(e)}` };
  }
  let provider: string;
  try {
    const bytes = await fs.readFile(join(dir, 'provider'), MAX_TEXT_BYTES + 1);
    provider = attributeText(bytes.subarray(0, MAX_TEXT_BYTES));
  } catch (e: unknown) {
    return { kind: undefined, reason: `reading provider: ${describeError(e)}` };
  } finally {
    await fs.rmdir(dir).catch(() => undefined);
  }
  if (provider === TSM_PROVIDER.tdx) return { kind: 'tdx' };
  if (provider === TSM_PROVIDER['sev-snp']) return { kind: 'sev-snp' };
  return { kind: undefined, reason: `provider is ${quoteText(provider)}, want "tdx_guest" or "sev_guest"` };
}
