import { LogError } from '../../../../src/audit/errors.ts';
import { nodeHash } from '../../../../src/audit/merkle.ts';
import { sha256 } from '../../../../src/audit/sha256-node.ts';

/** The LogError that `fn` throws; fails the test if it throws nothing or something else. */
export function logErrorOf(fn: () => unknown): LogError {
  try {
    fn();
  } catch (e: unknown) {
    if (LogError.is(e)) return e;
    throw new Error(`not a LogError: ${String(e)}`);
  }
  throw new Error('did not throw');
}

/** The LogError that the promise rejects with. */
export async function logErrorOfAsync(p: Promise<unknown>): Promise<LogError> {
  try {
    await p;
  } catch (e: unknown) {
    if (LogError.is(e)) return e;
    throw new Error(`not a LogError: ${String(e)}`);
  }
  throw new Error('did not reject');
}

/** Every complete subtree hash over `leafHashes`: result[level][index], level 0 = the leaves. */
export function completeSubtrees(leafHashes: readonly Uint8Array[]): Uint8Array[][] {
  const levels: Uint8Array[][] = [[...leafHashes]];
  for (let below = levels[0] as Uint8Array[]; below.length >= 2; ) {
    const up: Uint8Array[] = [];
    for (let i = 0; i + 1 < below.length; i += 2) up.push(nodeHash(sha256, below[i] as Uint8Array, below[i + 1] as Uint8Array));
    levels.push(up);
    below = up;
  }
  return levels;
}
