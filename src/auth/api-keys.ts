/**
 * Who is calling: an API key in `Authorization: Bearer ag_...` or `x-api-key: ag_...`, checked
 * against the store. Express-agnostic: the caller passes the (lower-cased, Node-style) headers and
 * the socket's remote address, and maps a returned AppError to HTTP itself.
 *
 * Demo mode lets a loopback client in without a key as tenant `demo`, so that `attestgate demo`
 * works out of the box. It trusts the socket address only, never X-Forwarded-For (a header any
 * client can write); behind a reverse proxy on the same host every request would come from
 * loopback, so demo mode must not be used behind one (docs/configuration.md says so).
 *
 * A presented key is always checked, in demo mode too: a wrong key is an error, not a silent
 * downgrade to `demo`. Messages never contain the key (they reach logs and clients).
 */
import { BlockList, isIP } from 'node:net';
import { AppError } from '../errors.ts';
import type { Store } from '../store/store.ts';

export const DEMO_TENANT = 'demo';

export type Headers = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface AuthOptions {
  readonly store: Pick<Store, 'verifyApiKey'>;
  readonly demo: boolean;
}

export interface Principal {
  readonly tenant: string;
  /** The API key's public id; undefined for the demo tenant. */
  readonly keyId?: string;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
// BlockList matches IPv4-mapped IPv6 (::ffff:127.0.0.1) against the IPv4 subnet.

/** 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104; anything unparsable is not loopback. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  try {
    return LOOPBACK.check(address, family === 4 ? 'ipv4' : 'ipv6');
  } catch {
    return false;
  }
}

const MAX_KEY_CHARS = 256;

function unauthenticated(message: string): AppError {
  return new AppError('ERR_UNAUTHENTICATED', message);
}

function single(v: string | readonly string[] | undefined): string | undefined | null {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  // Repeated headers: ambiguous, so refuse rather than pick one.
  return v.length === 1 ? (v[0] ?? null) : null;
}

/** The presented key, undefined if none, or an AppError for a malformed presentation. */
function presentedKey(headers: Headers): string | undefined | AppError {
  const auth = single(headers['authorization']);
  const xkey = single(headers['x-api-key']);
  if (auth === null || xkey === null) return unauthenticated('send the API key once');
  let fromAuth: string | undefined;
  if (auth !== undefined) {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(auth);
    if (m?.[1] === undefined) return unauthenticated('Authorization must be "Bearer <API key>"');
    fromAuth = m[1];
  }
  const fromHeader = xkey?.trim();
  if (fromAuth !== undefined && fromHeader !== undefined) return unauthenticated('send the API key in Authorization or x-api-key, not both');
  const key = fromAuth ?? fromHeader;
  if (key === '') return unauthenticated('empty API key');
  return key;
}

export async function authenticate(headers: Headers, remoteAddress: string | undefined, opts: AuthOptions): Promise<Principal | AppError> {
  const key = presentedKey(headers);
  if (AppError.is(key)) return key;
  if (key === undefined) {
    if (opts.demo && isLoopback(remoteAddress)) return { tenant: DEMO_TENANT };
    return unauthenticated('an API key is required (Authorization: Bearer <key> or x-api-key)');
  }
  // Length bound before hashing: the store hashes whatever it is given.
  if (key.length > MAX_KEY_CHARS || !key.startsWith('ag_')) return unauthenticated('invalid API key');
  let found: { readonly tenant: string; readonly id: string } | undefined;
  try {
    found = await opts.store.verifyApiKey(key);
  } catch (e: unknown) {
    // A store failure is not the client's fault: ERR_STORE_IO (503) rather than 401.
    if (AppError.is(e)) return e;
    return new AppError('ERR_INTERNAL', 'API key check failed', { cause: e });
  }
  // Unknown and revoked keys get the same answer: a client learns nothing about which.
  if (found === undefined) return unauthenticated('invalid or revoked API key');
  return { tenant: found.tenant, keyId: found.id };
}
