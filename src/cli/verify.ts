/**
 * `attestgate verify`: check a saved answer of an attestgate gateway down to the vendor root and
 * print the checklist (docs/client.md). A thin shell over src/client: it reads the files the user
 * named, loads the policy and trust roots, and prints the report. Exit status: 0 when every step
 * passed (or did not apply), 1 when a step failed, 2 on a usage or I/O error.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import type { TrustAnchor } from '../../attestation/common/x509.ts';
import { PolicyLoadError } from '../../attestation/policy/errors.ts';
import { parsePolicyText, type Policy } from '../../attestation/policy/schema.ts';
import { anchorFromPem } from '../../attestation/roots/index.ts';
import { answerFromJson, fetchBundle, parseOfflineBundle, verifyAnswer, type GeneralJws, type OfflineBundle, type PlainAnswer, type Report, type StepStatus } from '../client/index.ts';
import { StepFailure } from '../client/report.ts';
import type { Io } from './main.ts';

// Exit statuses (as src/cli/main.ts): the commands here handle their own errors, so that this file
// imports nothing but types from main.ts.
export const EXIT_OK = 0;
export const EXIT_REJECTED = 1;
export const EXIT_USAGE = 2;

/** A mistake in the command line or in a file the user named: exit 2 with the usage text. */
export class CliUsageError extends Error {
  override readonly name = 'CliUsageError';
}

const MARK: Readonly<Record<StepStatus, string>> = { passed: '✓', failed: '✗', not_checked: '–', skipped: '·' };

export const VERIFY_USAGE = `  attestgate verify <answer.json> [--gateway <url> | --bundle <file>] [--request <file>] [--nonce <n>]
                    [--policy <file>] [--allow-simulated] [--trust-root <pem>]... [--log-key <vkey>]
                    [--save-bundle <out.json>] [--json]
      check a saved answer step by step: the enclave's signature, the request/response digests,
      the evidence down to the vendor root, the key binding, the measurement, your policy, the
      gateway's EAR and countersignature, and the log inclusion proof. <answer.json> is a General
      JSON JWS (curl -H 'accept: application/jose+json') or a capture written by \`attestgate call
      --out\` ({"type":"attestgate-capture/v1","headers":{...},"body":"..."}). --bundle is an offline
      bundle ({attestation, jwks, proof?}); --save-bundle (with --gateway) writes one.
`;

/** Options shared by verify and call. */
export interface CommonOptions {
  readonly policy: Policy | undefined;
  readonly trustAnchors: readonly TrustAnchor[] | undefined;
  readonly allowSimulated: boolean;
}

async function readText(path: string, what: string): Promise<string> {
  return new TextDecoder().decode(await readBytes(path, what));
}

/** A file the user named; a missing or unreadable one is a usage mistake (exit 2). */
export async function readBytes(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e: unknown) {
    throw new CliUsageError(`${what} ${path} cannot be read: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export async function readJsonFile(path: string, what: string): Promise<unknown> {
  const text = await readText(path, what);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new CliUsageError(`${what} ${path} is not JSON`);
  }
}

/** --policy, --trust-root, --allow-simulated. */
export async function commonOptions(values: { policy?: string | undefined; 'trust-root'?: string[] | undefined; 'allow-simulated'?: boolean | undefined }): Promise<CommonOptions> {
  let policy: Policy | undefined;
  if (values.policy !== undefined) {
    const text = await readText(values.policy, 'policy');
    try {
      policy = parsePolicyText(text, extname(values.policy) === '.json' ? 'json' : 'yaml');
    } catch (e: unknown) {
      if (PolicyLoadError.is(e)) throw new CliUsageError(`policy ${values.policy}: ${e.message}`);
      throw e;
    }
  }
  const roots = values['trust-root'] ?? [];
  const trustAnchors =
    roots.length === 0
      ? undefined
      : await Promise.all(
          roots.map(async (p) => {
            const pem = await readText(p, 'trust root');
            try {
              return await anchorFromPem(pem, p, false);
            } catch (e: unknown) {
              throw new CliUsageError(`trust root ${p}: ${e instanceof Error ? e.message : String(e)}`);
            }
          }),
        );
  return { policy, trustAnchors, allowSimulated: values['allow-simulated'] === true };
}

/** The checklist, the simulated warning, the policy note and the verdict. */
const POLICY_NOTE: Readonly<Record<Report['policySource'], string | undefined>> = {
  given: undefined,
  gateway: 'policy: not given — appraised against the policy the gateway publishes (GET /v1/policy), whose digest its record names (pass --policy to pin measurements and models yourself)',
  none: 'policy: not given — evidence checked to the vendor root only (pass --policy to pin measurements and models)',
};

export function printReport(io: Io, report: Report): void {
  const width = Math.max(...report.steps.map((s) => s.name.length));
  for (const s of report.steps) {
    io.out(`  ${MARK[s.status]} ${s.name.padEnd(width)}  ${s.detail}${s.code === undefined ? '' : ` [${s.code}]`}\n`);
  }
  if (report.simulated) io.out('simulated: this answer comes from attestgate\'s SIMULATED TEE: it proves that the code paths work, nothing about hardware\n');
  const note = POLICY_NOTE[report.policySource];
  if (note !== undefined) io.out(`${note}\n`);
  const failed = report.steps.filter((s) => s.status === 'failed').map((s) => s.name);
  const skipped = report.steps.filter((s) => s.status === 'skipped').length;
  io.out(
    report.ok
      ? `verdict: VERIFIED${report.simulated ? ' (simulated)' : ''}\n`
      : `verdict: NOT VERIFIED${report.simulated ? ' (simulated)' : ''}: ${failed.join(', ')} failed${skipped > 0 ? `, ${skipped} step(s) skipped` : ''}\n`,
  );
}

/** The report as one JSON line (bytes as text where they are text). */
export function reportJson(report: Report): string {
  return JSON.stringify({
    verdict: report.ok ? 'verified' : 'not_verified',
    ok: report.ok,
    simulated: report.simulated,
    policy_given: report.policySource === 'given',
    policy_source: report.policySource,
    attestation_id: report.attestationId ?? null,
    steps: report.steps,
    receipt: report.receipt ?? null,
  });
}

/**
 * Run a command body; usage mistakes and I/O errors become exit 2 with a message (and the usage
 * text for usage mistakes), in JSON when --json was given.
 */
export async function runCommand(args: readonly string[], io: Io, usage: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e: unknown) {
    const isUsage = e instanceof CliUsageError || (e instanceof TypeError && 'code' in e && String((e as { code: unknown }).code).startsWith('ERR_PARSE_ARGS'));
    const code = isUsage ? 'ERR_USAGE' : 'ERR_IO';
    const message = e instanceof Error ? e.message : String(e);
    if (args.includes('--json')) io.out(`${JSON.stringify({ verdict: 'error', code, message })}\n`);
    else io.err(`attestgate: ${message}\n${isUsage ? `usage:\n${usage}` : ''}`);
    return EXIT_USAGE;
  }
}

export function verifyCommand(args: string[], io: Io): Promise<number> {
  return runCommand(args, io, VERIFY_USAGE, () => verifyBody(args, io));
}

async function verifyBody(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      gateway: { type: 'string' },
      bundle: { type: 'string' },
      request: { type: 'string' },
      nonce: { type: 'string' },
      policy: { type: 'string' },
      'allow-simulated': { type: 'boolean' },
      'trust-root': { type: 'string', multiple: true },
      'log-key': { type: 'string' },
      'save-bundle': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (positionals.length !== 1) throw new CliUsageError('verify takes exactly one answer file');
  if (values.gateway !== undefined && values.bundle !== undefined) throw new CliUsageError('give --gateway or --bundle, not both');
  if (values.gateway === undefined && values.bundle === undefined) throw new CliUsageError('give --gateway <url> (to fetch the attestation record) or --bundle <file> (offline)');
  if (values['save-bundle'] !== undefined && values.gateway === undefined) throw new CliUsageError('--save-bundle needs --gateway');
  const path = positionals[0] as string;
  let answer: PlainAnswer | GeneralJws;
  try {
    answer = answerFromJson(await readJsonFile(path, 'answer'));
  } catch (e: unknown) {
    if (e instanceof StepFailure) throw new CliUsageError(`answer ${path}: ${e.message}`);
    throw e;
  }
  let bundle: OfflineBundle | undefined;
  if (values.bundle !== undefined) {
    try {
      bundle = parseOfflineBundle(await readJsonFile(values.bundle, 'bundle'));
    } catch (e: unknown) {
      if (e instanceof StepFailure) throw new CliUsageError(`bundle ${values.bundle}: ${e.message}`);
      throw e;
    }
  }
  const request = values.request === undefined ? undefined : await readBytes(values.request, 'request');
  const common = await commonOptions(values);
  const report = await verifyAnswer({
    answer,
    ...(request === undefined ? {} : { request }),
    ...(values.nonce === undefined ? {} : { nonce: values.nonce }),
    ...(common.policy === undefined ? {} : { policy: common.policy }),
    ...(common.trustAnchors === undefined ? {} : { trustAnchors: common.trustAnchors }),
    allowSimulated: common.allowSimulated,
    ...(values.gateway === undefined ? {} : { gateway: values.gateway }),
    ...(bundle === undefined ? {} : { attestation: bundle.attestation, gatewayJwks: bundle.jwks, ...(bundle.proof === undefined ? {} : { proof: bundle.proof }) }),
    ...(values['log-key'] === undefined ? {} : { trustedLogKey: values['log-key'] }),
  });
  if (values.json === true) io.out(`${reportJson(report)}\n`);
  else printReport(io, report);

  const out = values['save-bundle'];
  if (out !== undefined && values.gateway !== undefined) {
    let saved: OfflineBundle;
    try {
      saved = await fetchBundle(values.gateway, answer);
    } catch (e: unknown) {
      io.err(`attestgate: cannot save the bundle: ${e instanceof Error ? e.message : String(e)}\n`);
      return EXIT_USAGE;
    }
    await writeFile(out, `${JSON.stringify(saved, null, 2)}\n`);
    if (values.json !== true) io.out(`bundle: written to ${out}${saved.proof === undefined ? ' (without a log proof)' : ''}\n`);
  }
  return report.ok ? EXIT_OK : EXIT_REJECTED;
}
