/**
 * `attestgate keys create <tenant> | list | revoke <id>` over a Store the caller opens (main.ts
 * wires it; this file imports only the Store type, so the CLI's verifier part stays free of
 * SQLite).
 *
 * `create` prints the key once: alone on stdout so that scripts can capture it
 * (`KEY=$(attestgate keys create acme)`), with the notes on stderr. It cannot be shown again;
 * only its SHA-256 is stored.
 *
 * Exit status: 0 done, 1 no such key (revoke), 2 usage or store error.
 */
import { AppError } from '../errors.ts';
import type { Store } from '../store/store.ts';

export interface KeysIo {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
}

export const KEYS_USAGE = `usage:
  attestgate keys create <tenant> [--json]   create an API key (printed once)
  attestgate keys list [--json]              list keys (ids and tenants, never secrets)
  attestgate keys revoke <id>                revoke a key by its id
`;

type KeysStore = Pick<Store, 'createApiKey' | 'listApiKeys' | 'revokeApiKey'>;

export async function keysCreate(store: KeysStore, tenant: string, io: KeysIo, opts: { readonly json?: boolean } = {}): Promise<number> {
  const key = await store.createApiKey(tenant);
  if (opts.json === true) {
    io.out(`${JSON.stringify({ id: key.id, tenant: key.tenant, key: key.secret })}\n`);
  } else {
    io.out(`${key.secret}\n`);
  }
  io.err(`created API key ${key.id} for tenant ${key.tenant}; store it now, it is shown only once\n`);
  return 0;
}

export async function keysList(store: KeysStore, io: KeysIo, opts: { readonly json?: boolean } = {}): Promise<number> {
  const keys = await store.listApiKeys();
  if (opts.json === true) {
    io.out(`${JSON.stringify(keys)}\n`);
    return 0;
  }
  const iso = (t: number): string => new Date(t).toISOString();
  const rows = keys.map((k) => [k.id, k.tenant, iso(k.created_at), k.revoked_at === null ? 'active' : `revoked ${iso(k.revoked_at)}`]);
  const table = [['ID', 'TENANT', 'CREATED', 'STATUS'], ...rows];
  const widths = [0, 1, 2].map((c) => Math.max(...table.map((r) => (r[c] ?? '').length)));
  for (const r of table) io.out(`${r.map((cell, c) => (c < 3 ? cell.padEnd(widths[c] ?? 0) : cell)).join('  ')}\n`);
  return 0;
}

export async function keysRevoke(store: KeysStore, id: string, io: KeysIo): Promise<number> {
  if (await store.revokeApiKey(id)) {
    io.out(`revoked ${id}\n`);
    return 0;
  }
  io.err(`no API key with id ${id} (see \`attestgate keys list\`)\n`);
  return 1;
}

/** `args` are the words after `keys`. Store errors are reported, not thrown. */
export async function runKeysCommand(args: readonly string[], store: KeysStore, io: KeysIo): Promise<number> {
  const json = args.includes('--json');
  const words = args.filter((a) => a !== '--json');
  const unknownFlag = words.find((a) => a.startsWith('-'));
  if (unknownFlag !== undefined) {
    io.err(`unknown option ${unknownFlag}\n${KEYS_USAGE}`);
    return 2;
  }
  const [sub, arg, extra] = words;
  try {
    if (sub === 'create' && arg !== undefined && extra === undefined) return await keysCreate(store, arg, io, { json });
    if (sub === 'list' && arg === undefined) return await keysList(store, io, { json });
    if (sub === 'revoke' && arg !== undefined && extra === undefined && !json) return await keysRevoke(store, arg, io);
  } catch (e: unknown) {
    if (AppError.is(e)) {
      io.err(`${e.code}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  io.err(KEYS_USAGE);
  return 2;
}
