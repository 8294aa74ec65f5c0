/**
 * `attestgate audit` and `attestgate log export` on synthetic logs written by the gateway's own
 * log code (openGatewayLog) and served by its own read API (logRouter): the tree, the state file,
 * the progress output, usage errors, every entry-level finding, checkpoint and state forks, and
 * the read-only export. Evidence re-verification runs against a real gateway in
 * test/integration/audit.test.ts.
 */
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { UnsecuredJWT } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../../attestation/policy/digest.ts';
import { signCheckpoint, verifyCheckpoint } from '../../../../src/audit/checkpoint.ts';
import { createNoteSigner } from '../../../../src/audit/ed25519-node.ts';
import { exportLog, logCommand } from '../../../../src/audit/export.ts';
import { openGatewayLog, type GatewayLog } from '../../../../src/audit/gateway-log.ts';
import { leafHash, rootFromLeaves } from '../../../../src/audit/merkle.ts';
import { logRouter } from '../../../../src/audit/routes.ts';
import { sha256 } from '../../../../src/audit/sha256-node.ts';
import { openStore } from '../../../../src/audit/store.ts';
import { RECEIPT_GRACE_MS, webCryptoNoteVerifier, type AuditReport, type FindingKind } from '../../../../src/cli/audit-check.ts';
import { loadState, saveState, StateFileError } from '../../../../src/cli/audit-state.ts';
import { MemoryTree } from '../../../../src/cli/audit-tree.ts';
import { auditCommand, progressReporter } from '../../../../src/cli/audit.ts';
import { main } from '../../../../src/cli/main.ts';
import { loadOrCreateGatewayKey } from '../../../../src/signing/keys.ts';

const ORIGIN = 'audit.test.invalid/log';
const root = mkdtempSync(join(tmpdir(), 'attestgate-audit-unit-'));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});
let n = 0;
const fresh = (name: string): string => join(root, `${name}-${n++}`);

interface Run {
  readonly status: number;
  readonly out: string;
  readonly err: string;
  /** The --json output: the report plus the state outcome, or {ok: false, error} on exit 2. */
  readonly report: AuditReport & { readonly state?: { readonly file: string; readonly updated: boolean }; readonly error?: { readonly code: string } };
}

async function audit(args: string[], tty = false): Promise<Run> {
  let out = '';
  let err = '';
  const status = await auditCommand([...args, '--json'], { out: (s) => (out += s), err: (s) => (err += s) }, tty);
  return { status, out, err, report: JSON.parse(out) as Run['report'] };
}

const kinds = (r: AuditReport): FindingKind[] => r.findings.map((f) => f.kind);
const at = (ms: number): string => new Date(ms).toISOString();
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const HEX = (c: string): string => c.repeat(64);

/** A gateway data directory with a log written by `build`, closed (so it holds a final checkpoint). */
async function dataDirWith(build: (g: GatewayLog, ctx: { kid: string; jwk: Record<string, unknown> }) => Promise<void>): Promise<string> {
  const dataDir = fresh('data');
  const g = await openGatewayLog({ dataDir, origin: ORIGIN, checkpointEveryMs: 0 });
  const key = await loadOrCreateGatewayKey(join(dataDir, 'gateway-key.pem'));
  const jwk = { ...key.jwk } as Record<string, unknown>;
  await g.append('key', { event: 'gateway_key_created', kid: key.kid, alg: key.alg, jwk, at: at(T0) });
  await build(g, { kid: key.kid, jwk });
  await g.close();
  return dataDir;
}

async function exported(dataDir: string): Promise<string> {
  const out = fresh('export');
  await exportLog({ dataDir, out });
  return out;
}

const attestation = (id: string, verdict: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id,
  backend: 'b1',
  time: at(T0 + 1000),
  verdict,
  reasons: [],
  evidence_sha256: null,
  collateral_sha256: [],
  policy_digest: HEX('a'),
  ear: null,
  key_kid: null,
  ...extra,
});
const receipt = (id: string, att: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id,
  receipt_sha256: HEX('b'),
  attestation: att,
  backend: 'b1',
  model: 'iris:1',
  time: at(T0 + 2000),
  ...extra,
});
const UUID1 = '11111111-1111-4111-8111-111111111111';
const UUID2 = '22222222-2222-4222-8222-222222222222';

describe('MemoryTree', () => {
  it('gives the RFC 6962 root of every prefix, as merkle.ts computes it from the leaves', () => {
    const t = new MemoryTree();
    const leaves: Uint8Array[] = [];
    expect(t.rootAt(0)).toEqual(rootFromLeaves(sha256, []));
    for (let i = 0; i < 70; i++) {
      const e = new TextEncoder().encode(`entry ${i}`);
      t.appendEntry(e);
      leaves.push(leafHash(sha256, e));
      for (const size of [1, Math.ceil((i + 1) / 2), i + 1]) expect(t.rootAt(size)).toEqual(rootFromLeaves(sha256, leaves.slice(0, size)));
    }
    expect(t.size).toBe(70);
    expect(() => t.rootAt(71)).toThrow(RangeError);
    expect(() => t.read(6, 2)).toThrow(RangeError);
    expect(t.read(0, 69)).toEqual(leaves[69]);
  });
});

describe('WebCrypto Ed25519 note verifier', () => {
  it('verifies checkpoints signed by the log signer and refuses other signatures', async () => {
    const signer = createNoteSigner(ORIGIN, new Uint8Array(32).fill(7));
    const note = signCheckpoint({ origin: ORIGIN, size: 3, root: new Uint8Array(32).fill(1) }, signer);
    const v = webCryptoNoteVerifier(signer.verifierKey);
    expect((await verifyCheckpoint(note, [v])).size).toBe(3);
    const other = createNoteSigner(ORIGIN, new Uint8Array(32).fill(8));
    const forged = signCheckpoint({ origin: ORIGIN, size: 3, root: new Uint8Array(32).fill(1) }, { ...other, keyId: signer.keyId });
    await expect(verifyCheckpoint(forged, [v])).rejects.toMatchObject({ code: 'ERR_CHECKPOINT_SIGNATURE' });
    expect(await v.verify(new Uint8Array(1), new Uint8Array(63))).toBe(false);
  });
});

describe('progress on stderr', () => {
  const run = (tty: boolean, json: boolean, total: number): string => {
    let err = '';
    const p = progressReporter({ out: () => undefined, err: (s) => (err += s) }, tty, json);
    for (let i = 0; i <= total; i += 100) p('entries', i, total);
    p('entries', total, total);
    p('attestations', 0, 3);
    p('attestations', 3, 3);
    return err;
  };
  it('is silent up to 1000 entries', () => {
    expect(run(true, false, 1000)).toBe('');
    expect(run(false, false, 1000)).toBe('');
  });
  it('draws a bar on a terminal, and ends the line when a phase is done', () => {
    const err = run(true, false, 5000);
    expect(err).toContain('\rentries      [');
    expect(err).toContain('100% 5000/5000\n');
    expect(err).toContain('100% 3/3\n');
  });
  it('prints a plain line per 10% otherwise, and with --json even on a terminal', () => {
    for (const err of [run(false, false, 5000), run(true, true, 5000)]) {
      expect(err).not.toContain('\r');
      const lines = err.trim().split('\n');
      expect(lines.filter((l) => l.startsWith('audit: entries')).length).toBe(11);
      expect(lines).toContain('audit: entries 5000/5000 (100%)');
    }
  });
});

describe('state file', () => {
  it('is empty when missing, refused when damaged, and written 0600 atomically', async () => {
    const f = join(fresh('state'), 'sub', 'state.json');
    expect(await loadState(f)).toEqual({ version: 1, logs: {} });
    const s = { version: 1 as const, logs: { [ORIGIN]: { log_key: 'k', size: 2, root: Buffer.alloc(32).toString('base64'), checkpoint: 'n', audited_at: at(T0) } } };
    await saveState(f, s);
    expect(await loadState(f)).toEqual(s);
    expect(statSync(f).mode & 0o777).toBe(0o600);
    writeFileSync(f, '{"version":1,"logs":{"x":{"size":-1}}}');
    await expect(loadState(f)).rejects.toBeInstanceOf(StateFileError);
    writeFileSync(f, 'not json');
    await expect(loadState(f)).rejects.toBeInstanceOf(StateFileError);
  });
});

describe('usage and I/O errors exit 2', () => {
  it.each([
    ['no source', []],
    ['two sources', ['--gateway', 'http://127.0.0.1:1', '--from-dir', '/nonexistent']],
    ['--policy without --reappraise', ['--from-dir', '/nonexistent', '--policy', 'p.yaml']],
    ['--reappraise without --policy', ['--from-dir', '/nonexistent', '--reappraise']],
    ['an unknown option', ['--from-dir', '/nonexistent', '--frob']],
    ['a malformed --log-key', ['--from-dir', '/nonexistent', '--log-key', 'nope']],
  ])('%s', async (_name, args) => {
    let out = '';
    let err = '';
    const status = await auditCommand(args, { out: (s) => (out += s), err: (s) => (err += s) });
    expect(status).toBe(2);
    expect(out).toBe('');
    expect(err).toContain('usage:');
  });

  it('reports a missing export directory and an unreachable gateway as {ok:false, error} with --json', async () => {
    const state = join(fresh('state'), 's.json');
    const a = await audit(['--from-dir', fresh('missing'), '--state', state]);
    expect(a.status).toBe(2);
    expect(a.report).toMatchObject({ ok: false, error: { code: 'ERR_AUDIT_SOURCE' } });
    const b = await audit(['--gateway', 'http://127.0.0.1:9', '--state', state]);
    expect(b.status).toBe(2);
    expect(b.report).toMatchObject({ ok: false, error: { code: 'ERR_AUDIT_SOURCE' } });
  });

  it('stops (exit 2, no verdict) when the gateway answers out of protocol', async () => {
    const dataDir = fresh('data');
    const g = await openGatewayLog({ dataDir, origin: ORIGIN, checkpointEveryMs: 0 });
    await g.append('key', { event: 'enclave_key_evicted', backend: 'b1', reason: 'r', at: at(T0) });
    let mode = 'shape';
    const app = express();
    app.get('/v1/log/entries', (_req, res) => {
      if (mode === 'shape') res.json({ tree_size: 1, entries: 'nope' });
      else res.status(500).send('boom');
    });
    app.use(logRouter(g));
    const server = await new Promise<Server>((res) => {
      const s = app.listen(0, '127.0.0.1', () => {
        res(s);
      });
    });
    try {
      const addr = server.address();
      const url = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}/`;
      for (const m of ['shape', 'status']) {
        mode = m;
        const r = await audit(['--gateway', url, '--state', join(dataDir, 's.json')]);
        expect(r.status).toBe(2);
        expect(r.report).toMatchObject({ ok: false, error: { code: 'ERR_AUDIT_SOURCE' } });
      }
      const notGateway = await audit(['--gateway', `${url}nothing-here/`, '--state', join(dataDir, 's.json')]);
      expect(notGateway.status).toBe(2);
    } finally {
      await new Promise((res) => server.close(res));
      await g.close();
    }
  });

  it('is reachable as `attestgate audit` through main()', async () => {
    let out = '';
    const status = await main(['audit', '--json'], { out: (s) => (out += s), err: () => undefined });
    expect(status).toBe(2);
    expect(JSON.parse(out)).toMatchObject({ ok: false, error: { code: 'ERR_USAGE' } });
  });
});

describe('a clean log, from a live read API and from an export', () => {
  it('pages 2,500 entries from the gateway API, reports progress, pins the key, then checks consistency', async () => {
    const dataDir = fresh('data');
    const g = await openGatewayLog({ dataDir, origin: ORIGIN, checkpointEveryMs: 0 });
    await Promise.all(Array.from({ length: 2500 }, (_, i) => g.append('key', { event: 'enclave_key_evicted', backend: 'b1', reason: `r${i}`, at: at(T0 + i) })));
    const app = express();
    app.use(logRouter(g));
    const server = await new Promise<Server>((res) => {
      const s = app.listen(0, '127.0.0.1', () => {
        res(s);
      });
    });
    try {
      const addr = server.address();
      const url = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
      const state = join(dataDir, 'state.json');
      const first = await audit(['--gateway', url, '--state', state]);
      expect(first.status).toBe(0);
      expect(first.report).toMatchObject({ ok: true, key_pinning: 'first_use', log_key: g.tlog.verifierKey, checkpoint: { size: 2500 }, previous: null });
      expect(first.report.counts).toEqual({ entries: 2500, attestations: 0, receipts: 0, key_events: 2500, reverified: 0, beyond_checkpoint: 0 });
      expect(first.err).toContain('audit: entries 2500/2500 (100%)');
      const saved = await loadState(state);
      expect(saved.logs[ORIGIN]).toMatchObject({ log_key: g.tlog.verifierKey, size: 2500 });

      await g.append('key', { event: 'enclave_key_evicted', backend: 'b1', reason: 'later', at: at(T0) });
      const second = await audit(['--gateway', url, '--state', state]);
      expect(second.report).toMatchObject({ ok: true, key_pinning: 'state', checkpoint: { size: 2501 }, previous: { size: 2500 } });

      // The state remembers another history at size 1000: the log's consistency proof cannot join them.
      const s = await loadState(state);
      await saveState(state, { version: 1, logs: { [ORIGIN]: { ...(s.logs[ORIGIN] as NonNullable<(typeof s.logs)[string]>), size: 1000, root: Buffer.alloc(32, 9).toString('base64') } } });
      const forked = await audit(['--gateway', url, '--state', state]);
      expect(forked.status).toBe(1);
      expect(kinds(forked.report)).toEqual(['fork']);
      expect(forked.report.findings[0]?.message).toContain('cannot prove');
      expect((await loadState(state)).logs[ORIGIN]?.size).toBe(1000); // a fork never moves the state

      // Another key, pinned explicitly: the served key and the checkpoint are refused.
      const other = createNoteSigner(ORIGIN, new Uint8Array(32).fill(3)).verifierKey;
      const wrongKey = await audit(['--gateway', url, '--state', join(dataDir, 'other.json'), '--log-key', other]);
      expect(wrongKey.status).toBe(1);
      expect(kinds(wrongKey.report)).toEqual(['log_key_mismatch', 'checkpoint_invalid']);
      // ... and a --log-key that contradicts the state file is a usage error, not a silent re-pin.
      const conflict = await audit(['--gateway', url, '--state', state, '--log-key', other]);
      expect(conflict.status).toBe(2);
    } finally {
      await new Promise((res) => server.close(res));
      await g.close();
    }
  });

  it('exports a stopped log read-only and audits the export with the same result', async () => {
    const dataDir = await dataDirWith(async (g) => {
      await g.append('attestation', attestation(UUID1, 'error'));
      for (let i = 0; i < 5; i++) await g.append('key', { event: 'enclave_key_evicted', backend: 'b1', reason: `r${i}`, at: at(T0) });
    });
    const before = readFileSync(join(dataDir, 'log.sqlite'));
    const out = fresh('export');
    let text = '';
    expect(await logCommand(['export', '--data-dir', dataDir, '--out', out, '--json'], { out: (s) => (text += s), err: () => undefined })).toBe(0);
    const summary = JSON.parse(text) as { size: number; entries: number; checkpoints: number; missing: { attestations: string[] } };
    expect(summary).toMatchObject({ size: 7, entries: 7, missing: { attestations: [UUID1] } });
    expect(readFileSync(join(dataDir, 'log.sqlite'))).toEqual(before);
    const lines = (await readFile(join(out, 'entries.jsonl'), 'utf8')).trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { index: number }).index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const r = await audit(['--from-dir', out, '--state', join(dataDir, 's.json')]);
    expect(r.status).toBe(0);
    expect(r.report.counts).toMatchObject({ entries: 7, attestations: 1, key_events: 6 });
    // The export refuses to write into a non-empty directory, and a missing data directory.
    expect(await logCommand(['export', '--data-dir', dataDir, '--out', out], { out: () => undefined, err: () => undefined })).toBe(1);
    expect(await logCommand(['export', '--data-dir', fresh('none'), '--out', fresh('o')], { out: () => undefined, err: () => undefined })).toBe(1);
    expect(await logCommand(['frob'], { out: () => undefined, err: () => undefined })).toBe(2);
  });

  it('refuses to export a log a gateway holds open, and a read-only store cannot write', async () => {
    const dataDir = fresh('data');
    const g = await openGatewayLog({ dataDir, origin: ORIGIN, checkpointEveryMs: 0 });
    await expect(exportLog({ dataDir, out: fresh('o') })).rejects.toThrow(/a gateway is running/);
    await g.close();
    const ro = openStore({ path: join(dataDir, 'log.sqlite'), readOnly: true });
    try {
      expect(ro.entryCount()).toBe(0);
      expect(() => {
        ro.putMeta('x', 'y');
      }).toThrow(expect.objectContaining({ code: 'ERR_LOG_IO' }) as Error);
    } finally {
      ro.close();
    }
    expect(() => openStore({ path: join(dataDir, 'nope.sqlite'), readOnly: true })).toThrow(expect.objectContaining({ code: 'ERR_LOG_IO' }) as Error);
    // The gateway's own open still works after a read-only reader.
    const again = await openGatewayLog({ dataDir, origin: ORIGIN, checkpointEveryMs: 0 });
    await again.close();
  });
});

describe('entry-level findings', () => {
  it('reports every bad entry at its index, and nothing else', async () => {
    const want: { kind: FindingKind; index: number }[] = [];
    const dataDir = await dataDirWith(async (g, { kid, jwk }) => {
      const expect_ = (kind: FindingKind, index: number): void => void want.push({ kind, index });
      await g.append('attestation', attestation(UUID1, 'error')); // 1: fine (a refusal)
      expect_('receipt_unbacked', await g.append('receipt', receipt('r-under-error', UUID1)));
      expect_('receipt_unbacked', await g.append('receipt', receipt('r-unknown', UUID2)));
      expect_('key_event_invalid', await g.append('key', { event: 'enclave_key_admitted', backend: 'b1', kid: 'k', attestation: UUID2, at: at(T0) }));
      expect_('key_event_invalid', await g.append('key', { event: 'gateway_key_created', kid, alg: 'ES256', jwk: { ...jwk, x: jwk['y'] }, at: at(T0) }));
      expect_('entry_malformed', (await g.tlog.append(new TextEncoder().encode('{"kind": "receipt"}'))).index);
      expect_('entry_malformed', await g.append('audit' as 'key', { event: 'x' }));
      expect_('entry_malformed', await g.append('attestation', attestation(UUID2, 'maybe')));
      expect_('entry_malformed', await g.append('attestation', attestation(UUID1, 'error')));
      // Logged as an appraisal, but without evidence or EAR.
      const i = await g.append('attestation', attestation('33333333-3333-4333-8333-333333333333', 'contraindicated'));
      expect_('ear_invalid', i);
      expect_('evidence_invalid', i);
      // Admitting, with evidence the log never stored and no record: nothing can be re-verified.
      const j = await g.append('attestation', attestation('44444444-4444-4444-8444-444444444444', 'affirming', { evidence_sha256: HEX('c'), ear: 'not.a.jws', key_kid: 'k1' }));
      expect_('ear_invalid', j);
      expect_('record_missing', j);
      // A receipt from another backend, one before its attestation, one long after it expired.
      expect_('receipt_unbacked', await g.append('receipt', receipt('r-backend', '44444444-4444-4444-8444-444444444444', { backend: 'b2' })));
      expect_('receipt_unbacked', await g.append('receipt', receipt('r-early', '44444444-4444-4444-8444-444444444444', { time: at(T0) })));
      // An EAR that expires 10 s after the attestation: a receipt an hour later was served on a lapsed admission.
      const ear = new UnsecuredJWT({}).setExpirationTime(Math.floor((T0 + 11_000) / 1000)).encode();
      const k = await g.append('attestation', attestation('55555555-5555-4555-8555-555555555555', 'warning', { ear }));
      expect_('ear_invalid', k);
      expect_('evidence_invalid', k);
      await g.append('receipt', receipt('r-in-time', '55555555-5555-4555-8555-555555555555', { time: at(T0 + 11_000 + RECEIPT_GRACE_MS) }));
      expect_('receipt_unbacked', await g.append('receipt', receipt('r-late', '55555555-5555-4555-8555-555555555555', { time: at(T0 + 3_600_000) })));
    });
    const out = await exported(dataDir);
    const r = await audit(['--from-dir', out, '--state', join(dataDir, 's.json')]);
    expect(r.status).toBe(1);
    const got = r.report.findings.map((f) => ({ kind: f.kind, index: f.index as number }));
    const order = (x: { kind: string; index: number }, y: { kind: string; index: number }): number => x.index - y.index || x.kind.localeCompare(y.kind);
    expect(got.sort(order)).toEqual(want.sort(order));
    // The log itself is consistent: the state moves on despite bad content.
    expect(r.report.state).toMatchObject({ updated: true });
  });

  it('reports unreadable, missing and duplicated lines of entries.jsonl, and forged checkpoints', async () => {
    const dataDir = await dataDirWith(async (g) => {
      for (let i = 0; i < 6; i++) await g.append('key', { event: 'enclave_key_evicted', backend: 'b1', reason: `r${i}`, at: at(T0) });
    });
    const base = await exported(dataDir);
    const variant = async (edit: (dir: string) => Promise<void>): Promise<Run> => {
      const dir = fresh('variant');
      await cp(base, dir, { recursive: true });
      await edit(dir);
      return audit(['--from-dir', dir, '--state', join(fresh('state'), 's.json')]);
    };
    const editLines = (f: (lines: string[]) => string[]) => async (dir: string): Promise<void> => {
      const lines = (await readFile(join(dir, 'entries.jsonl'), 'utf8')).trim().split('\n');
      await writeFile(join(dir, 'entries.jsonl'), `${f(lines).join('\n')}\n`);
    };
    const garbled = await variant(editLines((l) => l.map((x, i) => (i === 3 ? '{"index": 3, "leaf": "***"}' : x))));
    expect(kinds(garbled.report)).toEqual(['entry_malformed', 'entry_missing']);
    const duplicated = await variant(editLines((l) => [...l.slice(0, 4), l[3] as string, ...l.slice(4)]));
    expect(kinds(duplicated.report)).toContain('entry_malformed');
    expect(duplicated.report.state).toMatchObject({ updated: false });
    const truncated = await variant(editLines((l) => l.slice(0, 5)));
    expect(kinds(truncated.report)).toEqual(['entry_missing']);
    expect(truncated.report.findings[0]).toMatchObject({ index: 5 });

    // A checkpoint signed by some other key, and an old checkpoint file replaced with garbage.
    const notLog = await variant(async (dir) => {
      const other = createNoteSigner(ORIGIN, new Uint8Array(32).fill(5));
      await writeFile(join(dir, 'checkpoint.txt'), signCheckpoint({ origin: ORIGIN, size: 7, root: new Uint8Array(32) }, other));
    });
    expect(kinds(notLog.report)).toEqual(['checkpoint_invalid']);
    expect(notLog.report.checkpoint).toBeNull();
    const unreadable = await variant(async (dir) => {
      await writeFile(join(dir, 'checkpoint.txt'), 'not a checkpoint');
    });
    expect(unreadable.status).toBe(1);
    expect(kinds(unreadable.report)).toEqual(['checkpoint_invalid']);
    const badOld = await variant(async (dir) => {
      await writeFile(join(dir, 'checkpoints', '0.txt'), 'garbage\n');
    });
    expect(kinds(badOld.report)).toEqual(['checkpoint_invalid']);
    // Entries past the checkpoint (appended after the last signature) are counted, not audited.
    const beyond = await variant(editLines((l) => [...l, JSON.stringify({ index: 7, leaf: Buffer.from('x').toString('base64') })]));
    expect(beyond.report).toMatchObject({ ok: true, counts: { beyond_checkpoint: 1 } });
  });

  it('recomputes an export against the state when there is no proof to fetch: a rewritten history is a fork', async () => {
    const dataDir = await dataDirWith(async (g) => {
      for (let i = 0; i < 4; i++) await g.append('key', { event: 'enclave_key_evicted', backend: 'b1', reason: `r${i}`, at: at(T0) });
    });
    const out = await exported(dataDir);
    const state = join(dataDir, 's.json');
    const signer = createNoteSigner(ORIGIN, createPrivateKey(await readFile(join(dataDir, 'log-key.pem'), 'utf8')));
    // The auditor once saw size 3 with a root the log's tree does not give at 3.
    const other = rootFromLeaves(sha256, [0, 1, 2].map((i) => leafHash(sha256, new Uint8Array([i]))));
    await saveState(state, { version: 1, logs: { [ORIGIN]: { log_key: signer.verifierKey, size: 3, root: Buffer.from(other).toString('base64'), checkpoint: signCheckpoint({ origin: ORIGIN, size: 3, root: other }, signer), audited_at: at(T0) } } });
    const r = await audit(['--from-dir', out, '--state', state]);
    expect(kinds(r.report)).toEqual(['fork']);
    expect(r.report.findings[0]?.message).toContain('rewrote its history');
  });
});

describe('the human report', () => {
  it('says OK with the pinned key, or lists findings (at most 20 per kind) and FAILED', async () => {
    const clean = await dataDirWith(async () => Promise.resolve());
    let out = '';
    const state = join(clean, 's.json');
    expect(await auditCommand(['--from-dir', await exported(clean), '--state', state], { out: (s) => (out += s), err: () => undefined })).toBe(0);
    expect(out).toContain('PINNED ON FIRST USE');
    expect(out).toContain('findings     none');
    expect(out).toContain(`state        updated ${state}`);
    expect(out).toMatch(/result {7}OK: nothing wrong\n$/);

    const bad = await dataDirWith(async (g) => {
      for (let i = 0; i < 25; i++) await g.append('receipt', receipt(`r${i}`, UUID2));
    });
    out = '';
    expect(await auditCommand(['--from-dir', await exported(bad), '--state', join(bad, 's.json')], { out: (s) => (out += s), err: () => undefined })).toBe(1);
    expect(out.match(/^ {2}receipt_unbacked \[entry \d+\]: receipt r\d+ \(entry \d+\) names attestation /gm)).toHaveLength(20);
    expect(out).toContain('  ... and 5 more receipt_unbacked findings (all of them with --json)');
    expect(out).toMatch(/result {7}FAILED: 25 finding\(s\)\n$/);
  });
});

describe('export layout', () => {
  it('writes every checkpoint, the key, the entries, and nothing into the data directory', async () => {
    const dataDir = await dataDirWith(async (g) => {
      await g.append('key', { event: 'enclave_key_evicted', backend: 'b1', reason: 'r', at: at(T0) });
      g.checkpointNow();
      await g.append('key', { event: 'enclave_key_evicted', backend: 'b1', reason: 'r', at: at(T0) });
    });
    const out = await exported(dataDir);
    const key = (await readFile(join(out, 'log-key.txt'), 'utf8')).trim();
    const v = webCryptoNoteVerifier(key);
    for (const size of [0, 2, 3]) expect((await verifyCheckpoint(await readFile(join(out, 'checkpoints', `${size}.txt`), 'utf8'), [v])).size).toBe(size);
    expect(await readFile(join(out, 'checkpoint.txt'), 'utf8')).toBe(await readFile(join(out, 'checkpoints', '3.txt'), 'utf8'));
    const first = JSON.parse((await readFile(join(out, 'entries.jsonl'), 'utf8')).split('\n')[0] as string) as { leaf: string };
    const entry = JSON.parse(Buffer.from(first.leaf, 'base64').toString()) as Record<string, unknown>;
    expect(entry['event']).toBe('gateway_key_created');
    expect(canonicalJson(entry)).toBe(Buffer.from(first.leaf, 'base64').toString());
    await rm(out, { recursive: true });
  });
});
