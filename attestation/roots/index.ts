/**
 * The vendor roots compiled into the library. Tests check the fingerprints against README.md;
 * the loader re-computes them, so an edited PEM fails loudly instead of quietly trusting a new key.
 */
import { fromBase64, toHex } from '../common/bytes.ts';
import { sha256 } from '../common/crypto.ts';
import { parseCertificate, type TrustAnchor } from '../common/x509.ts';
import { VerificationError } from '../errors.ts';
import { INTEL_SGX_ROOT_CA_PEM } from './intel-sgx-root-ca.ts';

export interface PinnedRoot {
  readonly name: string;
  readonly pem: string;
  readonly sha256: string;
}

export const INTEL_SGX_ROOT_CA: PinnedRoot = {
  name: 'Intel SGX Root CA',
  pem: INTEL_SGX_ROOT_CA_PEM,
  sha256: '44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3',
};

/**
 * Put into the organisation name of every root the simulated TEE mints. An anchor whose subject
 * carries it is marked simulated wherever it is loaded, so a simulated result can never be
 * reported as anything else (marking is one way: a vendor root is pinned by DER, not by name).
 */
export const SIMULATED_ROOT_MARK = 'attestgate simulated TEE';

/** Parse a PEM certificate into a trust anchor. `pinned` says whether it is a vendor root built into the library. */
export async function anchorFromPem(pem: string, name: string, pinned: boolean): Promise<TrustAnchor> {
  const m = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/.exec(pem);
  if (m === null) throw new VerificationError('ERR_INVALID_ARGUMENT', `trust root "${name}" is not a PEM certificate`, { reason: 'bad_trust_root' });
  const der = fromBase64(m[1] as string /* a mandatory group */, 'trust root', 'bad_trust_root');
  const certificate = parseCertificate(der, `trust root "${name}"`, 'bad_trust_root');
  const simulated = certificate.subject.text.includes(SIMULATED_ROOT_MARK);
  if (simulated && pinned) throw new VerificationError('ERR_INVALID_ARGUMENT', `trust root "${name}" is a simulated root and cannot be pinned`, { reason: 'bad_trust_root' });
  return { name, certificate, sha256: toHex(await sha256(der)), pinned, simulated };
}

const pinnedCache = new Map<string, Promise<TrustAnchor>>();

/** The pinned root as a trust anchor; its fingerprint is checked once against the constant. */
export function pinnedAnchor(root: PinnedRoot): Promise<TrustAnchor> {
  let p = pinnedCache.get(root.name);
  if (p === undefined) {
    p = anchorFromPem(root.pem, root.name, true).then((a) => {
      if (a.sha256 !== root.sha256) {
        throw new VerificationError('ERR_INVALID_ARGUMENT', `pinned root "${root.name}" does not match its fingerprint`, { reason: 'bad_trust_root' });
      }
      return a;
    });
    pinnedCache.set(root.name, p);
  }
  return p;
}
