/**
 * AMD's certificates, CRLs and PEM files. AMD encodes RSASSA-PSS parameters with an explicit
 * trailerField (the DEFAULT value), which common/x509.ts accepts, so these are thin wrappers that
 * keep the AMD verifier's vocabulary in one place.
 */
import { fromBase64, toBase64 } from '../common/bytes.ts';
import { parseCrl, type Crl } from '../common/crl.ts';
import { parseCertificate, type Certificate, type TrustAnchor } from '../common/x509.ts';
import { malformed } from '../errors.ts';
import { anchorFromPem, pinnedAnchor, type PinnedRoot } from '../roots/index.ts';

export function parseAmdCertificate(der: Uint8Array, what = 'certificate', reason = 'malformed_certificate'): Certificate {
  return parseCertificate(der, what, reason);
}

export function parseAmdCrl(der: Uint8Array, what = 'CRL'): Crl {
  return parseCrl(der, what);
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\s]*?)-----END \1-----/g;

export interface PemBlock {
  readonly label: string;
  readonly der: Uint8Array;
}

/** Every PEM block in the text, in order, with its label (`CERTIFICATE`, `X509 CRL`). */
export function pemBlocks(text: string, what: string, reason = 'malformed_certificate'): PemBlock[] {
  const out: PemBlock[] = [];
  // Both groups are mandatory in PEM_BLOCK, so every match has them.
  for (const m of text.matchAll(PEM_BLOCK)) out.push({ label: m[1] as string, der: fromBase64(m[2] as string, what, reason) });
  return out;
}

/** Certificates of a PEM text (KDS `cert_chain`), parsed with AMD's PSS encoding accepted. */
export function parseAmdPemCertificates(text: string, what: string, reason = 'malformed_certificate'): Certificate[] {
  const certs = pemBlocks(text, what, reason)
    .filter((b) => b.label === 'CERTIFICATE')
    .map((b, i) => parseAmdCertificate(b.der, `${what} [${i}]`, reason));
  if (certs.length === 0) throw malformed(`${what}: no PEM certificate found`, reason);
  return certs;
}

export function toPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = toBase64(der);
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** A trust anchor from a PEM certificate (exactly one). */
export function amdAnchorFromPem(pem: string, name: string, pinned: boolean): Promise<TrustAnchor> {
  return anchorFromPem(pem, name, pinned);
}

/** A pinned AMD root as a trust anchor; its fingerprint is re-checked against the constant once. */
export function pinnedAmdAnchor(root: PinnedRoot): Promise<TrustAnchor> {
  return pinnedAnchor(root);
}
