/**
 * The SGX extension of PCK certificates (pck.ts), built field by field after Intel's "PCK
 * Certificate and CRL Profile": a well-formed one parses, and each malformed variant is refused
 * with ERR_EVIDENCE_MALFORMED naming what is wrong. Also what a quote says about the collateral it
 * needs (request.ts).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePemCertificates, type Certificate } from '../../../../attestation/common/x509.ts';
import { parseQuote } from '../../../../attestation/intel/parse.ts';
import { pckExtensions } from '../../../../attestation/intel/pck.ts';
import { dcapCollateralNeeds } from '../../../../attestation/intel/request.ts';
import { octets, oid, seq, tlv, uint } from '../../../../enclave/sim/x509-amd-nitro.ts';
import { mintIntelPki, reSignQuote, templateFromQuote } from '../../../fakes/intel-pki.ts';
import { errorOf } from '../../../helpers/errors.ts';
import { FIXTURES, readBytes } from '../../../helpers/fixtures.ts';

const SGX = '1.2.840.113741.1.13.1';
const quoteOf = (name: string): Uint8Array => readBytes(join(FIXTURES, 'intel', name, 'quote.bin'));
const SGX_QUOTE = quoteOf('sgx-v3-phala-processor-00a067');
const TDX_QUOTE = quoteOf('tdx-v4-phala-b0c06f');
const LEAF = parsePemCertificates(parseQuote(SGX_QUOTE).pckChainPem)[0]!;

// ---------------------------------------------------------------------------------------------
// The extension, one item at a time.

type Tcb = Map<number, Uint8Array>;
const item = (n: string, value: Uint8Array): Uint8Array => seq(oid(`${SGX}.${n}`), value);
const comp = (id: string, value: Uint8Array): Uint8Array => seq(oid(id), value);

/** 16 component SVNs (1..16), PCESVN (17) and CPUSVN (18), keyed by the OID's last arc. */
function goodTcb(): Tcb {
  const t: Tcb = new Map();
  for (let i = 1; i <= 16; i++) t.set(i, comp(`${SGX}.2.${i}`, uint(i)));
  t.set(17, comp(`${SGX}.2.17`, uint(13)));
  t.set(18, comp(`${SGX}.2.18`, octets(Uint8Array.from({ length: 16 }, (_, i) => i + 1))));
  return t;
}

interface Parts {
  tcb: Uint8Array[];
  pceId: Uint8Array | undefined;
  fmspc: Uint8Array | undefined;
  sgxType: Uint8Array | undefined;
  extra: Uint8Array[];
}

function good(): Parts {
  return {
    tcb: [...goodTcb().values()],
    pceId: octets(Uint8Array.of(0, 0)),
    fmspc: octets(Uint8Array.of(0x00, 0xa0, 0x67, 0x11, 0x00, 0x00)),
    sgxType: tlv(0x0a, Uint8Array.of(0)),
    extra: [],
  };
}

function encode(p: Parts): Uint8Array {
  return seq(
    item('1', octets(new Uint8Array(16).fill(0xaa))),
    item('2', seq(...p.tcb)),
    ...(p.pceId === undefined ? [] : [item('3', p.pceId)]),
    ...(p.fmspc === undefined ? [] : [item('4', p.fmspc)]),
    ...(p.sgxType === undefined ? [] : [item('5', p.sgxType)]),
    ...p.extra,
  );
}

/** The fixture's PCK leaf with its SGX extension replaced. */
function leafWith(ext: Uint8Array): Certificate {
  return { ...LEAF, extensions: [...LEAF.extensions.filter((e) => e.oid !== SGX), { oid: SGX, critical: false, value: ext }] };
}

function tcbWith(f: (t: Tcb) => void): Parts {
  const t = goodTcb();
  f(t);
  return { ...good(), tcb: [...t.values()] };
}

describe('pckExtensions', () => {
  it('a well-formed extension parses, and items after SGX Type are skipped', () => {
    const e = pckExtensions(leafWith(encode({ ...good(), extra: [item('6', octets(new Uint8Array(16))), item('7', seq())] })));
    expect(e.tcbComponents).toEqual(Uint8Array.from({ length: 16 }, (_, i) => i + 1));
    expect(e.pceSvn).toBe(13);
    expect(e.cpuSvn).toEqual(Uint8Array.from({ length: 16 }, (_, i) => i + 1));
    expect(e.fmspc).toEqual(Uint8Array.of(0x00, 0xa0, 0x67, 0x11, 0x00, 0x00));
    expect(e.sgxType).toBe(0);
  });

  const cases: { name: string; parts: Parts; msg: string }[] = [
    { name: 'an SVN that is an OCTET STRING', parts: tcbWith((t) => t.set(1, comp(`${SGX}.2.1`, octets(Uint8Array.of(1))))), msg: 'SGX TCB comp 1 is not a small integer' },
    { name: 'an empty INTEGER', parts: tcbWith((t) => t.set(2, comp(`${SGX}.2.2`, tlv(0x02, new Uint8Array())))), msg: 'SGX TCB comp 2 is not a small integer' },
    { name: 'a 4-byte INTEGER', parts: tcbWith((t) => t.set(3, comp(`${SGX}.2.3`, tlv(0x02, Uint8Array.of(1, 0, 0, 0))))), msg: 'SGX TCB comp 3 is not a small integer' },
    { name: 'a negative SVN', parts: tcbWith((t) => t.set(4, comp(`${SGX}.2.4`, tlv(0x02, Uint8Array.of(0xff))))), msg: 'SGX TCB comp 4 is negative' },
    { name: 'an SVN of 256', parts: tcbWith((t) => t.set(5, comp(`${SGX}.2.5`, uint(256)))), msg: 'SGX TCB comp 5 is 256, want 0..255' },
    { name: 'a PCESVN of 65536', parts: tcbWith((t) => t.set(17, comp(`${SGX}.2.17`, uint(65536)))), msg: 'PCESVN out of range' },
    { name: 'a 15-byte CPUSVN', parts: tcbWith((t) => t.set(18, comp(`${SGX}.2.18`, octets(new Uint8Array(15))))), msg: 'CPUSVN must be 16 bytes' },
    { name: 'a component listed twice', parts: tcbWith((t) => t.set(0, comp(`${SGX}.2.1`, uint(1)))), msg: `duplicate TCB component ${SGX}.2.1` },
    { name: 'a component 19', parts: tcbWith((t) => t.set(19, comp(`${SGX}.2.19`, uint(1)))), msg: `unexpected TCB item ${SGX}.2.19` },
    { name: 'a component 0', parts: tcbWith((t) => t.set(0, comp(`${SGX}.2.0`, uint(1)))), msg: `unexpected TCB item ${SGX}.2.0` },
    { name: 'a component below another arc', parts: tcbWith((t) => t.set(19, comp(`${SGX}.2.3.1`, uint(1)))), msg: `unexpected TCB item ${SGX}.2.3.1` },
    { name: 'a component outside the SGX arc', parts: tcbWith((t) => t.set(19, comp('1.2.3.4', uint(1)))), msg: 'unexpected TCB item 1.2.3.4' },
    { name: 'a missing component 16', parts: tcbWith((t) => t.delete(16)), msg: 'TCB must have 16 components, PCESVN and CPUSVN' },
    { name: 'a 3-byte PCE-ID', parts: { ...good(), pceId: octets(Uint8Array.of(0, 0, 0)) }, msg: 'PCE-ID must be 2 bytes' },
    { name: 'a 5-byte FMSPC', parts: { ...good(), fmspc: octets(new Uint8Array(5)) }, msg: 'FMSPC must be 6 bytes' },
    { name: 'no SGX Type', parts: { ...good(), sgxType: undefined }, msg: 'TCB, PCE-ID, FMSPC and SGX Type are required' },
    { name: 'no FMSPC', parts: { ...good(), fmspc: undefined }, msg: 'TCB, PCE-ID, FMSPC and SGX Type are required' },
  ];
  it.each(cases)('$name -> ERR_EVIDENCE_MALFORMED', ({ parts, msg }) => {
    const e = errorOf(() => pckExtensions(leafWith(encode(parts))));
    expect([e.code, e.reason, e.message]).toEqual(['ERR_EVIDENCE_MALFORMED', 'malformed_pck_certificate', `PCK certificate SGX extension: ${msg}`]);
  });
});

describe('dcapCollateralNeeds', () => {
  it('reads the TEE, FMSPC and PCK CA of real quotes', () => {
    expect(dcapCollateralNeeds(SGX_QUOTE)).toEqual({ tee: 'sgx', fmspc: '00a067110000', ca: 'processor' });
    expect(dcapCollateralNeeds(TDX_QUOTE)).toEqual({ tee: 'tdx', fmspc: 'b0c06f000000', ca: 'platform' });
  });

  it('a chain of the leaf alone, or a PCK CA of another name or none -> refused', async () => {
    const at = new Date('2025-07-01T00:00:00Z');
    const t = templateFromQuote(SGX_QUOTE);
    const pki = await mintIntelPki({ at, sgxExtension: t.sgxExtension });
    const e1 = errorOf(() => dcapCollateralNeeds(reSignQuote(SGX_QUOTE, pki, { pckChainPem: pki.pck.pem })));
    expect([e1.code, e1.reason, e1.message]).toEqual(['ERR_EVIDENCE_MALFORMED', 'malformed_quote', 'PCK certificate chain needs the PCK and its issuing CA']);
    for (const [pckCa, shown] of [
      ['CN=Intel SGX PCK Other CA, O=Intel Corporation, C=US', 'Intel SGX PCK Other CA'],
      ['O=Intel Corporation, C=US', ''],
    ] as const) {
      const other = await mintIntelPki({ at, sgxExtension: t.sgxExtension, names: { pckCa } });
      const e = errorOf(() => dcapCollateralNeeds(reSignQuote(SGX_QUOTE, other)));
      expect([e.code, e.reason, e.message]).toEqual(['ERR_EVIDENCE_UNSUPPORTED', 'unknown_pck_ca', `PCK issuer is "${shown}", want Intel SGX PCK Platform CA or Processor CA`]);
    }
  });
});
