/**
 * `attestgate call`: send one OIP inference request through a gateway with a fresh nonce, verify
 * the answer end to end (src/client, against the same gateway), print the output tensors and the
 * checklist. Exit status: 0 verified, 1 not verified (or the gateway refused the call), 2 usage.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { answerFromJson, gatewayBase, NONCE_HEADER, toCapture, verifyAnswer, type GeneralJws, type PlainAnswer, type Report } from '../client/index.ts';
import { toBase64Url } from '../client/digest.ts';
import { StepFailure } from '../client/report.ts';
import type { Io } from './main.ts';
import { CliUsageError, commonOptions, readBytes, EXIT_OK, EXIT_REJECTED, printReport, reportJson, runCommand } from './verify.ts';

export const CALL_USAGE = `  attestgate call <model> --input <request.json> --gateway <url> [--version <v>] [--api-key <key>]
                  [--policy <file>] [--allow-simulated] [--trust-root <pem>]... [--jose]
                  [--out <answer.json>] [--json]
      send the OIP request in the file with a fresh attestgate-nonce, verify the answer (and that
      its receipt carries the nonce), print the output tensors and the checklist; --jose asks for
      the General JSON JWS form; --out saves the answer for \`attestgate verify\`
`;

const MODEL = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
const TIMEOUT_MS = 120_000;

/** `name datatype [shape] = data` per output tensor, or the raw text if it is not an OIP answer. */
function describeOutputs(response: Uint8Array | undefined): string[] {
  if (response === undefined) return ['  (no response)'];
  const text = new TextDecoder().decode(response);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return [`  ${text.slice(0, 500)}`];
  }
  const outputs = typeof v === 'object' && v !== null ? (v as Readonly<Record<string, unknown>>)['outputs'] : undefined;
  if (!Array.isArray(outputs)) return [`  ${text.slice(0, 500)}`];
  return (outputs as readonly unknown[]).map((o) => {
    const t = typeof o === 'object' && o !== null ? (o as Readonly<Record<string, unknown>>) : {};
    return `  ${String(t['name'])} ${String(t['datatype'])} ${JSON.stringify(t['shape'])} = ${JSON.stringify(t['data'])}`;
  });
}

export function callCommand(args: string[], io: Io): Promise<number> {
  return runCommand(args, io, CALL_USAGE, () => callBody(args, io));
}

async function callBody(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      input: { type: 'string' },
      gateway: { type: 'string' },
      version: { type: 'string' },
      'api-key': { type: 'string' },
      policy: { type: 'string' },
      'allow-simulated': { type: 'boolean' },
      'trust-root': { type: 'string', multiple: true },
      jose: { type: 'boolean' },
      out: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (positionals.length !== 1) throw new CliUsageError('call takes exactly one model name');
  const model = positionals[0] as string;
  if (!MODEL.test(model)) throw new CliUsageError(`model name ${JSON.stringify(model)} must match ${MODEL.source}`);
  if (values.version !== undefined && !MODEL.test(values.version)) throw new CliUsageError(`--version must match ${MODEL.source}`);
  if (values.input === undefined) throw new CliUsageError('call needs --input <request.json>');
  if (values.gateway === undefined) throw new CliUsageError('call needs --gateway <url>');
  const base = gatewayBase(values.gateway);
  if (base === undefined) throw new CliUsageError(`--gateway ${values.gateway} is not an http(s) base URL`);
  const request = await readBytes(values.input, 'input');
  const common = await commonOptions(values);

  // A fresh nonce per call: the receipt must carry it back, so a replayed answer cannot pass.
  const nonce = toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  const headers: Record<string, string> = { 'content-type': 'application/json', [NONCE_HEADER]: nonce };
  if (values.jose === true) headers['accept'] = 'application/jose+json';
  if (values['api-key'] !== undefined) headers['authorization'] = `Bearer ${values['api-key']}`;
  const url = `${base}/v2/models/${model}${values.version === undefined ? '' : `/versions/${values.version}`}/infer`;
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { method: 'POST', headers, body: request, signal: AbortSignal.timeout(TIMEOUT_MS) });
    text = await res.text();
  } catch (e: unknown) {
    io.err(`attestgate: POST ${url} failed: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT_REJECTED;
  }
  if (res.status !== 200) {
    io.err(`attestgate: the gateway answered HTTP ${res.status}: ${text.slice(0, 2000)}\n`);
    return EXIT_REJECTED;
  }
  const got: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    got[k] = v;
  });
  let answer: PlainAnswer | GeneralJws;
  let saved: unknown;
  if (values.jose === true) {
    try {
      answer = answerFromJson(JSON.parse(text) as unknown);
    } catch (e: unknown) {
      io.err(`attestgate: the answer is not a General JSON JWS: ${e instanceof StepFailure || e instanceof Error ? e.message : String(e)}\n`);
      return EXIT_REJECTED;
    }
    saved = answer;
  } else {
    const capture = toCapture(got, text);
    answer = capture;
    saved = capture;
  }
  if (values.out !== undefined) await writeFile(values.out, `${JSON.stringify(saved, null, 2)}\n`);

  const report: Report = await verifyAnswer({
    answer,
    request,
    nonce,
    gateway: base,
    ...(common.policy === undefined ? {} : { policy: common.policy }),
    ...(common.trustAnchors === undefined ? {} : { trustAnchors: common.trustAnchors }),
    allowSimulated: common.allowSimulated,
  });
  if (values.json === true) {
    io.out(`${reportJson(report)}\n`);
  } else {
    io.out(report.ok ? `outputs of ${model}:\n` : `outputs of ${model} (NOT VERIFIED: do not rely on them):\n`);
    for (const line of describeOutputs(report.response ?? new TextEncoder().encode(text))) io.out(`${line}\n`);
    io.out('checks:\n');
    printReport(io, report);
    if (values.out !== undefined) io.out(`answer: written to ${values.out}\n`);
  }
  return report.ok ? EXIT_OK : EXIT_REJECTED;
}
