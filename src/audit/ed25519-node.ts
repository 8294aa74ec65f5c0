/**
 * Ed25519 note signers and verifiers on node:crypto, for checkpoint.ts's interfaces. The only
 * Node-specific part of checkpoint handling; a browser client supplies a WebCrypto verifier instead.
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { concatBytes } from '../../attestation/common/bytes.ts';
import {
  ED25519_PUBLIC_KEY_SIZE,
  ED25519_SIGNATURE_SIZE,
  formatKeyId,
  formatVerifierKey,
  noteKeyId,
  parseSignerKey,
  parseVerifierKey,
  SIG_TYPE_ED25519,
  type NoteSigner,
  type NoteVerifier,
} from './checkpoint.ts';
import { LogError } from './errors.ts';
import { sha256 } from './sha256-node.ts';

// DER prefixes of RFC 8410 structures around a raw 32-byte Ed25519 key.
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

/** Node's Ed25519 verification is synchronous; callers that cannot await may rely on it. */
export interface SyncNoteVerifier extends NoteVerifier {
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

export interface Ed25519NoteSigner extends NoteSigner {
  readonly publicKey: Uint8Array;
  /** `<name>+<key ID>+<base64(0x01 || public key)>`: what auditors configure to trust this log. */
  readonly verifierKey: string;
}

function badKey(message: string, cause?: unknown): LogError {
  return new LogError('ERR_CHECKPOINT_MALFORMED', message, cause === undefined ? {} : { cause });
}

/** An Ed25519 private KeyObject from a 32-byte RFC 8032 seed. */
export function ed25519PrivateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw badKey(`Ed25519 seed is ${seed.length} bytes, want 32`);
  return createPrivateKey({ key: Buffer.from(concatBytes(PKCS8_PREFIX, seed)), format: 'der', type: 'pkcs8' });
}

/** The raw 32-byte public key of an Ed25519 KeyObject (private or public). */
export function ed25519PublicKeyBytes(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const der = pub.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(SPKI_PREFIX.length));
}

/**
 * A note signer for `name` from an Ed25519 private KeyObject or its 32-byte seed. Throws
 * ERR_CHECKPOINT_MALFORMED for any other key, so a misconfigured key fails at startup, not at the
 * first checkpoint.
 */
export function createNoteSigner(name: string, privateKey: KeyObject | Uint8Array): Ed25519NoteSigner {
  let key: KeyObject;
  try {
    key = privateKey instanceof Uint8Array ? ed25519PrivateKeyFromSeed(privateKey) : privateKey;
  } catch (e: unknown) {
    if (LogError.is(e)) throw e;
    throw badKey('the checkpoint signing key is not a valid Ed25519 seed', e);
  }
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519') {
    throw badKey(`the checkpoint signing key must be an Ed25519 private key, got a ${key.type} ${String(key.asymmetricKeyType)} key`);
  }
  const publicKey = ed25519PublicKeyBytes(key);
  const verifierKey = formatVerifierKey(sha256, name, publicKey);
  return {
    name,
    keyId: noteKeyId(sha256, name, SIG_TYPE_ED25519, publicKey),
    publicKey,
    verifierKey,
    sign: (message) => new Uint8Array(sign(null, message, key)),
  };
}

/** A note signer from a `PRIVATE+KEY+<name>+<id>+<key>` string; checks the key ID. */
export function createNoteSignerFromKey(skey: string): Ed25519NoteSigner {
  const parsed = parseSignerKey(skey);
  const signer = createNoteSigner(parsed.name, parsed.seed);
  if (signer.keyId !== parsed.keyId) {
    throw badKey(`signer key ID is ${formatKeyId(parsed.keyId)}, want ${formatKeyId(signer.keyId)} (from the name and derived public key)`);
  }
  return signer;
}

/** A verifier for an Ed25519 public key under `name`. */
export function ed25519NoteVerifier(name: string, publicKey: Uint8Array): SyncNoteVerifier {
  if (publicKey.length !== ED25519_PUBLIC_KEY_SIZE) throw badKey(`Ed25519 public key is ${publicKey.length} bytes, want ${ED25519_PUBLIC_KEY_SIZE}`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(concatBytes(SPKI_PREFIX, publicKey)), format: 'der', type: 'spki' });
  } catch (e: unknown) {
    throw badKey('not a valid Ed25519 public key', e);
  }
  return {
    name,
    keyId: noteKeyId(sha256, name, SIG_TYPE_ED25519, publicKey),
    verify: (message, signature) => signature.length === ED25519_SIGNATURE_SIZE && verify(null, message, key, signature),
  };
}

/** A verifier from a verifier key string (`<name>+<id>+<base64(0x01 || key)>`). */
export function createNoteVerifier(vkey: string): SyncNoteVerifier {
  const parsed = parseVerifierKey(sha256, vkey);
  return ed25519NoteVerifier(parsed.name, parsed.publicKey);
}
