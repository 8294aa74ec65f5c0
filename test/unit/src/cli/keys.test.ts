import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runKeysCommand, type KeysIo } from '../../../../src/cli/keys.ts';
import { AppError } from '../../../../src/errors.ts';
import { openSqliteStore, type SqliteStore } from '../../../../src/store/sqlite.ts';
import { API_KEY_PATTERN } from '../../../../src/store/store.ts';

let store: SqliteStore;
let out: string;
let err: string;
const io: KeysIo = {
  out: (s) => {
    out += s;
  },
  err: (s) => {
    err += s;
  },
};
beforeEach(() => {
  store = openSqliteStore({ dataDir: ':memory:', clock: () => Date.UTC(2025, 5, 1) });
  out = '';
  err = '';
});
afterEach(async () => {
  await store.close();
});

describe('attestgate keys', () => {
  it('create prints the key alone on stdout, once, and the notes on stderr', async () => {
    expect(await runKeysCommand(['create', 'acme'], store, io)).toBe(0);
    const secret = out.trim();
    expect(secret).toMatch(API_KEY_PATTERN);
    expect(out).toBe(`${secret}\n`);
    expect(err).toMatch(/^created API key [0-9a-f]{16} for tenant acme; store it now, it is shown only once\n$/);
    expect(err).not.toContain(secret);
    expect(await store.verifyApiKey(secret)).toMatchObject({ tenant: 'acme' });
  });

  it('create --json gives id, tenant and key', async () => {
    expect(await runKeysCommand(['create', 'acme', '--json'], store, io)).toBe(0);
    const j = JSON.parse(out) as { id: string; tenant: string; key: string };
    expect(j.tenant).toBe('acme');
    expect(j.key.startsWith(`ag_${j.id}_`)).toBe(true);
  });

  it('list shows ids, tenants and status, never a secret', async () => {
    await runKeysCommand(['create', 'acme'], store, io);
    await runKeysCommand(['create', 'beta'], store, io);
    const [first] = await store.listApiKeys();
    await store.revokeApiKey(first!.id);
    out = '';
    expect(await runKeysCommand(['list'], store, io)).toBe(0);
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^ID\s+TENANT\s+CREATED\s+STATUS$/);
    expect(out).toContain('revoked 2025-06-01T00:00:00.000Z');
    expect(out).toContain('active');
    expect(out).not.toContain('ag_');
    out = '';
    await runKeysCommand(['list', '--json'], store, io);
    expect(JSON.parse(out)).toHaveLength(2);
    expect(out).not.toContain('ag_');
  });

  it('revoke: 0 for a key, 1 for an unknown id', async () => {
    await runKeysCommand(['create', 'acme', '--json'], store, io);
    const { id, key } = JSON.parse(out) as { id: string; key: string };
    out = '';
    expect(await runKeysCommand(['revoke', id], store, io)).toBe(0);
    expect(out).toBe(`revoked ${id}\n`);
    expect(await store.verifyApiKey(key)).toBeUndefined();
    expect(await runKeysCommand(['revoke', 'ffffffffffffffff'], store, io)).toBe(1);
    expect(err).toContain('no API key with id ffffffffffffffff');
  });

  it.each([[[]], [['create']], [['create', 'a', 'b']], [['list', 'x']], [['revoke']], [['frob']], [['list', '--all']]])('usage error for %j', async (args) => {
    expect(await runKeysCommand(args, store, io)).toBe(2);
    expect(err).toContain('usage:');
  });

  it('reports a store error with its code', async () => {
    expect(await runKeysCommand(['create', 'bad tenant'], store, io)).toBe(2);
    expect(err).toMatch(/^ERR_BAD_REQUEST: tenant must match/);
    const broken = {
      createApiKey: () => Promise.reject(new AppError('ERR_STORE_IO', 'store: disk full')),
      listApiKeys: () => Promise.reject(new AppError('ERR_STORE_IO', 'store: disk full')),
      revokeApiKey: () => Promise.reject(new AppError('ERR_STORE_IO', 'store: disk full')),
    };
    err = '';
    expect(await runKeysCommand(['list'], broken, io)).toBe(2);
    expect(err).toBe('ERR_STORE_IO: store: disk full\n');
  });
});
