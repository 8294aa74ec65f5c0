/**
 * Intel DCAP collateral JSON: the `tcbInfo` object (TCB info v2 and v3, SGX and TDX) and the
 * `enclaveIdentity` object (QE identity v2), parsed into typed, width-checked values.
 *
 * The text given here is the exact signed substring; the caller verifies its signature first so
 * that unauthenticated JSON is never interpreted (see verify.ts). Parsing is still strict: a
 * signature proves Intel wrote the text, not that our reading of it is the one Intel meant, so every
 * member we use is type-checked and every hex value must have its exact width. Members we do not use
 * are tolerated, because Intel adds fields across versions and an unknown member changes nothing we
 * decide. Field rules follow Intel's QVL parsers (AttestationParsers/src/Json/TcbInfo.cpp,
 * TcbLevel.cpp, TcbComponent.cpp, TdxModule.cpp, TdxModuleIdentity.cpp, TdxModuleTcbLevel.cpp and
 * Verifiers/EnclaveIdentityV2.cpp).
 */
import { VerificationError } from '../errors.ts';
import { toHex } from '../common/bytes.ts';

/** Every TCB level status Intel publishes (QVL TcbStatus.h VALID_TCB_INFO_STATUSES). */
export const TCB_STATUSES = [
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
  'Revoked',
] as const;
export type TcbStatus = (typeof TCB_STATUSES)[number];

export type TcbInfoId = 'SGX' | 'TDX';

export interface TcbLevel {
  /** sgxtcbcomp01svn..16 (v2) or sgxtcbcomponents[0..15].svn (v3), in order. */
  readonly sgxTcbSvns: Uint8Array;
  readonly pceSvn: number;
  /** tdxtcbcomponents[0..15].svn; present exactly when the TCB info id is TDX. */
  readonly tdxTcbSvns: Uint8Array | undefined;
  /** As written by Intel (validated ISO 8601 UTC). */
  readonly tcbDate: string;
  readonly tcbDateMs: number;
  readonly tcbStatus: TcbStatus;
  readonly advisoryIds: readonly string[];
}

export interface TdxModule {
  readonly mrsigner: Uint8Array;
  readonly attributes: Uint8Array;
  readonly attributesMask: Uint8Array;
}

/** A TDX module or QE identity TCB level: one ISVSVN threshold. */
export interface IsvTcbLevel {
  readonly isvsvn: number;
  readonly tcbDate: string;
  readonly tcbDateMs: number;
  readonly tcbStatus: TcbStatus;
  readonly advisoryIds: readonly string[];
}

export interface TdxModuleIdentity extends TdxModule {
  /** As written, e.g. `TDX_01`; matched case-insensitively as QVL does. */
  readonly id: string;
  readonly tcbLevels: readonly IsvTcbLevel[];
}

export interface TcbInfo {
  /** `SGX` for version 2, which has no id member (QVL assumes SGX). */
  readonly id: TcbInfoId;
  readonly version: 2 | 3;
  readonly issueDate: number;
  readonly nextUpdate: number;
  readonly fmspc: Uint8Array;
  readonly pceId: Uint8Array;
  readonly tcbType: number;
  readonly tcbEvaluationDataNumber: number;
  /** TDX only (required there). */
  readonly tdxModule: TdxModule | undefined;
  /** TDX only; empty when the member is absent. */
  readonly tdxModuleIdentities: readonly TdxModuleIdentity[];
  /** In the order served (verification sorts them, see tcb.ts). */
  readonly tcbLevels: readonly TcbLevel[];
}

export type QeIdentityId = 'QE' | 'QVE' | 'TD_QE';

export interface QeIdentity {
  readonly id: QeIdentityId;
  readonly version: 2;
  readonly issueDate: number;
  readonly nextUpdate: number;
  readonly tcbEvaluationDataNumber: number;
  /** Byte order as in the JSON hex, which is the byte order of MISCSELECT in a report. */
  readonly miscselect: Uint8Array;
  readonly miscselectMask: Uint8Array;
  readonly attributes: Uint8Array;
  readonly attributesMask: Uint8Array;
  readonly mrsigner: Uint8Array;
  readonly isvprodid: number;
  readonly tcbLevels: readonly IsvTcbLevel[];
}

type Doc = 'TCB info' | 'QE identity';
type Obj = Readonly<Record<string, unknown>>;

function malformed(doc: Doc, message: string): VerificationError {
  return new VerificationError('ERR_COLLATERAL_MALFORMED', `${doc}: ${message}`, { reason: 'collateral_malformed' });
}

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJsonObject(doc: Doc, text: unknown): Obj {
  if (typeof text !== 'string') throw malformed(doc, 'text must be a string');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e: unknown) {
    throw new VerificationError('ERR_COLLATERAL_MALFORMED', `${doc}: not valid JSON`, { reason: 'collateral_malformed', cause: e });
  }
  if (!isObject(value)) throw malformed(doc, 'top level must be a JSON object');
  return value;
}

/** Reads typed members of one JSON object, naming the full path in every error. */
class Fields {
  constructor(
    private readonly doc: Doc,
    private readonly obj: Obj,
    private readonly path: string,
  ) {}

  private name(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`;
  }

  fail(key: string, message: string): VerificationError {
    return malformed(this.doc, `${this.name(key)} ${message}`);
  }

  has(key: string): boolean {
    return Object.hasOwn(this.obj, key);
  }

  private get(key: string): unknown {
    // Own members only: a `__proto__` or `constructor` key must never satisfy a lookup.
    return Object.hasOwn(this.obj, key) ? this.obj[key] : undefined;
  }

  int(key: string, max: number): number {
    const v = this.get(key);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw this.fail(key, `must be an integer 0..${max}`);
    return v;
  }

  string(key: string): string {
    const v = this.get(key);
    if (typeof v !== 'string') throw this.fail(key, 'must be a string');
    return v;
  }

  optionalString(key: string): void {
    if (this.has(key)) this.string(key);
  }

  hex(key: string, bytes: number): Uint8Array {
    const v = this.get(key);
    // Exact width: a short or long value is never padded or truncated into place.
    if (typeof v !== 'string' || v.length !== bytes * 2 || !/^[0-9a-fA-F]*$/.test(v)) {
      throw this.fail(key, `must be ${bytes} bytes of hex (${bytes * 2} digits)`);
    }
    const out = new Uint8Array(bytes);
    for (let i = 0; i < bytes; i++) out[i] = parseInt(v.slice(i * 2, i * 2 + 2), 16);
    return out;
  }

  date(key: string): { text: string; ms: number } {
    const v = this.get(key);
    const ms = typeof v === 'string' ? parseIsoDate(v) : undefined;
    if (typeof v !== 'string' || ms === undefined) throw this.fail(key, 'must be an ISO 8601 date-time (e.g. 2025-06-19T10:16:03Z)');
    return { text: v, ms };
  }

  object(key: string): Fields {
    const v = this.get(key);
    if (!isObject(v)) throw this.fail(key, 'must be a JSON object');
    return new Fields(this.doc, v, this.name(key));
  }

  array(key: string, nonEmpty = false): readonly unknown[] {
    const v = this.get(key);
    if (!Array.isArray(v)) throw this.fail(key, 'must be an array');
    if (nonEmpty && v.length === 0) throw this.fail(key, 'must not be empty');
    return v as readonly unknown[];
  }

  objectAt(key: string, arr: readonly unknown[], i: number): Fields {
    const v = arr[i];
    if (!isObject(v)) throw malformed(this.doc, `${this.name(key)}[${i}] must be a JSON object`);
    return new Fields(this.doc, v, `${this.name(key)}[${i}]`);
  }

  status(key: string): TcbStatus {
    const v = this.string(key);
    const known = TCB_STATUSES.find((s) => s === v);
    if (known === undefined) {
      // Fail closed on a status we cannot rank: it is not malformed JSON, it is a verdict we do not
      // know how to honour (QVL TcbLevel::parseStatus rejects it the same way).
      throw new VerificationError('ERR_TCB_STATUS', `${this.doc}: ${this.name(key)} "${v}" is not a known TCB status`, {
        reason: 'tcb_status_unknown',
      });
    }
    return known;
  }

  advisoryIds(key: string): readonly string[] {
    if (!this.has(key)) return [];
    const arr = this.array(key);
    return arr.map((v, i) => {
      if (typeof v !== 'string') throw malformed(this.doc, `${this.name(key)}[${i}] must be a string`);
      return v;
    });
  }
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** RFC 3339 date-time to epoch ms; undefined for anything else, including impossible dates. */
export function parseIsoDate(s: string): number | undefined {
  const m = ISO_DATE.exec(s);
  if (m === null) return undefined;
  const [y, mo, d, h, mi, se] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number];
  // Date.parse would roll 2025-02-30 over to March; an impossible date is malformed, not rounded.
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth || h > 23 || mi > 59 || se > 59) return undefined;
  const ms = Date.parse(s);
  return Number.isFinite(ms) ? ms : undefined;
}

const U8 = 0xff;
const U16 = 0xffff;
const U32 = 0xffffffff;
const SVN_COUNT = 16;

function parseComponents(f: Fields, key: string): Uint8Array {
  const arr = f.array(key);
  if (arr.length !== SVN_COUNT) throw f.fail(key, `must have exactly ${SVN_COUNT} entries, has ${arr.length}`);
  const out = new Uint8Array(SVN_COUNT);
  for (let i = 0; i < SVN_COUNT; i++) {
    const c = f.objectAt(key, arr, i);
    out[i] = c.int('svn', U8);
    c.optionalString('category');
    c.optionalString('type');
  }
  return out;
}

function parseTcbLevel(f: Fields, version: 2 | 3, id: TcbInfoId): TcbLevel {
  const tcb = f.object('tcb');
  let sgxTcbSvns: Uint8Array;
  let tdxTcbSvns: Uint8Array | undefined;
  if (version === 2) {
    sgxTcbSvns = new Uint8Array(SVN_COUNT);
    for (let i = 0; i < SVN_COUNT; i++) sgxTcbSvns[i] = tcb.int(`sgxtcbcomp${String(i + 1).padStart(2, '0')}svn`, U8);
  } else {
    sgxTcbSvns = parseComponents(tcb, 'sgxtcbcomponents');
    // SGX TCB info carries no TDX components that matter; QVL does not read them there.
    if (id === 'TDX') tdxTcbSvns = parseComponents(tcb, 'tdxtcbcomponents');
  }
  const pceSvn = tcb.int('pcesvn', U16);
  const date = f.date('tcbDate');
  return {
    sgxTcbSvns,
    pceSvn,
    tdxTcbSvns,
    tcbDate: date.text,
    tcbDateMs: date.ms,
    tcbStatus: f.status('tcbStatus'),
    advisoryIds: f.advisoryIds('advisoryIDs'),
  };
}

function parseIsvTcbLevel(f: Fields): IsvTcbLevel {
  const isvsvn = f.object('tcb').int('isvsvn', U16);
  const date = f.date('tcbDate');
  return { isvsvn, tcbDate: date.text, tcbDateMs: date.ms, tcbStatus: f.status('tcbStatus'), advisoryIds: f.advisoryIds('advisoryIDs') };
}

/** Levels with equal ISVSVN would make the selection depend on order; QVL rejects them for modules. */
function isvLevels(f: Fields, key: string): IsvTcbLevel[] {
  const arr = f.array(key, true);
  const levels: IsvTcbLevel[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < arr.length; i++) {
    const level = parseIsvTcbLevel(f.objectAt(key, arr, i));
    if (seen.has(level.isvsvn)) throw f.fail(`${key}[${i}].tcb.isvsvn`, `${level.isvsvn} is duplicated`);
    seen.add(level.isvsvn);
    levels.push(level);
  }
  return levels;
}

function parseTdxModule(f: Fields): TdxModule {
  return { mrsigner: f.hex('mrsigner', 48), attributes: f.hex('attributes', 8), attributesMask: f.hex('attributesMask', 8) };
}

/**
 * Parse the signed `tcbInfo` JSON text (TCB info v2 or v3). Throws ERR_COLLATERAL_MALFORMED naming
 * the field, or ERR_TCB_STATUS (reason tcb_status_unknown) for a status string we do not know.
 */
export function parseTcbInfo(text: string): TcbInfo {
  const doc = 'TCB info';
  const root = new Fields(doc, parseJsonObject(doc, text), '');

  const v = root.int('version', U32);
  if (v !== 2 && v !== 3) throw root.fail('version', `is ${v}, want 2 or 3`);
  const version: 2 | 3 = v;

  let id: TcbInfoId = 'SGX';
  if (version === 3) {
    const s = root.string('id');
    if (s !== 'SGX' && s !== 'TDX') throw root.fail('id', `is "${s}", want "SGX" or "TDX"`);
    id = s;
  }

  const issueDate = root.date('issueDate').ms;
  const nextUpdate = root.date('nextUpdate').ms;
  const fmspc = root.hex('fmspc', 6);
  const pceId = root.hex('pceId', 2);
  const tcbType = root.int('tcbType', U32);
  // QVL 4.1.2.7.4: only TCB type 0 (16 SGX components compared one by one) is defined.
  if (tcbType !== 0) throw root.fail('tcbType', `is ${tcbType}, want 0`);
  const tcbEvaluationDataNumber = root.int('tcbEvaluationDataNumber', U32);

  let tdxModule: TdxModule | undefined;
  const tdxModuleIdentities: TdxModuleIdentity[] = [];
  if (id === 'TDX') {
    tdxModule = parseTdxModule(root.object('tdxModule'));
    if (root.has('tdxModuleIdentities')) {
      const arr = root.array('tdxModuleIdentities', true);
      const ids = new Set<string>();
      for (let i = 0; i < arr.length; i++) {
        const m = root.objectAt('tdxModuleIdentities', arr, i);
        const mid = m.string('id');
        // Lookup is case-insensitive (QVL findTdxModuleIdentity); two entries for one module
        // version would make the answer depend on order.
        if (ids.has(mid.toUpperCase())) throw root.fail(`tdxModuleIdentities[${i}].id`, `"${mid}" is duplicated`);
        ids.add(mid.toUpperCase());
        tdxModuleIdentities.push({ id: mid, ...parseTdxModule(m), tcbLevels: isvLevels(m, 'tcbLevels') });
      }
    }
  } else if (version === 3 && (root.has('tdxModule') || root.has('tdxModuleIdentities'))) {
    // QVL TcbInfo::parsePartV3: an SGX TCB info must not describe a TDX module.
    throw root.fail(root.has('tdxModule') ? 'tdxModule' : 'tdxModuleIdentities', 'must be absent when id is "SGX"');
  }

  const arr = root.array('tcbLevels', true);
  const tcbLevels: TcbLevel[] = [];
  const keys = new Set<string>();
  for (let i = 0; i < arr.length; i++) {
    const level = parseTcbLevel(root.objectAt('tcbLevels', arr, i), version, id);
    // QVL keeps levels in an ordered set and rejects duplicates; two levels with the same SVNs but
    // different statuses would make the verdict depend on order.
    const key = `${toHex(level.sgxTcbSvns)}/${level.pceSvn}/${level.tdxTcbSvns === undefined ? '' : toHex(level.tdxTcbSvns)}`;
    if (keys.has(key)) throw root.fail(`tcbLevels[${i}]`, 'repeats the SVNs of an earlier level');
    keys.add(key);
    tcbLevels.push(level);
  }

  return { id, version, issueDate, nextUpdate, fmspc, pceId, tcbType, tcbEvaluationDataNumber, tdxModule, tdxModuleIdentities, tcbLevels };
}

/**
 * Parse the signed `enclaveIdentity` JSON text (QE, QVE or TD_QE identity, version 2). Throws
 * ERR_COLLATERAL_MALFORMED naming the field, or ERR_TCB_STATUS (tcb_status_unknown).
 */
export function parseQeIdentity(text: string): QeIdentity {
  const doc = 'QE identity';
  const root = new Fields(doc, parseJsonObject(doc, text), '');
  const id = root.string('id');
  if (id !== 'QE' && id !== 'QVE' && id !== 'TD_QE') throw root.fail('id', `is "${id}", want "QE", "QVE" or "TD_QE"`);
  const version = root.int('version', U32);
  if (version !== 2) throw root.fail('version', `is ${version}, want 2`);
  return {
    id,
    version,
    issueDate: root.date('issueDate').ms,
    nextUpdate: root.date('nextUpdate').ms,
    tcbEvaluationDataNumber: root.int('tcbEvaluationDataNumber', U32),
    miscselect: root.hex('miscselect', 4),
    miscselectMask: root.hex('miscselectMask', 4),
    attributes: root.hex('attributes', 16),
    attributesMask: root.hex('attributesMask', 16),
    mrsigner: root.hex('mrsigner', 32),
    isvprodid: root.int('isvprodid', U16),
    tcbLevels: isvLevels(root, 'tcbLevels'),
  };
}
