/**
 * The backend pool: which enclaves are admitted, until when, and which one takes the next
 * request. A backend gets traffic only while it holds an admission that is affirmed and not
 * expired; everything else (never attested, refused, expired, evicted, re-attestation failed)
 * means no traffic. Re-attestation runs in the background ahead of expiry so traffic does not
 * stall; a failed re-attestation evicts the backend at once (fail closed).
 */
import type { Admission } from './admission.ts';
import type { EnclaveClient } from './enclave-client.ts';

export type BackendState = 'pending' | 'admitted' | 'refused' | 'evicted';

export interface Backend {
  readonly name: string;
  readonly client: EnclaveClient;
  /** Restrict this backend to these model names (undefined: whatever it attests to serve). */
  readonly models: readonly string[] | undefined;
  state: BackendState;
  admission: Admission | undefined;
  /** Why the backend is not admitted (for /v2/health/ready and logs). */
  reason: string | undefined;
  inflight: number;
  timer: NodeJS.Timeout | undefined;
  attesting: Promise<void> | undefined;
}

export interface PoolEvents {
  admitted(b: Backend, a: Admission): void;
  refused(b: Backend, a: Admission | undefined, reason: string): void;
  evicted(b: Backend, reason: string): void;
}

export interface PoolOptions {
  readonly backends: readonly { name: string; client: EnclaveClient; models?: readonly string[] | undefined }[];
  readonly admit: (client: EnclaveClient) => Promise<Admission>;
  readonly now: () => number;
  /** Start re-attesting this long before an admission expires. */
  readonly reattestBeforeMs: number;
  /** Retry a refused or unreachable backend after this long. */
  readonly retryMs: number;
  readonly events: PoolEvents;
}

export class BackendPool {
  readonly backends: Backend[];
  private rr = 0;
  private closed = false;

  constructor(private readonly opts: PoolOptions) {
    this.backends = opts.backends.map((b) => ({
      name: b.name,
      client: b.client,
      models: b.models,
      state: 'pending',
      admission: undefined,
      reason: 'not attested yet',
      inflight: 0,
      timer: undefined,
      attesting: undefined,
    }));
  }

  /** Attest every backend once (in parallel); resolves when each has an answer either way. */
  async start(): Promise<void> {
    await Promise.all(this.backends.map((b) => this.attest(b)));
  }

  /** Attest (or re-attest) one backend now; concurrent calls share one attempt. */
  attest(b: Backend): Promise<void> {
    b.attesting ??= this.runAttest(b).finally(() => {
      b.attesting = undefined;
    });
    return b.attesting;
  }

  private async runAttest(b: Backend): Promise<void> {
    if (this.closed) return;
    let a: Admission;
    try {
      a = await this.opts.admit(b.client);
    } catch (e: unknown) {
      const reason = e instanceof Error ? e.message : String(e);
      this.refuse(b, undefined, reason);
      return;
    }
    // close() may have run while we awaited the backend.
    if (this.isClosed()) return;
    if (!a.admitted) {
      this.refuse(b, a, a.reasons.map((r) => r.message).join('; ') || 'refused');
      return;
    }
    // The clock may have passed the admission's end while it was being recorded (a slow store,
    // a clock step): an admission that is already over admits nothing.
    if (this.opts.now() >= a.expiresAt) {
      // Which bound ended it: its collateral (the verifier's result expires then) or its lifetime.
      const collateral = a.result !== undefined && Date.parse(a.result.expires_at) <= a.expiresAt;
      const message = `admission ${a.id} expired (${new Date(a.expiresAt).toISOString()}) before it could be used`;
      const reason = { code: collateral ? 'ERR_COLLATERAL_STALE' : 'ERR_ADMISSION_EXPIRED', reason: 'expired_before_use', message };
      this.refuse(b, { ...a, admitted: false, reasons: [reason] }, message);
      return;
    }
    b.admission = a;
    b.state = 'admitted';
    b.reason = undefined;
    this.opts.events.admitted(b, a);
    this.schedule(b, Math.max(1_000, a.expiresAt - this.opts.reattestBeforeMs - this.opts.now()));
  }

  private refuse(b: Backend, a: Admission | undefined, reason: string): void {
    const wasAdmitted = b.state === 'admitted';
    b.state = 'refused';
    b.admission = undefined;
    b.reason = reason;
    this.opts.events.refused(b, a, reason);
    if (wasAdmitted) this.opts.events.evicted(b, `re-attestation failed: ${reason}`);
    this.schedule(b, this.opts.retryMs);
  }

  private schedule(b: Backend, ms: number): void {
    if (this.closed) return;
    if (b.timer !== undefined) clearTimeout(b.timer);
    b.timer = setTimeout(() => {
      b.timer = undefined;
      void this.attest(b);
    }, ms);
    b.timer.unref();
  }

  /** Take a backend out of service now (bad receipt, crash): no traffic until a fresh admission. */
  evict(b: Backend, reason: string): void {
    if (b.state !== 'admitted') return;
    b.state = 'evicted';
    b.admission = undefined;
    b.reason = reason;
    this.opts.events.evicted(b, reason);
    this.schedule(b, this.opts.retryMs);
  }

  /** Is this backend's admission usable right now? (Expiry is checked per request, not only by timers.) */
  usable(b: Backend): b is Backend & { admission: Admission } {
    if (b.state !== 'admitted' || b.admission === undefined) return false;
    if (this.opts.now() >= b.admission.expiresAt) {
      this.evict(b, 'admission expired');
      return false;
    }
    return true;
  }

  /** Admitted backends serving `model` (and `version`, when given). */
  candidates(model: string, version: string | undefined): (Backend & { admission: Admission })[] {
    return this.backends.filter(
      (b): b is Backend & { admission: Admission } =>
        this.usable(b) &&
        (b.models === undefined || b.models.includes(model)) &&
        b.admission.models.some((m) => m.name === model && (version === undefined || m.version === version)),
    );
  }

  /** Least-loaded among the candidates, round robin between equals. */
  pick(model: string, version: string | undefined, exclude: ReadonlySet<string> = new Set()): (Backend & { admission: Admission }) | undefined {
    const c = this.candidates(model, version).filter((b) => !exclude.has(b.name));
    if (c.length === 0) return undefined;
    const min = Math.min(...c.map((b) => b.inflight));
    const least = c.filter((b) => b.inflight === min);
    this.rr = (this.rr + 1) % 1_000_000;
    return least[this.rr % least.length];
  }

  /** Every model served by at least one admitted backend. */
  models(): { name: string; version: string; sha256: string }[] {
    const seen = new Map<string, { name: string; version: string; sha256: string }>();
    for (const b of this.backends) {
      if (!this.usable(b)) continue;
      for (const m of b.admission.models) if (b.models === undefined || b.models.includes(m.name)) seen.set(`${m.name}\u0000${m.version}`, m);
    }
    return [...seen.values()];
  }

  isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const b of this.backends) if (b.timer !== undefined) clearTimeout(b.timer);
    await Promise.all(this.backends.map((b) => b.client.close()));
  }
}
