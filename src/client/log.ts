/**
 * Checking that a receipt is in the gateway's transparency log, with WebCrypto only (Ed25519 note
 * signatures through `crypto.subtle`, Merkle hashing through the synchronous SHA-256 of digest.ts),
 * so it runs unchanged in a browser. The Merkle and signed-note code is src/audit's, shared with the
 * log itself:
 *   1. the checkpoint is a C2SP signed note with a valid signature by the trusted log key
 *   2. the proof bundle's tree size is the checkpoint's
 *   3. the leaf is this receipt's entry: canonical JSON {"kind":"receipt", id, receipt_sha256,
 *      attestation, ...} naming the receipt's id, the SHA-256 of its compact JWS and the attestation
 *   4. the inclusion proof leads from the leaf's hash at its index to the checkpoint's root
 */
import { canonicalJson } from '../../attestation/policy/digest.ts';
import { parseVerifierKey, verifyCheckpoint, ED25519_SIGNATURE_SIZE, type NoteVerifier, type VerifiedCheckpoint } from '../audit/checkpoint.ts';
import { leafHash, verifyInclusion } from '../audit/merkle.ts';
import type { AnswerCache } from './cache.ts';
import { bufferSource, fromBase64Strict, sha256Sync } from './digest.ts';
import type { ProofBundle } from './record.ts';
import { StepFailure } from './report.ts';

/** A signed-note verifier for an Ed25519 verifier key string, on WebCrypto. */
export async function webCryptoNoteVerifier(vkey: string): Promise<NoteVerifier> {
  const parsed = parseVerifierKey(sha256Sync, vkey);
  const key = await crypto.subtle.importKey('raw', bufferSource(parsed.publicKey), { name: 'Ed25519' }, false, ['verify']);
  return {
    name: parsed.name,
    keyId: parsed.keyId,
    verify: async (message, signature) =>
      signature.length === ED25519_SIGNATURE_SIZE && (await crypto.subtle.verify({ name: 'Ed25519' }, key, bufferSource(signature), bufferSource(message))),
  };
}

/** Verify a checkpoint with one key (cached by key and note text: a checkpoint serves many receipts). */
export function verifiedCheckpoint(cache: AnswerCache, note: string, vkey: string, origin: string | undefined): Promise<VerifiedCheckpoint> {
  return cache.memo(
    `checkpoint|${vkey}|${origin ?? ''}|${note}`,
    async () => verifyCheckpoint(note, [await webCryptoNoteVerifier(vkey)], origin === undefined ? {} : { origin }),
    { keepFailures: true },
  );
}

export interface ExpectedEntry {
  readonly receiptId: string;
  readonly receiptSha256: string;
  readonly attestationId: string;
  /** The log index the gateway's countersignature states, when it states one. */
  readonly logIndex: number | undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Steps 2-4 against a verified checkpoint; throws StepFailure or LogError. Returns the entry index. */
export function checkInclusion(proof: ProofBundle, cp: VerifiedCheckpoint, want: ExpectedEntry): number {
  const { log } = proof;
  // 2. One tree: the proof is for the checkpoint's size.
  if (log.tree_size !== cp.size) throw new StepFailure('ERR_LOG_BAD_PROOF', `proof is for tree size ${log.tree_size}, the checkpoint is of size ${cp.size}`);
  if (log.index !== proof.receipt.log_index) throw new StepFailure('ERR_LOG_ENTRY_MISMATCH', `proof is for entry ${log.index}, the receipt record names entry ${proof.receipt.log_index}`);
  if (want.logIndex !== undefined && log.index !== want.logIndex) throw new StepFailure('ERR_LOG_ENTRY_MISMATCH', `proof is for entry ${log.index}, the gateway's countersignature names entry ${want.logIndex}`);
  // 3. The leaf is this receipt's entry, in the one canonical encoding the log writes.
  const leaf = fromBase64Strict(log.leaf);
  if (leaf === undefined) throw new StepFailure('ERR_LOG_BAD_PROOF', 'log leaf is not base64');
  let entry: unknown;
  let text: string;
  try {
    text = utf8.decode(leaf);
    entry = JSON.parse(text);
  } catch {
    throw new StepFailure('ERR_LOG_ENTRY_MISMATCH', 'log leaf is not JSON');
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry) || canonicalJson(entry) !== text) {
    throw new StepFailure('ERR_LOG_ENTRY_MISMATCH', 'log leaf is not a canonical JSON object');
  }
  const e = entry as Readonly<Record<string, unknown>>;
  const mismatch = (field: string, got: unknown, wantV: string): StepFailure =>
    new StepFailure('ERR_LOG_ENTRY_MISMATCH', `log entry ${log.index} ${field} is ${JSON.stringify(got)}, want ${JSON.stringify(wantV)}`);
  if (e['kind'] !== 'receipt') throw mismatch('kind', e['kind'], 'receipt');
  if (e['id'] !== want.receiptId) throw mismatch('id', e['id'], want.receiptId);
  if (e['receipt_sha256'] !== want.receiptSha256) throw mismatch('receipt_sha256', e['receipt_sha256'], want.receiptSha256);
  if (e['attestation'] !== want.attestationId) throw mismatch('attestation', e['attestation'], want.attestationId);
  // 4. The path from the leaf to the signed root.
  const hashes = log.proof.map((p, i) => {
    const h = fromBase64Strict(p);
    if (h === undefined) throw new StepFailure('ERR_LOG_BAD_PROOF', `proof[${i}] is not base64`);
    return h;
  });
  verifyInclusion(sha256Sync, log.index, cp.size, leafHash(sha256Sync, leaf), hashes, cp.root);
  return log.index;
}
