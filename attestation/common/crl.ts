/**
 * Certificate revocation lists: parsing, signature and date checks, and revocation lookup.
 * A CRL is only meaningful for the CA that issued it, so the caller names that CA and we refuse a
 * CRL from any other issuer (the Root CA's CRL is no substitute for the PCK CA's).
 */
import { VerificationError } from '../errors.ts';
import { equalBytes, toHex } from './bytes.ts';
import { verifySignature } from './crypto.ts';
import { DerReader, TAG, bitStringBytes, decodeName, decodeSmallInteger, decodeTime, integerMagnitude, type Name } from './der.ts';
import { KU_CRL_SIGN, decodeAlgorithm, publicKeyOf, type Certificate } from './x509.ts';
import type { SignatureAlgorithm } from './crypto.ts';

export interface Crl {
  readonly der: Uint8Array;
  readonly tbs: Uint8Array;
  readonly issuer: Name;
  readonly thisUpdate: number;
  readonly nextUpdate: number | undefined;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly signature: Uint8Array;
  /** Revoked serial numbers, as lowercase hex of the unsigned magnitude. */
  readonly revoked: ReadonlySet<string>;
}

/** A CRL that verifyCrl accepted: it has a nextUpdate, and the verification time is inside its window. */
export interface CurrentCrl extends Crl {
  readonly nextUpdate: number;
}

export function parseCrl(der: Uint8Array, what = 'CRL'): Crl {
  const reason = 'malformed_crl';
  const top = new DerReader(der, what, reason);
  const listT = top.expect(TAG.SEQUENCE, 'CertificateList');
  top.end('CertificateList');
  const list = top.children(listT);
  const tbsT = list.expect(TAG.SEQUENCE, 'tbsCertList');
  const outerAlgT = list.expect(TAG.SEQUENCE, 'signatureAlgorithm');
  const signature = bitStringBytes(list, list.next());
  list.end('CertificateList');
  const tbs = list.children(tbsT);
  const verT = tbs.optional(TAG.INTEGER);
  if (verT !== undefined && decodeSmallInteger(tbs, verT) !== 1) tbs.fail('only v2 CRLs are accepted');
  const algT = tbs.expect(TAG.SEQUENCE, 'signature');
  if (!equalBytes(algT.raw, outerAlgT.raw)) tbs.fail('signatureAlgorithm differs from tbsCertList.signature');
  const signatureAlgorithm = decodeAlgorithm(tbs, algT);
  const issuer = decodeName(tbs, tbs.next());
  const thisUpdate = decodeTime(tbs, tbs.next());
  let nextUpdate: number | undefined;
  const nt = tbs.peekTag();
  if (nt === TAG.UTC_TIME || nt === TAG.GENERALIZED_TIME) nextUpdate = decodeTime(tbs, tbs.next());
  const revoked = new Set<string>();
  const rcT = tbs.optional(TAG.SEQUENCE);
  if (rcT !== undefined) {
    const rc = tbs.children(rcT);
    while (!rc.done) {
      const entry = rc.children(rc.expect(TAG.SEQUENCE, 'revokedCertificate'));
      const serial = entry.expect(TAG.INTEGER, 'userCertificate');
      decodeTime(entry, entry.next());
      entry.optional(TAG.SEQUENCE);
      entry.end('revokedCertificate');
      revoked.add(toHex(integerMagnitude(serial.value)));
    }
  }
  tbs.optional(0xa0);
  tbs.end('tbsCertList');
  return {
    der: der.slice(),
    tbs: tbsT.raw.slice(),
    issuer: { ...issuer, der: issuer.der.slice() },
    thisUpdate,
    nextUpdate,
    signatureAlgorithm,
    signature: signature.slice(),
    revoked,
  };
}

/**
 * Check that `crl` was issued and signed by `issuer` and is current at `at`. Fails closed: a CRL
 * without nextUpdate, or one outside [thisUpdate, nextUpdate], is stale collateral. Resolves to the
 * same CRL, typed as current (its nextUpdate is known to be present).
 */
export async function verifyCrl(crl: Crl, issuer: Certificate, at: number, what: string): Promise<CurrentCrl> {
  if (!equalBytes(crl.issuer.der, issuer.subject.der)) {
    throw new VerificationError('ERR_CRL_INVALID', `${what}: issued by "${crl.issuer.text}", want "${issuer.subject.text}"`, { reason: 'crl_issuer' });
  }
  // RFC 5280 6.3.3 (f): the CRL issuer's key must be allowed to sign CRLs.
  if (issuer.keyUsage !== undefined && (issuer.keyUsage & KU_CRL_SIGN) === 0) {
    throw new VerificationError('ERR_CRL_INVALID', `${what}: issuer "${issuer.subject.text}" may not sign CRLs (keyUsage lacks cRLSign)`, { reason: 'crl_signer' });
  }
  const key = await publicKeyOf(issuer.spki);
  if (!(await verifySignature(crl.signatureAlgorithm, key, crl.tbs, crl.signature, 'der'))) {
    throw new VerificationError('ERR_SIGNATURE_INVALID', `${what}: signature does not verify`, { reason: 'crl_signature' });
  }
  if (crl.nextUpdate === undefined || !(crl.thisUpdate <= at && at <= crl.nextUpdate)) {
    const window = `${new Date(crl.thisUpdate).toISOString()} to ${crl.nextUpdate === undefined ? '(no nextUpdate)' : new Date(crl.nextUpdate).toISOString()}`;
    throw new VerificationError('ERR_COLLATERAL_STALE', `${what}: valid from ${window}, not at the verification time`, { reason: 'collateral_expired' });
  }
  return { ...crl, nextUpdate: crl.nextUpdate };
}

export function assertNotRevoked(crl: Crl, cert: Certificate, what: string): void {
  if (crl.revoked.has(toHex(cert.serial))) {
    throw new VerificationError('ERR_REVOKED', `${what}: certificate "${cert.subject.text}" (serial ${toHex(cert.serial)}) is revoked`, { reason: 'revoked' });
  }
}
