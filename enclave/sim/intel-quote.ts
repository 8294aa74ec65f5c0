/**
 * Encoder for Intel DCAP ECDSA quotes, versions 4 and 3: the mirror image of attestation/intel/parse.ts.
 *
 *   header (48) | body: SGX enclave report (384) or TDX TD report 1.0 (584)
 *   | u32 signature data length | ECDSA signature (64) | attestation key (64)
 *   | v4: u16 type 6 | u32 size | { QE report certification data }
 *     v3:                            QE report certification data      (SGX only)
 *   QE report certification data = QE report (384) | QE report signature (64) | u16 auth size | auth
 *                                  | u16 type 5 | u32 size | PCK chain PEM ‖ NUL
 *
 * Every field is written in order with its width checked, so a value of the wrong size is a bug
 * caught here and never a quote that parses into something other than what was meant.
 */
import { createHash, sign, type KeyObject } from 'node:crypto';
import type { QuotingEnclave } from './intel-platform.ts';

const ATT_KEY_TYPE_ECDSA_P256 = 2;
const TEE_TYPE_SGX = 0x00000000;
const TEE_TYPE_TDX = 0x00000081;
const CERT_DATA_PCK_CHAIN = 5;
const CERT_DATA_QE_REPORT = 6;
const HEADER_SIZE = 48;
const ENCLAVE_REPORT_SIZE = 384;
const TD_REPORT10_SIZE = 584;
/** Intel's QE vendor ID: the verifier only takes quotes from Intel's Quoting Enclave. */
const INTEL_QE_VENDOR_ID = Uint8Array.from([0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07]);

/** Writes fields in order; each one must have exactly its declared width. */
class Writer {
  private readonly parts: Uint8Array[] = [];
  private size = 0;

  constructor(private readonly what: string) {}

  bytes(b: Uint8Array, width: number, field: string): this {
    if (b.length !== width) throw new Error(`${this.what}: ${field} is ${b.length} bytes, want ${width}`);
    this.parts.push(b.slice());
    this.size += width;
    return this;
  }

  zeros(width: number): this {
    return this.bytes(new Uint8Array(width), width, 'reserved');
  }

  u16le(v: number, field: string): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new Error(`${this.what}: ${field} ${v} does not fit in a u16`);
    return this.bytes(Uint8Array.of(v & 0xff, v >> 8), 2, field);
  }

  u32le(v: number, field: string): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`${this.what}: ${field} ${v} does not fit in a u32`);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    return this.bytes(b, 4, field);
  }

  /** A u32 length followed by the bytes it counts. */
  sized32(b: Uint8Array, field: string): this {
    return this.u32le(b.length, `${field} size`).bytes(b, b.length, field);
  }

  done(want?: number): Uint8Array {
    if (want !== undefined && this.size !== want) throw new Error(`${this.what}: ${this.size} bytes written, want ${want}`);
    return new Uint8Array(Buffer.concat(this.parts));
  }
}

/** ECDSA P-256 with SHA-256 as raw r ‖ s (64 bytes), the encoding quotes carry. */
export function signRaw(data: Uint8Array, key: KeyObject): Uint8Array {
  return new Uint8Array(sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }));
}

/** The raw X ‖ Y (64 bytes) of a P-256 public key, as the quote's attestation key field holds it. */
export function rawP256(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.crv !== 'P-256' || jwk.x === undefined || jwk.y === undefined) throw new Error('attestation key is not a P-256 key');
  const xy = Buffer.concat([Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
  if (xy.length !== 64) throw new Error('attestation key coordinates are not 32 bytes each');
  return new Uint8Array(xy);
}

export interface EnclaveReportFields {
  readonly cpuSvn: Uint8Array;
  readonly miscSelect: Uint8Array;
  readonly attributes: Uint8Array;
  readonly mrEnclave: Uint8Array;
  readonly mrSigner: Uint8Array;
  readonly isvProdId: number;
  readonly isvSvn: number;
  readonly reportData: Uint8Array;
}

/** SGX REPORTBODY (384 bytes): the SGX quote body and the QE report alike. */
export function encodeEnclaveReport(f: EnclaveReportFields, what: string): Uint8Array {
  return new Writer(what)
    .bytes(f.cpuSvn, 16, 'CPUSVN')
    .bytes(f.miscSelect, 4, 'MISCSELECT')
    .zeros(12)
    .bytes(new Uint8Array(16), 16, 'ISVEXTPRODID')
    .bytes(f.attributes, 16, 'ATTRIBUTES')
    .bytes(f.mrEnclave, 32, 'MRENCLAVE')
    .zeros(32)
    .bytes(f.mrSigner, 32, 'MRSIGNER')
    .zeros(32)
    .bytes(new Uint8Array(64), 64, 'CONFIGID')
    .u16le(f.isvProdId, 'ISVPRODID')
    .u16le(f.isvSvn, 'ISVSVN')
    .u16le(0, 'CONFIGSVN')
    .zeros(42)
    .bytes(new Uint8Array(16), 16, 'ISVFAMILYID')
    .bytes(f.reportData, 64, 'REPORTDATA')
    .done(ENCLAVE_REPORT_SIZE);
}

export interface TdReportFields {
  readonly teeTcbSvn: Uint8Array;
  readonly mrSeam: Uint8Array;
  readonly mrSignerSeam: Uint8Array;
  readonly seamAttributes: Uint8Array;
  readonly tdAttributes: Uint8Array;
  readonly xfam: Uint8Array;
  readonly mrTd: Uint8Array;
  readonly rtmr: readonly [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  readonly reportData: Uint8Array;
}

/** TDX TD report 1.0 body (584 bytes). MRCONFIGID, MROWNER and MROWNERCONFIG are left zero (no host-provided config). */
export function encodeTdReport10(f: TdReportFields): Uint8Array {
  return new Writer('TD report')
    .bytes(f.teeTcbSvn, 16, 'TEE_TCB_SVN')
    .bytes(f.mrSeam, 48, 'MRSEAM')
    .bytes(f.mrSignerSeam, 48, 'MRSIGNERSEAM')
    .bytes(f.seamAttributes, 8, 'SEAMATTRIBUTES')
    .bytes(f.tdAttributes, 8, 'TDATTRIBUTES')
    .bytes(f.xfam, 8, 'XFAM')
    .bytes(f.mrTd, 48, 'MRTD')
    .bytes(new Uint8Array(48), 48, 'MRCONFIGID')
    .bytes(new Uint8Array(48), 48, 'MROWNER')
    .bytes(new Uint8Array(48), 48, 'MROWNERCONFIG')
    .bytes(f.rtmr[0], 48, 'RTMR0')
    .bytes(f.rtmr[1], 48, 'RTMR1')
    .bytes(f.rtmr[2], 48, 'RTMR2')
    .bytes(f.rtmr[3], 48, 'RTMR3')
    .bytes(f.reportData, 64, 'REPORTDATA')
    .done(TD_REPORT10_SIZE);
}

export type QuoteBody = { readonly kind: 'sgx'; readonly report: EnclaveReportFields } | { readonly kind: 'tdx'; readonly report: TdReportFields };

export interface QuoteInput {
  /** 4 for both TEEs; 3 (SGX only) is what Intel's SGX QE3 and Gramine emit today. */
  readonly version: 3 | 4;
  readonly body: QuoteBody;
  readonly qe: QuotingEnclave;
  /** CPUSVN of the platform (the QE report carries it; Intel's QE reports do too). */
  readonly cpuSvn: Uint8Array;
  readonly pceSvn: number;
  readonly qeAuthData: Uint8Array;
  /** User data of the header: the first 16 bytes identify the QE instance (QE ID), the rest is zero. */
  readonly qeId: Uint8Array;
  readonly attestationKey: KeyObject;
  readonly pckKey: KeyObject;
  readonly pckChainPem: string;
}

/**
 * Build and sign a quote: the QE report vouches for the attestation key
 * (REPORTDATA = SHA-256(attestation key ‖ QE auth data) ‖ 0^32) and is signed with the PCK key;
 * the header and body are signed with the attestation key.
 */
export function encodeQuote(q: QuoteInput): Uint8Array {
  const sgx = q.body.kind === 'sgx';
  if (q.version === 3 && !sgx) throw new Error('quote version 3 carries SGX enclave reports only');
  // SGX headers carry the QE's and the PCE's SVN; for TDX these two fields are reserved (zero), as in Intel's TD quotes.
  const header = new Writer('quote header')
    .u16le(q.version, 'version')
    .u16le(ATT_KEY_TYPE_ECDSA_P256, 'att_key_type')
    .u32le(sgx ? TEE_TYPE_SGX : TEE_TYPE_TDX, 'tee_type')
    .u16le(sgx ? q.qe.isvSvn : 0, 'qe_svn')
    .u16le(sgx ? q.pceSvn : 0, 'pce_svn')
    .bytes(INTEL_QE_VENDOR_ID, 16, 'qe_vendor_id')
    .bytes(q.qeId, 16, 'user_data (QE ID)')
    .zeros(4)
    .done(HEADER_SIZE);
  const body = q.body.kind === 'sgx' ? encodeEnclaveReport(q.body.report, 'enclave report') : encodeTdReport10(q.body.report);
  const signedRegion = new Uint8Array(Buffer.concat([header, body]));

  const attKey = rawP256(q.attestationKey);
  const qeReportData = new Uint8Array(64);
  qeReportData.set(createHash('sha256').update(attKey).update(q.qeAuthData).digest(), 0);
  const qeReport = encodeEnclaveReport(
    {
      cpuSvn: q.cpuSvn,
      miscSelect: q.qe.miscSelect,
      attributes: q.qe.attributes,
      mrEnclave: q.qe.mrEnclave,
      mrSigner: q.qe.mrSigner,
      isvProdId: q.qe.isvProdId,
      isvSvn: q.qe.isvSvn,
      reportData: qeReportData,
    },
    'QE report',
  );
  // Intel's QE writes the PEM chain followed by a NUL; the verifier must cope with exactly that.
  const pckChain = new Uint8Array(Buffer.from(`${q.pckChainPem}\u0000`, 'latin1'));
  const qeCertData = new Writer('QE report certification data')
    .bytes(qeReport, ENCLAVE_REPORT_SIZE, 'QE report')
    .bytes(signRaw(qeReport, q.pckKey), 64, 'QE report signature')
    .u16le(q.qeAuthData.length, 'QE auth data size')
    .bytes(q.qeAuthData, q.qeAuthData.length, 'QE auth data')
    .u16le(CERT_DATA_PCK_CHAIN, 'PCK certification data type')
    .sized32(pckChain, 'PCK certificate chain')
    .done();
  const signatureData = new Writer('signature data')
    .bytes(signRaw(signedRegion, q.attestationKey), 64, 'ECDSA signature')
    .bytes(attKey, 64, 'attestation key');
  if (q.version === 4) signatureData.u16le(CERT_DATA_QE_REPORT, 'certification data type').sized32(qeCertData, 'QE report certification data');
  else signatureData.bytes(qeCertData, qeCertData.length, 'QE report certification data');
  return new Writer('quote').bytes(signedRegion, signedRegion.length, 'header and body').sized32(signatureData.done(), 'signature data').done();
}
