/**
 * Build the browser bundle of the gateway's pages (/verify, /log) into web/dist/:
 *   npm run build:web            (node --import tsx scripts/build-web.ts [--out <dir>] [--sourcemap] [--no-minify])
 * The gateway builds it by itself at start when it is missing or stale (src/web/build.ts,
 * ensureWebBundle); this script builds unconditionally and fails (exit 1) when the bundle would
 * contain a Node module or use Buffer.
 */
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT, buildWeb } from '../src/web/build.ts';

const { values } = parseArgs({
  options: { out: { type: 'string' }, sourcemap: { type: 'boolean' }, 'no-minify': { type: 'boolean' } },
  strict: true,
});

try {
  const r = await buildWeb({
    ...(values.out === undefined ? {} : { outDir: values.out }),
    sourcemap: values.sourcemap === true,
    minify: values['no-minify'] !== true,
  });
  for (const f of r.files) process.stdout.write(`${relative(REPO_ROOT, f.path).padEnd(32)} ${(f.bytes / 1024).toFixed(1).padStart(8)} KiB\n`);
  process.stdout.write(`web bundle built from ${r.inputs.length} files in ${r.ms} ms (crypto.ts swapped for crypto-web.ts; no Node modules)\n`);
} catch (e: unknown) {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}
