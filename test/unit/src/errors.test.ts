import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_ERRORS, AppError, isAppErrorCode, toErrorResponse } from '../../../src/errors.ts';

const ROOT = join(import.meta.dirname, '../../..');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return tsFiles(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** `| \`ERR_X\` | 413 | ...` rows of docs/gateway-errors.md. */
function documentedCodes(): Map<string, number> {
  const doc = readFileSync(join(ROOT, 'docs/gateway-errors.md'), 'utf8');
  const rows = new Map<string, number>();
  for (const m of doc.matchAll(/^\| `(ERR_[A-Z_]+)` \| (\d{3}) \|/gm)) rows.set(m[1]!, Number(m[2]));
  return rows;
}

describe('APP_ERRORS registry', () => {
  it('gives every code an error status and a description', () => {
    for (const [code, info] of Object.entries(APP_ERRORS)) {
      expect(code).toMatch(/^ERR_[A-Z_]+$/);
      expect(info.httpStatus, code).toBeGreaterThanOrEqual(400);
      expect(info.httpStatus, code).toBeLessThan(600);
      expect(info.description.length, code).toBeGreaterThan(10);
    }
  });

  it('documents every code in docs/gateway-errors.md with the same status, and nothing else', () => {
    const documented = documentedCodes();
    for (const [code, info] of Object.entries(APP_ERRORS)) {
      expect(documented.get(code), `${code} missing or wrong status in docs/gateway-errors.md`).toBe(info.httpStatus);
    }
    expect([...documented.keys()].sort()).toEqual(Object.keys(APP_ERRORS).sort());
  });

  it('has the statuses the gateway promises', () => {
    expect(APP_ERRORS.ERR_UNAUTHENTICATED.httpStatus).toBe(401);
    expect(APP_ERRORS.ERR_FORBIDDEN.httpStatus).toBe(403);
    expect(APP_ERRORS.ERR_RATE_LIMITED.httpStatus).toBe(429);
    expect(APP_ERRORS.ERR_BODY_TOO_LARGE.httpStatus).toBe(413);
    expect(APP_ERRORS.ERR_NO_BACKEND.httpStatus).toBe(503);
    expect(APP_ERRORS.ERR_BACKEND_FAILED.httpStatus).toBe(502);
    expect(APP_ERRORS.ERR_BACKEND_TIMEOUT.httpStatus).toBe(504);
    expect(APP_ERRORS.ERR_RECEIPT_INVALID.httpStatus).toBe(502);
    expect(APP_ERRORS.ERR_STORE_IO.httpStatus).toBe(503);
  });

  it('registers every code that src/ constructs (literal codes in the first argument)', () => {
    const offenders: string[] = [];
    let seen = 0;
    for (const file of tsFiles(join(ROOT, 'src'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/new AppError\(\s*([^,)]*)/g)) {
        seen++;
        // A literal, or a conditional between literals; anything else cannot be checked here.
        const arg = m[1]!.trim();
        const literals = [...arg.matchAll(/'([^']*)'/g)].map((l) => l[1]!);
        if (literals.length === 0 || !literals.every(isAppErrorCode)) offenders.push(`${file.slice(ROOT.length + 1)}: new AppError(${arg}`);
      }
    }
    expect(seen).toBeGreaterThan(10);
    expect(offenders).toEqual([]);
  });
});

describe('AppError', () => {
  it('takes its status from the registry and exposes only 4xx messages by default', () => {
    const e = new AppError('ERR_RATE_LIMITED', 'slow down');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('AppError');
    expect(e.code).toBe('ERR_RATE_LIMITED');
    expect(e.httpStatus).toBe(429);
    expect(e.expose).toBe(true);
    expect(new AppError('ERR_STORE_IO', '/var/lib/x is not writable').expose).toBe(false);
    expect(new AppError('ERR_NO_BACKEND', 'no backend serves iris', { expose: true }).expose).toBe(true);
  });

  it('keeps cause and details, and is recognised by brand', () => {
    const cause = new Error('root');
    const e = new AppError('ERR_INTERNAL', 'x', { cause, details: { a: 1 } });
    expect(e.cause).toBe(cause);
    expect(e.details).toEqual({ a: 1 });
    expect(AppError.is(e)).toBe(true);
    expect(AppError.is(new Error('x'))).toBe(false);
    expect(AppError.is(null)).toBe(false);
    expect('cause' in new AppError('ERR_INTERNAL', 'x')).toBe(false);
  });

  it('isAppErrorCode rejects inherited and unknown names', () => {
    expect(isAppErrorCode('ERR_NOT_FOUND')).toBe(true);
    expect(isAppErrorCode('toString')).toBe(false);
    expect(isAppErrorCode('ERR_NOPE')).toBe(false);
  });
});

describe('toErrorResponse', () => {
  it('answers an exposed error with its message', () => {
    expect(toErrorResponse(new AppError('ERR_BAD_REQUEST', 'inputs[0].shape: want [1,4]'))).toEqual({
      status: 400,
      body: { error: { code: 'ERR_BAD_REQUEST', message: 'inputs[0].shape: want [1,4]' } },
    });
  });

  it('replaces an unexposed message by the description', () => {
    const r = toErrorResponse(new AppError('ERR_STORE_IO', 'store: /srv/data/attestgate.db is corrupt'));
    expect(r.status).toBe(503);
    expect(r.body.error.message).toBe(APP_ERRORS.ERR_STORE_IO.description);
    expect(JSON.stringify(r)).not.toContain('/srv/data');
  });

  it('turns anything else into ERR_INTERNAL without its message', () => {
    const r = toErrorResponse(new TypeError('cannot read properties of undefined (secret stuff)'));
    expect(r).toEqual({ status: 500, body: { error: { code: 'ERR_INTERNAL', message: APP_ERRORS.ERR_INTERNAL.description } } });
    expect(toErrorResponse('a string').status).toBe(500);
  });
});
