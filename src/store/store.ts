/**
 * The gateway's data store: a narrow interface so that a second implementation (PostgreSQL) can
 * follow the SQLite one without touching callers. Every method is asynchronous for that reason,
 * even though better-sqlite3 is synchronous.
 *
 * Contract for every implementation:
 * - A put that resolves is durable (it survives a crash or power loss right after): receipts and
 *   attestation records are acknowledged to clients and auditors.
 * - Attestation records, receipts and blobs are write-once: a second put with the same id and the
 *   same content succeeds (a retry); with different content it fails with ERR_INTERNAL (ids are
 *   random, so this is a bug, and overwriting would rewrite history).
 * - Failures of the storage itself (unwritable directory, full disk, corrupt file, lost
 *   connection) reject with AppError ERR_STORE_IO and an actionable message; never a raw driver
 *   error.
 * - API key secrets are never stored, only their SHA-256, and never returned after creation.
 *
 * Times are milliseconds since the Unix epoch, passed in by the caller, except API-key creation
 * and revocation times, which come from the store's injected clock.
 */

export interface ApiKeyInfo {
  /** Public key id (16 lowercase hex digits): safe to log and to show. */
  readonly id: string;
  readonly tenant: string;
  readonly created_at: number;
  readonly revoked_at: number | null;
}

export interface NewApiKey {
  readonly id: string;
  readonly tenant: string;
  /** The whole key `ag_<id>_<secret>`: shown once, stored only as its SHA-256. */
  readonly secret: string;
}

export interface AttestationRecord {
  readonly id: string;
  readonly backend: string;
  readonly created_at: number;
  /** The appraisal verdict (e.g. EAR status `affirming` / `contraindicated`). */
  readonly verdict: string;
  /** The signed attestation result (EAR JWT) the gateway relied on. */
  readonly ear_jwt: string;
  /** Lowercase hex SHA-256 of the evidence bytes (the evidence itself is a blob). */
  readonly evidence_sha256: string;
  /** The full record as JSON text (claims, collateral digests, policy digest, ...). */
  readonly record_json: string;
}

export interface ReceiptRecord {
  readonly id: string;
  readonly attestation_id: string;
  readonly backend: string;
  readonly model: string;
  readonly created_at: number;
  /** The receipt as JSON text (enclave JWS, gateway countersignature, digests). */
  readonly body_json: string;
}

export interface CollateralEntry {
  readonly bytes: Uint8Array;
  /** Milliseconds since the epoch; the caller compares it with its own clock. */
  readonly expires_at: number;
}

export interface Store {
  /** A new key for `tenant` (`[A-Za-z0-9][A-Za-z0-9._-]{0,63}`, else ERR_BAD_REQUEST). */
  createApiKey(tenant: string): Promise<NewApiKey>;
  /** The key's tenant and id if `secret` is a known, unrevoked key; undefined otherwise. */
  verifyApiKey(secret: string): Promise<{ readonly tenant: string; readonly id: string } | undefined>;
  /** True if the key exists (it is revoked from now on, or already was); false if unknown. */
  revokeApiKey(id: string): Promise<boolean>;
  /** Every key, revoked ones included, oldest first; never a secret. */
  listApiKeys(): Promise<readonly ApiKeyInfo[]>;

  putAttestation(record: AttestationRecord): Promise<void>;
  getAttestation(id: string): Promise<AttestationRecord | undefined>;

  /**
   * Committed when it resolves, but not necessarily flushed to disk: a crash of the process keeps
   * it, a power loss may take the latest ones. The gateway appends every receipt (with its JWS) to
   * the transparency log durably first, and restores from there what the store lost when it opens
   * (src/gateway/receipt-record.ts); a second fsync per answer would double its durable writes.
   */
  putReceipt(record: ReceiptRecord): Promise<void>;
  getReceipt(id: string): Promise<ReceiptRecord | undefined>;

  /** Insert or replace the cached collateral under `key` (collateral is refreshed, not logged). */
  putCollateral(key: string, bytes: Uint8Array, expires_at: number): Promise<void>;
  /** The cached entry, expired or not: expiry is the caller's decision, with its own clock. */
  getCollateral(key: string): Promise<CollateralEntry | undefined>;

  /** Store bytes under their SHA-256; returns the lowercase hex digest. */
  putBlob(bytes: Uint8Array): Promise<string>;
  /** The bytes whose SHA-256 is `hex` (64 lowercase hex digits), or undefined. */
  getBlob(hex: string): Promise<Uint8Array | undefined>;

  close(): Promise<void>;
}

/** API key format: `ag_<16 hex id>_<43 base64url secret (32 bytes)>`. */
export const API_KEY_PATTERN = /^ag_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
export const TENANT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
