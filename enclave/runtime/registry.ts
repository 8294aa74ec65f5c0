/**
 * The models the enclave serves, by name and version.
 *
 * "Latest" (a request without a version) is decided by one rule, not by load order: versions
 * that are decimal integers compare as numbers and rank above any other version; other
 * versions compare by their code units. So "10" is later than "9", and "2" later than "beta".
 */
import type { ModelDigest } from '../../attestation/binding.ts';
import { ModelError, OipError } from './errors.ts';
import type { LoadedManifest } from './manifest.ts';
import { modelMetadata, type ModelMetadata } from './oip.ts';
import { createModelSession, type ModelSession, type SessionOptions } from './session.ts';

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/** Negative if a is older than b, positive if newer, 0 if the same. */
export function compareVersions(a: string, b: string): number {
  const an = DECIMAL.test(a);
  const bn = DECIMAL.test(b);
  if (an && bn) {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (an !== bn) return an ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function quote(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
}

export class ModelRegistry {
  readonly #byName = new Map<string, ModelSession[]>();

  constructor(models: Iterable<ModelSession> = []) {
    for (const m of models) this.add(m);
  }

  /**
   * One session per manifest entry. If any model fails to load, the sessions already created
   * are released and the error is thrown: the enclave serves the whole attested set or nothing.
   */
  static async fromManifest(manifest: LoadedManifest, options: SessionOptions = {}): Promise<ModelRegistry> {
    const sessions: ModelSession[] = [];
    try {
      for (const m of manifest.models) sessions.push(await createModelSession(m, options));
      return new ModelRegistry(sessions);
    } catch (e: unknown) {
      await Promise.allSettled(sessions.map((s) => s.release()));
      throw e;
    }
  }

  add(model: ModelSession): void {
    const list = this.#byName.get(model.name) ?? [];
    if (list.some((m) => m.version === model.version)) {
      throw new ModelError('ERR_MODEL_DUPLICATE', `model ${model.name} version ${model.version} is already registered`, { reason: 'duplicate_model' });
    }
    list.push(model);
    list.sort((a, b) => compareVersions(a.version, b.version));
    this.#byName.set(model.name, list);
  }

  /** The model, or its latest version when none is given; ERR_OIP_MODEL_NOT_FOUND (404) otherwise. */
  get(name: string, version?: string): ModelSession {
    const list = this.#byName.get(name);
    if (list === undefined) throw new OipError('ERR_OIP_MODEL_NOT_FOUND', 'unknown_model', `model ${quote(name)} is not served here`);
    const found = version === undefined ? list[list.length - 1] : list.find((m) => m.version === version);
    if (found === undefined) {
      throw new OipError(
        'ERR_OIP_MODEL_NOT_FOUND',
        'unknown_version',
        `model ${name} has no version ${quote(version ?? '')} (versions: ${list.map((m) => m.version).join(', ')})`,
      );
    }
    return found;
  }

  has(name: string, version?: string): boolean {
    const list = this.#byName.get(name);
    return list !== undefined && (version === undefined || list.some((m) => m.version === version));
  }

  /** Versions served under `name`, oldest first (empty if none). */
  versions(name: string): readonly string[] {
    return (this.#byName.get(name) ?? []).map((m) => m.version);
  }

  /** Every model, by name, then oldest version first. */
  list(): readonly ModelSession[] {
    return [...this.#byName.keys()].sort().flatMap((n) => this.#byName.get(n) ?? []);
  }

  /** The OIP model metadata response for `name` (latest version when none is given). */
  metadata(name: string, version?: string): ModelMetadata {
    return modelMetadata(this.get(name, version), this.versions(name));
  }

  /** What the attestation binding commits to (attestation/binding.ts modelsDigest). */
  digests(): ModelDigest[] {
    return this.list().map((m) => ({ name: m.name, version: m.version, sha256: m.sha256 }));
  }

  async release(): Promise<void> {
    const all = this.list();
    this.#byName.clear();
    await Promise.allSettled(all.map((m) => m.release()));
  }
}
