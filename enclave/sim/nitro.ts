/**
 * The simulated AWS Nitro Secure Module: attestation documents in AWS's format (COSE_Sign1,
 * ES384, the payload map of the Nitro Enclaves User Guide's CDDL), signed by a short-lived leaf
 * certificate chained leaf <- intermediate <- simulated root, all ECDSA P-384 / SHA-384, with the
 * chain carried in the document (`certificate`, `cabundle` root first) as AWS does. The verifier
 * in attestation/nitro runs every step on it; only the trust anchor differs: the simulated root
 * carries SIMULATED_ROOT_MARK in its O=, so every result that chains to it says `simulated: true`.
 *
 * AWS issues each enclave a fresh leaf valid for about three hours; so does this module: one leaf
 * per attester, minted again when less than an hour of it remains. The root and intermediate are
 * persisted in `<dataDir>/sim-pki/nitro/` so the gateway (which trusts the root) and the enclave
 * (which signs) agree across processes; the leaf key never leaves memory.
 */
import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';
import { toHex } from '../../attestation/common/bytes.ts';
import { parseCertificate, type Certificate } from '../../attestation/common/x509.ts';
import { SIMULATED_ROOT_MARK } from '../../attestation/roots/index.ts';
import { AttesterError, checkAttestRequest, type Attester, type Evidence } from '../attesters/attester.ts';
import { encodeCbor, type CborItem } from './cbor-encode.ts';
import { loadOrCreatePki, type PkiFiles } from './store.ts';
import {
  KEY_USAGE,
  basicConstraints,
  derOfPem,
  encodeName,
  generateP384,
  keyUsage,
  mintCertificate,
  privateKeyFromPem,
  privateKeyPem,
  toPem,
  type NameAttr,
} from './x509-amd-nitro.ts';

export interface SimNitroOptions {
  readonly dataDir: string;
  /** PCR0, PCR1 and PCR2 are derived from it (default 'attestgate-enclave'). */
  readonly measurementSeed?: string;
  /** PCR0, PCR1 and PCR2 all zero, as AWS reports for an enclave started in debug mode. */
  readonly debug?: boolean;
  /** The clock for the document's timestamp and the leaf's validity (default: the system clock). */
  readonly now?: () => Date;
}

export const DEFAULT_MEASUREMENT_SEED = 'attestgate-enclave';

const HOUR = 3_600_000;
const YEAR = 365 * 24 * HOUR;
/** AWS's leaf certificates are valid for three hours from issue. */
export const LEAF_LIFETIME_MS = 3 * HOUR;
/** A leaf with less than this left is replaced, so a document never carries an about-to-expire chain. */
export const LEAF_MIN_REMAINING_MS = HOUR;

const PCR_COUNT = 16;
const PCR_SIZE = 48;
/** Per the NSM API: user_data, nonce and public_key are each at most this long. */
const MAX_PUBLIC_KEY = 1024;

// ---------------------------------------------------------------------------------------------
// The simulated PKI: root and intermediate persisted, the leaf in memory.

const PKI_NAME = 'nitro';
const FILES = { root: 'root.pem', rootKey: 'root.key.pem', intermediate: 'intermediate.pem', intermediateKey: 'intermediate.key.pem' } as const;
const PKI_FILES: readonly string[] = Object.values(FILES);

/** AWS's root is "C=US, O=Amazon, OU=AWS, CN=aws.nitro-enclaves"; the mark takes Amazon's place. */
const awsName = (cn: string, locality = false): Uint8Array => {
  const attrs: NameAttr[] = [
    ['C', 'US'],
    ...(locality ? ([['ST', 'Washington'], ['L', 'Seattle']] as const) : []),
    ['O', SIMULATED_ROOT_MARK],
    ['OU', 'AWS'],
    ['CN', cn],
  ];
  return encodeName(attrs);
};

async function createPki(): Promise<PkiFiles> {
  const now = Date.now();
  const [root, intermediate] = await Promise.all([generateP384(), generateP384()]);
  const rootName = awsName('aws.nitro-enclaves');
  // Backdated a day for clock skew between the machine that made the PKI and a verifier.
  const from = new Date(now - 24 * HOUR);
  const caUsage = keyUsage(KEY_USAGE.digitalSignature, KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign);
  const rootDer = mintCertificate({
    issuer: rootName,
    subject: rootName,
    notBefore: from,
    notAfter: new Date(now + 30 * YEAR),
    publicKey: root.publicKey,
    extensions: [basicConstraints(true), caUsage],
    signer: { key: root.privateKey, algorithm: 'ecdsa-sha384' },
  });
  const intermediateDer = mintCertificate({
    issuer: rootName,
    subject: awsName('sim.us-east-1.aws.nitro-enclaves'),
    notBefore: from,
    notAfter: new Date(now + 10 * YEAR),
    publicKey: intermediate.publicKey,
    extensions: [basicConstraints(true, 0), caUsage],
    signer: { key: root.privateKey, algorithm: 'ecdsa-sha384' },
  });
  return {
    [FILES.root]: toPem(rootDer),
    [FILES.rootKey]: privateKeyPem(root.privateKey),
    [FILES.intermediate]: toPem(intermediateDer),
    [FILES.intermediateKey]: privateKeyPem(intermediate.privateKey),
  };
}

interface NitroCa {
  readonly rootPem: string;
  readonly root: Certificate;
  readonly intermediate: Certificate;
  readonly intermediateKey: KeyObject;
}

function need(files: PkiFiles, name: string): string {
  const v = files[name];
  if (v === undefined) throw new Error(`simulated Nitro PKI: ${name} is missing`);
  return v;
}

async function loadCa(dataDir: string): Promise<NitroCa> {
  const files = await loadOrCreatePki(dataDir, PKI_NAME, PKI_FILES, createPki);
  const rootPem = need(files, FILES.root);
  return {
    rootPem,
    root: parseCertificate(derOfPem(rootPem, FILES.root), `simulated ${FILES.root}`),
    intermediate: parseCertificate(derOfPem(need(files, FILES.intermediate), FILES.intermediate), `simulated ${FILES.intermediate}`),
    intermediateKey: privateKeyFromPem(need(files, FILES.intermediateKey)),
  };
}

/** The simulated Nitro root (PEM), to pass as a trust anchor (anchorFromPem(pem, name, false)). */
export async function simulatedNitroRoot(dataDir: string): Promise<string> {
  return (await loadCa(dataDir)).rootPem;
}

interface Leaf {
  readonly der: Uint8Array;
  readonly key: KeyObject;
  readonly notBefore: number;
  readonly notAfter: number;
}

async function mintLeaf(ca: NitroCa, moduleId: string, now: number): Promise<Leaf> {
  const k = await generateP384();
  // X.509 times have whole seconds; round down so the leaf is valid at `now` itself.
  const notBefore = Math.floor(now / 1000) * 1000;
  const notAfter = notBefore + LEAF_LIFETIME_MS;
  const der = mintCertificate({
    // The intermediate's subject exactly as stored, so the name chain matches byte for byte.
    issuer: ca.intermediate.subject.der,
    subject: awsName(`${moduleId}.us-east-1.aws`, true),
    notBefore: new Date(notBefore),
    notAfter: new Date(notAfter),
    publicKey: k.publicKey,
    extensions: [basicConstraints(false), keyUsage(KEY_USAGE.digitalSignature)],
    signer: { key: ca.intermediateKey, algorithm: 'ecdsa-sha384' },
  });
  return { der, key: k.privateKey, notBefore, notAfter };
}

// ---------------------------------------------------------------------------------------------
// The attester.

function badInput(msg: string): AttesterError {
  return new AttesterError('ERR_ATTESTER_INPUT', `simulated Nitro: ${msg}`);
}

/**
 * PCR0-2 as the NSM would hold them after one extension from zero: SHA-384(0^48 || SHA-384(m)),
 * with m naming the seed and the PCR. The rest are zero (the NSM starts every PCR at zero; the
 * parent's PCR3/PCR4/PCR8 values have no meaning in a simulation).
 */
function pcrs(seed: string, debug: boolean): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  for (let i = 0; i < PCR_COUNT; i++) {
    if (i > 2 || debug) {
      out.set(i, new Uint8Array(PCR_SIZE));
      continue;
    }
    const m = createHash('sha384').update(`attestgate simulated Nitro PCR${i}\u0000${seed}`, 'utf8').digest();
    out.set(i, new Uint8Array(createHash('sha384').update(new Uint8Array(PCR_SIZE)).update(m).digest()));
  }
  return out;
}

/** `i-` and 17 hex digits (an EC2 instance ID), `-enc` and 16 hex digits (an enclave ID). */
function randomModuleId(): string {
  const h = toHex(new Uint8Array(randomBytes(17)));
  return `i-${h.slice(0, 17)}-enc${h.slice(17, 33)}`;
}

/** COSE protected header {1: -35}: alg ES384 (RFC 9053 2.1). */
const PROTECTED = encodeCbor({ map: [[1, -35]] });
/** COSE_Sign1's CBOR tag (RFC 9052 2). */
const TAG_COSE_SIGN1 = 18;

export function createSimulatedNitroAttester(opts: SimNitroOptions): Attester {
  if (typeof opts.dataDir !== 'string' || opts.dataDir === '') throw badInput('dataDir must be a non-empty path');
  const seed = opts.measurementSeed ?? DEFAULT_MEASUREMENT_SEED;
  if (typeof seed !== 'string') throw badInput('measurementSeed must be a string');
  const now = opts.now ?? ((): Date => new Date());
  const { dataDir } = opts;
  const pcrValues = pcrs(seed, opts.debug === true);
  const moduleId = randomModuleId();
  let ca: Promise<NitroCa> | undefined;
  let leaf: Promise<Leaf> | undefined;

  async function currentLeaf(at: number): Promise<{ ca: NitroCa; leaf: Leaf }> {
    if (ca === undefined) {
      ca = loadCa(dataDir);
      // A failed load is not remembered: the next request tries again.
      ca.catch(() => {
        ca = undefined;
      });
    }
    const c = await ca;
    if (!(c.intermediate.notBefore <= at && at <= c.intermediate.notAfter && c.root.notBefore <= at && at <= c.root.notAfter)) {
      throw new Error(`the simulated Nitro root or intermediate in ${dataDir} is not valid now; remove sim-pki/nitro to regenerate it`);
    }
    const held = leaf === undefined ? undefined : await leaf.catch(() => undefined);
    // A clock that went back before the leaf's notBefore also needs a new leaf.
    if (held === undefined || at < held.notBefore || held.notAfter - at < LEAF_MIN_REMAINING_MS) {
      leaf = mintLeaf(c, moduleId, at);
      return { ca: c, leaf: await leaf };
    }
    return { ca: c, leaf: held };
  }

  return {
    kind: 'sim-nitro',
    tee: 'nitro',
    async attest(req): Promise<Evidence> {
      checkAttestRequest(req);
      const { publicKey } = req;
      if (publicKey !== undefined && (!(publicKey instanceof Uint8Array) || publicKey.length > MAX_PUBLIC_KEY)) {
        throw badInput(`publicKey must be at most ${MAX_PUBLIC_KEY} bytes`);
      }
      // Snapshot the request before the first await: the caller may reuse its buffers.
      const userData = req.reportData.slice();
      const nonce = req.nonce.slice();
      const pub = publicKey === undefined ? null : publicKey.slice();
      const at = now().getTime();
      if (!Number.isSafeInteger(at) || at <= 0) throw new AttesterError('ERR_ATTESTER_FAILED', 'simulated Nitro: the clock gave an invalid time');

      let l: Leaf;
      let c: NitroCa;
      try {
        ({ ca: c, leaf: l } = await currentLeaf(at));
      } catch (e: unknown) {
        throw new AttesterError('ERR_ATTESTER_FAILED', `simulated Nitro: cannot load or create the simulated Nitro PKI in ${dataDir}`, { cause: e });
      }

      // AWS's field order; absent public_key is null, as the NSM writes it.
      const payload: CborItem = {
        map: [
          ['module_id', moduleId],
          ['digest', 'SHA384'],
          ['timestamp', at],
          ['pcrs', { map: [...pcrValues].map(([i, v]) => [i, v] as const) }],
          ['certificate', l.der],
          ['cabundle', [c.root.der, c.intermediate.der]],
          ['public_key', pub],
          ['user_data', userData],
          ['nonce', nonce],
        ],
      };
      const payloadBytes = encodeCbor(payload);
      // Sig_structure (RFC 9052 4.4): ["Signature1", protected, external_aad = h'', payload].
      const toBeSigned = encodeCbor(['Signature1', PROTECTED, new Uint8Array(0), payloadBytes]);
      // ES384 in COSE is r || s, 48 bytes each (RFC 9053 2.1), which is IEEE P1363.
      const signature = new Uint8Array(sign('sha384', toBeSigned, { key: l.key, dsaEncoding: 'ieee-p1363' }));
      const document = encodeCbor({ tag: TAG_COSE_SIGN1, value: [PROTECTED, { map: [] }, payloadBytes, signature] });
      // The document carries its whole chain; there is no separate collateral.
      return { tee: 'nitro', evidence: document, collateral: [], simulated: true };
    },
  };
}
