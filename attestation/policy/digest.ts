/**
 * The identity of a policy: SHA-256 of its canonical JSON (object keys sorted, no whitespace) after
 * normalisation, so the same rules give the same digest however the file spelled them (key order,
 * YAML or JSON, `30d` or `720h`, one value or a list of one, defaults written out or left out).
 * Attestation results name the policy they were appraised under by this digest.
 */
import { encodeUtf8, toHex } from '../common/bytes.ts';
import { sha256 } from '../common/crypto.ts';
import type { Policy } from './schema.ts';

/** JSON with object keys in code-unit order at every level; undefined members are left out, as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v: unknown) => canonicalJson(v)).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1)); // an object's keys are unique
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Lowercase hex SHA-256 of the policy's canonical JSON. */
export async function policyDigest(policy: Policy): Promise<string> {
  return toHex(await sha256(encodeUtf8(canonicalJson(policy))));
}

/** The EAR `ear.appraisal-policy-id` of a policy: `policy:<name>#<digest>`. */
export async function policyId(policy: Policy): Promise<string> {
  return `policy:${policy.name}#${await policyDigest(policy)}`;
}
