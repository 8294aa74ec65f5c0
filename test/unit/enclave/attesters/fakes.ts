/**
 * Fakes of the kernel and Gramine interfaces the attesters drive. Plain files cannot play
 * configfs (outblob is computed when read, generation moves on each write), so these implement
 * the attesters' injected filesystem interfaces in memory, with switches for every failure:
 * an errno on any operation, a racing writer, a wrong provider, a report for other data.
 */
import { guidToBytes } from '../../../../enclave/attesters/snp-certs.ts';
import type { TsmFs } from '../../../../enclave/attesters/configfs-tsm.ts';
import type { GramineFs } from '../../../../enclave/attesters/gramine.ts';

export function errno(code: string, path: string): Error {
  return Object.assign(new Error(`${code}: fake operation on ${path}`), { code });
}

const tick = (): Promise<void> =>
  new Promise((resolve) => {
    setImmediate(resolve);
  });

export function u16le(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
}

export function u32le(b: Uint8Array, at: number, v: number): void {
  for (let i = 0; i < 4; i++) b[at + i] = (v >>> (8 * i)) & 0xff;
}

/** An SNP ATTESTATION_REPORT shape: 1184 bytes, VERSION 2, SIGNING_KEY as asked, REPORT_DATA at 0x50. */
export function fakeSnpReport(reportData: Uint8Array, signingKey: 0 | 1 | 7 = 0): Uint8Array {
  const r = new Uint8Array(0x4a0).fill(0x11);
  u32le(r, 0, 2);
  u32le(r, 0x48, signingKey << 2);
  r.set(reportData.subarray(0, 64), 0x50);
  return r;
}

/** A TDX quote shape: v4 (header 48, TD report 584) or v5 (descriptor type 2), REPORTDATA at TD report + 520. */
export function fakeTdxQuote(reportData: Uint8Array, version: 4 | 5 = 4): Uint8Array {
  const body = version === 5 ? 48 + 6 : 48;
  const q = new Uint8Array(body + 584 + 4 + 100).fill(0x22);
  u16le(q, 0, version);
  u16le(q, 2, 2);
  u32le(q, 4, 0x81);
  if (version === 5) {
    u16le(q, 48, 2);
    u32le(q, 50, 584);
  }
  q.set(reportData.subarray(0, 64), body + 520);
  u32le(q, body + 584, 100);
  return q;
}

/** An SGX quote shape: v3 (header 48, enclave report 384) or v5 (descriptor type 1), REPORTDATA at report + 320. */
export function fakeSgxQuote(reportData: Uint8Array, version: 3 | 4 | 5 = 3): Uint8Array {
  const body = version === 5 ? 48 + 6 : 48;
  const q = new Uint8Array(body + 384 + 4 + 200).fill(0x33);
  u16le(q, 0, version);
  u16le(q, 2, 2);
  u32le(q, 4, 0);
  if (version === 5) {
    u16le(q, 48, 1);
    u32le(q, 50, 384);
  }
  q.set(reportData.subarray(0, 64), body + 320);
  u32le(q, body + 384, 200);
  return q;
}

/** A DER-shaped blob: SEQUENCE (long form length) around `n` filler bytes. */
export function fakeDer(fill: number, n = 300): Uint8Array {
  const out = new Uint8Array(4 + n).fill(fill);
  out[0] = 0x30;
  out[1] = 0x82;
  out[2] = (n >>> 8) & 0xff;
  out[3] = n & 0xff;
  return out;
}

/** The GHCB certificate table for these entries, certificates after the table, zero-padded like the kernel's buffer. */
export function certTable(entries: readonly (readonly [string, Uint8Array])[], pad = 0): Uint8Array {
  const head = (entries.length + 1) * 24;
  const total = head + entries.reduce((n, [, b]) => n + b.length, 0) + pad;
  const out = new Uint8Array(total);
  let at = head;
  entries.forEach(([guid, bytes], i) => {
    out.set(guidToBytes(guid), i * 24);
    u32le(out, i * 24 + 16, at);
    u32le(out, i * 24 + 20, bytes.length);
    out.set(bytes, at);
    at += bytes.length;
  });
  return out;
}

interface FakeReportDir {
  generation: number;
  inblob: Uint8Array | undefined;
  privlevel: number | undefined;
  serviceProvider: string | undefined;
}

export type FsOp = 'readdir' | 'mkdir' | 'rmdir' | 'read' | 'write';

export interface FakeTsmOptions {
  readonly root?: string;
  readonly provider?: string;
  /** The root does not exist (no configfs-tsm). */
  readonly absent?: boolean;
  /** The certificate table served for sev_guest; undefined: the attribute does not exist. */
  readonly auxblob?: Uint8Array;
  /** Signing key the fake SNP report names (0 VCEK, 1 VLEK, 7 none). */
  readonly signingKey?: 0 | 1 | 7;
  readonly tdxVersion?: 4 | 5;
  /** Replace the computed outblob (gets the inblob written). */
  readonly outblob?: (inblob: Uint8Array) => Uint8Array;
  readonly privlevelFloor?: number;
  /** Another writer: generation moves by this much more when outblob is read. */
  readonly raceOnOutblob?: number;
  /** Writes do not bump generation. */
  readonly lostWrites?: boolean;
  /** Serve this text as generation. */
  readonly generationText?: string;
  /** Fail one operation (optionally on one attribute) with an errno. */
  readonly fail?: { readonly op: FsOp; readonly name?: string; readonly code: string };
}

/** configfs-tsm in memory: report directories under a root, attributes computed like the kernel's. */
export class FakeTsm implements TsmFs {
  readonly root: string;
  readonly dirs = new Map<string, FakeReportDir>();
  readonly created: string[] = [];
  readonly removed: string[] = [];
  readonly writes: { name: string; data: Uint8Array }[] = [];
  readonly reads: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  readonly #o: FakeTsmOptions;

  constructor(opts: FakeTsmOptions = {}) {
    this.#o = opts;
    this.root = opts.root ?? '/fake/sys/kernel/config/tsm/report';
  }

  get provider(): string {
    return this.#o.provider ?? 'sev_guest';
  }

  #maybeFail(op: FsOp, path: string, name?: string): void {
    const f = this.#o.fail;
    if (f?.op === op && (f.name === undefined || f.name === name)) throw errno(f.code, path);
  }

  #split(path: string): { dir: string; name: string | undefined } {
    if (!path.startsWith(`${this.root}/`)) throw errno('ENOENT', path);
    const [dir, name, ...rest] = path.slice(this.root.length + 1).split('/');
    if (dir === undefined || rest.length > 0) throw errno('ENOENT', path);
    return { dir, name };
  }

  #dir(path: string): { d: FakeReportDir; name: string } {
    const { dir, name } = this.#split(path);
    const d = this.dirs.get(dir);
    if (d === undefined || name === undefined) throw errno('ENOENT', path);
    return { d, name };
  }

  async readdir(path: string): Promise<string[]> {
    await tick();
    this.#maybeFail('readdir', path);
    if (this.#o.absent === true || path !== this.root) throw errno('ENOENT', path);
    return [...this.dirs.keys()];
  }

  async mkdir(path: string): Promise<void> {
    await tick();
    this.#maybeFail('mkdir', path);
    if (this.#o.absent === true) throw errno('ENOENT', path);
    const { dir, name } = this.#split(path);
    if (name !== undefined) throw errno('EPERM', path);
    if (this.dirs.has(dir)) throw errno('EEXIST', path);
    this.dirs.set(dir, { generation: 0, inblob: undefined, privlevel: undefined, serviceProvider: undefined });
    this.created.push(dir);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
  }

  async rmdir(path: string): Promise<void> {
    await tick();
    this.#maybeFail('rmdir', path);
    const { dir } = this.#split(path);
    if (!this.dirs.delete(dir)) throw errno('ENOENT', path);
    this.removed.push(dir);
    this.inFlight--;
  }

  async writeFile(path: string, data: Uint8Array): Promise<void> {
    await tick();
    const { d, name } = this.#dir(path);
    this.#maybeFail('write', path, name);
    const text = Buffer.from(data).toString('latin1').replace(/\n$/, '');
    switch (name) {
      case 'inblob':
        if (data.length > 64) throw errno('EINVAL', path);
        d.inblob = data.slice();
        break;
      case 'privlevel': {
        const v = Number(text);
        if (this.provider !== 'sev_guest') throw errno('ENOENT', path);
        if (!/^\d+$/.test(text) || v > 3 || v < (this.#o.privlevelFloor ?? 0)) throw errno('EINVAL', path);
        d.privlevel = v;
        break;
      }
      case 'service_provider':
        d.serviceProvider = text;
        break;
      default:
        throw errno('EACCES', path);
    }
    this.writes.push({ name, data: data.slice() });
    if (this.#o.lostWrites !== true) d.generation++;
  }

  async readFile(path: string, limit: number): Promise<Uint8Array> {
    await tick();
    const { d, name } = this.#dir(path);
    this.#maybeFail('read', path, name);
    this.reads.push(name);
    let bytes: Uint8Array;
    switch (name) {
      case 'provider':
        bytes = new TextEncoder().encode(`${this.provider}\n`);
        break;
      case 'generation':
        bytes = new TextEncoder().encode(this.#o.generationText ?? `${d.generation}\n`);
        break;
      case 'privlevel_floor':
        if (this.provider !== 'sev_guest') throw errno('ENOENT', path);
        bytes = new TextEncoder().encode(`${this.#o.privlevelFloor ?? 0}\n`);
        break;
      case 'outblob': {
        if (d.inblob === undefined) throw errno('EINVAL', path);
        const inblob = new Uint8Array(64);
        inblob.set(d.inblob);
        if (this.#o.outblob !== undefined) bytes = this.#o.outblob(inblob);
        else if (this.provider === 'tdx_guest') bytes = fakeTdxQuote(inblob, this.#o.tdxVersion ?? 4);
        else bytes = fakeSnpReport(inblob, this.#o.signingKey ?? 0);
        d.generation += this.#o.raceOnOutblob ?? 0;
        break;
      }
      case 'auxblob':
        if (this.provider !== 'sev_guest' || this.#o.auxblob === undefined) throw errno('ENOENT', path);
        bytes = this.#o.auxblob;
        break;
      default:
        throw errno(name === 'inblob' || name === 'privlevel' || name === 'service_provider' ? 'EACCES' : 'ENOENT', path);
    }
    return bytes.slice(0, limit);
  }
}

export interface FakeGramineOptions {
  readonly root?: string;
  /** attestation_type content; default "dcap". */
  readonly type?: string;
  /** No attestation_type file (not running under Gramine). */
  readonly absent?: boolean;
  readonly version?: 3 | 4 | 5;
  /** Replace the computed quote (gets the user_report_data written). */
  readonly quote?: (userReportData: Uint8Array) => Uint8Array;
  /** Another thread writes this user_report_data between our write and our read. */
  readonly interloper?: Uint8Array;
  readonly fail?: { readonly op: 'read' | 'write'; readonly name?: string; readonly code: string };
}

/** Gramine's /dev/attestation in memory: the quote answers the last user_report_data written. */
export class FakeGramine implements GramineFs {
  readonly root: string;
  readonly writes: { name: string; data: Uint8Array }[] = [];
  inFlight = 0;
  maxInFlight = 0;
  #userReportData: Uint8Array = new Uint8Array(64);
  readonly #o: FakeGramineOptions;

  constructor(opts: FakeGramineOptions = {}) {
    this.#o = opts;
    this.root = opts.root ?? '/fake/dev/attestation';
  }

  #name(path: string): string {
    if (!path.startsWith(`${this.root}/`)) throw errno('ENOENT', path);
    return path.slice(this.root.length + 1);
  }

  async writeFile(path: string, data: Uint8Array): Promise<void> {
    await tick();
    const name = this.#name(path);
    const f = this.#o.fail;
    if (f?.op === 'write' && (f.name === undefined || f.name === name)) throw errno(f.code, path);
    if (name !== 'user_report_data') throw errno('EACCES', path);
    if (data.length !== 64) throw errno('EINVAL', path);
    this.writes.push({ name, data: data.slice() });
    this.#userReportData = data.slice();
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    if (this.#o.interloper !== undefined) this.#userReportData = this.#o.interloper.slice();
  }

  async readFile(path: string, limit: number): Promise<Uint8Array> {
    await tick();
    const name = this.#name(path);
    const f = this.#o.fail;
    if (f?.op === 'read' && (f.name === undefined || f.name === name)) throw errno(f.code, path);
    let bytes: Uint8Array;
    if (name === 'attestation_type') {
      if (this.#o.absent === true) throw errno('ENOENT', path);
      bytes = new TextEncoder().encode(this.#o.type ?? 'dcap');
    } else if (name === 'quote') {
      bytes = this.#o.quote !== undefined ? this.#o.quote(this.#userReportData) : fakeSgxQuote(this.#userReportData, this.#o.version ?? 3);
      this.inFlight--;
    } else throw errno('ENOENT', path);
    return bytes.slice(0, limit);
  }
}
