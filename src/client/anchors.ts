/**
 * Trust anchors for the client: the pinned vendor roots of the record's TEE, plus whatever the
 * caller adds (the simulated TEE's roots for a demo, a private root for a test). Without additions
 * the verifiers use their own pinned roots, exactly as the gateway does.
 */
import type { TrustAnchor } from '../../attestation/common/x509.ts';
import type { TeeKind } from '../../attestation/result.ts';
import { AMD_ARKS } from '../../attestation/roots/amd.ts';
import { AWS_NITRO_ROOT_G1 } from '../../attestation/roots/aws-nitro-root.ts';
import { INTEL_SGX_ROOT_CA, pinnedAnchor } from '../../attestation/roots/index.ts';

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

/** The anchors to verify `tee` evidence with; undefined means the verifiers' pinned defaults. */
export async function anchorsFor(tee: TeeKind, extra: readonly TrustAnchor[] | undefined): Promise<readonly TrustAnchor[] | undefined> {
  if (extra === undefined || extra.length === 0) return undefined;
  return [...(await vendorAnchors(tee)), ...extra];
}

/** A cache key part naming the extra anchors (by DER digest). */
export function anchorsKey(extra: readonly TrustAnchor[] | undefined): string {
  return (extra ?? []).map((a) => a.sha256).sort().join(',');
}
