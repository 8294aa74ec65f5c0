/**
 * Intel DCAP quote verification (SGX and TDX, quote v3/v4/v5), as numbered steps. Each step
 * fails with its own `reason`; the first failure stops verification. Cheap structural checks come
 * before any cryptography, and the debug decision comes after every cryptographic check so that
 * `allowDebug` reports exactly what the evidence would otherwise get.
 *
 *  1. parse the quote by its declared lengths; header gates (version, key type, TEE type, QE vendor)
 *  2. PCK chain -> trust anchor (pinned Intel SGX Root CA unless another anchor is named)
 *  3. TCB info and QE identity: issuer chain -> anchor, signature over the exact bytes, issueDate <= t <= nextUpdate
 *  4. Root CA CRL (signed by the anchor) and the PCK CRL of the CA that issued the leaf; revocation
 *  5. QE report signature by the PCK key
 *  6. QE report data = SHA-256(attestation key || QE auth data) || 32 zero bytes
 *  7. quote signature by the attestation key over header || body
 *  8. QE identity, TCB level, TDX module, status convergence (tcb.ts)
 *  9. debug enclave / TD refused unless allowDebug
 */
import { equalBytes, encodeUtf8, fromHex, isAllZero, toHex } from '../common/bytes.ts';
import { concatBytes } from '../common/bytes.ts';
import { importSpki, p256SpkiFromRaw, sha256, verifySignature } from '../common/crypto.ts';
import { assertNotRevoked, parseCrl, verifyCrl, type Crl } from '../common/crl.ts';
import { parsePemCertificates, publicKeyOf, verifyChain, type Certificate, type TrustAnchor } from '../common/x509.ts';
import { PolicyError, VerificationError } from '../errors.ts';
import { INTEL_SGX_ROOT_CA, pinnedAnchor } from '../roots/index.ts';
import { anchorInfo, isoTime, timeOf, type CollateralDigest, type EvidenceResult, type VerifyOptions } from '../result.ts';
import type { DcapCollateral } from './bundle.ts';
import { quoteClaims, sgxDebug, tdxDebug } from './claims.ts';
import { parseQeIdentity, parseTcbInfo, type QeIdentity, type TcbInfo } from './collateral.ts';
import { INTEL_QE_VENDOR_ID, parseQuote, type Quote } from './parse.ts';
import { pckExtensions, type PckExtensions } from './pck.ts';
import { evaluateSgxTcb, evaluateTdxTcb, type TcbEvaluation } from './tcb.ts';

export interface DcapVerifyOptions extends VerifyOptions {
  /** The TEE the caller expects; a quote of the other kind is refused. */
  readonly tee?: 'sgx' | 'tdx';
  /** Reuse verified chains and collateral across calls (see createDcapCache). */
  readonly cache?: DcapCache;
}

interface VerifiedChain {
  readonly leaf: Certificate;
  readonly issuer: Certificate;
  readonly pck: PckExtensions;
  readonly notBefore: number;
  readonly notAfter: number;
}

interface VerifiedCollateral {
  readonly tcbInfo: TcbInfo;
  readonly qeIdentity: QeIdentity;
  readonly rootCrl: Crl;
  readonly pckCrl: Crl;
  /** DER of the CA certificate whose key verified the PCK CRL (a name alone is not an identity). */
  readonly pckCrlIssuer: Uint8Array;
  readonly tcbSigner: Certificate;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly digests: readonly CollateralDigest[];
}

/**
 * Verified PCK chains and collateral, reused while the verification time stays inside the
 * intersection of every validity window involved. Entries are keyed by the exact input bytes and
 * the trust anchor, so a different chain, collateral or anchor is always verified afresh.
 * Revocation of the specific PCK leaf and everything about the quote itself are checked on every call.
 */
export interface DcapCache {
  readonly chains: Map<string, VerifiedChain>;
  readonly collateral: Map<string, VerifiedCollateral>;
  readonly maxEntries: number;
}

export function createDcapCache(maxEntries = 1024): DcapCache {
  return { chains: new Map(), collateral: new Map(), maxEntries };
}

function remember<V>(map: Map<string, V>, max: number, key: string, value: V): void {
  if (map.size >= max) {
    const first = map.keys().next();
    if (first.done !== true) map.delete(first.value);
  }
  map.set(key, value);
}

function within(at: number, from: number, until: number): boolean {
  return from <= at && at <= until;
}

async function verifyPckChain(quote: Quote, anchors: readonly TrustAnchor[], at: number): Promise<{ chain: VerifiedChain; anchor: TrustAnchor }> {
  const certs = parsePemCertificates(quote.pckChainPem, 'PCK certificate chain', 'malformed_quote');
  const { path, anchor: used } = await verifyChain(certs, anchors, { at, what: 'PCK certificate chain' });
  const leaf = path[0] as Certificate;
  const issuer = path[1] as Certificate;
  let notBefore = -Infinity;
  let notAfter = Infinity;
  for (const c of path) {
    notBefore = Math.max(notBefore, c.notBefore);
    notAfter = Math.min(notAfter, c.notAfter);
  }
  return { chain: { leaf, issuer, pck: pckExtensions(leaf), notBefore, notAfter }, anchor: used };
}

async function verifySignedJson(
  text: string,
  signatureHex: string,
  chainPem: string,
  anchor: TrustAnchor,
  at: number,
  what: string,
  reason: string,
): Promise<Certificate[]> {
  const certs = parsePemCertificates(chainPem, `${what} issuer chain`, 'collateral_malformed');
  const { path } = await verifyChain(certs, [anchor], { at, what: `${what} issuer chain` });
  const signer = path[0] as Certificate;
  assertTcbSigner(signer, path.length, what);
  const sig = fromHex(signatureHex.trim(), `${what} signature`, 'collateral_malformed');
  const key = await publicKeyOf(signer.spki);
  // The signature covers the bytes Intel served; any re-serialisation (key order, spacing) fails here.
  if (sig.length !== 64 || !(await verifySignature('ecdsa-p256-sha256', key, encodeUtf8(text), sig, 'raw'))) {
    throw new VerificationError('ERR_SIGNATURE_INVALID', `${what} signature does not verify`, { reason });
  }
  return path;
}

/**
 * Only Intel's TCB Signing certificate may sign TCB info and QE identity. Other certificates chain
 * to the same root (the PCK CAs, every PCK leaf), and a holder of a PCK key must not be able to
 * publish its own TCB levels: the signer must be an end-entity certificate issued directly by the
 * root, named as Intel names it.
 */
function assertTcbSigner(signer: Certificate, pathLength: number, what: string): void {
  if (signer.isCa || pathLength !== 2 || signer.subject.commonName !== TCB_SIGNER_CN) {
    throw new VerificationError('ERR_CHAIN_UNTRUSTED', `${what} is signed by "${signer.subject.text}", want the ${TCB_SIGNER_CN} certificate issued by the root`, {
      reason: 'collateral_signer',
    });
  }
}
const TCB_SIGNER_CN = 'Intel SGX TCB Signing';

function assertCurrent(what: string, issueDate: number, nextUpdate: number, at: number): void {
  if (!(issueDate <= at && at <= nextUpdate)) {
    throw new VerificationError('ERR_COLLATERAL_STALE', `${what} is valid from ${isoTime(issueDate)} to ${isoTime(nextUpdate)}, not at ${isoTime(at)}`, {
      reason: 'collateral_expired',
    });
  }
}

async function digest(kind: string, bytes: Uint8Array, from?: number, until?: number): Promise<CollateralDigest> {
  return {
    kind,
    sha256: toHex(await sha256(bytes)),
    ...(from !== undefined ? { valid_from: isoTime(from) } : {}),
    ...(until !== undefined ? { valid_until: isoTime(until) } : {}),
  };
}

async function verifyCollateral(c: DcapCollateral, issuerCa: Certificate, anchor: TrustAnchor, at: number): Promise<VerifiedCollateral> {
  // Signatures first, then parsing: unauthenticated JSON is never interpreted.
  const tcbPath = await verifySignedJson(c.tcb_info, c.tcb_info_signature, c.tcb_info_issuer_chain, anchor, at, 'TCB info', 'tcb_info_signature');
  // The QE identity usually carries the same issuer chain; the shared signature memo makes its
  // second validation cheap, and keeps one code path for both.
  const qePath = await verifySignedJson(c.qe_identity, c.qe_identity_signature, c.qe_identity_issuer_chain, anchor, at, 'QE identity', 'qe_identity_signature');
  const tcbInfo = parseTcbInfo(c.tcb_info);
  const qeIdentity = parseQeIdentity(c.qe_identity);
  assertCurrent('TCB info', tcbInfo.issueDate, tcbInfo.nextUpdate, at);
  assertCurrent('QE identity', qeIdentity.issueDate, qeIdentity.nextUpdate, at);

  const rootCrlDer = fromHex(c.root_ca_crl.trim(), 'root CA CRL', 'collateral_malformed');
  const pckCrlDer = fromHex(c.pck_crl.trim(), 'PCK CRL', 'collateral_malformed');
  const rootCrlParsed = parseCrl(rootCrlDer, 'Intel SGX Root CA CRL');
  const pckCrlParsed = parseCrl(pckCrlDer, 'PCK CRL');
  const rootCrl = await verifyCrl(rootCrlParsed, anchor.certificate, at, 'Root CA CRL');
  // The PCK CRL must come from the CA that issued this PCK (Platform vs Processor CA); a CRL from
  // any other CA, the Root CA's included, says nothing about this leaf.
  const pckCrl = await verifyCrl(pckCrlParsed, issuerCa, at, 'PCK CRL');
  const tcbSigner = tcbPath[0] as Certificate;
  assertNotRevoked(rootCrl, tcbSigner, 'TCB signing certificate');
  assertNotRevoked(rootCrl, qePath[0] as Certificate, 'QE identity signing certificate');

  const windows: [number, number][] = [
    [tcbInfo.issueDate, tcbInfo.nextUpdate],
    [qeIdentity.issueDate, qeIdentity.nextUpdate],
    [rootCrl.thisUpdate, rootCrl.nextUpdate],
    [pckCrl.thisUpdate, pckCrl.nextUpdate],
    ...[...tcbPath, ...qePath].map((x): [number, number] => [x.notBefore, x.notAfter]),
  ];
  const digests = await Promise.all([
    digest('intel.tcb_info', encodeUtf8(c.tcb_info), tcbInfo.issueDate, tcbInfo.nextUpdate),
    digest('intel.qe_identity', encodeUtf8(c.qe_identity), qeIdentity.issueDate, qeIdentity.nextUpdate),
    digest('intel.root_ca_crl', rootCrlDer, rootCrl.thisUpdate, rootCrl.nextUpdate),
    digest('intel.pck_crl', pckCrlDer, pckCrl.thisUpdate, pckCrl.nextUpdate),
    digest('intel.tcb_info_issuer_chain', encodeUtf8(c.tcb_info_issuer_chain)),
    digest('intel.qe_identity_issuer_chain', encodeUtf8(c.qe_identity_issuer_chain)),
  ]);
  return {
    tcbInfo,
    qeIdentity,
    rootCrl,
    pckCrl,
    pckCrlIssuer: issuerCa.der,
    tcbSigner,
    notBefore: Math.max(...windows.map((w) => w[0])),
    notAfter: Math.min(...windows.map((w) => w[1])),
    digests,
  };
}

function collateralKey(c: DcapCollateral, anchor: TrustAnchor): string {
  return [anchor.sha256, c.tcb_info, c.tcb_info_signature, c.tcb_info_issuer_chain, c.qe_identity, c.qe_identity_signature, c.qe_identity_issuer_chain, c.root_ca_crl, c.pck_crl].join('\u0000');
}

/** Verify an Intel DCAP quote with its collateral at `opts.at`. Resolves to the result or rejects with an AttestationError. */
export async function verifyDcapQuote(quoteBytes: Uint8Array, collateral: DcapCollateral, opts: DcapVerifyOptions): Promise<EvidenceResult> {
  const at = timeOf(opts.at);

  // Step 1: structure and header gates.
  const quote = parseQuote(quoteBytes);
  if (!equalBytes(quote.header.qeVendorId, INTEL_QE_VENDOR_ID)) {
    throw new VerificationError('ERR_EVIDENCE_UNSUPPORTED', `quote header QE vendor ID is ${toHex(quote.header.qeVendorId)}, want ${toHex(INTEL_QE_VENDOR_ID)} (Intel)`, {
      reason: 'qe_vendor',
    });
  }
  if (opts.tee !== undefined && opts.tee !== quote.body.kind) {
    throw new VerificationError('ERR_EVIDENCE_UNSUPPORTED', `quote is a ${quote.body.kind.toUpperCase()} quote, want ${opts.tee.toUpperCase()}`, { reason: 'tee_mismatch' });
  }
  const step = opts.onStep ?? ((): void => undefined);
  step(`quote v${quote.header.version} ${quote.body.kind.toUpperCase()} parsed; header gates passed`);
  const anchors = opts.trustAnchors ?? [await pinnedAnchor(INTEL_SGX_ROOT_CA)];
  const cache = opts.cache;

  // Step 2: PCK chain to the anchor.
  let chain: VerifiedChain | undefined;
  let anchor: TrustAnchor | undefined;
  const chainKeys = cache === undefined ? [] : anchors.map((a) => `${a.sha256}\u0000${quote.pckChainPem}`);
  for (let i = 0; i < chainKeys.length && chain === undefined; i++) {
    const hit = cache?.chains.get(chainKeys[i] as string);
    if (hit !== undefined && within(at, hit.notBefore, hit.notAfter)) {
      chain = hit;
      anchor = anchors[i];
    }
  }
  if (chain === undefined || anchor === undefined) {
    const v = await verifyPckChain(quote, anchors, at);
    chain = v.chain;
    anchor = v.anchor;
    if (cache !== undefined) remember(cache.chains, cache.maxEntries, `${anchor.sha256}\u0000${quote.pckChainPem}`, chain);
  }

  step(`PCK chain verified to ${anchor.name}${anchor.pinned ? ' (pinned)' : ' (explicitly named trust anchor)'}`);

  // Steps 3-4: collateral and CRLs.
  const ckey = cache === undefined ? '' : collateralKey(collateral, anchor);
  let col = cache?.collateral.get(ckey);
  if (col === undefined || !within(at, col.notBefore, col.notAfter) || !equalBytes(col.pckCrlIssuer, chain.issuer.der)) {
    col = await verifyCollateral(collateral, chain.issuer, anchor, at);
    if (cache !== undefined) remember(cache.collateral, cache.maxEntries, ckey, col);
  }
  assertNotRevoked(col.rootCrl, chain.issuer, 'PCK issuing CA');
  assertNotRevoked(col.pckCrl, chain.leaf, 'PCK certificate');
  step('TCB info and QE identity signed by Intel and current; Root CA CRL and PCK CRL checked, nothing revoked');

  // Step 5: the QE report is signed by the PCK key.
  const pckKey = await publicKeyOf(chain.leaf.spki);
  if (!(await verifySignature('ecdsa-p256-sha256', pckKey, quote.qeReport.raw, quote.qeReportSignature, 'raw'))) {
    throw new VerificationError('ERR_SIGNATURE_INVALID', 'QE report signature does not verify with the PCK key', { reason: 'qe_report_signature' });
  }

  step('QE report signed by the PCK key');

  // Step 6: the QE vouches for the attestation key through its report data.
  const expected = await sha256(concatBytes(quote.attestationKey, quote.qeAuthData));
  const rd = quote.qeReport.reportData;
  if (!equalBytes(rd.subarray(0, 32), expected) || !isAllZero(rd.subarray(32))) {
    throw new VerificationError('ERR_SIGNATURE_INVALID', `QE report REPORTDATA is ${toHex(rd)}, want SHA-256(attestation key || QE auth data) = ${toHex(expected)} followed by 32 zero bytes`, {
      reason: 'qe_report_data',
    });
  }

  step('QE report data binds the attestation key');

  // Step 7: the quote is signed by the attestation key.
  const attKey = await importSpki(p256SpkiFromRaw(quote.attestationKey));
  if (!(await verifySignature('ecdsa-p256-sha256', attKey, quote.signedRegion, quote.signature, 'raw'))) {
    throw new VerificationError('ERR_SIGNATURE_INVALID', 'quote signature does not verify with the attestation key', { reason: 'quote_signature' });
  }

  step('quote signed by the attestation key');

  // Step 8: QE identity and TCB status.
  const qe = {
    miscselect: quote.qeReport.miscSelect,
    attributes: quote.qeReport.attributes,
    mrsigner: quote.qeReport.mrSigner,
    isvprodid: quote.qeReport.isvProdId,
    isvsvn: quote.qeReport.isvSvn,
  };
  const pck = { cpusvn: chain.pck.tcbComponents, pcesvn: chain.pck.pceSvn, fmspc: chain.pck.fmspc, pceId: chain.pck.pceId };
  const tcb: TcbEvaluation =
    quote.body.kind === 'sgx'
      ? evaluateSgxTcb(col.tcbInfo, col.qeIdentity, pck, qe)
      : evaluateTdxTcb(col.tcbInfo, col.qeIdentity, pck, qe, {
          teeTcbSvn: quote.body.report.teeTcbSvn,
          mrSignerSeam: quote.body.report.mrSignerSeam,
          seamAttributes: quote.body.report.seamAttributes,
        });

  step(`QE identity matches; TCB status ${tcb.status}${tcb.advisoryIds.length > 0 ? ` (${tcb.advisoryIds.join(', ')})` : ''}`);

  // Step 9: debug enclaves and TDs are authentic but not acceptable unless explicitly allowed.
  const debug = quote.body.kind === 'sgx' ? sgxDebug(quote.body.report) : tdxDebug(quote.body.report);
  if (debug && opts.allowDebug !== true) {
    throw new PolicyError('ERR_DEBUG_REFUSED', `${quote.body.kind === 'sgx' ? 'enclave ATTRIBUTES.DEBUG' : 'TD_ATTRIBUTES.DEBUG'} is set: the host can read its memory (use allowDebug to accept)`, {
      reason: 'debug_enclave',
      details: { tcb_status: tcb.status },
    });
  }

  step(debug ? 'debug enclave accepted because allowDebug is set' : 'not a debug enclave/TD');

  const pckCa = chain.issuer.subject.commonName ?? chain.issuer.subject.text;
  const pckChainDigest = await digest('intel.pck_chain', encodeUtf8(quote.pckChainPem), chain.notBefore, chain.notAfter);
  return {
    verdict: 'ok',
    tee: quote.body.kind,
    tcb_status: tcb.status,
    advisory_ids: tcb.advisoryIds,
    claims: quoteClaims(quote, chain.pck, pckCa),
    trust_anchor: anchorInfo(anchor),
    simulated: anchor.simulated,
    collateral: [pckChainDigest, ...col.digests],
    debug_allowed: debug,
    expires_at: isoTime(Math.min(chain.notAfter, col.notAfter)),
  };
}
