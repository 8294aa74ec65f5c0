/**
 * A cache in front of any DCAP collateral provider (PCS, PCCS, another cache).
 *
 * Collateral carries its own expiry: TCB info and QE identity name a `nextUpdate`, and so do both
 * CRLs. An entry is never served at or after the earliest of those four instants (`expiresAt`):
 * serving it later would hand the verifier collateral Intel no longer vouches for (fail closed,
 * ARCHITECTURE invariant 4). Before that, the entry is served without any network traffic until
 * `refreshAt` (fetch time + maxAgeMs, capped at expiresAt); from then on every request tries to
 * refresh it, because Intel can publish new TCB info well before nextUpdate (a TCB recovery), and
 * a refresh that fails falls back to the cached entry while it is still valid, so a PCS outage does
 * not take healthy backends down. After expiresAt only a successful fetch helps; its error
 * (ERR_COLLATERAL_UNAVAILABLE) is passed on.
 *
 * Concurrent requests for one key share a single fetch (no thundering herd on the PCS), and the
 * number of entries is bounded (least recently used goes first). Time comes from the injected
 * clock only.
 *
 * With `persist` (the gateway's store), every fetched entry is also written there, and an entry
 * that is not in memory (after a restart) is read back from it when the service cannot be reached:
 * a gateway restarted during a PCS outage keeps admitting backends on collateral it already had,
 * until that collateral expires, and not a moment longer. What comes back from the store is
 * untrusted like anything else: it is parsed again and the verifier checks its signatures.
 */
import { AttestationError, VerificationError } from '../../attestation/errors.ts';
import { toDcapCollateral, type DcapCollateral } from '../../attestation/intel/bundle.ts';
import { fromHex } from '../../attestation/common/bytes.ts';
import { parseCrl } from '../../attestation/common/crl.ts';
import { storeLru } from './lru.ts';
import type { DcapCollateralProvider, DcapCollateralRequest, UpdateType } from './pcs.ts';

export type Clock = () => number;

export interface CollateralCacheOptions {
  /** Maximum number of (tee, fmspc, ca, update) entries kept. Default 256. */
  readonly maxEntries?: number;
  /** Milliseconds since the Unix epoch. Default Date.now. */
  readonly clock?: Clock;
  /**
   * How long an entry is served without asking the service again. Default 1 hour; `Infinity`
   * means "until the collateral expires".
   */
  readonly maxAgeMs?: number;
  /** Where entries outlive the process (the gateway's SQLite store). */
  readonly persist?: CollateralPersistence;
  /** Told how each lookup was served: from the cache, by a fetch, or stale from the cache after a failed fetch. */
  readonly onLookup?: (result: 'hit' | 'miss' | 'stale') => void;
}

/** The slice of the gateway's store the cache uses (src/store/store.ts). */
export interface CollateralPersistence {
  putCollateral(key: string, bytes: Uint8Array, expires_at: number): Promise<void>;
  getCollateral(key: string): Promise<{ readonly bytes: Uint8Array; readonly expires_at: number } | undefined>;
}

export interface CollateralCache extends DcapCollateralProvider {
  /** Number of cached entries. */
  readonly size: number;
  clear(): void;
}

interface Entry {
  readonly collateral: DcapCollateral;
  readonly fetchedAt: number;
  readonly refreshAt: number;
  readonly expiresAt: number;
}

export const DEFAULT_MAX_ENTRIES = 256;
export const DEFAULT_MAX_AGE_MS = 60 * 60 * 1000;

export function createCollateralCache(provider: DcapCollateralProvider, opts: CollateralCacheOptions = {}): CollateralCache {
  const maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
  if (!(Number.isInteger(maxEntries) && maxEntries >= 1)) {
    throw new VerificationError('ERR_INVALID_ARGUMENT', `maxEntries must be a positive integer, got ${String(maxEntries)}`, { reason: 'invalid_argument' });
  }
  const maxAgeMs = opts.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  if (!(maxAgeMs >= 0)) {
    throw new VerificationError('ERR_INVALID_ARGUMENT', `maxAgeMs must be >= 0, got ${String(maxAgeMs)}`, { reason: 'invalid_argument' });
  }
  // Date.now is read only here, as the default clock; all logic below takes time from `clock`.
  const clock: Clock = opts.clock ?? (() => Date.now());
  const defaultUpdate: UpdateType = provider.update ?? 'standard';

  // Map iteration order is insertion order: re-inserting on use keeps the LRU entry first.
  const entries = new Map<string, Entry>();
  const inflight = new Map<string, Promise<DcapCollateral>>();

  function touch(key: string, e: Entry): void {
    entries.delete(key);
    entries.set(key, e);
  }

  function store(key: string, e: Entry): void {
    storeLru(entries, key, e, maxEntries);
  }

  async function refresh(key: string, req: DcapCollateralRequest): Promise<DcapCollateral> {
    let fresh: DcapCollateral;
    try {
      fresh = await provider.getDcapCollateral(req);
    } catch (e: unknown) {
      // Stale-if-error, but only within validity: the clock is read after the failed fetch, which
      // may have taken until a timeout, so an entry that expired meanwhile is not served.
      const cached = entries.get(key) ?? (await fromPersisted(key));
      if (cached !== undefined && clock() < cached.expiresAt) {
        touch(key, cached);
        opts.onLookup?.('stale');
        return cached.collateral;
      }
      if (cached !== undefined) entries.delete(key);
      throw wrapUnavailable(e);
    }
    const now = clock();
    const expiresAt = collateralExpiry(fresh);
    if (now >= expiresAt) {
      // The service handed out collateral that is already past nextUpdate (a PCCS that stopped
      // refreshing). Never cache it; prefer a still-valid cached entry; otherwise return it and let
      // the verifier reject it as ERR_COLLATERAL_STALE, which names the real problem.
      const cached = entries.get(key);
      if (cached !== undefined && now < cached.expiresAt) {
        touch(key, cached);
        return cached.collateral;
      }
      entries.delete(key);
      return fresh;
    }
    store(key, { collateral: fresh, fetchedAt: now, refreshAt: Math.min(expiresAt, now + maxAgeMs), expiresAt });
    if (opts.persist !== undefined) {
      try {
        await opts.persist.putCollateral(key, new TextEncoder().encode(JSON.stringify(fresh)), expiresAt);
      } catch {
        // The store failing costs only the restart case; the fetched collateral is still good.
      }
    }
    return fresh;
  }

  /** A persisted entry, parsed again and still within its validity; undefined otherwise. */
  async function fromPersisted(key: string): Promise<Entry | undefined> {
    if (opts.persist === undefined) return undefined;
    try {
      const row = await opts.persist.getCollateral(key);
      if (row === undefined) return undefined;
      const collateral = toDcapCollateral(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(row.bytes)));
      // The expiry is recomputed from the collateral itself, never taken from the row.
      const expiresAt = collateralExpiry(collateral);
      const now = clock();
      if (!(now < expiresAt)) return undefined;
      return { collateral, fetchedAt: now, refreshAt: now, expiresAt };
    } catch {
      return undefined; // unreadable or malformed: as if absent (fail closed on the fetch error)
    }
  }

  async function getDcapCollateral(req: DcapCollateralRequest): Promise<DcapCollateral> {
    const update = req.update ?? defaultUpdate;
    const key = cacheKey(req, update);
    const now = clock();
    const cached = entries.get(key);
    if (cached !== undefined) {
      if (now < cached.refreshAt && now < cached.expiresAt) {
        touch(key, cached);
        opts.onLookup?.('hit');
        return cached.collateral;
      }
      if (now >= cached.expiresAt) entries.delete(key);
    }
    const pending = inflight.get(key);
    if (pending !== undefined) return pending;
    opts.onLookup?.('miss');
    const p = refresh(key, { tee: req.tee, fmspc: req.fmspc, ca: req.ca, update }).finally(() => {
      inflight.delete(key);
    });
    inflight.set(key, p);
    return p;
  }

  return {
    update: defaultUpdate,
    getDcapCollateral,
    get size() {
      return entries.size;
    },
    clear() {
      entries.clear();
    },
  };
}

function cacheKey(req: DcapCollateralRequest, update: UpdateType): string {
  // FMSPC is hex; case must not split one platform into two entries.
  return `${req.tee}|${req.fmspc.toLowerCase()}|${req.ca}|${update}`;
}

function wrapUnavailable(e: unknown): AttestationError {
  if (AttestationError.is(e)) return e;
  return new VerificationError('ERR_COLLATERAL_UNAVAILABLE', 'collateral provider failed', { reason: 'collateral_unavailable', cause: e });
}

/**
 * The instant (ms since epoch) at which this collateral stops being current: the earliest of TCB
 * info nextUpdate, QE identity nextUpdate and both CRLs' nextUpdate. Collateral that does not state
 * all four cannot be shown to be current, so it is refused as malformed rather than cached forever.
 */
export function collateralExpiry(c: DcapCollateral): number {
  return Math.min(
    jsonNextUpdate(c.tcb_info, 'TCB info'),
    jsonNextUpdate(c.qe_identity, 'QE identity'),
    crlNextUpdate(c.pck_crl, 'PCK CRL'),
    crlNextUpdate(c.root_ca_crl, 'Root CA CRL'),
  );
}

/** ISO 8601 UTC as Intel writes it; anything else (or an impossible date) is refused. */
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

function jsonNextUpdate(text: string, what: string): number {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e: unknown) {
    throw malformed(`${what} is not JSON`, e);
  }
  const v = typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>)['nextUpdate'] : undefined;
  if (typeof v !== 'string' || !ISO_UTC.test(v)) throw malformed(`${what} nextUpdate is ${JSON.stringify(v)}, want an ISO 8601 UTC time`);
  const t = Date.parse(v);
  if (!Number.isFinite(t)) throw malformed(`${what} nextUpdate ${JSON.stringify(v)} is not a valid time`);
  return t;
}

function crlNextUpdate(hex: string, what: string): number {
  let t: number | undefined;
  try {
    t = parseCrl(fromHex(hex, what, 'collateral_malformed'), what).nextUpdate;
  } catch (e: unknown) {
    throw malformed(`${what} does not parse`, e);
  }
  if (t === undefined || !Number.isFinite(t)) throw malformed(`${what} has no nextUpdate`);
  return t;
}

function malformed(message: string, cause?: unknown): VerificationError {
  return new VerificationError('ERR_COLLATERAL_MALFORMED', message, cause === undefined ? { reason: 'collateral_malformed' } : { reason: 'collateral_malformed', cause });
}
