/**
 * Where the simulated TEE keeps its PKI: `<dataDir>/sim-pki/<name>/`, generated on first use and
 * reused after (so the gateway and the enclave, started separately, agree on the same roots).
 * The data directory is git-ignored; nothing here ever enters the repository. Private keys are
 * written 0600 and never logged. Files are written to a temporary name and renamed, and creation
 * is serialised per directory inside the process, so a half-written PKI is never read.
 */
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type PkiFiles = Readonly<Record<string, string>>;

const pending = new Map<string, Promise<PkiFiles>>();

export function simPkiDir(dataDir: string, name: string): string {
  return join(dataDir, 'sim-pki', name);
}

async function readAll(dir: string, names: readonly string[]): Promise<PkiFiles | undefined> {
  try {
    const have = new Set(await readdir(dir));
    if (!names.every((n) => have.has(n))) return undefined;
    const out: Record<string, string> = {};
    for (const n of names) out[n] = await readFile(join(dir, n), 'utf8');
    return out;
  } catch {
    return undefined;
  }
}

/**
 * Load the PKI named `name` (files `names`) from the data directory, or create it with `create`
 * and store it. Files whose name ends in `.key.pem` are written with mode 0600.
 */
export function loadOrCreatePki(dataDir: string, name: string, names: readonly string[], create: () => Promise<PkiFiles>): Promise<PkiFiles> {
  const dir = simPkiDir(dataDir, name);
  let p = pending.get(dir);
  if (p === undefined) {
    p = (async () => {
      const existing = await readAll(dir, names);
      if (existing !== undefined) return existing;
      const files = await create();
      // Write the whole set into a fresh directory and rename it into place in one step: another
      // process (the gateway and the enclave start together) either wins the rename, and we read
      // its set, or loses it; a mix of two generations is never visible.
      const parent = join(dataDir, 'sim-pki');
      await mkdir(parent, { recursive: true, mode: 0o700 });
      const tmp = join(parent, `.${name}.${process.pid}.${Date.now()}.tmp`);
      await mkdir(tmp, { mode: 0o700 });
      for (const n of names) {
        const text = files[n];
        if (text === undefined) throw new Error(`simulated PKI ${name}: creator did not produce ${n}`);
        await writeFile(join(tmp, n), text, { mode: n.endsWith('.key.pem') ? 0o600 : 0o644 });
      }
      try {
        await rename(tmp, dir);
      } catch {
        await rm(tmp, { recursive: true, force: true });
        const theirs = await readAll(dir, names);
        if (theirs === undefined) throw new Error(`simulated PKI ${name}: ${dir} exists but is incomplete; remove it to regenerate`);
        return theirs;
      }
      return files;
    })();
    pending.set(dir, p);
    p.catch(() => pending.delete(dir));
  }
  return p;
}
