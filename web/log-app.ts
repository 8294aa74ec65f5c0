/**
 * /log: the transparency log explorer. The browser checks what it shows:
 *   - the checkpoint (C2SP signed note) with the log's verifier key from /v1/log/key, through
 *     src/audit/checkpoint.ts and a WebCrypto Ed25519 verifier; the key is trusted on first use and
 *     remembered per gateway (localStorage): a later different key is flagged;
 *   - each entry's inclusion proof against that checkpoint's root, through src/audit/merkle.ts with
 *     the pure-TypeScript SHA-256 (merkle.ts needs a synchronous hash);
 *   - for an attestation entry, the record's evidence hashes (WebCrypto SHA-256) to the digest the
 *     log entry names.
 * Entries are listed newest first, a page at a time, only up to the verified checkpoint's size.
 */
import { fromBase64, toBase64, toHex } from '../attestation/common/bytes.ts';
import { ED25519_SIGNATURE_SIZE, formatKeyId, parseVerifierKey, verifyCheckpoint, type NoteVerifier, type VerifiedCheckpoint } from '../src/audit/checkpoint.ts';
import { leafHash, verifyInclusion } from '../src/audit/merkle.ts';
import { sha256 } from '../src/audit/sha256-pure.ts';
import { append, byId, clear, getJson, getText, h, isObject, messageOf, requireWebCrypto, show } from './dom.ts';

const PAGE = 20;

const cpStatus = byId('checkpoint-status', HTMLSpanElement);
const cpFields = byId('checkpoint-fields', HTMLElement);
const reload = byId('reload', HTMLButtonElement);
const newer = byId('newer', HTMLButtonElement);
const older = byId('older', HTMLButtonElement);
const range = byId('range', HTMLSpanElement);
const table = byId('entries', HTMLTableElement);
const entrySection = byId('entry', HTMLElement);
const entryIndex = byId('entry-index', HTMLSpanElement);
const entryBody = byId('entry-body', HTMLDivElement);

interface State {
  /** The verified checkpoint; undefined when it did not verify. */
  cp: VerifiedCheckpoint | undefined;
  /** Entries listed: the checkpoint's size when verified, else the log's current size. */
  size: number;
  /** End (exclusive) of the page shown. */
  end: number;
}
const state: State = { cp: undefined, size: 0, end: 0 };
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A signed-note verifier for an Ed25519 verifier key, on WebCrypto (async verify). */
async function webVerifier(vkey: string): Promise<NoteVerifier> {
  const parsed = parseVerifierKey(sha256, vkey);
  const raw = new Uint8Array(parsed.publicKey);
  const key = await crypto.subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify']);
  return {
    name: parsed.name,
    keyId: parsed.keyId,
    verify: async (message, signature) => signature.length === ED25519_SIGNATURE_SIZE && (await crypto.subtle.verify({ name: 'Ed25519' }, key, new Uint8Array(signature), new Uint8Array(message))),
  };
}

function fieldRows(dl: HTMLElement, rows: readonly (readonly [string, string | Node])[]): void {
  for (const [k, v] of rows) append(dl, h('dt', {}, k), h('dd', {}, v));
}

function badge(el: HTMLElement, ok: boolean, text: string): void {
  el.textContent = text;
  el.className = `badge ${ok ? 'ok' : 'bad'}`;
  el.dataset['status'] = ok ? 'verified' : 'failed';
}

/** Trust on first use: the key this browser saw first for this gateway. */
function pinnedKey(vkey: string): { first: boolean; changedFrom?: string } {
  const slot = `attestgate.log-key.${location.origin}${new URL('.', document.baseURI).pathname}`;
  let seen: string | null = null;
  try {
    seen = localStorage.getItem(slot);
    if (seen === null) localStorage.setItem(slot, vkey);
  } catch {
    return { first: true }; // storage disabled: every visit is a first use
  }
  if (seen === null) return { first: true };
  return seen === vkey ? { first: false } : { first: false, changedFrom: seen };
}

async function loadCheckpoint(): Promise<void> {
  clear(cpFields);
  cpStatus.textContent = '…';
  cpStatus.className = 'badge';
  let vkey = '';
  let note = '';
  try {
    vkey = (await getText('v1/log/key', 'text/plain')).trim();
    note = await getText('v1/log/checkpoint', 'text/plain');
    const verifier = await webVerifier(vkey);
    // The log's origin is its key's name: a checkpoint of another log does not pass for this one.
    state.cp = await verifyCheckpoint(note, [verifier], { origin: verifier.name });
    const pin = pinnedKey(vkey);
    if (pin.changedFrom !== undefined) {
      badge(cpStatus, false, '✗ log key changed');
      fieldRows(cpFields, [['warning', h('span', { class: 'bad' }, `this browser first saw the log key ${pin.changedFrom}; the gateway now serves another one`)]]);
    } else {
      badge(cpStatus, true, '✓ verified');
    }
    const cp = state.cp;
    state.size = cp.size;
    fieldRows(cpFields, [
      ['origin', cp.origin],
      ['tree size', String(cp.size)],
      ['root hash', toBase64(cp.root)],
      ['signed by', cp.signedBy.map((s) => `${s.name}+${formatKeyId(s.keyId)} (Ed25519, checked with WebCrypto)`).join(', ')],
      ['log key', h('span', {}, vkey, h('span', { class: 'hint' }, pin.first ? ' — first seen now (trust on first use: compare it with the key the operator publishes)' : ' — the key this browser saw before'))],
    ]);
  } catch (e: unknown) {
    state.cp = undefined;
    badge(cpStatus, false, '✗ not verified');
    fieldRows(cpFields, [
      ['error', h('span', { class: 'bad' }, messageOf(e))],
      ['log key', vkey === '' ? '(none)' : vkey],
      ['note', h('pre', {}, note)],
    ]);
    // Still list what the log serves, marked unverified.
    try {
      const r = await getJson('v1/log/entries?start=0&end=0');
      state.size = isObject(r) && typeof r['tree_size'] === 'number' ? r['tree_size'] : 0;
    } catch {
      state.size = 0;
    }
  }
  state.end = state.size;
}

interface Entry {
  readonly index: number;
  readonly leaf: Uint8Array;
  readonly value: Readonly<Record<string, unknown>> | undefined;
  readonly timestamp: unknown;
}

function decodeEntry(raw: unknown): Entry | undefined {
  if (!isObject(raw) || typeof raw['index'] !== 'number' || typeof raw['leaf'] !== 'string') return undefined;
  const leaf = fromBase64(raw['leaf']);
  let value: Readonly<Record<string, unknown>> | undefined;
  try {
    const v = JSON.parse(utf8.decode(leaf)) as unknown;
    value = isObject(v) ? v : undefined;
  } catch {
    value = undefined;
  }
  return { index: raw['index'], leaf, value, timestamp: raw['timestamp'] };
}

function describe(e: Entry): { kind: string; verdict: string; what: string; time: string } {
  const v = e.value ?? {};
  const kind = typeof v['kind'] === 'string' ? v['kind'] : '(not JSON)';
  const time = show(v['time'] ?? v['at'] ?? e.timestamp ?? '');
  switch (kind) {
    case 'attestation':
      return { kind, verdict: show(v['verdict']), what: `backend ${show(v['backend'])}, attestation ${show(v['id'])}`, time };
    case 'receipt':
      return { kind, verdict: 'served', what: `${show(v['model'])} by ${show(v['backend'])}, receipt ${show(v['id'])}`, time };
    case 'key':
      return { kind, verdict: show(v['event']), what: [v['backend'], v['kid'], v['alg']].filter((x) => x !== undefined && x !== null).map(show).join(' · '), time };
    default:
      return { kind, verdict: '', what: '', time };
  }
}

async function loadEntries(): Promise<void> {
  const body = table.tBodies[0] ?? table.createTBody();
  clear(body);
  const end = state.end;
  const start = Math.max(0, end - PAGE);
  newer.disabled = end >= state.size;
  older.disabled = start <= 0;
  range.textContent = state.size === 0 ? '(the log is empty)' : `${start}–${end - 1} of ${state.size}${state.cp === undefined ? ' (checkpoint NOT verified)' : ''}`;
  if (end <= start) return;
  const r = await getJson(`v1/log/entries?start=${start}&end=${end}`);
  const list = isObject(r) && Array.isArray(r['entries']) ? (r['entries'] as unknown[]) : [];
  const entries = list.map(decodeEntry).filter((x): x is Entry => x !== undefined);
  for (const e of entries.reverse()) {
    const d = describe(e);
    const tr = h(
      'tr',
      { tabindex: 0, 'data-index': e.index, 'data-kind': d.kind },
      h('td', { class: 'mono' }, e.index),
      h('td', {}, d.time),
      h('td', { class: 'kind' }, d.kind),
      h('td', { class: 'verdict' }, d.verdict),
      h('td', {}, d.what),
    );
    const open = (): void => {
      for (const x of body.querySelectorAll('tr.selected')) x.classList.remove('selected');
      tr.classList.add('selected');
      void showEntry(e);
    };
    tr.addEventListener('click', open);
    tr.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        open();
      }
    });
    body.append(tr);
  }
}

function section(title: string, ...children: (Node | string)[]): HTMLElement {
  return h('section', {}, h('h3', {}, title), ...children);
}

async function inclusion(e: Entry): Promise<HTMLElement> {
  const cp = state.cp;
  const out = h('p', { id: 'inclusion', class: 'inclusion' });
  if (cp === undefined) {
    out.dataset['status'] = 'failed';
    append(out, h('span', { class: 'bad' }, '✗ '), 'no verified checkpoint to check the inclusion proof against');
    return out;
  }
  if (e.index >= cp.size) {
    out.dataset['status'] = 'not_checked';
    append(out, '– not yet in a signed checkpoint (reload to get a newer one)');
    return out;
  }
  try {
    const r = await getJson(`v1/log/proof/inclusion?index=${e.index}&size=${cp.size}`);
    const proof = isObject(r) && Array.isArray(r['proof']) ? (r['proof'] as unknown[]).map((p) => fromBase64(typeof p === 'string' ? p : '')) : [];
    verifyInclusion(sha256, e.index, cp.size, leafHash(sha256, e.leaf), proof, cp.root);
    out.dataset['status'] = 'passed';
    append(out, h('span', { class: 'ok' }, '✓ '), `inclusion proof verified: entry ${e.index} is in the tree of size ${cp.size} whose root the checkpoint signs (${proof.length} hashes, checked in your browser)`);
  } catch (err: unknown) {
    out.dataset['status'] = 'failed';
    append(out, h('span', { class: 'bad' }, '✗ '), `inclusion proof does not verify: ${messageOf(err)}`);
  }
  return out;
}

function table2(head: readonly string[], rows: readonly (readonly (string | Node)[])[]): HTMLTableElement {
  return h('table', {}, h('thead', {}, h('tr', {}, ...head.map((x) => h('th', {}, x)))), h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c))))));
}

async function attestationDetails(v: Readonly<Record<string, unknown>>): Promise<HTMLElement> {
  const id = v['id'];
  if (typeof id !== 'string' || !/^[0-9a-f-]{36}$/.test(id)) return section('Attestation record', 'the entry names no attestation id');
  let rec: unknown;
  try {
    rec = await getJson(`v1/attestations/${id}`);
  } catch (e: unknown) {
    return section('Attestation record', h('p', { class: 'bad' }, messageOf(e)));
  }
  if (!isObject(rec)) return section('Attestation record', h('p', { class: 'bad' }, 'the record is not a JSON object'));
  const parts: (Node | string)[] = [];
  // The evidence, hashed here: the record's bytes must be the ones the log entry names.
  const logged = v['evidence_sha256'];
  let evidence: Node | string = '(none)';
  if (typeof rec['evidence'] === 'string') {
    const digest = toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', new Uint8Array(fromBase64(rec['evidence'])))));
    const ok = digest === logged && digest === rec['evidence_sha256'];
    evidence = h('span', { id: 'evidence-digest', 'data-status': ok ? 'passed' : 'failed' }, h('span', { class: ok ? 'ok' : 'bad' }, ok ? '✓ ' : '✗ '), `${digest}${ok ? ' (the record\'s evidence hashes to the digest the log entry names)' : ` — the log entry names ${show(logged)}`}`);
  }
  const dl = h('dl', { class: 'fields' });
  fieldRows(dl, [
    ['id', id],
    ['backend', show(rec['backend'])],
    ['TEE', `${show(rec['tee'])}${rec['simulated'] === true ? ' (SIMULATED)' : ''}`],
    ['status', `${show(rec['status'])}${rec['admitted'] === true ? ', admitted' : ', not admitted'}`],
    ['created', show(rec['created_at'])],
    ['expires', show(rec['expires_at'])],
    ['evidence SHA-256', evidence],
    ['policy digest', show(rec['policy_digest'])],
    ['enclave key', isObject(rec['key']) ? show(rec['key']['kid']) : '(none)'],
  ]);
  parts.push(dl);
  const reasons = Array.isArray(rec['reasons']) ? (rec['reasons'] as unknown[]) : [];
  if (reasons.length > 0) parts.push(h('h3', {}, 'Reasons'), h('pre', {}, JSON.stringify(reasons, null, 2)));
  const result = rec['result'];
  if (isObject(result) && isObject(result['claims'])) {
    parts.push(h('h3', {}, 'Claims'), table2(['claim', 'value'], Object.entries(result['claims']).map(([k, x]) => [k, h('span', { class: 'mono' }, show(x))])));
  }
  const checks = Array.isArray(rec['checks']) ? (rec['checks'] as unknown[]).filter(isObject) : [];
  if (checks.length > 0) {
    parts.push(
      h('h3', {}, 'Policy checks'),
      table2(
        ['', 'claim', 'got', 'want', 'tier'],
        checks.map((c) => [h('span', { class: c['ok'] === true ? 'ok' : 'bad' }, c['ok'] === true ? '✓' : '✗'), show(c['claim']), h('span', { class: 'mono' }, show(c['got'])), h('span', { class: 'mono' }, show(c['want'])), show(c['tier'])]),
      ),
    );
  }
  return section('Attestation record', ...parts);
}

async function showEntry(e: Entry): Promise<void> {
  entrySection.hidden = false;
  entrySection.dataset['loaded'] = 'false';
  entryIndex.textContent = String(e.index);
  entrySection.dataset['index'] = String(e.index);
  clear(entryBody);
  const d = describe(e);
  const dl = h('dl', { class: 'fields' });
  fieldRows(dl, [
    ['kind', d.kind],
    ['leaf hash', toHex(leafHash(sha256, e.leaf))],
    ['leaf bytes', `${e.leaf.length}`],
  ]);
  append(entryBody, dl, await inclusion(e), section('Entry', h('pre', {}, e.value === undefined ? utf8.decode(e.leaf) : JSON.stringify(e.value, null, 2))));
  if (e.value?.['kind'] === 'attestation') append(entryBody, await attestationDetails(e.value));
  entrySection.dataset['loaded'] = 'true';
}

async function refresh(): Promise<void> {
  reload.disabled = true;
  try {
    await loadCheckpoint();
    await loadEntries();
  } catch (e: unknown) {
    range.textContent = messageOf(e);
    range.className = 'hint bad';
  } finally {
    reload.disabled = false;
    document.body.dataset['ready'] = 'true';
  }
}

if (requireWebCrypto(cpFields)) {
  reload.addEventListener('click', () => {
    void refresh();
  });
  newer.addEventListener('click', () => {
    state.end = Math.min(state.size, state.end + PAGE);
    void loadEntries();
  });
  older.addEventListener('click', () => {
    state.end = Math.max(Math.min(PAGE, state.size), state.end - PAGE);
    void loadEntries();
  });
  void refresh();
}
