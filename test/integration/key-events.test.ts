/**
 * Key events in the transparency log across restarts of one gateway data directory: the key's
 * birth, its reuse, and a rotation (another key file) that names the previous kid; and the
 * periodic checkpoint, signed when the log grew and not otherwise.
 */
import { mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseLogEntry } from '../../src/cli/audit-entries.ts';
import { openGatewayLog } from '../../src/audit/gateway-log.ts';
import { parseConfig } from '../../src/config/schema.ts';
import { startGateway } from '../../src/gateway/server.ts';
import { createLogger } from '../../src/obs/log.ts';

const ROOT = join(import.meta.dirname, '../..');
const dirs: string[] = [];
const quiet = createLogger({ level: 'error', base: {}, sink: () => undefined });

afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function keyEvents(dataDir: string): Promise<Record<string, unknown>[]> {
  const g = await startGateway(parseConfig({ listen: { host: '127.0.0.1', port: 0 }, data_dir: dataDir, policy: 'config/demo-policy.yaml', backends: [] }, { baseDir: ROOT }), { log: quiet, checkpointEveryMs: 0 });
  try {
    const r = (await (await fetch(`${g.url}/v1/log/entries?start=0&end=1000`)).json()) as { entries: { leaf: string }[] };
    return r.entries
      .map((e) => JSON.parse(Buffer.from(e.leaf, 'base64').toString('utf8')) as Record<string, unknown>)
      .filter((e) => e['kind'] === 'key');
  } finally {
    await g.close();
  }
}

describe('gateway key events', () => {
  it('logs the key\'s birth, its reuse at the next start, and a rotation with the previous kid; the auditor reads all three', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'attestgate-keyev-'));
    dirs.push(dataDir);
    const first = await keyEvents(dataDir);
    expect(first.map((e) => e['event'])).toEqual(['gateway_key_created']);
    const kid1 = first[0]!['kid'];
    const second = await keyEvents(dataDir);
    expect(second.map((e) => [e['event'], e['kid']])).toEqual([['gateway_key_created', kid1], ['gateway_key_in_use', kid1]]);
    // The operator removes the key file: a new key is generated, and the log calls it a rotation.
    await unlink(join(dataDir, 'gateway-key.pem'));
    const third = await keyEvents(dataDir);
    const rotated = third.at(-1)!;
    expect(rotated).toMatchObject({ event: 'gateway_key_rotated', previous_kid: kid1 });
    expect(rotated['kid']).not.toBe(kid1);
    expect(rotated['jwk']).not.toHaveProperty('d');
    const view = parseLogEntry(new TextEncoder().encode(JSON.stringify(Object.fromEntries(Object.entries(rotated).sort(([a], [b]) => (a < b ? -1 : 1))))));
    expect(view).toMatchObject({ kind: 'key', event: 'gateway_key_created', kid: rotated['kid'] });
  });
});

describe('periodic checkpoints', () => {
  it('signs one every interval while the log grows, and none while it does not', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'attestgate-cpint-'));
    dirs.push(dataDir);
    const g = await openGatewayLog({ dataDir, origin: 'test.invalid/log', checkpointEveryMs: 40 });
    try {
      const sizes = (): number[] => g.tlog.checkpoints(0).map((c) => c.size);
      expect(sizes()).toEqual([0]);
      await g.append('key', { event: 'test', at: 'now' });
      await expect.poll(sizes, { timeout: 2000, interval: 20 }).toEqual([0, 1]);
      await new Promise((r) => setTimeout(r, 150));
      expect(sizes()).toEqual([0, 1]);
      await g.append('key', { event: 'test', at: 'later' });
      await expect.poll(sizes, { timeout: 2000, interval: 20 }).toEqual([0, 1, 2]);
    } finally {
      await g.close();
    }
  });
});
