/**
 * The gateway process: load configuration and policy once, open the store, load or create the
 * signing key, load the trust anchors, attest every backend, and listen. Attestation records and
 * receipts are written to the store (and the transparency log) before anything relies on them.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { extname, join } from 'node:path';
import { policyDigest } from '../../attestation/policy/digest.ts';
import { parsePolicyText, type Policy } from '../../attestation/policy/schema.ts';
import { openGatewayLog } from '../audit/gateway-log.ts';
import { asApp, logRouter, proofBundle } from '../audit/routes.ts';
import { createRateLimiter } from '../auth/rate-limit.ts';
import type { Config } from '../config/schema.ts';
import { AppError } from '../errors.ts';
import { createLogger, type Logger } from '../obs/log.ts';
import { createGatewayMetrics, type GatewayMetrics } from '../obs/metrics.ts';
import { loadOrCreateGatewayKey, type GatewayKey } from '../signing/keys.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import type { Store } from '../store/store.ts';
import { admitBackend, type Admission } from './admission.ts';
import { createApp } from './app.ts';
import { createCollateralSource } from './collateral.ts';
import { EnclaveClient } from './enclave-client.ts';
import { createFastInfer } from './fast-infer.ts';
import type { ReceiptEntry, ReceiptSink } from './infer.ts';
import { receiptLogEntry, receiptRecord, recoverReceipts } from './receipt-record.ts';
import { BackendPool } from './pool.ts';
import { loadTrust } from './trust.ts';
import { webRouter } from '../web/routes.ts';

export const GATEWAY_BUILD = 'attestgate/0.1.0';

/** What the gateway appends to the transparency log (src/audit) besides the store. */
export interface AuditLog {
  append(kind: 'attestation' | 'receipt' | 'key', entry: Readonly<Record<string, unknown>>): Promise<number>;
  close(): Promise<void>;
}

export interface RunningGateway {
  readonly url: string;
  readonly server: Server;
  readonly pool: BackendPool;
  readonly key: GatewayKey;
  readonly store: Store;
  readonly metrics: GatewayMetrics;
  readonly policy: Policy;
  close(): Promise<void>;
}

export interface GatewayOptions {
  readonly log?: Logger;
  readonly now?: () => number;
  /** Log origin (default: config transparency_log.origin). */
  readonly logOrigin?: string;
  /** Sign a checkpoint this often when the log grew (default: config transparency_log.checkpoint_interval_s). */
  readonly checkpointEveryMs?: number;
  /** Retry a refused backend after this long (default 5 s). */
  readonly retryMs?: number;
}

/** A small text file's trimmed content, or undefined when it does not exist. */
async function readOptionalText(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (e: unknown) {
    if ((e as { code?: unknown }).code === 'ENOENT') return undefined;
    throw e;
  }
}

export async function loadPolicy(path: string): Promise<Policy> {
  const text = await readFile(path, 'utf8');
  return parsePolicyText(text, extname(path) === '.json' ? 'json' : 'yaml');
}

function attestationRecord(a: Admission, policyDigestHex: string, blobs: { evidence?: string; collateral: { name: string; sha256: string }[] }): Record<string, unknown> {
  return {
    id: a.id,
    backend: a.backend,
    created_at: new Date(a.createdAt).toISOString(),
    expires_at: new Date(a.expiresAt).toISOString(),
    admitted: a.admitted,
    status: a.status,
    reasons: a.reasons,
    nonce: a.nonce,
    tee: a.tee ?? null,
    simulated: a.simulated,
    key: a.key ?? null,
    models: a.models,
    policy_digest: policyDigestHex,
    evidence_sha256: a.evidenceSha256 ?? null,
    evidence: a.evidence === undefined ? null : Buffer.from(a.evidence).toString('base64'),
    collateral: a.collateral.map((c, i) => ({ name: c.name, sha256: blobs.collateral[i]?.sha256 ?? '', data: Buffer.from(c.bytes).toString('base64') })),
    checks: a.appraisal?.checks ?? [],
    result: a.result ?? null,
    ear: a.ear ?? null,
  };
}

export async function startGateway(config: Config, opts: GatewayOptions = {}): Promise<RunningGateway> {
  const log = opts.log ?? createLogger({ level: config.log.level, base: { component: 'gateway' } });
  const now = opts.now ?? Date.now;
  if (config.policy === null) throw new AppError('ERR_CONFIG_INVALID', 'no policy configured: without one no backend can be admitted (set policy or ATTESTGATE_POLICY)');
  const policy = await loadPolicy(config.policy);
  const digest = await policyDigest(policy);
  const store = openSqliteStore({ dataDir: config.data_dir });
  const key = await loadOrCreateGatewayKey(config.signing.key_file, config.signing.alg);
  log.info(key.created ? 'gateway signing key created' : 'gateway signing key loaded', { kid: key.kid, alg: key.alg, file: config.signing.key_file });
  const trust = await loadTrust({ simulatedRoots: config.trust.simulated_roots, extraRoots: config.trust.extra_roots, dataDir: config.data_dir });
  if (config.trust.simulated_roots) {
    log.warn('TRUSTING SIMULATED TEE ROOTS: evidence from the simulated TEE will verify (marked simulated); never do this in production', { roots: trust.extra().filter((a) => a.simulated).map((a) => a.sha256) });
  }
  if (config.demo) log.warn('DEMO MODE: requests from loopback need no API key');
  const glog = await openGatewayLog({
    dataDir: config.data_dir,
    origin: opts.logOrigin ?? config.transparency_log.origin,
    checkpointEveryMs: opts.checkpointEveryMs ?? Math.round(config.transparency_log.checkpoint_interval_s * 1000),
    now,
  });
  log.info('transparency log open', { origin: glog.tlog.origin, size: glog.tlog.size(), verifier_key: glog.tlog.verifierKey });
  await recoverReceipts(glog, store, log);
  // A full disk or a broken log file is the storage's failure (503 ERR_STORE_IO, "free disk
  // space"), never an unexplained 500: the same mapping as the log's read routes.
  const audit: AuditLog = {
    append: (kind, entry) =>
      glog.append(kind, entry).catch((e: unknown) => {
        throw asApp(e);
      }),
    close: () => glog.close(),
  };
  // The key that will sign EAR results and countersignatures is logged at every start (its birth,
  // or that it is in use again), so an auditor can check every later signature against the log.
  // A key other than the one logged at the last start (the operator replaced or removed the key
  // file) is logged as a rotation naming the previous kid, so an auditor sees when signatures by
  // the old key must stop.
  const kidFile = join(config.data_dir, 'gateway-key.logged-kid');
  const previousKid = await readOptionalText(kidFile);
  const event = previousKid !== undefined && previousKid !== key.kid ? 'gateway_key_rotated' : key.created ? 'gateway_key_created' : 'gateway_key_in_use';
  await audit.append('key', { event, kid: key.kid, alg: key.alg, jwk: key.jwk, at: new Date(now()).toISOString(), ...(event === 'gateway_key_rotated' ? { previous_kid: previousKid } : {}) });
  if (event === 'gateway_key_rotated') log.warn('gateway signing key rotated', { kid: key.kid, previous_kid: previousKid });
  await writeFile(kidFile, `${key.kid}\n`, { mode: 0o600 });
  const metrics = createGatewayMetrics();

  const record = async (a: Admission): Promise<void> => {
    // Evidence and collateral by content digest, in the store and beside the log (so any past
    // verdict can be replayed byte for byte from an export of the log alone).
    const evidence = a.evidence === undefined ? undefined : await store.putBlob(a.evidence);
    if (a.evidence !== undefined) glog.tlog.putBlob(a.evidence);
    const collateral = await Promise.all(a.collateral.map(async (c) => ({ name: c.name, sha256: await store.putBlob(c.bytes) })));
    for (const c of a.collateral) glog.tlog.putBlob(c.bytes);
    const rec = attestationRecord(a, digest, { ...(evidence === undefined ? {} : { evidence }), collateral });
    const verifiedAt = new Date(now()).toISOString();
    await store.putAttestation({ id: a.id, backend: a.backend, created_at: a.createdAt, verdict: a.status, ear_jwt: a.ear ?? '', evidence_sha256: a.evidenceSha256 ?? '', record_json: JSON.stringify(rec) });
    {
      await audit.append('attestation', {
        id: a.id,
        backend: a.backend,
        time: new Date(a.createdAt).toISOString(),
        verified_at: verifiedAt,
        tee: a.tee ?? null,
        verdict: a.status,
        reasons: a.reasons,
        evidence_sha256: a.evidenceSha256 ?? null,
        collateral_sha256: collateral.map((c) => c.sha256),
        policy_digest: digest,
        ear: a.ear ?? null,
        key_kid: a.key?.kid ?? null,
      });
    }
  };

  const collateral = createCollateralSource({
    config: config.attestation.collateral,
    // The gateway's one clock: cached collateral expires on the same time the verifier checks it at.
    clock: now,
    persist: store,
    onCache: (result) => {
      metrics.collateralCache.inc({ result });
    },
  });
  const admit = async (client: EnclaveClient): Promise<Admission> => {
    const a = await admitBackend(client, {
      now,
      policy,
      policyDigest: digest,
      key,
      build: GATEWAY_BUILD,
      trustAnchors: trust.anchorsFor,
      collateral,
      lifetimeMs: config.attestation.lifetime_s * 1000,
      onVerified: (tee, s) => {
        metrics.verificationDuration.observe({ tee }, s);
      },
    });
    // Recorded before the pool sees it: an admission that is not durably recorded is not used.
    await record(a);
    return a;
  };

  const pool = new BackendPool({
    backends: config.backends.map((b) => ({ name: b.name, client: new EnclaveClient(b.name, b.url, b.timeout_ms), models: b.models ?? undefined })),
    admit,
    now,
    reattestBeforeMs: config.attestation.reattest_before_s * 1000,
    retryMs: opts.retryMs ?? 5_000,
    events: {
      admitted: (b, a) => {
        metrics.backendAdmissions.inc({ backend: b.name });
        log.info('backend admitted', { backend: b.name, attestation: a.id, tee: a.tee, simulated: a.simulated, status: a.status, expires_at: new Date(a.expiresAt).toISOString(), kid: a.key?.kid });
        void audit.append('key', { event: 'enclave_key_admitted', backend: b.name, kid: a.key?.kid ?? null, attestation: a.id, at: new Date(now()).toISOString() }).catch((e: unknown) => { log.error('log append failed', { error: String(e) }); });
      },
      refused: (b, a, reason) => {
        metrics.backendRefusals.inc({ backend: b.name, reason: a?.reasons[0]?.code ?? 'ERR_ADMISSION' });
        log.warn('backend refused', { backend: b.name, attestation: a?.id, reasons: a?.reasons ?? [{ message: reason }] });
      },
      evicted: (b, reason) => {
        log.warn('backend evicted', { backend: b.name, reason });
        void audit.append('key', { event: 'enclave_key_evicted', backend: b.name, reason, at: new Date(now()).toISOString() }).catch((e: unknown) => { log.error('log append failed', { error: String(e) }); });
      },
    },
  });

  // One durable write per answer: the log entry, which carries the receipt's JWS; the
  // store's copy follows without an fsync of its own and is recovered from the log (receipt-record.ts).
  const receipts: ReceiptSink = {
    async recordReceipt(r: ReceiptEntry) {
      const started = process.hrtime.bigint();
      const logIndex = await audit.append('receipt', receiptLogEntry(r));
      await store.putReceipt(receiptRecord(r, logIndex));
      metrics.receiptLogDuration.observe({}, Number(process.hrtime.bigint() - started) / 1e9);
      return { logIndex };
    },
  };

  // One limiter for both front ends of the inference route.
  const limiter = createRateLimiter({ perSecond: config.limits.rate.per_second, burst: config.limits.rate.burst });
  const app = createApp({
    store,
    pool,
    key,
    log,
    metrics,
    limiter,
    now,
    demo: config.demo,
    maxBodyBytes: config.limits.max_body_bytes,
    receipts,
    policy: { policy, digest },
    mount: (app) => {
      app.use(logRouter(glog));
      app.use(webRouter({ simulatedRoots: config.trust.simulated_roots, dataDir: config.data_dir, log }));
      app.get('/v1/receipts/:id/proof', (req, res, next) => {
        const id = req.params['id'];
        store
          .getReceipt(id)
          .then((rec) => {
            if (rec === undefined) throw new AppError('ERR_NOT_FOUND', `no receipt ${id}`);
            const body = JSON.parse(rec.body_json) as { log_index?: unknown };
            if (typeof body.log_index !== 'number') throw new AppError('ERR_NOT_FOUND', `receipt ${id} has no log entry`);
            res.json({ receipt: body, log: proofBundle(glog, body.log_index), verifier_key: glog.tlog.verifierKey });
          })
          .catch(next);
      });
    },
  });
  // The ordinary inference request skips express (fast-infer.ts); everything else goes through it.
  const fastInfer = createFastInfer({ store, pool, key, log, metrics, limiter, now, demo: config.demo, receipts, maxBodyBytes: config.limits.max_body_bytes });
  await pool.start();
  const server = await new Promise<Server>((res, rej) => {
    const s = createServer(
      {
        // Slow clients: headers within 10 s, the whole request within 60 s, and those limits
        // checked every second (Node's default check runs every 30 s, so a slow-loris client
        // could hold a socket for 40 s).
        headersTimeout: 10_000,
        requestTimeout: 60_000,
        connectionsCheckingInterval: 1_000,
      },
      (req, res) => {
        if (!fastInfer(req, res)) app(req, res);
      },
    );
    // Every header is kept: past Node's default of 2000 lines it drops the rest silently
    // (Content-Length, a second Authorization, the client's nonce). The 16 KiB header size limit
    // (431) still bounds what a client can send.
    s.maxHeadersCount = 0;
    s.listen(config.listen.port, config.listen.host, () => {
      res(s);
    });
    s.once('error', rej);
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : config.listen.port;
  const url = `http://${config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host}:${port}`;
  log.info('gateway listening', { url, backends: pool.backends.map((b) => ({ name: b.name, state: b.state, reason: b.reason ?? null })), policy: policy.name, policy_digest: digest });
  return {
    url,
    server,
    pool,
    key,
    store,
    metrics,
    policy,
    async close() {
      await new Promise<void>((res) => server.close(() => { res(); }));
      server.closeAllConnections();
      await pool.close();
      await audit.close();
      await store.close();
    },
  };
}

export const sha256hex = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
