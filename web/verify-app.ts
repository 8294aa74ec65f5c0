/**
 * /verify: the client verifier (src/client, `verifyAnswer`) in the browser. The answer, and
 * optionally the request, the nonce and a policy, come from the user; the attestation record, the
 * key set, the receipt's proof and the log key are fetched from this gateway (the page's origin)
 * and checked like everything else. The simulated TEE's roots are added as trust anchors when the
 * gateway offers them (`GET /v1/trust/simulated-roots`, only when it trusts them itself); its
 * evidence still fails unless "accept simulated" is ticked.
 */
import type { TrustAnchor } from '../attestation/common/x509.ts';
import { parsePolicyText, type Policy } from '../attestation/policy/schema.ts';
import { anchorFromPem } from '../attestation/roots/index.ts';
import { answerFromJson, verifyAnswer, type FetchFn, type GeneralJws, type PlainAnswer, type Report, type StepReport } from '../src/client/index.ts';
import { append, byId, clear, h, isObject, messageOf, requireWebCrypto } from './dom.ts';

/** What each step checks, for people; a step the library adds later shows its own name. */
const LABELS: Readonly<Record<string, string>> = {
  answer_format: 'Answer format',
  attestation_record: 'Attestation record',
  enclave_signature: 'Enclave signature',
  request_digest: 'Request digest',
  response_digest: 'Response digest',
  model_digest: 'Model',
  nonce: 'Nonce',
  attestation_evidence: 'Evidence to vendor root',
  key_binding: 'Key binding',
  measurement: 'Measurement',
  policy: 'Policy',
  ear: 'Attestation result (EAR)',
  countersignature: 'Gateway countersignature',
  log_inclusion: 'Transparency log',
};

const MARKS: Readonly<Record<string, string>> = { passed: '✓', failed: '✗', skipped: '✗', not_checked: '–' };

const form = byId('form', HTMLFormElement);
const answerBox = byId('answer', HTMLTextAreaElement);
const answerFile = byId('answer-file', HTMLInputElement);
const requestBox = byId('request', HTMLTextAreaElement);
const nonceBox = byId('nonce', HTMLInputElement);
const policyBox = byId('policy', HTMLTextAreaElement);
const allowSimulated = byId('allow-simulated', HTMLInputElement);
const runButton = byId('run', HTMLButtonElement);
const status = byId('status', HTMLSpanElement);
const result = byId('result', HTMLElement);
const banner = byId('simulated-banner', HTMLDivElement);
const verdict = byId('verdict', HTMLSpanElement);
const steps = byId('steps', HTMLOListElement);
const summary = byId('summary', HTMLDivElement);

/** The gateway is the page's own origin (and path prefix, when it is behind one). */
const gateway = new URL('.', document.baseURI).href;
const pageFetch: FetchFn = (url, init) => fetch(url, init);

let simulatedRoots: Promise<readonly TrustAnchor[]> | undefined;

/** The simulated roots this gateway trusts, once per page; none when it does not trust any (404). */
function loadSimulatedRoots(): Promise<readonly TrustAnchor[]> {
  simulatedRoots ??= (async () => {
    const res = await fetch(new URL('v1/trust/simulated-roots', gateway), { headers: { accept: 'application/json' } });
    if (res.status === 404) return [];
    if (!res.ok) throw new Error(`GET /v1/trust/simulated-roots answered HTTP ${res.status}`);
    const body = (await res.json()) as unknown;
    const roots = isObject(body) && Array.isArray(body['roots']) ? (body['roots'] as unknown[]) : [];
    const out: TrustAnchor[] = [];
    for (const r of roots) {
      if (!isObject(r) || typeof r['pem'] !== 'string' || typeof r['file'] !== 'string') continue;
      const a = await anchorFromPem(r['pem'], `simulated root ${r['file']} (served by this gateway)`, false);
      // Only roots that say they are simulated: a gateway cannot slip a real-looking root in here.
      if (a.simulated) out.push(a);
    }
    return out;
  })();
  return simulatedRoots.catch((e: unknown) => {
    simulatedRoots = undefined;
    throw e;
  });
}

function parsePolicy(text: string): Policy | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  return parsePolicyText(t, t.startsWith('{') ? 'json' : 'yaml');
}

function parseAnswerText(text: string): PlainAnswer | GeneralJws {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error('the answer is not JSON: paste the General JSON JWS or a capture file');
  }
  try {
    return answerFromJson(v);
  } catch {
    // Let the verifier's answer_format step say exactly what is wrong with it.
    return v as PlainAnswer | GeneralJws;
  }
}

function stepItem(s: StepReport): HTMLLIElement {
  return h(
    'li',
    { class: `step ${s.status}`, 'data-step': s.name, 'data-status': s.status, ...(s.code === undefined ? {} : { 'data-code': s.code }) },
    h('span', { class: 'mark', 'aria-label': s.status }, MARKS[s.status] ?? '?'),
    h('span', { class: 'name' }, LABELS[s.name] ?? s.name),
    h('span', { class: 'detail' }, s.detail, s.code === undefined ? null : h('span', { class: 'code' }, s.code)),
  );
}

function fields(rows: readonly (readonly [string, string | undefined])[]): HTMLDListElement {
  const dl = h('dl', { class: 'fields' });
  for (const [k, v] of rows) if (v !== undefined) append(dl, h('dt', {}, k), h('dd', {}, v));
  return dl;
}

function render(report: Report): void {
  result.hidden = false;
  banner.hidden = !report.simulated;
  verdict.textContent = report.ok ? 'trusted' : 'untrusted';
  verdict.className = `verdict ${report.ok ? 'trusted' : 'untrusted'}`;
  result.dataset['verdict'] = report.ok ? 'trusted' : 'untrusted';
  result.dataset['simulated'] = String(report.simulated);
  clear(steps);
  for (const s of report.steps) steps.append(stepItem(s));
  clear(summary);
  const r = report.receipt;
  if (r !== undefined) {
    append(
      summary,
      h('h3', {}, 'Receipt'),
      fields([
        ['receipt', r.id],
        ['attestation', report.attestationId],
        ['time', r.ts],
        ['model', `${r.model.name}:${r.model.version} (sha256 ${r.model.sha256})`],
        ['runtime', `${r.runtime.name} ${r.runtime.version}`],
        ['TEE', `${r.tee}${r.simulated ? ' (SIMULATED)' : ''}`],
        ...Object.entries(r.measurement).map(([k, v]): [string, string] => [k, v]),
        ['evidence', r.evidence_sha256],
        ['nonce', r.nonce],
      ]),
    );
  }
  if (report.response !== undefined) {
    let text: string;
    try {
      text = JSON.stringify(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(report.response)), null, 2);
    } catch {
      text = `(${report.response.length} bytes, not UTF-8 JSON)`;
    }
    append(summary, h('h3', {}, report.ok ? 'Response (verified)' : 'Response (NOT verified)'), h('pre', { id: 'response' }, text));
  }
}

async function run(): Promise<void> {
  runButton.disabled = true;
  delete result.dataset['verdict'];
  status.textContent = 'verifying…';
  status.className = 'status';
  try {
    const answer = parseAnswerText(answerBox.value);
    let policy: Policy | undefined;
    try {
      policy = parsePolicy(policyBox.value);
    } catch (e: unknown) {
      throw new Error(`the policy does not parse: ${messageOf(e)}`, { cause: e });
    }
    const anchors = await loadSimulatedRoots();
    const request = requestBox.value === '' ? undefined : new TextEncoder().encode(requestBox.value);
    const nonce = nonceBox.value.trim();
    const started = performance.now();
    const report = await verifyAnswer({
      answer,
      gateway,
      fetch: pageFetch,
      allowSimulated: allowSimulated.checked,
      ...(anchors.length > 0 ? { trustAnchors: anchors } : {}),
      ...(policy === undefined ? {} : { policy }),
      ...(request === undefined ? {} : { request }),
      ...(nonce === '' ? {} : { nonce }),
    });
    render(report);
    status.textContent = `checked in your browser in ${Math.round(performance.now() - started)} ms`;
  } catch (e: unknown) {
    result.hidden = true;
    status.textContent = messageOf(e);
    status.className = 'status error';
  } finally {
    runButton.disabled = false;
  }
}

async function readFileInto(file: File): Promise<void> {
  answerBox.value = await file.text();
  status.textContent = `${file.name} (${file.size} bytes) loaded`;
}

if (requireWebCrypto(status.parentElement ?? document.body)) {
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void run();
  });
  answerFile.addEventListener('change', () => {
    const f = answerFile.files?.[0];
    if (f !== undefined) void readFileInto(f);
  });
  answerBox.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    answerBox.classList.add('dragover');
  });
  answerBox.addEventListener('dragleave', () => {
    answerBox.classList.remove('dragover');
  });
  answerBox.addEventListener('drop', (ev) => {
    answerBox.classList.remove('dragover');
    const f = ev.dataTransfer?.files[0];
    if (f === undefined) return;
    ev.preventDefault();
    void readFileInto(f);
  });
  document.body.dataset['ready'] = 'true';
} else {
  runButton.disabled = true;
}
