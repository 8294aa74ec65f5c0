/** The Node default for merkle.ts's injected hash: one-shot SHA-256 from node:crypto. */
import { hash } from 'node:crypto';
import type { HashFn } from './merkle.ts';

/**
 * SHA-256 as a plain Uint8Array. The digest is copied out of the Buffer so no caller can reach a
 * shared pool through `.buffer` (32 bytes; the copy costs nothing next to the hash).
 */
export const sha256: HashFn = (data) => new Uint8Array(hash('sha256', data, 'buffer'));
