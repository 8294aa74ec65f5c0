/**
 * The trust anchors the gateway verifies evidence against. By default the pinned vendor roots
 * only (the verifiers' own default). When the operator turns on simulated roots (demo, CI) or
 * names extra roots, the verifiers get the vendor roots PLUS those, so real hardware still
 * verifies; every result from a simulated root is marked simulated, and the policy refuses it
 * unless it says `allowSimulated`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TrustAnchor } from '../../attestation/common/x509.ts';
import type { TeeKind } from '../../attestation/result.ts';
import { AMD_ARKS } from '../../attestation/roots/amd.ts';
import { AWS_NITRO_ROOT_G1 } from '../../attestation/roots/aws-nitro-root.ts';
import { INTEL_SGX_ROOT_CA, anchorFromPem, pinnedAnchor } from '../../attestation/roots/index.ts';
import { SIMULATED_ROOT_FILES } from '../../enclave/protocol.ts';

export interface TrustSettings {
  readonly simulatedRoots: boolean;
  readonly extraRoots: readonly string[];
  readonly dataDir: string;
}

export type AnchorsFor = (tee: TeeKind) => Promise<readonly TrustAnchor[] | undefined>;

async function vendorAnchors(tee: TeeKind): Promise<TrustAnchor[]> {
  switch (tee) {
    case 'sgx':
    case 'tdx':
      return [await pinnedAnchor(INTEL_SGX_ROOT_CA)];
    case 'sev-snp':
      return Promise.all(Object.values(AMD_ARKS).map((r) => pinnedAnchor(r)));
    case 'nitro':
      return [await pinnedAnchor(AWS_NITRO_ROOT_G1)];
  }
}

async function readSimulatedRoot(dataDir: string, f: string): Promise<TrustAnchor | undefined> {
  const path = join(dataDir, f);
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (e: unknown) {
    if ((e as { code?: unknown }).code === 'ENOENT') return undefined;
    throw new Error(`simulated root ${path} cannot be read: ${(e as Error).message}`, { cause: e });
  }
  const a = await anchorFromPem(pem, `simulated root ${f}`, false);
  if (!a.simulated) throw new Error(`${path} is not a simulated root (its subject lacks the simulated mark); refusing to trust it as one`);
  return a;
}

/**
 * Load the configured anchors. Simulated roots appear in the data directory when a simulated
 * enclave first makes its PKI, which may be after the gateway starts: the ones still missing are
 * looked for again at each admission (a file read), the ones found are kept.
 */
export async function loadTrust(t: TrustSettings): Promise<{ anchorsFor: AnchorsFor; extra: () => readonly TrustAnchor[] }> {
  const fixed: TrustAnchor[] = [];
  for (const path of t.extraRoots) fixed.push(await anchorFromPem(await readFile(path, 'utf8'), path, false));
  const simulated = new Map<string, TrustAnchor>();
  const scan = async (): Promise<void> => {
    if (!t.simulatedRoots) return;
    for (const f of SIMULATED_ROOT_FILES) {
      if (simulated.has(f)) continue;
      const a = await readSimulatedRoot(t.dataDir, f);
      if (a !== undefined) simulated.set(f, a);
    }
  };
  await scan();
  const extra = (): TrustAnchor[] => [...fixed, ...simulated.values()];
  if (!t.simulatedRoots && fixed.length === 0) return { anchorsFor: () => Promise.resolve(undefined), extra };
  return {
    anchorsFor: async (tee) => {
      await scan();
      return [...(await vendorAnchors(tee)), ...extra()];
    },
    extra,
  };
}
