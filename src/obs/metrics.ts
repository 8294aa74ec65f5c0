/**
 * A tiny Prometheus registry: counters, gauges and fixed-bucket histograms with labels, exposed in
 * the text format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/). No
 * dependency: the format is small and a client library would bring its own default metrics.
 *
 * Misuse (wrong label names, a negative counter increment, NaN) throws, so tests catch it.
 * Cardinality is bounded per metric (`maxSeries`): label values come from requests (route, model,
 * backend), and a bug that puts a raw URL into a label must not grow memory without limit; new
 * series beyond the bound are dropped and counted in `droppedSeries`.
 */
import { AppError } from '../errors.ts';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type Labels<L extends string> = Readonly<Record<L, string>>;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
export const DEFAULT_MAX_SERIES = 10_000;

function misuse(message: string): AppError {
  return new AppError('ERR_INTERNAL', `metrics: ${message}`);
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabelValue(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** A sample value as Prometheus (Go ParseFloat) reads it. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelText(names: readonly string[], values: readonly string[], extra?: readonly [string, string]): string {
  const parts = names.map((n, i) => `${n}="${escapeLabelValue(values[i] ?? '')}"`);
  if (extra !== undefined) parts.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

abstract class Metric<L extends string, S> {
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  readonly #series = new Map<string, { readonly values: readonly string[]; readonly state: S }>();
  #dropped = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
    readonly maxSeries: number,
  ) {
    if (!METRIC_NAME.test(name)) throw misuse(`invalid metric name ${JSON.stringify(name)}`);
    for (const l of labelNames) {
      if (!LABEL_NAME.test(l) || l.startsWith('__')) throw misuse(`${name}: invalid label name ${JSON.stringify(l)}`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw misuse(`${name}: duplicate label name`);
  }

  /** Series that could not be created because maxSeries was reached. */
  get droppedSeries(): number {
    return this.#dropped;
  }

  protected abstract initial(): S;

  /** The state of the series for `labels`, created on first use if `create`; undefined if absent
   * or over the bound. */
  protected series(labels: Labels<L>, create = true): S | undefined {
    const given = Object.keys(labels);
    const values = this.labelNames.map((n) => {
      const v: unknown = Object.hasOwn(labels, n) ? labels[n] : undefined;
      if (typeof v !== 'string') throw misuse(`${this.name}: label ${n} must be a string`);
      return v;
    });
    if (given.length !== this.labelNames.length) {
      throw misuse(`${this.name}: labels must be exactly {${this.labelNames.join(', ')}}, got {${given.join(', ')}}`);
    }
    const key = JSON.stringify(values);
    const hit = this.#series.get(key);
    if (hit !== undefined || !create) return hit?.state;
    if (this.#series.size >= this.maxSeries) {
      this.#dropped++;
      return undefined;
    }
    const state = this.initial();
    this.#series.set(key, { values, state });
    return state;
  }

  protected abstract sampleLines(values: readonly string[], state: S): string[];

  /** HELP, TYPE and sample lines; a metric without labels shows its zero value before first use. */
  expose(): string[] {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    const entries = [...this.#series.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (entries.length === 0 && this.labelNames.length === 0) {
      lines.push(...this.sampleLines([], this.initial()));
    }
    for (const [, s] of entries) lines.push(...this.sampleLines(s.values, s.state));
    return lines;
  }
}

interface Cell {
  value: number;
}

export class Counter<L extends string = never> extends Metric<L, Cell> {
  readonly type = 'counter';
  protected initial(): Cell {
    return { value: 0 };
  }
  inc(labels: Labels<L>, by = 1): void {
    if (!(by >= 0) || !Number.isFinite(by)) throw misuse(`${this.name}: a counter only goes up (got ${by})`);
    const c = this.series(labels);
    if (c !== undefined) c.value += by;
  }
  get(labels: Labels<L>): number {
    return this.series(labels, false)?.value ?? 0;
  }
  protected sampleLines(values: readonly string[], c: Cell): string[] {
    return [`${this.name}${labelText(this.labelNames, values)} ${formatValue(c.value)}`];
  }
}

export class Gauge<L extends string = never> extends Metric<L, Cell> {
  readonly type = 'gauge';
  protected initial(): Cell {
    return { value: 0 };
  }
  set(labels: Labels<L>, value: number): void {
    if (Number.isNaN(value)) throw misuse(`${this.name}: NaN`);
    const c = this.series(labels);
    if (c !== undefined) c.value = value;
  }
  inc(labels: Labels<L>, by = 1): void {
    if (Number.isNaN(by)) throw misuse(`${this.name}: NaN`);
    const c = this.series(labels);
    if (c !== undefined) c.value += by;
  }
  dec(labels: Labels<L>, by = 1): void {
    this.inc(labels, -by);
  }
  get(labels: Labels<L>): number {
    return this.series(labels, false)?.value ?? 0;
  }
  protected sampleLines(values: readonly string[], c: Cell): string[] {
    return [`${this.name}${labelText(this.labelNames, values)} ${formatValue(c.value)}`];
  }
}

interface HistogramState {
  /** Non-cumulative count per bucket (the last one is +Inf). */
  readonly counts: number[];
  sum: number;
  count: number;
}

export class Histogram<L extends string = never> extends Metric<L, HistogramState> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];

  constructor(name: string, help: string, labelNames: readonly L[], buckets: readonly number[], maxSeries: number) {
    super(name, help, labelNames, maxSeries);
    if ((labelNames as readonly string[]).includes('le')) throw misuse(`${name}: "le" is reserved in histograms`);
    if (buckets.length === 0) throw misuse(`${name}: at least one bucket`);
    for (const [i, b] of buckets.entries()) {
      const prev = buckets[i - 1];
      if (!Number.isFinite(b) || (prev !== undefined && !(b > prev))) throw misuse(`${name}: buckets must be finite and strictly increasing`);
    }
    this.buckets = Object.freeze([...buckets]);
  }

  protected initial(): HistogramState {
    return { counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
  }

  observe(labels: Labels<L>, value: number): void {
    if (Number.isNaN(value)) throw misuse(`${this.name}: NaN observation`);
    const h = this.series(labels);
    if (h === undefined) return;
    let i = this.buckets.findIndex((b) => value <= b);
    if (i < 0) i = this.buckets.length;
    h.counts[i] = (h.counts[i] ?? 0) + 1;
    h.sum += value;
    h.count++;
  }

  /** Observe the seconds elapsed between this call and the returned function's call. */
  startTimer(labels: Labels<L>, now: () => number = () => performance.now()): () => number {
    const t0 = now();
    return () => {
      const s = (now() - t0) / 1000;
      this.observe(labels, s);
      return s;
    };
  }

  protected sampleLines(values: readonly string[], h: HistogramState): string[] {
    const lines: string[] = [];
    let cum = 0;
    for (const [i, c] of h.counts.entries()) {
      cum += c;
      const b = this.buckets[i];
      const le = b === undefined ? '+Inf' : formatValue(b);
      lines.push(`${this.name}_bucket${labelText(this.labelNames, values, ['le', le])} ${formatValue(cum)}`);
    }
    const lt = labelText(this.labelNames, values);
    lines.push(`${this.name}_sum${lt} ${formatValue(h.sum)}`, `${this.name}_count${lt} ${formatValue(h.count)}`);
    return lines;
  }
}

export interface RegistryOptions {
  readonly maxSeries?: number;
}

export class Registry {
  readonly #metrics = new Map<string, Metric<string, unknown>>();
  readonly #maxSeries: number;

  constructor(opts: RegistryOptions = {}) {
    this.#maxSeries = opts.maxSeries ?? DEFAULT_MAX_SERIES;
  }

  #add<M extends Metric<string, unknown>>(m: M): M {
    if (this.#metrics.has(m.name)) throw misuse(`${m.name} is already registered`);
    this.#metrics.set(m.name, m);
    return m;
  }

  counter<const L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return this.#add(new Counter<L>(name, help, labelNames, this.#maxSeries));
  }

  gauge<const L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return this.#add(new Gauge<L>(name, help, labelNames, this.#maxSeries));
  }

  histogram<const L extends string = never>(name: string, help: string, labelNames: readonly L[], buckets: readonly number[]): Histogram<L> {
    return this.#add(new Histogram<L>(name, help, labelNames, buckets, this.#maxSeries));
  }

  /** The exposition text, metrics in registration order, ending with a newline. */
  expose(): string {
    const lines: string[] = [];
    for (const m of this.#metrics.values()) lines.push(...m.expose());
    return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
  }
}

export const HTTP_DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
export const LOG_DURATION_BUCKETS: readonly number[] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
export const VERIFICATION_DURATION_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface GatewayMetrics {
  readonly registry: Registry;
  /** Label `route` is the route template (`/v2/models/:name/infer`), never the raw path. */
  readonly httpRequestDuration: Histogram<'route' | 'method' | 'status'>;
  readonly backendAdmissions: Counter<'backend'>;
  readonly backendRefusals: Counter<'backend' | 'reason'>;
  readonly collateralCache: Counter<'result'>;
  readonly verificationDuration: Histogram<'tee'>;
  /** The durable writes an answer waits for: its receipt appended to the log and stored. */
  readonly receiptLogDuration: Histogram;
  readonly admittedBackends: Gauge;
}

/** The gateway's metrics, registered in `registry` (a new one by default). */
export function createGatewayMetrics(registry: Registry = new Registry()): GatewayMetrics {
  return {
    registry,
    httpRequestDuration: registry.histogram(
      'attestgate_http_request_duration_seconds',
      'HTTP request duration in seconds, by route template, method and status code.',
      ['route', 'method', 'status'],
      HTTP_DURATION_BUCKETS,
    ),
    backendAdmissions: registry.counter('attestgate_backend_admissions_total', 'Backends admitted after verification and appraisal.', ['backend']),
    backendRefusals: registry.counter('attestgate_backend_refusals_total', 'Backends refused, by reason (an error code).', ['backend', 'reason']),
    collateralCache: registry.counter('attestgate_collateral_cache_total', 'Collateral lookups, by result: hit (cache or offline bundle), miss (fetched), stale (cached collateral served while the service failed).', ['result']),
    verificationDuration: registry.histogram(
      'attestgate_verification_duration_seconds',
      'Evidence verification duration in seconds, by TEE.',
      ['tee'],
      VERIFICATION_DURATION_BUCKETS,
    ),
    receiptLogDuration: registry.histogram(
      'attestgate_receipt_log_duration_seconds',
      'Time an answer waits for its receipt to be durable: appended to the transparency log and stored (group commit included).',
      [],
      LOG_DURATION_BUCKETS,
    ),
    admittedBackends: registry.gauge('attestgate_admitted_backends', 'Backends currently admitted (holding a valid attestation result).'),
  };
}
