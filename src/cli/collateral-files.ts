/**
 * Collateral named on a command line (`verify-evidence --collateral`, `audit --reappraise
 * --collateral`): files as given, and every file of a directory, marked optional (a file there
 * that is not collateral for the TEE, such as a case.json, is skipped rather than refused).
 * Content decides what each file is, never its name.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CollateralFile } from '../../attestation/registry.ts';

export async function readCollateral(paths: readonly string[]): Promise<CollateralFile[]> {
  const out: CollateralFile[] = [];
  for (const p of paths) {
    const st = await stat(p);
    if (st.isDirectory()) {
      for (const name of (await readdir(p)).sort()) {
        const full = join(p, name);
        if ((await stat(full)).isFile()) out.push({ name: full, bytes: new Uint8Array(await readFile(full)), optional: true });
      }
    } else {
      out.push({ name: p, bytes: new Uint8Array(await readFile(p)) });
    }
  }
  return out;
}
