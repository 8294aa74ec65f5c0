/**
 * crypto-web.ts (WebCrypto, for the browser bundle) against crypto.ts (node:crypto), differentially:
 *   1. the adapter: every key form (P-256/384/521 uncompressed, compressed, hybrid; RSA; RSA-PSS with
 *      and without restrictions; unsupported and malformed keys), every algorithm and encoding, and
 *      signatures mutated in every way OpenSSL is strict about: same import result, same verdict;
 *   2. every real and mutated fixture (Intel, AMD, Nitro) through the verifiers twice, once with
 *      crypto.ts swapped for crypto-web.ts (as the browser bundle does) and once with crypto.ts:
 *      same verdict, same error code, reason and message, same claims, collateral and anchors.
 *
 * The swap: crypto.ts is mocked by crypto-web.ts for the whole file; the Node graph is loaded a
 * second time after vi.doUnmock + vi.resetModules, so both live side by side.
 */
import { ECDH, constants, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { listCases, readBytes, FIXTURES } from '../../../helpers/fixtures.ts';

vi.mock('../../../../attestation/common/crypto.ts', () => import('../../../../attestation/common/crypto-web.ts'));

type CryptoModule = typeof import('../../../../attestation/common/crypto.ts');
type WebModule = typeof import('../../../../attestation/common/crypto-web.ts');

interface Graph {
  readonly crypto: CryptoModule;
  readonly errors: typeof import('../../../../attestation/errors.ts');
  readonly intel: typeof import('../../../../attestation/intel/verify.ts');
  readonly bundle: typeof import('../../../../attestation/intel/bundle.ts');
  readonly roots: typeof import('../../../../attestation/roots/index.ts');
  readonly amd: typeof import('../../../../attestation/amd/verify.ts');
  readonly amdCert: typeof import('../../../../attestation/amd/cert.ts');
  readonly kds: typeof import('../../../../attestation/amd/kds.ts');
  readonly nitro: typeof import('../../../../attestation/nitro/verify.ts');
  readonly nitroRoot: typeof import('../../../../attestation/roots/aws-nitro-root.ts');
}

async function loadGraph(): Promise<Graph> {
  return {
    crypto: await import('../../../../attestation/common/crypto.ts'),
    errors: await import('../../../../attestation/errors.ts'),
    intel: await import('../../../../attestation/intel/verify.ts'),
    bundle: await import('../../../../attestation/intel/bundle.ts'),
    roots: await import('../../../../attestation/roots/index.ts'),
    amd: await import('../../../../attestation/amd/verify.ts'),
    amdCert: await import('../../../../attestation/amd/cert.ts'),
    kds: await import('../../../../attestation/amd/kds.ts'),
    nitro: await import('../../../../attestation/nitro/verify.ts'),
    nitroRoot: await import('../../../../attestation/roots/aws-nitro-root.ts'),
  };
}

let web: Graph;
let node: Graph;
let W: WebModule;
let N: CryptoModule;

beforeAll(async () => {
  web = await loadGraph();
  W = await import('../../../../attestation/common/crypto-web.ts');
  vi.doUnmock('../../../../attestation/common/crypto.ts');
  vi.resetModules();
  node = await loadGraph();
  N = node.crypto;
});

it('the two graphs really use the two implementations', () => {
  expect('ecdsaDerToRaw' in web.crypto).toBe(true);
  expect('ecdsaDerToRaw' in node.crypto).toBe(false);
  expect(web.intel).not.toBe(node.intel);
});

// ---------------------------------------------------------------------------------------------
// 1. The adapter

const DATA = new TextEncoder().encode('signed bytes');
const spkiOf = (k: KeyObject): Uint8Array => new Uint8Array(k.export({ type: 'spki', format: 'der' }));

/** DER TLV with a definite minimal length. */
function tlv(tag: number, value: Uint8Array): Uint8Array {
  const n = value.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Uint8Array.from([tag, ...len, ...value]);
}
const cat = (...a: Uint8Array[]): Uint8Array => Uint8Array.from(a.flatMap((x) => [...x]));

/** The AlgorithmIdentifier of an SPKI (its first inner element), as bytes. */
function algIdOf(spki: Uint8Array): Uint8Array {
  const hdr = (spki[1] as number) < 0x80 ? 2 : 2 + ((spki[1] as number) & 0x7f);
  const len = spki[hdr + 1] as number;
  return spki.slice(hdr, hdr + 2 + len);
}
const spkiWithKey = (spki: Uint8Array, key: Uint8Array): Uint8Array => tlv(0x30, cat(algIdOf(spki), tlv(0x03, cat(Uint8Array.of(0), key))));

type Outcome = { ok: { kind: string; curve: string | undefined } } | { err: { code: unknown; reason: unknown; message: unknown } };

async function importOutcome(m: CryptoModule | WebModule, spki: Uint8Array): Promise<Outcome> {
  try {
    const k = await m.importSpki(spki);
    return { ok: { kind: k.kind, curve: k.curve } };
  } catch (e: unknown) {
    const x = e as { code?: unknown; reason?: unknown; message?: unknown };
    return { err: { code: x.code, reason: x.reason, message: x.message } };
  }
}

/** Import with both; they must agree. Returns the two keys (undefined when refused). */
async function both(spki: Uint8Array): Promise<{ n?: Awaited<ReturnType<CryptoModule['importSpki']>>; w?: Awaited<ReturnType<WebModule['importSpki']>>; outcome: Outcome }> {
  const a = await importOutcome(N, spki);
  const b = await importOutcome(W, spki);
  expect(b).toEqual(a);
  if ('err' in a) return { outcome: a };
  return { n: await N.importSpki(spki), w: await W.importSpki(spki), outcome: a };
}

const ALGS = ['ecdsa-p256-sha256', 'ecdsa-p384-sha384', 'ecdsa-sha256', 'ecdsa-sha384', 'rsa-pss-sha384', 'rsa-pkcs1-sha256', 'rsa-pkcs1-sha384'] as const;

/** Every algorithm and encoding with this signature: both implementations give the same verdict. */
async function sameVerdicts(spki: Uint8Array, sig: Uint8Array, data: Uint8Array = DATA): Promise<Record<string, boolean>> {
  const { n, w } = await both(spki);
  if (n === undefined || w === undefined) throw new Error('key refused');
  const got: Record<string, boolean> = {};
  for (const alg of ALGS) {
    for (const enc of ['der', 'raw'] as const) {
      const a = await N.verifySignature(alg, n, data, sig, enc);
      const b = await W.verifySignature(alg, w, data, sig, enc);
      expect({ alg, enc, web: b }).toEqual({ alg, enc, web: a });
      got[`${alg}/${enc}`] = a;
    }
  }
  return got;
}

const EC = [
  { crv: 'P-256', hash: 'sha256', size: 32, openssl: 'prime256v1' },
  { crv: 'P-384', hash: 'sha384', size: 48, openssl: 'secp384r1' },
  { crv: 'P-521', hash: 'sha512', size: 66, openssl: 'secp521r1' },
] as const;

describe('crypto-web against crypto.ts: keys', () => {
  it('EC keys of the three curves in uncompressed, compressed and hybrid form', async () => {
    for (const c of EC) {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: c.crv });
      const spki = spkiOf(publicKey);
      expect((await both(spki)).outcome).toEqual({ ok: { kind: 'ec', curve: c.openssl } });
      const point = spki.slice(spki.length - (1 + 2 * c.size));
      const ecdh = { x: point.slice(1, 1 + c.size), y: point.slice(1 + c.size) };
      const compressed = new Uint8Array(ECDH.convertKey(point, c.crv === 'P-256' ? 'prime256v1' : c.openssl, undefined, undefined, 'compressed') as Buffer);
      const parity = (ecdh.y[c.size - 1] as number) & 1;
      const hybrid = cat(Uint8Array.of(0x06 | parity), ecdh.x, ecdh.y);
      const badHybrid = cat(Uint8Array.of(0x06 | (parity ^ 1)), ecdh.x, ecdh.y);
      const sig = new Uint8Array(sign(c.hash === 'sha512' ? 'sha384' : c.hash, DATA, privateKey));
      for (const form of [compressed, hybrid]) {
        const s = spkiWithKey(spki, form);
        expect((await both(s)).outcome).toEqual({ ok: { kind: 'ec', curve: c.openssl } });
        const v = await sameVerdicts(s, sig);
        expect(v[c.hash === 'sha256' ? 'ecdsa-sha256/der' : 'ecdsa-sha384/der']).toBe(true);
      }
      // The other root of the compressed point: another valid key, which does not verify.
      const other = compressed.slice();
      other[0] = (other[0] as number) ^ 1;
      expect(await sameVerdicts(spkiWithKey(spki, other), sig)).not.toContain(true);
      expect((await both(spkiWithKey(spki, badHybrid))).outcome).toMatchObject({ err: { code: 'ERR_EVIDENCE_MALFORMED', reason: 'malformed_key' } });
    }
  });

  it('points off the curve, wrong lengths and x >= p are malformed keys in both', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = spkiOf(publicKey);
    const offCurve = spki.slice();
    offCurve[90] = (offCurve[90] as number) ^ 1;
    const point = spki.slice(26);
    const cases = [
      offCurve,
      spkiWithKey(spki, point.subarray(0, 64)), // one byte short
      spkiWithKey(spki, cat(point, Uint8Array.of(0))), // one byte long
      spkiWithKey(spki, cat(Uint8Array.of(0x02), new Uint8Array(32).fill(0xff))), // x >= p
      spkiWithKey(spki, cat(Uint8Array.of(0x05), point.subarray(1))), // no such form
      spki.subarray(0, 50),
      Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00),
      new Uint8Array(0),
    ];
    for (const s of cases) expect((await both(s)).outcome).toMatchObject({ err: { code: 'ERR_EVIDENCE_MALFORMED', reason: 'malformed_key' } });
    // Bytes after the SPKI, and the point at infinity (one 0x00 byte, on which Node 20 would abort
    // the whole process if OpenSSL saw it): both refuse, crypto.ts by parsing the SPKI first.
    expect((await both(cat(spki, Uint8Array.of(0)))).outcome).toMatchObject({ err: { code: 'ERR_EVIDENCE_MALFORMED', reason: 'malformed_key' } });
    expect((await both(spkiWithKey(spki, Uint8Array.of(0x00)))).outcome).toMatchObject({ err: { code: 'ERR_EVIDENCE_MALFORMED', reason: 'malformed_key' } });
  });

  it('a compressed x with no point on the curve is malformed in both', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = spkiOf(publicKey);
    // About half of all x have no y; find one deterministically.
    for (let i = 1; i < 64; i++) {
      const x = new Uint8Array(32);
      x[31] = i;
      const s = spkiWithKey(spki, cat(Uint8Array.of(0x02), x));
      const o = await both(s);
      if ('err' in o.outcome) {
        expect(o.outcome.err).toMatchObject({ code: 'ERR_EVIDENCE_MALFORMED' });
        return;
      }
    }
    throw new Error('no x without a point found');
  });

  it('unsupported key types are refused with the same code, reason and message', async () => {
    for (const k of [generateKeyPairSync('ed25519').publicKey, generateKeyPairSync('x25519').publicKey, generateKeyPairSync('ed448').publicKey, generateKeyPairSync('x448').publicKey]) {
      expect((await both(spkiOf(k))).outcome).toMatchObject({ err: { code: 'ERR_EVIDENCE_UNSUPPORTED', reason: 'unsupported_key' } });
    }
  });

  it('RSA and RSA-PSS keys are of kind rsa in both', async () => {
    expect((await both(spkiOf(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey))).outcome).toEqual({ ok: { kind: 'rsa', curve: undefined } });
    expect((await both(spkiOf(generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey))).outcome).toEqual({ ok: { kind: 'rsa', curve: undefined } });
  });
});

/** DER ECDSA signature variants: canonical and the non-canonical encodings OpenSSL refuses. */
function derVariants(der: Uint8Array): Record<string, Uint8Array> {
  // Canonical: 30 L 02 Lr r 02 Ls s (short lengths for P-256/P-384).
  const long = (der[1] as number) >= 0x80;
  const body = der.subarray(long ? 3 : 2);
  const rLen = body[1] as number;
  const r = body.subarray(2, 2 + rLen);
  const s = body.subarray(4 + rLen);
  const seq = (...parts: Uint8Array[]): Uint8Array => tlv(0x30, cat(...parts));
  const int = (v: Uint8Array): Uint8Array => tlv(0x02, v);
  const nonMinimalLen = long ? cat(Uint8Array.of(0x30, 0x82, 0x00, body.length), body) : cat(Uint8Array.of(0x30, 0x81, body.length), body);
  const rPadded = seq(int(cat(Uint8Array.of(0), r)), int(s));
  const negR = seq(int(cat(Uint8Array.of(0x80), r)), int(s));
  const zeroR = seq(int(Uint8Array.of(0)), int(s));
  const out: Record<string, Uint8Array> = {
    canonical: der,
    nonMinimalLength: nonMinimalLen,
    rZeroPadded: rPadded,
    rNegative: negR,
    rZero: zeroR,
    trailingByte: cat(der, Uint8Array.of(0)),
    extraInteger: seq(int(r), int(s), int(Uint8Array.of(1))),
    missingS: seq(int(r)),
    indefinite: cat(Uint8Array.of(0x30, 0x80), body, Uint8Array.of(0, 0)),
    setNotSequence: tlv(0x31, body),
    truncated: der.subarray(0, der.length - 1),
    swapped: seq(int(s), int(r)),
    empty: new Uint8Array(0),
    rTooWide: seq(int(cat(Uint8Array.of(1), r)), int(s)),
  };
  if (((r[0] as number) & 0x80) !== 0 && r[0] === 0) out['rStripped'] = seq(int(r.subarray(1)), int(s));
  return out;
}

describe('crypto-web against crypto.ts: signatures', () => {
  it('ECDSA on each curve: DER and raw, canonical and every non-canonical variant, flipped bits and wrong data', async () => {
    for (const c of EC) {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: c.crv });
      const spki = spkiOf(publicKey);
      for (const hash of ['sha256', 'sha384'] as const) {
        for (let round = 0; round < 4; round++) {
          const data = randomBytes(1 + round * 97);
          const der = new Uint8Array(sign(hash, data, privateKey));
          const raw = new Uint8Array(sign(hash, data, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
          const v = await sameVerdicts(spki, der, data);
          expect(v[`ecdsa-${hash}/der`]).toBe(true);
          expect((await sameVerdicts(spki, raw, data))[`ecdsa-${hash}/raw`]).toBe(true);
          for (const [name, sig] of Object.entries(derVariants(der))) {
            const got = await sameVerdicts(spki, sig, data);
            if (name !== 'canonical') expect({ name, ok: got[`ecdsa-${hash}/der`] }).toEqual({ name, ok: false });
          }
          const flipped = raw.slice();
          flipped[round] = (flipped[round] as number) ^ 0x10;
          await sameVerdicts(spki, flipped, data);
          await sameVerdicts(spki, raw.subarray(1), data);
          await sameVerdicts(spki, cat(raw, Uint8Array.of(0)), data);
          await sameVerdicts(spki, raw, cat(data, Uint8Array.of(1)));
        }
      }
    }
  });

  it('ecdsaDerToRaw pads short integers and refuses what is not canonical DER', () => {
    expect(W.ecdsaDerToRaw(Uint8Array.of(0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02), 2)).toEqual(Uint8Array.of(0, 1, 0, 2));
    expect(W.ecdsaDerToRaw(Uint8Array.of(0x30, 0x07, 0x02, 0x02, 0x00, 0x81, 0x02, 0x01, 0x02), 1)).toEqual(Uint8Array.of(0x81, 2));
    expect(W.ecdsaDerToRaw(Uint8Array.of(0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x02), 2)).toBeUndefined();
    expect(W.ecdsaDerToRaw(Uint8Array.of(0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x02), 2)).toBeUndefined();
    expect(W.ecdsaDerToRaw(Uint8Array.of(0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02), 0)).toBeUndefined();
    expect(W.ecdsaDerToRaw(Uint8Array.of(0x30, 0x82, 0x00, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02), 2)).toBeUndefined();
    expect(W.ecdsaDerToRaw(Uint8Array.of(0x30, 0x06, 0x02, 0x00, 0x02, 0x02, 0x01, 0x02), 2)).toBeUndefined();
  });

  it('RSA PKCS#1 v1.5 and PSS; keys restricted to PSS, to another hash or to a longer salt', async () => {
    // One RSA key; its public half also written as id-RSASSA-PSS SPKIs with the AlgorithmIdentifier
    // Node writes for each restriction, so every padding can be tried against every key type.
    const { publicKey, privateKey: bare } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsaPublic = new Uint8Array(publicKey.export({ type: 'pkcs1', format: 'der' }));
    const pssAlg = (o: { hashAlgorithm?: string; mgf1HashAlgorithm?: string; saltLength?: number }): Uint8Array =>
       algIdOf(spkiOf(generateKeyPairSync('rsa-pss', { modulusLength: 1024, ...o } as { modulusLength: number }).publicKey));
    const asPss = (alg: Uint8Array): Uint8Array => tlv(0x30, cat(alg, tlv(0x03, cat(Uint8Array.of(0), rsaPublic))));
    const keys = {
      rsa: spkiOf(publicKey),
      pssFree: asPss(pssAlg({})),
      pss384: asPss(pssAlg({ hashAlgorithm: 'sha384', mgf1HashAlgorithm: 'sha384', saltLength: 48 })),
      pss256: asPss(pssAlg({ hashAlgorithm: 'sha256', mgf1HashAlgorithm: 'sha256', saltLength: 32 })),
      pssMgf256: asPss(pssAlg({ hashAlgorithm: 'sha384', mgf1HashAlgorithm: 'sha256', saltLength: 48 })),
      pssSalt32: asPss(pssAlg({ hashAlgorithm: 'sha384', mgf1HashAlgorithm: 'sha384', saltLength: 32 })),
      pssSalt64: asPss(pssAlg({ hashAlgorithm: 'sha384', mgf1HashAlgorithm: 'sha384', saltLength: 64 })),
    };
    expect(keys.pssFree).not.toEqual(keys.pss384);
    for (const [name, spki] of Object.entries(keys)) {
      const sigs = {
        pkcs256: sign('sha256', DATA, bare),
        pkcs384: sign('sha384', DATA, bare),
        pss48: sign('sha384', DATA, { key: bare, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }),
        pss32: sign('sha384', DATA, { key: bare, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }),
        pss256: sign('sha256', DATA, { key: bare, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }),
      };
      const verdicts: Record<string, Record<string, boolean>> = {};
      for (const [s, sig] of Object.entries(sigs)) verdicts[s] = await sameVerdicts(spki, new Uint8Array(sig));
      if (name === 'rsa' || name === 'pssFree' || name === 'pss384' || name === 'pssSalt32') expect({ name, ok: verdicts['pss48']?.['rsa-pss-sha384/der'] }).toEqual({ name, ok: true });
      if (name === 'rsa') expect([verdicts['pkcs256']?.['rsa-pkcs1-sha256/der'], verdicts['pkcs384']?.['rsa-pkcs1-sha384/raw']]).toEqual([true, true]);
      const flipped = new Uint8Array(sigs.pss48);
      flipped[100] = (flipped[100] as number) ^ 1;
      await sameVerdicts(spki, flipped);
      await sameVerdicts(spki, cat(Uint8Array.of(0), new Uint8Array(sigs.pkcs256))); // longer than the modulus
      await sameVerdicts(spki, new Uint8Array(0));
    }
  });

  it('an RSA signature with a leading zero byte verifies in both, and not without that byte (OpenSSL 3 wants the full length)', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const spki = spkiOf(publicKey);
    for (let i = 0; i < 20_000; i++) {
      const data = new TextEncoder().encode(`message ${i}`);
      const sig = new Uint8Array(sign('sha256', data, privateKey));
      if (sig[0] !== 0) continue;
      expect((await sameVerdicts(spki, sig, data))['rsa-pkcs1-sha256/der']).toBe(true);
      expect((await sameVerdicts(spki, sig.subarray(1), data))['rsa-pkcs1-sha256/der']).toBe(false);
      return;
    }
    throw new Error('no signature with a leading zero byte found');
  });

  it('digests and p256SpkiFromRaw are the same functions', async () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 1000, 100_000]) {
      const d = randomBytes(n);
      expect(await W.sha256(d)).toEqual(await N.sha256(d));
      expect(await W.sha384(d)).toEqual(await N.sha384(d));
      expect(await W.sha512(d)).toEqual(await N.sha512(d));
    }
    const xy = randomBytes(64);
    expect(W.p256SpkiFromRaw(xy)).toEqual(N.p256SpkiFromRaw(xy));
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const raw = spkiOf(publicKey).subarray(27);
    expect(W.p256SpkiFromRaw(raw)).toEqual(spkiOf(createPublicKey({ key: Buffer.from(spkiOf(publicKey)), format: 'der', type: 'spki' })));
  });
});

// ---------------------------------------------------------------------------------------------
// 2. Every fixture through the verifiers, with each implementation

/** Anything comparable about a run: the result, or the error's code, reason and message. */
async function outcomeOf(g: Graph, run: () => Promise<unknown>): Promise<unknown> {
  try {
    return { ok: await run() };
  } catch (e: unknown) {
    if (!g.errors.AttestationError.is(e)) return { thrown: String(e) };
    return { code: e.code, reason: e.reason, family: e.family, message: e.message };
  }
}

describe('every Intel fixture: the same verdict with crypto-web.ts as with crypto.ts', () => {
  const cases = [...listCases('intel'), ...listCases('intel-mutated')];
  it('has the cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(36);
  });
  for (const c of cases) {
    it(c.name, async () => {
      const run = async (g: Graph, allowDebug: boolean): Promise<unknown> =>
        outcomeOf(g, async () => {
          const ta = c.meta.trust_anchor;
          const pem = ta === undefined ? undefined : readFileSync(join(c.dir, ta), 'utf8');
          const anchors = pem === undefined || pem.trim() === g.roots.INTEL_SGX_ROOT_CA.pem.trim() ? undefined : [await g.roots.anchorFromPem(pem, ta ?? '', false)];
          const collateral = g.bundle.toDcapCollateral(JSON.parse(readFileSync(join(c.dir, 'collateral.json'), 'utf8')));
          return g.intel.verifyDcapQuote(readBytes(c.dir, 'quote.bin'), collateral, {
            at: new Date(c.meta.verify_at),
            tee: c.meta.tee as 'sgx' | 'tdx',
            allowDebug,
            ...(anchors === undefined ? {} : { trustAnchors: anchors }),
          });
        });
      for (const allowDebug of [c.meta.run_with_allow_debug === true, true]) {
        const n = await run(node, allowDebug);
        expect(await run(web, allowDebug)).toEqual(n);
        if (!allowDebug) expect('ok' in (n as object)).toBe(c.meta.expected.verdict === 'ok');
      }
    });
  }
});

describe('every AMD SEV-SNP fixture: the same verdict with crypto-web.ts as with crypto.ts', () => {
  const ROOT = join(FIXTURES, 'amd');
  interface AmdCase {
    readonly dir: string;
    readonly name: string;
    readonly product: string;
    readonly verify_at: string;
    readonly trust_anchor?: string;
    readonly run_with_allow_debug?: boolean;
    readonly files: { report: string; vek: string; cert_chain: string; crl: string | null };
    readonly expected: { verdict: string };
  }
  const cases: AmdCase[] = [];
  for (const base of [ROOT, join(ROOT, 'mutated')]) {
    for (const d of readdirSync(base).sort()) {
      const f = join(base, d, 'case.json');
      if (existsSync(f)) cases.push({ ...(JSON.parse(readFileSync(f, 'utf8')) as Omit<AmdCase, 'dir'>), dir: join(base, d) });
    }
  }
  it('has the cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(9 + 73);
  });
  for (const c of cases) {
    it(c.name, async () => {
      const run = async (g: Graph, allowDebug: boolean): Promise<unknown> =>
        outcomeOf(g, async () => {
          const vekPath = join(c.dir, c.files.vek);
          let vek: Uint8Array = new Uint8Array(readFileSync(vekPath));
          if (vekPath.endsWith('.pem')) vek = g.amdCert.pemBlocks(new TextDecoder().decode(vek), 'vek')[0]?.der ?? new Uint8Array(0);
          const product = g.kds.parseProduct(c.product);
          const anchors = c.trust_anchor === undefined ? undefined : [await g.amdCert.amdAnchorFromPem(readFileSync(join(c.dir, 'ark.pem'), 'utf8'), `${c.name} test ARK`, false)];
          return g.amd.verifySevSnp(
            {
              report: new Uint8Array(readFileSync(join(c.dir, c.files.report))),
              vek,
              certChain: readFileSync(join(c.dir, c.files.cert_chain), 'utf8'),
              ...(c.files.crl === null ? {} : { crl: new Uint8Array(readFileSync(join(c.dir, c.files.crl))) }),
              ...(product === undefined ? {} : { product }),
            },
            { at: new Date(c.verify_at), allowDebug, ...(anchors === undefined ? {} : { trustAnchors: anchors }) },
          );
        });
      for (const allowDebug of [c.run_with_allow_debug === true, true]) {
        expect(await run(web, allowDebug)).toEqual(await run(node, allowDebug));
      }
    });
  }
});

describe('every Nitro fixture: the same verdict with crypto-web.ts as with crypto.ts', () => {
  const DIR = join(FIXTURES, 'nitro');
  const names = readdirSync(DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  it('has the cases', () => {
    expect(names.length).toBeGreaterThanOrEqual(32);
  });
  for (const name of names) {
    it(name, async () => {
      const c = JSON.parse(readFileSync(join(DIR, name, 'case.json'), 'utf8')) as { verify_at: string; trust_anchor?: string; run_with_allow_debug?: boolean; expected: { verdict: string } };
      const doc = readBytes(DIR, name, 'attestation.cbor');
      const run = async (g: Graph, allowDebug: boolean): Promise<unknown> =>
        outcomeOf(g, async () => {
          const file = c.trust_anchor ?? 'root.pem';
          const path = join(DIR, name, file);
          let anchors;
          if (existsSync(path)) {
            const a = await g.roots.anchorFromPem(readFileSync(path, 'utf8'), `${name}/${file}`, false);
            const aws = await g.roots.pinnedAnchor(g.nitroRoot.AWS_NITRO_ROOT_G1);
            if (c.trust_anchor !== undefined || a.sha256 !== aws.sha256) anchors = [a];
          }
          return g.nitro.verifyNitro(doc, { at: new Date(c.verify_at), allowDebug, ...(anchors === undefined ? {} : { trustAnchors: anchors }) });
        });
      for (const allowDebug of [c.run_with_allow_debug === true, true]) {
        const n = await run(node, allowDebug);
        expect(await run(web, allowDebug)).toEqual(n);
        if (!allowDebug) expect('ok' in (n as object)).toBe(c.expected.verdict === 'ok');
      }
    });
  }
});
