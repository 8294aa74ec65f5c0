/**
 * Online DCAP collateral from Intel's Provisioning Certification Service (PCS, API v4) or from a
 * Provisioning Certificate Caching Service (PCCS) that speaks the same API.
 *
 * Endpoints (Intel "SGX and TDX PCS API v4"; PCCS `routes/` and `controllers/`):
 *   GET {base}/sgx/certification/v4/pckcrl?ca={processor|platform}&encoding=der
 *       body: the CRL (DER with encoding=der; PEM by default on PCS; hex on PCCS without encoding)
 *       header SGX-PCK-CRL-Issuer-Chain: URL-encoded PEM chain
 *   GET {base}/{sgx|tdx}/certification/v4/tcb?fmspc={hex12}&update={early|standard}
 *       body: {"tcbInfo":{...},"signature":"<hex r||s>"}
 *       header TCB-Info-Issuer-Chain (v4; PCS v3 and older PCCS send SGX-TCB-Info-Issuer-Chain)
 *   GET {base}/{sgx|tdx}/certification/v4/qe/identity?update={early|standard}
 *       body: {"enclaveIdentity":{...},"signature":"<hex r||s>"}
 *       header SGX-Enclave-Identity-Issuer-Chain
 *   Root CA CRL: PCS has no route for it; Intel publishes it at the Root CA's CRL distribution point
 *       https://certificates.trustedservices.intel.com/IntelSGXRootCA.der (DER). A PCCS serves it at
 *       {base}/sgx/certification/v4/rootcacrl (hex text on current PCCS, DER on some older ones).
 *
 * The signatures over TCB info and QE identity cover the exact bytes of the `tcbInfo` /
 * `enclaveIdentity` member as served, so we cut that member's text out of the body with a small
 * string-aware scanner instead of re-serialising a parsed object (key order, number formatting and
 * escapes would all be at the mercy of the serialiser, and the signature would no longer verify).
 *
 * Nothing here decides trust: the chains, CRLs and signatures are checked by the verifier in
 * attestation/. This module only fetches, checks the shape of every response, and fails with a
 * typed error (ERR_COLLATERAL_UNAVAILABLE for transport problems, ERR_COLLATERAL_MALFORMED for
 * responses that do not parse, ERR_COLLATERAL_MISMATCH for a well-formed answer to another question).
 */
import { VerificationError } from '../../attestation/errors.ts';
import type { DcapCollateral } from '../../attestation/intel/bundle.ts';
import { decodeUtf8, fromBase64, fromHex, toHex } from '../../attestation/common/bytes.ts';
import { parseCrl } from '../../attestation/common/crl.ts';
import { parsePemCertificates } from '../../attestation/common/x509.ts';
import { invalidArgument, malformedCollateral, readBounded, unavailable } from './http.ts';

/** Intel's public PCS. A default, never the only choice: operators usually run a PCCS. */
export const INTEL_PCS_BASE_URL = 'https://api.trustedservices.intel.com';
/** CRL distribution point of the Intel SGX Root CA certificate (where PCS clients get the root CRL). */
export const INTEL_ROOT_CA_CRL_URL = 'https://certificates.trustedservices.intel.com/IntelSGXRootCA.der';
export const DEFAULT_TIMEOUT_MS = 10_000;
/**
 * Upper bound on any response body. Real PCK CRLs are tens of kilobytes; a service that streams
 * without end (broken proxy, hostile PCCS) must not exhaust the gateway's memory.
 */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

export type PcsKind = 'intel-pcs' | 'pccs';
export type UpdateType = 'early' | 'standard';
export type DcapTee = 'sgx' | 'tdx';
export type PckCa = 'platform' | 'processor';

export interface DcapCollateralRequest {
  readonly tee: DcapTee;
  /** FMSPC from the PCK certificate: 12 hex characters (either case). */
  readonly fmspc: string;
  /** Which PCK CA issued the PCK certificate (selects the PCK CRL). */
  readonly ca: PckCa;
  /** Overrides the provider's update type for this request. */
  readonly update?: UpdateType;
}

/** Anything that can produce the collateral for a quote: the PCS provider, the cache, a bundle. */
export interface DcapCollateralProvider {
  getDcapCollateral(req: DcapCollateralRequest): Promise<DcapCollateral>;
  /** The update type used when a request does not name one (part of the cache key). */
  readonly update?: UpdateType;
}

export interface PcsProviderOptions {
  /** Service root, e.g. `https://api.trustedservices.intel.com` or `https://pccs.local:8081`. A
   * trailing `/sgx/certification/v4` (as PCCS URLs are often written) is accepted and removed. */
  readonly baseUrl: string;
  /** Defaults to `intel-pcs` when baseUrl is Intel's host, else `pccs`. */
  readonly kind?: PcsKind;
  /** TCB info / QE identity update channel. Default `standard`. */
  readonly update?: UpdateType;
  readonly fetch?: typeof fetch;
  /** Per request, including reading the body. Default 10 s. */
  readonly timeoutMs?: number;
  /** Where to get the Intel SGX Root CA CRL. Default: INTEL_ROOT_CA_CRL_URL for `intel-pcs`,
   * `{base}/sgx/certification/v4/rootcacrl` for `pccs`. */
  readonly rootCaCrlUrl?: string;
}

export interface PcsProvider extends DcapCollateralProvider {
  readonly baseUrl: string;
  readonly kind: PcsKind;
  readonly update: UpdateType;
}

const PCK_CRL_CHAIN = 'SGX-PCK-CRL-Issuer-Chain';
/** v4 name first; the v3 name is what PCS v3 and PCCS releases before v4 support send. */
const TCB_INFO_CHAINS = ['TCB-Info-Issuer-Chain', 'SGX-TCB-Info-Issuer-Chain'] as const;
const QE_IDENTITY_CHAIN = 'SGX-Enclave-Identity-Issuer-Chain';

export function createPcsProvider(opts: PcsProviderOptions): PcsProvider {
  const baseUrl = normaliseBaseUrl(opts.baseUrl);
  const kind: PcsKind = opts.kind ?? (baseUrl === INTEL_PCS_BASE_URL ? 'intel-pcs' : 'pccs');
  const update: UpdateType = opts.update ?? 'standard';
  assertUpdate(update);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw invalidArgument(`timeoutMs must be a positive number of milliseconds, got ${String(timeoutMs)}`);
  }
  const doFetch = opts.fetch ?? globalThis.fetch;
  const rootCaCrlUrl = opts.rootCaCrlUrl ?? (kind === 'pccs' ? `${baseUrl}/sgx/certification/v4/rootcacrl` : INTEL_ROOT_CA_CRL_URL);
  checkUrl(rootCaCrlUrl, 'rootCaCrlUrl');

  async function getDcapCollateral(req: DcapCollateralRequest): Promise<DcapCollateral> {
    // 1. Validate the request before any network traffic: these values end up in URLs.
    // Typed callers cannot get these wrong, but requests also come from config and JSON.
    const teeIn: unknown = req.tee;
    const caIn: unknown = req.ca;
    const fmspcIn: unknown = req.fmspc;
    if (teeIn !== 'sgx' && teeIn !== 'tdx') throw invalidArgument(`tee must be "sgx" or "tdx", got ${JSON.stringify(teeIn)}`);
    if (caIn !== 'platform' && caIn !== 'processor') {
      throw invalidArgument(`ca must be "platform" or "processor", got ${JSON.stringify(caIn)}`);
    }
    const tee = req.tee;
    if (typeof fmspcIn !== 'string' || !/^[0-9a-fA-F]{12}$/.test(fmspcIn)) {
      throw invalidArgument(`fmspc must be 12 hex characters, got ${JSON.stringify(req.fmspc)}`);
    }
    const upd = req.update ?? update;
    assertUpdate(upd);
    // Intel documents FMSPC as Base16 and its examples use upper case; PCCS upper-cases it too.
    const fmspc = req.fmspc.toUpperCase();

    const urls = {
      pckCrl: `${baseUrl}/sgx/certification/v4/pckcrl?ca=${req.ca}&encoding=der`,
      tcb: `${baseUrl}/${tee}/certification/v4/tcb?fmspc=${fmspc}&update=${upd}`,
      qe: `${baseUrl}/${tee}/certification/v4/qe/identity?update=${upd}`,
      root: rootCaCrlUrl,
    };

    // 2. Fetch all four in parallel; the first failure cancels the others.
    const cancel = new AbortController();
    const get = (url: string): Promise<HttpResult> => httpGet(doFetch, url, timeoutMs, cancel.signal);
    let results: [HttpResult, HttpResult, HttpResult, HttpResult];
    try {
      results = await Promise.all([get(urls.pckCrl), get(urls.tcb), get(urls.qe), get(urls.root)]);
    } catch (e: unknown) {
      cancel.abort();
      throw e;
    }
    const [pckRes, tcbRes, qeRes, rootRes] = results;

    // 3. PCK CRL and its issuer chain.
    const pckCrlIssuerChain = issuerChain(pckRes, [PCK_CRL_CHAIN]);
    const pckCrl = crlBody(pckRes, 'PCK CRL');

    // 4. TCB info: exact signed text, signature, chain; and that it answers the question asked.
    const tcbInfoIssuerChain = issuerChain(tcbRes, TCB_INFO_CHAINS);
    const tcb = signedJson(tcbRes, 'tcbInfo', 'TCB info');
    const tcbObj = tcb.object;
    const wantTcbId = tee === 'sgx' ? 'SGX' : 'TDX';
    if (tcbObj['id'] !== undefined && tcbObj['id'] !== wantTcbId) {
      throw mismatch(`TCB info from ${tcbRes.url}: tcbInfo.id is ${JSON.stringify(tcbObj['id'])}, want "${wantTcbId}"`);
    }
    const gotFmspc = tcbObj['fmspc'];
    if (typeof gotFmspc !== 'string' || gotFmspc.toLowerCase() !== fmspc.toLowerCase()) {
      throw mismatch(`TCB info from ${tcbRes.url}: tcbInfo.fmspc is ${JSON.stringify(gotFmspc)}, want "${fmspc.toLowerCase()}"`);
    }

    // 5. QE identity (QE for SGX, TD_QE for TDX).
    const qeIdentityIssuerChain = issuerChain(qeRes, [QE_IDENTITY_CHAIN]);
    const qe = signedJson(qeRes, 'enclaveIdentity', 'QE identity');
    const wantQeId = tee === 'sgx' ? 'QE' : 'TD_QE';
    if (qe.object['id'] !== undefined && qe.object['id'] !== wantQeId) {
      throw mismatch(`QE identity from ${qeRes.url}: enclaveIdentity.id is ${JSON.stringify(qe.object['id'])}, want "${wantQeId}"`);
    }

    // 6. Root CA CRL (no issuer chain: it is signed by the pinned root itself).
    const rootCaCrl = crlBody(rootRes, 'Root CA CRL');

    return {
      pck_crl_issuer_chain: pckCrlIssuerChain,
      root_ca_crl: toHex(rootCaCrl),
      pck_crl: toHex(pckCrl),
      tcb_info_issuer_chain: tcbInfoIssuerChain,
      tcb_info: tcb.raw,
      tcb_info_signature: tcb.signature,
      qe_identity_issuer_chain: qeIdentityIssuerChain,
      qe_identity: qe.raw,
      qe_identity_signature: qe.signature,
    };
  }

  return { baseUrl, kind, update, getDcapCollateral };
}

// ---------------------------------------------------------------------------------------------
// HTTP

interface HttpResult {
  readonly url: string;
  readonly headers: Headers;
  readonly body: Uint8Array;
}

async function httpGet(doFetch: typeof fetch, url: string, timeoutMs: number, cancel: AbortSignal): Promise<HttpResult> {
  const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), cancel]);
  try {
    const res = await doFetch(url, { method: 'GET', signal, redirect: 'follow', headers: { accept: '*/*' } });
    if (res.status !== 200) {
      // Drain nothing: cancelling the body frees the connection without reading an error page.
      await res.body?.cancel().catch(() => undefined);
      throw unavailable(`GET ${url} returned HTTP ${res.status}, want 200`, undefined, { url, status: res.status });
    }
    const body = await readBounded(res, url, MAX_BODY_BYTES);
    return { url, headers: res.headers, body };
  } catch (e: unknown) {
    if (VerificationError.is(e)) throw e;
    if (signal.aborted && isTimeout(signal.reason)) {
      throw unavailable(`GET ${url} timed out after ${timeoutMs} ms`, e, { url, timeoutMs });
    }
    if (cancel.aborted) throw unavailable(`GET ${url} cancelled: another collateral request failed`, e, { url });
    throw unavailable(`GET ${url} failed: ${describe(e)}`, e, { url });
  }
}

function isTimeout(reason: unknown): boolean {
  return typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError';
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    const c = e.cause;
    const inner = c instanceof Error ? `: ${c.message}` : '';
    return `${e.message}${inner}`;
  }
  return String(e);
}

// ---------------------------------------------------------------------------------------------
// Response parsing

/** Read an issuer-chain header (URL-encoded PEM), decode it, and check it holds certificates. */
function issuerChain(res: HttpResult, names: readonly string[]): string {
  let value: string | null = null;
  let name = names[0] ?? '';
  for (const n of names) {
    value = res.headers.get(n);
    if (value !== null) {
      name = n;
      break;
    }
  }
  if (value === null || value.trim() === '') {
    throw malformedCollateral(`GET ${res.url}: response has no ${names.join(' or ')} header`);
  }
  const pem = decodeIssuerChainHeader(value, name);
  try {
    parsePemCertificates(pem, `${name} header`, 'collateral_malformed');
  } catch (e: unknown) {
    throw malformedCollateral(`GET ${res.url}: ${name} header is not a PEM certificate chain`, e);
  }
  return pem;
}

/**
 * Percent-decode an issuer-chain header. Intel encodes the PEM with %20 for spaces and %0A for
 * newlines. A `+` is kept as `+` (it is a base64 character); some form-style encoders turn the
 * spaces of the armour lines into `+`, which we undo only in the armour lines themselves.
 */
export function decodeIssuerChainHeader(value: string, name = 'issuer chain header'): string {
  let text: string;
  try {
    text = decodeURIComponent(value.trim());
  } catch (e: unknown) {
    throw malformedCollateral(`${name} is not valid percent-encoding`, e);
  }
  return text.replace(/-----(BEGIN|END)\+CERTIFICATE-----/g, '-----$1 CERTIFICATE-----');
}

/**
 * A CRL body in any of the forms real services send: DER (PCS with encoding=der, Intel's
 * certificates site, PCCS with encoding=der), PEM (PCS default), or hex text (PCCS without
 * encoding, and PCCS rootcacrl). DER always starts with 0x30 (SEQUENCE); hex text of a DER CRL
 * starts with the character '3' (0x33), so the forms cannot be confused.
 */
export function decodeCrlBody(body: Uint8Array, what = 'CRL'): Uint8Array {
  if (body.length === 0) throw malformedCollateral(`${what}: empty body`);
  let der: Uint8Array;
  if (body[0] === 0x30) {
    der = body;
  } else {
    let text: string;
    try {
      text = decodeUtf8(body, what, 'collateral_malformed').trim();
    } catch (e: unknown) {
      throw malformedCollateral(`${what}: body is neither DER, PEM nor hex`, e);
    }
    const pem = /^-----BEGIN X509 CRL-----([A-Za-z0-9+/=\s]+)-----END X509 CRL-----$/.exec(text);
    try {
      if (pem !== null) der = fromBase64(pem[1] ?? '', what, 'collateral_malformed');
      else if (/^[0-9a-fA-F]+$/.test(text)) der = fromHex(text, what, 'collateral_malformed');
      else throw malformedCollateral(`${what}: body is neither DER, PEM nor hex`);
    } catch (e: unknown) {
      if (VerificationError.is(e) && e.code === 'ERR_COLLATERAL_MALFORMED') throw e;
      throw malformedCollateral(`${what}: body is neither DER, PEM nor hex`, e);
    }
  }
  try {
    parseCrl(der, what);
  } catch (e: unknown) {
    throw malformedCollateral(`${what}: not a DER-encoded X.509 CRL`, e);
  }
  return der.slice();
}

function crlBody(res: HttpResult, what: string): Uint8Array {
  try {
    return decodeCrlBody(res.body, what);
  } catch (e: unknown) {
    if (VerificationError.is(e)) {
      throw malformedCollateral(`GET ${res.url}: ${e.message}`, e.cause ?? e);
    }
    throw malformedCollateral(`GET ${res.url}: ${what} does not parse`, e);
  }
}

interface SignedJson {
  readonly raw: string;
  readonly object: Readonly<Record<string, unknown>>;
  readonly signature: string;
}

/** `{"<member>":{...},"signature":"<hex>"}`: the member's exact text and the signature. */
function signedJson(res: HttpResult, member: string, what: string): SignedJson {
  const where = `GET ${res.url}: ${what}`;
  let text: string;
  try {
    text = decodeUtf8(res.body, what, 'collateral_malformed');
  } catch (e: unknown) {
    throw malformedCollateral(`${where}: body is not UTF-8`, e);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e: unknown) {
    throw malformedCollateral(`${where}: body is not JSON`, e);
  }
  if (!isRecord(parsed)) throw malformedCollateral(`${where}: body is not a JSON object`);
  const raw = rawJsonMember(text, member, where);
  const object: unknown = JSON.parse(raw);
  if (!isRecord(object)) throw malformedCollateral(`${where}: "${member}" is not a JSON object`);
  const signature = parsed['signature'];
  // ECDSA P-256 r||s: 64 bytes, 128 hex characters.
  if (typeof signature !== 'string' || !/^[0-9a-fA-F]{128}$/.test(signature)) {
    throw malformedCollateral(`${where}: "signature" must be 128 hex characters (raw r||s)`);
  }
  return { raw, object, signature };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The exact source text of the value of top-level member `key` in the JSON object `text`.
 * String-aware (braces and quotes inside strings are skipped correctly) and strict about
 * structure; `text` should already have passed JSON.parse. A key that appears twice is refused:
 * JSON.parse keeps the last one, so the text we return and the object others parse could differ.
 */
export function rawJsonMember(text: string, key: string, what = 'JSON body'): string {
  const n = text.length;
  let i = 0;
  const fail = (msg: string): never => {
    throw malformedCollateral(`${what}: ${msg}`);
  };
  const ws = (): void => {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const scanString = (): void => {
    // at opening quote
    i++;
    while (i < n) {
      const c = text[i];
      if (c === '\\') i += 2;
      else if (c === '"') {
        i++;
        return;
      } else i++;
    }
    fail('unterminated string');
  };
  const scanValue = (): void => {
    const c = text[i];
    if (c === '"') {
      scanString();
      return;
    }
    if (c === '{' || c === '[') {
      let depth = 0;
      while (i < n) {
        const d = text[i];
        if (d === '"') {
          scanString();
          continue;
        }
        if (d === '{' || d === '[') depth++;
        else if (d === '}' || d === ']') {
          depth--;
          if (depth === 0) {
            i++;
            return;
          }
        }
        i++;
      }
      fail('unterminated object or array');
    }
    // number, true, false, null: runs to the next delimiter
    const start = i;
    while (i < n && !/[,}\]\s]/.test(text[i] ?? '')) i++;
    if (i === start) fail(`unexpected character at offset ${i}`);
  };

  ws();
  if (text[i] !== '{') fail('not a JSON object');
  i++;
  let found: string | undefined;
  ws();
  if (text[i] === '}') fail(`member "${key}" is missing`);
  for (;;) {
    ws();
    if (text[i] !== '"') fail(`expected a member name at offset ${i}`);
    const keyStart = i;
    scanString();
    let name: unknown;
    try {
      name = JSON.parse(text.slice(keyStart, i));
    } catch (e: unknown) {
      throw malformedCollateral(`${what}: bad member name at offset ${keyStart}`, e);
    }
    ws();
    if (text[i] !== ':') fail(`expected ":" at offset ${i}`);
    i++;
    ws();
    const valueStart = i;
    scanValue();
    if (name === key) {
      if (found !== undefined) fail(`member "${key}" appears more than once`);
      found = text.slice(valueStart, i);
    }
    ws();
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text[i] === '}') break;
    fail(`expected "," or "}" at offset ${i}`);
  }
  if (found === undefined) return fail(`member "${key}" is missing`);
  return found;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function normaliseBaseUrl(raw: string): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw invalidArgument('baseUrl is required');
  let base = raw.trim().replace(/\/+$/, '');
  base = base.replace(/\/(sgx|tdx)\/certification\/v4$/, '');
  checkUrl(base, 'baseUrl');
  return base;
}

function checkUrl(url: string, name: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch (e: unknown) {
    throw new VerificationError('ERR_INVALID_ARGUMENT', `${name} is not a URL: ${JSON.stringify(url)}`, { reason: 'invalid_argument', cause: e });
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw invalidArgument(`${name} must be http(s), got ${JSON.stringify(u.protocol)}`);
  }
}

function assertUpdate(u: unknown): asserts u is UpdateType {
  if (u !== 'early' && u !== 'standard') throw invalidArgument(`update must be "early" or "standard", got ${JSON.stringify(u)}`);
}

function mismatch(message: string): VerificationError {
  return new VerificationError('ERR_COLLATERAL_MISMATCH', message, { reason: 'collateral_mismatch' });
}
