/**
 * The simulated Intel TEE: SGX and TDX evidence without the hardware, in the real formats, so that
 * the gateway and the client run every step of attestation/intel on it (quote v4 parsing, the PCK
 * chain and its SGX extension, collateral signatures, CRLs, QE identity, TCB levels, the TDX module,
 * the quote signatures, DEBUG).
 *
 * What it proves: nothing about hardware. The chain ends at a root generated at run time whose
 * subject carries SIMULATED_ROOT_MARK; the verifier refuses it unless the operator names that root
 * as a trust anchor, and then marks every result `simulated: true`. The Intel SGX Root CA pinned in
 * attestation/roots never accepts this evidence.
 *
 * Pieces: intel-platform.ts (the platform's TCB and QEs), intel-pki.ts (root, PCK CA, TCB signing,
 * PCK, CRLs), intel-quote.ts (the binary quote), intel-collateral.ts (TCB info, QE identity, bundle).
 */
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { checkAttestRequest, AttesterError, type AttestRequest, type Attester, type Evidence } from '../attesters/attester.ts';
import { issueCollateral } from './intel-collateral.ts';
import { loadIntelPki, loadRootPem, withPckCertificate, type IntelPlatformKeys } from './intel-pki.ts';
import { CPU_SVN, MR_SEAM, MR_SIGNER_SEAM, PCE_SVN, QE_AUTH_DATA, SEAM_ATTRIBUTES, SGX_QE, TD_QE, TEE_TCB_SVN } from './intel-platform.ts';
import { encodeQuote, type QuoteBody } from './intel-quote.ts';

export interface SimIntelOptions {
  readonly dataDir: string;
  /** Seed for deterministic simulated measurements (MRENCLAVE/MRSIGNER or MRTD/RTMRs); default 'attestgate-enclave'. A different seed yields different measurements (used to test policy refusals). */
  readonly measurementSeed?: string;
  /** Set the DEBUG attribute (SGX ATTRIBUTES.DEBUG / TDX TD_ATTRIBUTES.DEBUG). Default false. */
  readonly debug?: boolean;
  /** Clock for collateral issueDate/nextUpdate (default () => new Date()). */
  readonly now?: () => Date;
}

export const DEFAULT_MEASUREMENT_SEED = 'attestgate-enclave';
/**
 * Quote version 4 for both TEEs: one layout (certification data type 6 nesting type 5) for SGX and
 * TDX. Intel's SGX QE3 (and so Gramine) still emits version 3, which the real fixtures cover.
 */
const QUOTE_VERSION = 4;
/** Name of the one collateral item: the DcapCollateral bundle as UTF-8 JSON. */
export const COLLATERAL_FILE = 'collateral.json';

/** A measurement register derived from the seed; the label keeps every register distinct. */
function measure(alg: 'sha256' | 'sha384', tee: string, register: string, seed: string): Uint8Array {
  return new Uint8Array(createHash(alg).update(`attestgate simulated TEE\u0000${tee}\u0000${register}\u0000${seed}`).digest());
}

/** SGX ATTRIBUTES: FLAGS (u64 LE) = INIT | MODE64BIT, plus DEBUG (bit 1) on request; XFRM (u64 LE) = x87 | SSE. */
function sgxAttributes(debug: boolean): Uint8Array {
  const a = new Uint8Array(16);
  a[0] = 0x01 | 0x04 | (debug ? 0x02 : 0);
  a[8] = 0x03;
  return a;
}

/** TDX TD_ATTRIBUTES (u64 LE): SEPT_VE_DISABLE (bit 28), as production TDs set it, plus DEBUG (bit 0) on request. */
function tdAttributes(debug: boolean): Uint8Array {
  const a = new Uint8Array(8);
  a[0] = debug ? 0x01 : 0;
  a[3] = 0x10;
  return a;
}

/** XFAM of a typical Linux TD (x87, SSE, AVX, AVX-512 state, PKRU, AMX), as real TD quotes show. */
const XFAM = Uint8Array.from([0xe7, 0x02, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00]);

function quoteBody(tee: 'sgx' | 'tdx', seed: string, debug: boolean, reportData: Uint8Array): QuoteBody {
  if (tee === 'sgx') {
    return {
      kind: 'sgx',
      report: {
        cpuSvn: CPU_SVN,
        miscSelect: new Uint8Array(4),
        attributes: sgxAttributes(debug),
        mrEnclave: measure('sha256', 'sgx', 'MRENCLAVE', seed),
        mrSigner: measure('sha256', 'sgx', 'MRSIGNER', seed),
        isvProdId: 1,
        isvSvn: 1,
        reportData,
      },
    };
  }
  return {
    kind: 'tdx',
    report: {
      teeTcbSvn: TEE_TCB_SVN,
      mrSeam: MR_SEAM,
      mrSignerSeam: MR_SIGNER_SEAM,
      seamAttributes: SEAM_ATTRIBUTES,
      tdAttributes: tdAttributes(debug),
      xfam: XFAM,
      mrTd: measure('sha384', 'tdx', 'MRTD', seed),
      rtmr: [measure('sha384', 'tdx', 'RTMR0', seed), measure('sha384', 'tdx', 'RTMR1', seed), measure('sha384', 'tdx', 'RTMR2', seed), measure('sha384', 'tdx', 'RTMR3', seed)],
      reportData,
    },
  };
}

interface Platform {
  readonly keys: IntelPlatformKeys;
  /** The QE's attestation key, born with the process as a real QE's is born with its enclave. */
  readonly attestationKey: KeyObject;
  /** Identifies this QE instance in the quote header (user data). */
  readonly qeId: Uint8Array;
}

async function bootPlatform(dataDir: string): Promise<Platform> {
  const keys = await withPckCertificate(await loadIntelPki(dataDir));
  const attestationKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  // Real QE IDs are derived from the platform; a digest of this PCK certificate plays that part.
  const qeId = new Uint8Array(createHash('sha256').update(keys.pck.pem).digest().subarray(0, 16));
  return { keys, attestationKey, qeId };
}

/**
 * An attester of kind `sim-sgx` or `sim-tdx`. The PKI is loaded (or created) and the PCK
 * certificate and attestation key are made on the first attest() call; a failure there is
 * ERR_ATTESTER_UNAVAILABLE and is retried on the next call.
 */
export function createSimulatedIntelAttester(tee: 'sgx' | 'tdx', opts: SimIntelOptions): Attester {
  const seed = opts.measurementSeed ?? DEFAULT_MEASUREMENT_SEED;
  const debug = opts.debug ?? false;
  const now = opts.now ?? ((): Date => new Date());
  const qe = tee === 'sgx' ? SGX_QE : TD_QE;
  let platform: Promise<Platform> | undefined;

  const boot = (): Promise<Platform> => {
    if (platform === undefined) {
      const p = bootPlatform(opts.dataDir).catch((e: unknown) => {
        platform = undefined;
        throw new AttesterError('ERR_ATTESTER_UNAVAILABLE', `simulated ${tee.toUpperCase()}: cannot set up the simulated Intel PKI in ${opts.dataDir}`, { cause: e });
      });
      platform = p;
    }
    return platform;
  };

  return {
    kind: tee === 'sgx' ? 'sim-sgx' : 'sim-tdx',
    tee,
    async attest(req: AttestRequest): Promise<Evidence> {
      checkAttestRequest(req);
      // Copy before any await: the caller may reuse its buffer, and REPORTDATA is exactly these 64 bytes.
      const reportData = req.reportData.slice();
      const { keys, attestationKey, qeId } = await boot();
      let quote: Uint8Array;
      let collateral: Uint8Array;
      try {
        quote = encodeQuote({
          version: QUOTE_VERSION,
          body: quoteBody(tee, seed, debug, reportData),
          qe,
          cpuSvn: CPU_SVN,
          pceSvn: PCE_SVN,
          qeAuthData: QE_AUTH_DATA,
          qeId,
          attestationKey,
          pckKey: keys.pck.key,
          pckChainPem: keys.pckChainPem,
        });
        collateral = new TextEncoder().encode(JSON.stringify(await issueCollateral(keys, tee, now())));
      } catch (e: unknown) {
        throw new AttesterError('ERR_ATTESTER_FAILED', `simulated ${tee.toUpperCase()}: could not produce a quote`, { cause: e });
      }
      return { tee, evidence: quote, collateral: [{ name: COLLATERAL_FILE, bytes: collateral }], simulated: true };
    },
  };
}

/** PEM of the simulated Intel root (creating the PKI on first use): what an operator passes as trust root. */
export async function simulatedIntelRoot(dataDir: string): Promise<string> {
  return loadRootPem(dataDir);
}
