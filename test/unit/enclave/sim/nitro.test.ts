/**
 * The simulated Nitro Secure Module end to end: its documents go through the same registry entry
 * point as real ones, chain to the simulated root only when it is named as a trust anchor, and
 * say `simulated` everywhere. Also the leaf's three-hour life under an injected clock, and the
 * CBOR encoder read back by the verifier's own decoder.
 */
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toHex } from '../../../../attestation/common/bytes.ts';
import { parseCertificate, type TrustAnchor } from '../../../../attestation/common/x509.ts';
import { AttestationError } from '../../../../attestation/errors.ts';
import { decodeCbor } from '../../../../attestation/nitro/cbor.ts';
import { parseNitroDocument } from '../../../../attestation/nitro/parse.ts';
import { verifyEvidence, type RegistryOptions } from '../../../../attestation/registry.ts';
import type { EvidenceResult } from '../../../../attestation/result.ts';
import { anchorFromPem } from '../../../../attestation/roots/index.ts';
import { AttesterError, type AttestRequest, type Evidence } from '../../../../enclave/attesters/attester.ts';
import { encodeCbor, head } from '../../../../enclave/sim/cbor-encode.ts';
import { LEAF_LIFETIME_MS, createSimulatedNitroAttester, simulatedNitroRoot, type SimNitroOptions } from '../../../../enclave/sim/nitro.ts';

const HOUR = 3_600_000;
let dataDir: string;
let anchor: TrustAnchor;
let rootPem: string;

const req = (fill = 0x5a, publicKey?: Uint8Array): AttestRequest => ({
  reportData: Uint8Array.from({ length: 64 }, (_, i) => (fill + i) & 0xff),
  nonce: Uint8Array.from({ length: 32 }, (_, i) => (0xa0 + i) & 0xff),
  ...(publicKey === undefined ? {} : { publicKey }),
});

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'attestgate-sim-nitro-'));
  rootPem = await simulatedNitroRoot(dataDir);
  anchor = await anchorFromPem(rootPem, 'sim Nitro root', false);
});

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

function verify(ev: Evidence, opts: Partial<RegistryOptions> = {}): Promise<EvidenceResult> {
  return verifyEvidence({ tee: ev.tee, evidence: ev.evidence, collateral: ev.collateral }, { at: new Date(), trustAnchors: [anchor], ...opts });
}

function attest(opts: Partial<SimNitroOptions> = {}, r: AttestRequest = req()): Promise<Evidence> {
  return createSimulatedNitroAttester({ dataDir, ...opts }).attest(r);
}

async function errorOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e: unknown) {
    if (AttestationError.is(e) || e instanceof AttesterError) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected a rejection');
}

const pemDer = (pem: string): Uint8Array => fromBase64(pem.replace(/-----[A-Z ]+-----/g, ''));

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

describe('simulated Nitro evidence', () => {
  it('is a tagged COSE_Sign1 with alg ES384 and AWS payload fields, cabundle root first', async () => {
    const t = new Date(Math.floor(Date.now() / 1000) * 1000);
    const r = req(0x10, Uint8Array.of(1, 2, 3));
    const ev = await attest({ now: () => t }, r);
    expect(ev).toMatchObject({ tee: 'nitro', simulated: true, collateral: [] });
    expect(ev.evidence[0]).toBe(0xd2); // tag 18
    const doc = parseNitroDocument(ev.evidence);
    expect(doc.tagged).toBe(true);
    expect(toHex(doc.protectedBytes)).toBe('a1013822'); // {1: -35}
    expect(doc.signature.length).toBe(96);
    const p = doc.payload;
    expect(p.module_id).toMatch(/^i-[0-9a-f]{17}-enc[0-9a-f]{16}$/);
    expect(p.digest).toBe('SHA384');
    expect(p.timestamp).toBe(t.getTime());
    expect([...p.pcrs.keys()]).toEqual(Array.from({ length: 16 }, (_, i) => i));
    for (const v of p.pcrs.values()) expect(v.length).toBe(48);
    expect(p.cabundle).toHaveLength(2);
    expect(p.cabundle[0]).toEqual(pemDer(rootPem));
    expect(p.user_data).toEqual(r.reportData);
    expect(p.nonce).toEqual(r.nonce);
    expect(p.public_key).toEqual(Uint8Array.of(1, 2, 3));
    // The payload's keys are in AWS's order.
    const m = decodeCbor(doc.payloadBytes);
    expect(m.kind === 'map' ? m.entries.map((e) => e.key) : []).toEqual(['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle', 'public_key', 'user_data', 'nonce']);
    const leaf = parseCertificate(p.certificate);
    expect(leaf.notBefore).toBe(t.getTime());
    expect(leaf.notAfter - leaf.notBefore).toBe(LEAF_LIFETIME_MS);
    expect(leaf.subject.commonName).toBe(`${p.module_id}.us-east-1.aws`);
  });

  it('verifies through verifyEvidence with the simulated root as the trust anchor, and says simulated', async () => {
    const r = req(0x33, new Uint8Array(91).fill(4));
    const res = await verify(await attest({}, r));
    expect(res.simulated).toBe(true);
    expect(res.trust_anchor).toEqual({ name: 'sim Nitro root', sha256: anchor.sha256, pinned: false });
    expect(res.debug_allowed).toBe(false);
    expect(res.claims).toMatchObject({ user_data: toHex(r.reportData), nonce: toHex(r.nonce), public_key: '04'.repeat(91), digest: 'SHA384', debug: false });
    expect(res.collateral.map((c) => c.kind)).toEqual(['nitro.certificate', 'nitro.cabundle', 'nitro.root']);
    const left = Date.parse(res.expires_at) - Date.now();
    expect(left).toBeGreaterThan(2 * HOUR);
    expect(left).toBeLessThanOrEqual(LEAF_LIFETIME_MS);
  });

  it('public_key is null when the request has none', async () => {
    const res = await verify(await attest());
    expect(res.claims['public_key']).toBeNull();
  });

  it('PCR0-2 come from the seed: stable across attesters, different for another seed; the rest zero', async () => {
    const pcrs = async (seed: string): Promise<Record<string, string>> =>
      (await verify(await attest({ measurementSeed: seed }))).claims['pcrs'] as Record<string, string>;
    const a = await pcrs('model-a');
    const b = await pcrs('model-a');
    const c = await pcrs('model-b');
    expect(b).toEqual(a);
    for (const i of ['0', '1', '2']) {
      expect(a[i]).not.toBe('00'.repeat(48));
      expect(c[i]).not.toBe(a[i]);
    }
    expect(new Set([a['0'], a['1'], a['2']]).size).toBe(3);
    for (let i = 3; i < 16; i++) expect(a[String(i)]).toBe('00'.repeat(48));
  });

  it('without trust anchors (the pinned AWS root) it is refused', async () => {
    const ev = await attest();
    expect(await errorOf(verifyEvidence({ tee: 'nitro', evidence: ev.evidence, collateral: [] }, { at: new Date() }))).toMatchObject({
      code: 'ERR_CHAIN_UNTRUSTED',
    });
  });

  it('debug: PCR0-2 all zero; refused with ERR_DEBUG_REFUSED unless allowDebug', async () => {
    const ev = await attest({ debug: true });
    expect(await errorOf(verify(ev))).toMatchObject({ code: 'ERR_DEBUG_REFUSED' });
    const res = await verify(ev, { allowDebug: true });
    expect(res.debug_allowed).toBe(true);
    const pcrs = res.claims['pcrs'] as Record<string, string>;
    for (const i of ['0', '1', '2']) expect(pcrs[i]).toBe('00'.repeat(48));
  });
});

describe('the leaf certificate', () => {
  it('lives three hours and is replaced when less than an hour remains (or the clock went back)', async () => {
    const t0 = Math.floor(Date.now() / 1000) * 1000;
    let now = t0;
    const a = createSimulatedNitroAttester({ dataDir, now: () => new Date(now) });
    const leafOf = async (): Promise<{ der: string; res: EvidenceResult }> => {
      const ev = await a.attest(req());
      return { der: toHex(parseNitroDocument(ev.evidence).payload.certificate), res: await verify(ev, { at: new Date(now) }) };
    };
    const first = await leafOf();
    expect(first.res.expires_at).toBe(new Date(t0 + 3 * HOUR).toISOString());
    now = t0 + 2 * HOUR - 1000; // 1 h 00 min 01 s left: kept
    expect((await leafOf()).der).toBe(first.der);
    now = t0 + 2 * HOUR + 1000; // 59 min 59 s left: replaced
    const second = await leafOf();
    expect(second.der).not.toBe(first.der);
    expect(second.res.expires_at).toBe(new Date(t0 + 5 * HOUR + 1000).toISOString());
    now = t0; // before the current leaf's notBefore: replaced again
    const third = await leafOf();
    expect(third.der).not.toBe(second.der);
  });

  it('an expired leaf would be refused by the verifier (the chain is checked at the verification time)', async () => {
    const t0 = Math.floor(Date.now() / 1000) * 1000;
    const ev = await attest({ now: () => new Date(t0) });
    expect(await errorOf(verify(ev, { at: new Date(t0 + 3 * HOUR + 1) }))).toMatchObject({ code: 'ERR_CERT_NOT_VALID_AT_TIME' });
  });
});

describe('the simulated Nitro PKI', () => {
  it('is stored once and reused: same root and intermediate for every attester, from memory and from disk', async () => {
    const bundle = async (dir: string): Promise<readonly Uint8Array[]> =>
      parseNitroDocument((await createSimulatedNitroAttester({ dataDir: dir }).attest(req())).evidence).payload.cabundle;
    const a = await bundle(dataDir);
    expect(await bundle(dataDir)).toEqual(a);
    const copy = await mkdtemp(join(tmpdir(), 'attestgate-sim-nitro-copy-'));
    try {
      await cp(join(dataDir, 'sim-pki'), join(copy, 'sim-pki'), { recursive: true });
      expect(await simulatedNitroRoot(copy)).toBe(rootPem);
      expect(await bundle(copy)).toEqual(a);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  it('keeps private keys 0600 under sim-pki/nitro', async () => {
    const dir = join(dataDir, 'sim-pki', 'nitro');
    for (const n of ['root', 'intermediate']) {
      expect((await stat(join(dir, `${n}.key.pem`))).mode & 0o777).toBe(0o600);
      expect(await readFile(join(dir, `${n}.pem`), 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    }
  });

  it('a PKI that cannot be stored (the data dir is a file) -> ERR_ATTESTER_FAILED', async () => {
    const file = join(dataDir, 'not-a-dir');
    await writeFile(file, '');
    expect(await errorOf(createSimulatedNitroAttester({ dataDir: file }).attest(req()))).toMatchObject({ code: 'ERR_ATTESTER_FAILED' });
  });
});

describe('refusals', () => {
  const bad: { name: string; r: AttestRequest }[] = [
    { name: '63-byte report data', r: { reportData: new Uint8Array(63), nonce: new Uint8Array(32) } },
    { name: '33-byte nonce', r: { reportData: new Uint8Array(64), nonce: new Uint8Array(33) } },
    { name: 'nonce not a Uint8Array', r: { reportData: new Uint8Array(64), nonce: 'n' as unknown as Uint8Array } },
    { name: '1025-byte public key', r: { ...req(), publicKey: new Uint8Array(1025) } },
    { name: 'public key not a Uint8Array', r: { ...req(), publicKey: [1, 2] as unknown as Uint8Array } },
  ];
  it.each(bad)('bad request: $name -> ERR_ATTESTER_INPUT', async ({ r }) => {
    expect(await errorOf(attest({}, r))).toMatchObject({ code: 'ERR_ATTESTER_INPUT' });
  });

  it('bad options -> ERR_ATTESTER_INPUT; a clock giving an invalid date -> ERR_ATTESTER_FAILED', async () => {
    expect(() => createSimulatedNitroAttester({ dataDir: '' })).toThrow(AttesterError);
    expect(await errorOf(attest({ now: () => new Date(Number.NaN) }))).toMatchObject({ code: 'ERR_ATTESTER_FAILED' });
  });

  it.each([
    ['user_data', (r: AttestRequest): Uint8Array => r.reportData],
    ['nonce', (r: AttestRequest): Uint8Array => r.nonce],
  ] as const)('a flipped byte in %s -> ERR_SIGNATURE_INVALID', async (_field, pick) => {
    const r = req(0x41);
    const ev = await attest({}, r);
    const at = indexOf(ev.evidence, pick(r));
    expect(at).toBeGreaterThan(0);
    const bytes = ev.evidence.slice();
    bytes[at + 7] = (bytes[at + 7] ?? 0) ^ 0x01;
    expect(await errorOf(verify({ ...ev, evidence: bytes }))).toMatchObject({ code: 'ERR_SIGNATURE_INVALID' });
  });

  it('a flipped byte in the signature -> ERR_SIGNATURE_INVALID', async () => {
    const ev = await attest();
    const bytes = ev.evidence.slice();
    const last = bytes.length - 1;
    bytes[last] = (bytes[last] ?? 0) ^ 0x01;
    expect(await errorOf(verify({ ...ev, evidence: bytes }))).toMatchObject({ code: 'ERR_SIGNATURE_INVALID' });
  });
});

describe('cbor-encode', () => {
  it('writes the shortest head for every argument width', () => {
    expect(toHex(head(0, 23))).toBe('17');
    expect(toHex(head(0, 24))).toBe('1818');
    expect(toHex(head(2, 0x100))).toBe('590100');
    expect(toHex(head(3, 0x10000))).toBe('7a00010000');
    expect(toHex(head(0, 0x100000000n))).toBe('1b0000000100000000');
    expect(() => head(0, -1)).toThrow(RangeError);
    expect(() => head(0, 1n << 64n)).toThrow(RangeError);
  });

  it('round-trips through the verifier decoder, and refuses what CBOR or COSE cannot carry', () => {
    const item = { tag: 18, value: [{ map: [[1, -35], ['k', null]] }, true, false, 'é', Uint8Array.of(9), -1n, 2 ** 40] } as const;
    const bytes = encodeCbor(item);
    expect(toHex(encodeCbor(item))).toBe(toHex(bytes)); // deterministic
    const v = decodeCbor(bytes);
    expect(v.kind).toBe('tag');
    expect(toHex(encodeCbor({ map: [[1, -35]] }))).toBe('a1013822');
    expect(() => encodeCbor(1.5)).toThrow(RangeError);
    expect(() => encodeCbor({ map: [['a', 1], ['a', 2]] })).toThrow(RangeError);
  });
});
