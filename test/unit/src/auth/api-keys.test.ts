import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate, DEMO_TENANT, isLoopback, type Headers } from '../../../../src/auth/api-keys.ts';
import { AppError } from '../../../../src/errors.ts';
import { openSqliteStore, type SqliteStore } from '../../../../src/store/sqlite.ts';
import type { NewApiKey } from '../../../../src/store/store.ts';

let store: SqliteStore;
let key: NewApiKey;
let revoked: NewApiKey;
beforeAll(async () => {
  store = openSqliteStore({ dataDir: ':memory:' });
  key = await store.createApiKey('acme');
  revoked = await store.createApiKey('gone');
  await store.revokeApiKey(revoked.id);
});
afterAll(async () => {
  await store.close();
});

const auth = (headers: Headers, remote: string | undefined = '203.0.113.7', demo = false) => authenticate(headers, remote, { store, demo });

async function failure(p: Promise<unknown>): Promise<AppError> {
  const r = await p;
  if (!AppError.is(r)) throw new Error(`expected an AppError, got ${JSON.stringify(r)}`);
  return r;
}

describe('isLoopback', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.255.0.9', true],
    ['::1', true],
    ['0:0:0:0:0:0:0:1', true],
    ['::ffff:127.0.0.1', true],
    ['::ffff:127.1.2.3', true],
    ['::ffff:7f00:1', true],
    ['128.0.0.1', false],
    ['10.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['::2', false],
    ['::', false],
    ['0.0.0.0', false],
    ['localhost', false],
    ['127.0.0.1.evil', false],
    ['', false],
    [undefined, false],
  ])('%s -> %s', (addr, want) => {
    expect(isLoopback(addr)).toBe(want);
  });
});

describe('authenticate', () => {
  it('accepts a valid key as Bearer (any case of the scheme) or x-api-key', async () => {
    expect(await auth({ authorization: `Bearer ${key.secret}` })).toEqual({ tenant: 'acme', keyId: key.id });
    expect(await auth({ authorization: `bearer  ${key.secret} ` })).toEqual({ tenant: 'acme', keyId: key.id });
    expect(await auth({ 'x-api-key': key.secret })).toEqual({ tenant: 'acme', keyId: key.id });
    expect(await auth({ 'x-api-key': [key.secret] })).toEqual({ tenant: 'acme', keyId: key.id });
  });

  const rejections: readonly [string, () => Headers, string][] = [
    ['no key', () => ({}), 'an API key is required'],
    ['unknown key', () => ({ authorization: `Bearer ag_0123456789abcdef_${'A'.repeat(43)}` }), 'invalid or revoked API key'],
    ['wrong secret', () => ({ 'x-api-key': `${key.secret.slice(0, -2)}zz` }), 'invalid or revoked API key'],
    ['not an ag_ key', () => ({ authorization: 'Bearer eyJhbGciOi.x.y' }), 'invalid API key'],
    ['overlong key', () => ({ 'x-api-key': `ag_${'a'.repeat(5000)}` }), 'invalid API key'],
    ['Basic scheme', () => ({ authorization: 'Basic dXNlcjpwYXNz' }), 'Authorization must be "Bearer <API key>"'],
    ['Bearer without token', () => ({ authorization: 'Bearer ' }), 'Authorization must be "Bearer <API key>"'],
    ['Bearer with two tokens', () => ({ authorization: 'Bearer a b' }), 'Authorization must be "Bearer <API key>"'],
    ['empty x-api-key', () => ({ 'x-api-key': ' ' }), 'empty API key'],
    ['both headers', () => ({ authorization: 'Bearer x', 'x-api-key': 'y' }), 'not both'],
    ['repeated header', () => ({ 'x-api-key': ['a', 'b'] }), 'send the API key once'],
  ];
  it.each(rejections)('refuses %s with ERR_UNAUTHENTICATED', async (_name, headers, message) => {
    const e = await failure(auth(headers()));
    expect(e.code).toBe('ERR_UNAUTHENTICATED');
    expect(e.httpStatus).toBe(401);
    expect(e.message).toContain(message);
  });

  it('refuses a revoked key exactly like an unknown one', async () => {
    const e = await failure(auth({ authorization: `Bearer ${revoked.secret}` }));
    expect(e.code).toBe('ERR_UNAUTHENTICATED');
    expect(e.message).toBe('invalid or revoked API key');
  });

  it('never puts the key into the message', async () => {
    for (const h of [{ authorization: `Bearer ${revoked.secret}` }, { 'x-api-key': `${key.secret}x` }, { authorization: `Basic ${key.secret}` }]) {
      const e = await failure(auth(h));
      expect(e.message).not.toContain('ag_');
      expect(JSON.stringify(e)).not.toContain(key.secret.slice(20));
    }
  });

  describe('demo mode', () => {
    it.each(['127.0.0.1', '::1', '::ffff:127.0.0.1'])('lets a keyless loopback client (%s) in as tenant demo', async (addr) => {
      expect(await auth({}, addr, true)).toEqual({ tenant: DEMO_TENANT });
    });

    it('still requires a key from elsewhere, or from an unknown address', async () => {
      expect((await failure(auth({}, '192.168.1.4', true))).code).toBe('ERR_UNAUTHENTICATED');
      expect((await failure(auth({}, undefined, true))).code).toBe('ERR_UNAUTHENTICATED');
    });

    it('ignores X-Forwarded-For', async () => {
      expect((await failure(auth({ 'x-forwarded-for': '127.0.0.1' }, '198.51.100.1', true))).code).toBe('ERR_UNAUTHENTICATED');
    });

    it('checks a presented key instead of falling back to demo', async () => {
      expect((await failure(auth({ authorization: `Bearer ${revoked.secret}` }, '127.0.0.1', true))).code).toBe('ERR_UNAUTHENTICATED');
      expect(await auth({ authorization: `Bearer ${key.secret}` }, '127.0.0.1', true)).toEqual({ tenant: 'acme', keyId: key.id });
    });

    it('is off unless asked for', async () => {
      expect((await failure(auth({}, '127.0.0.1', false))).code).toBe('ERR_UNAUTHENTICATED');
    });
  });

  it('passes a store failure on as it is (503, not 401), and wraps anything else', async () => {
    const io = new AppError('ERR_STORE_IO', 'disk');
    const r1 = await authenticate({ 'x-api-key': key.secret }, '::1', { demo: false, store: { verifyApiKey: () => Promise.reject(io) } });
    expect(r1).toBe(io);
    const r2 = await failure(authenticate({ 'x-api-key': key.secret }, '::1', { demo: false, store: { verifyApiKey: () => Promise.reject(new Error('boom')) } }));
    expect(r2.code).toBe('ERR_INTERNAL');
  });
});
