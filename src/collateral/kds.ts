/**
 * AMD Key Distribution Service (KDS) client: the VCEK for a report, the product's cert_chain
 * (ASK/ASVK + ARK) and CRL, with a cache.
 *
 * Paths (AMD "Versioned Chip Endorsement Key (VCEK) Certificate and KDS Interface Specification",
 * pub. 57230; the same as google/go-sev-guest kds/kds.go):
 *   GET {base}/vcek/v1/{Milan|Genoa|Turin}/{hwid hex}?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=..   VCEK, DER
 *       Turin: hwid is the first 8 bytes of CHIP_ID (16 hex digits) and the query starts with fmcSPL=..
 *   GET {base}/vcek/v1/{product}/cert_chain   PEM: ASK, then ARK
 *   GET {base}/vcek/v1/{product}/crl          DER, signed by the ARK
 *   GET {base}/vlek/v1/{product}/cert_chain   PEM: ASVK, then ARK
 *   GET {base}/vlek/v1/{product}/crl
 * (VLEKs themselves are issued to cloud providers only, behind their credentials, so a verifier
 * gets them with the evidence, never from here.)
 *
 * Nothing here decides trust: everything fetched is checked by attestation/amd/verify.ts against
 * the pinned ARK. This module fetches, checks the shape of responses, caches, and fails with a
 * typed error: ERR_COLLATERAL_UNAVAILABLE for transport problems (the operator decides whether
 * that fails closed, and by default it does), ERR_COLLATERAL_MALFORMED for responses that do not
 * parse.
 */
import { parseAmdCertificate, parseAmdCrl, parseAmdPemCertificates } from '../../attestation/amd/cert.ts';
import { decodeTcb } from '../../attestation/amd/claims.ts';
import { productLine, type Product } from '../../attestation/amd/kds.ts';
import { parseReport, productOfCpuid } from '../../attestation/amd/parse.ts';
import type { SevSnpInput } from '../../attestation/amd/verify.ts';
import { decodeUtf8, isAllZero, toHex } from '../../attestation/common/bytes.ts';
import { AttestationError, VerificationError } from '../../attestation/errors.ts';
import { invalidArgument, malformedCollateral, readBounded, unavailable } from './http.ts';
import { storeLru } from './lru.ts';

export const AMD_KDS_BASE_URL = 'https://kdsintf.amd.com';
export const DEFAULT_TIMEOUT_MS = 10_000;
/** KDS answers are a few kilobytes; anything far larger is not a KDS answer. */
export const MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_MAX_ENTRIES = 256;
/** CRLs are re-fetched after this long even before nextUpdate (AMD may revoke at any time). */
export const DEFAULT_CRL_MAX_AGE_MS = 60 * 60 * 1000;

export type KeyKind = 'vcek' | 'vlek';

export interface KdsClientOptions {
  /** Service root; default AMD's KDS. A caching proxy speaking the same paths works too. */
  readonly baseUrl?: string;
  readonly fetch?: typeof fetch;
  /** Per request, body included. Default 10 s. */
  readonly timeoutMs?: number;
  /** Milliseconds since the epoch; default Date.now (only for cache expiry, never for verification). */
  readonly clock?: () => number;
  readonly maxEntries?: number;
  readonly crlMaxAgeMs?: number;
}

export interface KdsClient {
  readonly baseUrl: string;
  vcekUrl(product: Product, chipId: Uint8Array, reportedTcb: bigint): string;
  certChainUrl(product: Product, kind?: KeyKind): string;
  crlUrl(product: Product, kind?: KeyKind): string;
  /** The VCEK (DER) for a chip at a TCB. */
  getVcek(product: Product, chipId: Uint8Array, reportedTcb: bigint): Promise<Uint8Array>;
  /** The KDS cert_chain text (ASK or ASVK, then ARK), checked to hold two certificates. */
  getCertChain(product: Product, kind?: KeyKind): Promise<string>;
  /** The product's CRL (DER). */
  getCrl(product: Product, kind?: KeyKind): Promise<Uint8Array>;
  /**
   * Everything verifySevSnp needs for a VCEK-signed report: the VCEK for its CHIP_ID and
   * REPORTED_TCB, the cert_chain, and (with `crl: true`) the CRL. The product comes from the
   * caller or, for v3+ reports, the CPUID fields; for v2 it must be given.
   */
  collateralFor(report: Uint8Array, opts?: { readonly product?: Product; readonly crl?: boolean }): Promise<SevSnpInput>;
  /** Number of cached responses. */
  readonly size: number;
  clear(): void;
}

interface Entry {
  readonly value: Uint8Array;
  readonly expiresAt: number;
}

export function createKdsClient(opts: KdsClientOptions = {}): KdsClient {
  const baseUrl = normaliseBase(opts.baseUrl ?? AMD_KDS_BASE_URL);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) throw invalidArgument(`timeoutMs must be a positive number, got ${String(timeoutMs)}`);
  const maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
  if (!(Number.isInteger(maxEntries) && maxEntries >= 1)) throw invalidArgument(`maxEntries must be a positive integer, got ${String(maxEntries)}`);
  const crlMaxAgeMs = opts.crlMaxAgeMs ?? DEFAULT_CRL_MAX_AGE_MS;
  const doFetch = opts.fetch ?? globalThis.fetch;
  // Date.now is read only as the default clock: cache expiry is the only use of time here.
  const clock = opts.clock ?? ((): number => Date.now());
  const entries = new Map<string, Entry>();
  const inflight = new Map<string, Promise<Uint8Array>>();

  const vcekUrl = (product: Product, chipId: Uint8Array, reportedTcb: bigint): string => {
    if (chipId.length !== 64) throw invalidArgument(`CHIP_ID must be 64 bytes, got ${chipId.length}`);
    const t = decodeTcb(reportedTcb, product);
    // Turin's hwID is the first 8 bytes of CHIP_ID; KDS wants exactly those 16 hex digits.
    const hwid = toHex(product === 'turin' ? chipId.subarray(0, 8) : chipId);
    const q = `${t.fmc === undefined ? '' : `fmcSPL=${t.fmc}&`}blSPL=${t.bl}&teeSPL=${t.tee}&snpSPL=${t.snp}&ucodeSPL=${t.ucode}`;
    return `${baseUrl}/vcek/v1/${productLine(product)}/${hwid}?${q}`;
  };
  const certChainUrl = (product: Product, kind: KeyKind = 'vcek'): string => `${baseUrl}/${kind}/v1/${productLine(product)}/cert_chain`;
  const crlUrl = (product: Product, kind: KeyKind = 'vcek'): string => `${baseUrl}/${kind}/v1/${productLine(product)}/crl`;

  function store(key: string, e: Entry): void {
    storeLru(entries, key, e, maxEntries);
  }

  /** GET with cache: `check` validates the body and returns until when it may be served. */
  async function cached(url: string, check: (body: Uint8Array) => number): Promise<Uint8Array> {
    const hit = entries.get(url);
    if (hit !== undefined) {
      if (clock() < hit.expiresAt) {
        store(url, hit);
        return hit.value;
      }
      entries.delete(url);
    }
    const pending = inflight.get(url);
    if (pending !== undefined) return pending;
    const p = (async (): Promise<Uint8Array> => {
      const body = await httpGet(doFetch, url, timeoutMs);
      const until = check(body);
      if (clock() < until) store(url, { value: body, expiresAt: until });
      return body;
    })().finally(() => inflight.delete(url));
    inflight.set(url, p);
    return p;
  }

  const getVcek = async (product: Product, chipId: Uint8Array, reportedTcb: bigint): Promise<Uint8Array> => {
    const url = vcekUrl(product, chipId, reportedTcb);
    return (await cached(url, (b) => shape(url, () => parseAmdCertificate(b, `KDS VCEK ${url}`).notAfter))).slice();
  };

  const getCertChain = async (product: Product, kind: KeyKind = 'vcek'): Promise<string> => {
    const url = certChainUrl(product, kind);
    const body = await cached(url, (b) =>
      shape(url, () => {
        const certs = parseAmdPemCertificates(decodeUtf8(b, `KDS ${url}`, 'collateral_malformed'), `KDS cert_chain ${url}`);
        if (certs.length !== 2) throw malformedCollateral(`GET ${url}: cert_chain holds ${certs.length} certificates, want 2 (ASK/ASVK, ARK)`);
        return Math.min(...certs.map((c) => c.notAfter));
      }),
    );
    return decodeUtf8(body, `KDS ${url}`, 'collateral_malformed');
  };

  const getCrl = async (product: Product, kind: KeyKind = 'vcek'): Promise<Uint8Array> => {
    const url = crlUrl(product, kind);
    return (
      await cached(url, (b) =>
        shape(url, () => {
          const crl = parseAmdCrl(b, `KDS CRL ${url}`);
          return Math.min(crl.nextUpdate ?? 0, clock() + crlMaxAgeMs);
        }),
      )
    ).slice();
  };

  const collateralFor = async (report: Uint8Array, o: { readonly product?: Product; readonly crl?: boolean } = {}): Promise<SevSnpInput> => {
    const r = parseReport(report);
    const product = o.product ?? (r.cpuid === null ? undefined : productOfCpuid(r.cpuid));
    if (product === undefined) {
      throw invalidArgument(r.cpuid === null ? 'a v2 SEV-SNP report names no product: give one (milan, genoa, turin)' : 'the report CPUID names no known product');
    }
    if (r.signingKey !== 'VCEK') {
      throw new VerificationError('ERR_COLLATERAL_UNAVAILABLE', `the report is signed by a ${r.signingKey}: KDS serves only VCEKs; the VLEK must come with the evidence`, {
        reason: 'collateral_unavailable',
      });
    }
    if (isAllZero(r.chipId)) {
      throw new VerificationError('ERR_COLLATERAL_UNAVAILABLE', 'the report CHIP_ID is masked (all zero): its VCEK cannot be looked up; it must come with the evidence', {
        reason: 'collateral_unavailable',
      });
    }
    const [vek, certChain, crl] = await Promise.all([
      getVcek(product, r.chipId, r.reportedTcb),
      getCertChain(product, 'vcek'),
      o.crl === true ? getCrl(product, 'vcek') : Promise.resolve(undefined),
    ]);
    return { report, vek, certChain, product, ...(crl === undefined ? {} : { crl }) };
  };

  return {
    baseUrl,
    vcekUrl,
    certChainUrl,
    crlUrl,
    getVcek,
    getCertChain,
    getCrl,
    collateralFor,
    get size() {
      return entries.size;
    },
    clear() {
      entries.clear();
    },
  };
}

function normaliseBase(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch (e: unknown) {
    throw new VerificationError('ERR_INVALID_ARGUMENT', `KDS base URL is not a URL: ${JSON.stringify(url)}`, { reason: 'invalid_argument', cause: e });
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw invalidArgument(`KDS base URL must be http(s), got ${JSON.stringify(u.protocol)}`);
  return url.replace(/\/+$/, '');
}

/** Run a response check; any parse failure is the service's fault, reported as malformed collateral. */
function shape(url: string, f: () => number): number {
  try {
    return f();
  } catch (e: unknown) {
    if (AttestationError.is(e) && e.code === 'ERR_COLLATERAL_MALFORMED') throw e;
    throw malformedCollateral(`GET ${url}: response is not what KDS serves there (${e instanceof Error ? e.message : String(e)})`, e);
  }
}

async function httpGet(doFetch: typeof fetch, url: string, timeoutMs: number): Promise<Uint8Array> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const res = await doFetch(url, { method: 'GET', signal, redirect: 'follow', headers: { accept: '*/*' } });
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => undefined);
      // 429 is KDS rate limiting: still "unavailable", but say so, since retrying later helps.
      throw unavailable(`GET ${url} returned HTTP ${res.status}${res.status === 429 ? ' (rate limited)' : ''}, want 200`, undefined, { url, status: res.status });
    }
    return await readBounded(res, url, MAX_BODY_BYTES);
  } catch (e: unknown) {
    if (AttestationError.is(e)) throw e;
    if (signal.aborted) throw unavailable(`GET ${url} timed out after ${timeoutMs} ms`, e, { url, timeoutMs });
    const inner = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : '';
    throw unavailable(`GET ${url} failed: ${e instanceof Error ? e.message : String(e)}${inner}`, e, { url });
  }
}

