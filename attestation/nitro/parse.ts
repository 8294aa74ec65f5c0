/**
 * AWS Nitro Enclaves attestation documents: bytes -> typed structure. No cryptography here.
 *
 * Envelope (RFC 9052 section 4.2), tagged with 18 or not (NSM emits it untagged):
 *   COSE_Sign1 = [ protected: bstr .cbor header_map, unprotected: header_map, payload: bstr, signature: bstr ]
 * The protected header must say alg (label 1) = -35 (ES384, RFC 9053 section 2.1).
 *
 * Payload (AWS Nitro Enclaves User Guide, "Verifying the root of trust", attestation document CDDL):
 *   module_id: text                 non-empty
 *   digest: "SHA384"                the only value AWS defines
 *   timestamp: uint .size 8         milliseconds since the UNIX epoch
 *   pcrs: { + index => pcr }        index 0..31, 1..32 entries; pcr = SHA-384 value (48 bytes)
 *   certificate: cert               DER, 1..1024 bytes
 *   cabundle: [* cert]              root first, then each CA in turn; at least one entry
 *   ? public_key: user_data         user_data = bytes .size (0..1024); absent, null or empty all
 *   ? user_data: user_data          occur in genuine documents (Sui, Marlin, Evervault), so all are
 *   ? nonce: user_data              accepted; empty stays distinct from absent in the claims.
 * The map is closed: a key AWS does not define, or a defined key with another type, is malformed.
 * We keep the protected header and payload exactly as received: the signature covers those bytes,
 * never a re-encoding of what we decoded.
 */
import { malformed, VerificationError } from '../errors.ts';
import { decodeCbor, mapGet, type CborValue } from './cbor.ts';

export const REASON_CBOR = 'malformed_cbor';
export const REASON_COSE = 'cose_structure';
export const REASON_SCHEMA = 'payload_schema';
export const REASON_ALG = 'cose_alg';

/** COSE header label for the algorithm (RFC 9052 section 3.1). */
export const HEADER_ALG = 1n;
/** COSE header label "crit": we understand no critical header parameter, so its presence is refused. */
export const HEADER_CRIT = 2n;
/** ES384: ECDSA with SHA-384 (RFC 9053 section 2.1). */
export const ALG_ES384 = -35n;

export const PCR_LENGTH = 48;
export const PCR_INDEX_MAX = 31;
export const MAX_PCRS = 32;
export const MAX_CERT_LENGTH = 1024;
export const MAX_USER_DATA_LENGTH = 1024;
/** Not in AWS's CDDL: a bound on work. Real bundles have 4 entries. */
export const MAX_CABUNDLE = 16;
/** Not in AWS's CDDL: a bound on work. Real documents are 4-5 KB; the CDDL's own maxima sum to ~25 KB. */
export const MAX_DOCUMENT_LENGTH = 64 * 1024;

export interface NitroPayload {
  readonly module_id: string;
  readonly digest: 'SHA384';
  readonly timestamp: number;
  /** PCR index -> value, ascending by index. */
  readonly pcrs: ReadonlyMap<number, Uint8Array>;
  readonly certificate: Uint8Array;
  /** As received: root first. */
  readonly cabundle: readonly Uint8Array[];
  /** null when absent or CBOR null; an empty array when present and empty. */
  readonly public_key: Uint8Array | null;
  readonly user_data: Uint8Array | null;
  readonly nonce: Uint8Array | null;
}

export interface NitroDocument {
  readonly tagged: boolean;
  /** The protected header bstr's content, exactly as received (copied). */
  readonly protectedBytes: Uint8Array;
  /** The payload bstr's content, exactly as received (copied). */
  readonly payloadBytes: Uint8Array;
  readonly signature: Uint8Array;
  readonly payload: NitroPayload;
}

const PAYLOAD_KEYS = new Set(['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle', 'public_key', 'user_data', 'nonce']);

function schema(msg: string): VerificationError {
  return malformed(`attestation document payload: ${msg}`, REASON_SCHEMA);
}

function cose(msg: string): VerificationError {
  return malformed(`COSE_Sign1: ${msg}`, REASON_COSE);
}

function describe(v: CborValue | undefined): string {
  return v === undefined ? 'absent' : v.kind;
}

export function parseNitroDocument(document: Uint8Array): NitroDocument {
  if (!(document instanceof Uint8Array)) {
    throw new VerificationError('ERR_INVALID_ARGUMENT', 'attestation document must be a Uint8Array', { reason: 'invalid_argument' });
  }
  if (document.length > MAX_DOCUMENT_LENGTH) {
    throw malformed(`attestation document is ${document.length} bytes, want at most ${MAX_DOCUMENT_LENGTH}`, REASON_CBOR);
  }
  // Snapshot the input: the caller may reuse its buffer while we await crypto.
  const bytes = document.slice();
  let top = decodeCbor(bytes, { what: 'COSE_Sign1', reason: REASON_CBOR });
  let tagged = false;
  if (top.kind === 'tag') {
    // decodeCbor admits tag 18 only; it must wrap the whole document, nowhere else.
    tagged = true;
    top = top.value;
  }
  if (top.kind !== 'array' || top.items.length !== 4) {
    throw cose(`top-level item is ${top.kind === 'array' ? `an array of ${top.items.length}` : `a ${top.kind}`}, want an array of 4`);
  }
  const [protectedV, unprotectedV, payloadV, signatureV] = top.items;
  if (protectedV?.kind !== 'bytes') throw cose(`protected header is ${describe(protectedV)}, want a byte string`);
  if (unprotectedV?.kind !== 'map') throw cose(`unprotected header is ${describe(unprotectedV)}, want a map`);
  // RFC 9052 section 4.2: a detached payload is nil; a Nitro document always carries it.
  if (payloadV?.kind !== 'bytes') throw cose(`payload is ${describe(payloadV)}, want a byte string`);
  if (signatureV?.kind !== 'bytes') throw cose(`signature is ${describe(signatureV)}, want a byte string`);

  checkProtectedHeader(protectedV.value);
  // An algorithm in the unprotected bucket would be unauthenticated, and RFC 9052 section 3
  // forbids a label in both buckets: refuse rather than decide which one wins.
  if (mapGet(unprotectedV, HEADER_ALG) !== undefined || mapGet(unprotectedV, HEADER_CRIT) !== undefined) {
    throw cose('unprotected header carries alg or crit, want them only in the protected header');
  }

  return {
    tagged,
    protectedBytes: protectedV.value.slice(),
    payloadBytes: payloadV.value.slice(),
    signature: signatureV.value.slice(),
    payload: parsePayload(payloadV.value),
  };
}

function checkProtectedHeader(bytes: Uint8Array): void {
  // A zero-length protected header means "no protected parameters" (RFC 9052 section 3), hence no
  // authenticated alg: refused below like any header without alg -35.
  const header = bytes.length === 0 ? undefined : decodeCbor(bytes, { what: 'COSE protected header', reason: REASON_CBOR });
  if (header !== undefined && header.kind !== 'map') throw cose(`protected header is a ${header.kind}, want a map`);
  const alg = header === undefined ? undefined : mapGet(header, HEADER_ALG);
  if (alg?.kind !== 'int') {
    throw malformed(`COSE protected header: alg (1) is ${describe(alg)}, want -35 (ES384)`, REASON_ALG);
  }
  if (alg.value !== ALG_ES384) {
    throw new VerificationError('ERR_EVIDENCE_UNSUPPORTED', `COSE protected header: alg (1) is ${alg.value.toString()}, want -35 (ES384)`, {
      reason: REASON_ALG,
    });
  }
  if (header !== undefined && mapGet(header, HEADER_CRIT) !== undefined) {
    throw new VerificationError('ERR_EVIDENCE_UNSUPPORTED', 'COSE protected header: crit (2) is present, want absent (no critical parameters are understood)', {
      reason: REASON_ALG,
    });
  }
}

/** Decode and schema-check the payload bstr's content. Exported for tests of the schema alone. */
export function parsePayload(bytes: Uint8Array): NitroPayload {
  const m = decodeCbor(bytes, { what: 'attestation document payload', reason: REASON_CBOR });
  if (m.kind !== 'map') throw schema(`payload is a ${m.kind}, want a map`);
  for (const e of m.entries) {
    if (typeof e.key !== 'string') throw schema(`key ${e.key.toString()} is an integer, want a text key`);
    if (!PAYLOAD_KEYS.has(e.key)) throw schema(`unknown field ${JSON.stringify(e.key)}`);
  }

  const moduleId = mapGet(m, 'module_id');
  if (moduleId?.kind !== 'text' || moduleId.value.length === 0) {
    throw schema(`module_id is ${moduleId?.kind === 'text' ? 'empty text' : describe(moduleId)}, want non-empty text`);
  }

  const digest = mapGet(m, 'digest');
  if (digest?.kind !== 'text' || digest.value !== 'SHA384') {
    throw schema(`digest is ${digest?.kind === 'text' ? JSON.stringify(digest.value) : describe(digest)}, want "SHA384"`);
  }

  const ts = mapGet(m, 'timestamp');
  // uint .size 8, and AWS requires > 0; beyond 2^53 ms (year 287396) it is not a real time.
  if (ts?.kind !== 'int' || ts.value <= 0n || ts.value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw schema(`timestamp is ${ts?.kind === 'int' ? ts.value.toString() : describe(ts)}, want milliseconds in 1..2^53-1`);
  }

  const pcrsV = mapGet(m, 'pcrs');
  if (pcrsV?.kind !== 'map') throw schema(`pcrs is ${describe(pcrsV)}, want a map`);
  if (pcrsV.entries.length < 1 || pcrsV.entries.length > MAX_PCRS) {
    throw schema(`pcrs has ${pcrsV.entries.length} entries, want 1..${MAX_PCRS}`);
  }
  const pcrList: [number, Uint8Array][] = [];
  for (const e of pcrsV.entries) {
    if (typeof e.key !== 'bigint' || e.key < 0n || e.key > BigInt(PCR_INDEX_MAX)) {
      throw schema(`pcrs key ${typeof e.key === 'bigint' ? e.key.toString() : JSON.stringify(e.key)}, want an index 0..${PCR_INDEX_MAX}`);
    }
    const idx = Number(e.key);
    if (e.value.kind !== 'bytes' || e.value.value.length !== PCR_LENGTH) {
      throw schema(
        `pcrs[${idx}] is ${e.value.kind === 'bytes' ? `${e.value.value.length} bytes` : e.value.kind}, want ${PCR_LENGTH} bytes (digest SHA384)`,
      );
    }
    pcrList.push([idx, e.value.value.slice()]);
  }
  pcrList.sort((a, b) => a[0] - b[0]);

  const certificate = cert(mapGet(m, 'certificate'), 'certificate');

  const bundleV = mapGet(m, 'cabundle');
  if (bundleV?.kind !== 'array') throw schema(`cabundle is ${describe(bundleV)}, want an array`);
  if (bundleV.items.length < 1 || bundleV.items.length > MAX_CABUNDLE) {
    throw schema(`cabundle has ${bundleV.items.length} entries, want 1..${MAX_CABUNDLE}`);
  }
  const cabundle = bundleV.items.map((v, i) => cert(v, `cabundle[${i}]`));

  return {
    module_id: moduleId.value,
    digest: 'SHA384',
    timestamp: Number(ts.value),
    pcrs: new Map(pcrList),
    certificate,
    cabundle,
    public_key: userData(mapGet(m, 'public_key'), 'public_key'),
    user_data: userData(mapGet(m, 'user_data'), 'user_data'),
    nonce: userData(mapGet(m, 'nonce'), 'nonce'),
  };
}

function cert(v: CborValue | undefined, field: string): Uint8Array {
  if (v?.kind !== 'bytes') throw schema(`${field} is ${describe(v)}, want a DER byte string`);
  if (v.value.length < 1 || v.value.length > MAX_CERT_LENGTH) {
    throw schema(`${field} is ${v.value.length} bytes, want 1..${MAX_CERT_LENGTH}`);
  }
  return v.value.slice();
}

function userData(v: CborValue | undefined, field: string): Uint8Array | null {
  // The nsm-api prose says no field is null, but genuine documents carry null (Sui 2024-11):
  // absent and null mean the same thing.
  if (v === undefined || v.kind === 'null') return null;
  if (v.kind !== 'bytes') throw schema(`${field} is ${v.kind}, want a byte string or null`);
  if (v.value.length > MAX_USER_DATA_LENGTH) {
    throw schema(`${field} is ${v.value.length} bytes, want at most ${MAX_USER_DATA_LENGTH}`);
  }
  return v.value.slice();
}
