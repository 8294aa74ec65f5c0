/**
 * The SEV-SNP certificate table (GHCB spec 56421 section 4.1.8.1) as configfs-tsm's auxblob
 * returns it: tables built here from fake DER blobs, every malformation refused with
 * ERR_ATTESTER_FAILED, and random bytes never escaping as anything but an AttesterError.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AttesterError } from '../../../../enclave/attesters/attester.ts';
import {
  CERT_TABLE_ENTRY_SIZE,
  certificateDer,
  guidToBytes,
  guidToString,
  MAX_CERT_TABLE_ENTRIES,
  parseCertTable,
  SNP_CERT_GUID,
  snpCollateralFromAuxblob,
} from '../../../../enclave/attesters/snp-certs.ts';
import { certTable, fakeDer, u32le } from './fakes.ts';

const VCEK = fakeDer(0xa1, 1300);
const VLEK = fakeDer(0xa2, 1200);
const ASK = fakeDer(0xa3, 1500);
const ARK = fakeDer(0xa4, 1400);

/** PEM as KDS serves it, computed independently of the code under test. */
function pem(der: Uint8Array): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

function text(b: Uint8Array): string {
  return Buffer.from(b).toString('latin1');
}

function errorOf(fn: () => unknown): AttesterError {
  try {
    fn();
  } catch (e: unknown) {
    if (e instanceof AttesterError) return e;
    throw new Error(`not an AttesterError: ${String(e)}`);
  }
  throw new Error('did not throw');
}

describe('SNP certificate table GUIDs', () => {
  it('are stored in the byte order of their text form', () => {
    expect(Buffer.from(guidToBytes(SNP_CERT_GUID.vcek)).toString('hex')).toBe('63da758de6644564adc5f4b93be8accd');
    expect(Buffer.from(guidToBytes(SNP_CERT_GUID.ark)).toString('hex')).toBe('c0b406a4a80349529743' + '3fb6014cd0ae');
    for (const g of Object.values(SNP_CERT_GUID)) expect(guidToString(guidToBytes(g))).toBe(g);
  });

  it('refuses a malformed GUID text', () => {
    expect(errorOf(() => guidToBytes('63da758d-e664-4564-adc5')).code).toBe('ERR_ATTESTER_INPUT');
  });
});

describe('parseCertTable', () => {
  it('reads every entry up to the terminator, with copies of the bytes', () => {
    const aux = certTable([[SNP_CERT_GUID.ark, ARK], [SNP_CERT_GUID.ask, ASK], [SNP_CERT_GUID.vcek, VCEK]], 4096);
    const entries = parseCertTable(aux);
    expect(entries.map((e) => e.role)).toEqual(['ark', 'ask', 'vcek']);
    expect(entries[0]!.offset).toBe(4 * CERT_TABLE_ENTRY_SIZE);
    expect(entries[2]!.bytes).toEqual(VCEK);
    aux.fill(0);
    expect(entries[2]!.bytes).toEqual(VCEK);
  });

  it('takes an empty buffer or a lone terminator as no certificates', () => {
    expect(parseCertTable(new Uint8Array(0))).toEqual([]);
    expect(parseCertTable(new Uint8Array(4096))).toEqual([]);
  });

  it('keeps unknown GUIDs with role undefined', () => {
    const entries = parseCertTable(certTable([['00000000-0000-c0de-0000-000000000000', fakeDer(1, 10)]]));
    expect(entries[0]!.role).toBeUndefined();
  });

  const good = (): Uint8Array => certTable([[SNP_CERT_GUID.vcek, VCEK], [SNP_CERT_GUID.ask, ASK]]);
  const cases: { name: string; aux: () => Uint8Array; want: string }[] = [
    { name: 'no terminator within the buffer', aux: () => good().subarray(0, 2 * CERT_TABLE_ENTRY_SIZE + 10), want: 'terminating entry' },
    {
      name: 'an entry past the end',
      aux: () => {
        const b = good();
        u32le(b, 20, VCEK.length + 1_000_000);
        return b;
      },
      want: 'past the end',
    },
    {
      name: 'offset + length overflowing 32 bits',
      aux: () => {
        const b = good();
        u32le(b, 16, 0xffffff00);
        u32le(b, 20, 0x200);
        return b;
      },
      want: 'past the end',
    },
    {
      name: 'an offset inside the table',
      aux: () => {
        const b = good();
        u32le(b, 16, 8);
        return b;
      },
      want: 'inside the table',
    },
    {
      name: 'a zero length',
      aux: () => {
        const b = good();
        u32le(b, 20, 0);
        return b;
      },
      want: 'length 0',
    },
    { name: 'a GUID twice', aux: () => certTable([[SNP_CERT_GUID.vcek, VCEK], [SNP_CERT_GUID.vcek, VLEK]]), want: 'appears twice' },
    {
      name: 'more entries than the bound',
      aux: () => certTable(Array.from({ length: MAX_CERT_TABLE_ENTRIES + 1 }, (_, i) => [`00000000-0000-0000-0000-${i.toString(16).padStart(12, '0')}`, fakeDer(1, 4)] as const)),
      want: `more than ${MAX_CERT_TABLE_ENTRIES} entries`,
    },
  ];
  for (const c of cases) {
    it(`refuses ${c.name}`, () => {
      const e = errorOf(() => parseCertTable(c.aux()));
      expect(e.code).toBe('ERR_ATTESTER_FAILED');
      expect(e.message).toContain(c.want);
    });
  }

  it('accepts exactly the bound', () => {
    const aux = certTable(Array.from({ length: MAX_CERT_TABLE_ENTRIES }, (_, i) => [`00000000-0000-0000-0000-${i.toString(16).padStart(12, '0')}`, fakeDer(1, 4)] as const));
    expect(parseCertTable(aux)).toHaveLength(MAX_CERT_TABLE_ENTRIES);
  });

  it('raises nothing but AttesterError on random input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        try {
          parseCertTable(b);
          snpCollateralFromAuxblob(b, 'vcek');
        } catch (e: unknown) {
          return e instanceof AttesterError && e.code === 'ERR_ATTESTER_FAILED';
        }
        return true;
      }),
      { numRuns: 2000 },
    );
  });
});

describe('certificateDer', () => {
  it('takes DER as is and strips zero padding after it', () => {
    const padded = new Uint8Array(VCEK.length + 100);
    padded.set(VCEK);
    expect(certificateDer(padded, 'x')).toEqual(VCEK);
  });

  it('takes a single PEM certificate', () => {
    expect(certificateDer(new TextEncoder().encode(pem(ASK)), 'x')).toEqual(ASK);
  });

  it.each([
    ['non-zero bytes after the DER', () => Uint8Array.from([...VCEK, 0, 1])],
    ['a truncated DER', () => VCEK.subarray(0, 100)],
    ['not a SEQUENCE', () => Uint8Array.of(0x31, 0x03, 1, 2, 3)],
    ['a length of more than 4 bytes', () => Uint8Array.of(0x30, 0x85, 1, 1, 1, 1, 1)],
    ['PEM with two certificates', () => new TextEncoder().encode(pem(ASK) + pem(ARK))],
    ['PEM whose base64 does not decode', () => new TextEncoder().encode('-----BEGIN CERTIFICATE-----\nA===\n-----END CERTIFICATE-----\n')],
    ['PEM without a certificate', () => new TextEncoder().encode('-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n')],
  ])('refuses %s', (_name, bytes) => {
    expect(errorOf(() => certificateDer(bytes(), 'x')).code).toBe('ERR_ATTESTER_FAILED');
  });
});

describe('snpCollateralFromAuxblob', () => {
  const all = certTable(
    [
      [SNP_CERT_GUID.ark, ARK],
      [SNP_CERT_GUID.ask, ASK],
      [SNP_CERT_GUID.vcek, VCEK],
      [SNP_CERT_GUID.vlek, VLEK],
      [SNP_CERT_GUID.crl, Uint8Array.of(1, 2, 3)],
      ['00000000-0000-c0de-0000-000000000000', Uint8Array.of(9)],
    ],
    1000,
  );

  it('gives vcek.der and cert_chain.pem (ASK, then ARK) for a VCEK-signed report', () => {
    const items = snpCollateralFromAuxblob(all, 'vcek');
    expect(items.map((i) => i.name)).toEqual(['vcek.der', 'cert_chain.pem']);
    expect(items[0]!.bytes).toEqual(VCEK);
    expect(text(items[1]!.bytes)).toBe(pem(ASK) + pem(ARK));
  });

  it('gives vlek.der for a VLEK-signed report, never both leaves', () => {
    const items = snpCollateralFromAuxblob(all, 'vlek');
    expect(items.map((i) => i.name)).toEqual(['vlek.der', 'cert_chain.pem']);
    expect(items[0]!.bytes).toEqual(VLEK);
  });

  it('gives no leaf for an unsigned report, and none the table lacks', () => {
    expect(snpCollateralFromAuxblob(all, 'none').map((i) => i.name)).toEqual(['cert_chain.pem']);
    const noVlek = certTable([[SNP_CERT_GUID.vcek, VCEK], [SNP_CERT_GUID.ark, ARK]]);
    const items = snpCollateralFromAuxblob(noVlek, 'vlek');
    expect(items.map((i) => i.name)).toEqual(['cert_chain.pem']);
    expect(text(items[0]!.bytes)).toBe(pem(ARK));
  });

  it('normalises PEM entries to DER and PEM', () => {
    const aux = certTable([
      [SNP_CERT_GUID.vcek, new TextEncoder().encode(pem(VCEK))],
      [SNP_CERT_GUID.ask, new TextEncoder().encode(pem(ASK))],
      [SNP_CERT_GUID.ark, ARK],
    ]);
    const items = snpCollateralFromAuxblob(aux, 'vcek');
    expect(items[0]!.bytes).toEqual(VCEK);
    expect(text(items[1]!.bytes)).toBe(pem(ASK) + pem(ARK));
  });

  it('gives nothing for an empty table', () => {
    expect(snpCollateralFromAuxblob(new Uint8Array(0), 'vcek')).toEqual([]);
    expect(snpCollateralFromAuxblob(new Uint8Array(0x4000), 'vcek')).toEqual([]);
  });

  it('refuses a malformed certificate of a known role', () => {
    const aux = certTable([[SNP_CERT_GUID.vcek, Uint8Array.of(1, 2, 3)]]);
    const e = errorOf(() => snpCollateralFromAuxblob(aux, 'vcek'));
    expect(e.code).toBe('ERR_ATTESTER_FAILED');
    expect(e.message).toContain('VCEK');
  });
});
