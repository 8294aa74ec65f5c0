/**
 * End-to-end cases on documents signed by a PKI minted in the test (fake-nitro.ts): the genuine
 * shapes peers refuse, and chain faults no real document exhibits. The fake root is passed as the
 * only trust anchor; the pinned AWS root must refuse every one of them.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { AttestationError, type AttestationErrorCode } from '../../../../attestation/errors.ts';
import { verifyNitro } from '../../../../attestation/nitro/verify.ts';
import type { EvidenceResult, VerifyOptions } from '../../../../attestation/result.ts';
import { enc } from './encode.ts';
import { mintNitroPki, payloadFields, PCR, signDocument, x509, type FakeNitroPki } from './fake-nitro.ts';

const AT = new Date('2024-06-01T12:00:00.000Z');
let pki: FakeNitroPki;
let opts: VerifyOptions;

beforeAll(async () => {
  pki = await mintNitroPki(AT);
  opts = { at: AT, trustAnchors: [pki.anchor] };
});

async function outcome(doc: Uint8Array, o: VerifyOptions = opts): Promise<EvidenceResult | { code: AttestationErrorCode; reason: string }> {
  try {
    return await verifyNitro(doc, o);
  } catch (e: unknown) {
    if (!AttestationError.is(e)) throw e;
    return { code: e.code, reason: e.reason };
  }
}

async function ok(doc: Uint8Array, o: VerifyOptions = opts): Promise<EvidenceResult> {
  const r = await outcome(doc, o);
  if (!('verdict' in r)) throw new Error(`want ok, got ${r.code}/${r.reason}`);
  return r;
}

describe('genuine shapes are accepted', () => {
  it('the baseline document, with a non-pinned anchor and the full path as collateral', async () => {
    const r = await ok(signDocument(pki, payloadFields(pki, AT)));
    expect(r.trust_anchor).toEqual({ name: 'fake Nitro root', sha256: pki.anchor.sha256, pinned: false });
    expect(r.collateral.map((c) => c.kind)).toEqual(['nitro.certificate', 'nitro.cabundle', 'nitro.root']);
    expect(r.expires_at).toBe(new Date(AT.getTime() + 3 * 3_600_000).toISOString());
    expect(r.claims).toMatchObject({ public_key: '010203', user_data: '0405', nonce: '06', debug: false, timestamp: AT.getTime() });
  });

  it('746-byte user_data, and 1024-byte public_key/user_data/nonce', async () => {
    const r = await ok(signDocument(pki, payloadFields(pki, AT, { user_data: new Uint8Array(746).fill(0xab) })));
    expect(r.claims['user_data']).toBe('ab'.repeat(746));
    const big = new Uint8Array(1024).fill(1);
    await ok(signDocument(pki, payloadFields(pki, AT, { public_key: big, user_data: big, nonce: big })));
  });

  it('empty public_key, user_data and nonce are reported as "" (present, empty)', async () => {
    const e = new Uint8Array(0);
    const r = await ok(signDocument(pki, payloadFields(pki, AT, { public_key: e, user_data: e, nonce: e })));
    expect(r.claims).toMatchObject({ public_key: '', user_data: '', nonce: '' });
  });

  it('null and absent optional fields are reported as null', async () => {
    const r1 = await ok(signDocument(pki, payloadFields(pki, AT, { public_key: null, user_data: null, nonce: null })));
    const r2 = await ok(signDocument(pki, payloadFields(pki, AT, { public_key: undefined, user_data: undefined, nonce: undefined })));
    for (const r of [r1, r2]) expect(r.claims).toMatchObject({ public_key: null, user_data: null, nonce: null });
  });

  it('tagged COSE_Sign1 and an indefinite-length payload map', async () => {
    await ok(signDocument(pki, payloadFields(pki, AT), { tagged: true, indefinite: true }));
  });

  it('a cabundle without the root (the anchor issues its last entry)', async () => {
    await ok(signDocument(pki, payloadFields(pki, AT, { cabundle: [pki.intermediate.der] })));
  });
});

describe('debug documents', () => {
  const debugPcrs = { map: Array.from({ length: 16 }, (_, i) => [i, PCR(i === 4 ? 9 : 0)] as const) };
  it('PCR0-2 zero: refused by default, accepted with allowDebug and flagged', async () => {
    const doc = signDocument(pki, payloadFields(pki, AT, { pcrs: debugPcrs }));
    expect(await outcome(doc)).toEqual({ code: 'ERR_DEBUG_REFUSED', reason: 'debug_enclave' });
    const r = await ok(doc, { ...opts, allowDebug: true });
    expect(r.debug_allowed).toBe(true);
    expect(r.claims['debug']).toBe(true);
  });
  it('PCR0 absent counts as debug (no production measurement)', async () => {
    const doc = signDocument(pki, payloadFields(pki, AT, { pcrs: { map: [[4, PCR(1)]] } }));
    expect(await outcome(doc)).toEqual({ code: 'ERR_DEBUG_REFUSED', reason: 'debug_enclave' });
  });
  it('a bad signature on a debug document is reported as the signature, not as debug', async () => {
    const other = await mintNitroPki(AT);
    const doc = signDocument(pki, payloadFields(pki, AT, { pcrs: debugPcrs }), { key: other.leaf.keys.privateKey });
    expect(await outcome(doc)).toEqual({ code: 'ERR_SIGNATURE_INVALID', reason: 'cose_signature' });
  });
});

describe('chain and key faults', () => {
  it('the pinned AWS root refuses the fake chain', async () => {
    expect(await outcome(signDocument(pki, payloadFields(pki, AT)), { at: AT })).toEqual({ code: 'ERR_CHAIN_UNTRUSTED', reason: 'untrusted_root' });
  });

  it('a document signed by a key other than the leaf', async () => {
    const other = await mintNitroPki(AT);
    expect(await outcome(signDocument(pki, payloadFields(pki, AT), { key: other.leaf.keys.privateKey }))).toEqual({
      code: 'ERR_SIGNATURE_INVALID',
      reason: 'cose_signature',
    });
  });

  it('an intermediate with the right name but another key', async () => {
    const other = await mintNitroPki(AT);
    const doc = signDocument(pki, payloadFields(pki, AT, { cabundle: [pki.root.der, other.intermediate.der] }));
    expect(await outcome(doc)).toMatchObject({ code: 'ERR_SIGNATURE_INVALID', reason: 'chain_signature' });
  });

  it('a bundle that repeats a subject', async () => {
    const doc = signDocument(pki, payloadFields(pki, AT, { cabundle: [pki.root.der, pki.intermediate.der, pki.intermediate.der] }));
    expect(await outcome(doc)).toEqual({ code: 'ERR_CHAIN_UNTRUSTED', reason: 'chain_order' });
  });

  it('a bundle whose last entry did not issue the leaf', async () => {
    const doc = signDocument(pki, payloadFields(pki, AT, { cabundle: [pki.root.der] }));
    expect(await outcome(doc)).toEqual({ code: 'ERR_CHAIN_UNTRUSTED', reason: 'chain_order' });
  });

  it('an issuer that is not a CA', async () => {
    const bad = await mintNitroPki(AT, { issuerIsCa: false });
    expect(await outcome(signDocument(bad, payloadFields(bad, AT)), { at: AT, trustAnchors: [bad.anchor] })).toEqual({
      code: 'ERR_CHAIN_UNTRUSTED',
      reason: 'not_a_ca',
    });
  });

  it('a leaf whose keyUsage does not allow signatures', async () => {
    const bad = await mintNitroPki(AT, { keyUsage: x509.KeyUsageFlags.keyEncipherment });
    expect(await outcome(signDocument(bad, payloadFields(bad, AT)), { at: AT, trustAnchors: [bad.anchor] })).toEqual({
      code: 'ERR_CHAIN_UNTRUSTED',
      reason: 'leaf_key_usage',
    });
  });

  it('a P-256 leaf cannot make an ES384 signature', async () => {
    const bad = await mintNitroPki(AT, { curve: 'P-256' });
    expect(await outcome(signDocument(bad, payloadFields(bad, AT)), { at: AT, trustAnchors: [bad.anchor] })).toEqual({
      code: 'ERR_SIGNATURE_INVALID',
      reason: 'cose_signature',
    });
  });

  it('an ES256 header signed correctly is refused before the signature', async () => {
    const doc = signDocument(pki, payloadFields(pki, AT), { protectedHeader: enc({ map: [[1, -7]] }) });
    expect(await outcome(doc)).toEqual({ code: 'ERR_EVIDENCE_UNSUPPORTED', reason: 'cose_alg' });
  });

  it('a certificate that is not DER', async () => {
    const doc = signDocument(pki, payloadFields(pki, AT, { certificate: Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01) }));
    expect(await outcome(doc)).toMatchObject({ code: 'ERR_EVIDENCE_MALFORMED', reason: 'malformed_certificate' });
  });
});
