/**
 * AWS Nitro Enclaves attestation document verification, as numbered steps. Each step fails with
 * its own `reason`; the first failure stops verification. Structure and schema come before any
 * cryptography, and the debug decision after every cryptographic check, so that `allowDebug`
 * reports exactly what the document would otherwise get.
 *
 *  1. decode: COSE_Sign1 (tagged or not), protected header alg = ES384, payload schema (parse.ts)
 *  2. certificates: the leaf (`certificate`) and every `cabundle` entry parse as X.509
 *  3. bundle order: cabundle is root first and each entry issues the next, the last one the leaf
 *     (AWS documents this order; the host controls the bundle, so a reordered one is refused)
 *  4. chain: leaf <- cabundle reversed <- the pinned AWS Nitro root (by DER; cabundle[0] is just
 *     untrusted input), every certificate valid at the verification time
 *  5. signature: ES384, raw r||s (96 bytes), over Sig_structure
 *     ["Signature1", protected, h'', payload] built from the bytes exactly as received
 *  6. debug document (PCR0 all zero) refused unless allowDebug
 *
 * The attacker is whoever relays the document (the parent instance, the network): they choose
 * every byte, including the certificates, so trust comes only from the pinned root or the anchors
 * the caller names.
 */
import { concatBytes, encodeUtf8, equalBytes, toHex } from '../common/bytes.ts';
import { sha256, verifySignature } from '../common/crypto.ts';
import { parseCertificate, publicKeyOf, verifyChain, type Certificate, type TrustAnchor } from '../common/x509.ts';
import { PolicyError, VerificationError } from '../errors.ts';
import { pinnedAnchor } from '../roots/index.ts';
import { AWS_NITRO_ROOT_G1 } from '../roots/aws-nitro-root.ts';
import { anchorInfo, isoTime, timeOf, type CollateralDigest, type EvidenceResult, type VerifyOptions } from '../result.ts';
import { CBOR_MAJOR, encodeHead } from './cbor.ts';
import { isDebug, nitroClaims } from './claims.ts';
import { parseNitroDocument, type NitroDocument } from './parse.ts';

/** ES384 signatures in COSE are the fixed-width concatenation r || s (RFC 9053 section 2.1). */
export const ES384_SIGNATURE_LENGTH = 96;
const CERT_REASON = 'malformed_certificate';
const KU_DIGITAL_SIGNATURE = 1 << 0;

/** Sig_structure for COSE_Sign1 (RFC 9052 section 4.4), with empty external_aad. */
export function sigStructure(protectedBytes: Uint8Array, payloadBytes: Uint8Array): Uint8Array {
  const context = encodeUtf8('Signature1');
  return concatBytes(
    encodeHead(CBOR_MAJOR.array, 4),
    encodeHead(CBOR_MAJOR.text, context.length),
    context,
    encodeHead(CBOR_MAJOR.bytes, protectedBytes.length),
    protectedBytes,
    encodeHead(CBOR_MAJOR.bytes, 0),
    encodeHead(CBOR_MAJOR.bytes, payloadBytes.length),
    payloadBytes,
  );
}

export async function verifyNitro(document: Uint8Array, opts: VerifyOptions): Promise<EvidenceResult> {
  const at = timeOf(opts.at);
  const step = opts.onStep ?? ((): void => undefined);

  // Step 1: decode and schema-check. Nothing below sees unchecked structure.
  const doc = parseNitroDocument(document);
  step(`COSE_Sign1 (${doc.tagged ? 'tagged' : 'untagged'}) decoded; alg ES384; payload schema valid`);

  // Step 2: certificates.
  const leaf = parseCertificate(doc.payload.certificate, 'certificate', CERT_REASON);
  const bundle = doc.payload.cabundle.map((der, i) => parseCertificate(der, `cabundle[${i}]`, CERT_REASON));

  // Step 3: bundle order.
  checkBundleOrder(leaf, bundle);
  step(`cabundle of ${bundle.length} certificates is in order, root first`);

  // Step 4: chain to the trust anchor at the verification time.
  const anchors: readonly TrustAnchor[] = opts.trustAnchors ?? [await pinnedAnchor(AWS_NITRO_ROOT_G1)];
  const { path, anchor } = await verifyChain([leaf, ...bundle.slice().reverse()], anchors, { at, what: 'Nitro certificate chain' });
  if (leaf.keyUsage !== undefined && (leaf.keyUsage & KU_DIGITAL_SIGNATURE) === 0) {
    throw new VerificationError('ERR_CHAIN_UNTRUSTED', `certificate "${leaf.subject.text}" keyUsage lacks digitalSignature, want it to sign documents`, {
      reason: 'leaf_key_usage',
    });
  }
  step(`certificate chain verified to ${anchor.name}${anchor.pinned ? ' (pinned)' : ' (explicitly named trust anchor)'}`);

  // Step 5: the COSE signature by the leaf's key.
  await checkSignature(doc, leaf);
  step('COSE_Sign1 signature verified with the leaf key');

  // Step 6: debug documents are authentic but not acceptable unless explicitly allowed.
  const debug = isDebug(doc.payload);
  if (debug && opts.allowDebug !== true) {
    throw new PolicyError('ERR_DEBUG_REFUSED', 'PCR0 is all zero: the enclave runs in debug mode and its memory is readable by the parent (use allowDebug to accept)', {
      reason: 'debug_enclave',
    });
  }
  step(debug ? 'debug enclave accepted because allowDebug is set' : 'not a debug enclave');

  return {
    verdict: 'ok',
    tee: 'nitro',
    tcb_status: null,
    advisory_ids: [],
    claims: nitroClaims(doc.payload),
    trust_anchor: anchorInfo(anchor),
    simulated: anchor.simulated,
    collateral: await Promise.all(path.map((c, i) => certDigest(c, i === 0 ? 'nitro.certificate' : i === path.length - 1 ? 'nitro.root' : 'nitro.cabundle'))),
    debug_allowed: debug,
    expires_at: isoTime(Math.min(...path.map((c) => c.notAfter))),
  };
}

/**
 * AWS: cabundle = [ROOT_CERT, INTERM_1, ..., INTERM_N], and INTERM_N issues the leaf. verifyChain
 * searches its pool by name and would accept any order, so the order is checked here, and subjects
 * must be unique so that the path verifyChain finds is exactly this one.
 */
function checkBundleOrder(leaf: Certificate, bundle: readonly Certificate[]): void {
  const chain = [...bundle, leaf];
  const subjects = new Set<string>();
  for (const c of chain) {
    const s = toHex(c.subject.der);
    if (subjects.has(s)) {
      throw new VerificationError('ERR_CHAIN_UNTRUSTED', `cabundle: subject "${c.subject.text}" appears twice, want unique subjects`, { reason: 'chain_order' });
    }
    subjects.add(s);
  }
  for (let i = 1; i < chain.length; i++) {
    const issuer = chain[i - 1] as Certificate;
    const c = chain[i] as Certificate;
    if (!equalBytes(c.issuer.der, issuer.subject.der)) {
      const what = i === chain.length - 1 ? 'certificate' : `cabundle[${i}]`;
      throw new VerificationError(
        'ERR_CHAIN_UNTRUSTED',
        `cabundle order: ${what} is issued by "${c.issuer.text}", want cabundle[${i - 1}] "${issuer.subject.text}" (root first, each entry issues the next)`,
        { reason: 'chain_order' },
      );
    }
  }
}

async function checkSignature(doc: NitroDocument, leaf: Certificate): Promise<void> {
  // A DER-encoded ECDSA-Sig-Value (as X.509 uses) is not a COSE signature; no re-encoding here.
  const ok =
    doc.signature.length === ES384_SIGNATURE_LENGTH &&
    (await verifySignature('ecdsa-p384-sha384', await publicKeyOf(leaf.spki), sigStructure(doc.protectedBytes, doc.payloadBytes), doc.signature, 'raw'));
  if (!ok) {
    throw new VerificationError('ERR_SIGNATURE_INVALID', 'COSE_Sign1 signature does not verify with the leaf certificate key', { reason: 'cose_signature' });
  }
}

async function certDigest(c: Certificate, kind: string): Promise<CollateralDigest> {
  return { kind, sha256: toHex(await sha256(c.der)), valid_from: isoTime(c.notBefore), valid_until: isoTime(c.notAfter) };
}
