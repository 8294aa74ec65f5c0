import { compactVerify, importJWK, decodeProtectedHeader } from 'jose';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { jwkThumbprint } from '../../../attestation/binding.ts';
import { RECEIPT_JWS_TYP, parseReceiptClaims } from '../../../attestation/receipt.ts';
import { generateEnclaveKey } from '../../../enclave/keys.ts';
import { buildReceipt, signReceipt } from '../../../enclave/receipt.ts';
import { errorOf } from '../../helpers/errors.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const input = {
  request: enc('{"inputs":[]}'),
  response: enc('{"outputs":[]}'),
  model: { name: 'iris', version: '1', sha256: 'ab'.repeat(32) },
  runtime: { name: 'onnxruntime-node', version: '1.30.0' },
  tee: 'tdx' as const,
  simulated: true,
  measurement: { mrtd: '00'.repeat(48), rtmr0: '11'.repeat(48), rtmr1: '', rtmr2: '22'.repeat(48), rtmr3: '33'.repeat(48) },
  evidenceSha256: 'cd'.repeat(32),
  now: new Date('2026-11-25T10:00:00.123Z'),
};

describe('enclave key and receipts', () => {
  it('the key is ES256 with kid = its RFC 7638 thumbprint, and no private part is reachable', async () => {
    const key = await generateEnclaveKey();
    expect(key.kid).toBe(Buffer.from(await jwkThumbprint(key.jwk)).toString('base64url'));
    expect(key.jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: key.kid });
    expect(JSON.stringify(key)).not.toMatch(/"d"/);
    expect(Object.keys(key.jwk)).not.toContain('d');
    const other = await generateEnclaveKey();
    expect(other.kid).not.toBe(key.kid);
  });

  it('a receipt is a compact JWS by the enclave key over the digests of the exact bytes', async () => {
    const key = await generateEnclaveKey();
    const claims = buildReceipt(key, { ...input, nonce: 'client-nonce-0123456789' });
    const jws = signReceipt(key, claims);
    const { payload, protectedHeader } = await compactVerify(jws, await importJWK(key.jwk, 'ES256'));
    expect(protectedHeader).toEqual({ typ: RECEIPT_JWS_TYP, alg: 'ES256', kid: key.kid });
    const got = parseReceiptClaims(JSON.parse(new TextDecoder().decode(payload)));
    expect(got).toEqual(claims);
    expect(got.request_sha256).toBe(createHash('sha256').update(input.request).digest('hex'));
    expect(got.response_sha256).toBe(createHash('sha256').update(input.response).digest('hex'));
    expect(got).toMatchObject({ kid: key.kid, iat: 1795600800, ts: '2026-11-25T10:00:00.123Z', nonce: 'client-nonce-0123456789', evidence_sha256: input.evidenceSha256 });
    // Another key does not verify it.
    const other = await generateEnclaveKey();
    await expect(compactVerify(jws, await importJWK(other.jwk, 'ES256'))).rejects.toThrow();
    // The caller cannot override alg or kid.
    expect(decodeProtectedHeader(key.signCompact(enc('x'), { alg: 'none', kid: 'evil' }))).toMatchObject({ alg: 'ES256', kid: key.kid });
  });

  it('the claims schema is closed and checks every member', async () => {
    const key = await generateEnclaveKey();
    const good = buildReceipt(key, input) as unknown as Record<string, unknown>;
    const cases: [string, Record<string, unknown>][] = [
      ['unknown member', { ...good, extra: 1 }],
      ['missing member', Object.fromEntries(Object.entries(good).filter(([k]) => k !== 'kid'))],
      ['wrong typ', { ...good, typ: 'x' }],
      ['iat/ts disagree', { ...good, iat: (good['iat'] as number) + 5 }],
      ['negative iat', { ...good, iat: -1 }],
      ['bad digest', { ...good, request_sha256: 'AB'.repeat(32) }],
      ['bad tee', { ...good, tee: 'tpm' }],
      ['simulated not boolean', { ...good, simulated: 'yes' }],
      ['empty measurement', { ...good, measurement: {} }],
      ['measurement not hex', { ...good, measurement: { mrtd: 'zz' } }],
      ['bad nonce', { ...good, nonce: 'short' }],
      ['model extra', { ...good, model: { ...(good['model'] as object), file: 'x' } }],
      ['not an object', [] as unknown as Record<string, unknown>],
    ];
    for (const [name, v] of cases) expect(errorOf(() => parseReceiptClaims(v)), name).toMatchObject({ code: 'ERR_EVIDENCE_MALFORMED', reason: 'receipt_schema' });
  });
});
