import { calculateJwkThumbprint } from 'jose';
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  BINDING_VERSION,
  canonicalJwk,
  checkBinding,
  jwkThumbprint,
  modelsDigest,
  modelsManifestBytes,
  reportDataFor,
  reportDataOf,
  type PublicJwk,
} from '../../../attestation/binding.ts';
import { toHex } from '../../../attestation/common/bytes.ts';
import type { EvidenceResult, TeeKind } from '../../../attestation/result.ts';
import { errorOf } from '../../helpers/errors.ts';

const ecJwk = (): PublicJwk => {
  const j = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
  return { kty: 'EC', crv: 'P-256', x: j.x!, y: j.y! };
};
const MODELS = [
  { name: 'iris', version: '1', sha256: 'a'.repeat(64) },
  { name: 'alpha', version: '2', sha256: 'b'.repeat(64) },
];
const nonce = (fill = 7): Uint8Array => new Uint8Array(32).fill(fill);

function resultWith(tee: TeeKind, reportData: string | null): EvidenceResult {
  const claims = tee === 'nitro' ? { user_data: reportData } : { report_data: reportData };
  return {
    verdict: 'ok',
    tee,
    tcb_status: null,
    advisory_ids: [],
    claims,
    trust_anchor: { name: 't', sha256: '0'.repeat(64), pinned: false },
    collateral: [],
    debug_allowed: false,
    simulated: true,
    expires_at: new Date(0).toISOString(),
  };
}

describe('binding v1', () => {
  it('JWK thumbprints follow RFC 7638 (RFC 8037 Ed25519 example, and jose for EC keys)', async () => {
    // RFC 8037 appendix A.3.
    const ed: PublicJwk = { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' };
    expect(Buffer.from(await jwkThumbprint(ed)).toString('base64url')).toBe('kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
    for (let i = 0; i < 5; i++) {
      const jwk = ecJwk();
      expect(Buffer.from(await jwkThumbprint({ ...jwk, kid: 'ignored', alg: 'ES256' } as unknown as PublicJwk)).toString('base64url')).toBe(await calculateJwkThumbprint(jwk, 'sha256'));
    }
  });

  it('refuses keys and members it cannot canonicalise', () => {
    expect(errorOf(() => canonicalJwk({ kty: 'RSA', n: 'x', e: 'AQAB' } as unknown as PublicJwk))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', reason: 'binding_input' });
    expect(errorOf(() => canonicalJwk({ kty: 'EC', crv: 'P-521', x: 'a', y: 'b' } as unknown as PublicJwk))).toMatchObject({ reason: 'binding_input' });
    expect(errorOf(() => canonicalJwk({ kty: 'OKP', crv: 'X25519', x: 'a' } as unknown as PublicJwk))).toMatchObject({ reason: 'binding_input' });
    // A quote in a member would change the canonical JSON's structure: refused, not escaped.
    expect(errorOf(() => canonicalJwk({ kty: 'EC', crv: 'P-256', x: 'a"', y: 'b' }))).toMatchObject({ reason: 'binding_input' });
  });

  it('the models manifest is canonical: order-independent, duplicates and bad digests refused', async () => {
    expect(toHex(await modelsDigest(MODELS))).toBe(toHex(await modelsDigest([...MODELS].reverse())));
    expect(new TextDecoder().decode(modelsManifestBytes(MODELS))).toBe(
      `[{"name":"alpha","version":"2","sha256":"${'b'.repeat(64)}"},{"name":"iris","version":"1","sha256":"${'a'.repeat(64)}"}]`,
    );
    expect(errorOf(() => modelsManifestBytes([MODELS[0]!, MODELS[0]!]))).toMatchObject({ reason: 'binding_input' });
    expect(errorOf(() => modelsManifestBytes([{ name: 'x', version: '1', sha256: 'A'.repeat(64) }]))).toMatchObject({ reason: 'binding_input' });
    expect(errorOf(() => modelsManifestBytes([{ name: '', version: '1', sha256: 'a'.repeat(64) }]))).toMatchObject({ reason: 'binding_input' });
    expect(errorOf(() => modelsManifestBytes([{ name: 'x', version: '', sha256: 'a'.repeat(64) }]))).toMatchObject({ reason: 'binding_input' });
    // The same models in another version order sort by version too.
    const twoVersions = [
      { name: 'm', version: '2', sha256: 'c'.repeat(64) },
      { name: 'm', version: '1', sha256: 'd'.repeat(64) },
    ];
    expect(toHex(await modelsDigest(twoVersions))).toBe(toHex(await modelsDigest([...twoVersions].reverse())));
  });

  it('report data is SHA-512 of the label, nonce, thumbprint and models digest', async () => {
    const jwk = ecJwk();
    const { createHash } = await import('node:crypto');
    const want = createHash('sha512')
      .update(Buffer.from(`${BINDING_VERSION}\u0000`))
      .update(nonce())
      .update(await jwkThumbprint(jwk))
      .update(await modelsDigest(MODELS))
      .digest('hex');
    expect(toHex(await reportDataFor({ nonce: nonce(), jwk, models: MODELS }))).toBe(want);
  });

  it('every input changes the report data', async () => {
    const jwk = ecJwk();
    const base = toHex(await reportDataFor({ nonce: nonce(), jwk, models: MODELS }));
    const n = nonce();
    n[31] = 8;
    expect(toHex(await reportDataFor({ nonce: n, jwk, models: MODELS }))).not.toBe(base);
    expect(toHex(await reportDataFor({ nonce: nonce(), jwk: ecJwk(), models: MODELS }))).not.toBe(base);
    expect(toHex(await reportDataFor({ nonce: nonce(), jwk, models: MODELS.slice(1) }))).not.toBe(base);
    expect(toHex(await reportDataFor({ nonce: nonce(), jwk, models: [] }))).not.toBe(base);
  });

  it('nonces must be exactly 32 bytes', async () => {
    for (const bad of [new Uint8Array(31), new Uint8Array(33), new Uint8Array(0), 'x'.repeat(32) as unknown as Uint8Array]) {
      await expect(reportDataFor({ nonce: bad, jwk: ecJwk(), models: [] })).rejects.toMatchObject({ reason: 'binding_input' });
    }
  });

  it('checkBinding accepts the right report data for every TEE and refuses any other', async () => {
    const jwk = ecJwk();
    const rd = toHex(await reportDataFor({ nonce: nonce(), jwk, models: MODELS }));
    for (const tee of ['sgx', 'tdx', 'sev-snp', 'nitro'] as const) {
      await expect(checkBinding(resultWith(tee, rd), { nonce: nonce(), jwk, models: MODELS })).resolves.toBeUndefined();
      expect(reportDataOf(resultWith(tee, rd))).toBe(rd);
      for (const other of [nonce(9), nonce(7)]) {
        const wrongModels = other[0] === 7;
        const e = await checkBinding(resultWith(tee, rd), { nonce: other, jwk, models: wrongModels ? [] : MODELS }).catch((x: unknown) => x);
        expect(e).toMatchObject({ code: 'ERR_REPORT_DATA_MISMATCH', reason: 'binding', family: 'policy' });
      }
      await expect(checkBinding(resultWith(tee, null), { nonce: nonce(), jwk, models: MODELS })).rejects.toMatchObject({ code: 'ERR_REPORT_DATA_MISMATCH' });
      await expect(checkBinding(resultWith(tee, rd.slice(0, 64)), { nonce: nonce(), jwk, models: MODELS })).rejects.toMatchObject({ code: 'ERR_REPORT_DATA_MISMATCH' });
      await expect(checkBinding(resultWith(tee, rd.toUpperCase()), { nonce: nonce(), jwk, models: MODELS })).rejects.toMatchObject({ code: 'ERR_REPORT_DATA_MISMATCH' });
    }
  });
});
