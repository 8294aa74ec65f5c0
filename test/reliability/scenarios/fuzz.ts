/**
 * The fuzz group (issue: "Holds under load, faults and hostile input"): structure-aware mutations of
 * the real fixtures (quotes, reports, Nitro documents, certificates, CRLs, collateral, policies,
 * receipts, EARs, checkpoints, client files) fed to every parser and to the full verifier.
 *
 * Every input must end in a result or in a typed error (AttestationError, PolicyLoadError, LogError,
 * StepFailure, all with an ERR_ code); anything else thrown, or an input that takes more than 2 s,
 * is a failure. Short mode: a fixed seed and fixed counts (deterministic). Long mode: 10x the counts
 * and a random seed (FUZZ_SEED=<n> overrides it; every input is derived from seed, target and index,
 * so a failure reproduces with the same seed). The first failing input of each run is saved in the
 * scenario's directory (kept when it fails).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { parseReport } from '../../../attestation/amd/parse.ts';
import { parseCrl } from '../../../attestation/common/crl.ts';
import { parseCertificate, parsePemCertificates } from '../../../attestation/common/x509.ts';
import { buildEar, parseEar } from '../../../attestation/ear.ts';
import { AttestationError } from '../../../attestation/errors.ts';
import { toDcapCollateral } from '../../../attestation/intel/bundle.ts';
import { parseQeIdentity, parseTcbInfo } from '../../../attestation/intel/collateral.ts';
import { parseQuote } from '../../../attestation/intel/parse.ts';
import { decodeCbor } from '../../../attestation/nitro/cbor.ts';
import { parseNitroDocument, parsePayload } from '../../../attestation/nitro/parse.ts';
import { appraise } from '../../../attestation/policy/appraise.ts';
import { policyDigest } from '../../../attestation/policy/digest.ts';
import { PolicyLoadError } from '../../../attestation/policy/errors.ts';
import { parsePolicyText } from '../../../attestation/policy/schema.ts';
import { parseReceiptClaims } from '../../../attestation/receipt.ts';
import { verifyEvidence, type AmdProduct, type CollateralFile } from '../../../attestation/registry.ts';
import { parseCheckpoint, parseNote } from '../../../src/audit/checkpoint.ts';
import { LogError } from '../../../src/audit/errors.ts';
import { parseAnswer } from '../../../src/client/answer.ts';
import { parseAttestationRecord, parseJwks, parseProofBundle } from '../../../src/client/record.ts';
import { StepFailure } from '../../../src/client/report.ts';
import type { Mode, Scenario, ScenarioContext, ScenarioResult } from '../scenario.ts';

const ROOT = join(import.meta.dirname, '../../..');
const FIX = join(ROOT, 'test/fixtures');
const SHORT_SEED = 0x5eed2025;
const HANG_MS = 2000;
const LONG_FACTOR = 10;
const enc = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Deterministic randomness (mulberry32), one generator per input: hash(seed, target, index).

class Rng {
  #s: number;
  constructor(seed: number) { this.#s = seed >>> 0; }
  /** mulberry32 */
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number { return Math.floor(this.next() * n); }
  chance(p: number): boolean { return this.next() < p; }
  pick<T>(a: readonly T[]): T {
    const v = a[this.int(a.length)];
    if (v === undefined) throw new Error('fuzz: pick from an empty list');
    return v;
  }
  bytes(n: number): Uint8Array { return Uint8Array.from({ length: n }, () => this.int(256)); }
}

function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Bytes: flips, overwrites, inserts, deletes, truncation, junk, splices, boundary-valued fields,
// with half the offsets taken from the seed's structure (DER/CBOR heads, quote length fields).

/** A seed and the offsets worth hitting in it (length and tag bytes, header fields). */
interface ByteSeed { readonly bytes: Uint8Array; readonly hot: readonly number[] }

const BOUNDARY = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0xffffffff] as const;
const cat = (...parts: readonly Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

function mutateBytes(r: Rng, seed: ByteSeed, pool: readonly ByteSeed[]): Uint8Array {
  let b: Uint8Array = seed.bytes.slice();
  const off = (len: number): number => (len === 0 ? 0 : seed.hot.length > 0 && r.chance(0.5) ? Math.min(r.pick(seed.hot), len - 1) : r.int(len));
  const rounds = 1 + r.int(r.chance(0.8) ? 2 : 8);
  for (let k = 0; k < rounds; k++) {
    const len = b.length;
    const o = off(len);
    switch (r.int(10)) {
      case 0: if (len > 0) b[o] = (b[o] ?? 0) ^ (1 << r.int(8)); break; // bit flip
      case 1: if (len > 0) b[o] = r.int(256); break; // overwrite
      case 2: b = cat(b.subarray(0, o), r.bytes(1 + r.int(16)), b.subarray(o)); break; // insert
      case 3: b = cat(b.subarray(0, o), b.subarray(o + 1 + r.int(64))); break; // delete
      case 4: b = b.slice(0, r.int(len + 1)); break; // truncate
      case 5: b = cat(b, r.bytes(1 + r.int(256))); break; // junk after
      case 6: { const other = r.pick(pool).bytes; b = cat(b.subarray(0, r.int(len + 1)), other.subarray(r.int(other.length + 1))); break; } // splice
      case 7: { // a 1/2/4-byte field, little or big endian, set to a boundary value
        const w = r.pick([1, 2, 4]);
        const v = r.pick(BOUNDARY);
        const le = r.chance(0.5);
        for (let i = 0; i < w && o + i < b.length; i++) b[o + i] = Math.floor(v / 2 ** (8 * (le ? i : w - 1 - i))) & 0xff;
        break;
      }
      case 8: { const at = off(len); b = cat(b.subarray(0, at), b.slice(o, o + 1 + r.int(64)), b.subarray(at)); break; } // duplicate a chunk
      default: if (r.chance(0.1)) b = cat(b, new Uint8Array(r.pick([70_000, 150_000])).fill(0x41)); else b.fill(r.chance(0.5) ? 0 : 0xff, o, o + 1 + r.int(32)); // oversize, or a run of 00/ff
    }
  }
  return b;
}

/** Offsets of CBOR heads (recursing into byte strings that hold CBOR, like a COSE payload). */
function cborHot(b: Uint8Array, start = 0, end = b.length, out: number[] = []): number[] {
  let p = start;
  const item = (depth: number): boolean => {
    const h = b[p];
    if (h === undefined || p >= end || depth > 16 || out.length > 4000) return false;
    out.push(p++);
    const [major, ai] = [h >> 5, h & 31];
    if (ai > 27) return major === 7;
    const w = ai >= 24 ? 1 << (ai - 24) : 0; // argument bytes after the head
    let n = w === 0 ? ai : 0;
    for (let k = 0; k < w; k++) n = n * 256 + (b[p + k] ?? 0);
    p += w;
    if (major === 2 || major === 3) {
      const [s, inner] = [p, (b[p] ?? 0) >> 5];
      p += n;
      if (major === 2 && n > 1 && p <= end && (inner === 4 || inner === 5)) cborHot(b, s, s + n, out);
      return p <= end;
    }
    if (major === 4 || major === 5) {
      const items = major === 5 ? 2 * n : n;
      if (items > end - p) return false;
      for (let k = 0; k < items; k++) if (!item(depth + 1)) return false;
      return true;
    }
    return major === 6 ? item(depth + 1) : true;
  };
  while (p < end && item(0));
  return out;
}

/** A DER value as a tree, for edits that keep every enclosing length right (so parsing goes deeper). */
interface DerNode { tag: number; value: Uint8Array; kids?: DerNode[]; readonly at: number }

function derParse(b: Uint8Array, depth = 0, base = 0): DerNode[] | undefined {
  const out: DerNode[] = [];
  for (let p = 0; p < b.length; ) {
    const [tag, l0] = [b[p] ?? 0, b[p + 1] ?? 0];
    const n = l0 & 0x80 ? l0 & 0x7f : 0;
    if ((tag & 0x1f) === 0x1f || p + 1 >= b.length || (l0 & 0x80 && (n === 0 || n > 3))) return undefined;
    let len = l0;
    for (let k = 0; k < n; k++) len = (k === 0 ? 0 : len * 256) + (b[p + 2 + k] ?? 0);
    p += 2 + n;
    if (p + len > b.length) return undefined;
    const at = base + p - 2 - n;
    const value = b.subarray(p, (p += len));
    const kids = tag & 0x20 && depth < 24 ? derParse(value, depth + 1, base + p - len) : undefined;
    out.push(kids === undefined ? { tag, value, at } : { tag, value, kids, at });
  }
  return out;
}

const derLen = (n: number): number[] => (n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
const derEncode = (nodes: readonly DerNode[]): Uint8Array =>
  cat(
    ...nodes.map((n) => {
      const v = n.kids === undefined ? n.value : derEncode(n.kids);
      return cat(Uint8Array.from([n.tag, ...derLen(v.length)]), v);
    }),
  );

const derNodes = (ns: readonly DerNode[]): DerNode[] => ns.flatMap((x) => [x, ...derNodes(x.kids ?? [])]);
/** Offsets of DER tags and lengths, where edits hurt most. */
const derHot = (b: Uint8Array): number[] => derNodes(derParse(b) ?? []).flatMap((x) => [x.at, x.at + 1]);

/** One node of the tree edited (value emptied, resized, inflated past 128 KiB, retagged; children dropped, doubled, swapped), lengths re-encoded. */
function mutateDerTree(r: Rng, seed: ByteSeed, pool: readonly ByteSeed[]): Uint8Array {
  const tree = derParse(seed.bytes);
  if (tree === undefined) return mutateBytes(r, seed, pool);
  const all = derNodes(tree);
  const node = r.pick(all);
  const kids = node.kids ?? [];
  const i = r.int(kids.length);
  const kid = kids[i];
  if (kid !== undefined && r.chance(0.5)) {
    if (r.chance(0.4)) kids.splice(i, 1); // drop a child
    else if (r.chance(0.5)) kids.splice(i, 0, kid); // double it
    else [kids[i], kids[kids.length - 1]] = [kids[kids.length - 1] ?? kid, kid]; // swap with the last
  } else if (r.chance(0.2)) node.tag = r.pick([0x02, 0x03, 0x04, 0x05, 0x06, 0x0c, 0x13, 0x17, 0x18, 0x30, 0x31, 0xa0, 0xa3, node.tag ^ 0x20]);
  else {
    const v = node.value;
    delete node.kids;
    node.value = r.pick([() => new Uint8Array(0), () => v.subarray(0, r.int(v.length + 1)), () => r.bytes(v.length), () => cat(v, r.bytes(1 + r.int(8))), () => new Uint8Array(r.pick([70_000, 150_000])).fill(v[0] ?? 0x41)])();
  }
  return derEncode(tree);
}

const pemBlocks = (text: string): Uint8Array[] =>
  [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g)].map((m) => new Uint8Array(Buffer.from(m[2] ?? '', 'base64')));

const toPem = (der: Uint8Array): string =>
  `-----BEGIN CERTIFICATE-----\n${(Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? []).join('\n')}\n-----END CERTIFICATE-----\n`;

// ---------------------------------------------------------------------------------------------
// Text and JSON: character and line edits; tree edits (dropped keys, swapped types, boundary
// numbers, long strings, ~1000-deep nesting, prototype-named keys) re-serialised.

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Container = Json[] | { [k: string]: Json };

const CHARS = ['\u0000', '\n', '\r', '\t', ' ', '"', '\\', '{', '}', '[', ']', ',', ':', '0', '9', '-', 'e', '.', 'a', '=', '+', '/', '\u2014', '\ud800', '\udc00', 'é', '\u202e', '\ufeff'];

function mutateText(r: Rng, s: string): string {
  for (let k = 1 + r.int(3); k > 0; k--) {
    const p = r.int(s.length + 1);
    switch (r.int(6)) {
      case 0: s = s.slice(0, p) + s.slice(p + 1 + r.int(8)); break;
      case 1: s = s.slice(0, p) + r.pick(CHARS) + s.slice(p); break;
      case 2: s = s.slice(0, p) + r.pick(CHARS) + s.slice(p + 1); break;
      case 3: s = s.slice(0, p); break;
      case 4: s = s.slice(0, p) + s.slice(p, p + 1 + r.int(64)) + s.slice(p); break;
      default: s = s.slice(0, p) + 'A'.repeat(r.pick([64, 4096, 70_000, 150_000])) + s.slice(p);
    }
  }
  return s;
}

function mutateLines(r: Rng, s: string, pool: readonly string[]): string {
  const lines = s.split('\n');
  for (let k = 1 + r.int(3); k > 0; k--) {
    const i = r.int(lines.length);
    const line = lines[i] ?? '';
    switch (r.int(7)) {
      case 0: lines.splice(i, 1); break;
      case 1: lines.splice(i, 0, line); break;
      case 2: { const j = r.int(lines.length); lines[i] = lines[j] ?? ''; lines[j] = line; break; }
      case 3: lines.splice(i, 0, r.pick(pool)); break;
      case 4: lines[i] = r.chance(0.5) ? `  ${line}` : r.chance(0.5) ? `\t${line}` : line.replace(/^ {1,2}/, ''); break;
      case 5: lines[i] = r.pick(pool); break;
      default: lines[i] = mutateText(r, line);
    }
  }
  const out = lines.join('\n');
  return r.chance(0.1) ? out.replace(/\n$/, '') : out;
}

const deep = (n: number, obj: boolean): Json => Array.from({ length: n }).reduce<Json>((v) => (obj ? { a: v } : [v]), 0);
const tryJson = (text: string): Json | undefined => {
  try { return JSON.parse(text) as Json; } catch { return undefined; }
};

function nasty(r: Rng): Json {
  switch (r.int(6)) {
    case 0: return r.pick<Json>([null, true, false, 0, -1, 1.5, 0.1, 1e308, -1e308, 5e-324, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), 2 ** 64]);
    case 1: return r.pick(['', ' ', '0', '-1', 'NaN', 'Infinity', 'null', 'true', '\u0000', '\ud800', '\u2014', 'a'.repeat(r.pick([257, 70_000, 150_000])), '1970-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z']);
    case 2: return r.pick<Json>([[], {}, [null], [[]], { '': null }]);
    case 3: return deep(r.pick([50, 1000]), r.chance(0.5));
    case 4: return JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{}},"toString":1}') as Json;
    default: return Array.from({ length: r.pick([2, 300, 5000]) }, (_, i) => i);
  }
}

/** Sets an own property even for "__proto__" (as JSON.parse does). */
const put = (c: Container, k: string | number, v: Json): unknown => Object.defineProperty(c, k, { value: v, enumerable: true, writable: true, configurable: true });

function slots(root: Container, out: [Container, string | number][] = [], depth = 0): [Container, string | number][] {
  if (depth > 40 || out.length > 5000) return out;
  for (const k of Array.isArray(root) ? root.keys() : Object.keys(root)) {
    out.push([root, k]);
    const v = (root as Record<string | number, Json>)[k];
    if (typeof v === 'object' && v !== null) slots(v, out, depth + 1);
  }
  return out;
}

function mutateJson(r: Rng, seed: Json): Json {
  const box: { [k: string]: Json } = { root: JSON.parse(JSON.stringify(seed)) as Json };
  for (let k = 1 + r.int(r.chance(0.8) ? 2 : 6); k > 0; k--) {
    const all = slots(box);
    const [c, key] = r.pick(all);
    const cur = (c as Record<string | number, Json>)[key] ?? null;
    switch (r.int(8)) {
      case 0: // drop
        if (Array.isArray(c) && typeof key === 'number') c.splice(key, 1);
        else if (c !== box) Reflect.deleteProperty(c, key);
        break;
      case 1: put(c, key, nasty(r)); break;
      case 2: // edit in place (JSON text inside a string, like tcb_info, is edited as a tree)
        if (typeof cur === 'string') { const inner = cur.startsWith('{') && r.chance(0.5) ? tryJson(cur) : undefined; put(c, key, inner === undefined ? mutateText(r, cur) : JSON.stringify(mutateJson(r, inner))); }
        else if (typeof cur === 'number') put(c, key, r.pick([cur + 1, cur - 1, -cur, cur * 2 ** 32, cur + 0.5, 0]));
        else put(c, key, nasty(r));
        break;
      case 3: // swap type
        put(c, key, typeof cur === 'string' ? Number(cur) || cur.length : typeof cur === 'number' || typeof cur === 'boolean' ? String(cur) : JSON.stringify(cur));
        break;
      case 4: put(c, key, r.chance(0.5) ? [cur] : { [String(key)]: cur }); break;
      case 5: // grow an array or add an unknown / prototype-named / case-changed key
        if (Array.isArray(cur)) put(c, key, r.chance(0.5) ? [...cur, ...cur] : []);
        else if (cur !== null && typeof cur === 'object') put(cur, r.pick(['__proto__', 'constructor', 'toString', 'length', 'extra', ...Object.keys(cur).map((x) => x.toUpperCase())]), nasty(r));
        else put(c, key, null);
        break;
      case 6: // rename
        if (!Array.isArray(c) && c !== box) {
          Reflect.deleteProperty(c, key);
          put(c, `${String(key)}${r.pick(['_', ' ', 'X', ''])}`.toUpperCase(), cur);
        }
        break;
      default: { // copy another node here
        const [c2, k2] = r.pick(all);
        put(c, key, JSON.parse(JSON.stringify((c2 as Record<string | number, Json>)[k2] ?? null)) as Json);
      }
    }
  }
  return box['root'] ?? null;
}

const NUMBERS = ['1e999', '-1e999', '1e-999', '-0', '9007199254740993', '18446744073709551616', '0.1', '1.0', '1E2', '-1', '4294967296', '2147483648', '0x10', '00'];

function mutatedJsonText(r: Rng, seed: Json, textLevel: boolean): string {
  let text = r.chance(0.1) ? JSON.stringify(mutateJson(r, seed), null, 2) : JSON.stringify(mutateJson(r, seed));
  const nums = r.chance(0.2) ? [...text.matchAll(/-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g)] : [];
  const m = nums.length > 0 ? r.pick(nums) : undefined; // a number token becomes 1e999, -0, 2^53 + 1, ...
  if (m !== undefined) text = text.slice(0, m.index) + r.pick(NUMBERS) + text.slice(m.index + m[0].length);
  return textLevel && r.chance(0.2) ? mutateText(r, text) : text;
}

const mutatedJsonValue = (r: Rng, seed: Json): unknown => tryJson(mutatedJsonText(r, seed, true)) ?? mutateJson(r, seed);

// ---------------------------------------------------------------------------------------------
// Targets and the loop.

/** One generated input: the call on it, and its bytes for the report. */
interface Case { readonly run: () => unknown; readonly dump: () => Uint8Array }
/** count: inputs in short mode (long mode: LONG_FACTOR times more). */
interface Target { readonly name: string; readonly count: number; next(r: Rng): Case }

const onBytes = (input: Uint8Array, fn: (b: Uint8Array) => unknown): Case => ({ run: () => fn(input), dump: () => input });
const onText = (input: string, fn: (t: string) => unknown): Case => ({ run: () => fn(input), dump: () => enc.encode(input) });
const onValue = (input: unknown, fn: (v: unknown) => unknown): Case => ({ run: () => fn(input), dump: () => enc.encode(JSON.stringify(input)) });

class Hang extends Error {}

async function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => { timer = setTimeout(() => { reject(new Hang(`no answer in ${ms} ms (hang)`)); }, ms); });
  await Promise.race([p, hang]).finally(() => { clearTimeout(timer); });
}

/** The code of a typed (project) error, or undefined for anything else. */
const typedCode = (e: unknown): string | undefined =>
  (AttestationError.is(e) || e instanceof PolicyLoadError || e instanceof LogError || e instanceof StepFailure) && /^ERR_/.test(e.code) ? e.code : undefined;

function describeError(e: unknown): string {
  if (!(e instanceof Error)) return `non-Error thrown: ${String(e).slice(0, 200)}`;
  const at = (e.stack ?? '').split('\n').find((l) => l.includes('/work/') || l.includes('attestation/') || l.includes('src/')) ?? '';
  return `${e.constructor.name}: ${e.message.slice(0, 240)}${at === '' ? '' : ` (${at.trim().replace(ROOT + '/', '')})`}`;
}

function seedFor(mode: Mode): number {
  const env = process.env['FUZZ_SEED'];
  if (env !== undefined && /^\d+$/.test(env)) return Number(env) >>> 0;
  return mode === 'short' ? SHORT_SEED : Math.floor(Math.random() * 2 ** 32);
}

/** Calls one input: its typed-error code, 'accepted', or a failure text. */
async function attempt(c: Case): Promise<{ code?: string; failure?: string }> {
  const t0 = performance.now();
  let out: { code?: string; failure?: string } = {};
  try {
    const p = c.run();
    if (p instanceof Promise) await withTimeout(p as Promise<unknown>, HANG_MS);
  } catch (e: unknown) {
    const code = typedCode(e);
    out = e instanceof Hang ? { failure: e.message } : code === undefined ? { failure: describeError(e) } : { code };
  }
  const took = performance.now() - t0;
  return out.failure === undefined && took > HANG_MS ? { failure: `took ${Math.round(took)} ms (limit ${HANG_MS} ms)` } : out;
}

async function fuzz(ctx: ScenarioContext, targets: readonly Target[], capMs: number): Promise<ScenarioResult> {
  const seed = seedFor(ctx.mode);
  const factor = ctx.mode === 'short' ? 1 : LONG_FACTOR;
  const t = { inputs: 0, accepted: 0, rejected: 0, failures: 0, skipped: 0, codes: new Map<string, number>(), first: undefined as string | undefined, byTarget: new Map<string, { n: number; why: string }>() };
  const start = performance.now();
  let cut = false;
  for (const target of targets) {
    const [t0, n0, a0, f0] = [performance.now(), t.inputs, t.accepted, t.failures];
    for (let i = 0; i < target.count * factor && !(cut = performance.now() - start > capMs); i++) {
      let c: Case;
      try {
        c = target.next(new Rng(hash32(`${seed}:${target.name}:${i}`)));
      } catch {
        t.skipped++; // the generator itself gave up (a tree too deep to re-serialise): not an input
        continue;
      }
      t.inputs++;
      const { code, failure } = await attempt(c);
      if (code !== undefined) [t.rejected, t.codes] = [t.rejected + 1, t.codes.set(code, (t.codes.get(code) ?? 0) + 1)];
      else if (failure === undefined) t.accepted++;
      else {
        t.failures++;
        const seen = t.byTarget.get(target.name);
        t.byTarget.set(target.name, { n: (seen?.n ?? 0) + 1, why: seen?.why ?? failure });
        if (seen !== undefined) continue;
        const input = c.dump(); // the first failing input of each target, saved for a reproduction
        const file = join(ctx.dir, `failure-${target.name}-${seed}-${i}.bin`);
        writeFileSync(file, input);
        const hex = Buffer.from(input.subarray(0, 48)).toString('hex');
        const line = `${target.name} seed ${seed} input #${i} (${input.length} bytes, hex ${hex}${input.length > 48 ? '…' : ''}; saved ${file}): ${failure}`;
        t.first ??= line;
        ctx.log(`FAILURE ${line}`);
      }
    }
    const [ms, n] = [performance.now() - t0, t.inputs - n0];
    ctx.log(`${target.name}: ${n} inputs in ${Math.round(ms)} ms (${Math.round((n / Math.max(ms, 1)) * 1000)}/s), ${t.accepted - a0} accepted, ${t.failures - f0} failures`);
    if (cut) break;
  }
  const secs = (performance.now() - start) / 1000;
  const top = [...t.codes.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k, v]) => `${k} ${v}`).join(', ');
  const happened =
    `${t.inputs} mutated inputs to ${targets.length} targets (seed ${seed}${cut ? ', stopped at the time cap' : ''}${t.skipped > 0 ? `, ${t.skipped} not generated` : ''}): ` +
    `${t.accepted} accepted, ${t.rejected} refused with a typed error (top: ${top || 'none'}), ${t.failures} failures` +
    (t.first === undefined ? '.' : `; first: ${t.first}; failures by target: ${[...t.byTarget].map(([k, v]) => `${k} ${v.n} (${v.why})`).join('; ')}`);
  return { ok: t.failures === 0, happened, figures: { requests: t.inputs, errors: t.failures, inputs_per_s: Math.round(t.inputs / Math.max(secs, 0.001)) } };
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

const read = (...p: string[]): Uint8Array => new Uint8Array(readFileSync(join(FIX, ...p)));
const readText = (...p: string[]): string => readFileSync(join(FIX, ...p), 'utf8');
const caseDirs = (vendor: string): string[] => readdirSync(join(FIX, vendor), { withFileTypes: true }).flatMap((d) => (d.isDirectory() && d.name !== 'mutated' ? [d.name] : [])).sort();

interface CaseJson { readonly tee?: unknown; readonly verify_at?: unknown; readonly product?: unknown; readonly files?: Readonly<Record<string, unknown>> }
const caseJson = (vendor: string, dir: string): CaseJson => JSON.parse(readText(vendor, dir, 'case.json')) as CaseJson;
const atOf = (c: CaseJson): Date => new Date(typeof c.verify_at === 'string' ? c.verify_at : 'invalid');
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function unique(list: readonly Uint8Array[]): Uint8Array[] {
  const seen = new Map<string, Uint8Array>();
  for (const b of list) if (b.length > 0) seen.set(sha(b), b);
  return [...seen.values()];
}

function intelCases(): { tee: 'sgx' | 'tdx'; at: Date; quote: ByteSeed; bundle: Json }[] {
  return caseDirs('intel').map((d) => {
    const c = caseJson('intel', d);
    const quote = read('intel', d, 'quote.bin');
    // Header fields, body sizes, the signature-data length (SGX at 432, TDX v4 at 632, v5 after a
    // 6-byte body descriptor), the certification data heads, and the length before the PCK chain.
    const pem = Buffer.from(quote).indexOf('-----BEGIN CERTIFICATE-----');
    const hot = [0, 2, 4, 6, 8, 12, 16, 28, 48, 50, 52, 432, 436, 564, 566, 632, 636, 638, 764, 766, 1218, ...(pem > 6 ? [pem - 6, pem - 4] : [])];
    return { tee: c.tee === 'tdx' ? 'tdx' : 'sgx', at: atOf(c), quote: { bytes: quote, hot }, bundle: JSON.parse(readText('intel', d, 'collateral.json')) as Json };
  });
}

function amdCases(): { at: Date; product: AmdProduct | undefined; report: ByteSeed; files: CollateralFile[] }[] {
  return caseDirs('amd').map((d) => {
    const c = caseJson('amd', d);
    const f = c.files ?? {};
    const names = [f['vek'], f['cert_chain'], f['crl']].filter((x): x is string => typeof x === 'string');
    const report = f['report'];
    const p = typeof c.product === 'string' ? c.product.toLowerCase() : '';
    const product = p === 'milan' || p === 'genoa' || p === 'turin' ? p : undefined;
    const hot = [0, 4, 8, 0x30, 0x34, 0x38, 0x48, 0x180, 0x188, 0x1a0, 0x1f8, 0x2a0, 0x2e8, ...Array.from({ length: 0x2a0 / 8 }, (_, i) => i * 8)];
    const files = names.map((n) => ({ name: n, bytes: read('amd', d, n) }));
    return { at: atOf(c), product, report: { bytes: read('amd', d, typeof report === 'string' ? report : 'report.bin'), hot }, files };
  });
}

function nitroCases(): { at: Date; doc: ByteSeed; payload: Uint8Array | undefined; certs: Uint8Array[] }[] {
  return caseDirs('nitro').map((d) => {
    const bytes = read('nitro', d, 'attestation.cbor');
    const doc = ((): ReturnType<typeof parseNitroDocument> | undefined => {
      try { return parseNitroDocument(bytes); } catch { return undefined; } // a negative case: its document is still a seed
    })();
    const certs = doc === undefined ? [] : [doc.payload.certificate, ...doc.payload.cabundle];
    return { at: atOf(caseJson('nitro', d)), doc: { bytes, hot: cborHot(bytes) }, payload: doc?.payloadBytes, certs };
  });
}

const byteTarget = (name: string, count: number, seeds: readonly ByteSeed[], fn: (b: Uint8Array) => unknown): Target => ({ name, count, next: (r) => onBytes(mutateBytes(r, r.pick(seeds), seeds), fn) });

const jsonTextTarget = (name: string, count: number, seeds: readonly Json[], fn: (t: string) => unknown): Target => ({ name, count, next: (r) => onText(mutatedJsonText(r, r.pick(seeds), true), fn) });

const jsonValueTarget = (name: string, count: number, seeds: readonly Json[], fn: (v: unknown) => unknown): Target => ({ name, count, next: (r) => onValue(mutatedJsonValue(r, r.pick(seeds)), fn) });

const strField = (v: Json, k: string): string => {
  const x = v !== null && typeof v === 'object' && !Array.isArray(v) ? v[k] : undefined;
  return typeof x === 'string' ? x : '';
};

// ---------------------------------------------------------------------------------------------
// Scenarios.

function intelTargets(): Target[] {
  const cases = intelCases();
  const quotes = cases.map((c) => c.quote);
  const tcb = cases.map((c) => JSON.parse(strField(c.bundle, 'tcb_info')) as Json);
  const qe = cases.map((c) => JSON.parse(strField(c.bundle, 'qe_identity')) as Json);
  return [
    byteTarget('intel-quote', 3000, quotes, parseQuote),
    jsonTextTarget('intel-tcb-info', 1000, tcb, parseTcbInfo),
    jsonTextTarget('intel-qe-identity', 1500, qe, parseQeIdentity),
    jsonValueTarget('intel-bundle', 1000, cases.map((c) => c.bundle), toDcapCollateral),
    { name: 'intel-verify', count: 500, next: (r) => {
      const c = r.pick(cases);
      const mutateQuote = r.chance(0.7);
      const evidence = mutateQuote ? mutateBytes(r, c.quote, quotes) : c.quote.bytes;
      const bundle = enc.encode(mutateQuote ? JSON.stringify(c.bundle) : mutatedJsonText(r, c.bundle, r.chance(0.3)));
      return { run: () => verifyEvidence({ tee: c.tee, evidence, collateral: [{ name: 'collateral.json', bytes: bundle }] }, { at: c.at }), dump: () => (mutateQuote ? evidence : bundle) };
    } },
  ];
}

function amdTargets(): Target[] {
  const cases = amdCases();
  const reports = cases.map((c) => c.report);
  return [
    byteTarget('amd-report', 4000, reports, parseReport),
    { name: 'amd-verify', count: 400, next: (r) => {
      const c = r.pick(cases);
      const which = r.chance(0.7) ? -1 : r.int(c.files.length);
      const evidence = which < 0 ? mutateBytes(r, c.report, reports) : c.report.bytes;
      const files = c.files.map((f, i): CollateralFile => {
        if (i !== which) return f;
        const isPem = f.name.endsWith('.pem');
        const how = r.int(3); // PEM lines, DER tree / bytes, or oversized (a size limit must refuse it, typed)
        const text = Buffer.from(f.bytes).toString('latin1');
        if (how === 2) return { name: f.name, bytes: enc.encode(text + r.pick(['', '\n# ']) + 'A'.repeat(r.pick([70_000, 150_000, 400_000]))) };
        const seed = { bytes: f.bytes, hot: derHot(f.bytes) };
        return { name: f.name, bytes: isPem && how === 0 ? enc.encode(mutateLines(r, text, PEM_LINES)) : isPem ? mutateBytes(r, seed, [seed]) : mutateDerTree(r, seed, [seed]) };
      });
      const dumped = which < 0 ? evidence : (files[which]?.bytes ?? evidence);
      return { run: () => verifyEvidence({ tee: 'sev-snp', evidence, collateral: files, ...(c.product !== undefined ? { product: c.product } : {}) }, { at: c.at }), dump: () => dumped };
    } },
  ];
}

function nitroTargets(): Target[] {
  const cases = nitroCases();
  const docs = cases.map((c) => c.doc);
  const payloads = cases.flatMap((c) => (c.payload === undefined ? [] : [{ bytes: c.payload, hot: cborHot(c.payload) }]));
  return [
    byteTarget('nitro-cbor', 3000, [...docs, ...payloads], (b) => decodeCbor(b)),
    byteTarget('nitro-document', 3000, docs, parseNitroDocument),
    byteTarget('nitro-payload', 3000, payloads, parsePayload),
    { name: 'nitro-verify', count: 600, next: (r) => {
      const c = r.pick(cases);
      const evidence = mutateBytes(r, c.doc, docs);
      return { run: () => verifyEvidence({ tee: 'nitro', evidence, collateral: [] }, { at: c.at }), dump: () => evidence };
    } },
  ];
}

const PEM_LINES = ['', '-----BEGIN CERTIFICATE-----', '-----END CERTIFICATE-----', '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----', '-----BEGIN PRIVATE KEY-----', 'MA==', '====', 'A'.repeat(5000), '\u2014', 'not base64 !', '-----BEGIN X509 CRL-----'];

function asn1Targets(): Target[] {
  const pemTexts: string[] = [];
  const ders: Uint8Array[] = [];
  const crls: Uint8Array[] = [];
  for (const d of caseDirs('amd')) for (const f of readdirSync(join(FIX, 'amd', d))) if (f.endsWith('.pem')) pemTexts.push(readText('amd', d, f)); else if (f.endsWith('.der')) ders.push(read('amd', d, f));
  for (const d of caseDirs('intel')) {
    pemTexts.push(readText('intel', d, 'intel-sgx-root-ca.pem'));
    const bundle = JSON.parse(readText('intel', d, 'collateral.json')) as Json;
    for (const k of ['pck_crl_issuer_chain', 'tcb_info_issuer_chain', 'qe_identity_issuer_chain']) pemTexts.push(strField(bundle, k));
    for (const k of ['root_ca_crl', 'pck_crl']) crls.push(new Uint8Array(Buffer.from(strField(bundle, k), 'hex')));
    const quote = Buffer.from(read('intel', d, 'quote.bin')).toString('latin1');
    pemTexts.push(...(quote.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? []));
    const raw = join(FIX, 'intel', d, 'raw');
    for (const f of existsSync(raw) ? readdirSync(raw) : []) if (f.endsWith('.der')) (f.includes('crl') ? crls : ders).push(read('intel', d, 'raw', f));
  }
  for (const d of caseDirs('nitro')) pemTexts.push(readText('nitro', d, 'root.pem'));
  for (const c of nitroCases()) ders.push(...c.certs);
  const certSeeds = unique([...ders, ...pemTexts.flatMap(pemBlocks)]).map((b): ByteSeed => ({ bytes: b, hot: derHot(b) }));
  const crlSeeds = unique(crls).map((b): ByteSeed => ({ bytes: b, hot: derHot(b) }));
  const texts = [...new Set(pemTexts.filter((t) => t.includes('-----BEGIN')))];
  return [
    byteTarget('asn1-certificate', 4000, certSeeds, (b) => parseCertificate(b)),
    { name: 'asn1-certificate-tree', count: 1000, next: (r) => onBytes(mutateDerTree(r, r.pick(certSeeds), certSeeds), (b) => parseCertificate(b)) },
    { name: 'asn1-pem', count: 2500, next: (r) => {
      if (r.chance(0.5)) return onText(mutateLines(r, r.pick(texts), PEM_LINES), (t) => parsePemCertificates(t));
      const parts = Array.from({ length: 1 + r.int(3) }, () => r.pick(certSeeds).bytes);
      const i = r.int(parts.length);
      parts[i] = mutateBytes(r, r.pick(certSeeds), certSeeds);
      return onText(parts.map(toPem).join(''), (t) => parsePemCertificates(t));
    } },
    byteTarget('asn1-crl', 4000, crlSeeds, (b) => parseCrl(b)),
    { name: 'asn1-crl-tree', count: 1000, next: (r) => onBytes(mutateDerTree(r, r.pick(crlSeeds), crlSeeds), (b) => parseCrl(b)) },
  ];
}

const hex64 = (s: string): string => sha(enc.encode(s));
const b64url = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const fixed = (n: number, tag: string): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (hash32(`${tag}${i}`) & 0xff));

const YAML_LINES = [
  'a: &x [*x]', '<<: *nothing', 'tee: !!binary aGVsbG8=', 'version: !!float 1', 'version: 0x1', 'version: 1e999', `name: ${'x'.repeat(5000)}`,
  '? [a, b]\n: c', '%YAML 1.1', '---', '...', `tee: ${'['.repeat(1000)}${']'.repeat(1000)}`, 'name: "\\ud800"', 'reference: !!set {a, b}',
  '__proto__: {polluted: 1}', 'version: 1\nversion: 2', 'allowSimulated: yes', 'allowSimulated: ~',
  'a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
  'tee: !custom nitro', '\t- x'
];

const CHECKPOINT_LINES = ['', '0', '01', '-1', '18446744073709551616', '9007199254740992', b64(fixed(31, 'r')), b64(fixed(33, 'r')), 'x'.repeat(10_000), '\u2014 name AAAA', 'a\u0000b', '\ud800', `\u2014 log ${b64(fixed(4, 'k'))}`, '\u2014  x'];

async function earSeeds(policyText: string): Promise<Json[]> {
  const policy = parsePolicyText(policyText, 'yaml');
  const digest = await policyDigest(policy);
  const out: Json[] = [];
  const inputs = [
    ...nitroCases().slice(0, 2).map((c) => ({ tee: 'nitro' as const, evidence: c.doc.bytes, collateral: [] as CollateralFile[], at: c.at })),
    ...amdCases().slice(0, 1).map((c) => ({ tee: 'sev-snp' as const, evidence: c.report.bytes, collateral: c.files, at: c.at, ...(c.product !== undefined ? { product: c.product } : {}) })),
    ...intelCases().slice(0, 1).map((c) => ({ tee: c.tee, evidence: c.quote.bytes, collateral: [{ name: 'collateral.json', bytes: enc.encode(JSON.stringify(c.bundle)) }], at: c.at })),
  ];
  for (const input of inputs) {
    try {
      const result = await verifyEvidence(input, { at: input.at, allowDebug: true });
      const appraisal = appraise(result, policy, { at: input.at });
      const ear = buildEar({ result, appraisal, policy: { name: policy.name, digest }, evidenceSha256: createHash('sha256').update(input.evidence).digest(), at: input.at, build: 'fuzz-1.0', nonce: fixed(16, 'n') });
      out.push(JSON.parse(JSON.stringify(ear)) as Json);
    } catch {
      // a fixture that does not verify gives no EAR seed
    }
  }
  return out;
}

async function jsonTargets(): Promise<Target[]> {
  const yamlText = readFileSync(join(ROOT, 'config/demo-policy.yaml'), 'utf8');
  const policy = parseYaml(yamlText) as Json;
  const ears = await earSeeds(yamlText);
  const root = b64(fixed(32, 'root'));
  const uuid = '00000000-0000-4000-8000-000000000000';
  const checkpoints = [`attestgate.example/log\n42\n${root}\n`, `example.com/origin\n0\n${b64(fixed(32, 'e'))}\nextension line\n`, `o\n9007199254740991\n${root}\n`];
  const notes = checkpoints.map((c, i) => `${c}\n\u2014 attestgate.example/log ${b64(fixed(68, `s${i}`))}\n${i === 0 ? `\u2014 witness ${b64(fixed(68, 'w'))}\n` : ''}`);
  const model = { name: 'iris', version: '1', sha256: '2f5f6204c560b0e6179267e640c71334940d3f31725d379a1a1b52fa06d57918' };
  const receipt: Json = {
    typ: 'attestgate-receipt/v1', id: b64url(fixed(16, 'id')), iat: 1_700_000_000, ts: '2023-11-14T22:13:20.000Z', request_sha256: hex64('req'),
    response_sha256: hex64('res'), model, runtime: { name: 'onnxruntime', version: '1.20.0' }, kid: b64url(fixed(32, 'kid')), tee: 'nitro', simulated: false,
    measurement: { pcr0: hex64('p0') + hex64('p0').slice(0, 32), pcr1: hex64('p1') + hex64('p1').slice(0, 32) }, evidence_sha256: hex64('ev'),
    nonce: 'abcdefghijklmnop_-01',
  };
  const key = { kty: 'EC', crv: 'P-256', x: b64url(fixed(32, 'x')), y: b64url(fixed(32, 'y')), kid: b64url(fixed(32, 'kid')) };
  const record: Json = {
    id: uuid, backend: 'b1', created_at: '2025-01-01T00:00:00.000Z', expires_at: '2025-01-02T00:00:00.000Z', admitted: true,
    nonce: b64url(fixed(32, 'nonce')), tee: 'nitro', simulated: false, key, models: [model], policy_digest: hex64('policy'),
    evidence_sha256: hex64('evidence'), evidence: b64(fixed(64, 'evidence')),
    collateral: [{ name: 'collateral.json', sha256: hex64('c'), data: b64(enc.encode('{}')) }], ear: 'eyJhbGciOiJFUzI1NiJ9.eyJhIjoxfQ.c2ln',
  };
  const receiptJws = 'eyJhIjoxfQ.eyJiIjoyfQ.c2ln';
  const answers: Json[] = [
    { headers: { 'attestgate-receipt': receiptJws, 'attestgate-attestation': uuid, 'attestgate-nonce': 'abcdefghijklmnop', 'content-type': 'application/json' }, body: '{"outputs":[]}' },
    { payload: 'e30', signatures: [{ protected: b64url(enc.encode('{"alg":"ES256","kid":"k"}')), signature: 'AA' }, { protected: b64url(enc.encode(`{"alg":"ES256","attestation":"${uuid}"}`)), signature: 'AA' }] },
    { type: 'attestgate-capture/v1', headers: { 'Attestgate-Receipt': receiptJws }, body: '' },
  ];
  const proof: Json = {
    receipt: { id: 'abc', receipt: 'a.b.c', receipt_sha256: 'a'.repeat(64), attestation_id: uuid, log_index: 1 },
    log: { checkpoint: checkpoints[0] ?? '', tree_size: 2, index: 1, leaf: 'e30=', proof: ['AA=='] },
    verifier_key: 'k+00000000+AA',
  };
  return [
    jsonTextTarget('policy-json', 1500, [policy], (t) => parsePolicyText(t, 'json')),
    { name: 'policy-yaml', count: 300, next: (r) => {
      const text = r.chance(0.5) ? mutateLines(r, yamlText, YAML_LINES) : r.chance(0.5) ? yamlOf(mutateJson(r, policy)) : mutatedJsonText(r, policy, true);
      return onText(text, (t) => parsePolicyText(t, 'yaml'));
    } },
    jsonValueTarget('receipt-claims', 1500, [receipt], parseReceiptClaims),
    ...(ears.length > 0 ? [jsonValueTarget('ear', 1500, ears, parseEar)] : []),
    { name: 'checkpoint', count: 2000, next: (r) => onText(mutateLines(r, r.pick(checkpoints), CHECKPOINT_LINES), parseCheckpoint) },
    { name: 'signed-note', count: 2000, next: (r) => onText(mutateLines(r, r.pick(notes), CHECKPOINT_LINES), parseNote) },
    jsonValueTarget('client-answer', 2000, answers, parseAnswer),
    jsonValueTarget('client-record', 2000, [record], parseAttestationRecord),
    jsonValueTarget('client-proof', 2000, [proof], parseProofBundle),
    jsonValueTarget('client-jwks', 2000, [{ keys: [key, { ...key, kid: 'second' }] }], parseJwks),
  ];
}

/** YAML text of a tree (the yaml library's stringifier overflows its stack on deep trees: then JSON, which is YAML too). */
function yamlOf(v: Json): string {
  try { return stringifyYaml(v); } catch { return JSON.stringify(v); } // prettier-ignore
}

const EXPECTED = 'every input ends in a result or a typed error with an ERR_ code within 2 s: no TypeError/RangeError, no untyped throw, no hang';

function fuzzScenario(name: string, injected: string, short: number, build: () => Target[] | Promise<Target[]>): Scenario {
  const budgetMs = { short, long: short * 12 };
  return { name, group: 'fuzz', injected, expected: EXPECTED, budgetMs, run: async (ctx) => fuzz(ctx, await build(), budgetMs[ctx.mode] * 0.8) };
}

export const scenarios: Scenario[] = [
  fuzzScenario('fuzz-intel', 'mutated DCAP quotes (header/length fields), TCB info and QE identity JSON, collateral bundles; full SGX/TDX verification', 30_000, intelTargets),
  fuzzScenario('fuzz-amd', 'mutated SEV-SNP reports (fields with boundary values), VCEK/VLEK DER and chains; full SEV-SNP verification', 30_000, amdTargets),
  fuzzScenario('fuzz-nitro', 'mutated CBOR heads, COSE_Sign1 documents and payloads; full Nitro verification', 30_000, nitroTargets),
  fuzzScenario('fuzz-asn1', 'mutated DER certificates (tags/lengths), PEM chains and CRLs from every fixture', 30_000, asn1Targets),
  fuzzScenario('fuzz-json', 'mutated policies (JSON/YAML), receipt claims, EARs, checkpoints and signed notes, client answers/records/proofs/JWKS', 30_000, jsonTargets),
];
