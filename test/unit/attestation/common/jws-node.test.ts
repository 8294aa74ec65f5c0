import { CompactSign, FlattenedSign, compactVerify, flattenedVerify } from 'jose';
import { generateKeyPairSync, sign as nodeSign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { JwsError, jwsAlgOf, publicKeyOfJwk, signCompact, signFlattened, verifyCompact, verifyFlattened, type JwsAlg } from '../../../../attestation/common/jws-node.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const b64 = (s: string | Uint8Array): string => Buffer.from(s).toString('base64url');
const keys: Record<JwsAlg, { privateKey: KeyObject; publicKey: KeyObject }> = {
  ES256: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  EdDSA: generateKeyPairSync('ed25519'),
};
const ALGS: JwsAlg[] = ['ES256', 'EdDSA'];

function failure(f: () => unknown): string {
  try {
    f();
  } catch (e: unknown) {
    if (e instanceof JwsError) return e.failure;
    throw e;
  }
  return 'none';
}

/** A compact JWS over `input` with a header we choose, signed correctly (to test header checks, not the signature). */
function forged(alg: JwsAlg, header: object, payload = 'e30'): string {
  const h = b64(JSON.stringify(header));
  const input = Buffer.from(`${h}.${payload}`);
  const sig = alg === 'ES256' ? nodeSign('sha256', input, { key: keys.ES256.privateKey, dsaEncoding: 'ieee-p1363' }) : nodeSign(null, input, keys.EdDSA.privateKey);
  return `${h}.${payload}.${b64(sig)}`;
}

describe('JWS on node:crypto (attestation/common/jws-node.ts)', () => {
  it('knows the algorithm of P-256 and Ed25519 keys, and no other', () => {
    expect(jwsAlgOf(keys.ES256.privateKey)).toBe('ES256');
    expect(jwsAlgOf(keys.EdDSA.publicKey)).toBe('EdDSA');
    expect(jwsAlgOf(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey)).toBeUndefined();
    expect(jwsAlgOf(generateKeyPairSync('ed448').publicKey)).toBeUndefined();
  });

  for (const alg of ALGS) {
    describe(alg, () => {
      const { privateKey, publicKey } = keys[alg];
      const payload = enc('{"hello":"world","n":1}');

      it('what it signs, jose verifies (compact and flattened), with the header as given and alg set by the signer', async () => {
        const jws = signCompact(alg, privateKey, { typ: 'x+jws', kid: 'k1', alg: 'none' }, payload);
        const v = await compactVerify(jws, publicKey, { algorithms: [alg] });
        expect(v.protectedHeader).toEqual({ typ: 'x+jws', kid: 'k1', alg });
        expect(Buffer.from(v.payload).equals(Buffer.from(payload))).toBe(true);
        const f = signFlattened(alg, privateKey, { kid: 'k2' }, b64(payload));
        const fv = await flattenedVerify({ ...f, payload: b64(payload) }, publicKey, { algorithms: [alg] });
        expect(fv.protectedHeader).toEqual({ kid: 'k2', alg });
      });

      it('what jose signs, it verifies, and returns the header and payload', async () => {
        const jws = await new CompactSign(payload).setProtectedHeader({ alg, kid: 'k', typ: 't' }).sign(privateKey);
        const v = verifyCompact(alg, publicKey, jws);
        expect(v.header).toEqual({ alg, kid: 'k', typ: 't' });
        expect(Buffer.from(v.payload).equals(Buffer.from(payload))).toBe(true);
        const f = await new FlattenedSign(payload).setProtectedHeader({ alg }).sign(privateKey);
        expect(verifyFlattened(alg, publicKey, { protected: f.protected ?? '', payload: f.payload, signature: f.signature }).header).toEqual({ alg });
      });

      it('refuses a changed payload, header or signature, and another key', () => {
        const jws = signCompact(alg, privateKey, { kid: 'k' }, payload);
        const [h = '', p = '', s = ''] = jws.split('.');
        expect(failure(() => verifyCompact(alg, publicKey, `${h}.${b64('{"hello":"World","n":1}')}.${s}`))).toBe('signature');
        expect(failure(() => verifyCompact(alg, publicKey, `${b64(JSON.stringify({ kid: 'j', alg }))}.${p}.${s}`))).toBe('signature');
        const sig = Buffer.from(s, 'base64url');
        sig[10] = (sig[10] ?? 0) ^ 1;
        expect(failure(() => verifyCompact(alg, publicKey, `${h}.${p}.${b64(sig)}`))).toBe('signature');
        const other = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
        expect(failure(() => verifyCompact(alg, other.publicKey, jws))).toBe('signature');
        expect(failure(() => verifyCompact(alg, publicKey, jws))).toBe('none');
      });

      it('refuses a signature of the wrong length (ES256 as DER, truncated, padded)', () => {
        const jws = signCompact(alg, privateKey, {}, payload);
        const [h = '', p = '', s = ''] = jws.split('.');
        const sig = Buffer.from(s, 'base64url');
        expect(failure(() => verifyCompact(alg, publicKey, `${h}.${p}.${b64(sig.subarray(0, 63))}`))).toBe('signature');
        expect(failure(() => verifyCompact(alg, publicKey, `${h}.${p}.${b64(Buffer.concat([sig, Buffer.from([0])]))}`))).toBe('signature');
        if (alg === 'ES256') {
          const der = nodeSign('sha256', Buffer.from(`${h}.${p}`), { key: privateKey, dsaEncoding: 'der' });
          expect(failure(() => verifyCompact(alg, publicKey, `${h}.${p}.${b64(der)}`))).toBe('signature');
        }
      });
    });
  }

  it('takes the algorithm from the caller: a token whose header names another alg is refused before any signature check', () => {
    expect(failure(() => verifyCompact('ES256', keys.ES256.publicKey, forged('ES256', { alg: 'EdDSA' })))).toBe('malformed');
    expect(failure(() => verifyCompact('ES256', keys.ES256.publicKey, forged('ES256', { alg: 'none' })))).toBe('malformed');
    expect(failure(() => verifyCompact('ES256', keys.ES256.publicKey, forged('ES256', {})))).toBe('malformed');
    // An EdDSA token checked with a P-256 key under ES256: the key cannot verify it.
    expect(failure(() => verifyCompact('EdDSA', keys.ES256.publicKey, forged('EdDSA', { alg: 'EdDSA' })))).toBe('signature');
    expect(failure(() => verifyCompact('ES256', keys.ES256.publicKey, forged('ES256', { alg: 'ES256' })))).toBe('none');
  });

  it('refuses crit and b64 headers, non-object headers and malformed serializations', () => {
    expect(failure(() => verifyCompact('ES256', keys.ES256.publicKey, forged('ES256', { alg: 'ES256', crit: ['exp'], exp: 1 })))).toBe('malformed');
    expect(failure(() => verifyCompact('ES256', keys.ES256.publicKey, forged('ES256', { alg: 'ES256', b64: true })))).toBe('malformed');
    expect(failure(() => verifyCompact('ES256', keys.ES256.publicKey, forged('ES256', ['ES256'])))).toBe('malformed');
    const good = forged('ES256', { alg: 'ES256' });
    for (const bad of ['', 'a.b', `${good}.x`, good.replace('.', '.+'), `${b64('not json')}.e30.${good.split('.')[2] ?? ''}`, `.e30.${good.split('.')[2] ?? ''}`, `${good.split('.')[0] ?? ''}.e30.`]) {
      expect(failure(() => verifyCompact('ES256', keys.ES256.publicKey, bad)), bad).toBe('malformed');
    }
    expect(failure(() => verifyCompact('ES256', keys.ES256.publicKey, 42 as unknown as string))).toBe('malformed');
  });

  it('signs only with a private key of the named algorithm', () => {
    expect(() => signCompact('ES256', keys.ES256.publicKey, {}, enc('x'))).toThrow(TypeError);
    expect(() => signCompact('ES256', keys.EdDSA.privateKey, {}, enc('x'))).toThrow(TypeError);
    expect(() => signCompact('EdDSA', keys.ES256.privateKey, {}, enc('x'))).toThrow(TypeError);
  });

  it('imports a public JWK once per object', () => {
    const jwk = keys.ES256.publicKey.export({ format: 'jwk' });
    const k = publicKeyOfJwk(jwk);
    expect(publicKeyOfJwk(jwk)).toBe(k);
    expect(k.equals(keys.ES256.publicKey)).toBe(true);
    expect(publicKeyOfJwk({ ...jwk })).not.toBe(k);
  });
});
