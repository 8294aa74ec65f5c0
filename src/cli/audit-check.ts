/**
 * The audit of a transparency log, as a checklist (docs/log.md, "Auditing"):
 *
 *   1. the verifier key: the one pinned (--log-key, or the state file), else the served one on
 *      first use (TOFU); a log that now serves another key is a finding        log_key_mismatch
 *   2. the latest checkpoint's signature, with WebCrypto Ed25519             checkpoint_invalid
 *   3. against the last checkpoint this auditor saw (state file): not smaller     rollback
 *      and, by the log's consistency proof, an extension of it                    fork
 *   4. every entry fetched, the tree rebuilt from the leaf bytes, its root     entry_missing,
 *      compared with the checkpoint's (a changed, added or dropped entry)         root_mismatch
 *      and, for an export, with every older signed checkpoint it holds           fork
 *   5. every entry read as the gateway writes it                              entry_malformed
 *   6. key events: the gateway keys (to check EARs with), enclave admissions   key_event_invalid
 *   7. receipts: each names an earlier, admitting attestation of its backend,  receipt_unbacked
 *      and was served while that attestation was valid
 *   8. attestations, offline: EAR signature by a logged gateway key, and its   ear_invalid
 *      claims agree with the entry; evidence and collateral by digest          blob_missing,
 *      (content-addressed: bytes that do not hash to their name are a finding) blob_mismatch
 *      re-verified at the recorded time to the vendor roots (simulated roots   evidence_invalid,
 *      only when allowed); the binding of nonce, enclave key and models        simulated, binding,
 *      (from the attestation record, checked against the entry)                record_*
 *   9. optionally, re-appraisal under another policy: the admitted enclaves    reappraisal_refused
 *      that policy would refuse, with the receipts they served
 *
 * Steps 1-4 decide whether the log is one consistent history; if so, the new checkpoint becomes
 * the state for the next audit. Signature checks stop at the first failure; everything else is
 * collected, so one run reports every problem.
 */
import { calculateJwkThumbprint, compactVerify, decodeJwt, decodeProtectedHeader, importJWK, type JWK } from 'jose';
import { checkBinding } from '../../attestation/binding.ts';
import { equalBytes, fromBase64, toBase64, toHex } from '../../attestation/common/bytes.ts';
import { parsePemCertificates, type TrustAnchor } from '../../attestation/common/x509.ts';
import { parseEar } from '../../attestation/ear.ts';
import { AttestationError, type PolicyMismatch } from '../../attestation/errors.ts';
import { appraise } from '../../attestation/policy/appraise.ts';
import { canonicalJson } from '../../attestation/policy/digest.ts';
import type { Policy } from '../../attestation/policy/schema.ts';
import { toDcapCollateral } from '../../attestation/intel/bundle.ts';
import { parseQuote } from '../../attestation/intel/parse.ts';
import { pckExtensions } from '../../attestation/intel/pck.ts';
import { verifyEvidence, type CollateralFile } from '../../attestation/registry.ts';
import type { ClaimValue, EvidenceResult, TeeKind } from '../../attestation/result.ts';
import { AMD_ARKS } from '../../attestation/roots/amd.ts';
import { AWS_NITRO_ROOT_G1 } from '../../attestation/roots/aws-nitro-root.ts';
import { INTEL_SGX_ROOT_CA, pinnedAnchor } from '../../attestation/roots/index.ts';
import { parseCheckpoint, parseNote, parseVerifierKey, verifyCheckpoint, type NoteVerifier, type VerifiedCheckpoint } from '../audit/checkpoint.ts';
import { verifyConsistency } from '../audit/merkle.ts';
import { sha256 } from '../audit/sha256-node.ts';
import {
  EntryError,
  isAdmitting,
  parseAttestationRecord,
  parseLogEntry,
  type AttestationEntry,
  type AttestationRecordView,
  type KeyEntry,
} from './audit-entries.ts';
import type { LogSource } from './audit-source.ts';
import type { AuditState, LogState } from './audit-state.ts';
import { MemoryTree } from './audit-tree.ts';

export const FINDING_KINDS = [
  'log_key_mismatch',
  'checkpoint_invalid',
  'rollback',
  'fork',
  'root_mismatch',
  'entry_missing',
  'entry_malformed',
  'key_event_invalid',
  'receipt_unbacked',
  'ear_invalid',
  'record_missing',
  'record_mismatch',
  'blob_missing',
  'blob_mismatch',
  'simulated',
  'evidence_invalid',
  'binding',
  'reappraisal_refused',
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

/** Findings that mean the log is not one consistent history: the state is then left as it was. */
const STRUCTURAL: ReadonlySet<FindingKind> = new Set(['log_key_mismatch', 'checkpoint_invalid', 'rollback', 'fork', 'root_mismatch', 'entry_missing']);

export interface Finding {
  readonly kind: FindingKind;
  /** The log entry concerned, when there is one. */
  readonly index?: number;
  readonly message: string;
}

export interface RefusedAttestation {
  readonly attestation: string;
  readonly index: number;
  readonly backend: string;
  readonly logged_verdict: string;
  readonly receipts: readonly string[];
  readonly mismatches: readonly PolicyMismatch[];
}

export interface AuditReport {
  readonly ok: boolean;
  readonly source: string;
  readonly origin: string | null;
  readonly log_key: string | null;
  /** How the key was trusted: named with --log-key, pinned in the state file, or pinned by this run (first use). */
  readonly key_pinning: 'flag' | 'state' | 'first_use';
  readonly checkpoint: { readonly size: number; readonly root: string } | null;
  /** The checkpoint of the previous audit that this one was checked against. */
  readonly previous: { readonly size: number; readonly root: string; readonly audited_at: string } | null;
  readonly findings: readonly Finding[];
  readonly counts: {
    readonly entries: number;
    readonly attestations: number;
    readonly receipts: number;
    readonly key_events: number;
    /** Attestations whose evidence verified again, offline. */
    readonly reverified: number;
    /** Entries past the checkpoint (not yet signed): not audited. */
    readonly beyond_checkpoint: number;
  };
  readonly reappraisal?: {
    readonly policy: string;
    readonly policy_digest: string;
    /** The time every attestation was appraised at; null: each at its own recorded time. */
    readonly at: string | null;
    /** How many attestations were re-verified with collateral the auditor gave (--collateral) instead of the logged one. */
    readonly newer_collateral_used: number;
    readonly refused: readonly RefusedAttestation[];
  };
}

export interface AuditOptions {
  readonly source: LogSource;
  readonly state: AuditState;
  /** --log-key: the verifier key to trust, whatever the log serves. */
  readonly logKey?: string;
  /** Accept evidence that chains to a simulated root given in extraAnchors. Default false. */
  readonly allowSimulated: boolean;
  /** Trust anchors besides the pinned vendor roots (--trust-root). */
  readonly extraAnchors: readonly TrustAnchor[];
  readonly reappraise?: {
    readonly policy: Policy;
    readonly policyDigest: string;
    readonly at?: Date;
    /**
     * Newer collateral (--collateral): for each Intel quote, the DCAP bundle among these files
     * whose TCB info is for the quote's TEE and FMSPC replaces the logged one, and the evidence is
     * verified again with it at `at` (a PCK revoked since, a TCB level now OutOfDate, a QE identity
     * that moved on: each makes the attestation one the auditor would now refuse).
     */
    readonly collateral?: readonly CollateralFile[];
  };
  readonly progress?: (phase: 'entries' | 'attestations', done: number, total: number) => void;
  /** For the state's audited_at (never used to verify: verification runs at each entry's time). */
  readonly now: () => Date;
  /** Attestations re-verified at once (default 4). */
  readonly concurrency?: number;
}

export interface AuditOutcome {
  readonly report: AuditReport;
  /** The state to save, or undefined when this audit must not move it (a structural finding). */
  readonly state: AuditState | undefined;
}

/** The audit could not run (a bad --log-key or a state that contradicts it): exit 2, no report. */
export class AuditUsageError extends Error {
  override readonly name = 'AuditUsageError';
}

/** A receipt may be recorded this long after its attestation expired: a request admitted just before expiry finishes within the gateway's request timeout (60 s). */
export const RECEIPT_GRACE_MS = 60_000;

// ---------------------------------------------------------------------------------------------

/**
 * A signed-note verifier on WebCrypto Ed25519 (Node 20 and browsers): checkpoint.ts accepts an
 * async verify, so the auditor needs nothing of node:crypto for signatures.
 */
export function webCryptoNoteVerifier(vkey: string): NoteVerifier {
  const k = parseVerifierKey(sha256, vkey);
  let key: ReturnType<typeof crypto.subtle.importKey> | undefined;
  return {
    name: k.name,
    keyId: k.keyId,
    async verify(message, signature) {
      if (signature.length !== 64) return false;
      key ??= crypto.subtle.importKey('raw', k.publicKey, { name: 'Ed25519' }, false, ['verify']);
      return crypto.subtle.verify({ name: 'Ed25519' }, await key, signature, message);
    },
  };
}

/** The pinned vendor roots for a TEE (what the gateway trusts by default; src/gateway/trust.ts). */
export async function vendorAnchors(tee: TeeKind): Promise<TrustAnchor[]> {
  switch (tee) {
    case 'sgx':
    case 'tdx':
      return [await pinnedAnchor(INTEL_SGX_ROOT_CA)];
    case 'sev-snp':
      return Promise.all(Object.values(AMD_ARKS).map((r) => pinnedAnchor(r)));
    case 'nitro':
      return [await pinnedAnchor(AWS_NITRO_ROOT_G1)];
  }
}

const missing = (from: number, to: number): string => (to - from === 1 ? `entry ${from} is missing` : `entries ${from}..${to - 1} are missing`);
const errorText = (e: unknown): string => (AttestationError.is(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e));
const b64 = (b: Uint8Array): string => toBase64(b);
const iso = (ms: number): string => new Date(ms).toISOString();

interface AttestationState {
  readonly entry: AttestationEntry;
  readonly index: number;
  /** Unverified `exp` of the EAR (ms), for the receipts' validity window; checked in step 8. */
  readonly earExpMs: number | undefined;
  receipts: number;
  readonly receiptIds: string[];
}

interface GatewayKeyEvent {
  readonly index: number;
  readonly alg: 'ES256' | 'EdDSA';
  readonly jwk: Readonly<Record<string, unknown>>;
}

/** What a verified EAR says about one attestation. */
interface EarView {
  readonly tee: TeeKind;
  readonly claims: Readonly<Record<string, ClaimValue>>;
  readonly simulated: boolean;
  readonly nonce: string | undefined;
}

async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export async function runAudit(o: AuditOptions): Promise<AuditOutcome> {
  const findings: Finding[] = [];
  const add = (kind: FindingKind, index: number | undefined, message: string): void => {
    findings.push(index === undefined ? { kind, message } : { kind, index, message });
  };
  const counts = { entries: 0, attestations: 0, receipts: 0, key_events: 0, reverified: 0, beyond_checkpoint: 0 };
  const { source } = o;
  let previous: AuditReport['previous'] = null;

  // 1. The key. The origin comes from the (not yet verified) checkpoint: the state is by log origin.
  const note = await source.checkpoint();
  const served = await source.verifierKey();
  let origin: string;
  let unverifiedSize: number;
  try {
    const cp = parseCheckpoint(parseNote(note).text);
    origin = cp.origin;
    unverifiedSize = cp.size;
  } catch (e: unknown) {
    add('checkpoint_invalid', undefined, `the latest checkpoint cannot be read: ${errorText(e)}`);
    return done(null, null, 'first_use', null);
  }
  const slot: LogState | undefined = o.state.logs[origin];
  if (o.logKey !== undefined) {
    try {
      parseVerifierKey(sha256, o.logKey);
    } catch (e: unknown) {
      throw new AuditUsageError(`--log-key is not a signed-note verifier key (<name>+<id>+<key>): ${errorText(e)}`);
    }
    if (slot !== undefined && slot.log_key !== o.logKey) {
      throw new AuditUsageError(`the state file pins another key for log ${origin} (${slot.log_key}); remove that log from the state file to pin --log-key instead`);
    }
  }
  const pinning: AuditReport['key_pinning'] = o.logKey !== undefined ? 'flag' : slot !== undefined ? 'state' : 'first_use';
  const trusted = o.logKey ?? slot?.log_key ?? served;
  if (slot !== undefined) previous = { size: slot.size, root: slot.root, audited_at: slot.audited_at };
  if (served !== trusted) {
    add('log_key_mismatch', undefined, `the log serves verifier key ${served}, but ${pinning === 'flag' ? '--log-key names' : 'the state file pins'} ${trusted}`);
  }

  // 2. The checkpoint's signature, by the trusted key, for this origin.
  let verifier: NoteVerifier;
  let cp: VerifiedCheckpoint;
  try {
    verifier = webCryptoNoteVerifier(trusted);
    cp = await verifyCheckpoint(note, [verifier], { origin: verifier.name });
  } catch (e: unknown) {
    add('checkpoint_invalid', undefined, `the latest checkpoint (size ${unverifiedSize}) is not signed by ${trusted}: ${errorText(e)}`);
    return done(origin, trusted, pinning, null);
  }
  const cpView = { size: cp.size, root: b64(cp.root) };

  // 3. Against the previous audit. The proof comes from the log; an export has none, so its
  //    tree (step 4) is checked directly at the old size instead.
  let recheckPrevious = false;
  if (slot !== undefined) {
    const prevRoot = fromBase64(slot.root);
    if (cp.size < slot.size) {
      add('rollback', undefined, `the checkpoint has size ${cp.size}, smaller than size ${slot.size} seen at ${slot.audited_at}: the log dropped entries or shows an old view`);
    } else if (cp.size === slot.size) {
      if (!equalBytes(cp.root, prevRoot)) add('fork', undefined, `two signed checkpoints of size ${cp.size} with different roots: ${b64(cp.root)} now, ${slot.root} at ${slot.audited_at} (its note is in the state file)`);
    } else {
      const proof = await source.consistencyProof(slot.size, cp.size);
      if (proof === undefined) recheckPrevious = true;
      else {
        try {
          verifyConsistency(sha256, slot.size, cp.size, prevRoot, cp.root, proof);
        } catch (e: unknown) {
          add('fork', undefined, `the log cannot prove that its tree of size ${cp.size} extends the tree of size ${slot.size} seen at ${slot.audited_at}: ${errorText(e)}`);
        }
      }
    }
  }

  // 4-7. Every entry, in order: into the tree, then read.
  const tree = new MemoryTree();
  let complete = true;
  const attestations = new Map<string, AttestationState>();
  const gatewayKeys = new Map<string, GatewayKeyEvent>();
  let next = 0;
  o.progress?.('entries', 0, cp.size);
  for await (const e of source.entries(cp.size)) {
    if ('problem' in e) {
      add('entry_malformed', undefined, `entries.jsonl line ${e.line} ${e.problem}`);
      continue;
    }
    if (e.index >= cp.size) {
      counts.beyond_checkpoint++;
      continue;
    }
    if (e.index < next) {
      add('entry_malformed', e.index, `entry ${e.index} is served again, or out of order`);
      complete = false;
      continue;
    }
    if (e.index > next) {
      add('entry_missing', next, `${missing(next, e.index)} (the checkpoint has ${cp.size})`);
      complete = false;
      next = e.index;
    }
    tree.appendEntry(e.leaf);
    next++;
    counts.entries++;
    await readEntry(e.index, e.leaf);
    if (next % 1000 === 0) o.progress?.('entries', next, cp.size);
  }
  if (next < cp.size) {
    add('entry_missing', next, `${missing(next, cp.size)} (the checkpoint has ${cp.size})`);
    complete = false;
  }
  o.progress?.('entries', cp.size, cp.size);

  let rootOk = false;
  if (complete) {
    rootOk = equalBytes(tree.rootAt(cp.size), cp.root);
    const stored = await source.storedCheckpoints();
    const bad: number[] = [];
    const good: number[] = [];
    for (const s of stored) {
      let old: VerifiedCheckpoint;
      try {
        old = await verifyCheckpoint(s.note, [verifier], { origin: verifier.name });
      } catch (e: unknown) {
        add('checkpoint_invalid', undefined, `${s.name} is not a checkpoint signed by ${trusted}: ${errorText(e)}`);
        continue;
      }
      if (old.size > cp.size) {
        add('rollback', undefined, `${s.name} has size ${old.size}, larger than the latest checkpoint's ${cp.size}: the latest is not the latest`);
        continue;
      }
      if (equalBytes(tree.rootAt(old.size), old.root)) good.push(old.size);
      else if (rootOk) add('fork', undefined, `the log signed root ${b64(old.root)} for size ${old.size} (${s.name}), but the tree it signed at size ${cp.size} has root ${b64(tree.rootAt(old.size))} there: two histories`);
      else bad.push(old.size);
    }
    if (!rootOk) {
      const firstBad = Math.min(cp.size, ...bad);
      const lastGood = Math.max(0, ...good.filter((g) => g < firstBad));
      const where = bad.length > 0 || good.length > 0 ? `; the signed checkpoints locate the change in entries ${lastGood}..${firstBad - 1}` : '';
      add('root_mismatch', undefined, `the entries give root ${b64(tree.rootAt(cp.size))} for size ${cp.size}, the checkpoint says ${b64(cp.root)}: an entry was changed, added or dropped${where}`);
    }
    if (rootOk && recheckPrevious && slot !== undefined && slot.size <= cp.size && !equalBytes(tree.rootAt(slot.size), fromBase64(slot.root))) {
      add('fork', undefined, `the tree at size ${slot.size} has root ${b64(tree.rootAt(slot.size))}, but the checkpoint seen at ${slot.audited_at} says ${slot.root}: the log rewrote its history`);
    }
  }

  // 8. Attestations, offline.
  const toVerify = [...attestations.values()].filter((a) => a.entry.evidenceSha256 !== null || a.entry.verdict !== 'error');
  let checked = 0;
  const refused: RefusedAttestation[] = [];
  let newerCollateralUsed = 0;
  const anchorCache = new Map<TeeKind, Promise<TrustAnchor[]>>();
  const anchorsFor = (tee: TeeKind): Promise<TrustAnchor[]> => {
    let p = anchorCache.get(tee);
    if (p === undefined) {
      p = vendorAnchors(tee).then((v) => [...v, ...o.extraAnchors]);
      anchorCache.set(tee, p);
    }
    return p;
  };
  const collateralCache = new Map<string, Uint8Array>();
  o.progress?.('attestations', 0, toVerify.length);
  await mapLimit(toVerify, o.concurrency ?? 4, async (a) => {
    await checkAttestation(a);
    checked++;
    if (checked % 50 === 0) o.progress?.('attestations', checked, toVerify.length);
  });
  o.progress?.('attestations', toVerify.length, toVerify.length);

  // 9. Re-appraisal: the refusals with the answers they would have stopped.
  for (const r of refused.sort((x, y) => x.index - y.index)) {
    if (r.receipts.length > 0) {
      add('reappraisal_refused', r.index, `attestation ${r.attestation} (backend ${r.backend}, logged ${r.logged_verdict}) would be refused by the policy; ${r.receipts.length} receipt(s) were served under it: ${r.mismatches.map((m) => `${m.field} is ${m.got}, want ${m.want}`).join('; ')}`);
    }
  }

  const structural = findings.some((f) => STRUCTURAL.has(f.kind));
  const newState: AuditState | undefined =
    structural || !rootOk
      ? undefined
      : { version: 1, logs: { ...o.state.logs, [origin]: { log_key: trusted, size: cp.size, root: b64(cp.root), checkpoint: note, audited_at: o.now().toISOString() } } };
  return done(origin, trusted, pinning, cpView, newState);

  // -------------------------------------------------------------------------------------------

  function done(
    org: string | null,
    key: string | null,
    pin: AuditReport['key_pinning'],
    checkpoint: AuditReport['checkpoint'],
    state?: AuditState,
  ): AuditOutcome {
    // An unverified size and root are never reported as the checkpoint: nothing vouches for them.
    findings.sort((a, b) => (a.index ?? -1) - (b.index ?? -1));
    const report: AuditReport = {
      ok: findings.length === 0,
      source: source.where,
      origin: org,
      log_key: key,
      key_pinning: pin,
      checkpoint,
      previous,
      findings,
      counts: { ...counts },
      ...(o.reappraise === undefined
        ? {}
        : {
            reappraisal: {
              policy: o.reappraise.policy.name,
              policy_digest: o.reappraise.policyDigest,
              at: o.reappraise.at === undefined ? null : o.reappraise.at.toISOString(),
              newer_collateral_used: newerCollateralUsed,
              refused,
            },
          }),
    };
    return { report, state };
  }

  async function readEntry(index: number, leaf: Uint8Array): Promise<void> {
    let view;
    try {
      view = parseLogEntry(leaf);
    } catch (e: unknown) {
      if (!(e instanceof EntryError)) throw e;
      add('entry_malformed', index, `entry ${index} ${e.message}`);
      return;
    }
    switch (view.kind) {
      case 'attestation': {
        counts.attestations++;
        if (attestations.has(view.id)) {
          add('entry_malformed', index, `attestation id ${view.id} was already logged at entry ${String(attestations.get(view.id)?.index)}`);
          return;
        }
        let earExpMs: number | undefined;
        try {
          const exp = view.ear === null ? undefined : decodeJwt(view.ear).exp;
          earExpMs = typeof exp === 'number' ? exp * 1000 : undefined;
        } catch {
          // A malformed EAR is reported by step 8; receipts then get no expiry to check against.
        }
        attestations.set(view.id, { entry: view, index, earExpMs, receipts: 0, receiptIds: [] });
        return;
      }
      case 'receipt': {
        counts.receipts++;
        const a = attestations.get(view.attestation);
        const what = `receipt ${view.id} (entry ${index})`;
        if (a === undefined) add('receipt_unbacked', index, `${what} names attestation ${view.attestation}, which is not earlier in the log`);
        else {
          a.receipts++;
          if (o.reappraise !== undefined) a.receiptIds.push(view.id);
          if (!isAdmitting(a.entry.verdict)) add('receipt_unbacked', index, `${what} names attestation ${view.attestation} (entry ${a.index}), whose verdict is ${a.entry.verdict}: no answer may be served under it`);
          else if (a.entry.backend !== view.backend) add('receipt_unbacked', index, `${what} is from backend ${view.backend}, but attestation ${view.attestation} is of backend ${a.entry.backend}`);
          else if (view.time < a.entry.time) add('receipt_unbacked', index, `${what} at ${iso(view.time)} predates its attestation at ${iso(a.entry.time)}`);
          else if (a.earExpMs !== undefined && view.time > a.earExpMs + 999 + RECEIPT_GRACE_MS) {
            add('receipt_unbacked', index, `${what} at ${iso(view.time)} was served after attestation ${view.attestation} expired at ${iso(a.earExpMs)}`);
          }
        }
        return;
      }
      case 'key':
        counts.key_events++;
        await readKeyEvent(index, view);
        return;
    }
  }

  async function readKeyEvent(index: number, k: KeyEntry): Promise<void> {
    switch (k.event) {
      case 'gateway_key_created': {
        // The kid is the RFC 7638 thumbprint (src/signing/keys.ts): a kid naming another key is a lie.
        let thumb: string;
        try {
          const { kty, crv, x, y, n, e } = k.jwk;
          thumb = await calculateJwkThumbprint({ kty, crv, x, y, n, e } as JWK, 'sha256');
        } catch (e: unknown) {
          add('key_event_invalid', index, `gateway_key_created (entry ${index}) has a JWK that is not a public key: ${errorText(e)}`);
          return;
        }
        if (thumb !== k.kid || k.jwk['kid'] !== k.kid) {
          add('key_event_invalid', index, `gateway_key_created (entry ${index}) names kid ${k.kid}, but its JWK's thumbprint is ${thumb}`);
          return;
        }
        const seen = gatewayKeys.get(k.kid);
        if (seen !== undefined && canonicalJson(seen.jwk) !== canonicalJson(k.jwk)) {
          add('key_event_invalid', index, `gateway_key_created (entry ${index}) gives kid ${k.kid} another JWK than entry ${seen.index}`);
          return;
        }
        if (seen === undefined) gatewayKeys.set(k.kid, { index, alg: k.alg, jwk: k.jwk });
        return;
      }
      case 'enclave_key_admitted': {
        const a = attestations.get(k.attestation);
        const what = `enclave_key_admitted (entry ${index})`;
        if (a === undefined) add('key_event_invalid', index, `${what} names attestation ${k.attestation}, which is not earlier in the log`);
        else if (!isAdmitting(a.entry.verdict)) add('key_event_invalid', index, `${what} admits backend ${k.backend} on attestation ${k.attestation}, whose verdict is ${a.entry.verdict}`);
        else if (a.entry.backend !== k.backend || a.entry.keyKid !== k.kid) {
          add('key_event_invalid', index, `${what} admits key ${String(k.kid)} of backend ${k.backend}; attestation ${k.attestation} attested key ${String(a.entry.keyKid)} of backend ${a.entry.backend}`);
        }
        return;
      }
      case 'other':
        return;
    }
  }

  /** Bytes stored under `sha`, from the source's blobs or else the record's copy, checked against the digest. */
  async function bytesFor(sha: string, what: string, index: number, record: AttestationRecordView | undefined, cache?: Map<string, Uint8Array>): Promise<Uint8Array | undefined> {
    const hit = cache?.get(sha);
    if (hit !== undefined) return hit;
    const blob = await source.blob(sha);
    if (blob !== undefined) {
      const got = toHex(sha256(blob));
      if (got === sha) {
        if (cache !== undefined && cache.size < 256) cache.set(sha, blob);
        return blob;
      }
      add('blob_mismatch', index, `the ${what} stored as ${sha} hashes to ${got}: the blob was replaced`);
    }
    const copy = record?.copies.get(sha);
    if (copy !== undefined && toHex(sha256(copy)) === sha) return copy;
    add('blob_missing', index, `the ${what} ${sha} of entry ${index} is ${blob === undefined ? 'not available' : 'available only in a form that does not match its digest'}`);
    return undefined;
  }

  async function checkEar(a: AttestationState): Promise<EarView | undefined> {
    const e = a.entry;
    const what = `the EAR of attestation ${e.id} (entry ${a.index})`;
    if (e.ear === null) {
      if (isAdmitting(e.verdict) || e.verdict === 'contraindicated') add('ear_invalid', a.index, `${what} is missing, but its verdict ${e.verdict} is an appraisal`);
      return undefined;
    }
    let kid: unknown;
    try {
      kid = decodeProtectedHeader(e.ear).kid;
    } catch {
      add('ear_invalid', a.index, `${what} is not a JWS`);
      return undefined;
    }
    const key = typeof kid === 'string' ? gatewayKeys.get(kid) : undefined;
    if (key === undefined || key.index > a.index) {
      add('ear_invalid', a.index, `${what} is signed by key ${String(kid)}, which no earlier gateway_key_created event logs`);
      return undefined;
    }
    let claims;
    try {
      const { payload } = await compactVerify(e.ear, await importJWK(key.jwk as JWK, key.alg), { algorithms: [key.alg] });
      claims = parseEar(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload)) as unknown);
    } catch (err: unknown) {
      add('ear_invalid', a.index, `${what} does not verify with the logged gateway key ${String(kid)}: ${errorText(err)}`);
      return undefined;
    }
    const tees = Object.keys(claims.submods) as TeeKind[];
    const tee = tees[0];
    const sub = tee === undefined ? undefined : claims.submods[tee];
    if (tees.length !== 1 || tee === undefined || sub === undefined) {
      add('ear_invalid', a.index, `${what} appraises ${tees.length} environments, want 1`);
      return undefined;
    }
    const problems: string[] = [];
    if (sub['ear.status'] !== e.verdict) problems.push(`its status is ${sub['ear.status']}, the log records ${e.verdict}`);
    if (sub['attestgate.evidence_sha256'] !== e.evidenceSha256) problems.push(`it names evidence ${sub['attestgate.evidence_sha256']}, the log ${String(e.evidenceSha256)}`);
    if (!sub['ear.appraisal-policy-id'].endsWith(`#${e.policyDigest}`)) problems.push(`its policy is ${sub['ear.appraisal-policy-id']}, the log records digest ${e.policyDigest}`);
    if (problems.length > 0) add('ear_invalid', a.index, `${what} disagrees with the entry: ${problems.join('; ')}`);
    return { tee, claims: sub['attestgate.claims'], simulated: sub['attestgate.simulated'], nonce: claims.eat_nonce };
  }

  async function checkAttestation(a: AttestationState): Promise<void> {
    const e = a.entry;
    const admitting = isAdmitting(e.verdict);
    // An appraisal (admitting or contraindicated) means the gateway verified this evidence.
    const appraised = e.verdict !== 'error';
    const ear = await checkEar(a);
    if (e.evidenceSha256 === null) {
      if (appraised) add('evidence_invalid', a.index, `attestation ${e.id} is logged as ${e.verdict} without evidence`);
      return;
    }

    // The record: nonce, key and models for the binding, and the TEE when no EAR names it.
    let record: AttestationRecordView | undefined;
    const text = await source.attestation(e.id);
    if (text === undefined) {
      if (appraised) add('record_missing', a.index, `the attestation record ${e.id} is not available: its key binding cannot be checked`);
    } else {
      try {
        record = parseAttestationRecord(text);
        const diff: string[] = [];
        if (record.id !== e.id) diff.push(`id ${record.id}`);
        if (record.backend !== e.backend) diff.push(`backend ${record.backend}, the log ${e.backend}`);
        if (record.status !== e.verdict) diff.push(`status ${record.status}, the log ${e.verdict}`);
        if (record.evidenceSha256 !== e.evidenceSha256) diff.push(`evidence ${String(record.evidenceSha256)}, the log ${e.evidenceSha256}`);
        if ((record.key?.kid ?? null) !== e.keyKid) diff.push(`key ${String(record.key?.kid)}, the log ${String(e.keyKid)}`);
        if (diff.length > 0) add('record_mismatch', a.index, `the attestation record ${e.id} disagrees with entry ${a.index}: ${diff.join('; ')}`);
      } catch (err: unknown) {
        if (!(err instanceof EntryError)) throw err;
        add('record_mismatch', a.index, `the attestation record ${e.id} ${err.message}`);
        record = undefined;
      }
    }

    const tee = ear?.tee ?? record?.tee ?? undefined;
    if (tee === undefined) return; // nothing names the TEE: an unappraised failure with no record
    const simulated = ear?.simulated ?? record?.simulated ?? false;
    if (simulated && !o.allowSimulated) {
      // Simulated evidence proves nothing about hardware; re-verifying it is an explicit choice.
      // A refused one served nothing: not re-verifying it is no finding.
      if (admitting) add('simulated', a.index, `attestation ${e.id} (entry ${a.index}, ${e.verdict}) is of SIMULATED ${tee} evidence; pass --allow-simulated with --trust-root <simulated root> to re-verify it`);
      return;
    }

    const evidence = await bytesFor(e.evidenceSha256, 'evidence', a.index, record);
    const collateral: CollateralFile[] = [];
    for (const sha of e.collateralSha256) {
      const bytes = await bytesFor(sha, 'collateral', a.index, record, collateralCache);
      if (bytes !== undefined) collateral.push({ name: sha, bytes });
    }
    if (evidence === undefined) return;

    let result: EvidenceResult;
    try {
      result = await verifyEvidence({ tee, evidence, collateral }, { at: new Date(e.time), allowDebug: true, trustAnchors: await anchorsFor(tee) });
    } catch (err: unknown) {
      if (!AttestationError.is(err)) throw err;
      if (appraised) {
        add('evidence_invalid', a.index, `attestation ${e.id} (entry ${a.index}) is logged as ${e.verdict}, but its ${tee} evidence does not verify at ${iso(e.time)}: ${errorText(err)}${a.receipts > 0 ? ` (${a.receipts} receipt(s) were served under it)` : ''}`);
      }
      return;
    }
    counts.reverified++;

    if (ear !== undefined) {
      if (ear.tee !== result.tee || ear.simulated !== result.simulated || canonicalJson(ear.claims) !== canonicalJson(result.claims)) {
        add('ear_invalid', a.index, `the EAR of attestation ${e.id} (entry ${a.index}) states claims other than its evidence's`);
      }
    }
    // A refusal ('error') may be exactly a binding failure the gateway caught: only appraisals must bind.
    if (record !== undefined && appraised) {
      try {
        if (record.key === null) throw new EntryError('names no enclave key');
        await checkBinding(result, { nonce: record.nonce, jwk: record.key, models: record.models });
        if (ear?.nonce !== undefined && ear.nonce !== Buffer.from(record.nonce).toString('base64url')) throw new EntryError('has a nonce other than its EAR\'s');
      } catch (err: unknown) {
        add('binding', a.index, `the evidence of attestation ${e.id} (entry ${a.index}) does not bind the record's nonce, enclave key and models: ${errorText(err)}`);
      }
    }

    if (o.reappraise !== undefined && admitting) {
      const at = o.reappraise.at ?? new Date(e.time);
      const newer = tee === 'sgx' || tee === 'tdx' ? newerDcapBundle(o.reappraise.collateral ?? [], evidence, tee) : undefined;
      if (newer !== undefined) {
        newerCollateralUsed++;
        try {
          result = await verifyEvidence({ tee, evidence, collateral: [newer] }, { at, allowDebug: true, trustAnchors: await anchorsFor(tee) });
        } catch (err: unknown) {
          if (!AttestationError.is(err)) throw err;
          refused.push({ attestation: e.id, index: a.index, backend: e.backend, logged_verdict: e.verdict, receipts: a.receiptIds, mismatches: [{ field: 'evidence', got: `${err.code}: ${err.message}`, want: `verifies with the newer collateral ${newer.name} at ${at.toISOString()}` }] });
          return;
        }
      }
      const appraisal = appraise(result, o.reappraise.policy, { at, ...(record === undefined ? {} : { models: record.models }) });
      if (appraisal.status === 'contraindicated') {
        refused.push({ attestation: e.id, index: a.index, backend: e.backend, logged_verdict: e.verdict, receipts: a.receiptIds, mismatches: appraisal.mismatches });
      }
    }
  }
}

/**
 * The DCAP bundle among the auditor's files whose TCB info is for this quote's TEE and FMSPC, or
 * undefined when none is (the logged collateral then stands). Files that are not DCAP bundles are
 * skipped: --collateral may name a directory holding other things.
 */
function newerDcapBundle(files: readonly CollateralFile[], quote: Uint8Array, tee: 'sgx' | 'tdx'): CollateralFile | undefined {
  if (files.length === 0) return undefined;
  let fmspc: string;
  try {
    // The FMSPC from the PCK certificate's SGX extension (the quote was verified already).
    const leaf = parsePemCertificates(parseQuote(quote).pckChainPem)[0];
    if (leaf === undefined) return undefined;
    fmspc = toHex(pckExtensions(leaf).fmspc).toLowerCase();
  } catch {
    return undefined; // a quote we cannot read was refused already
  }
  for (const f of files) {
    try {
      const bundle = toDcapCollateral(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(f.bytes)));
      const info = JSON.parse(bundle.tcb_info) as { id?: unknown; fmspc?: unknown };
      // TCB info v2 (SGX only) has no id; v3 says SGX or TDX.
      const forTee = info.id === undefined ? tee === 'sgx' : typeof info.id === 'string' && info.id.toLowerCase() === tee;
      if (forTee && typeof info.fmspc === 'string' && info.fmspc.toLowerCase() === fmspc) return f;
    } catch {
      continue;
    }
  }
  return undefined;
}
