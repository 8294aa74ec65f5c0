/**
 * Intel DCAP ECDSA quotes, versions 3, 4 and 5: bytes -> typed structure. No cryptography here.
 *
 * Layout (Intel SGX ECDSA Quote Library API, Intel TDX DCAP Quoting Library API):
 *   header (48) | body | u32 signature-data length | signature data | (trailing bytes, ignored)
 *   v3, v4: the body is an SGX enclave report (384) or a TDX TD report 1.0 (584), by TEE type.
 *   v5:     u16 body type (1 SGX, 2 TD 1.0, 3 TD 1.5) | u32 body size | body. The descriptor is
 *           inside the region the attestation key signs.
 *   signature data: ECDSA sig (64) | attestation key (64) | certification data
 *     v3:     QE report (384) | QE report sig (64) | u16 auth size | auth | u16 type=5 | u32 size | PCK chain
 *     v4, v5: u16 type=6 | u32 size | { QE report | QE sig | u16 auth size | auth | u16 type=5 | u32 size | PCK chain }
 * Every length is a declared length, checked against what is really there; nothing past the
 * declared signature data is read (real quotes carry padding there).
 */
import { ByteReader, isAllZero } from '../common/bytes.ts';
import { malformed, VerificationError } from '../errors.ts';

const REASON = 'malformed_quote';

export const HEADER_SIZE = 48;
export const ENCLAVE_REPORT_SIZE = 384;
export const TD_REPORT10_SIZE = 584;
export const TD_REPORT15_SIZE = 648;
export const ATT_KEY_TYPE_ECDSA_P256 = 2;
export const TEE_TYPE_SGX = 0x00000000;
export const TEE_TYPE_TDX = 0x00000081;
export const INTEL_QE_VENDOR_ID = Uint8Array.from([
  0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
]);
export const CERT_DATA_PCK_CHAIN = 5;
export const CERT_DATA_QE_REPORT = 6;
/** Upper bound on any single declared length inside a quote: real signature data is ~5 KB. */
const MAX_DECLARED = 64 * 1024;

export type BodyType = 1 | 2 | 3;

export interface QuoteHeader {
  readonly version: number;
  readonly attestationKeyType: number;
  readonly teeType: number;
  readonly qeSvn: number;
  readonly pceSvn: number;
  readonly qeVendorId: Uint8Array;
  readonly userData: Uint8Array;
}

export interface EnclaveReport {
  readonly raw: Uint8Array;
  readonly cpuSvn: Uint8Array;
  readonly miscSelect: Uint8Array;
  readonly isvExtProdId: Uint8Array;
  readonly attributes: Uint8Array;
  readonly mrEnclave: Uint8Array;
  readonly mrSigner: Uint8Array;
  readonly configId: Uint8Array;
  readonly isvProdId: number;
  readonly isvSvn: number;
  readonly configSvn: number;
  readonly isvFamilyId: Uint8Array;
  readonly reportData: Uint8Array;
}

export interface TdReport {
  readonly teeTcbSvn: Uint8Array;
  readonly mrSeam: Uint8Array;
  readonly mrSignerSeam: Uint8Array;
  readonly seamAttributes: Uint8Array;
  readonly tdAttributes: Uint8Array;
  readonly xfam: Uint8Array;
  readonly mrTd: Uint8Array;
  readonly mrConfigId: Uint8Array;
  readonly mrOwner: Uint8Array;
  readonly mrOwnerConfig: Uint8Array;
  readonly rtmr: readonly [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  readonly reportData: Uint8Array;
  /** TD report 1.5 only. */
  readonly teeTcbSvn2: Uint8Array | undefined;
  readonly mrServiceTd: Uint8Array | undefined;
}

export type QuoteBody = { readonly kind: 'sgx'; readonly report: EnclaveReport } | { readonly kind: 'tdx'; readonly report: TdReport };

export interface Quote {
  readonly header: QuoteHeader;
  readonly bodyType: BodyType;
  readonly body: QuoteBody;
  /** header ‖ (v5 descriptor) ‖ body: exactly what the attestation key signs. */
  readonly signedRegion: Uint8Array;
  readonly signature: Uint8Array;
  readonly attestationKey: Uint8Array;
  readonly qeReport: EnclaveReport;
  readonly qeReportSignature: Uint8Array;
  readonly qeAuthData: Uint8Array;
  readonly certificationDataType: number;
  /** The PCK certificate chain text (PEM, as carried; may end in a NUL). */
  readonly pckChainPem: string;
  /** Offset just past the declared signature data. */
  readonly declaredEnd: number;
  readonly trailingBytes: number;
}

function parseHeader(r: ByteReader): QuoteHeader {
  return {
    version: r.u16le('header.version'),
    attestationKeyType: r.u16le('header.att_key_type'),
    teeType: r.u32le('header.tee_type'),
    qeSvn: r.u16le('header.qe_svn'),
    pceSvn: r.u16le('header.pce_svn'),
    qeVendorId: r.copy(16, 'header.qe_vendor_id'),
    userData: r.copy(20, 'header.user_data'),
  };
}

function reserved(r: ByteReader, n: number, field: string): void {
  // Reserved ranges are inside the signed region, so they cannot be altered without breaking the
  // signature; we still insist on zeros so that a future layout we do not understand is refused.
  if (!isAllZero(r.sub(n, field))) throw malformed(`quote: ${field} must be zero`, REASON);
}

export function parseEnclaveReport(r: ByteReader, what: string): EnclaveReport {
  const start = r.offset;
  const cpuSvn = r.copy(16, `${what}.CPUSVN`);
  const miscSelect = r.copy(4, `${what}.MISCSELECT`);
  reserved(r, 12, `${what}.RESERVED1`);
  const isvExtProdId = r.copy(16, `${what}.ISVEXTPRODID`);
  const attributes = r.copy(16, `${what}.ATTRIBUTES`);
  const mrEnclave = r.copy(32, `${what}.MRENCLAVE`);
  reserved(r, 32, `${what}.RESERVED2`);
  const mrSigner = r.copy(32, `${what}.MRSIGNER`);
  reserved(r, 32, `${what}.RESERVED3`);
  const configId = r.copy(64, `${what}.CONFIGID`);
  const isvProdId = r.u16le(`${what}.ISVPRODID`);
  const isvSvn = r.u16le(`${what}.ISVSVN`);
  const configSvn = r.u16le(`${what}.CONFIGSVN`);
  reserved(r, 42, `${what}.RESERVED4`);
  const isvFamilyId = r.copy(16, `${what}.ISVFAMILYID`);
  const reportData = r.copy(64, `${what}.REPORTDATA`);
  const raw = r.bytes.slice(start, r.offset);
  return { raw, cpuSvn, miscSelect, isvExtProdId, attributes, mrEnclave, mrSigner, configId, isvProdId, isvSvn, configSvn, isvFamilyId, reportData };
}

function parseTdReport(r: ByteReader, v15: boolean): TdReport {
  const teeTcbSvn = r.copy(16, 'TD report.TEE_TCB_SVN');
  const mrSeam = r.copy(48, 'TD report.MRSEAM');
  const mrSignerSeam = r.copy(48, 'TD report.MRSIGNERSEAM');
  const seamAttributes = r.copy(8, 'TD report.SEAMATTRIBUTES');
  const tdAttributes = r.copy(8, 'TD report.TDATTRIBUTES');
  const xfam = r.copy(8, 'TD report.XFAM');
  const mrTd = r.copy(48, 'TD report.MRTD');
  const mrConfigId = r.copy(48, 'TD report.MRCONFIGID');
  const mrOwner = r.copy(48, 'TD report.MROWNER');
  const mrOwnerConfig = r.copy(48, 'TD report.MROWNERCONFIG');
  const rtmr = [r.copy(48, 'TD report.RTMR0'), r.copy(48, 'TD report.RTMR1'), r.copy(48, 'TD report.RTMR2'), r.copy(48, 'TD report.RTMR3')] as const;
  const reportData = r.copy(64, 'TD report.REPORTDATA');
  const teeTcbSvn2 = v15 ? r.copy(16, 'TD report.TEE_TCB_SVN2') : undefined;
  const mrServiceTd = v15 ? r.copy(48, 'TD report.MRSERVICETD') : undefined;
  return { teeTcbSvn, mrSeam, mrSignerSeam, seamAttributes, tdAttributes, xfam, mrTd, mrConfigId, mrOwner, mrOwnerConfig, rtmr, reportData, teeTcbSvn2, mrServiceTd };
}

function unsupported(message: string, reason: string): VerificationError {
  return new VerificationError('ERR_EVIDENCE_UNSUPPORTED', message, { reason });
}

/**
 * Parse a quote. Throws ERR_EVIDENCE_MALFORMED for anything that does not fit its declared
 * lengths and ERR_EVIDENCE_UNSUPPORTED for a well-formed quote of a kind we do not verify
 * (other versions, key types, certification data types).
 */
export function parseQuote(bytes: Uint8Array): Quote {
  const r = new ByteReader(bytes, 'quote', REASON);
  const header = parseHeader(r);
  const { version } = header;
  if (version !== 3 && version !== 4 && version !== 5) {
    throw unsupported(`quote header version is ${version}, want 3, 4 or 5`, 'unsupported_version');
  }
  if (header.attestationKeyType !== ATT_KEY_TYPE_ECDSA_P256) {
    throw unsupported(`quote header att_key_type is ${header.attestationKeyType}, want 2 (ECDSA-256-with-P-256)`, 'unsupported_key_type');
  }
  if (header.teeType !== TEE_TYPE_SGX && header.teeType !== TEE_TYPE_TDX) {
    throw unsupported(`quote header tee_type is 0x${header.teeType.toString(16)}, want 0x0 (SGX) or 0x81 (TDX)`, 'unsupported_tee_type');
  }
  if (version === 3 && header.teeType !== TEE_TYPE_SGX) {
    throw unsupported('quote version 3 carries SGX enclave reports only', 'unsupported_tee_type');
  }

  let bodyType: BodyType;
  if (version === 5) {
    const t = r.u16le('body descriptor.type');
    const size = r.u32le('body descriptor.size');
    if (t !== 1 && t !== 2 && t !== 3) throw unsupported(`quote body type is ${t}, want 1, 2 or 3`, 'unsupported_body_type');
    const want = t === 1 ? ENCLAVE_REPORT_SIZE : t === 2 ? TD_REPORT10_SIZE : TD_REPORT15_SIZE;
    if (size !== want) throw malformed(`quote body descriptor size is ${size}, want ${want} for body type ${t}`, REASON);
    bodyType = t;
  } else {
    bodyType = header.teeType === TEE_TYPE_SGX ? 1 : 2;
  }
  if ((bodyType === 1) !== (header.teeType === TEE_TYPE_SGX)) {
    throw malformed(`quote body type ${bodyType} does not match tee_type 0x${header.teeType.toString(16)}`, REASON);
  }
  const body: QuoteBody =
    bodyType === 1 ? { kind: 'sgx', report: parseEnclaveReport(r, 'enclave report') } : { kind: 'tdx', report: parseTdReport(r, bodyType === 3) };
  const signedRegion = bytes.slice(0, r.offset);

  const sigDataLen = r.u32le('signature data length');
  if (sigDataLen > MAX_DECLARED) throw malformed(`quote signature data length ${sigDataLen} is implausibly large`, REASON);
  const sigData = new ByteReader(r.sub(sigDataLen, 'signature data'), 'quote signature data', REASON);
  const declaredEnd = r.offset;

  const signature = sigData.copy(64, 'ECDSA signature');
  const attestationKey = sigData.copy(64, 'attestation key');
  let inner: ByteReader = sigData;
  let certificationDataType = CERT_DATA_PCK_CHAIN;
  if (version !== 3) {
    certificationDataType = sigData.u16le('certification data type');
    if (certificationDataType !== CERT_DATA_QE_REPORT) {
      throw unsupported(`certification data type is ${certificationDataType}, want 6 (QE report certification data)`, 'unsupported_cert_data');
    }
    const size = sigData.u32le('certification data size');
    inner = new ByteReader(sigData.sub(size, 'QE report certification data'), 'QE report certification data', REASON);
  }
  const qeReport = parseEnclaveReport(inner, 'QE report');
  const qeReportSignature = inner.copy(64, 'QE report signature');
  const authLen = inner.u16le('QE auth data size');
  const qeAuthData = inner.copy(authLen, 'QE auth data');
  const pckType = inner.u16le('PCK certification data type');
  if (pckType !== CERT_DATA_PCK_CHAIN) {
    throw unsupported(`PCK certification data type is ${pckType}, want 5 (PCK certificate chain)`, 'unsupported_cert_data');
  }
  const pckLen = inner.u32le('PCK certification data size');
  const pckBytes = inner.sub(pckLen, 'PCK certificate chain');
  // Everything declared must be accounted for: bytes hidden inside a declared structure are not padding.
  if (inner.remaining !== 0) throw malformed(`quote: ${inner.remaining} unexplained bytes inside the certification data`, REASON);
  if (sigData.remaining !== 0) throw malformed(`quote: ${sigData.remaining} unexplained bytes inside the signature data`, REASON);
  let pckChainPem = '';
  for (const b of pckBytes) pckChainPem += String.fromCharCode(b);

  return {
    header,
    bodyType,
    body,
    signedRegion,
    signature,
    attestationKey,
    qeReport,
    qeReportSignature,
    qeAuthData,
    certificationDataType,
    pckChainPem,
    declaredEnd,
    trailingBytes: r.remaining,
  };
}
