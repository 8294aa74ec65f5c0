/**
 * `attestgate demo` (what `npm start` runs until the gateway lands): verifies each real sample
 * quote shipped in test/fixtures/intel at the time its collateral was valid, and prints the report.
 */
import { readFile, readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { AttestationError } from '../../attestation/errors.ts';
import { verifyEvidence } from '../../attestation/registry.ts';
import type { TeeKind } from '../../attestation/result.ts';
import type { Io } from './main.ts';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/intel/', import.meta.url));

interface CaseFile {
  tee: TeeKind;
  verify_at: string;
  description?: string;
}

export async function runDemo(io: Io): Promise<number> {
  let failures = 0;
  for (const name of (await readdir(FIXTURES)).sort()) {
    const dir = join(FIXTURES, name);
    const meta = JSON.parse(await readFile(join(dir, 'case.json'), 'utf8')) as CaseFile;
    const evidence = new Uint8Array(await readFile(join(dir, 'quote.bin')));
    const collateral = [{ name: 'collateral.json', bytes: new Uint8Array(await readFile(join(dir, 'collateral.json'))) }];
    io.out(`\n${name} (${meta.tee}, at ${meta.verify_at})\n`);
    const t0 = performance.now();
    try {
      const r = await verifyEvidence({ tee: meta.tee, evidence, collateral }, { at: new Date(meta.verify_at), onStep: (s) => {
          io.out(`  ok    ${s}\n`);
        },
      });
      io.out(`  => OK, TCB ${r.tcb_status ?? 'n/a'}${r.advisory_ids.length ? ` (${r.advisory_ids.join(', ')})` : ''} in ${(performance.now() - t0).toFixed(1)} ms\n`);
    } catch (e: unknown) {
      if (!AttestationError.is(e)) {
        failures++;
        throw e;
      }
      io.out(`  => REJECTED ${e.code} (${e.reason}): ${e.message}\n`);
    }
  }
  return failures === 0 ? 0 : 1;
}
