/**
 * `attestgate audit`: the auditor's command for the transparency log (docs/log.md).
 *
 *   attestgate audit --gateway <url> | --from-dir <dir>
 *                    [--state <file>] [--log-key <vkey>] [--allow-simulated] [--trust-root <pem>]...
 *                    [--json] [--reappraise --policy <file> [--at <ISO time>] [--collateral <file-or-dir>]...]
 *
 * This file reads arguments, trust roots, policy and state, runs audit-check.ts, prints the
 * report and saves the state. Exit status: 0 nothing wrong, 1 any finding, 2 usage, I/O or
 * network error (no verdict on the log).
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import { AttestationError } from '../../attestation/errors.ts';
import { policyDigest } from '../../attestation/policy/digest.ts';
import { parsePolicyText } from '../../attestation/policy/schema.ts';
import type { TrustAnchor } from '../../attestation/common/x509.ts';
import { anchorFromPem } from '../../attestation/roots/index.ts';
import { parseVerifierKey } from '../audit/checkpoint.ts';
import { sha256 } from '../audit/sha256-node.ts';
import { readCollateral } from './collateral-files.ts';
import { AuditUsageError, FINDING_KINDS, runAudit, type AuditReport, type FindingKind } from './audit-check.ts';
import { AuditSourceError, dirSource, gatewaySource, type LogSource } from './audit-source.ts';
import { defaultStatePath, loadState, saveState, StateFileError } from './audit-state.ts';

export const AUDIT_USAGE = `usage:
  attestgate audit --gateway <url> | --from-dir <export-dir>
                   [--state <file>] [--log-key <vkey>] [--allow-simulated] [--trust-root <pem>]...
                   [--json] [--reappraise --policy <file> [--at <ISO-8601 time>] [--collateral <file-or-dir>]...]
      checks the log's signed checkpoint, its consistency with the last one audited (state file,
      default ~/.attestgate/audit-state.json; the log key is pinned there on first use), rebuilds
      the Merkle tree from every entry, re-verifies every attestation offline at its recorded
      time, and checks every receipt against the attestation it names.
      --allow-simulated with --trust-root <simulated root pem> re-verifies simulated evidence.
      --reappraise lists the receipts served by enclaves that --policy would refuse (at --at, or
      at each attestation's own time); with --collateral, newer Intel DCAP collateral bundles
      (JSON, one per TEE and FMSPC; a directory is searched) replace the logged ones, and
      evidence that no longer verifies with them counts as refused.
      Exit status: 0 nothing wrong, 1 findings, 2 usage/I/O.
`;

export interface AuditIo {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
}

class AuditArgError extends Error {
  override readonly name = 'AuditArgError';
}


/** Progress on stderr: a bar on a terminal, a line per 10% otherwise (and always with --json). */
export function progressReporter(io: AuditIo, tty: boolean, json: boolean, minEntries = 1000): (phase: 'entries' | 'attestations', done: number, total: number) => void {
  let active = false;
  let lastDraw = 0;
  let lastTenth = -1;
  return (phase, done, total) => {
    if (phase === 'entries' && done === 0) active = total > minEntries;
    if (!active || total === 0) return;
    const pct = Math.floor((done / total) * 100);
    const label = phase === 'entries' ? 'entries     ' : 'attestations';
    if (tty && !json) {
      const now = Date.now();
      if (done !== total && done !== 0 && now - lastDraw < 100) return;
      lastDraw = now;
      const width = 30;
      const fill = Math.round((done / total) * width);
      io.err(`\r${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${String(pct).padStart(3)}% ${done}/${total}${done === total ? '\n' : ''}`);
      return;
    }
    const tenth = Math.floor(pct / 10);
    if (done === 0) lastTenth = -1;
    if (tenth === lastTenth) return;
    lastTenth = tenth;
    io.err(`audit: ${label.trim()} ${done}/${total} (${pct}%)\n`);
  };
}

function parseTime(s: string): Date {
  // An explicit ISO-8601 date-time, so that "--at 07/01" cannot be read in a local time zone.
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/.test(s)) throw new AuditArgError(`--at: "${s}" is not an ISO-8601 time`);
  const d = new Date(s);
  if (!Number.isFinite(d.getTime())) throw new AuditArgError(`--at: "${s}" is not a valid time`);
  return d;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e: unknown) {
    throw new AuditArgError(`${what} ${path} cannot be read: ${e instanceof Error ? e.message : String(e)}`);
  }
}

const MAX_SHOWN_PER_KIND = 20;

function printHuman(io: AuditIo, r: AuditReport, stateNote: string): void {
  io.out(`audit of ${r.source}\n`);
  if (r.origin !== null) io.out(`log          ${r.origin}\n`);
  if (r.log_key !== null) {
    const how = r.key_pinning === 'flag' ? 'named by --log-key' : r.key_pinning === 'state' ? 'pinned in the state file' : 'PINNED ON FIRST USE: compare it with the key the operator publishes';
    io.out(`log key      ${r.log_key} (${how})\n`);
  }
  if (r.checkpoint !== null) io.out(`checkpoint   size ${r.checkpoint.size}, root ${r.checkpoint.root} (signature verified)\n`);
  if (r.previous === null) io.out('previous     none: the first audit of this log with this state file\n');
  else io.out(`previous     size ${r.previous.size}, root ${r.previous.root}, audited ${r.previous.audited_at}\n`);
  const c = r.counts;
  io.out(`entries      ${c.entries}: ${c.attestations} attestations (${c.reverified} re-verified offline), ${c.receipts} receipts, ${c.key_events} key events\n`);
  if (c.beyond_checkpoint > 0) io.out(`             ${c.beyond_checkpoint} entries after the checkpoint are not signed yet and were not audited\n`);
  if (r.reappraisal !== undefined) {
    const ra = r.reappraisal;
    io.out(`reappraisal  policy ${ra.policy} (${ra.policy_digest}) at ${ra.at ?? "each attestation's recorded time"}${ra.newer_collateral_used > 0 ? `, newer collateral for ${ra.newer_collateral_used} attestation(s)` : ''}: ${ra.refused.length} admitted attestation(s) would be refused\n`);
    for (const x of ra.refused) {
      io.out(`  REFUSED attestation ${x.attestation} (entry ${x.index}, backend ${x.backend}, logged ${x.logged_verdict})\n`);
      for (const m of x.mismatches) io.out(`    ${m.field} is ${m.got}, want ${m.want}\n`);
      io.out(`    receipts served: ${x.receipts.length === 0 ? 'none' : x.receipts.join(', ')}\n`);
    }
  }
  if (r.findings.length === 0) io.out('findings     none\n');
  else {
    io.out(`findings     ${r.findings.length}\n`);
    const shown = new Map<FindingKind, number>();
    for (const f of r.findings) {
      const n = (shown.get(f.kind) ?? 0) + 1;
      shown.set(f.kind, n);
      if (n <= MAX_SHOWN_PER_KIND) io.out(`  ${f.kind}${f.index === undefined ? '' : ` [entry ${f.index}]`}: ${f.message}\n`);
    }
    for (const k of FINDING_KINDS) {
      const n = shown.get(k) ?? 0;
      if (n > MAX_SHOWN_PER_KIND) io.out(`  ... and ${n - MAX_SHOWN_PER_KIND} more ${k} findings (all of them with --json)\n`);
    }
  }
  io.out(`state        ${stateNote}\n`);
  io.out(r.ok ? 'result       OK: nothing wrong\n' : `result       FAILED: ${r.findings.length} finding(s)\n`);
}

/** Run `attestgate audit`; returns the exit status. Never throws. */
export async function auditCommand(args: readonly string[], io: AuditIo, stderrIsTTY = false): Promise<number> {
  const json = args.includes('--json');
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        gateway: { type: 'string' },
        'from-dir': { type: 'string' },
        state: { type: 'string' },
        'log-key': { type: 'string' },
        'allow-simulated': { type: 'boolean' },
        'trust-root': { type: 'string', multiple: true },
        json: { type: 'boolean' },
        reappraise: { type: 'boolean' },
        policy: { type: 'string' },
        at: { type: 'string' },
        collateral: { type: 'string', multiple: true },
      },
    });
    if (positionals.length > 0) throw new AuditArgError(`unexpected argument "${positionals[0] ?? ''}"`);
    if ((values.gateway === undefined) === (values['from-dir'] === undefined)) throw new AuditArgError('give exactly one of --gateway <url> and --from-dir <dir>');
    const reappraise = values.reappraise === true;
    if (reappraise && values.policy === undefined) throw new AuditArgError('--reappraise needs --policy <file>');
    if (!reappraise && (values.policy !== undefined || values.at !== undefined || values.collateral !== undefined)) throw new AuditArgError('--policy, --at and --collateral apply to --reappraise only');
    const allowSimulated = values['allow-simulated'] === true;
    if (values['log-key'] !== undefined) {
      try {
        parseVerifierKey(sha256, values['log-key'].trim());
      } catch (e: unknown) {
        throw new AuditArgError(`--log-key is not a signed-note verifier key (<name>+<key id>+<base64 key>): ${e instanceof Error ? e.message : String(e)}`);
      }
    }

    // Trust roots: a simulated root is trusted only with --allow-simulated, never by accident.
    const extraAnchors: TrustAnchor[] = [];
    for (const path of values['trust-root'] ?? []) {
      let a: TrustAnchor;
      try {
        a = await anchorFromPem(await readText(path, '--trust-root'), path, false);
      } catch (e: unknown) {
        if (AttestationError.is(e)) throw new AuditArgError(`--trust-root ${path}: ${e.message}`);
        throw e;
      }
      if (a.simulated && !allowSimulated) throw new AuditArgError(`--trust-root ${path} is a SIMULATED root; add --allow-simulated to re-verify simulated evidence with it`);
      extraAnchors.push(a);
    }
    if (allowSimulated && !extraAnchors.some((a) => a.simulated)) {
      io.err('attestgate audit: --allow-simulated without a simulated --trust-root: simulated evidence cannot verify (the simulated roots are not in the log)\n');
    }

    let reappraisal;
    if (reappraise) {
      const path = values.policy as string;
      let policy;
      try {
        policy = parsePolicyText(await readText(path, '--policy'), extname(path) === '.json' ? 'json' : 'yaml');
      } catch (e: unknown) {
        if (AttestationError.is(e)) throw new AuditArgError(`--policy ${path}: ${e.message}`);
        throw e;
      }
      let collateral;
      try {
        collateral = await readCollateral(values.collateral ?? []);
      } catch (e: unknown) {
        throw new AuditArgError(`--collateral: ${e instanceof Error ? e.message : String(e)}`);
      }
      reappraisal = { policy, policyDigest: await policyDigest(policy), ...(values.at === undefined ? {} : { at: parseTime(values.at) }), ...(collateral.length === 0 ? {} : { collateral }) };
    }

    const statePath = values.state ?? defaultStatePath();
    const state = await loadState(statePath);
    const source: LogSource = values.gateway !== undefined ? gatewaySource(values.gateway) : dirSource(values['from-dir'] as string);
    const { report, state: next } = await runAudit({
      source,
      state,
      ...(values['log-key'] === undefined ? {} : { logKey: values['log-key'].trim() }),
      allowSimulated,
      extraAnchors,
      ...(reappraisal === undefined ? {} : { reappraise: reappraisal }),
      progress: progressReporter(io, stderrIsTTY, json),
      now: () => new Date(),
    });
    if (next !== undefined) await saveState(statePath, next);
    const stateNote = next !== undefined ? `updated ${statePath}` : `not updated (${report.checkpoint === null ? 'no verified checkpoint' : 'the log is not one consistent history'}): ${statePath}`;
    if (json) io.out(`${JSON.stringify({ ...report, state: { file: statePath, updated: next !== undefined } })}\n`);
    else printHuman(io, report, stateNote);
    return report.ok ? 0 : 1;
  } catch (e: unknown) {
    const usage = e instanceof AuditArgError || e instanceof AuditUsageError || (e instanceof TypeError && 'code' in e);
    const code = usage ? 'ERR_USAGE' : e instanceof StateFileError ? 'ERR_STATE' : e instanceof AuditSourceError ? 'ERR_AUDIT_SOURCE' : 'ERR_IO';
    const message = e instanceof Error ? e.message : String(e);
    if (json) io.out(`${JSON.stringify({ ok: false, error: { code, message } })}\n`);
    else io.err(`attestgate audit: ${message}\n${usage ? AUDIT_USAGE : ''}`);
    return 2;
  }
}
