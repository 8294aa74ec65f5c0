/**
 * The auditor against a real log: an in-process simulated TDX enclave and the gateway write
 * attestation, receipt and key entries; `attestgate audit` re-verifies them (live, then from an
 * export of the stopped gateway), and every tampering an operator or a thief of the export could
 * try is caught with its finding: a changed entry, a dropped entry, a fork signed with the log's
 * own key, a replaced evidence blob, a rollback, a verdict rewritten by the log signer. Simulated
 * evidence is refused unless explicitly allowed, and a re-appraisal under another policy lists the
 * answers served by the enclave it would refuse.
 */
import { createPrivateKey } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEnclave, type RunningEnclave } from '../../enclave/main.ts';
import { issueCollateral } from '../../enclave/sim/intel-collateral.ts';
import { loadIntelPki } from '../../enclave/sim/intel-pki.ts';
import { toHex } from '../../attestation/common/bytes.ts';
import { parsePemCertificates } from '../../attestation/common/x509.ts';
import { parseQuote } from '../../attestation/intel/parse.ts';
import { canonicalJson } from '../../attestation/policy/digest.ts';
import { signCheckpoint } from '../../src/audit/checkpoint.ts';
import { createNoteSigner } from '../../src/audit/ed25519-node.ts';
import { exportLog } from '../../src/audit/export.ts';
import type { AuditReport, FindingKind } from '../../src/cli/audit-check.ts';
import { loadState } from '../../src/cli/audit-state.ts';
import { MemoryTree } from '../../src/cli/audit-tree.ts';
import { main } from '../../src/cli/main.ts';
import { parseConfig } from '../../src/config/schema.ts';
import { startGateway, type RunningGateway } from '../../src/gateway/server.ts';
import { createLogger } from '../../src/obs/log.ts';

const ROOT = join(import.meta.dirname, '../..');
const IRIS = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] });

type Report = AuditReport & { readonly state?: { readonly updated: boolean } };

async function audit(args: string[]): Promise<{ status: number; report: Report; err: string }> {
  let out = '';
  let err = '';
  const status = await main(['audit', ...args, '--json'], { out: (s) => (out += s), err: (s) => (err += s) });
  return { status, report: JSON.parse(out) as Report, err };
}
const kinds = (r: Report): FindingKind[] => [...new Set(r.findings.map((f) => f.kind))];

let dir: string;
let enclave: RunningEnclave;
let gateway: RunningGateway | undefined;
let simRoot: string;
let allow: string[];
const receipts: string[] = [];

async function infer(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await fetch(`${(gateway as RunningGateway).url}/v2/models/iris/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: IRIS });
    expect(r.status).toBe(200);
    receipts.push(r.headers.get('attestgate-receipt-id') ?? '');
    await r.arrayBuffer();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'attestgate-audit-'));
  enclave = await startEnclave(
    { tee: 'sim-tdx', host: '127.0.0.1', port: 0, modelDir: join(ROOT, 'models'), dataDir: dir, threads: 1, maxBodyBytes: 1 << 20, simDebug: false },
    () => undefined,
  );
  const config = parseConfig(
    {
      listen: { host: '127.0.0.1', port: 0 },
      data_dir: dir,
      demo: true,
      policy: join(ROOT, 'config/demo-policy.yaml'),
      trust: { simulated_roots: true },
      backends: [{ name: 'e1', url: enclave.url }],
    },
    { baseDir: ROOT },
  );
  gateway = await startGateway(config, { log: createLogger({ level: 'error', base: {}, sink: () => undefined }), checkpointEveryMs: 0 });
  simRoot = join(dir, 'sim-pki/intel/root.pem');
  allow = ['--allow-simulated', '--trust-root', simRoot];
  await infer(3);
});

afterAll(async () => {
  await gateway?.close();
  await enclave.close();
  await rm(dir, { recursive: true, force: true });
});

describe('audit --gateway (live)', () => {
  it('passes: checkpoint, tree, EAR, evidence re-verified at its time, binding and receipts; pins the key on first use', async () => {
    const state = join(dir, 'state.json');
    const { status, report } = await audit(['--gateway', (gateway as RunningGateway).url, '--state', state, ...allow]);
    expect(report.findings).toEqual([]);
    expect(status).toBe(0);
    expect(report).toMatchObject({ ok: true, key_pinning: 'first_use', previous: null, counts: { attestations: 1, receipts: 3, reverified: 1 } });
    expect((await loadState(state)).logs[report.origin as string]?.size).toBe(report.checkpoint?.size);

    // Later: the log grew, and proves it extends what this auditor saw.
    await infer(2);
    const later = await audit(['--gateway', (gateway as RunningGateway).url, '--state', state, ...allow]);
    expect(later.status).toBe(0);
    expect(later.report.previous?.size).toBe(report.checkpoint?.size);
    expect(later.report.checkpoint?.size).toBe((report.checkpoint?.size ?? 0) + 2);
  });

  it('refuses simulated evidence without --allow-simulated, and a simulated root without it is a usage error', async () => {
    const state = join(dir, 'state-nosim.json');
    const r = await audit(['--gateway', (gateway as RunningGateway).url, '--state', state]);
    expect(r.status).toBe(1);
    expect(kinds(r.report)).toEqual(['simulated']);
    expect(r.report.counts.reverified).toBe(0);
    const usage = await audit(['--gateway', (gateway as RunningGateway).url, '--state', state, '--trust-root', simRoot]);
    expect(usage.status).toBe(2);
    // --allow-simulated alone: the simulated roots are not in the log, so nothing can vouch for the evidence.
    const noRoot = await audit(['--gateway', (gateway as RunningGateway).url, '--state', state, '--allow-simulated']);
    expect(noRoot.status).toBe(1);
    expect(kinds(noRoot.report)).toEqual(['evidence_invalid']);
    expect(noRoot.report.findings[0]?.message).toContain('ERR_CHAIN_UNTRUSTED');
  });

  it('re-appraises under a policy with another MRTD and lists the receipts the refused enclave served', async () => {
    const policy = parseYaml(await readFile(join(ROOT, 'config/demo-policy.yaml'), 'utf8')) as { reference: { tdx: { mrtd: string } } };
    policy.reference.tdx.mrtd = 'ab'.repeat(48);
    const file = join(dir, 'other-mrtd.json');
    await writeFile(file, JSON.stringify(policy));
    const r = await audit(['--gateway', (gateway as RunningGateway).url, '--state', join(dir, 'state-re.json'), ...allow, '--reappraise', '--policy', file]);
    expect(r.status).toBe(1);
    expect(kinds(r.report)).toEqual(['reappraisal_refused']);
    const refused = r.report.reappraisal?.refused ?? [];
    expect(refused).toHaveLength(1);
    expect(refused[0]?.backend).toBe('e1');
    expect([...(refused[0]?.receipts ?? [])].sort()).toEqual([...receipts].sort());
    expect(refused[0]?.mismatches.map((m) => m.field)).toEqual(['mrtd']);
    let human = '';
    expect(await main(['audit', '--gateway', (gateway as RunningGateway).url, '--state', join(dir, 'state-re.json'), ...allow, '--reappraise', '--policy', file], { out: (s) => (human += s), err: () => undefined })).toBe(1);
    expect(human).toContain(`REFUSED attestation ${refused[0]?.attestation ?? ''} (entry 1, backend e1, logged warning)`);
    expect(human).toContain(`receipts served: ${refused[0]?.receipts.join(', ') ?? ''}`);
    // The demo policy itself refuses nothing.
    const same = await audit(['--gateway', (gateway as RunningGateway).url, '--state', join(dir, 'state-re2.json'), ...allow, '--reappraise', '--policy', join(ROOT, 'config/demo-policy.yaml'), '--at', new Date().toISOString()]);
    expect(same.status).toBe(0);
    expect(same.report.reappraisal?.refused).toEqual([]);
  });

  it('re-appraises with newer collateral: current collateral changes nothing, a PCK CRL that now revokes the enclave\'s PCK refuses it', async () => {
    const g = gateway as RunningGateway;
    const admission = g.pool.backends[0]!.admission!;
    const quote = parseQuote(admission.evidence!);
    const pckSerial = toHex(parsePemCertificates(quote.pckChainPem)[0]!.serial);
    const pki = await loadIntelPki(dir);
    const keys = { ...pki, tcbChainPem: pki.tcbSigning.pem + pki.root.pem, pckCrlChainPem: pki.pckCa.pem + pki.root.pem };
    const at = new Date();
    const current = join(dir, 'newer-current');
    await mkdir(current, { recursive: true });
    await writeFile(join(current, 'tdx.json'), JSON.stringify(await issueCollateral(keys, 'tdx', at)));
    await writeFile(join(current, 'notes.txt'), 'not collateral: skipped');
    const ok = await audit(['--gateway', g.url, '--state', join(dir, 'state-col1.json'), ...allow, '--reappraise', '--policy', join(ROOT, 'config/demo-policy.yaml'), '--at', at.toISOString(), '--collateral', current]);
    expect(ok.status, JSON.stringify(ok.report.findings)).toBe(0);
    expect(ok.report.reappraisal).toMatchObject({ newer_collateral_used: 1, refused: [] });

    const revoked = join(dir, 'newer-revoked.json');
    await writeFile(revoked, JSON.stringify(await issueCollateral(keys, 'tdx', at, { revokedPckSerials: [pckSerial] })));
    const r = await audit(['--gateway', g.url, '--state', join(dir, 'state-col2.json'), ...allow, '--reappraise', '--policy', join(ROOT, 'config/demo-policy.yaml'), '--at', at.toISOString(), '--collateral', revoked]);
    expect(r.status).toBe(1);
    expect(kinds(r.report)).toEqual(['reappraisal_refused']);
    const refused = r.report.reappraisal?.refused ?? [];
    expect(refused.map((x) => x.attestation)).toEqual([admission.id]);
    expect(refused[0]?.mismatches[0]).toMatchObject({ field: 'evidence', got: expect.stringMatching(/^ERR_REVOKED/) as unknown });
    expect([...(refused[0]?.receipts ?? [])].sort()).toEqual([...receipts].sort());
    // --collateral without --reappraise is a usage error.
    expect((await audit(['--gateway', g.url, '--state', join(dir, 'state-col3.json'), '--collateral', revoked])).status).toBe(2);
  });

  it('cannot export while the gateway runs (its exclusive lock on the log)', async () => {
    await expect(exportLog({ dataDir: dir, out: join(dir, 'too-early') })).rejects.toThrow(/a gateway is running/);
  });
});

describe('export of the stopped gateway, audit --from-dir', () => {
  let exp: string;
  let state: string;
  let size: number;
  let origin: string;

  /** A copy of the export, edited, audited with a copy of the clean audit's state (or none). */
  async function tampered(edit: (d: string) => Promise<void>, withState = true): Promise<{ status: number; report: Report }> {
    const d = await mkdtemp(join(dir, 'tampered-'));
    await cp(exp, d, { recursive: true });
    await edit(d);
    const s = join(d, 'state.json');
    if (withState) await cp(state, s);
    return audit(['--from-dir', d, '--state', s, ...allow]);
  }
  const readLines = async (d: string): Promise<string[]> => (await readFile(join(d, 'entries.jsonl'), 'utf8')).trim().split('\n');
  const writeLines = (d: string, lines: readonly string[]): Promise<void> => writeFile(join(d, 'entries.jsonl'), `${lines.join('\n')}\n`);
  const leafOf = (line: string): Record<string, unknown> => JSON.parse(Buffer.from((JSON.parse(line) as { leaf: string }).leaf, 'base64').toString()) as Record<string, unknown>;
  const lineOf = (index: number, entry: Record<string, unknown>): string => JSON.stringify({ index, leaf: Buffer.from(canonicalJson(entry)).toString('base64') });
  const firstOfKind = (lines: string[], kind: string): number => lines.findIndex((l) => leafOf(l)['kind'] === kind);

  /** What a log signer who rewrites history does: a valid checkpoint over the edited entries. */
  async function resign(d: string): Promise<void> {
    const tree = new MemoryTree();
    for (const l of await readLines(d)) tree.appendEntry(new Uint8Array(Buffer.from((JSON.parse(l) as { leaf: string }).leaf, 'base64')));
    const signer = createNoteSigner(origin, createPrivateKey(await readFile(join(dir, 'log-key.pem'), 'utf8')));
    const note = signCheckpoint({ origin, size: tree.size, root: tree.rootAt(tree.size) }, signer);
    await writeFile(join(d, 'checkpoint.txt'), note);
    await writeFile(join(d, 'checkpoints', `${tree.size}.txt`), note);
  }

  beforeAll(async () => {
    await (gateway as RunningGateway).close();
    gateway = undefined;
    exp = join(dir, 'export');
    const s = await exportLog({ dataDir: dir, out: exp });
    size = s.size;
    origin = s.origin;
    expect(s.attestations).toBe(1);
    expect(s.missing).toEqual({ blobs: [], attestations: [] });
    state = join(dir, 'state-dir.json');
    await cp(join(dir, 'state.json'), state);
  });

  it('round trip: the export audits clean and continues the state of the live audits', async () => {
    const r = await audit(['--from-dir', exp, '--state', state, ...allow]);
    expect(r.report.findings).toEqual([]);
    expect(r.status).toBe(0);
    expect(r.report).toMatchObject({ key_pinning: 'state', checkpoint: { size }, counts: { attestations: 1, receipts: 5, reverified: 1 } });
    expect(r.report.previous?.size).toBeLessThanOrEqual(size);
  });

  it('a changed entry: the tree no longer gives the signed root', async () => {
    const r = await tampered(async (d) => {
      const lines = await readLines(d);
      const i = firstOfKind(lines, 'receipt');
      lines[i] = lineOf(i, { ...leafOf(lines[i] as string), model: 'iris:2' });
      await writeLines(d, lines);
    });
    expect(r.status).toBe(1);
    expect(kinds(r.report)).toEqual(['root_mismatch']);
    expect(r.report.state?.updated).toBe(false);
  });

  it('a dropped entry', async () => {
    const r = await tampered(async (d) => {
      const lines = await readLines(d);
      lines.splice(firstOfKind(lines, 'receipt'), 1);
      await writeLines(d, lines);
    });
    expect(r.status).toBe(1);
    expect(kinds(r.report)).toEqual(['entry_missing']);
  });

  it('a fork: a second checkpoint of the same size, signed with the log key over an edited tree', async () => {
    const edit = async (d: string): Promise<void> => {
      const lines = await readLines(d);
      const i = firstOfKind(lines, 'receipt');
      lines[i] = lineOf(i, { ...leafOf(lines[i] as string), model: 'iris:2' });
      await writeLines(d, lines);
      await resign(d);
    };
    const r = await tampered(edit);
    expect(r.status).toBe(1);
    expect(kinds(r.report)).toContain('fork');
    expect(r.report.findings.find((f) => f.kind === 'fork')?.message).toContain(`two signed checkpoints of size ${size}`);
    // Without any state, the older checkpoints the log signed still expose the second history.
    const fresh = await tampered(edit, false);
    expect(kinds(fresh.report)).toEqual(['fork']);
  });

  it('an evidence blob replaced: caught by its digest (the record\'s copy still re-verifies)', async () => {
    const r = await tampered(async (d) => {
      const lines = await readLines(d);
      const sha = leafOf(lines[firstOfKind(lines, 'attestation')] as string)['evidence_sha256'] as string;
      await writeFile(join(d, 'blobs', sha), Buffer.from('not the evidence'));
    });
    expect(r.status).toBe(1);
    expect(kinds(r.report)).toEqual(['blob_mismatch']);
    expect(r.report.counts.reverified).toBe(1);
    // Evidence replaced everywhere (blob and record): nothing left to re-verify.
    const gone = await tampered(async (d) => {
      const lines = await readLines(d);
      const att = leafOf(lines[firstOfKind(lines, 'attestation')] as string);
      await writeFile(join(d, 'blobs', att['evidence_sha256'] as string), Buffer.from('x'));
      await rm(join(d, 'attestations', `${att['id'] as string}.json`));
    });
    expect(kinds(gone.report).sort()).toEqual(['blob_mismatch', 'blob_missing', 'record_missing']);
  });

  it('a rollback: an older view of the log than the one already audited', async () => {
    const r = await tampered(async (d) => {
      const old = 6;
      await cp(join(d, 'checkpoints', `${old}.txt`), join(d, 'checkpoint.txt'));
      await writeLines(d, (await readLines(d)).slice(0, old));
      // The older view is complete in itself: no checkpoint of the later history is left in it.
      for (const f of await readdir(join(d, 'checkpoints'))) if (Number(f.replace('.txt', '')) > old) await rm(join(d, 'checkpoints', f));
    });
    expect(r.status).toBe(1);
    expect(kinds(r.report)).toEqual(['rollback']);
  });

  it('a verdict rewritten by the log signer itself: the gateway-signed EAR still says otherwise', async () => {
    const r = await tampered(async (d) => {
      const lines = await readLines(d);
      const i = firstOfKind(lines, 'attestation');
      const att = leafOf(lines[i] as string);
      expect(att['verdict']).toBe('warning');
      lines[i] = lineOf(i, { ...att, verdict: 'affirming' });
      await writeLines(d, lines);
      await resign(d);
    }, false);
    expect(r.status).toBe(1);
    expect(kinds(r.report)).toContain('ear_invalid');
    expect(r.report.findings.find((f) => f.kind === 'ear_invalid')?.message).toContain('its status is warning, the log records affirming');
  });
});
