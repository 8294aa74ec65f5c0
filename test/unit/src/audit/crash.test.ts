/**
 * Crash durability: a child process appends in a loop and prints each acknowledged index; we kill
 * it with SIGKILL at a random point, reopen the log, and check that every acknowledged entry is
 * there with a valid inclusion proof against a fresh signed checkpoint, and that the tree is
 * consistent with every checkpoint signed before. Three rounds on the same file.
 *
 * SIGKILL models a process crash (the kernel keeps what was written). Power loss additionally
 * depends on fsync reaching the disk, which synchronous=FULL requests on every commit (asserted
 * in store.test.ts); a test cannot pull the plug.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../../../attestation/common/bytes.ts';
import { verifyCheckpoint } from '../../../../src/audit/checkpoint.ts';
import { createNoteVerifier } from '../../../../src/audit/ed25519-node.ts';
import { openLog } from '../../../../src/audit/log.ts';
import { verifyConsistency, verifyInclusion } from '../../../../src/audit/merkle.ts';
import { sha256 } from '../../../../src/audit/sha256-node.ts';

const ORIGIN = 'crash.example/log';
const SEED_HEX = '11'.repeat(32);
const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'attestgate-crash-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Round {
  acks: Map<number, string>;
  notes: string[];
  signal: NodeJS.Signals | null;
}

/** Run the child until it has acknowledged `killAfter` appends (plus a random delay), then SIGKILL it. */
function runChild(path: string, killAfter: number, delayMs: number): Promise<Round> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, path, SEED_HEX], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    const acks = new Map<number, string>();
    const notes: string[] = [];
    let buffered = '';
    let stderr = '';
    let killing = false;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? ''; // a partial last line is not an acknowledgement
      for (const line of lines) {
        const [kind, a, b] = line.split(' ');
        if (kind === 'ack' && a !== undefined && b !== undefined) acks.set(Number(a), b);
        if (kind === 'cp' && a !== undefined) notes.push(Buffer.from(a, 'base64').toString());
      }
      if (!killing && acks.size >= killAfter) {
        killing = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child exited with ${String(code)} before it was killed: ${stderr}`));
      else resolve({ acks, notes, signal });
    });
  });
}

describe('crash durability (SIGKILL during appends)', () => {
  it('keeps every acknowledged append across three kills, consistent with every checkpoint', async () => {
    const path = join(dir, 'crash.db');
    const allAcks = new Map<number, string>();
    const allNotes: string[] = [];
    for (let round = 0; round < 3; round++) {
      const killAfter = 200 + Math.floor(Math.random() * 1500);
      const delayMs = Math.floor(Math.random() * 30);
      const r = await runChild(path, killAfter, delayMs);
      const context = `round ${round} (killed after ${killAfter} acks + ${delayMs} ms)`;
      expect(r.acks.size, context).toBeGreaterThanOrEqual(killAfter);
      for (const [i, h] of r.acks) allAcks.set(i, h);
      allNotes.push(...r.notes);

      const log = openLog({ path, origin: ORIGIN, signer: { name: ORIGIN, privateKey: fromHex(SEED_HEX) } });
      const verifier = createNoteVerifier(log.verifierKey);
      const fresh = await verifyCheckpoint(log.checkpoint().note, [verifier], { origin: ORIGIN });
      expect(fresh.size, context).toBe(log.size());
      // Every acknowledged append, from this round and earlier ones, is there and provably included.
      for (const [index, hex] of allAcks) {
        expect(index, context).toBeLessThan(fresh.size);
        const entry = log.entries(index, index + 1)[0];
        expect(toHex(entry?.leafHash ?? new Uint8Array()), `${context}, entry ${index}`).toBe(hex);
        verifyInclusion(sha256, index, fresh.size, fromHex(hex), log.inclusionProof(index, fresh.size), fresh.root);
      }
      // Every checkpoint signed before (printed or only stored) is a prefix of today's tree.
      const stored = log.checkpoints(0, 10_000);
      for (const note of allNotes) expect(stored.some((c) => c.note === note), context).toBe(true);
      for (const c of stored) {
        const cp = await verifyCheckpoint(c.note, [verifier], { origin: ORIGIN });
        verifyConsistency(sha256, cp.size, fresh.size, cp.root, fresh.root, log.consistencyProof(cp.size, fresh.size));
      }
      log.close();
    }
    expect(allAcks.size).toBeGreaterThan(600);
  }, 60_000);
});
