import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toBase64, toHex } from '../../../../attestation/common/bytes.ts';
import {
  formatCheckpoint,
  formatVerifierKey,
  isValidKeyName,
  MAX_NOTE_SIGNATURES,
  noteKeyId,
  parseCheckpoint,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  SIG_TYPE_ED25519,
  signCheckpoint,
  signNote,
  verifyCheckpoint,
  type NoteVerifier,
} from '../../../../src/audit/checkpoint.ts';
import { createNoteSigner, createNoteSignerFromKey, createNoteVerifier, ed25519NoteVerifier, ed25519PrivateKeyFromSeed } from '../../../../src/audit/ed25519-node.ts';
import { LogError } from '../../../../src/audit/errors.ts';
import { sha256 } from '../../../../src/audit/sha256-node.ts';
import { logErrorOf, logErrorOfAsync } from './helpers.ts';

/*
 * Real-world vectors:
 *  - PETER_*: the example of golang.org/x/mod/sumdb/note (note.go package documentation, also
 *    ExampleSign in example_test.go): a signer key, its verifier key, and the signed note that Go's
 *    note.Sign writes for the text. Ed25519 is deterministic, so our signer must match byte for byte.
 *  - SUMDB_*: a checkpoint of the Go checksum database as served by https://sum.golang.org/lookup
 *    (quoted in sigsum-go's design notes, tree size 49189689), and sum.golang.org's verifier key as
 *    compiled into the go command (src/cmd/go/internal/modfetch/key.go). The key name differs from
 *    the origin line, which the spec allows.
 */
const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const PETER_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_NOTE = `${PETER_TEXT}\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;
const SUMDB_VKEY = 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8';
const SUMDB_NOTE =
  'go.sum database tree\n49189689\nftjbAOzaupaIvaPo/G+Dk63nxOZ2s1OPOKIaPtXs7S4=\n\n' +
  '\u2014 sum.golang.org Az3grlKZssqRoMNPpZfKt0TphbbcF+pzXqElURJKRNFKfaUAgqeI5k2AORH0QAhg/ebRwyIqD/OqP4oLtLnNumvOBAM=\n';

const ROOT = sha256(new TextEncoder().encode('root'));
const ORIGIN = 'example.com/attestgate/log';
const seed = new Uint8Array(32).map((_, i) => i + 1);
const signer = createNoteSigner(ORIGIN, seed);
const verifier = createNoteVerifier(signer.verifierKey);

describe('interoperability with the Go note package and a real log', () => {
  it('signs the sumdb/note example byte for byte', () => {
    const s = createNoteSignerFromKey(PETER_SKEY);
    expect(s.verifierKey).toBe(PETER_VKEY);
    expect(signNote(PETER_TEXT, [s])).toBe(PETER_NOTE);
  });

  it('verifies the sumdb/note example and rejects one changed letter', async () => {
    const v = createNoteVerifier(PETER_VKEY);
    const parsed = parseNote(PETER_NOTE);
    expect(parsed.text).toBe(PETER_TEXT);
    expect(parsed.signatures.map((s) => [s.name, s.keyId.toString(16)])).toEqual([['PeterNeumann', 'c74f20a3']]);
    const bad = PETER_NOTE.replace('cryptography', 'cryptographY');
    // Not a checkpoint, so check the note layer directly.
    const { verifyNoteSignatures } = await import('../../../../src/audit/checkpoint.ts');
    await expect(verifyNoteSignatures(parsed, [v])).resolves.toHaveLength(1);
    expect((await logErrorOfAsync(verifyNoteSignatures(parseNote(bad), [v]))).code).toBe('ERR_CHECKPOINT_SIGNATURE');
  });

  it("verifies a checkpoint signed by sum.golang.org's key", async () => {
    const cp = await verifyCheckpoint(SUMDB_NOTE, [createNoteVerifier(SUMDB_VKEY)], { origin: 'go.sum database tree' });
    expect(cp.size).toBe(49189689);
    expect(toBase64(cp.root)).toBe('ftjbAOzaupaIvaPo/G+Dk63nxOZ2s1OPOKIaPtXs7S4=');
    expect(cp.signedBy[0]?.name).toBe('sum.golang.org');
    const changed = SUMDB_NOTE.replace('49189689', '49189690');
    expect((await logErrorOfAsync(verifyCheckpoint(changed, [createNoteVerifier(SUMDB_VKEY)]))).code).toBe('ERR_CHECKPOINT_SIGNATURE');
  });
});

describe('checkpoint text (c2sp.org/tlog-checkpoint)', () => {
  it('formats origin, decimal size and base64 root, one per line', () => {
    expect(formatCheckpoint({ origin: ORIGIN, size: 0, root: ROOT })).toBe(`${ORIGIN}\n0\n${toBase64(ROOT)}\n`);
    const text = formatCheckpoint({ origin: ORIGIN, size: 20852163, root: ROOT, extensions: ['ext'] });
    expect(parseCheckpoint(text)).toEqual({ origin: ORIGIN, size: 20852163, root: ROOT, extensions: ['ext'] });
  });

  const good = `${ORIGIN}\n42\n${toBase64(ROOT)}\n`;
  /** The same 32 bytes, with one of the two unused low bits of the last base64 digit set. */
  const nonCanonical = (b: Uint8Array): string => {
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const t = toBase64(b);
    const last = ALPHABET.indexOf(t.charAt(42));
    return `${t.slice(0, 42)}${ALPHABET.charAt(last ^ 1)}=`;
  };
  const cases: { name: string; text: string; message: RegExp }[] = [
    { name: 'no final newline', text: good.slice(0, -1), message: /newline/ },
    { name: 'two lines', text: `${ORIGIN}\n42\n`, message: /at least 3/ },
    { name: 'empty origin', text: `\n42\n${toBase64(ROOT)}\n`, message: /origin/ },
    { name: 'leading zero', text: good.replace('\n42\n', '\n042\n'), message: /leading zeros/ },
    { name: 'negative size', text: good.replace('\n42\n', '\n-1\n'), message: /decimal/ },
    { name: 'size with a plus', text: good.replace('\n42\n', '\n+42\n'), message: /decimal/ },
    { name: 'size above 2^53', text: good.replace('\n42\n', '\n9007199254740993\n'), message: /2\^53/ },
    { name: 'hex root (valid base64 of 48 bytes)', text: `${ORIGIN}\n42\n${toHex(ROOT)}\n`, message: /48 bytes, want 32/ },
    { name: 'unpadded root', text: good.replace('=\n', '\n'), message: /base64/ },
    { name: 'base64url root', text: `${ORIGIN}\n42\n${toBase64(new Uint8Array(32).fill(0xfb)).replace(/\+/g, '-').replace(/\//g, '_')}\n`, message: /base64/ },
    { name: 'non-canonical root (padding bits set)', text: `${ORIGIN}\n42\n${nonCanonical(ROOT)}\n`, message: /canonical/ },
    { name: '31-byte root', text: `${ORIGIN}\n42\n${toBase64(ROOT.subarray(1))}\n`, message: /31 bytes/ },
    { name: 'empty extension', text: `${good}\n`, message: /extension/ },
    { name: 'carriage return', text: good.replace('\n42', '\r\n42'), message: /control/ },
  ];
  for (const c of cases) {
    it(`rejects ${c.name}`, () => {
      const e = logErrorOf(() => parseCheckpoint(c.text));
      expect(e.code).toBe('ERR_CHECKPOINT_MALFORMED');
      expect(e.message).toMatch(c.message);
    });
  }

  it('rejects values the format cannot hold', () => {
    for (const bad of [
      { origin: '', size: 1, root: ROOT },
      { origin: 'a\nb', size: 1, root: ROOT },
      { origin: ORIGIN, size: -1, root: ROOT },
      { origin: ORIGIN, size: 1.5, root: ROOT },
      { origin: ORIGIN, size: 1, root: new Uint8Array(31) },
      { origin: ORIGIN, size: 1, root: ROOT, extensions: [''] },
    ]) {
      expect(logErrorOf(() => formatCheckpoint(bad)).code).toBe('ERR_CHECKPOINT_MALFORMED');
    }
  });
});

describe('signed checkpoints', () => {
  const note = signCheckpoint({ origin: ORIGIN, size: 7, root: ROOT }, signer);

  it('round-trips through sign and verify', async () => {
    expect(note).toMatch(new RegExp(`^${ORIGIN}\\n7\\n[A-Za-z0-9+/]{43}=\\n\\n\u2014 ${ORIGIN} [A-Za-z0-9+/]{91}=\\n$`));
    const cp = await verifyCheckpoint(note, [verifier], { origin: ORIGIN });
    expect(cp).toMatchObject({ origin: ORIGIN, size: 7, root: ROOT, note });
    // The key ID: SHA-256(name || 0x0A || 0x01 || public key)[:4].
    const id = sha256(new Uint8Array([...new TextEncoder().encode(ORIGIN), 0x0a, 0x01, ...signer.publicKey]));
    expect(signer.keyId.toString(16).padStart(8, '0')).toBe(toHex(id.subarray(0, 4)));
    expect(signer.verifierKey).toBe(`${ORIGIN}+${toHex(id.subarray(0, 4))}+${toBase64(new Uint8Array([1, ...signer.publicKey]))}`);
  });

  it('accepts a KeyObject as the private key and gives the same signatures as its seed', () => {
    expect(signCheckpoint({ origin: ORIGIN, size: 7, root: ROOT }, createNoteSigner(ORIGIN, ed25519PrivateKeyFromSeed(seed)))).toBe(note);
  });

  it('ignores unknown keys, but needs at least one trusted signature', async () => {
    const other = createNoteSigner('witness.example/w1', new Uint8Array(32).fill(9));
    const cosigned = signNote(parseNote(note).text, [signer, other]);
    expect((await verifyCheckpoint(cosigned, [verifier])).signedBy.map((s) => s.name)).toEqual([ORIGIN]);
    expect((await verifyCheckpoint(cosigned, [createNoteVerifier(other.verifierKey)])).signedBy.map((s) => s.name)).toEqual(['witness.example/w1']);
    // Same name, different key: not the trusted key, so it is ignored, and nothing trusted remains.
    const impostor = createNoteSigner(ORIGIN, new Uint8Array(32).fill(3));
    const forged = signNote(parseNote(note).text, [impostor]);
    const err = await logErrorOfAsync(verifyCheckpoint(forged, [verifier]));
    expect(err.code).toBe('ERR_CHECKPOINT_SIGNATURE');
    expect(err.message).toMatch(/no signature from a trusted key/);
  });

  it('rejects the whole note when a trusted signature fails, even next to a good one', async () => {
    const text = parseNote(note).text;
    const witness = createNoteSigner('witness.example/w1', new Uint8Array(32).fill(9));
    const witnessVerifier = createNoteVerifier(witness.verifierKey);
    const lying: NoteVerifier = { name: witness.name, keyId: witness.keyId, verify: () => false };
    const both = signNote(text, [signer, witness]);
    await expect(verifyCheckpoint(both, [verifier, witnessVerifier])).resolves.toMatchObject({ size: 7 });
    const e = await logErrorOfAsync(verifyCheckpoint(both, [verifier, lying]));
    expect(e.code).toBe('ERR_CHECKPOINT_SIGNATURE');
    expect(e.message).toMatch(/does not verify/);
    // An async verifier (as WebCrypto's) works the same way.
    const asyncVerifier: NoteVerifier = { name: verifier.name, keyId: verifier.keyId, verify: (m, s) => Promise.resolve(verifier.verify(m, s)) };
    await expect(verifyCheckpoint(note, [asyncVerifier])).resolves.toMatchObject({ size: 7 });
    const ambiguous = await logErrorOfAsync(verifyCheckpoint(note, [verifier, asyncVerifier]));
    expect(ambiguous.message).toMatch(/two trusted keys/);
  });

  it('rejects a checkpoint of another log signed by the same key', async () => {
    const other = signCheckpoint({ origin: 'example.com/other-log', size: 7, root: ROOT }, signer);
    const e = await logErrorOfAsync(verifyCheckpoint(other, [verifier], { origin: ORIGIN }));
    expect(e.code).toBe('ERR_CHECKPOINT_MALFORMED');
    expect(e.message).toMatch(/origin is "example.com\/other-log", want "example.com\/attestgate\/log"/);
  });

  it('rejects a flipped bit anywhere in the signature', async () => {
    const parsed = parseNote(note);
    const sig = parsed.signatures[0];
    if (sig === undefined) throw new Error('no signature');
    for (const i of [0, 31, 63]) {
      const s = sig.signature.slice();
      s[i] = (s[i] as number) ^ 1;
      const id = [sig.keyId >>> 24, (sig.keyId >>> 16) & 255, (sig.keyId >>> 8) & 255, sig.keyId & 255];
      const bad = `${parsed.text}\n\u2014 ${sig.name} ${toBase64(new Uint8Array([...id, ...s]))}\n`;
      expect((await logErrorOfAsync(verifyCheckpoint(bad, [verifier]))).code, `byte ${i}`).toBe('ERR_CHECKPOINT_SIGNATURE');
    }
  });
});

describe('signed-note parsing (c2sp.org/signed-note)', () => {
  const note = signCheckpoint({ origin: ORIGIN, size: 7, root: ROOT }, signer);
  const sigLine = note.slice(note.lastIndexOf('\u2014'));
  const cases: { name: string; note: string; message: RegExp }[] = [
    { name: 'no blank line', note: note.replace('\n\n', '\n'), message: /blank line/ },
    { name: 'no signature lines', note: note.slice(0, note.lastIndexOf('\u2014')), message: /no signature lines/ },
    { name: 'no final newline', note: note.slice(0, -1), message: /newline/ },
    { name: 'hyphen for em dash', note: note.replace('\u2014', '-'), message: /em dash/ },
    { name: 'no space after the name', note: note.replace(`${ORIGIN} `, ORIGIN), message: /no space/ },
    { name: 'a plus in the key name', note: note.replace(`\u2014 ${ORIGIN}`, '\u2014 a+b'), message: /key name/ },
    { name: 'a short signature', note: `${parseNote(note).text}\n\u2014 ${ORIGIN} AAAAAA==\n`, message: /4-byte key ID/ },
    { name: 'a tab', note: note.replace('\n7\n', '\n7\t\n'), message: /control/ },
    { name: 'a NUL', note: note.replace('\n7\n', '\n7\u0000\n'), message: /control/ },
    { name: 'a lone surrogate', note: note.replace('\n7\n', '\n7\uD800\n'), message: /UTF-8/ },
    { name: 'too many signatures', note: `${parseNote(note).text}\n${sigLine.repeat(MAX_NOTE_SIGNATURES + 1)}`, message: /limit/ },
    { name: 'a huge note', note: 'x'.repeat(2 << 20), message: /limit/ },
  ];
  for (const c of cases) {
    it(`rejects ${c.name}`, async () => {
      const e = await logErrorOfAsync(verifyCheckpoint(c.note, [verifier]));
      expect(e.code).toBe('ERR_CHECKPOINT_MALFORMED');
      expect(e.message).toMatch(c.message);
    });
  }

  it('takes the text up to the last blank line (the text may contain blank lines)', () => {
    const n = signNote('a\n\nb\n', [signer]);
    expect(parseNote(n).text).toBe('a\n\nb\n');
  });

  it('raises only LogError on arbitrary input (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom(note, `${note}x`, note.replace('=', ''))), (s) => {
        try {
          parseCheckpoint(parseNote(s).text);
        } catch (e: unknown) {
          return e instanceof LogError;
        }
        return true;
      }),
      { numRuns: 500 },
    );
  });

  it('refuses to sign text it could not parse back', () => {
    expect(logErrorOf(() => signNote('no newline', [signer])).code).toBe('ERR_CHECKPOINT_MALFORMED');
    expect(logErrorOf(() => signNote('a\n', [])).code).toBe('ERR_CHECKPOINT_MALFORMED');
    expect(logErrorOf(() => signNote('a\n', [{ ...signer, name: 'has space' }])).code).toBe('ERR_CHECKPOINT_MALFORMED');
  });
});

describe('keys', () => {
  it('validates key names as the spec says (no white space, no plus)', () => {
    expect(['example.com/log', 'PeterNeumann', 'ü'].every(isValidKeyName)).toBe(true);
    expect(['', 'a b', 'a+b', 'a\u00a0b', 'a\u2003b', 'a\nb'].some(isValidKeyName)).toBe(false);
  });

  it('formats and parses verifier keys, checking the key ID', () => {
    expect(formatVerifierKey(sha256, signer.name, signer.publicKey)).toBe(signer.verifierKey);
    expect(parseVerifierKey(sha256, PETER_VKEY)).toMatchObject({ name: 'PeterNeumann', keyId: 0xc74f20a3 });
    expect(noteKeyId(sha256, 'PeterNeumann', SIG_TYPE_ED25519, parseVerifierKey(sha256, PETER_VKEY).publicKey)).toBe(0xc74f20a3);
  });

  const badVerifierKeys: [string, string, RegExp][] = [
    ['wrong key ID', PETER_VKEY.replace('c74f20a3', 'c74f20a4'), /key ID is c74f20a4, want c74f20a3/],
    ['short key ID', PETER_VKEY.replace('c74f20a3', 'c74f20a'), /8 hex digits/],
    ['other name', PETER_VKEY.replace('PeterNeumann', 'PaulNeumann'), /key ID/],
    ['no name', PETER_VKEY.replace('PeterNeumann', ''), /name/],
    ['unknown type', `x+00000000+${toBase64(new Uint8Array(33).fill(2))}`, /type 2/],
    ['short key', `x+00000000+${toBase64(new Uint8Array([1, ...new Uint8Array(31)]))}`, /31 bytes/],
    ['not base64', 'x+00000000+!!!!', /base64/],
    ['nothing', '', /name/],
  ];
  for (const [name, vkey, message] of badVerifierKeys) {
    it(`rejects a verifier key with ${name}`, () => {
      const e = logErrorOf(() => createNoteVerifier(vkey));
      expect(e.code).toBe('ERR_CHECKPOINT_MALFORMED');
      expect(e.message).toMatch(message);
    });
  }

  it('parses Go signer keys and checks their key ID against the derived public key', () => {
    expect(parseSignerKey(PETER_SKEY)).toMatchObject({ name: 'PeterNeumann', keyId: 0xc74f20a3 });
    expect(logErrorOf(() => createNoteSignerFromKey(PETER_SKEY.replace('c74f20a3', '00000000'))).message).toMatch(/signer key ID/);
    expect(logErrorOf(() => createNoteSignerFromKey(PETER_SKEY.replace('PRIVATE+', 'SECRET+'))).message).toMatch(/PRIVATE\+KEY/);
  });

  it('refuses signing keys that are not Ed25519 private keys', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ed = generateKeyPairSync('ed25519');
    for (const k of [ec.privateKey, ed.publicKey, new Uint8Array(31), new Uint8Array(64)]) {
      expect(logErrorOf(() => createNoteSigner(ORIGIN, k)).code).toBe('ERR_CHECKPOINT_MALFORMED');
    }
    expect(logErrorOf(() => createNoteSigner('bad name', seed)).code).toBe('ERR_CHECKPOINT_MALFORMED');
    expect(logErrorOf(() => ed25519NoteVerifier(ORIGIN, new Uint8Array(31))).code).toBe('ERR_CHECKPOINT_MALFORMED');
  });

  it('rejects signatures of the wrong length without calling into crypto', () => {
    const v = ed25519NoteVerifier(ORIGIN, signer.publicKey);
    expect(v.verify(new Uint8Array(1), new Uint8Array(63))).toBe(false);
  });
});
