/**
 * Which hardware attester this machine offers, and a factory for each hardware kind.
 *
 * Detection looks only for hardware interfaces, in this order: configfs-tsm with a known
 * provider (TDX, SEV-SNP), Gramine's /dev/attestation with DCAP (SGX), /dev/nsm (Nitro). It
 * never returns a simulated attester: evidence from the simulated TEE must be asked for by
 * explicit configuration, so that a production machine whose TEE interface went missing fails
 * closed instead of silently attesting with a simulated root.
 */
import { access, constants } from 'node:fs/promises';
import { AttesterError, type Attester, type AttesterKind, type HardwareAttesterKind } from './attester.ts';
import { ConfigfsTsmAttester, DEFAULT_CONFIGFS_TSM_ROOT, probeConfigfsTsm, type TsmFs } from './configfs-tsm.ts';
import { DEFAULT_GRAMINE_ROOT, GramineAttester, probeGramine, type GramineFs } from './gramine.ts';
import { NsmAttester } from './nsm.ts';

export const DEFAULT_NSM_DEVICE = '/dev/nsm';

export interface HardwareAttesterOptions {
  /** configfs-tsm report root; default /sys/kernel/config/tsm/report. */
  readonly configfsRoot?: string;
  readonly configfsFs?: TsmFs;
  /** SEV-SNP VMPL to request through configfs-tsm privlevel (0-3). */
  readonly privlevel?: number;
  /** SEV-SNP configfs-tsm service_provider (e.g. "svsm"). */
  readonly serviceProvider?: string;
  /** Gramine's attestation directory; default /dev/attestation. */
  readonly gramineRoot?: string;
  readonly gramineFs?: GramineFs;
  /** The NSM device whose presence means Nitro; default /dev/nsm (the helper opens the real one). */
  readonly nsmDevice?: string;
  /** The NSM helper's path or name on PATH; default attestgate-nsm-helper. */
  readonly nsmHelper?: string;
  readonly nsmTimeoutMs?: number;
}

export interface DetectOptions extends HardwareAttesterOptions {
  /** Whether a path exists (for /dev/nsm); default: fs.access. */
  readonly exists?: (path: string) => Promise<boolean>;
  /** Told the outcome of each probe, for the operator's log. */
  readonly onProbe?: (kind: 'configfs-tsm' | 'gramine' | 'nsm', outcome: string) => void;
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The hardware attester of this machine, or undefined when none is found. Probing configfs-tsm
 * creates and removes one report directory (reading `provider` needs one).
 */
export async function detectAttester(env: DetectOptions = {}): Promise<Attester | undefined> {
  const log = env.onProbe ?? (() => undefined);

  const tsm = await probeConfigfsTsm({ root: env.configfsRoot ?? DEFAULT_CONFIGFS_TSM_ROOT, ...(env.configfsFs === undefined ? {} : { fs: env.configfsFs }) });
  if (tsm.kind !== undefined) {
    log('configfs-tsm', `found provider for ${tsm.kind}`);
    return createAttester(tsm.kind, env);
  }
  log('configfs-tsm', `not found: ${tsm.reason}`);

  const gramine = await probeGramine({ root: env.gramineRoot ?? DEFAULT_GRAMINE_ROOT, ...(env.gramineFs === undefined ? {} : { fs: env.gramineFs }) });
  if (gramine.ok) {
    log('gramine', 'found attestation_type dcap');
    return createAttester('sgx', env);
  }
  log('gramine', `not found: ${gramine.reason}`);

  const device = env.nsmDevice ?? DEFAULT_NSM_DEVICE;
  if (await (env.exists ?? pathExists)(device)) {
    log('nsm', `found ${device}`);
    return createAttester('nitro', env);
  }
  log('nsm', `not found: ${device} does not exist`);
  return undefined;
}

function isHardware(kind: AttesterKind): kind is HardwareAttesterKind {
  return kind === 'tdx' || kind === 'sev-snp' || kind === 'sgx' || kind === 'nitro';
}

/** The attester for a hardware kind. Simulated kinds are not built here (see below). */
export function createAttester(kind: AttesterKind, opts: HardwareAttesterOptions = {}): Attester {
  if (!isHardware(kind)) {
    // The simulated attesters live with the simulated PKI (enclave/sim/) and are wired in by the
    // runtime's explicit configuration, never by this hardware factory.
    throw new AttesterError('ERR_ATTESTER_UNAVAILABLE', `createAttester builds hardware attesters only; "${kind}" is simulated and must be configured explicitly`);
  }
  switch (kind) {
    case 'tdx':
    case 'sev-snp':
      return new ConfigfsTsmAttester({
        kind,
        ...(opts.configfsRoot === undefined ? {} : { root: opts.configfsRoot }),
        ...(opts.configfsFs === undefined ? {} : { fs: opts.configfsFs }),
        ...(opts.privlevel === undefined ? {} : { privlevel: opts.privlevel }),
        ...(opts.serviceProvider === undefined ? {} : { serviceProvider: opts.serviceProvider }),
      });
    case 'sgx':
      return new GramineAttester({
        ...(opts.gramineRoot === undefined ? {} : { root: opts.gramineRoot }),
        ...(opts.gramineFs === undefined ? {} : { fs: opts.gramineFs }),
      });
    case 'nitro':
      return new NsmAttester({
        ...(opts.nsmHelper === undefined ? {} : { helper: opts.nsmHelper }),
        ...(opts.nsmTimeoutMs === undefined ? {} : { timeoutMs: opts.nsmTimeoutMs }),
      });
  }
}
