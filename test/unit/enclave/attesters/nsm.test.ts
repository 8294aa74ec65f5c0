/**
 * NsmAttester against fake helpers: small Node scripts written into a temp directory at test
 * time, each playing one behaviour of enclave/nsm-helper (success, NSM error, no device, garbage,
 * oversized output, hanging, crashing), plus a missing and a non-executable helper. Documents
 * are minted with the test Nitro PKI so that they parse like real ones.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttesterError, type AttestRequest } from '../../../../enclave/attesters/attester.ts';
import { encodeNsmHelperRequest, NsmAttester } from '../../../../enclave/attesters/nsm.ts';
import { mintNitroPki, payloadFields, signDocument, type FakeNitroPki } from '../../attestation/nitro/fake-nitro.ts';

const AT = new Date('2025-06-01T00:00:00Z');
const dir = mkdtempSync(join(tmpdir(), 'attestgate-nsm-'));
let pki: FakeNitroPki;

beforeAll(async () => {
  pki = await mintNitroPki(AT);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function request(fill = 1, publicKey?: Uint8Array): AttestRequest {
  return {
    reportData: new Uint8Array(64).map((_, i) => (i + fill) & 0xff),
    nonce: new Uint8Array(32).fill(fill),
    ...(publicKey === undefined ? {} : { publicKey }),
  };
}

/** A signed document carrying these fields (public_key left out when undefined). */
function documentFor(req: { reportData: Uint8Array; nonce: Uint8Array; publicKey?: Uint8Array | undefined }): Uint8Array {
  return signDocument(pki, payloadFields(pki, AT, { user_data: req.reportData, nonce: req.nonce, public_key: req.publicKey }));
}

let counter = 0;
/** A fake helper: `body` is CommonJS run by this Node, with `fs`, `DIR` and `readStdin()` in scope. */
function helper(body: string, mode = 0o755): string {
  const path = join(dir, `helper-${++counter}`);
  const prelude = [
    `#!${process.execPath}`,
    `'use strict';`,
    `const fs = require('fs');`,
    `const DIR = ${JSON.stringify(dir)};`,
    `function readStdin(cb) { const c = []; process.stdin.on('data', (d) => c.push(d)); process.stdin.on('end', () => cb(Buffer.concat(c))); }`,
  ].join('\n');
  writeFileSync(path, `${prelude}\n${body}\n`);
  chmodSync(path, mode);
  return path;
}

/** A helper that records its stdin to `name`.req and answers with the bytes of `name`.doc. */
function answering(name: string, doc: Uint8Array, extra = ''): string {
  writeFileSync(join(dir, `${name}.doc`), doc);
  return helper(`${extra}
readStdin((input) => {
  fs.writeFileSync(DIR + '/${name}.req', input);
  process.stdout.write(fs.readFileSync(DIR + '/${name}.doc'));
});`);
}

async function rejection(p: Promise<unknown>): Promise<AttesterError> {
  try {
    await p;
  } catch (e: unknown) {
    if (e instanceof AttesterError) return e;
    throw new Error(`not an AttesterError: ${String(e)}`);
  }
  throw new Error('did not reject');
}

describe('NsmAttester', () => {
  it('sends user_data, nonce (base64 JSON) and returns the document byte for byte', async () => {
    const req = request(3);
    const doc = documentFor(req);
    const attester = new NsmAttester({ helper: answering('ok', doc) });
    const ev = await attester.attest(req);
    expect(ev).toEqual({ tee: 'nitro', evidence: doc, collateral: [], simulated: false });
    const sent = JSON.parse(readFileSync(join(dir, 'ok.req'), 'utf8')) as unknown;
    expect(sent).toEqual({ user_data: Buffer.from(req.reportData).toString('base64'), nonce: Buffer.from(req.nonce).toString('base64') });
    expect(attester.kind).toBe('nitro');
  });

  it('sends and checks the public key when there is one', async () => {
    const req = request(4, Uint8Array.of(0x30, 0x59, 1, 2, 3));
    const doc = documentFor(req);
    const ev = await new NsmAttester({ helper: answering('pk', doc) }).attest(req);
    expect(ev.evidence).toEqual(doc);
    const sent = JSON.parse(readFileSync(join(dir, 'pk.req'), 'utf8')) as Record<string, string>;
    expect(sent['public_key']).toBe(Buffer.from(req.publicKey!).toString('base64'));
    expect(new TextDecoder().decode(encodeNsmHelperRequest(req))).toBe(
      `{"user_data":"${Buffer.from(req.reportData).toString('base64')}","nonce":"${Buffer.from(req.nonce).toString('base64')}","public_key":"${Buffer.from(req.publicKey!).toString('base64')}"}`,
    );
  });

  it('finds the default helper name on PATH', async () => {
    const req = request(5);
    const path = answering('default', documentFor(req));
    const named = join(dir, 'bin');
    rmSync(named, { recursive: true, force: true });
    mkdirSync(named);
    copyFileSync(path, join(named, 'attestgate-nsm-helper'));
    chmodSync(join(named, 'attestgate-nsm-helper'), 0o755);
    const saved = process.env['PATH'];
    process.env['PATH'] = `${named}${delimiter}${saved ?? ''}`;
    try {
      await expect(new NsmAttester().attest(req)).resolves.toMatchObject({ tee: 'nitro' });
    } finally {
      process.env['PATH'] = saved;
    }
  });

  const failures: { name: string; helper: () => string; opts?: { timeoutMs?: number; maxOutputBytes?: number }; code: AttesterError['code']; message: string | RegExp }[] = [
    {
      name: 'an NSM error (non-zero exit with a JSON message)',
      helper: () => helper(`process.stdout.write(JSON.stringify({ error: 'NSM_ERROR', message: 'NSM returned error InternalError' })); process.exit(70);`),
      code: 'ERR_ATTESTER_FAILED',
      message: '(exit 70): "NSM_ERROR: NSM returned error InternalError"',
    },
    {
      name: 'a failure told on stderr only',
      helper: () => helper(`process.stderr.write('ioctl: Bad address\\n'); process.exit(3);`),
      code: 'ERR_ATTESTER_FAILED',
      message: '(exit 3): "ioctl: Bad address"',
    },
    {
      name: 'a failure without words',
      helper: () => helper(`process.exit(1);`),
      code: 'ERR_ATTESTER_FAILED',
      message: '(exit 1): (no message)',
    },
    {
      name: 'no NSM device (exit 69)',
      helper: () => helper(`process.stdout.write('{"error":"NO_DEVICE","message":"cannot open /dev/nsm"}'); process.exit(69);`),
      code: 'ERR_ATTESTER_UNAVAILABLE',
      message: 'NO_DEVICE: cannot open /dev/nsm',
    },
    { name: 'garbage on stdout', helper: () => helper(`process.stdout.write('hello, world');`), code: 'ERR_ATTESTER_FAILED', message: 'not a Nitro attestation document' },
    { name: 'nothing on stdout', helper: () => helper(`process.exit(0);`), code: 'ERR_ATTESTER_FAILED', message: 'without a document' },
    {
      name: 'output over the bound',
      helper: () => helper(`process.stdout.write(Buffer.alloc(70 * 1024, 0x41)); setInterval(() => {}, 1000);`),
      code: 'ERR_ATTESTER_FAILED',
      message: 'output exceeds 65536 bytes; killed',
    },
    {
      name: 'output over a configured bound',
      helper: () => helper(`process.stdout.write(Buffer.alloc(2000, 0x41));`),
      opts: { maxOutputBytes: 1000 },
      code: 'ERR_ATTESTER_FAILED',
      message: 'output exceeds 1000 bytes',
    },
    { name: 'a crash', helper: () => helper(`process.kill(process.pid, 'SIGSEGV');`), code: 'ERR_ATTESTER_FAILED', message: 'killed by SIGSEGV' },
    { name: 'a missing helper', helper: () => join(dir, 'no-such-helper'), code: 'ERR_ATTESTER_UNAVAILABLE', message: 'cannot be run (ENOENT)' },
    { name: 'a helper that is not executable', helper: () => helper(`process.exit(0);`, 0o644), code: 'ERR_ATTESTER_UNAVAILABLE', message: 'cannot be run (EACCES)' },
    {
      name: 'a document for other user_data',
      helper: () => answering('other-ud', documentFor({ ...request(1), reportData: new Uint8Array(64).fill(9) })),
      code: 'ERR_ATTESTER_FAILED',
      message: /user_data is (09){64}, want/,
    },
    { name: 'a document for another nonce', helper: () => answering('other-nonce', documentFor({ ...request(1), nonce: new Uint8Array(32) })), code: 'ERR_ATTESTER_FAILED', message: 'nonce is' },
    {
      name: 'a document with a public key not asked for',
      helper: () => answering('extra-pk', documentFor({ ...request(1), publicKey: Uint8Array.of(1) })),
      code: 'ERR_ATTESTER_FAILED',
      message: 'public_key is 01, want absent',
    },
  ];
  for (const f of failures) {
    it(`${f.name} -> ${f.code}`, async () => {
      const e = await rejection(new NsmAttester({ helper: f.helper(), ...f.opts }).attest(request(1)));
      expect(e.code).toBe(f.code);
      if (typeof f.message === 'string') expect(e.message).toContain(f.message);
      else expect(e.message).toMatch(f.message);
    });
  }

  it('refuses a document whose public key differs from the one asked for', async () => {
    const req = request(6, Uint8Array.of(1, 2, 3));
    const e = await rejection(new NsmAttester({ helper: answering('wrong-pk', documentFor({ ...req, publicKey: Uint8Array.of(1, 2, 4) })) }).attest(req));
    expect(e.code).toBe('ERR_ATTESTER_FAILED');
    expect(e.message).toContain('public_key is 010204, want 010203');
  });

  it('kills a helper that does not finish in time', async () => {
    const path = helper(`fs.writeFileSync(DIR + '/hang.pid', String(process.pid)); setInterval(() => {}, 1000);`);
    const started = Date.now();
    const e = await rejection(new NsmAttester({ helper: path, timeoutMs: 2000 }).attest(request()));
    expect(e.code).toBe('ERR_ATTESTER_FAILED');
    expect(e.message).toContain('did not finish within 2000 ms; killed');
    expect(Date.now() - started).toBeLessThan(10_000);
    const pid = Number(readFileSync(join(dir, 'hang.pid'), 'utf8'));
    expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }) as Error);
  });

  it('runs one helper at a time', async () => {
    const req = request(7);
    // The helper refuses to run while another holds the lock file.
    const path = answering(
      'locked',
      documentFor(req),
      `try { fs.closeSync(fs.openSync(DIR + '/nsm.lock', 'wx')); } catch { process.stdout.write('{"error":"CONCURRENT"}'); process.exit(99); }
setTimeout(() => fs.rmSync(DIR + '/nsm.lock'), 100);
const realWrite = process.stdout.write.bind(process.stdout);
process.stdout.write = (b) => { setTimeout(() => realWrite(b), 150); return true; };`,
    );
    const attester = new NsmAttester({ helper: path });
    const results = await Promise.allSettled([attester.attest(req), attester.attest(req), attester.attest(req)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
  });

  it.each([
    ['report data of 65 bytes', { reportData: new Uint8Array(65), nonce: new Uint8Array(32) }],
    ['a nonce of 0 bytes', { reportData: new Uint8Array(64), nonce: new Uint8Array(0) }],
    ['a public key over the NSM limit of 1024 bytes', { reportData: new Uint8Array(64), nonce: new Uint8Array(32), publicKey: new Uint8Array(1025) }],
    ['an empty public key', { reportData: new Uint8Array(64), nonce: new Uint8Array(32), publicKey: new Uint8Array(0) }],
  ])('refuses %s without running the helper', async (_name, req) => {
    const path = helper(`fs.writeFileSync(DIR + '/ran', 'yes');`);
    expect((await rejection(new NsmAttester({ helper: path }).attest(req))).code).toBe('ERR_ATTESTER_INPUT');
    expect(() => readFileSync(join(dir, 'ran'))).toThrow();
  });

  it.each([[{ timeoutMs: 0 }], [{ timeoutMs: 1.5 }], [{ maxOutputBytes: 0 }], [{ helper: '' }]])('refuses the options %o', (opts) => {
    expect(() => new NsmAttester(opts)).toThrow(expect.objectContaining({ code: 'ERR_ATTESTER_INPUT' }) as Error);
  });
});
