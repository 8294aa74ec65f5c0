/**
 * The crypto adapter: which keys it imports, and that a signature checked with a key of the wrong
 * kind or curve is simply "does not verify" (false), never a thrown implementation error.
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { importSpki, sha256, sha384, sha512, verifySignature, type SignatureAlgorithm } from '../../../../attestation/common/crypto.ts';
import { AttestationError } from '../../../../attestation/errors.ts';

const spkiOf = (k: KeyObject): Uint8Array => new Uint8Array(k.export({ type: 'spki', format: 'der' }));
const DATA = new TextEncoder().encode('signed bytes');

const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

async function rejects(p: Promise<unknown>): Promise<AttestationError> {
  try {
    await p;
  } catch (e: unknown) {
    if (AttestationError.is(e)) return e;
    throw new Error(`not an AttestationError: ${String(e)}`, { cause: e });
  }
  throw new Error('did not reject');
}

describe('importSpki', () => {
  it('EC keys report their curve; RSA and RSA-PSS keys are both of kind rsa', async () => {
    expect(await importSpki(spkiOf(p256.publicKey))).toMatchObject({ kind: 'ec', curve: 'prime256v1' });
    expect(await importSpki(spkiOf(p384.publicKey))).toMatchObject({ kind: 'ec', curve: 'secp384r1' });
    expect(await importSpki(spkiOf(rsa.publicKey))).toMatchObject({ kind: 'rsa' });
    const pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 });
    expect(await importSpki(spkiOf(pss.publicKey))).toMatchObject({ kind: 'rsa' });
  });

  it('a P-256 key of the uncompressed length but in hybrid point form (X9.62 0x06/0x07) takes the DER path and still verifies', async () => {
    const spki = spkiOf(p256.publicKey);
    expect(spki.length).toBe(91);
    const hybrid = spki.slice();
    hybrid[26] = 0x06 | ((spki[90] as number) & 1);
    const key = await importSpki(hybrid);
    expect(key).toMatchObject({ kind: 'ec', curve: 'prime256v1' });
    expect(await verifySignature('ecdsa-p256-sha256', key, DATA, new Uint8Array(sign('sha256', DATA, p256.privateKey)), 'der')).toBe(true);
  });

  it('a valid key of an unsupported type (Ed25519, X25519) -> ERR_EVIDENCE_UNSUPPORTED', async () => {
    for (const [type, k] of [
      ['ed25519', generateKeyPairSync('ed25519').publicKey],
      ['x25519', generateKeyPairSync('x25519').publicKey],
    ] as const) {
      const e = await rejects(importSpki(spkiOf(k)));
      expect([e.code, e.reason, e.message]).toEqual(['ERR_EVIDENCE_UNSUPPORTED', 'unsupported_key', `unsupported public key type ${type}`]);
    }
  });

  it('bytes that are no SubjectPublicKeyInfo -> ERR_EVIDENCE_MALFORMED', async () => {
    const e = await rejects(importSpki(Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00)));
    expect([e.code, e.reason]).toEqual(['ERR_EVIDENCE_MALFORMED', 'malformed_key']);
  });
});

describe('verifySignature', () => {
  const der = (hash: string, key: KeyObject): Uint8Array => new Uint8Array(sign(hash, DATA, key));

  it('RSA PKCS#1 v1.5 with SHA-256 and SHA-384', async () => {
    const key = await importSpki(spkiOf(rsa.publicKey));
    for (const [alg, hash] of [
      ['rsa-pkcs1-sha256', 'sha256'],
      ['rsa-pkcs1-sha384', 'sha384'],
    ] as const) {
      const sig = der(hash, rsa.privateKey);
      expect(await verifySignature(alg, key, DATA, sig, 'der')).toBe(true);
      expect(await verifySignature(alg, key, DATA.subarray(1), sig, 'der')).toBe(false);
    }
    // The hash is part of the algorithm: a SHA-256 signature is not a SHA-384 one.
    expect(await verifySignature('rsa-pkcs1-sha384', key, DATA, der('sha256', rsa.privateKey), 'der')).toBe(false);
  });

  it('a key of the wrong kind or curve does not verify (false, no exception)', async () => {
    const ec256 = await importSpki(spkiOf(p256.publicKey));
    const ec384 = await importSpki(spkiOf(p384.publicKey));
    const rsaKey = await importSpki(spkiOf(rsa.publicKey));
    const sig256 = der('sha256', p256.privateKey);
    const sig384 = der('sha384', p384.privateKey);
    // Controls: the right key verifies.
    expect(await verifySignature('ecdsa-sha256', ec256, DATA, sig256, 'der')).toBe(true);
    expect(await verifySignature('ecdsa-p384-sha384', ec384, DATA, sig384, 'der')).toBe(true);
    const wrong: [SignatureAlgorithm, typeof ec256, Uint8Array][] = [
      ['ecdsa-sha256', rsaKey, sig256], // EC algorithm, RSA key
      ['rsa-pkcs1-sha256', ec256, der('sha256', rsa.privateKey)], // RSA algorithm, EC key
      ['rsa-pss-sha384', ec384, sig384],
      ['ecdsa-p384-sha384', ec256, sig384], // P-384 algorithm, P-256 key
      ['ecdsa-p256-sha256', ec384, sig256], // P-256 algorithm, P-384 key
    ];
    for (const [alg, key, sig] of wrong) expect({ alg, ok: await verifySignature(alg, key, DATA, sig, 'der') }).toEqual({ alg, ok: false });
  });

  it('a raw signature of the wrong length is false, not an OpenSSL exception', async () => {
    const key = await importSpki(spkiOf(p256.publicKey));
    expect(await verifySignature('ecdsa-p256-sha256', key, DATA, new Uint8Array(63), 'raw')).toBe(false);
  });
});

describe('digests', () => {
  it('sha256, sha384 and sha512 are the standard functions', async () => {
    for (const [f, name] of [
      [sha256, 'sha256'],
      [sha384, 'sha384'],
      [sha512, 'sha512'],
    ] as const) {
      expect(await f(DATA)).toEqual(new Uint8Array(createHash(name).update(DATA).digest()));
    }
  });
});

describe('EC points are checked before OpenSSL sees them', () => {
  // Node 20 imports an SPKI whose point is the point at infinity and then aborts the process when
  // the key's details are read: a crafted certificate in evidence must get a typed error instead.
  it('refuses the point at infinity, truncated and oversized points, with ERR_EVIDENCE_MALFORMED', async () => {
    const { generateKeyPairSync: gen } = await import('node:crypto');
    const { importSpki: imp } = await import('../../../../attestation/common/crypto.ts');
    for (const curve of ['P-256', 'P-384'] as const) {
      const good = new Uint8Array(gen('ec', { namedCurve: curve }).publicKey.export({ type: 'spki', format: 'der' }));
      const algLen = (good[3] ?? 0) + 2;
      const alg = good.subarray(2, 2 + algLen);
      const spkiWith = (point: Uint8Array): Uint8Array => {
        const bit = Uint8Array.from([0x03, point.length + 1, 0x00, ...point]);
        const body = Uint8Array.from([...alg, ...bit]);
        return Uint8Array.from([0x30, body.length, ...body]);
      };
      for (const point of [Uint8Array.of(0x00), Uint8Array.of(0x04), new Uint8Array(65).fill(0), Uint8Array.of(0x04, ...new Uint8Array(10))]) {
        await expect(imp(spkiWith(point))).rejects.toMatchObject({ code: 'ERR_EVIDENCE_MALFORMED', reason: 'malformed_key' });
      }
      await expect(imp(good)).resolves.toMatchObject({ kind: 'ec' });
    }
  });
});
