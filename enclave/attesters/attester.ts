/**
 * One interface for every source of attestation evidence inside the TEE: the Linux configfs-tsm
 * report interface (TDX, SEV-SNP), Gramine's /dev/attestation (SGX), the Nitro Secure Module, and
 * the simulated TEE. The runtime computes the 64-byte binding (attestation/binding.ts) and asks
 * its attester for evidence over it; the attester never sees the signing key.
 */
import type { TeeKind } from '../../attestation/result.ts';

export type HardwareAttesterKind = 'tdx' | 'sev-snp' | 'sgx' | 'nitro';
export type SimulatedAttesterKind = 'sim-sgx' | 'sim-tdx' | 'sim-sev-snp' | 'sim-nitro';
export type AttesterKind = HardwareAttesterKind | SimulatedAttesterKind;

export const ATTESTER_KINDS: readonly AttesterKind[] = ['tdx', 'sev-snp', 'sgx', 'nitro', 'sim-sgx', 'sim-tdx', 'sim-sev-snp', 'sim-nitro'];

export interface AttestRequest {
  /** Exactly 64 bytes: the binding of nonce, key and models (REPORTDATA / inblob / user_data). */
  readonly reportData: Uint8Array;
  /** The verifier's nonce (32 bytes); Nitro also carries it in the document's nonce field. */
  readonly nonce: Uint8Array;
  /** The enclave's public key (SPKI DER); Nitro carries it in the document's public_key field. */
  readonly publicKey?: Uint8Array;
}

export interface CollateralItem {
  readonly name: string;
  readonly bytes: Uint8Array;
}

export interface Evidence {
  readonly tee: TeeKind;
  /** The evidence exactly as the TEE produced it (quote, 1184-byte report, COSE_Sign1 document). */
  readonly evidence: Uint8Array;
  /**
   * Collateral the attester holds and a verifier needs: SNP certificates from the auxblob, the
   * simulated PKI's VCEK chain or DCAP collateral bundle. Verifiers treat it as untrusted input.
   */
  readonly collateral: readonly CollateralItem[];
  /** Produced by the simulated TEE, not by hardware. */
  readonly simulated: boolean;
}

export interface Attester {
  readonly kind: AttesterKind;
  readonly tee: TeeKind;
  attest(req: AttestRequest): Promise<Evidence>;
}

export type AttesterErrorCode =
  /** The TEE interface is not there (no configfs-tsm, no /dev/attestation, no NSM helper). */
  | 'ERR_ATTESTER_UNAVAILABLE'
  /** The interface is there but refused or failed the request (with the kernel's/device's words). */
  | 'ERR_ATTESTER_FAILED'
  /** Another request changed the report under us (configfs-tsm generation moved); retry. */
  | 'ERR_ATTESTER_CONFLICT'
  /** A request the attester cannot take (report data not 64 bytes, nonce not 32 bytes). */
  | 'ERR_ATTESTER_INPUT';

export class AttesterError extends Error {
  readonly code: AttesterErrorCode;
  constructor(code: AttesterErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AttesterError';
    this.code = code;
  }
}

/** Shared input check: every attester takes exactly 64 bytes of report data and a 32-byte nonce. */
export function checkAttestRequest(req: AttestRequest): void {
  if (!(req.reportData instanceof Uint8Array) || req.reportData.length !== 64) {
    throw new AttesterError('ERR_ATTESTER_INPUT', `report data must be exactly 64 bytes, got ${req.reportData instanceof Uint8Array ? req.reportData.length : typeof req.reportData}`);
  }
  if (!(req.nonce instanceof Uint8Array) || req.nonce.length !== 32) {
    throw new AttesterError('ERR_ATTESTER_INPUT', `nonce must be exactly 32 bytes, got ${req.nonce instanceof Uint8Array ? req.nonce.length : typeof req.nonce}`);
  }
}
