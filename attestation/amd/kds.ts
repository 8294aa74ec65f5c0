/**
 * What AMD's Key Distribution Service puts in its certificates (VCEK/VLEK/ASK/ASVK/ARK, the
 * "Versioned Chip Endorsement Key" specification, pub. 57230) and how to tell them apart by
 * content, so that collateral files can be passed in any order and under any name.
 *
 * The VEK extensions are the link between a certificate and a report: the certified key is valid
 * only for the TCB (SPL) values and the chip (hwID) named in them. A VEK for another TCB or chip
 * must not vouch for this report.
 */
import { equalBytes, latin1, toHex } from '../common/bytes.ts';
import { DerReader, TAG, decodeSmallInteger } from '../common/der.ts';
import type { Certificate } from '../common/x509.ts';
import { VerificationError } from '../errors.ts';

export type Product = 'milan' | 'genoa' | 'turin';
export const PRODUCTS: readonly Product[] = ['milan', 'genoa', 'turin'];

/** KDS spells product lines with a capital (`/vcek/v1/Milan/...`, `CN=SEV-Milan`). */
export function productLine(p: Product): 'Milan' | 'Genoa' | 'Turin' {
  switch (p) {
    case 'milan':
      return 'Milan';
    case 'genoa':
      return 'Genoa';
    case 'turin':
      return 'Turin';
  }
}

export function parseProduct(s: string): Product | undefined {
  const l = s.toLowerCase();
  return (PRODUCTS as readonly string[]).includes(l) ? (l as Product) : undefined;
}

const AMD = '1.3.6.1.4.1.3704.1';
export const OID = {
  structVersion: `${AMD}.1`,
  productName: `${AMD}.2`,
  blSPL: `${AMD}.3.1`,
  teeSPL: `${AMD}.3.2`,
  snpSPL: `${AMD}.3.3`,
  spl4: `${AMD}.3.4`,
  spl5: `${AMD}.3.5`,
  spl6: `${AMD}.3.6`,
  spl7: `${AMD}.3.7`,
  ucodeSPL: `${AMD}.3.8`,
  fmcSPL: `${AMD}.3.9`,
  hwID: `${AMD}.4`,
  cspID: `${AMD}.5`,
} as const;

/** Milan and Genoa chip IDs are 64 bytes; Turin's hwID is 8 bytes (the rest of CHIP_ID is zero). */
export const CHIP_ID_SIZE = 64;
export const TURIN_HWID_SIZE = 8;

export interface VekExtensions {
  /** productName as written, e.g. `Milan-B0`, `Genoa`, `Turin` (VLEKs carry no stepping). */
  readonly productName: string;
  readonly blSPL: number;
  readonly teeSPL: number;
  readonly snpSPL: number;
  readonly ucodeSPL: number;
  /** Turin only. */
  readonly fmcSPL: number | null;
  /** VCEK only: 64 bytes (Milan, Genoa) or 8 bytes (Turin). */
  readonly hwID: Uint8Array | null;
  /** VLEK only: the cloud provider the VLEK was issued to. */
  readonly cspID: string | null;
}

function bad(what: string, msg: string): VerificationError {
  return new VerificationError('ERR_COLLATERAL_MALFORMED', `${what}: ${msg}`, { reason: 'vek_extensions' });
}

function spl(value: Uint8Array, name: string, what: string): number {
  const r = new DerReader(value, `${what} ${name}`, 'vek_extensions');
  const t = r.expect(TAG.INTEGER, name);
  r.end(name);
  const n = decodeSmallInteger(r, t);
  if (n > 255) throw bad(what, `extension ${name} is ${n}, want 0-255`);
  return n;
}

function ia5(value: Uint8Array, name: string, what: string): string {
  const r = new DerReader(value, `${what} ${name}`, 'vek_extensions');
  const t = r.expect(TAG.IA5_STRING, name);
  r.end(name);
  for (const b of t.value) if (b > 0x7e || b < 0x20) throw bad(what, `extension ${name} is not printable IA5 text`);
  return latin1(t.value);
}

/**
 * KDS writes hwID as the bare chip ID bytes (no OCTET STRING tag); accept a tagged OCTET STRING
 * too, as go-sev-guest does, in case AMD ever adds the tag. The size must be the product's.
 */
function hwid(value: Uint8Array, what: string): Uint8Array {
  if (value.length === CHIP_ID_SIZE || value.length === TURIN_HWID_SIZE) return value.slice();
  const r = new DerReader(value, `${what} hwID`, 'vek_extensions');
  const t = r.expect(TAG.OCTET_STRING, 'hwID');
  r.end('hwID');
  if (t.value.length !== CHIP_ID_SIZE && t.value.length !== TURIN_HWID_SIZE) {
    throw bad(what, `extension hwID is ${t.value.length} bytes, want ${CHIP_ID_SIZE} or ${TURIN_HWID_SIZE}`);
  }
  return t.value.slice();
}

/** The AMD extensions of a VCEK or VLEK. Throws ERR_COLLATERAL_MALFORMED for a missing or bad one. */
export function vekExtensions(cert: Certificate, what = 'VEK certificate'): VekExtensions {
  const byOid = new Map(cert.extensions.map((e) => [e.oid, e.value] as const));
  const need = (oid: string, name: string): Uint8Array => {
    const v = byOid.get(oid);
    if (v === undefined) throw bad(what, `extension ${name} (${oid}) is missing`);
    return v;
  };
  const productName = ia5(need(OID.productName, 'productName'), 'productName', what);
  const fmc = byOid.get(OID.fmcSPL);
  const hw = byOid.get(OID.hwID);
  const csp = byOid.get(OID.cspID);
  const out: VekExtensions = {
    productName,
    blSPL: spl(need(OID.blSPL, 'blSPL'), 'blSPL', what),
    teeSPL: spl(need(OID.teeSPL, 'teeSPL'), 'teeSPL', what),
    snpSPL: spl(need(OID.snpSPL, 'snpSPL'), 'snpSPL', what),
    ucodeSPL: spl(need(OID.ucodeSPL, 'ucodeSPL'), 'ucodeSPL', what),
    fmcSPL: fmc === undefined ? null : spl(fmc, 'fmcSPL', what),
    hwID: hw === undefined ? null : hwid(hw, what),
    cspID: csp === undefined ? null : ia5(csp, 'cspID', what),
  };
  if (out.hwID !== null && out.cspID !== null) throw bad(what, 'has both hwID (VCEK) and cspID (VLEK) extensions');
  return out;
}

/** `Milan-B0` -> milan; VLEKs say just `Milan`. */
export function productOfProductName(name: string): Product | undefined {
  // split() always returns at least one element.
  return parseProduct(name.split('-')[0] as string);
}

export type CertRole = 'vcek' | 'vlek' | 'ask' | 'asvk' | 'ark';

/**
 * The role of a KDS certificate from its content: a self-issued CA is an ARK; a CA named
 * `SEV-VLEK-<product>` is an ASVK, `SEV-<product>` an ASK; a leaf with AMD's hwID extension is a
 * VCEK, one with cspID a VLEK. Names only classify here; trust comes from signatures and the pin.
 */
export function roleOf(cert: Certificate): CertRole | undefined {
  const selfIssued = equalBytes(cert.subject.der, cert.issuer.der);
  const cn = cert.subject.commonName ?? '';
  if (cert.isCa) {
    if (selfIssued) return 'ark';
    if (/^SEV-VLEK-/.test(cn)) return 'asvk';
    if (/^SEV-/.test(cn)) return 'ask';
    return undefined;
  }
  const oids = new Set(cert.extensions.map((e) => e.oid));
  if (oids.has(OID.cspID) || cn === 'SEV-VLEK') return 'vlek';
  if (oids.has(OID.hwID) || cn === 'SEV-VCEK') return 'vcek';
  return undefined;
}

/** Product named by a KDS CA or issuer name: `ARK-Milan`, `SEV-Genoa`, `SEV-VLEK-Turin`. */
export function productOfName(cn: string | undefined): Product | undefined {
  const m = /^(?:ARK|SEV|SEV-VLEK)-([A-Za-z]+)$/.exec(cn ?? '');
  return m === null ? undefined : parseProduct(m[1] as string);
}

export function hwIdHex(e: VekExtensions): string | null {
  return e.hwID === null ? null : toHex(e.hwID);
}
