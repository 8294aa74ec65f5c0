/**
 * The error registry (fastify style): every code and every reason the library can raise is
 * documented in docs/errors.md, and the error classes behave as documented.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AttestationError, POLICY_CODES, PolicyError, VERIFICATION_CODES, VerificationError, malformed } from '../../../attestation/errors.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DOC = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Reason literals as the code writes them: `reason: 'x'`, `reason = 'x'`, `REASON_* = 'x'`, reason tables, and reason arguments. */
function reasonsInSource(): Set<string> {
  const found = new Set<string>();
  const patterns = [
    /reason:\s*'([a-z_]+)'/g,
    /reason\s*=\s*'([a-z_]+)'/g,
    /REASON[A-Z_]*\s*=\s*'([a-z_]+)'/g,
    /\b(?:malformed|unsupported|mismatch|tcbStatusError|fail|unrecognised)\([^;]*?'([a-z]+(?:_[a-z]+)*)'\)/g,
    /new DerReader\([^;]*?'([a-z]+(?:_[a-z]+)+)'\)/g,
  ];
  for (const file of [...sources(join(ROOT, 'attestation')), ...sources(join(ROOT, 'src/collateral'))]) {
    const text = readFileSync(file, 'utf8');
    for (const re of patterns) for (const m of text.matchAll(re)) found.add(m[1] as string);
    const table = /export const REASONS = \{([\s\S]*?)\}/.exec(text);
    if (table !== null) for (const m of (table[1] as string).matchAll(/:\s*'([a-z_]+)'/g)) found.add(m[1] as string);
  }
  return found;
}

describe('docs/errors.md', () => {
  it.each([...VERIFICATION_CODES, ...POLICY_CODES])('documents code %s', (code) => {
    expect(DOC).toMatch(new RegExp(`\\| \`${code}\` \\|`));
  });

  const reasons = [...reasonsInSource()].sort();
  it('finds the reasons in the source', () => {
    expect(reasons.length).toBeGreaterThan(60);
  });
  it.each(reasons)('documents reason %s', (reason) => {
    expect(DOC).toMatch(new RegExp(`\\| \`${reason}\` \\|`));
  });
});

describe('error classes', () => {
  it('carry family, code, reason and cause', () => {
    const cause = new Error('inner');
    const v = new VerificationError('ERR_SIGNATURE_INVALID', 'bad', { reason: 'quote_signature', cause, details: { a: 1 } });
    expect([v.family, v.code, v.reason, v.name, v.cause, v.details]).toEqual(['verification', 'ERR_SIGNATURE_INVALID', 'quote_signature', 'VerificationError', cause, { a: 1 }]);
    const p = new PolicyError('ERR_POLICY_MISMATCH', 'differs', { mismatches: [{ field: 'mrtd', got: 'aa', want: 'bb' }] });
    expect([p.family, p.reason, p.mismatches.length]).toEqual(['policy', 'policy_mismatch', 1]);
    expect(malformed('x').reason).toBe('malformed_evidence');
  });
  it('are recognised across copies by their brand, and nothing else is', () => {
    const v = new VerificationError('ERR_REVOKED', 'r');
    expect(AttestationError.is(v)).toBe(true);
    expect(AttestationError.is(new Error('x'))).toBe(false);
    expect(AttestationError.is({ code: 'ERR_REVOKED' })).toBe(false);
    expect(AttestationError.is(null)).toBe(false);
    const foreign = Object.assign(Object.create(null) as object, { [Symbol.for('attestgate.AttestationError')]: true });
    expect(AttestationError.is(foreign)).toBe(true);
  });
});
