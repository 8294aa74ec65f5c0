/**
 * SEV-SNP paths that need certificates no fixture has: VEKs with odd or missing AMD extensions,
 * ASKs and ARKs with the wrong names, keys or key usage, collateral files of every shape. They are
 * minted here with the synthetic cases' fake ARK/ASK/VEK keys (test/fixtures/amd/mutated/syn-*-ok)
 * and the simulated TEE's DER writer (enclave/sim/x509-amd-nitro.ts), so only the piece under test
 * differs from a chain that verifies. Every negative asserts `code`, `reason` and the message part
 * that names the field.
 */
import { createPrivateKey, createPublicKey, sign as nodeSign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { amdAnchorFromPem, parseAmdCertificate, parseAmdPemCertificates, toPem } from '../../../../attestation/amd/cert.ts';
import { OID, productOfName, productOfProductName, roleOf, vekExtensions } from '../../../../attestation/amd/kds.ts';
import { FIELDS, SIGNED_END, parseReport, productOfCpuid } from '../../../../attestation/amd/parse.ts';
import { createSevSnpCache, sevSnpInputFromFiles, verifySevSnp, type SevSnpInput } from '../../../../attestation/amd/verify.ts';
import { concatBytes } from '../../../../attestation/common/bytes.ts';
import type { Certificate, Extension, TrustAnchor } from '../../../../attestation/common/x509.ts';
import { AttestationError } from '../../../../attestation/errors.ts';
import {
  KEY_USAGE,
  basicConstraints,
  encodeName,
  ia5,
  keyUsage,
  mintCertificate,
  octets,
  seq,
  tlv,
  uint,
  type CertSignatureAlgorithm,
} from '../../../../enclave/sim/x509-amd-nitro.ts';
import { errorOf } from '../../../helpers/errors.ts';

const FIX = join(import.meta.dirname, '../../../fixtures/amd');
const DAY = 86_400_000;

async function rejects(p: Promise<unknown>): Promise<AttestationError> {
  try {
    await p;
  } catch (e: unknown) {
    if (AttestationError.is(e)) return e;
    throw new Error(`not an AttestationError: ${String(e)}`, { cause: e });
  }
  throw new Error('verification unexpectedly succeeded');
}

/** One synthetic case: its report, chain and the private keys of its fake ARK, ASK and VEK. */
interface Pki {
  readonly at: Date;
  readonly report: Uint8Array;
  readonly vek: Certificate;
  readonly ask: Certificate;
  readonly ark: Certificate;
  readonly keys: { readonly ark: KeyObject; readonly ask: KeyObject; readonly vek: KeyObject };
  readonly anchor: TrustAnchor;
}

type Base = 'milan-v3-oak-rk' | 'turin-v5-oak' | 'genoa-v2-oak';
const pkis = new Map<Base, Promise<Pki>>();

function pki(base: Base): Promise<Pki> {
  let p = pkis.get(base);
  if (p === undefined) {
    p = (async (): Promise<Pki> => {
      const dir = join(FIX, 'mutated', `syn-${base}-ok`);
      const [ask, ark] = parseAmdPemCertificates(readFileSync(join(dir, 'cert_chain.pem'), 'utf8'), 'chain');
      const key = (f: string): KeyObject => createPrivateKey(readFileSync(join(dir, f)));
      return {
        at: new Date((JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { verify_at: string }).verify_at),
        report: new Uint8Array(readFileSync(join(dir, 'report.bin'))),
        vek: parseAmdCertificate(new Uint8Array(readFileSync(join(dir, 'vcek.der')))),
        ask: ask!,
        ark: ark!,
        keys: { ark: key('fake_ark.key'), ask: key('fake_ask.key'), vek: key('fake_vek.key') },
        anchor: await amdAnchorFromPem(readFileSync(join(dir, 'ark.pem'), 'utf8'), 'fake ARK', false),
      };
    })();
    pkis.set(base, p);
  }
  return p;
}

interface MintSpec {
  readonly issuer?: Uint8Array;
  readonly subject?: Uint8Array;
  readonly publicKey?: KeyObject;
  readonly extensions?: readonly Extension[];
  readonly signer?: KeyObject;
  readonly algorithm?: CertSignatureAlgorithm;
}

/** A certificate like `like` (names, validity, key, extensions), with the given parts replaced. */
function remint(like: Certificate, defaultSigner: KeyObject, defaultKey: KeyObject, spec: MintSpec = {}): Uint8Array {
  return mintCertificate({
    issuer: spec.issuer ?? like.issuer.der,
    subject: spec.subject ?? like.subject.der,
    notBefore: new Date(like.notBefore),
    notAfter: new Date(like.notAfter),
    publicKey: spec.publicKey ?? createPublicKey(defaultKey),
    extensions: spec.extensions ?? like.extensions,
    signer: { key: spec.signer ?? defaultSigner, algorithm: spec.algorithm ?? 'rsa-pss-sha384-trailer' },
  });
}
const mintVek = (p: Pki, spec: MintSpec = {}): Uint8Array => remint(p.vek, p.keys.ask, p.keys.vek, { algorithm: 'rsa-pss-sha384', ...spec });
const mintAsk = (p: Pki, spec: MintSpec = {}): Uint8Array => remint(p.ask, p.keys.ark, p.keys.ask, spec);

/** The VEK's extensions with `oid` given a new value (or removed when `value` is undefined). */
function withExt(p: Pki, oid: string, value: Uint8Array | undefined): Extension[] {
  const out = p.vek.extensions.filter((e) => e.oid !== oid);
  return value === undefined ? out : [...out, { oid, critical: false, value }];
}

/** Sign bytes [0, 0x2A0) with the fake VEK and store r, s little-endian in their 72-byte fields. */
function resign(report: Uint8Array, key: KeyObject): Uint8Array {
  const out = report.slice();
  const sig = nodeSign('sha384', out.subarray(0, SIGNED_END), { key, dsaEncoding: 'ieee-p1363' });
  out.fill(0, FIELDS.SIGNATURE_R.offset, FIELDS.SIGNATURE_S.offset + 72);
  out.set(Uint8Array.from(sig.subarray(0, 48)).reverse(), FIELDS.SIGNATURE_R.offset);
  out.set(Uint8Array.from(sig.subarray(48, 96)).reverse(), FIELDS.SIGNATURE_S.offset);
  return out;
}

function input(p: Pki, over: { report?: Uint8Array; vek?: Uint8Array; chain?: readonly Uint8Array[]; crl?: Uint8Array } = {}): SevSnpInput {
  return {
    report: over.report ?? resign(p.report, p.keys.vek),
    vek: over.vek ?? p.vek.der,
    certChain: (over.chain ?? [p.ask.der, p.ark.der]).map((d) => toPem(d)).join(''),
    ...(over.crl === undefined ? {} : { crl: over.crl }),
  };
}

const verify = (p: Pki, i: SevSnpInput, anchors: readonly TrustAnchor[] = [p.anchor]): Promise<unknown> => verifySevSnp(i, { at: p.at, trustAnchors: anchors });

const u32 = (b: Uint8Array, off: number, v: number): void => {
  new DataView(b.buffer, b.byteOffset).setUint32(off, v, true);
};

const amdName = (cn: string): Uint8Array => encodeName([['O', 'Advanced Micro Devices'], ['CN', cn]]);

describe('VEK extensions (kds.ts)', () => {
  const malformed = (e: AttestationError): [string, string] => [e.code, e.reason];

  it('an SPL above 255 is refused', async () => {
    const p = await pki('milan-v3-oak-rk');
    const e = errorOf(() => vekExtensions({ ...p.vek, extensions: withExt(p, OID.blSPL, uint(256)) }));
    expect(malformed(e)).toEqual(['ERR_COLLATERAL_MALFORMED', 'vek_extensions']);
    expect(e.message).toContain('extension blSPL is 256, want 0-255');
  });

  it('a productName with a control character or DEL is not printable IA5 text', async () => {
    const p = await pki('milan-v3-oak-rk');
    for (const bad of [0x07, 0x7f]) {
      const e = errorOf(() => vekExtensions({ ...p.vek, extensions: withExt(p, OID.productName, tlv(0x16, Uint8Array.of(0x4d, bad))) }));
      expect(malformed(e)).toEqual(['ERR_COLLATERAL_MALFORMED', 'vek_extensions']);
      expect(e.message).toContain('productName is not printable IA5 text');
    }
  });

  it('a missing SPL extension is named with its OID', async () => {
    const p = await pki('milan-v3-oak-rk');
    const e = errorOf(() => vekExtensions({ ...p.vek, extensions: withExt(p, OID.ucodeSPL, undefined) }));
    expect(malformed(e)).toEqual(['ERR_COLLATERAL_MALFORMED', 'vek_extensions']);
    expect(e.message).toContain(`extension ucodeSPL (${OID.ucodeSPL}) is missing`);
  });

  it('hwID wrapped in an OCTET STRING is accepted at 64 or 8 bytes and refused at any other size', async () => {
    const p = await pki('milan-v3-oak-rk');
    const chip = vekExtensions(p.vek).hwID!;
    for (const hw of [chip, chip.subarray(0, 8)]) {
      expect(vekExtensions({ ...p.vek, extensions: withExt(p, OID.hwID, octets(hw)) }).hwID).toEqual(hw);
    }
    const e = errorOf(() => vekExtensions({ ...p.vek, extensions: withExt(p, OID.hwID, octets(chip.subarray(0, 10))) }));
    expect(malformed(e)).toEqual(['ERR_COLLATERAL_MALFORMED', 'vek_extensions']);
    expect(e.message).toContain('extension hwID is 10 bytes, want 64 or 8');
  });

  it('a VEK with both hwID (VCEK) and cspID (VLEK) is refused', async () => {
    const p = await pki('milan-v3-oak-rk');
    const e = errorOf(() => vekExtensions({ ...p.vek, extensions: withExt(p, OID.cspID, ia5('aws')) }));
    expect(malformed(e)).toEqual(['ERR_COLLATERAL_MALFORMED', 'vek_extensions']);
    expect(e.message).toContain('has both hwID (VCEK) and cspID (VLEK)');
  });
});

describe('certificate roles and product names (kds.ts)', () => {
  it('a CA that is neither self-issued nor named SEV-* has no role', async () => {
    const p = await pki('milan-v3-oak-rk');
    expect(roleOf({ ...p.ask, subject: { ...p.ask.subject, commonName: 'Foo CA' } })).toBeUndefined();
  });

  it('a leaf is a VCEK by its hwID or by the name SEV-VCEK, and otherwise has no role', async () => {
    const p = await pki('milan-v3-oak-rk');
    const noHwId = withExt(p, OID.hwID, undefined);
    expect(roleOf(p.vek)).toBe('vcek');
    expect(roleOf({ ...p.vek, extensions: noHwId })).toBe('vcek');
    expect(roleOf({ ...p.vek, extensions: noHwId, subject: { ...p.vek.subject, commonName: undefined } })).toBeUndefined();
  });

  it('names that are no product give no product', () => {
    expect(productOfName(undefined)).toBeUndefined();
    expect(productOfName('SEV-Naples')).toBeUndefined();
    expect(productOfName('SEV-VLEK-Genoa')).toBe('genoa');
    expect(productOfProductName('Naples-B0')).toBeUndefined();
    expect(productOfProductName('Turin')).toBe('turin');
  });
});

describe('report parsing (parse.ts)', () => {
  it('a report that is not a Uint8Array -> ERR_EVIDENCE_MALFORMED (length)', () => {
    const e = errorOf(() => parseReport(Array(1184).fill(0) as unknown as Uint8Array));
    expect([e.code, e.reason]).toEqual(['ERR_EVIDENCE_MALFORMED', 'length']);
  });

  it('CPUID family and extended model name the product; anything else names none', () => {
    const cases: [number, number, string | undefined][] = [
      [0x19, 0x01, 'milan'],
      [0x19, 0x11, 'genoa'],
      [0x19, 0xa0, 'genoa'], // Bergamo/Siena
      [0x19, 0x21, undefined],
      [0x1a, 0x02, 'turin'],
      [0x1a, 0x11, 'turin'],
      [0x1a, 0x21, undefined],
      [0x17, 0x31, undefined],
    ];
    for (const [family, model, want] of cases) expect({ family, model, p: productOfCpuid({ family, model, stepping: 0 }) }).toEqual({ family, model, p: want });
  });

  it('SIGNING_KEY 7 (no key) parses as NONE and is refused against a VCEK (signing_key)', async () => {
    const p = await pki('genoa-v2-oak');
    const b = p.report.slice();
    u32(b, FIELDS.SIGNER_INFO.offset, 7 << 2);
    expect(parseReport(b).signingKey).toBe('NONE');
    const e = await rejects(verify(p, input(p, { report: resign(b, p.keys.vek) })));
    expect([e.code, e.reason]).toEqual(['ERR_COLLATERAL_MISMATCH', 'signing_key']);
    expect(e.message).toContain('SIGNING_KEY is NONE, want VCEK');
  });

  it('MASK_CHIP_KEY and AUTHOR_KEY_EN are reported as claims', async () => {
    const p = await pki('genoa-v2-oak');
    const b = p.report.slice();
    u32(b, FIELDS.SIGNER_INFO.offset, 0b11);
    const r = (await verify(p, input(p, { report: resign(b, p.keys.vek) }))) as { claims: Record<string, unknown> };
    expect(r.claims).toMatchObject({ mask_chip_key: 1, author_key_en: 1 });
  });
});

describe('collateral presence and chain shape (steps 3-5)', () => {
  it('a VEK without its cert_chain -> ERR_COLLATERAL_UNAVAILABLE naming the cert_chain', async () => {
    const p = await pki('milan-v3-oak-rk');
    const e = await rejects(verify(p, { report: p.report, vek: p.vek.der }));
    expect([e.code, e.reason]).toEqual(['ERR_COLLATERAL_UNAVAILABLE', 'collateral_missing']);
    expect(e.message).toContain('the ASK/ARK cert_chain is needed');
  });

  it('an ASK given as the VEK -> chain (not a VCEK or VLEK)', async () => {
    const p = await pki('milan-v3-oak-rk');
    const e = await rejects(verify(p, input(p, { vek: p.ask.der })));
    expect([e.code, e.reason]).toEqual(['ERR_CHAIN_UNTRUSTED', 'chain']);
    expect(e.message).toContain('is not a VCEK or VLEK');
  });

  it('a cert_chain of one or three certificates -> chain', async () => {
    const p = await pki('milan-v3-oak-rk');
    for (const chain of [[p.ask.der], [p.ask.der, p.ark.der, p.ark.der]]) {
      const e = await rejects(verify(p, input(p, { chain })));
      expect([e.code, e.reason]).toEqual(['ERR_CHAIN_UNTRUSTED', 'chain']);
      expect(e.message).toContain(`cert_chain holds ${chain.length} certificate(s), want 2`);
    }
  });

  it('a first certificate that is no AMD CA -> chain', async () => {
    const p = await pki('milan-v3-oak-rk');
    const foo = mintAsk(p, { subject: amdName('Foo CA') });
    const e = await rejects(verify(p, input(p, { chain: [foo, p.ark.der] })));
    expect([e.code, e.reason]).toEqual(['ERR_CHAIN_UNTRUSTED', 'chain']);
    expect(e.message).toContain('is not an AMD CA, want the ASK that issues VCEKs');
  });

  it('a VEK whose issuer names no product, and no product given -> ERR_EVIDENCE_UNSUPPORTED (product)', async () => {
    const p = await pki('milan-v3-oak-rk');
    const e = await rejects(verify(p, input(p, { vek: mintVek(p, { issuer: amdName('SEV-Naples') }) })));
    expect([e.code, e.reason]).toEqual(['ERR_EVIDENCE_UNSUPPORTED', 'product']);
    expect(e.message).toContain('cannot tell the product from VEK issuer');
  });

  it("an ASK not issued by the chain's ARK -> chain", async () => {
    const p = await pki('milan-v3-oak-rk');
    const genoa = await pki('genoa-v2-oak');
    const e = await rejects(verify(p, input(p, { chain: [p.ask.der, genoa.ark.der] })));
    expect([e.code, e.reason]).toEqual(['ERR_CHAIN_UNTRUSTED', 'chain']);
    expect(e.message).toContain("is not the cert_chain's ARK");
  });

  it('an ASK whose keyUsage lacks keyCertSign -> chain', async () => {
    const p = await pki('milan-v3-oak-rk');
    const ask = mintAsk(p, { extensions: [basicConstraints(true, 0), keyUsage(KEY_USAGE.digitalSignature, KEY_USAGE.cRLSign)] });
    const e = await rejects(verify(p, input(p, { chain: [ask, p.ark.der] })));
    expect([e.code, e.reason]).toEqual(['ERR_CHAIN_UNTRUSTED', 'chain']);
    expect(e.message).toContain('ASK "');
    expect(e.message).toContain('is not a CA allowed to sign certificates');
  });
});

describe('trust anchor and chain signatures (steps 6-7)', () => {
  it('a configured anchor that is no product ARK -> ark_not_pinned', async () => {
    const p = await pki('milan-v3-oak-rk');
    const rootName = amdName('Some Root');
    const root = mintCertificate({
      issuer: rootName,
      subject: rootName,
      notBefore: new Date(p.ark.notBefore),
      notAfter: new Date(p.ark.notAfter),
      publicKey: createPublicKey(p.keys.ark),
      extensions: [basicConstraints(true), keyUsage(KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign)],
      signer: { key: p.keys.ark, algorithm: 'rsa-pss-sha384-trailer' },
    });
    const anchor = await amdAnchorFromPem(toPem(root), 'some root', false);
    const e = await rejects(verify(p, input(p, { chain: [mintAsk(p, { issuer: rootName }), root] }), [anchor]));
    expect([e.code, e.reason]).toEqual(['ERR_CHAIN_UNTRUSTED', 'ark_not_pinned']);
    expect(e.message).toContain('is not named for any product, want the Milan ARK');
  });

  it('an ASK signed by another key -> ERR_SIGNATURE_INVALID (chain)', async () => {
    const p = await pki('milan-v3-oak-rk');
    const other = (await pki('genoa-v2-oak')).keys.ark;
    const e = await rejects(verify(p, input(p, { chain: [mintAsk(p, { signer: other }), p.ark.der] })));
    expect([e.code, e.reason]).toEqual(['ERR_SIGNATURE_INVALID', 'chain']);
    expect(e.message).toBe('SEV-SNP ASK is not signed by the ARK');
  });

  it('a VEK signed by another key -> ERR_SIGNATURE_INVALID (chain)', async () => {
    const p = await pki('milan-v3-oak-rk');
    const other = (await pki('genoa-v2-oak')).keys.ask;
    const e = await rejects(verify(p, input(p, { vek: mintVek(p, { signer: other }) })));
    expect([e.code, e.reason]).toEqual(['ERR_SIGNATURE_INVALID', 'chain']);
    expect(e.message).toBe('SEV-SNP VCEK is not signed by the ASK');
  });
});

describe('what the VEK certifies against the report (step 11)', () => {
  it('a re-minted VEK with the same content verifies (control)', async () => {
    const p = await pki('milan-v3-oak-rk');
    await expect(verify(p, input(p, { vek: mintVek(p) }))).resolves.toMatchObject({ verdict: 'ok' });
  });

  it('a VEK productName of another product -> product', async () => {
    const p = await pki('milan-v3-oak-rk');
    const e = await rejects(verify(p, input(p, { vek: mintVek(p, { extensions: withExt(p, OID.productName, ia5('Genoa')) }) })));
    expect([e.code, e.reason]).toEqual(['ERR_COLLATERAL_MISMATCH', 'product']);
    expect(e.message).toContain('productName is "Genoa", want Milan');
  });

  it('CPUID of no known product -> product', async () => {
    const p = await pki('milan-v3-oak-rk');
    const b = p.report.slice();
    b[FIELDS.CPUID_FAM_ID.offset] = 0x17;
    const e = await rejects(verify(p, input(p, { report: resign(b, p.keys.vek) })));
    expect([e.code, e.reason]).toEqual(['ERR_COLLATERAL_MISMATCH', 'product']);
    expect(e.message).toContain('(an unknown product), want Milan');
  });

  it('Turin: a VEK without fmcSPL does not certify the report FMC SPL -> tcb_mismatch', async () => {
    const p = await pki('turin-v5-oak');
    const e = await rejects(verify(p, input(p, { vek: mintVek(p, { extensions: withExt(p, OID.fmcSPL, undefined) }) })));
    expect([e.code, e.reason]).toEqual(['ERR_COLLATERAL_MISMATCH', 'tcb_mismatch']);
    expect(e.message).toContain("want the VEK's SPLs (fmc=-1 ");
  });

  it('a VCEK (by name) without hwID cannot vouch for a CHIP_ID -> hwid_mismatch', async () => {
    const p = await pki('milan-v3-oak-rk');
    const e = await rejects(verify(p, input(p, { vek: mintVek(p, { extensions: withExt(p, OID.hwID, undefined) }) })));
    expect([e.code, e.reason]).toEqual(['ERR_COLLATERAL_MISMATCH', 'hwid_mismatch']);
    expect(e.message).toContain('want the VCEK hwID (none)');
  });
});

// Minimal CRL (v2, RSASSA-PSS SHA-384 as AMD signs them), nextUpdate optional.
const PSS_ALG = seq(
  tlv(0x06, Uint8Array.of(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a)),
  seq(
    tlv(0xa0, seq(tlv(0x06, Uint8Array.of(0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02)), Uint8Array.of(0x05, 0x00))),
    tlv(0xa1, seq(tlv(0x06, Uint8Array.of(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08)), seq(tlv(0x06, Uint8Array.of(0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02)), Uint8Array.of(0x05, 0x00)))),
    tlv(0xa2, uint(48)),
  ),
);
const utc = (d: Date): Uint8Array => tlv(0x17, new TextEncoder().encode(`${d.toISOString().slice(2, 19).replace(/[-T:]/g, '')}Z`));
function mintCrl(p: Pki, thisUpdate: Date, nextUpdate: Date | undefined): Uint8Array {
  const tbs = seq(uint(1), PSS_ALG, p.ark.subject.der, utc(thisUpdate), ...(nextUpdate === undefined ? [] : [utc(nextUpdate)]));
  const sig = nodeSign('sha384', tbs, { key: p.keys.ark, padding: 6, saltLength: 48 });
  return seq(tbs, PSS_ALG, tlv(0x03, Uint8Array.of(0), new Uint8Array(sig)));
}

describe('CRL (step 10)', () => {
  it('a CRL without nextUpdate is stale: it would never expire', async () => {
    const p = await pki('milan-v3-oak-rk');
    const ok = mintCrl(p, new Date(p.at.getTime() - DAY), new Date(p.at.getTime() + DAY));
    await expect(verify(p, input(p, { crl: ok }))).resolves.toMatchObject({ verdict: 'ok', expires_at: new Date(p.at.getTime() + DAY).toISOString() });
    const e = await rejects(verify(p, input(p, { crl: mintCrl(p, new Date(p.at.getTime() - DAY), undefined) })));
    expect([e.code, e.reason]).toEqual(['ERR_COLLATERAL_STALE', 'collateral_expired']);
    expect(e.message).toContain('(no nextUpdate)');
  });
});

describe('cache', () => {
  it('pinned roots, no product given: the second call reuses the verified chain', async () => {
    const dir = join(FIX, 'genoa-v2-oak');
    const at = new Date((JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { verify_at: string }).verify_at);
    const i: SevSnpInput = {
      report: new Uint8Array(readFileSync(join(dir, 'report.bin'))),
      vek: new Uint8Array(readFileSync(join(dir, 'vcek.der'))),
      certChain: readFileSync(join(dir, 'cert_chain.pem'), 'utf8'),
    };
    const cache = createSevSnpCache();
    const first = await verifySevSnp(i, { at, cache });
    const second = await verifySevSnp(i, { at, cache });
    expect(cache.chains.size).toBe(1);
    expect(second).toEqual(first);
    expect(second.trust_anchor).toMatchObject({ pinned: true });
  });

  it('a negative maxEntries keeps nothing (and does not loop)', async () => {
    const p = await pki('genoa-v2-oak');
    const cache = createSevSnpCache(-1);
    await expect(verifySevSnp(input(p), { at: p.at, trustAnchors: [p.anchor], cache })).resolves.toMatchObject({ verdict: 'ok' });
    expect(cache.chains.size).toBe(0);
  });
});

describe('collateral files recognised by content (sevSnpInputFromFiles)', () => {
  const text = (s: string): Uint8Array => new TextEncoder().encode(s);
  const unrecognised = (f: () => unknown, msg: string): void => {
    const e = errorOf(f);
    expect([e.code, e.reason]).toEqual(['ERR_COLLATERAL_MALFORMED', 'collateral_unrecognised']);
    expect(e.message).toContain(msg);
  };

  it('a certificate that is no AMD certificate is refused, in DER and in PEM', async () => {
    const p = await pki('milan-v3-oak-rk');
    const leaf = mintVek(p, { subject: amdName('some server'), extensions: withExt(p, OID.hwID, undefined) });
    unrecognised(() => sevSnpInputFromFiles(p.report, [{ name: 'leaf.pem', bytes: text(toPem(leaf)) }]), 'SEV-SNP collateral leaf.pem: certificate "');
    const ca = mintAsk(p, { subject: amdName('Foo CA') });
    unrecognised(() => sevSnpInputFromFiles(p.report, [{ name: 'ca.der', bytes: ca }]), 'is not an AMD VCEK, VLEK, ASK, ASVK or ARK');
  });

  it('PEM text without a complete block is refused', async () => {
    const p = await pki('milan-v3-oak-rk');
    unrecognised(() => sevSnpInputFromFiles(p.report, [{ name: 'cut.pem', bytes: text('-----BEGIN CERTIFICATE-----\nMIIB\n') }]), 'cut.pem: no PEM block');
  });

  it('a CRL in PEM is taken as the CRL; the same CRL twice is one, two different CRLs are refused', async () => {
    const p = await pki('milan-v3-oak-rk');
    const a = mintCrl(p, new Date(p.at.getTime() - DAY), new Date(p.at.getTime() + DAY));
    const b = mintCrl(p, new Date(p.at.getTime() - DAY), new Date(p.at.getTime() + 2 * DAY));
    const pemA = text(toPem(a, 'X509 CRL'));
    expect(sevSnpInputFromFiles(p.report, [{ bytes: pemA }, { bytes: a }]).crl).toEqual(a);
    unrecognised(() => sevSnpInputFromFiles(p.report, [{ bytes: pemA }, { name: 'b.crl', bytes: b }]), 'b.crl: a second, different CRL');
  });

  it('two different VEKs are refused; the same VEK twice is one', async () => {
    const p = await pki('milan-v3-oak-rk');
    expect(sevSnpInputFromFiles(p.report, [{ bytes: p.vek.der }, { bytes: text(toPem(p.vek.der)) }]).vek).toEqual(p.vek.der);
    unrecognised(() => sevSnpInputFromFiles(p.report, [{ bytes: p.vek.der }, { bytes: mintVek(p) }]), 'set: 2 VCEK/VLEK certificates given, want one');
  });

  it('a DER certificate with a trailing byte is neither a certificate nor a CRL', async () => {
    const p = await pki('milan-v3-oak-rk');
    unrecognised(() => sevSnpInputFromFiles(p.report, [{ name: 'x.der', bytes: concatBytes(p.vek.der, Uint8Array.of(0)) }]), 'x.der: neither a DER certificate nor a DER CRL (');
  });
});
