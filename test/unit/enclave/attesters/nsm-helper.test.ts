/**
 * enclave/nsm-helper/nsm-helper.c, compiled with gcc: the production build must compile
 * warning-free; the test build (-DNSM_FAKE_DEVICE, see its README) shows the exact CBOR request
 * it would send through the ioctl, its decoding of the NSM's answers (document, Error,
 * malformed), its validation of the stdin request, and NsmAttester end to end over it.
 * Without gcc on PATH every test here is skipped, and its name says why. The ioctl itself
 * needs a Nitro enclave and is not exercised.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NsmAttester } from '../../../../enclave/attesters/nsm.ts';
import { enc, type Enc } from '../../attestation/nitro/encode.ts';
import { mintNitroPki, payloadFields, signDocument } from '../../attestation/nitro/fake-nitro.ts';

const SOURCE = join(import.meta.dirname, '../../../../enclave/nsm-helper/nsm-helper.c');
const GCC = spawnSync('gcc', ['--version'], { encoding: 'utf8' }).status === 0;
const NEEDS = GCC ? '' : ' [SKIPPED: gcc not found on PATH; install gcc to build enclave/nsm-helper]';
const WARN = ['-std=c11', '-O2', '-Wall', '-Wextra', '-Wpedantic', '-Wconversion', '-Wshadow', '-Werror'];

const dir = mkdtempSync(join(tmpdir(), 'attestgate-nsm-helper-'));
const device = join(dir, 'device');
const fakeBin = join(dir, 'attestgate-nsm-helper-fake');

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function gcc(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync('gcc', args, { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

beforeAll(() => {
  if (!GCC) return;
  mkdirSync(device, { recursive: true });
  const r = gcc([...WARN, `-DNSM_FAKE_DEVICE="${device}"`, '-o', fakeBin, SOURCE]);
  if (r.status !== 0) throw new Error(`fake build failed:\n${r.stderr}`);
});

interface Run {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

function run(input: string | Uint8Array, response?: Uint8Array, args: string[] = []): Run {
  rmSync(join(device, 'request.cbor'), { force: true });
  if (response === undefined) rmSync(join(device, 'response.cbor'), { force: true });
  else writeFileSync(join(device, 'response.cbor'), response);
  const r = spawnSync(fakeBin, args, { input, timeout: 10_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

function sentRequest(): Uint8Array | undefined {
  const p = join(device, 'request.cbor');
  return existsSync(p) ? new Uint8Array(readFileSync(p)) : undefined;
}

function errorOf(r: Run): { error: string; message: string } {
  return JSON.parse(r.stdout.toString('utf8')) as { error: string; message: string };
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

/** serde's CBOR for Request::Attestation, built with the test encoder. */
function attestationRequest(userData: Uint8Array | null, nonce: Uint8Array | null, publicKey: Uint8Array | null): Uint8Array {
  return enc({ map: [['Attestation', { map: [['user_data', userData], ['nonce', nonce], ['public_key', publicKey]] }]] });
}

const answer = (document: Enc): Uint8Array => enc({ map: [['Attestation', { map: [['document', document]] }]] });

describe(`nsm-helper.c${NEEDS}`, () => {
  it.skipIf(!GCC)('compiles for /dev/nsm with every warning an error', () => {
    const r = gcc([...WARN, '-D_FORTIFY_SOURCE=2', '-fstack-protector-strong', '-o', join(dir, 'attestgate-nsm-helper'), SOURCE]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // Without /dev/nsm (this machine) the real build says so with exit 69, the attester's UNAVAILABLE.
    if (!existsSync('/dev/nsm')) {
      const out = spawnSync(join(dir, 'attestgate-nsm-helper'), [], { input: '{}' });
      expect(out.status).toBe(69);
      expect(JSON.parse(out.stdout.toString('utf8'))).toMatchObject({ error: 'NO_DEVICE' });
    }
  });

  it.skipIf(!GCC)('sends exactly the CBOR request of aws-nitro-enclaves-nsm-api and prints the document', () => {
    const ud = new Uint8Array(64).map((_, i) => i);
    const nonce = new Uint8Array(32).fill(0xab);
    const pk = new Uint8Array(300).fill(0x5c);
    const doc = new Uint8Array(5000).map((_, i) => (i * 13) & 0xff);
    const r = run(JSON.stringify({ user_data: b64(ud), nonce: b64(nonce), public_key: b64(pk) }), answer(doc));
    expect(r.status).toBe(0);
    expect(new Uint8Array(r.stdout)).toEqual(doc);
    expect(sentRequest()).toEqual(attestationRequest(ud, nonce, pk));
    // The head bytes, spelled out: map(1) "Attestation" map(3) "user_data" bstr(64) ...
    expect(Buffer.from(sentRequest()!.subarray(0, 26)).toString('hex')).toBe('a16b4174746573746174696f6ea369757365725f646174615840');
    expect(r.stderr).toContain('FAKE NSM DEVICE');
  });

  it.skipIf(!GCC)('sends null for absent or null fields, with whitespace around', () => {
    const r = run(' {\n "nonce" : "AQID" , "public_key": null }\n', answer(Uint8Array.of(1)));
    expect(r.status).toBe(0);
    expect(sentRequest()).toEqual(attestationRequest(null, Uint8Array.of(1, 2, 3), null));
    expect(run('{}', answer(Uint8Array.of(1))).status).toBe(0);
    expect(sentRequest()).toEqual(attestationRequest(null, null, null));
  });

  it.skipIf(!GCC)('takes the NSM limits exactly: 512 bytes of user_data and nonce, 1024 of public_key', () => {
    const r = run(JSON.stringify({ user_data: b64(new Uint8Array(512)), nonce: b64(new Uint8Array(512)), public_key: b64(new Uint8Array(1024)) }), answer(Uint8Array.of(1)));
    expect(r.status).toBe(0);
    expect(sentRequest()).toEqual(attestationRequest(new Uint8Array(512), new Uint8Array(512), new Uint8Array(1024)));
  });

  it.skipIf(!GCC)('reports an NSM Error response with exit 70', () => {
    const r = run('{"user_data":"AQID"}', enc({ map: [['Error', 'InputTooLarge']] }));
    expect(r.status).toBe(70);
    expect(errorOf(r)).toEqual({ error: 'NSM_ERROR', message: 'NSM returned error InputTooLarge' });
    expect(r.stderr).toContain('NSM_ERROR');
  });

  it.skipIf(!GCC)('reports a missing device with exit 69', () => {
    const r = run('{"user_data":"AQID"}');
    expect(r.status).toBe(69);
    expect(errorOf(r).error).toBe('NO_DEVICE');
  });

  const malformed: [string, () => Uint8Array][] = [
    ['an empty response', () => new Uint8Array(0)],
    ['a byte after the response', () => Uint8Array.from([...answer(Uint8Array.of(1)), 0])],
    ['a truncated response', () => answer(new Uint8Array(100)).subarray(0, 50)],
    ['a map of two entries', () => enc({ map: [['Attestation', { map: [['document', Uint8Array.of(1)]] }], ['x', 1]] })],
    ['another response kind', () => enc({ map: [['DescribePCR', { map: [['lock', true]] }]] })],
    ['an indefinite-length map', () => Uint8Array.from([0xbf, ...enc('Attestation'), ...enc({ map: [['document', Uint8Array.of(1)]] }), 0xff])],
    ['a text document', () => answer('document')],
    ['an empty document', () => answer(new Uint8Array(0))],
    ['an extra key beside document', () => enc({ map: [['Attestation', { map: [['document', Uint8Array.of(1)], ['x', 1]] }]] })],
    ['an Error without a code', () => enc({ map: [['Error', 5]] })],
    ['an unprintable Error code', () => enc({ map: [['Error', 'Bad\nCode']] })],
    ['a response over 0x3000 bytes', () => answer(new Uint8Array(0x3000))],
    ['an 8-byte length', () => Uint8Array.from([0xa1, ...enc('Attestation'), 0xa1, ...enc('document'), 0x5b, 0, 0, 0, 0, 0, 0, 0, 1, 7])],
  ];
  for (const [name, response] of malformed) {
    it.skipIf(!GCC)(`refuses ${name} with exit 70`, () => {
      const r = run('{"user_data":"AQID"}', response());
      expect(r.status).toBe(70);
      expect(r.stdout.length).toBeLessThan(400);
      expect(['BAD_RESPONSE', 'NSM_IOCTL']).toContain(errorOf(r).error);
    });
  }

  const badRequests: [string, string | Uint8Array, string[]?][] = [
    ['not JSON', 'user_data=AQID'],
    ['a JSON array', '["AQID"]'],
    ['an unknown key', '{"user_data":"AQID","pcr":"AA=="}'],
    ['a repeated key', '{"nonce":"AQID","nonce":"AQID"}'],
    ['a string escape', '{"nonce":"AQ\\u0049D"}'],
    ['a number value', '{"nonce":5}'],
    ['base64 without padding', '{"nonce":"AQI"}'],
    ['non-canonical base64', '{"nonce":"AQJ="}'],
    ['base64url', '{"nonce":"-_8="}'],
    ['data after the padding', '{"nonce":"AQ==AQID"}'],
    ['user_data of 513 bytes', JSON.stringify({ user_data: b64(new Uint8Array(513)) })],
    ['public_key of 1025 bytes', JSON.stringify({ public_key: b64(new Uint8Array(1025)) })],
    ['bytes after the object', '{"nonce":"AQID"} x'],
    ['an unterminated object', '{"nonce":"AQID"'],
    ['more than 8 KiB', `{"nonce":"AQID"}${' '.repeat(9000)}`],
    ['an argument', '{}', ['--device=/dev/mem']],
  ];
  for (const [name, input, args] of badRequests) {
    it.skipIf(!GCC)(`refuses a request with ${name} (exit 64, nothing sent)`, () => {
      const r = run(input, answer(Uint8Array.of(1)), args);
      expect(r.status).toBe(64);
      expect(['BAD_REQUEST', 'USAGE']).toContain(errorOf(r).error);
      expect(sentRequest()).toBeUndefined();
    });
  }

  it.skipIf(!GCC)('serves NsmAttester end to end', async () => {
    const at = new Date('2025-06-01T00:00:00Z');
    const pki = await mintNitroPki(at);
    const req = { reportData: new Uint8Array(64).fill(0x64), nonce: new Uint8Array(32).fill(0x32), publicKey: Uint8Array.of(0x30, 1, 2) };
    const doc = signDocument(pki, payloadFields(pki, at, { user_data: req.reportData, nonce: req.nonce, public_key: req.publicKey }));
    writeFileSync(join(device, 'response.cbor'), answer(doc));
    const attester = new NsmAttester({ helper: fakeBin });
    const ev = await attester.attest(req);
    expect(ev.evidence).toEqual(doc);
    expect(sentRequest()).toEqual(attestationRequest(req.reportData, req.nonce, req.publicKey));

    writeFileSync(join(device, 'response.cbor'), enc({ map: [['Error', 'InternalError']] }));
    await expect(attester.attest(req)).rejects.toMatchObject({ code: 'ERR_ATTESTER_FAILED', message: expect.stringContaining('NSM returned error InternalError') as string });

    rmSync(join(device, 'response.cbor'));
    await expect(attester.attest(req)).rejects.toMatchObject({ code: 'ERR_ATTESTER_UNAVAILABLE' });
  });
});
