/**
 * AMD SEV-SNP and AWS Nitro verification benchmark (npm run bench:snp-nitro). For every real case
 * in test/fixtures/amd (not mutated/) and test/fixtures/nitro (not neg-*, pos-*, the mock root),
 * in one run and one process:
 *   cold   verifySevSnp(sevSnpInputFromFiles(...)) / verifyNitro with nothing cached (key cache
 *          and SNP signature memo cleared before every call)
 *   warm   the same call with the caches populated by a previous verification. SNP is given a
 *          createSevSnpCache(): recognised files and the verified VEK chain (with the VEK's
 *          imported key and decoded extensions) are reused, found by content; the report
 *          signature (one ECDSA P-384, most of the warm time), validity at `at` and the VEK
 *          binding are checked again; Nitro has only the imported-key cache (every signature is
 *          verified again)
 *   floor  the bare crypto of a cold verification with node:crypto, each verification with its
 *          key import: SNP 1 ECDSA P-384/SHA-384 + 3 RSA-4096 PSS SHA-384 (salt 48) and 3
 *          certificate parses; Nitro 1 COSE P-384 + one P-384 per cabundle entry and the parses
 *          of leaf + cabundle
 *   peers  the npm verifiers the issue names, where they can take the case offline; a peer that
 *          rejects a genuine case is reported as wrong and not timed
 * Reports medians over RUNS runs after WARMUP runs (floor, cold and warm interleaved run by run, so
 * that a burst of other work on a shared host falls on all three alike), and the ratios the issue
 * sets goals for.
 */
import { X509Certificate, createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify, constants } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createSevSnpCache, sevSnpInputFromFiles, verifySevSnp } from '../attestation/amd/verify.ts';
import { parseProduct } from '../attestation/amd/kds.ts';
import { clearKeyCache } from '../attestation/common/x509.ts';
import { parseNitroDocument } from '../attestation/nitro/parse.ts';
import { verifyNitro } from '../attestation/nitro/verify.ts';
import type { EvidenceResult } from '../attestation/result.ts';
import { interleavedMedians, median, settle } from './timing.ts';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 200);
const WARMUP = Number(process.env['BENCH_WARMUP'] ?? 30);
const median_ = (fn: () => unknown): Promise<number> => median(fn, RUNS, WARMUP);
const AMD = new URL('../test/fixtures/amd/', import.meta.url).pathname;
const NITRO = new URL('../test/fixtures/nitro/', import.meta.url).pathname;
const AWS_ROOT_SHA256 = '641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b';

// No peer may reach the network: fetch throws. Browser-only peers get the globals they look for.
globalThis.fetch = () => Promise.reject(new Error('network disabled in the benchmark'));
const g = globalThis as unknown as Record<string, unknown>;
g['window'] ??= globalThis; // @0xsequence/tee-verifier reads window.crypto
g['self'] ??= globalThis;

// Peers (loaded after the globals above exist).
interface LitSdk {
  initWasmSevSnpUtilsSdk(): Promise<unknown>;
  verify_attestation_report(reportBase64: string, vek: Uint8Array): Promise<void>;
}
const lit = createRequire(import.meta.url)('@lit-protocol/sev-snp-utils-sdk') as LitSdk;
await lit.initWasmSevSnpUtilsSdk();
const { SignedAttestation } = await import('@0xsequence/tee-verifier');
const ev = await import('@evervault/wasm-attestation-bindings');
ev.initSync({ module: readFileSync(new URL('../node_modules/@evervault/wasm-attestation-bindings/index_bg.wasm', import.meta.url)) });


const msg = (e: unknown): string => (e instanceof Error ? e.message : String(e)).replace(/\|/g, '/').slice(0, 90);

/** A peer's outcome on a case: a timing, or why it has none. */
type PeerCell = { ms: number } | { note: string };
interface Peer {
  name: string;
  /** Undefined when the peer cannot take the case at all; otherwise a call that throws unless it accepts. */
  snp?: (c: SnpCase) => () => Promise<void>;
  nitro?: (c: NitroCase) => () => Promise<void>;
  why: string;
}
interface SnpCase {
  report: Uint8Array;
  vekDer: Uint8Array;
  at: Date;
}
interface NitroCase {
  doc: Uint8Array;
  pcr0: string;
  at: Date;
}

const peers: Peer[] = [
  {
    name: '@lit-protocol/sev-snp-utils-sdk',
    why: 'SNP only',
    // Takes the report and the VCEK; the ASK/ARK are compiled in, no verification time.
    snp: (c) => {
      const b64 = Buffer.from(c.report).toString('base64');
      return () => lit.verify_attestation_report(b64, c.vekDer);
    },
  },
  {
    name: '@0xsequence/tee-verifier',
    why: 'Nitro only',
    nitro: (c) => {
      const b64 = Buffer.from(c.doc).toString('base64');
      return async () => {
        const a = SignedAttestation.fromDocument(b64);
        if (!(await a.verifySignature())) throw new Error('signature rejected');
        if (!(await a.verifyRootOfTrust(c.at))) throw new Error('root of trust rejected');
        if ((await a.rootCertFingerprint()) !== AWS_ROOT_SHA256) throw new Error('not the AWS root');
      };
    },
  },
  {
    name: '@evervault/wasm-attestation-bindings',
    why: 'Nitro only',
    // Reads the clock through Date.now (no time parameter): pinned to verify_at during the call.
    nitro: (c) => {
      const b64 = Buffer.from(c.doc).toString('base64');
      const t = c.at.getTime();
      return () => {
        const now = Date.now;
        Date.now = () => t;
        try {
          const pcrs = ev.PCRs.empty();
          pcrs.pcr0 = c.pcr0;
          if (!ev.validateAttestationDocPcrs(b64, [pcrs])) throw new Error('validateAttestationDocPcrs returned false');
        } finally {
          Date.now = now;
        }
        return Promise.resolve();
      };
    },
  },
];

async function peerCell(call: (() => Promise<void>) | undefined, why: string): Promise<PeerCell> {
  if (call === undefined) return { note: `n/a (${why})` };
  try {
    await call();
  } catch (e) {
    return { note: `wrong: ${msg(e)}` };
  }
  return { ms: await median_(() => settle(call())) };
}

// Bare crypto material, made once.
const data = new Uint8Array(1184);
const ec = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
const ecSig = nodeSign('sha384', data, ec.privateKey);
const ecPub = createPublicKey(ec.privateKey).export({ type: 'spki', format: 'der' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 4096 });
const pss = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 };
const rsaSig = nodeSign('sha384', data, { key: rsa.privateKey, ...pss });
const rsaPub = createPublicKey(rsa.privateKey).export({ type: 'spki', format: 'der' });
const ecVerify = (): boolean => nodeVerify('sha384', data, createPublicKey({ key: ecPub, format: 'der', type: 'spki' }), ecSig);
const rsaVerify = (): boolean => nodeVerify('sha384', data, { key: createPublicKey({ key: rsaPub, format: 'der', type: 'spki' }), ...pss }, rsaSig);

interface Row {
  name: string;
  tee: string;
  floor: number;
  cold: number;
  warm: number;
  ours: string;
  peers: PeerCell[];
  ops: string;
}
const rows: Row[] = [];

async function ours(name: string, tee: string, run: () => Promise<EvidenceResult>, floorRun: () => void, ops: string, cells: PeerCell[], warmRun: () => Promise<EvidenceResult> = run): Promise<void> {
  let ours = 'ok';
  try {
    await run();
  } catch (e) {
    ours = `error: ${msg(e)}`;
  }
  await settle(warmRun());
  // Floor, cold and warm timed run by run in turn: the ratios between them are what is judged.
  const [floor = NaN, cold = NaN, warm = NaN] = await interleavedMedians([
    floorRun,
    async () => {
      clearKeyCache();
      await settle(run());
    },
    () => settle(warmRun()),
  ]);
  rows.push({ name, tee, floor, cold, warm, ours, peers: cells, ops });
}

for (const entry of readdirSync(AMD, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
  const name = entry.name;
  if (!entry.isDirectory() || name === 'mutated') continue;
  const dir = join(AMD, name);
  const meta = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { verify_at: string; product: string; files: { report: string; vek: string; cert_chain: string } };
  const report = new Uint8Array(readFileSync(join(dir, meta.files.report)));
  const files = [meta.files.vek, meta.files.cert_chain].map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(join(dir, f))) }));
  const product = parseProduct(meta.product);
  const at = new Date(meta.verify_at);
  const opts = { at, allowDebug: true }; // time the full path, including the debug case's policy step
  const run = (): Promise<EvidenceResult> => verifySevSnp(sevSnpInputFromFiles(report, files, product), opts);
  const cache = createSevSnpCache();
  const warmRun = (): Promise<EvidenceResult> => verifySevSnp(sevSnpInputFromFiles(report, files, product, cache), { ...opts, cache });

  const certPems = [new X509Certificate(files[0]?.bytes ?? new Uint8Array()).toString(), ...(new TextDecoder().decode(files[1]?.bytes).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [])];
  const floor = (): void => {
    for (const pem of certPems) new X509Certificate(pem);
    ecVerify();
    for (let i = 0; i < 3; i++) rsaVerify();
  };
  const vekDer = new Uint8Array(new X509Certificate(files[0]?.bytes ?? new Uint8Array()).raw);
  const c: SnpCase = { report, vekDer, at };
  const cells: PeerCell[] = [];
  for (const p of peers) cells.push(await peerCell(p.snp?.(c), p.why));
  await ours(name, 'SEV-SNP', run, floor, `1 P-384 + 3 RSA-4096-PSS + ${certPems.length} parse`, cells, warmRun);
}

for (const name of readdirSync(NITRO).sort()) {
  if (/^(neg|pos)-/.test(name) || name === 'marlin-mock-custom-root') continue;
  const dir = join(NITRO, name);
  const meta = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { verify_at: string; expected: { pcrs: Record<string, string> } };
  const doc = new Uint8Array(readFileSync(join(dir, 'attestation.cbor')));
  const at = new Date(meta.verify_at);
  const opts = { at, allowDebug: true };
  const run = (): Promise<EvidenceResult> => verifyNitro(doc, opts);

  const { payload } = parseNitroDocument(doc);
  const ders = [payload.certificate, ...payload.cabundle];
  const verifies = 1 + payload.cabundle.length;
  const floor = (): void => {
    for (const der of ders) new X509Certificate(der);
    for (let i = 0; i < verifies; i++) ecVerify();
  };
  const c: NitroCase = { doc, pcr0: meta.expected.pcrs['0'] ?? '', at };
  const cells: PeerCell[] = [];
  for (const p of peers) cells.push(await peerCell(p.nitro?.(c), p.why));
  await ours(name, 'Nitro', run, floor, `${verifies} P-384 + ${ders.length} parse`, cells);
}

const f = (n: number): string => n.toFixed(3);
const r = (n: number): string => `${n.toFixed(2)}x`;
console.log(`AMD SEV-SNP and AWS Nitro verification, median of ${RUNS} runs after ${WARMUP} warm-up runs (ms), Node ${process.version}`);
console.log(
  `| case | tee | floor | cold | warm | ${peers.map((p) => `${p.name} (peer/cold)`).join(' | ')} | cold/floor (goal <= 1.3) | warm/cold (goal <= 0.5) |`,
);
console.log(`|---|---|---|---|---|${peers.map(() => '---|').join('')}---|---|`);
for (const x of rows) {
  const cold = x.ours === 'ok' ? f(x.cold) : `${f(x.cold)} (${x.ours})`;
  const warm = f(x.warm);
  const cells = x.peers.map((p) => ('ms' in p ? `${f(p.ms)} (${r(p.ms / x.cold)})` : p.note));
  console.log(`| ${x.name} | ${x.tee} | ${f(x.floor)} | ${cold} | ${warm} | ${cells.join(' | ')} | ${r(x.cold / x.floor)} | ${r(x.warm / x.cold)} |`);
}
console.log(`floor = ${rows.map((x) => `${x.name}: ${x.ops}`).join('; ')}`);
console.log(
  'warm: imported keys and verified certificate signatures are remembered; the evidence\'s own signature (SNP report, Nitro COSE) is verified on every call.',
);
