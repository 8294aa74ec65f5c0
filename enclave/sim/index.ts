/**
 * The simulated TEE, one entry point: an attester for any of sgx, tdx, sev-snp and nitro whose
 * evidence is in the real binary format, signed by a simulated vendor PKI kept in the data
 * directory. Verifiers accept it only with the simulated roots passed explicitly, and mark every
 * result `simulated`. The roots live at fixed paths (SIMULATED_ROOT_FILES) so that a gateway
 * started separately, and told to trust simulated roots, can read them without loading any key.
 */
import type { Attester, SimulatedAttesterKind } from '../attesters/attester.ts';
import { createSimulatedSnpAttester, simulatedAmdRoot } from './amd.ts';
import { createSimulatedIntelAttester, simulatedIntelRoot } from './intel.ts';
import { createSimulatedNitroAttester, simulatedNitroRoot } from './nitro.ts';

export interface SimulatedTeeOptions {
  readonly dataDir: string;
  /** Different seeds give different measurements (to exercise policy refusals). */
  readonly measurementSeed?: string;
  readonly debug?: boolean;
}

export { SIMULATED_ROOT_FILES } from '../protocol.ts';

export function createSimulatedAttester(kind: SimulatedAttesterKind, opts: SimulatedTeeOptions): Attester {
  const base = { dataDir: opts.dataDir, ...(opts.measurementSeed === undefined ? {} : { measurementSeed: opts.measurementSeed }), ...(opts.debug === undefined ? {} : { debug: opts.debug }) };
  switch (kind) {
    case 'sim-sgx':
      return createSimulatedIntelAttester('sgx', base);
    case 'sim-tdx':
      return createSimulatedIntelAttester('tdx', base);
    case 'sim-sev-snp':
      return createSimulatedSnpAttester(base);
    case 'sim-nitro':
      return createSimulatedNitroAttester(base);
  }
}

/** Create every simulated PKI (if missing) and return the root PEMs. */
export async function simulatedRoots(dataDir: string): Promise<string[]> {
  return Promise.all([simulatedIntelRoot(dataDir), simulatedAmdRoot(dataDir, 'genoa'), simulatedAmdRoot(dataDir, 'milan'), simulatedNitroRoot(dataDir)]);
}
