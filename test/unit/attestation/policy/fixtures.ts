/**
 * Real verified results for the policy and EAR tests: fixture cases of test/fixtures run through
 * the library's one entry point (registry.verifyEvidence) at the case's verify_at, with the
 * case's `expected` claims alongside to build policies from.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { verifyEvidence, type AmdProduct } from '../../../../attestation/registry.ts';
import type { EvidenceResult, TeeKind } from '../../../../attestation/result.ts';
import { FIXTURES } from '../../../helpers/fixtures.ts';
import { PolicyLoadError } from '../../../../attestation/policy/errors.ts';

export interface Loaded {
  readonly name: string;
  readonly result: EvidenceResult;
  readonly expected: Readonly<Record<string, unknown>>;
  readonly at: Date;
  readonly evidence: Uint8Array;
}

const EVIDENCE = /^(quote\.bin|report\.bin|attestation\.cbor)$/;
const cache = new Map<string, Promise<Loaded>>();

/** `family/case`, e.g. `intel/tdx-v4-phala-b0c06f`; debug cases are verified with allowDebug. */
export function load(path: string): Promise<Loaded> {
  let p = cache.get(path);
  if (p === undefined) {
    p = verifyCase(path);
    cache.set(path, p);
  }
  return p;
}

async function verifyCase(path: string): Promise<Loaded> {
  const dir = join(FIXTURES, path);
  const meta = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as {
    tee: TeeKind;
    verify_at: string;
    product?: string;
    expected: Record<string, unknown>;
  };
  const files = readdirSync(dir).filter((n) => statSync(join(dir, n)).isFile() && n !== 'case.json');
  const evName = files.find((n) => EVIDENCE.test(n));
  if (evName === undefined) throw new Error(`no evidence in ${path}`);
  const evidence = new Uint8Array(readFileSync(join(dir, evName)));
  const at = new Date(meta.verify_at);
  const result = await verifyEvidence(
    {
      tee: meta.tee,
      evidence,
      collateral: files.filter((n) => n !== evName).map((n) => ({ name: n, bytes: new Uint8Array(readFileSync(join(dir, n))), optional: true })),
      ...(meta.product === undefined ? {} : { product: meta.product.toLowerCase() as AmdProduct }),
    },
    { at, allowDebug: true },
  );
  return { name: path, result, expected: meta.expected, at, evidence };
}

/** A copy of a result with some fields replaced (the result type is deeply readonly). */
export function withResult(r: EvidenceResult, patch: Partial<EvidenceResult>): EvidenceResult {
  return { ...r, ...patch };
}

export function withClaims(r: EvidenceResult, patch: Readonly<Record<string, unknown>>): EvidenceResult {
  return { ...r, claims: { ...r.claims, ...(patch as EvidenceResult['claims']) } };
}

/** The PolicyLoadError that `fn` throws; fails the test otherwise. */
export function loadErrorOf(fn: () => unknown): PolicyLoadError {
  try {
    fn();
  } catch (e: unknown) {
    if (PolicyLoadError.is(e)) return e;
    throw new Error(`not a PolicyLoadError: ${String(e)}`);
  }
  throw new Error('did not throw');
}

/** Flip the first hex digit: same width, different value. */
export function flipHex(h: string): string {
  return (h[0] === '0' ? '1' : '0') + h.slice(1);
}
