/**
 * Hashing and encodings for the client verifier, without Node modules or Buffer, so the same code
 * runs in a browser:
 *   - sha256 / sha256Hex: WebCrypto (`crypto.subtle.digest`), for request, response, receipt and
 *     evidence digests (any size);
 *   - sha256Sync: the synchronous SHA-256 (FIPS 180-4) in plain TypeScript of src/audit/sha256-pure.ts, for the Merkle
 *     hashing of src/audit/merkle.ts and the signed-note key IDs of checkpoint.ts, whose hash is
 *     injected and synchronous, and for small inputs (a receipt, a small answer) where a round trip
 *     to WebCrypto costs more than the hash.
 */
import { fromBase64, toBase64, toHex } from '../../attestation/common/bytes.ts';
import { sha256 as pureSha256 } from '../audit/sha256-pure.ts';

/**
 * The bytes as WebCrypto's BufferSource (DOM typings want an ArrayBuffer-backed view; a view over a
 * SharedArrayBuffer is copied).
 */
export function bufferSource(u: Uint8Array): Uint8Array<ArrayBuffer> {
  return u.buffer instanceof ArrayBuffer ? (u as Uint8Array<ArrayBuffer>) : new Uint8Array(u);
}

/** SHA-256 through WebCrypto. */
export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bufferSource(data)));
}

/** Below this size the synchronous hash beats a round trip to WebCrypto (which runs off-thread in Node). */
const SYNC_LIMIT = 2048;

/** Lowercase hex SHA-256 of bytes or of a string's UTF-8. */
export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  return toHex(bytes.length <= SYNC_LIMIT ? sha256Sync(bytes) : await sha256(bytes));
}

/** Synchronous SHA-256 (a HashFn for merkle.ts and checkpoint.ts): the log's pure implementation, which runs in the browser too. */
export const sha256Sync = pureSha256;

/**
 * Equality of two strings without an early exit (measurements, digests): the length is public
 * (fixed-width values), the content is compared in full.
 */
export function equalText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

/** Strict base64url (RFC 4648 §5, no padding) → bytes; undefined when the text is not canonical. */
export function fromBase64Url(s: string): Uint8Array | undefined {
  if (!B64URL.test(s) || s.length % 4 === 1) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(s.replace(/-/g, '+').replace(/_/g, '/'));
  } catch {
    return undefined;
  }
  // Non-zero padding bits would give two spellings of one value: refuse them.
  return toBase64Url(bytes) === s ? bytes : undefined;
}

export function toBase64Url(b: Uint8Array): string {
  return toBase64(b).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Standard base64 (padded) → bytes; undefined when not canonical. */
export function fromBase64Strict(s: string): Uint8Array | undefined {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) return undefined;
  try {
    return fromBase64(s);
  } catch {
    return undefined;
  }
}
