/**
 * Trust anchors: the pinned vendor roots load and match their fingerprints; an edited pin fails
 * loudly; a simulated root is marked as such and can never be pinned; non-PEM input is refused.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AMD_ARKS } from '../../../attestation/roots/amd.ts';
import { AWS_NITRO_ROOT_G1 } from '../../../attestation/roots/aws-nitro-root.ts';
import { INTEL_SGX_ROOT_CA, SIMULATED_ROOT_MARK, anchorFromPem, pinnedAnchor } from '../../../attestation/roots/index.ts';
import { basicConstraints, encodeName, mintCertificate, toPem } from '../../../enclave/sim/x509-amd-nitro.ts';

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('did not reject');
    },
    (e: unknown) => e,
  );
}

describe('pinned roots', () => {
  it.each([INTEL_SGX_ROOT_CA, AWS_NITRO_ROOT_G1, ...Object.values(AMD_ARKS)])('$name loads as a pinned, non-simulated anchor with its fingerprint', async (root) => {
    const a = await pinnedAnchor(root);
    expect(a).toMatchObject({ name: root.name, sha256: root.sha256, pinned: true, simulated: false });
    expect(pinnedAnchor(root)).toBe(pinnedAnchor(root));
  });

  it('a pin whose fingerprint does not match its PEM -> ERR_INVALID_ARGUMENT', async () => {
    const e = await rejection(pinnedAnchor({ ...INTEL_SGX_ROOT_CA, name: 'edited Intel root', sha256: '00'.repeat(32) }));
    expect(e).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', reason: 'bad_trust_root', message: 'pinned root "edited Intel root" does not match its fingerprint' });
  });
});

describe('anchorFromPem', () => {
  it('text without a PEM certificate -> ERR_INVALID_ARGUMENT', async () => {
    for (const text of ['', 'not a certificate', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n']) {
      const e = await rejection(anchorFromPem(text, 'mine', false));
      expect(e).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', reason: 'bad_trust_root', message: 'trust root "mine" is not a PEM certificate' });
    }
  });

  it('a root carrying the simulation mark is simulated, and refused as a pinned root', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const name = encodeName([['O', SIMULATED_ROOT_MARK], ['CN', 'ARK-Genoa']]);
    const pem = toPem(
      mintCertificate({
        issuer: name,
        subject: name,
        notBefore: new Date('2025-01-01T00:00:00Z'),
        notAfter: new Date('2026-01-01T00:00:00Z'),
        publicKey,
        extensions: [basicConstraints(true)],
        signer: { key: privateKey, algorithm: 'ecdsa-sha384' },
      }),
    );
    expect(await anchorFromPem(pem, 'sim', false)).toMatchObject({ pinned: false, simulated: true });
    const e = await rejection(anchorFromPem(pem, 'sim', true));
    expect(e).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', reason: 'bad_trust_root', message: 'trust root "sim" is a simulated root and cannot be pinned' });
  });
});
