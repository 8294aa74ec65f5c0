import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../../attestation/policy/digest.ts';
import { EntryError, parseLogEntry } from '../../../../src/cli/audit-entries.ts';

const jws = 'eyJhbGciOiJFUzI1NiJ9.eyJuIjoxfQ.c2ln';
const base = { kind: 'receipt', id: 'r1', receipt_sha256: createHash('sha256').update(jws).digest('hex'), attestation: 'a1', backend: 'b', model: 'iris:1', time: '2026-12-06T05:00:00.123Z' };
const leaf = (o: object): Uint8Array => new TextEncoder().encode(canonicalJson(o));

describe('receipt entries in the log, as the audit reads them', () => {
  it('accepts an entry with or without the receipt JWS, when it is the one receipt_sha256 names', () => {
    expect(parseLogEntry(leaf(base))).toMatchObject({ kind: 'receipt', id: 'r1', receiptSha256: base.receipt_sha256 });
    expect(parseLogEntry(leaf({ ...base, receipt: jws }))).toMatchObject({ kind: 'receipt', id: 'r1' });
  });

  it('refuses an entry whose receipt is another one than its digest names, or not text', () => {
    for (const receipt of [`${jws}x`, '', 42, null]) {
      expect(() => parseLogEntry(leaf({ ...base, receipt })), String(receipt)).toThrow(EntryError);
    }
  });
});
