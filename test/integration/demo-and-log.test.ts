/**
 * `npm start` (attestgate start) end to end, as a user runs it: it starts an enclave process and
 * the gateway, prints a curl line that works, answers with a receipt and countersignature, and
 * serves the transparency log whose proofs verify. Then SIGTERM stops both.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leafHash, verifyConsistency, verifyInclusion } from '../../src/audit/merkle.ts';
import { verifyCheckpoint } from '../../src/audit/checkpoint.ts';
import { createNoteVerifier } from '../../src/audit/ed25519-node.ts';
import { sha256 } from '../../src/audit/sha256-node.ts';

const ROOT = join(import.meta.dirname, '../..');
let dataDir: string;
let child: ReturnType<typeof spawn>;
let out = '';
let url = '';

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'attestgate-demo-'));
  child = spawn(process.execPath, [join(ROOT, 'bin/attestgate.js'), 'start'], {
    env: { ...process.env, PORT: '0', ATTESTGATE_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  url = await new Promise<string>((res, rej) => {
    const t = setTimeout(() => {
      rej(new Error(`demo did not start: ${out}`));
    }, 60_000);
    const tick = setInterval(() => {
      const m = /attestgate demo: gateway on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m !== null) {
        clearTimeout(t);
        clearInterval(tick);
        res(m[1]!);
      }
    }, 50);
  });
}, 90_000);

afterAll(async () => {
  if (child.exitCode === null) child.kill('SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
});

const row = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] });
const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

describe('npm start (the demo)', () => {
  it('says loudly that it trusts simulated roots and runs in demo mode, and prints a curl line that works', async () => {
    expect(out).toMatch(/TRUSTING SIMULATED TEE ROOTS/);
    expect(out).toMatch(/DEMO MODE/);
    expect(out).toMatch(/SIMULATED TEE \(sim-tdx\)/);
    const curl = new RegExp(`curl -s -D - ${url}/v2/models/iris/infer -H 'content-type: application/json' -d '([^']+)'`).exec(out);
    expect(curl).not.toBeNull();
    const r = await fetch(`${url}/v2/models/iris/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: curl![1]! });
    expect(r.status).toBe(200);
    expect(r.headers.get('attestgate-receipt')).toMatch(/^ey/);
    expect(r.headers.get('attestgate-countersignature')).toMatch(/^ey/);
    // No secret in anything it printed.
    expect(out).not.toMatch(/PRIVATE KEY|"d":"/);
  });

  it('logs every answer: the receipt proof verifies against a signed checkpoint, and checkpoints stay consistent', async () => {
    const key = (await (await fetch(`${url}/v1/log/key`)).text()).trim();
    const verifier = createNoteVerifier(key);
    const first = await (await fetch(`${url}/v1/log/checkpoint`)).text();
    const cp1 = await verifyCheckpoint(first, [verifier]);
    const r = await fetch(`${url}/v2/models/iris/infer`, { method: 'POST', body: row });
    const receiptJws = r.headers.get('attestgate-receipt')!;
    const id = r.headers.get('attestgate-receipt-id')!;
    const bundle = (await (await fetch(`${url}/v1/receipts/${id}/proof`)).json()) as { log: { checkpoint: string; tree_size: number; index: number; leaf: string; proof: string[] } };
    const cp2 = await verifyCheckpoint(bundle.log.checkpoint, [verifier]);
    expect(cp2.size).toBe(bundle.log.tree_size);
    const leaf = b64(bundle.log.leaf);
    const entry = JSON.parse(new TextDecoder().decode(leaf)) as { kind: string; receipt_sha256: string; id: string };
    expect(entry).toMatchObject({ kind: 'receipt', id, receipt_sha256: createHash('sha256').update(receiptJws).digest('hex') });
    verifyInclusion(sha256, bundle.log.index, cp2.size, leafHash(sha256, leaf), bundle.log.proof.map(b64), cp2.root);
    // The later checkpoint extends the earlier one.
    const c = (await (await fetch(`${url}/v1/log/proof/consistency?first=${cp1.size}&second=${cp2.size}`)).json()) as { proof: string[] };
    verifyConsistency(sha256, cp1.size, cp2.size, cp1.root, cp2.root, c.proof.map(b64));
    // Entries are served with their exact leaf bytes; the proof endpoint agrees with the bundle.
    const e = (await (await fetch(`${url}/v1/log/entries?start=${bundle.log.index}&end=${bundle.log.index + 1}`)).json()) as { entries: { index: number; leaf: string }[] };
    expect(e.entries[0]?.leaf).toBe(bundle.log.leaf);
    const p = (await (await fetch(`${url}/v1/log/proof/inclusion?index=${bundle.log.index}&size=${cp2.size}`)).json()) as { proof: string[] };
    expect(p.proof).toEqual(bundle.log.proof);
    // The attestation entry names its evidence, which is served as a blob by digest.
    const all = (await (await fetch(`${url}/v1/log/entries?start=0&end=${cp2.size}`)).json()) as { entries: { leaf: string }[] };
    const att = all.entries.map((x) => JSON.parse(Buffer.from(x.leaf, 'base64').toString()) as { kind: string; evidence_sha256?: string }).find((x) => x.kind === 'attestation');
    const blob = new Uint8Array(await (await fetch(`${url}/v1/log/blobs/${att!.evidence_sha256!}`)).arrayBuffer());
    expect(createHash('sha256').update(blob).digest('hex')).toBe(att!.evidence_sha256);
    expect(cp2.origin).toBe('attestgate.invalid/log');
  });

  it('answers bad log queries with 400 and unknown things with 404', async () => {
    for (const [path, status] of [
      ['/v1/log/entries?start=x&end=1', 400],
      ['/v1/log/entries?start=0&end=5000', 400],
      ['/v1/log/proof/inclusion?index=99999&size=100000', 400],
      ['/v1/log/proof/consistency?first=5&second=2', 400],
      ['/v1/log/blobs/zz', 400],
      [`/v1/log/blobs/${'0'.repeat(64)}`, 404],
      ['/v1/receipts/nope/proof', 404],
    ] as const) {
      const r = await fetch(`${url}${path}`);
      expect(r.status, path).toBe(status);
    }
  });

  it('stops both processes on SIGTERM', async () => {
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((res) => child.on('exit', res));
    expect(code).toBe(0);
  }, 30_000);
});
