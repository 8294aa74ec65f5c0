/**
 * X.509 and CRL parsing and chain building, on certificates minted here (enclave/sim's DER writer):
 * signature algorithm identifiers and their parameters, duplicate extensions, CRL versions, the
 * chain walk when the leaf is itself an anchor, time checks with an invalid time, and the bounds
 * of the key cache and of the signature memo.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseCrl } from '../../../../attestation/common/crl.ts';
import { assertValidAt, parseCertificate, publicKeyOf, verifiedBy, verifyChain, type Certificate } from '../../../../attestation/common/x509.ts';
import { anchorFromPem } from '../../../../attestation/roots/index.ts';
import { KEY_USAGE, basicConstraints, encodeName, keyUsage, mintCertificate, octets, oid, seq, tlv, toPem, uint } from '../../../../enclave/sim/x509-amd-nitro.ts';
import { errorOf } from '../../../helpers/errors.ts';

const NULL = Uint8Array.of(0x05, 0x00);
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const utc = (s: string): Uint8Array => tlv(0x17, ascii(s));
const spkiOf = (k: KeyObject): Uint8Array => new Uint8Array(k.export({ type: 'spki', format: 'der' }));
const ec = (): { publicKey: KeyObject; privateKey: KeyObject } => generateKeyPairSync('ec', { namedCurve: 'P-256' });

const KEY = ec();
const NAME = encodeName([['CN', 'test']]);
const ext = (id: string, value: Uint8Array): Uint8Array => seq(oid(id), octets(value));

/** A certificate with the given AlgorithmIdentifier (in both places) and extensions; the signature is junk. */
function rawCert(alg: Uint8Array, extensions: readonly Uint8Array[] = []): Uint8Array {
  const tbs = seq(
    tlv(0xa0, uint(2)),
    uint(1),
    alg,
    NAME,
    seq(utc('200101000000Z'), utc('300101000000Z')),
    NAME,
    spkiOf(KEY.publicKey),
    ...(extensions.length === 0 ? [] : [tlv(0xa3, seq(...extensions))]),
  );
  return seq(tbs, alg, tlv(0x03, Uint8Array.of(0, 1, 2, 3)));
}

describe('signature algorithm identifiers', () => {
  const ECDSA_SHA256 = '1.2.840.10045.4.3.2';
  const RSA_SHA256 = '1.2.840.113549.1.1.11';

  it('RSA PKCS#1 takes NULL or absent parameters; ECDSA takes absent ones', () => {
    expect(parseCertificate(rawCert(seq(oid(RSA_SHA256), NULL))).signatureAlgorithm).toBe('rsa-pkcs1-sha256');
    expect(parseCertificate(rawCert(seq(oid(RSA_SHA256)))).signatureAlgorithm).toBe('rsa-pkcs1-sha256');
    expect(parseCertificate(rawCert(seq(oid('1.2.840.113549.1.1.12'), NULL))).signatureAlgorithm).toBe('rsa-pkcs1-sha384');
    expect(parseCertificate(rawCert(seq(oid(ECDSA_SHA256)))).signatureAlgorithm).toBe('ecdsa-sha256');
  });

  it.each([
    ['ECDSA with NULL parameters', seq(oid(ECDSA_SHA256), NULL)],
    ['RSA PKCS#1 with an INTEGER parameter', seq(oid(RSA_SHA256), uint(0))],
  ])('%s -> ERR_EVIDENCE_MALFORMED', (_name, alg) => {
    const e = errorOf(() => parseCertificate(rawCert(alg), 'cert X'));
    expect([e.code, e.reason, e.message]).toEqual(['ERR_EVIDENCE_MALFORMED', 'malformed_certificate', 'cert X: unexpected algorithm parameters']);
  });

  it('an algorithm we do not verify (Ed25519) -> ERR_EVIDENCE_UNSUPPORTED', () => {
    const e = errorOf(() => parseCertificate(rawCert(seq(oid('1.3.101.112')))));
    expect([e.code, e.reason, e.message]).toEqual(['ERR_EVIDENCE_UNSUPPORTED', 'unsupported_algorithm', 'unsupported signature algorithm 1.3.101.112']);
  });

  it('RSASSA-PSS with parameters other than SHA-384/MGF1-SHA-384/salt 48 -> ERR_EVIDENCE_UNSUPPORTED', () => {
    const sha256 = seq(oid('2.16.840.1.101.3.4.2.1'), NULL);
    const pss256 = seq(oid('1.2.840.113549.1.1.10'), seq(tlv(0xa0, sha256), tlv(0xa1, seq(oid('1.2.840.113549.1.1.8'), sha256)), tlv(0xa2, uint(32))));
    const e = errorOf(() => parseCertificate(rawCert(pss256)));
    expect([e.code, e.reason]).toEqual(['ERR_EVIDENCE_UNSUPPORTED', 'unsupported_algorithm']);
    expect(e.message).toContain('RSASSA-PSS parameters other than SHA-384');
  });
});

describe('extensions', () => {
  it('the same extension twice -> ERR_EVIDENCE_MALFORMED', () => {
    const bc = ext('2.5.29.19', seq());
    const e = errorOf(() => parseCertificate(rawCert(seq(oid('1.2.840.10045.4.3.2')), [bc, bc]), 'cert X'));
    expect([e.code, e.reason, e.message]).toEqual(['ERR_EVIDENCE_MALFORMED', 'malformed_certificate', 'cert X: duplicate extension 2.5.29.19']);
  });
});

describe('CRL version', () => {
  it('a CRL that says it is not v2 -> ERR_EVIDENCE_MALFORMED', () => {
    for (const v of [0, 2]) {
      const alg = seq(oid('1.2.840.10045.4.3.2'));
      const der = seq(seq(uint(v), alg, NAME, utc('200101000000Z')), alg, tlv(0x03, Uint8Array.of(0, 1)));
      const e = errorOf(() => parseCrl(der, 'CRL X'));
      expect([e.code, e.reason, e.message]).toEqual(['ERR_EVIDENCE_MALFORMED', 'malformed_crl', 'CRL X: only v2 CRLs are accepted']);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Chains of real signatures.

const AT = Date.parse('2025-06-01T00:00:00Z');
const name = (cn: string): Uint8Array => encodeName([['CN', cn]]);

function mint(subject: string, issuer: string, publicKey: KeyObject, signer: KeyObject, ca: boolean): Certificate {
  return parseCertificate(
    mintCertificate({
      issuer: name(issuer),
      subject: name(subject),
      notBefore: new Date(AT - 86_400_000),
      notAfter: new Date(AT + 86_400_000),
      publicKey,
      extensions: ca ? [basicConstraints(true), keyUsage(KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign)] : [basicConstraints(false)],
      signer: { key: signer, algorithm: 'ecdsa-sha384' },
    }),
  );
}

describe('verifyChain', () => {
  it('an empty chain -> ERR_CHAIN_UNTRUSTED', async () => {
    const root = mint('R', 'R', KEY.publicKey, KEY.privateKey, true);
    const anchor = await anchorFromPem(toPem(root.der), 'R', false);
    const e = await verifyChain([], [anchor], { at: AT, what: 'chain X' }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toMatchObject({ code: 'ERR_CHAIN_UNTRUSTED', reason: 'untrusted_root', message: 'chain X: empty certificate chain' });
  });

  it('a leaf that is itself an anchor does not anchor the chain; an anchor further up does', async () => {
    // R (not trusted) -> X (CA, trusted) -> L (CA, trusted too, and the leaf of the chain).
    const [r, x, l] = [ec(), ec(), ec()];
    const xCert = mint('X', 'R', x.publicKey, r.privateKey, true);
    const lCert = mint('L', 'X', l.publicKey, x.privateKey, true);
    const anchorL = await anchorFromPem(toPem(lCert.der), 'L', false);
    const anchorX = await anchorFromPem(toPem(xCert.der), 'X', false);
    const opts = { at: AT, what: 'chain X' };

    const { path, anchor } = await verifyChain([lCert, xCert], [anchorL, anchorX], opts);
    expect(path.map((c) => c.subject.commonName)).toEqual(['L', 'X']);
    expect(anchor.name).toBe('X');

    for (const [chain, anchors] of [
      [[lCert], [anchorL]],
      [[lCert, xCert], [anchorL]],
    ] as const) {
      const e = await verifyChain(chain, anchors, opts).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toMatchObject({ code: 'ERR_CHAIN_UNTRUSTED', reason: 'untrusted_root' });
    }
  });
});

describe('assertValidAt', () => {
  it('an invalid time is outside every validity window, and the message says so', () => {
    const c = mint('C', 'C', KEY.publicKey, KEY.privateKey, true);
    assertValidAt(c, AT, 'cert X');
    const e = errorOf(() => {
      assertValidAt(c, NaN, 'cert X');
    });
    expect([e.code, e.reason]).toEqual(['ERR_CERT_NOT_VALID_AT_TIME', 'cert_expired']);
    expect(e.message).toContain('not at an invalid time');
  });
});

describe('bounded caches', () => {
  it('the public key cache keeps a key until more than 256 others have been imported', async () => {
    const spki = spkiOf(KEY.publicKey);
    const first = publicKeyOf(spki);
    expect(publicKeyOf(spki)).toBe(first);
    for (let i = 0; i < 257; i++) await publicKeyOf(spkiOf(ec().publicKey));
    const again = publicKeyOf(spki);
    expect(again).not.toBe(first);
    expect((await again).spki).toEqual((await first).spki);
  });

  it('the signature memo answers by DER until 4096 other signatures have been remembered', async () => {
    const issuerKey = ec();
    const issuer = mint('I', 'I', issuerKey.publicKey, issuerKey.privateKey, true);
    const leaf = mint('C', 'I', KEY.publicKey, issuerKey.privateKey, false);
    expect(await verifiedBy(leaf, issuer)).toBe(true);
    // The same DER with its signature bytes blanked: answered from the memo, which is keyed by the
    // DER (in a parsed certificate the signature is part of it).
    const blanked = { ...leaf, signature: new Uint8Array(leaf.signature.length) };
    expect(await verifiedBy(blanked, issuer)).toBe(true);
    // 4096 more successes fill the memo and reset it. ECDSA signatures are randomised, so signing
    // the same TBS again gives a new, valid certificate each time.
    const alg = seq(oid('1.2.840.10045.4.3.3'));
    for (let i = 0; i < 4096; i++) {
      const der = seq(leaf.tbs, alg, tlv(0x03, Uint8Array.of(0), new Uint8Array(sign('sha384', leaf.tbs, issuerKey.privateKey))));
      if (!(await verifiedBy(parseCertificate(der), issuer))) throw new Error(`re-signed certificate ${i} does not verify`);
    }
    expect(await verifiedBy(blanked, issuer)).toBe(false);
    expect(await verifiedBy(leaf, issuer)).toBe(true);
  });
});
