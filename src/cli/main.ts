/**
 * attestgate command line. A thin shell over attestation/: it reads files, picks the time and
 * trust anchor the user named, and prints the result. Exit status: 0 verified, 1 evidence
 * rejected, 2 usage or I/O error.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { AttestationError } from '../../attestation/errors.ts';
import { anchorFromPem } from '../../attestation/roots/index.ts';
import { verifyEvidence, type AmdProduct, type CollateralFile } from '../../attestation/registry.ts';
import { TEE_KINDS, type EvidenceResult, type TeeKind } from '../../attestation/result.ts';
import { dcapCollateralNeeds } from '../../attestation/intel/request.ts';
import { createPcsProvider, type UpdateType } from '../collateral/pcs.ts';
import { AUDIT_USAGE, auditCommand } from './audit.ts';
import { readCollateral } from './collateral-files.ts';
import { runDemo } from './demo.ts';
import { CALL_USAGE, callCommand } from './call.ts';
import { VERIFY_USAGE, verifyCommand } from './verify.ts';

export const EXIT_OK = 0;
export const EXIT_REJECTED = 1;
export const EXIT_USAGE = 2;

export interface Io {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
}
const stdio: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const USAGE = `usage:
  attestgate verify-evidence <evidence-file> --tee sgx|tdx|sev-snp|nitro [--collateral <file-or-dir>]...
                             [--at <ISO-8601 time>] [--trust-root <pem>] [--product milan|genoa|turin]
                             [--allow-debug] [--json] [--pcs <base-url> [--pcs-update early|standard]]
      --pcs fetches Intel DCAP collateral from an Intel PCS (v4) or a PCCS at that base URL when
      no collateral bundle is given
  attestgate demo            verify the sample evidence bundled in test/fixtures, step by step
${VERIFY_USAGE}${CALL_USAGE}${AUDIT_USAGE.replace(/^usage:\n/, '')}`;


/** Fetch the quote's collateral from a PCS/PCCS and hand it on as one bundle file. */
async function fetchDcapCollateral(quote: Uint8Array, baseUrl: string, update: UpdateType | undefined): Promise<CollateralFile> {
  let needs;
  try {
    needs = dcapCollateralNeeds(quote);
  } catch {
    // A quote we cannot even read gets its proper verdict from the verifier; fetch nothing.
    return { name: 'no-collateral', bytes: new Uint8Array() };
  }
  const provider = createPcsProvider({ baseUrl, ...(update !== undefined ? { update } : {}) });
  const bundle = await provider.getDcapCollateral(needs);
  return { name: `${baseUrl} (fetched)`, bytes: new TextEncoder().encode(JSON.stringify(bundle)) };
}

function parseTime(s: string | undefined): Date {
  if (s === undefined) return new Date();
  // Require an explicit ISO-8601 date-time so that "--at 07/01" cannot be read in a local zone.
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/.test(s)) throw new UsageError(`--at: "${s}" is not an ISO-8601 time`);
  const d = new Date(s);
  if (!Number.isFinite(d.getTime())) throw new UsageError(`--at: "${s}" is not a valid time`);
  return d;
}

function printHuman(io: Io, steps: readonly string[], result: EvidenceResult | undefined, error: AttestationError | undefined): void {
  for (const s of steps) io.out(`  ok    ${s}\n`);
  if (error !== undefined) {
    io.out(`  FAIL  ${error.reason}: ${error.message}\n`);
    io.out(`verdict: REJECTED (${error.code}, ${error.reason})\n`);
    return;
  }
  if (result === undefined) return;
  io.out(`verdict: OK  tee=${result.tee}  tcb_status=${result.tcb_status ?? 'n/a'}${result.advisory_ids.length > 0 ? `  advisories=${result.advisory_ids.join(',')}` : ''}\n`);
  io.out(`trust anchor: ${result.trust_anchor.name} sha256=${result.trust_anchor.sha256}${result.trust_anchor.pinned ? ' (pinned)' : ' (NOT the pinned vendor root)'}\n`);
  io.out(`valid until: ${result.expires_at}\n`);
  io.out('claims:\n');
  for (const [k, v] of Object.entries(result.claims)) io.out(`  ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}\n`);
}

async function verifyEvidenceCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      tee: { type: 'string' },
      collateral: { type: 'string', multiple: true },
      at: { type: 'string' },
      'trust-root': { type: 'string' },
      product: { type: 'string' },
      'allow-debug': { type: 'boolean' },
      json: { type: 'boolean' },
      pcs: { type: 'string' },
      'pcs-update': { type: 'string' },
    },
  });
  const json = values.json === true;
  if (positionals.length !== 1) throw new UsageError('verify-evidence takes exactly one evidence file');
  const tee = values.tee;
  if (tee === undefined || !(TEE_KINDS as readonly string[]).includes(tee)) throw new UsageError(`--tee must be one of ${TEE_KINDS.join(', ')}`);
  const product = values.product;
  if (product !== undefined && !['milan', 'genoa', 'turin'].includes(product)) throw new UsageError('--product must be milan, genoa or turin');
  const at = parseTime(values.at);
  const evidence = new Uint8Array(await readFile(positionals[0] as string));
  const collateral = await readCollateral(values.collateral ?? []);
  const update = values['pcs-update'];
  if (update !== undefined && update !== 'early' && update !== 'standard') throw new UsageError('--pcs-update must be early or standard');
  if (values.pcs !== undefined && (tee === 'sgx' || tee === 'tdx') && !collateral.some((f) => f.name.endsWith('.json'))) {
    collateral.push(await fetchDcapCollateral(evidence, values.pcs, update));
  }
  const trustRoot = values['trust-root'];
  const trustAnchors = trustRoot === undefined ? undefined : [await anchorFromPem(await readFile(trustRoot, 'utf8'), trustRoot, false)];

  const steps: string[] = [];
  try {
    const result = await verifyEvidence(
      { tee: tee as TeeKind, evidence, collateral, ...(product !== undefined ? { product: product as AmdProduct } : {}) },
      {
        at,
        allowDebug: values['allow-debug'] === true,
        onStep: (s) => steps.push(s),
        ...(trustAnchors !== undefined ? { trustAnchors } : {}),
      },
    );
    if (json) io.out(`${JSON.stringify(result)}\n`);
    else printHuman(io, steps, result, undefined);
    return EXIT_OK;
  } catch (e: unknown) {
    if (!AttestationError.is(e)) throw e;
    if (e.code === 'ERR_INVALID_ARGUMENT') throw new UsageError(e.message);
    if (json) io.out(`${JSON.stringify({ verdict: 'error', code: e.code, reason: e.reason, message: e.message })}\n`);
    else printHuman(io, steps, undefined, e);
    return EXIT_REJECTED;
  }
}

/** Run the CLI; returns the exit status. Never throws. */
export async function main(argv: readonly string[], io: Io = stdio): Promise<number> {
  const [command, ...rest] = argv;
  const json = rest.includes('--json');
  try {
    switch (command) {
      case 'verify-evidence':
        return await verifyEvidenceCommand(rest, io);
      case 'demo':
        return await runDemo(io);
      case 'verify':
        return await verifyCommand(rest, io);
      case 'call':
        return await callCommand(rest, io);
      case 'audit':
        // A progress bar only when stderr is the real terminal, never into a caller's Io.
        return await auditCommand(rest, io, io === stdio && process.stderr.isTTY);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return command === undefined ? EXIT_USAGE : EXIT_OK;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (e: unknown) {
    const message = e instanceof Error ? e.message : String(e);
    const code = e instanceof UsageError || (e instanceof TypeError && 'code' in e) ? 'ERR_USAGE' : AttestationError.is(e) ? e.code : 'ERR_IO';
    if (json) io.out(`${JSON.stringify({ verdict: 'error', code, message })}\n`);
    else io.err(`attestgate: ${message}\n${code === 'ERR_USAGE' ? USAGE : ''}`);
    return EXIT_USAGE;
  }
}
