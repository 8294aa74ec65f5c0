import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../../src/errors.ts';
import { createLogger, redact, redactString, type LoggerOptions } from '../../../../src/obs/log.ts';

function capture(opts: Omit<LoggerOptions, 'sink'> = {}) {
  const lines: string[] = [];
  const log = createLogger({ clock: () => Date.UTC(2025, 0, 2, 3, 4, 5, 6), ...opts, sink: (l) => lines.push(l) });
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const API_SECRET = 'Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg';
const API_KEY = `ag_0123456789abcdef_${API_SECRET}`;
const PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
const PEM_BODY_LINE = PEM.split('\n')[1]!;
const RSA_PEM = `-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretsecretsecret\n-----END RSA PRIVATE KEY-----`;

describe('createLogger', () => {
  it('writes one JSON object per line with time, level and msg first', () => {
    const { log, lines } = capture();
    log.info('started', { port: 8080 });
    expect(lines).toEqual(['{"time":"2025-01-02T03:04:05.006Z","level":"info","msg":"started","port":8080}']);
  });

  it('drops lines below its level', () => {
    const { log, parsed } = capture({ level: 'warn' });
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    expect(parsed().map((l) => l['level'])).toEqual(['warn', 'error']);
    expect(log.isEnabled('info')).toBe(false);
    expect(log.isEnabled('error')).toBe(true);
    expect(createLogger({ sink: () => undefined }).level).toBe('info');
  });

  it('adds base and child fields, and cannot be made to forge time, level or msg', () => {
    const { log, parsed } = capture({ base: { service: 'gw' } });
    log.child({ request_id: 'r1' }).warn('slow', { level: 'debug', msg: 'x', time: 0 });
    expect(parsed()).toEqual([
      { time: '2025-01-02T03:04:05.006Z', level: 'warn', msg: 'slow', service: 'gw', request_id: 'r1', _level: 'debug', _msg: 'x', _time: 0 },
    ]);
  });

  it('never throws, even when the sink does', () => {
    const log = createLogger({
      sink: () => {
        throw new Error('EPIPE');
      },
    });
    expect(() => {
      log.error('x');
    }).not.toThrow();
  });

  it('lets no secret through, wherever it hides', () => {
    const { log, lines } = capture({ level: 'debug' });
    const circular: Record<string, unknown> = { name: 'loop' };
    circular['self'] = circular;
    const err = new AppError('ERR_UNAUTHENTICATED', `bad key ${API_KEY}`, {
      cause: new Error(`while loading\n${PEM}`),
      details: { password: 'hunter2', note: `key=${API_KEY}` },
    });
    log.debug(`request with ${API_KEY}`, {
      headers: { authorization: `Bearer ${API_KEY}`, 'x-api-key': API_KEY, cookie: 'session=abc123', host: 'gw' },
      body: '{"inputs":"patient record 42"}',
      body_json: { inputs: 'patient record 42' },
      request: { rawBody: 'patient record 42', apiKey: API_KEY, client_secret: 's3cr3t-value', db_password: 'hunter2' },
      private_key: PEM,
      privateKeyPem: PEM,
      keyBytes: new Uint8Array([0xde, 0xad, 0xbe, 0xef]),
      passphrase: 'open sesame',
      note: `here is a key ${PEM} and ${RSA_PEM} inline`,
      list: [API_KEY, { token: 'tok-zzz' }, `mangled ag_${API_SECRET.slice(0, 20)}`],
      map: new Map([['authorization', 'Bearer zzz'], ['ok', API_KEY]]),
      err,
      circular,
      [`weird_${API_KEY}`]: 1,
    });
    const text = lines.join('\n');
    for (const secret of [API_SECRET, API_SECRET.slice(0, 20), PEM_BODY_LINE, 'secretsecretsecret', 'hunter2', 's3cr3t-value', 'abc123', 'patient record 42', 'open sesame', 'tok-zzz', 'zzz', '3q2+7w', 'deadbeef']) {
      expect(text, secret).not.toContain(secret);
    }
    expect(text).not.toMatch(/BEGIN [A-Z ]*PRIVATE KEY-----\\n[A-Za-z0-9+/]/);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    // What is kept is still useful: the key id, the host, the error code, the byte count.
    expect(line['msg']).toBe('request with ag_0123456789abcdef_[REDACTED]');
    expect(line['headers']).toEqual({ host: 'gw' });
    expect(line['keyBytes']).toBe('[4 bytes]');
    expect(line['note']).toBe('here is a key [REDACTED PRIVATE KEY]\n and [REDACTED PRIVATE KEY] inline');
    expect(line['circular']).toEqual({ name: 'loop', self: '[Circular]' });
    expect(line['map']).toEqual({ ok: 'ag_0123456789abcdef_[REDACTED]' });
    const e = line['err'] as Record<string, unknown>;
    expect(e['code']).toBe('ERR_UNAUTHENTICATED');
    expect(e['message']).toBe('bad key ag_0123456789abcdef_[REDACTED]');
    expect(e['details']).toEqual({ note: 'key=ag_0123456789abcdef_[REDACTED]' });
    expect((e['cause'] as Record<string, unknown>)['message']).toBe('while loading\n[REDACTED PRIVATE KEY]\n');
  });

  it('redacts API keys in arbitrary text (property)', () => {
    const keyChars = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split(''));
    fc.assert(
      fc.property(fc.string(), fc.string({ unit: keyChars, minLength: 43, maxLength: 43 }), fc.string(), (before, secret, after) => {
        // Glued to whatever comes before it, too: the full shape is redacted wherever it stands.
        const out = JSON.stringify(redact({ m: `${before} ag_00112233445566ff_${secret} ${after}`, glued: `${before}ag_00112233445566ff_${secret}${after}` }));
        expect(out).not.toContain(secret);
      }),
      { numRuns: 300 },
    );
  });

  it('redacts a full API key glued to a word (a raw path quoted in an error), and keeps its id', () => {
    const secret = 'S8Y3kdFNerMRW917GOel8e_jETGymwYqSVe9g03g2qA';
    for (const text of [`Failed to decode param '%ZZag_2ab29e86db1f2489_${secret}'`, `x_ag_2ab29e86db1f2489_${secret}`, `Zag_2ab29e86db1f2489_${secret}!`]) {
      const out = redactString(text);
      expect(out, text).not.toContain(secret.slice(0, 8));
      expect(out).toContain('ag_2ab29e86db1f2489_[REDACTED]');
    }
    // Words that merely contain ag_ stay as they are.
    expect(redactString('tag_name and flag_value')).toBe('tag_name and flag_value');
  });
});

describe('redact', () => {
  it('keeps ordinary data and makes it JSON-safe', () => {
    expect(redact({ a: 1, b: 'tag_name_value', c: [true, null, undefined], d: 10n, e: new Date(0), f: () => 1, g: Infinity })).toEqual({
      a: 1,
      b: 'tag_name_value',
      c: [true, null, null],
      d: '10',
      e: '1970-01-01T00:00:00.000Z',
      g: 'Infinity',
    });
  });

  it('cuts a PEM private key without an END line to the end of the string', () => {
    expect(redactString(`x -----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG`)).toBe('x [REDACTED PRIVATE KEY]');
  });

  it('leaves public keys and certificates alone', () => {
    const pub = '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----';
    expect(redactString(pub)).toBe(pub);
  });

  it('bounds depth and string length', () => {
    let deep: Record<string, unknown> = { v: 1 };
    for (let i = 0; i < 20; i++) deep = { d: deep };
    expect(JSON.stringify(redact(deep))).toContain('[Truncated]');
    expect((redact('x'.repeat(10_000)) as string).length).toBeLessThan(8300);
  });
});
