/**
 * A fake Nitro PKI and document signer minted at run time (nothing is written to disk), for the
 * paths real documents cannot reach: shapes of genuine documents that peers refuse (746-byte or
 * empty user_data), bundles without the root, non-CA issuers, leaf key usage, foreign keys.
 *
 *   root (self-signed CA) -> intermediate CA -> leaf (digitalSignature), all ECDSA P-384 / SHA-384
 */
import { KeyObject, sign, webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import type { TrustAnchor } from '../../../../attestation/common/x509.ts';
import { anchorFromPem } from '../../../../attestation/roots/index.ts';
import { cat, enc, head, type Enc } from './encode.ts';

import { x509 } from '../../../fakes/peculiar-x509.ts';

export { x509 };

x509.cryptoProvider.set(globalThis.crypto);

const SIGN = { name: 'ECDSA', hash: 'SHA-384' } as const;
const HOUR = 3_600_000;

export interface Minted {
  readonly der: Uint8Array;
  readonly keys: CryptoKeyPair;
  readonly name: string;
}

export interface LeafOptions {
  readonly keyUsage?: number;
  readonly curve?: 'P-384' | 'P-256';
  readonly issuerIsCa?: boolean;
}

async function mint(name: string, issuer: Minted | null, at: Date, opts: { ca: boolean; keyUsage: number; curve?: 'P-384' | 'P-256' }): Promise<Minted> {
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: opts.curve ?? 'P-384' }, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: Math.floor(Math.random() * 1e12).toString(16).padStart(12, '0'),
    subject: name,
    issuer: issuer?.name ?? name,
    notBefore: new Date(at.getTime() - HOUR),
    notAfter: new Date(at.getTime() + 3 * HOUR),
    signingAlgorithm: SIGN,
    publicKey: keys.publicKey,
    signingKey: (issuer?.keys ?? keys).privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(opts.ca, undefined, true),
      // Key usages are a bit set: OR-ed flags are numbers, which the enum-typed parameter accepts at run time.
      // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment
      new x509.KeyUsagesExtension(opts.keyUsage, true),
    ],
  });
  return { der: new Uint8Array(cert.rawData), keys, name };
}

export interface FakeNitroPki {
  readonly root: Minted;
  readonly intermediate: Minted;
  readonly leaf: Minted;
  readonly anchor: TrustAnchor;
}

export async function mintNitroPki(at: Date, leafOpts: LeafOptions = {}): Promise<FakeNitroPki> {
  const root = await mint('C=US, O=Example, CN=fake.nitro-enclaves', null, at, { ca: true, keyUsage: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign });
  const intermediate = await mint('C=US, O=Example, CN=zonal.fake.nitro-enclaves', root, at, {
    ca: leafOpts.issuerIsCa ?? true,
    keyUsage: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
  });
  const leaf = await mint('C=US, O=Example, CN=i-0123456789abcdef0-enc0123456789abcdef.fake', intermediate, at, {
    ca: false,
    keyUsage: leafOpts.keyUsage ?? x509.KeyUsageFlags.digitalSignature,
    ...(leafOpts.curve !== undefined ? { curve: leafOpts.curve } : {}),
  });
  const pem = new x509.X509Certificate(root.der).toString('pem');
  return { root, intermediate, leaf, anchor: await anchorFromPem(pem, 'fake Nitro root', false) };
}

export const PCR = (fill: number): Uint8Array => new Uint8Array(48).fill(fill);

export function payloadFields(pki: FakeNitroPki, at: Date, over: Record<string, Enc | undefined> = {}): [string, Enc][] {
  const all: Record<string, Enc | undefined> = {
    module_id: 'i-0123456789abcdef0-enc0123456789abcdef',
    digest: 'SHA384',
    timestamp: at.getTime(),
    pcrs: { map: Array.from({ length: 16 }, (_, i) => [i, PCR(i < 3 || i === 4 ? i + 1 : 0)] as const) },
    certificate: pki.leaf.der,
    cabundle: [pki.root.der, pki.intermediate.der],
    public_key: Uint8Array.of(1, 2, 3),
    user_data: Uint8Array.of(4, 5),
    nonce: Uint8Array.of(6),
    ...over,
  };
  return Object.entries(all).filter((e): e is [string, Enc] => e[1] !== undefined);
}

export interface SignOptions {
  readonly tagged?: boolean;
  readonly indefinite?: boolean;
  /** Sign with this key instead of the leaf's. */
  readonly key?: CryptoKey;
  readonly protectedHeader?: Uint8Array;
}

/** A COSE_Sign1 document over the given payload fields, ES384, raw r||s. */
export function signDocument(pki: FakeNitroPki, fields: [string, Enc][], opts: SignOptions = {}): Uint8Array {
  const payload = enc({ map: fields, indefinite: opts.indefinite ?? false });
  const prot = opts.protectedHeader ?? enc({ map: [[1, -35]] });
  const context = new TextEncoder().encode('Signature1');
  const tbs = cat(Uint8Array.of(0x84), head(3, context.length), context, head(2, prot.length), prot, Uint8Array.of(0x40), head(2, payload.length), payload);
  const key = KeyObject.from(opts.key ?? pki.leaf.keys.privateKey);
  const signature = new Uint8Array(sign('sha384', tbs, { key, dsaEncoding: 'ieee-p1363' }));
  const body = enc([prot, { map: [] }, payload, signature]);
  return opts.tagged === true ? cat(Uint8Array.of(0xd2), body) : body;
}

