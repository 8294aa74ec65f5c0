/** Loading of the fixture cases in test/fixtures/<family>/<case>/ (see test/fixtures/README.md). */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

export interface FixtureCase {
  readonly name: string;
  readonly dir: string;
  readonly meta: {
    readonly tee: 'sgx' | 'tdx' | 'sev-snp' | 'nitro';
    readonly verify_at: string;
    readonly trust_anchor?: string;
    readonly run_with_allow_debug?: boolean;
    readonly expected: Record<string, unknown> & { verdict: 'ok' | 'error'; reason?: string; tcb_status?: string | null };
  } & Record<string, unknown>;
}

export function listCases(family: string): FixtureCase[] {
  const root = join(FIXTURES, family);
  return readdirSync(root)
    .filter((n) => statSync(join(root, n)).isDirectory() && existsSync(join(root, n, 'case.json')))
    .sort()
    .map((name) => ({ name, dir: join(root, name), meta: JSON.parse(readFileSync(join(root, name, 'case.json'), 'utf8')) as FixtureCase['meta'] }));
}

export function readBytes(...parts: string[]): Uint8Array {
  return new Uint8Array(readFileSync(join(...parts)));
}
