/**
 * The browser bundle (src/web/build.ts): crypto.ts swapped for crypto-web.ts, no Node module and
 * no Buffer in it, any Node import a build error naming its importer, and ensureWebBundle building
 * only when the outputs are missing or older than an input (and once for concurrent callers).
 * Needs no browser.
 */
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, WEB_ENTRIES, browserPlugin, bufferUses, buildWeb, ensureWebBundle } from '../../src/web/build.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'attestgate-webbuild-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('buildWeb', () => {
  it('bundles both pages for the browser with crypto-web.ts instead of crypto.ts, quickly', async () => {
    const out = join(dir, 'dist');
    const r = await buildWeb({ outDir: out });
    expect(r.files.map((f) => f.path.slice(out.length + 1)).sort()).toEqual(WEB_ENTRIES.map((e) => `${e}.js`).sort());
    expect(r.inputs).toContain('attestation/common/crypto-web.ts');
    expect(r.inputs).not.toContain('attestation/common/crypto.ts');
    expect(r.inputs).toContain('src/client/verify-answer.ts');
    expect(r.inputs).toContain('src/audit/sha256-pure.ts');
    expect(r.inputs.filter((i) => i.startsWith('node:'))).toEqual([]);
    // The brief: in-process and under 2 s (measured ~0.2 s; slack for a loaded CI machine).
    expect(r.ms).toBeLessThan(10_000);
    for (const e of WEB_ENTRIES) {
      const js = await readFile(join(out, `${e}.js`), 'utf8');
      expect(js).not.toMatch(/["']node:[a-z]/);
      expect(bufferUses(js)).toEqual([]);
    }
  });

  it('refuses Node modules (node: or bare builtins), naming the importer', async () => {
    for (const [name, src] of [
      ['uses-fs.ts', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n"],
      ['uses-crypto.ts', "import { createHash } from 'crypto';\nexport const x = createHash;\n"],
    ] as const) {
      const entry = join(dir, name);
      await writeFile(entry, src);
      const err = await esbuild
        .build({ entryPoints: [entry], bundle: true, write: false, platform: 'browser', format: 'esm', logLevel: 'silent', plugins: [browserPlugin()] })
        .then(
          () => undefined,
          (e: unknown) => e as { errors: { text: string }[] },
        );
      expect(err?.errors[0]?.text).toMatch(new RegExp(`^Node module "(node:)?(fs|crypto)" imported by .*${name.replace('.', '\\.')}: the browser bundle must not contain Node modules$`));
    }
  });

  it('swaps crypto.ts when imported by its absolute path too', async () => {
    const entry = join(dir, 'imports-crypto.ts');
    await writeFile(entry, `export { sha256 } from ${JSON.stringify(join(REPO_ROOT, 'attestation/common/crypto.ts'))};\n`);
    const r = await esbuild.build({ entryPoints: [entry], bundle: true, write: false, metafile: true, platform: 'browser', format: 'esm', logLevel: 'silent', plugins: [browserPlugin()] });
    const inputs = Object.keys(r.metafile.inputs);
    expect(inputs).toContain('attestation/common/crypto-web.ts');
    expect(inputs).not.toContain('attestation/common/crypto.ts');
  });

  it('bufferUses finds free uses of Buffer only', () => {
    expect(bufferUses('const a = Buffer.from(x); new Buffer(3); Buffer(2)')).toHaveLength(3);
    expect(bufferUses('typeof Buffer === "function"; x.Buffer.from(); new ArrayBuffer(4); SharedArrayBuffer; "Buffer."; y=Buffer')).toEqual([]);
  });
});

describe('ensureWebBundle', () => {
  it('builds when missing or stale, not otherwise; concurrent callers share one build', async () => {
    const out = join(dir, 'ensure');
    const [a, b] = await Promise.all([ensureWebBundle({ outDir: out }), ensureWebBundle({ outDir: out })]);
    expect(a).toBe(b);
    expect(a.built).toBe(true);
    expect((await ensureWebBundle({ outDir: out })).built).toBe(false);
    // An output older than its inputs (as after a git pull): rebuilt.
    const old = new Date(Date.now() - 365 * 24 * 3600 * 1000);
    await utimes(join(out, 'log-app.js'), old, old);
    expect((await ensureWebBundle({ outDir: out })).built).toBe(true);
    expect((await ensureWebBundle({ outDir: out })).built).toBe(false);
    // A missing output or build record: rebuilt; force: rebuilt.
    await rm(join(out, 'verify-app.js'));
    expect((await ensureWebBundle({ outDir: out })).built).toBe(true);
    await rm(join(out, 'build-meta.json'));
    expect((await ensureWebBundle({ outDir: out })).built).toBe(true);
    expect((await ensureWebBundle({ outDir: out, force: true })).built).toBe(true);
  });
});
