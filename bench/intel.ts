/**
 * Intel DCAP verification benchmark (npm run bench:intel). For every real quote in
 * test/fixtures/intel, in one run and one process:
 *   cold   verifyDcapQuote with nothing cached (a fresh cache per call, key cache cleared)
 *   warm   the same with a cache that already holds the verified PCK chain and collateral
 *   floor  the bare crypto of a cold verification with node:crypto: the same number of P-256
 *          ECDSA verifications (each with its key import) and X.509 certificate parses
 *   peer   @phala/dcap-qvl `verify` (pure JS), the npm verifier the issue names
 * Reports medians over RUNS runs after WARMUP runs, and the ratios the issue sets goals for.
 */
import { X509Certificate, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { verify as peerVerify } from '@phala/dcap-qvl';
import { toDcapCollateral } from '../attestation/intel/bundle.ts';
import { parseQuote } from '../attestation/intel/parse.ts';
import { createDcapCache, verifyDcapQuote } from '../attestation/intel/verify.ts';
import { clearKeyCache } from '../attestation/common/x509.ts';
import { median, settle } from './timing.ts';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 300);
const WARMUP = Number(process.env['BENCH_WARMUP'] ?? 50);
const median_ = (fn: () => unknown): Promise<number> => median(fn, RUNS, WARMUP);
const ROOT = new URL('../test/fixtures/intel/', import.meta.url).pathname;


function pemBlocks(text: string): string[] {
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => m[0]);
}

interface Row {
  name: string;
  cold: number;
  warm: number;
  floor: number;
  peer: number;
  ops: string;
}

async function measureAll(): Promise<Row[]> {
const rows: Row[] = [];
for (const name of readdirSync(ROOT).sort()) {
  const dir = join(ROOT, name);
  const meta = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { verify_at: string; tee: 'sgx' | 'tdx' };
  const quote = new Uint8Array(readFileSync(join(dir, 'quote.bin')));
  const json = JSON.parse(readFileSync(join(dir, 'collateral.json'), 'utf8')) as Record<string, string>;
  const collateral = toDcapCollateral(json);
  const at = new Date(meta.verify_at);
  const allowDebug = true; // time the full path, including the debug case's TCB evaluation

  // What a cold verification does with bare crypto: P-256 verifications = PCK leaf + PCK CA (2),
  // TCB signing cert (1, and 1 more if the QE identity chain differs), TCB info + QE identity (2),
  // two CRLs (2), QE report (1), quote (1). Certificates parsed = the quote's chain + issuer chains.
  const q = parseQuote(quote);
  const sameChain = json['qe_identity_issuer_chain'] === json['tcb_info_issuer_chain'];
  const verifies = 9 + (sameChain ? 0 : 1);
  const certPems = [...pemBlocks(q.pckChainPem), ...pemBlocks(json['tcb_info_issuer_chain'] ?? ''), ...(sameChain ? [] : pemBlocks(json['qe_identity_issuer_chain'] ?? ''))];
  const data = new Uint8Array(1024);
  const { privateKey } = await import('node:crypto').then((c) => c.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }));
  const { sign } = await import('node:crypto');
  const sig = sign('sha256', data, privateKey);
  const pub = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const floor = await median_(() => {
    for (const pem of certPems) new X509Certificate(pem);
    for (let i = 0; i < verifies; i++) nodeVerify('sha256', data, createPublicKey({ key: pub, format: 'der', type: 'spki' }), sig);
  });

  const cold = await median_(async () => {
    clearKeyCache();
    await settle(verifyDcapQuote(quote, collateral, { at, allowDebug, cache: createDcapCache() }));
  });
  const warmCache = createDcapCache();
  await settle(verifyDcapQuote(quote, collateral, { at, allowDebug, cache: warmCache }));
  const warm = await median_(() => settle(verifyDcapQuote(quote, collateral, { at, allowDebug, cache: warmCache })));
  const peerQuote = Buffer.from(quote);
  const ts = at.getTime() / 1000;
  const peer = await median_(() => {
    try {
      peerVerify(peerQuote, json as unknown as Parameters<typeof peerVerify>[1], ts);
    } catch {
      /* its error verdicts are timed too */
    }
  });
  rows.push({ name, cold, warm, floor, peer, ops: `${verifies} verify + ${certPems.length} parse` });
}
return rows;
}

// A whole first pass is discarded so that the first case is not measured while the process itself
// (JIT, OpenSSL tables, module loading) is still warming up.
await measureAll();
const rows = await measureAll();

const f = (n: number): string => n.toFixed(3);
const r = (n: number): string => `${n.toFixed(2)}x`;
console.log(`Intel DCAP verification, median of ${RUNS} runs after ${WARMUP} warm-up runs (ms), Node ${process.version}`);
console.log('| case | floor | cold | warm | @phala/dcap-qvl | cold/floor (goal <= 1.5) | peer/cold (goal >= 3) | warm/cold (goal <= 0.33) |');
console.log('|---|---|---|---|---|---|---|---|');
for (const x of rows) {
  console.log(`| ${x.name} | ${f(x.floor)} | ${f(x.cold)} | ${f(x.warm)} | ${f(x.peer)} | ${r(x.cold / x.floor)} | ${r(x.peer / x.cold)} | ${r(x.warm / x.cold)} |`);
}
console.log(`floor = ${rows.map((x) => `${x.name}: ${x.ops}`).join('; ')}`);
