/**
 * Checkpoints as C2SP signed notes, pure: no Node modules. SHA-256 is injected (as in merkle.ts)
 * and signatures go through small signer/verifier interfaces, so the browser client can verify
 * with WebCrypto (its Ed25519 verify is async: `NoteVerifier.verify` may return a Promise).
 * `ed25519-node.ts` supplies the Node signer and verifier.
 *
 * Formats (https://c2sp.org/tlog-checkpoint, https://c2sp.org/signed-note):
 *   note text     <origin>\n<tree size, decimal, no leading zeros>\n<base64 root hash>\n[extension lines\n]
 *   signed note   <note text>\n— <key name> <base64(uint32 key ID, big-endian || signature)>\n ...
 *   key ID        SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4]
 *   verifier key  <name>+<key ID, 8 hex digits>+<base64(0x01 || public key)>   (golang.org/x/mod/sumdb/note)
 *   signer key    PRIVATE+KEY+<name>+<key ID>+<base64(0x01 || 32-byte seed)>    (same package)
 *
 * Parsing is strict (canonical base64, no stray characters): a checkpoint is evidence about a log,
 * and two encodings of one checkpoint would let a log show different texts to different auditors.
 */
import { concatBytes, encodeUtf8, fromBase64, toBase64 } from '../../attestation/common/bytes.ts';
import { LogError } from './errors.ts';
import { HASH_SIZE, type HashFn } from './merkle.ts';

/** Signature type byte for Ed25519 in signed-note. */
export const SIG_TYPE_ED25519 = 0x01;
export const ED25519_PUBLIC_KEY_SIZE = 32;
export const ED25519_SIGNATURE_SIZE = 64;
/** signed-note: verifiers MUST accept at least 16 signatures; Go's note package stops at 100. */
export const MAX_NOTE_SIGNATURES = 100;
/** A bound on the whole note so a hostile server cannot make a client parse megabytes. */
export const MAX_NOTE_LENGTH = 1 << 20;

export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly root: Uint8Array;
  /** Opaque extension lines (NOT RECOMMENDED by the spec; we never write any). */
  readonly extensions: readonly string[];
}

export interface NoteSignature {
  readonly name: string;
  /** uint32 key ID. */
  readonly keyId: number;
  /** The signature bytes after the key ID. */
  readonly signature: Uint8Array;
}

export interface Note {
  /** The signed text, including its final newline. */
  readonly text: string;
  readonly signatures: readonly NoteSignature[];
}

export interface NoteSigner {
  readonly name: string;
  readonly keyId: number;
  sign(message: Uint8Array): Uint8Array;
}

export interface NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  /** True when `signature` (key ID already removed) is valid over `message`. */
  verify(message: Uint8Array, signature: Uint8Array): boolean | Promise<boolean>;
}

export interface VerifiedCheckpoint extends Checkpoint {
  /** The note as received. */
  readonly note: string;
  /** Signatures by trusted keys, all verified. */
  readonly signedBy: readonly NoteSignature[];
}

export interface VerifierKey {
  readonly name: string;
  readonly keyId: number;
  /** 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
}

export interface SignerKey {
  readonly name: string;
  /** The key ID the string claims; check it against the derived public key before use. */
  readonly keyId: number;
  /** 32-byte Ed25519 seed (RFC 8032 private key). */
  readonly seed: Uint8Array;
}

function malformed(message: string): LogError {
  return new LogError('ERR_CHECKPOINT_MALFORMED', message);
}

// ---------------------------------------------------------------------------------------------
// Small strict codecs

const EM_DASH_PREFIX = '\u2014 ';
const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DECIMAL_RE = /^(?:0|[1-9][0-9]{0,15})$/;
const HEX8_RE = /^[0-9a-fA-F]{8}$/;
// eslint-disable-next-line no-control-regex -- the point is to find control characters
const CONTROL_RE = /[\u0000-\u0009\u000b-\u001f]/;
const LONE_SURROGATE_RE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const WHITE_SPACE_RE = /\p{White_Space}/u;

/** Standard base64 with padding, canonical only (re-encoding gives the same text). */
function decodeBase64(s: string, what: string): Uint8Array {
  if (!B64_RE.test(s)) throw malformed(`${what} is not standard padded base64`);
  let out: Uint8Array;
  try {
    out = fromBase64(s);
  } catch (e: unknown) {
    throw new LogError('ERR_CHECKPOINT_MALFORMED', `${what} is not valid base64`, { cause: e });
  }
  if (toBase64(out) !== s) throw malformed(`${what} is not canonical base64 (non-zero padding bits)`);
  return out;
}

function uint32(b: Uint8Array): number {
  return (((b[0] as number) << 24) | ((b[1] as number) << 16) | ((b[2] as number) << 8) | (b[3] as number)) >>> 0;
}

function uint32Bytes(n: number): Uint8Array {
  return new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** signed-note key names: non-empty, no Unicode white space, no '+'. */
export function isValidKeyName(name: string): boolean {
  return name !== '' && !WHITE_SPACE_RE.test(name) && !name.includes('+') && !LONE_SURROGATE_RE.test(name);
}

// ---------------------------------------------------------------------------------------------
// Checkpoint body

/** The note text of a checkpoint. Throws ERR_CHECKPOINT_MALFORMED on a value the format cannot hold. */
export function formatCheckpoint(cp: {
  readonly origin: string;
  readonly size: number;
  readonly root: Uint8Array;
  readonly extensions?: readonly string[];
}): string {
  if (cp.origin === '' || cp.origin.includes('\n') || CONTROL_RE.test(cp.origin) || LONE_SURROGATE_RE.test(cp.origin)) {
    throw malformed('checkpoint origin must be a non-empty line without control characters');
  }
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) throw malformed(`checkpoint tree size ${String(cp.size)} is not a non-negative safe integer`);
  if (cp.root.length !== HASH_SIZE) throw malformed(`checkpoint root hash is ${cp.root.length} bytes, want ${HASH_SIZE}`);
  const ext = cp.extensions ?? [];
  for (const line of ext) {
    if (line === '' || line.includes('\n') || CONTROL_RE.test(line)) throw malformed('checkpoint extension lines must be non-empty single lines');
  }
  return [cp.origin, String(cp.size), toBase64(cp.root), ...ext].map((l) => l + '\n').join('');
}

/** Parse checkpoint note text (the part before the blank line). */
export function parseCheckpoint(text: string): Checkpoint {
  if (CONTROL_RE.test(text) || LONE_SURROGATE_RE.test(text)) throw malformed('checkpoint text contains control characters or invalid UTF-16');
  if (!text.endsWith('\n')) throw malformed('checkpoint text does not end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw malformed(`checkpoint text has ${lines.length} lines, want at least 3 (origin, tree size, root hash)`);
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin === '') throw malformed('checkpoint origin line is empty');
  if (!DECIMAL_RE.test(sizeText)) throw malformed(`checkpoint tree size line ${JSON.stringify(sizeText.slice(0, 40))} is not a decimal without leading zeros`);
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) throw malformed(`checkpoint tree size ${sizeText} is above 2^53 - 1`);
  const root = decodeBase64(rootText, 'checkpoint root hash');
  if (root.length !== HASH_SIZE) throw malformed(`checkpoint root hash is ${root.length} bytes, want ${HASH_SIZE}`);
  if (extensions.some((l) => l === '')) throw malformed('checkpoint extension lines must be non-empty');
  return { origin, size, root, extensions };
}

// ---------------------------------------------------------------------------------------------
// Signed notes

/** Split a signed note into text and signature lines; no cryptography. */
export function parseNote(note: string): Note {
  // 1. Whole-input checks: bounded size, UTF-8-encodable, no control characters but newline.
  if (note.length > MAX_NOTE_LENGTH) throw malformed(`signed note is ${note.length} characters, the limit is ${MAX_NOTE_LENGTH}`);
  if (LONE_SURROGATE_RE.test(note)) throw malformed('signed note is not valid UTF-8 (lone surrogate)');
  if (CONTROL_RE.test(note)) throw malformed('signed note contains a control character other than newline');
  // 2. The text ends at the last blank line; the signature block follows it.
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw malformed('signed note has no blank line before its signatures');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block === '' || !block.endsWith('\n')) throw malformed('signed note has no signature lines, or they do not end with a newline');
  // 3. Each signature line: "— <name> <base64(key ID || signature)>".
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) throw malformed(`signed note has ${lines.length} signatures, the limit is ${MAX_NOTE_SIGNATURES}`);
  const signatures = lines.map((line, i): NoteSignature => {
    if (!line.startsWith(EM_DASH_PREFIX)) throw malformed(`signature line ${i + 1} does not start with an em dash (U+2014) and a space`);
    const rest = line.slice(EM_DASH_PREFIX.length);
    const sp = rest.indexOf(' ');
    if (sp < 0) throw malformed(`signature line ${i + 1} has no space between key name and signature`);
    const name = rest.slice(0, sp);
    if (!isValidKeyName(name)) throw malformed(`signature line ${i + 1} has an invalid key name`);
    const raw = decodeBase64(rest.slice(sp + 1), `signature line ${i + 1}`);
    if (raw.length < 5) throw malformed(`signature line ${i + 1} is ${raw.length} bytes, want a 4-byte key ID and a signature`);
    return { name, keyId: uint32(raw), signature: raw.slice(4) };
  });
  return { text, signatures };
}

function signatureLine(sig: NoteSignature): string {
  return `${EM_DASH_PREFIX}${sig.name} ${toBase64(concatBytes(uint32Bytes(sig.keyId), sig.signature))}\n`;
}

/** Sign note text with each signer; the text must end with a newline. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  if (!text.endsWith('\n')) throw malformed('note text must end with a newline');
  if (CONTROL_RE.test(text) || LONE_SURROGATE_RE.test(text)) throw malformed('note text contains control characters or invalid UTF-16');
  if (signers.length === 0) throw malformed('a signed note needs at least one signer');
  const message = encodeUtf8(text);
  const lines = signers.map((s) => {
    if (!isValidKeyName(s.name)) throw malformed(`signer key name ${JSON.stringify(s.name)} is empty or contains white space or '+'`);
    return signatureLine({ name: s.name, keyId: s.keyId, signature: s.sign(message) });
  });
  return `${text}\n${lines.join('')}`;
}

/** The signed note of a checkpoint. */
export function signCheckpoint(
  cp: { readonly origin: string; readonly size: number; readonly root: Uint8Array },
  signer: NoteSigner,
): string {
  return signNote(formatCheckpoint(cp), [signer]);
}

/**
 * signed-note verification rules: signatures from unknown keys (name and key ID not both known)
 * are ignored; a known key's signature must verify, else the whole note is rejected; at least
 * one known signature must be present. Returns the verified signatures.
 */
export async function verifyNoteSignatures(note: Note, verifiers: readonly NoteVerifier[]): Promise<NoteSignature[]> {
  const message = encodeUtf8(note.text);
  const verified: NoteSignature[] = [];
  for (const sig of note.signatures) {
    const matches = verifiers.filter((v) => v.name === sig.name && v.keyId === sig.keyId);
    if (matches.length === 0) continue;
    // Two trusted keys with one name and ID: the trust list itself is wrong; refuse to guess.
    if (matches.length > 1) throw new LogError('ERR_CHECKPOINT_SIGNATURE', `two trusted keys are named ${sig.name}+${hex8(sig.keyId)}`);
    if (verified.some((s) => s.name === sig.name && s.keyId === sig.keyId)) continue;
    const ok = await (matches[0] as NoteVerifier).verify(message, sig.signature);
    if (!ok) throw new LogError('ERR_CHECKPOINT_SIGNATURE', `signature by ${sig.name}+${hex8(sig.keyId)} does not verify`);
    verified.push(sig);
  }
  if (verified.length === 0) throw new LogError('ERR_CHECKPOINT_SIGNATURE', 'the note has no signature from a trusted key');
  return verified;
}

/**
 * Verify a signed checkpoint:
 *   1. parse the note (size, characters, signature lines)            ERR_CHECKPOINT_MALFORMED
 *   2. parse the checkpoint text                                      ERR_CHECKPOINT_MALFORMED
 *   3. the origin is the expected log's (when `origin` is given)      ERR_CHECKPOINT_MALFORMED
 *   4. signatures by trusted keys verify, at least one present        ERR_CHECKPOINT_SIGNATURE
 * Cheap structure checks come before any cryptography.
 */
export async function verifyCheckpoint(
  note: string,
  verifiers: readonly NoteVerifier[],
  options: { readonly origin?: string } = {},
): Promise<VerifiedCheckpoint> {
  const parsed = parseNote(note);
  const cp = parseCheckpoint(parsed.text);
  // A log's key may sign several logs; a checkpoint of another log must not pass for this one.
  if (options.origin !== undefined && cp.origin !== options.origin) {
    throw malformed(`checkpoint origin is ${JSON.stringify(cp.origin)}, want ${JSON.stringify(options.origin)}`);
  }
  const signedBy = await verifyNoteSignatures(parsed, verifiers);
  return { ...cp, note, signedBy };
}

// ---------------------------------------------------------------------------------------------
// Keys

/** signed-note key ID: SHA-256(name || 0x0A || type || public key)[:4], big-endian. */
export function noteKeyId(hash: HashFn, name: string, sigType: number, publicKey: Uint8Array): number {
  return uint32(hash(concatBytes(encodeUtf8(name), new Uint8Array([0x0a, sigType]), publicKey)));
}

/** `<name>+<key ID hex>+<base64(0x01 || public key)>` for an Ed25519 key. */
export function formatVerifierKey(hash: HashFn, name: string, publicKey: Uint8Array): string {
  if (!isValidKeyName(name)) throw malformed(`key name ${JSON.stringify(name)} is empty or contains white space or '+'`);
  if (publicKey.length !== ED25519_PUBLIC_KEY_SIZE) throw malformed(`Ed25519 public key is ${publicKey.length} bytes, want ${ED25519_PUBLIC_KEY_SIZE}`);
  const typed = concatBytes(new Uint8Array([SIG_TYPE_ED25519]), publicKey);
  return `${name}+${hex8(noteKeyId(hash, name, SIG_TYPE_ED25519, publicKey))}+${toBase64(typed)}`;
}

function chop(s: string): [string, string] {
  const i = s.indexOf('+');
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

function parseTypedKey(hash16: string, key64: string, what: string): { keyId: number; key: Uint8Array } {
  if (!HEX8_RE.test(hash16)) throw malformed(`${what} key ID ${JSON.stringify(hash16.slice(0, 16))} is not 8 hex digits`);
  const typed = decodeBase64(key64, `${what} key material`);
  if (typed[0] !== SIG_TYPE_ED25519) throw malformed(`${what} has signature type ${String(typed[0])}, only Ed25519 (1) is supported`);
  if (typed.length !== 1 + ED25519_PUBLIC_KEY_SIZE) throw malformed(`${what} Ed25519 key is ${typed.length - 1} bytes, want ${ED25519_PUBLIC_KEY_SIZE}`);
  return { keyId: Number.parseInt(hash16, 16), key: typed.slice(1) };
}

/** Parse an Ed25519 verifier key string and check its key ID. */
export function parseVerifierKey(hash: HashFn, vkey: string): VerifierKey {
  const [name, rest] = chop(vkey);
  const [hash16, key64] = chop(rest);
  if (!isValidKeyName(name)) throw malformed('verifier key name is empty or contains white space or \'+\'');
  const { keyId, key } = parseTypedKey(hash16, key64, 'verifier key');
  const want = noteKeyId(hash, name, SIG_TYPE_ED25519, key);
  if (keyId !== want) throw malformed(`verifier key ID is ${hex8(keyId)}, want ${hex8(want)} (from the name and public key)`);
  return { name, keyId, publicKey: key };
}

/**
 * Parse a `PRIVATE+KEY+...` signer key (as golang.org/x/mod/sumdb/note GenerateKey writes it).
 * The key ID cannot be checked without deriving the public key; ed25519-node.ts does that.
 */
export function parseSignerKey(skey: string): SignerKey {
  const [p1, r1] = chop(skey);
  const [p2, r2] = chop(r1);
  const [name, r3] = chop(r2);
  const [hash16, key64] = chop(r3);
  if (p1 !== 'PRIVATE' || p2 !== 'KEY') throw malformed('signer key does not start with PRIVATE+KEY+');
  if (!isValidKeyName(name)) throw malformed('signer key name is empty or contains white space or \'+\'');
  const { keyId, key } = parseTypedKey(hash16, key64, 'signer key');
  return { name, keyId, seed: key };
}

/** Hex of a key ID, as verifier keys write it. */
export function formatKeyId(keyId: number): string {
  return hex8(keyId);
}
