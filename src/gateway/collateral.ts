/**
 * Collateral for a backend's evidence, in the order the issue sets: what the backend sent (its
 * SNP auxblob certificates, the simulated PKI's bundle; untrusted input like the evidence, checked
 * by the verifier), then a local offline bundle, then the vendor service or a PCCS through a cache
 * (which serves cached collateral while the service is down, until the collateral expires, and
 * then fails closed). Missing collateral is not an error here: the verifier refuses without it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dcapCollateralNeeds } from '../../attestation/intel/request.ts';
import { isDcapCollateral } from '../../attestation/intel/bundle.ts';
import type { CollateralFile } from '../../attestation/registry.ts';
import { createCollateralCache, type CollateralCache, type CollateralPersistence } from '../collateral/cache.ts';
import { createKdsClient, type KdsClient } from '../collateral/kds.ts';
import { createPcsProvider } from '../collateral/pcs.ts';
import type { CollateralConfig } from '../config/schema.ts';
import type { AttestAnswer } from './enclave-client.ts';

export interface CollateralSource {
  (answer: AttestAnswer): Promise<readonly CollateralFile[]>;
}

function hasDcapBundle(files: readonly { bytes: Uint8Array }[]): boolean {
  return files.some((f) => {
    try {
      return isDcapCollateral(JSON.parse(new TextDecoder().decode(f.bytes)));
    } catch {
      return false;
    }
  });
}

function hasSnpVek(files: readonly { name: string }[]): boolean {
  return files.some((f) => /^(vcek|vlek)\.(der|pem)$/.test(f.name));
}

async function readOptional(path: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e: unknown) {
    if ((e as { code?: unknown }).code === 'ENOENT') return undefined;
    throw e;
  }
}

export interface CollateralSourceOptions {
  readonly config: CollateralConfig;
  /** How each lookup was served: an offline bundle file or the cache (hit), a fetch (miss), or cached collateral while the service failed (stale). */
  readonly onCache?: (result: 'hit' | 'miss' | 'stale') => void;
  /** Keeps fetched collateral across restarts (the gateway's store). */
  readonly persist?: CollateralPersistence;
  readonly fetch?: typeof fetch;
  /** The cache's clock (milliseconds); default Date.now. */
  readonly clock?: () => number;
}

/**
 * Offline bundles are files named `<tee>-<fmspc>.json` (lowercase FMSPC) in bundle_dir, in the
 * DCAP bundle format of `attestgate verify-evidence --collateral` (docs/collateral.md).
 */
export function createCollateralSource(o: CollateralSourceOptions): CollateralSource {
  const c = o.config;
  const bundleDir = c.bundle_dir;
  let intel: CollateralCache | undefined;
  let kds: KdsClient | undefined;
  if (c.mode === 'pcs') {
    intel = createCollateralCache(createPcsProvider({ baseUrl: c.pccs_url ?? c.pcs_url, ...(o.fetch === undefined ? {} : { fetch: o.fetch }) }), {
      maxAgeMs: Infinity,
      ...(o.clock === undefined ? {} : { clock: o.clock }),
      ...(o.persist === undefined ? {} : { persist: o.persist }),
      ...(o.onCache === undefined ? {} : { onLookup: o.onCache }),
    });
    kds = createKdsClient({ baseUrl: c.kds_url, ...(o.fetch === undefined ? {} : { fetch: o.fetch }), ...(o.clock === undefined ? {} : { clock: o.clock }) });
  }
  return async (answer) => {
    if (answer.tee === 'sgx' || answer.tee === 'tdx') {
      if (hasDcapBundle(answer.collateral)) return [];
      const needs = dcapCollateralNeeds(answer.evidence);
      if (bundleDir !== null) {
        const name = `${needs.tee}-${needs.fmspc.toLowerCase()}.json`;
        const bytes = await readOptional(join(bundleDir, name));
        if (bytes !== undefined) {
          o.onCache?.('hit');
          return [{ name, bytes }];
        }
      }
      if (intel === undefined) return [];
      const bundle = await intel.getDcapCollateral({ tee: needs.tee, fmspc: needs.fmspc, ca: needs.ca });
      return [{ name: 'pcs-collateral.json', bytes: new TextEncoder().encode(JSON.stringify(bundle)) }];
    }
    if (answer.tee === 'sev-snp') {
      if (hasSnpVek(answer.collateral) || kds === undefined) return [];
      const input = await kds.collateralFor(answer.evidence);
      const out: CollateralFile[] = [];
      if (input.vek !== undefined) out.push({ name: 'vcek.der', bytes: input.vek });
      if (input.certChain !== undefined) out.push({ name: 'cert_chain.pem', bytes: new TextEncoder().encode(input.certChain) });
      return out;
    }
    return [];
  };
}
