/**
 * The SEV-SNP certificate table that configfs-tsm returns in `auxblob` when the provider is
 * `sev_guest`: the `certs` buffer of the GHCB extended guest request (SEV-ES Guest-Hypervisor
 * Communication Block Standardization, pub. 56421, section 4.1.8.1 MSG_REPORT_REQ):
 *
 *   entry[i] = GUID (16 bytes) | offset (u32 LE) | length (u32 LE)     i = 0, 1, ...
 *   an all-zero entry terminates the table; offset is from the start of the buffer.
 *
 * GUIDs are stored in the byte order of their text form (as go-sev-guest, virtee/sev and AMD's
 * sev-guest tools read and write them). The hypervisor fills this table: the host chooses what
 * the certificates are, so nothing here is trusted. The verifier checks every certificate up to
 * the pinned AMD root. This module only has to avoid reading outside the buffer and hand the
 * certificates over in the shape the verifier recognises: `vcek.der` or `vlek.der`, plus
 * `cert_chain.pem` (ASK or ASVK, then ARK), like the KDS files.
 */
import { AttesterError, type CollateralItem } from './attester.ts';
import { pemBlocks, toPem } from '../../attestation/amd/cert.ts';

export const CERT_TABLE_ENTRY_SIZE = 24;
/** Not in the spec: a bound on work. Real tables hold 3-5 entries. */
export const MAX_CERT_TABLE_ENTRIES = 64;

/** The GUIDs of pub. 56421 table 8 (and the VLEK's, from the same table in revision 2.03). */
export const SNP_CERT_GUID = {
  ark: 'c0b406a4-a803-4952-9743-3fb6014cd0ae',
  ask: '4ab7b379-bbac-4fe4-a02f-05aef327c782',
  vcek: '63da758d-e664-4564-adc5-f4b93be8accd',
  vlek: 'a8074bc2-a25a-483e-aae6-39c045a0b8a1',
  crl: '92f81bc3-5811-4d3d-97ff-d19f88dc67ea',
} as const;

export type SnpCertRole = keyof typeof SNP_CERT_GUID;

export interface CertTableEntry {
  /** Lowercase text form, e.g. `63da758d-e664-4564-adc5-f4b93be8accd`. */
  readonly guid: string;
  /** The role of a GUID we know, undefined for any other. */
  readonly role: SnpCertRole | undefined;
  readonly offset: number;
  readonly length: number;
  /** A copy of the entry's bytes. */
  readonly bytes: Uint8Array;
}

const ROLE_OF_GUID = new Map<string, SnpCertRole>(Object.entries(SNP_CERT_GUID).map(([role, guid]) => [guid, role as SnpCertRole]));

function failed(message: string, cause?: unknown): AttesterError {
  return new AttesterError('ERR_ATTESTER_FAILED', `SEV-SNP auxblob: ${message}`, cause === undefined ? undefined : { cause });
}

/** GUID bytes (text order) to the lowercase text form. */
export function guidToString(b: Uint8Array): string {
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** The text form of a GUID to its 16 bytes in text order (the table's encoding). */
export function guidToBytes(guid: string): Uint8Array {
  if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(guid)) {
    throw new AttesterError('ERR_ATTESTER_INPUT', `GUID "${guid}" is not in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`);
  }
  return Uint8Array.from(Buffer.from(guid.replace(/-/g, ''), 'hex'));
}

function u32le(b: Uint8Array, at: number): number {
  // Callers check at + 4 <= b.length first; the `?? 0` only satisfies noUncheckedIndexedAccess.
  return ((b[at] ?? 0) | ((b[at + 1] ?? 0) << 8) | ((b[at + 2] ?? 0) << 16) | ((b[at + 3] ?? 0) << 24)) >>> 0;
}

function allZero(b: Uint8Array): boolean {
  return b.every((x) => x === 0);
}

/**
 * Parse the table: every entry up to the all-zero terminator, each one's bytes bounds-checked
 * against the buffer and placed after the table. An empty auxblob (no certificates loaded by the
 * host) is an empty table. Bytes after the last certificate are ignored: the kernel hands back
 * the whole page-sized buffer, zero-padded.
 */
export function parseCertTable(aux: Uint8Array): CertTableEntry[] {
  if (aux.length === 0) return [];
  const entries: { guid: Uint8Array; offset: number; length: number }[] = [];
  let terminated = false;
  for (let i = 0; i <= MAX_CERT_TABLE_ENTRIES; i++) {
    const at = i * CERT_TABLE_ENTRY_SIZE;
    if (at + CERT_TABLE_ENTRY_SIZE > aux.length) break;
    const raw = aux.subarray(at, at + CERT_TABLE_ENTRY_SIZE);
    if (allZero(raw)) {
      terminated = true;
      break;
    }
    if (i === MAX_CERT_TABLE_ENTRIES) throw failed(`certificate table has more than ${MAX_CERT_TABLE_ENTRIES} entries`);
    entries.push({ guid: raw.subarray(0, 16), offset: u32le(raw, 16), length: u32le(raw, 20) });
  }
  if (!terminated) {
    throw failed(`certificate table of ${aux.length} bytes has no all-zero terminating entry (want one within the buffer, entries are ${CERT_TABLE_ENTRY_SIZE} bytes)`);
  }
  const tableEnd = (entries.length + 1) * CERT_TABLE_ENTRY_SIZE;
  const seen = new Set<string>();
  return entries.map((e, i) => {
    const guid = guidToString(e.guid);
    const role = ROLE_OF_GUID.get(guid);
    const what = `certificate table entry ${i} (${role === undefined ? 'GUID' : role.toUpperCase()} ${guid})`;
    // Two entries with one GUID would let the host show the verifier one certificate and a log
    // another; there is no rule for which one wins, so refuse.
    if (seen.has(guid)) throw failed(`${what} appears twice`);
    seen.add(guid);
    if (e.length === 0) throw failed(`${what} has length 0`);
    if (e.offset < tableEnd) throw failed(`${what} offset ${e.offset} lies inside the table (which ends at ${tableEnd})`);
    // Both are u32, so the sum stays exact in a double.
    if (e.offset + e.length > aux.length) throw failed(`${what} offset ${e.offset} + length ${e.length} is past the end of the ${aux.length}-byte buffer`);
    return { guid, role, offset: e.offset, length: e.length, bytes: aux.slice(e.offset, e.offset + e.length) };
  });
}

/** Length of the DER TLV at the start of `b` (header included), or undefined if it is not one. */
function derLength(b: Uint8Array): number | undefined {
  if (b.length < 2 || b[0] !== 0x30) return undefined;
  const first = b[1] ?? 0;
  if (first < 0x80) return 2 + first;
  const n = first & 0x7f;
  if (n === 0 || n > 4 || b.length < 2 + n) return undefined;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + (b[2 + i] ?? 0);
  return 2 + n + len;
}

/**
 * One certificate's DER from a table entry. The spec does not fix the encoding and hosts load
 * either DER or PEM (snphost writes DER, some tooling PEM), so both are taken; DER may carry
 * zero padding after the certificate. Anything else is refused rather than guessed at.
 */
export function certificateDer(bytes: Uint8Array, what: string): Uint8Array {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 64)).toString('latin1');
  if (head.trimStart().startsWith('-----BEGIN ')) {
    let blocks;
    try {
      blocks = pemBlocks(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1'), what);
    } catch (e: unknown) {
      throw failed(`${what} is PEM that does not decode`, e);
    }
    const certs = blocks.filter((b) => b.label === 'CERTIFICATE');
    const only = certs[0];
    if (certs.length !== 1 || only === undefined) throw failed(`${what} is PEM with ${certs.length} CERTIFICATE blocks, want 1`);
    return only.der;
  }
  const total = derLength(bytes);
  if (total === undefined || total > bytes.length) throw failed(`${what} is neither a DER certificate (SEQUENCE within the entry) nor PEM`);
  if (!allZero(bytes.subarray(total))) throw failed(`${what} has ${bytes.length - total} bytes after the DER certificate that are not zero padding`);
  return bytes.slice(0, total);
}

/** Which endorsement key signed the report (SIGNING_KEY of the report's SIGNER_INFO). */
export type SnpSigningKey = 'vcek' | 'vlek' | 'none';

/**
 * Collateral items from an auxblob: the endorsement key the report names (`vcek.der` or
 * `vlek.der`), and `cert_chain.pem` with the ASK (the ASVK for a VLEK, stored under the ASK
 * GUID) then the ARK. A leaf the report was not signed with is left out, so that the verifier
 * is not handed two candidate leaves. The CRL entry and unknown GUIDs are ignored: the verifier
 * fetches or is given its CRL separately, and a stale host copy must not fail a good report.
 */
export function snpCollateralFromAuxblob(aux: Uint8Array, signingKey: SnpSigningKey): CollateralItem[] {
  const byRole = new Map<SnpCertRole, CertTableEntry>();
  for (const e of parseCertTable(aux)) if (e.role !== undefined) byRole.set(e.role, e);
  const der = (role: SnpCertRole): Uint8Array | undefined => {
    const e = byRole.get(role);
    return e === undefined ? undefined : certificateDer(e.bytes, `certificate table ${role.toUpperCase()} entry`);
  };
  const out: CollateralItem[] = [];
  if (signingKey !== 'none') {
    const leaf = der(signingKey);
    if (leaf !== undefined) out.push({ name: `${signingKey}.der`, bytes: leaf });
  }
  const chain = [der('ask'), der('ark')].filter((d): d is Uint8Array => d !== undefined);
  if (chain.length > 0) out.push({ name: 'cert_chain.pem', bytes: new TextEncoder().encode(chain.map((d) => toPem(d)).join('')) });
  return out;
}
