import { describe, expect, it } from 'vitest';
import { AppError } from '../../../../src/errors.ts';
import { createGatewayMetrics, formatValue, PROMETHEUS_CONTENT_TYPE, Registry } from '../../../../src/obs/metrics.ts';

describe('Registry exposition (text format 0.0.4)', () => {
  it('writes HELP, TYPE and samples exactly; label-less metrics start at zero', () => {
    const r = new Registry();
    const c = r.counter('jobs_total', 'Jobs done.', ['kind']);
    const g = r.gauge('queue_depth', 'Items waiting.');
    const h = r.histogram('latency_seconds', 'Latency.', ['op'], [0.1, 1]);
    r.counter('idle_total', 'Never touched, no labels.');
    r.counter('unused_total', 'Never touched, with labels.', ['x']);
    c.inc({ kind: 'b' });
    c.inc({ kind: 'a' }, 2.5);
    g.set({}, 3);
    g.dec({});
    h.observe({ op: 'read' }, 0.05);
    h.observe({ op: 'read' }, 0.1);
    h.observe({ op: 'read' }, 0.5);
    h.observe({ op: 'read' }, 7);
    expect(r.expose()).toBe(
      [
        '# HELP jobs_total Jobs done.',
        '# TYPE jobs_total counter',
        'jobs_total{kind="a"} 2.5',
        'jobs_total{kind="b"} 1',
        '# HELP queue_depth Items waiting.',
        '# TYPE queue_depth gauge',
        'queue_depth 2',
        '# HELP latency_seconds Latency.',
        '# TYPE latency_seconds histogram',
        'latency_seconds_bucket{op="read",le="0.1"} 2',
        'latency_seconds_bucket{op="read",le="1"} 3',
        'latency_seconds_bucket{op="read",le="+Inf"} 4',
        'latency_seconds_sum{op="read"} 7.65',
        'latency_seconds_count{op="read"} 4',
        '# HELP idle_total Never touched, no labels.',
        '# TYPE idle_total counter',
        'idle_total 0',
        '# HELP unused_total Never touched, with labels.',
        '# TYPE unused_total counter',
        '',
      ].join('\n'),
    );
    expect(c.get({ kind: 'a' })).toBe(2.5);
    expect(c.get({ kind: 'zzz' })).toBe(0);
    expect(r.expose()).not.toContain('zzz');
  });

  it('escapes label values and help text', () => {
    const r = new Registry();
    const c = r.counter('odd_total', 'Help with \\ and\nnewline "quotes" stay.', ['v']);
    c.inc({ v: 'a\\b"c\nd' });
    expect(r.expose()).toBe(
      ['# HELP odd_total Help with \\\\ and\\nnewline "quotes" stay.', '# TYPE odd_total counter', 'odd_total{v="a\\\\b\\"c\\nd"} 1', ''].join('\n'),
    );
  });

  it('formats special values as Prometheus reads them', () => {
    expect(formatValue(Infinity)).toBe('+Inf');
    expect(formatValue(-Infinity)).toBe('-Inf');
    expect(formatValue(Number.NaN)).toBe('NaN');
    expect(formatValue(0.000001)).toBe('0.000001');
    expect(formatValue(1e21)).toBe('1e+21');
    expect(PROMETHEUS_CONTENT_TYPE).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it('is empty with no metrics', () => {
    expect(new Registry().expose()).toBe('');
  });

  it('refuses misuse with ERR_INTERNAL', () => {
    const r = new Registry();
    const c = r.counter('a_total', 'a', ['x']);
    const wrongLabels = c as unknown as { inc(l: Record<string, string>, v?: number): void };
    expect(() => { wrongLabels.inc({}); }).toThrow(AppError);
    expect(() => { wrongLabels.inc({ x: '1', y: '2' }); }).toThrow(/labels must be exactly \{x\}/);
    expect(() => { wrongLabels.inc({ y: '1' }); }).toThrow(AppError);
    expect(() => { c.inc({ x: '1' }, -1); }).toThrow(/only goes up/);
    expect(() => { c.inc({ x: '1' }, Number.NaN); }).toThrow(AppError);
    expect(() => r.counter('a_total', 'again')).toThrow(/already registered/);
    expect(() => r.counter('bad-name', 'x')).toThrow(/invalid metric name/);
    expect(() => r.counter('b_total', 'x', ['__reserved'])).toThrow(/invalid label name/);
    expect(() => r.counter('c_total', 'x', ['a', 'a'])).toThrow(/duplicate label/);
    expect(() => r.histogram('h1', 'x', ['le'], [1])).toThrow(/reserved/);
    expect(() => r.histogram('h2', 'x', [], [1, 1])).toThrow(/strictly increasing/);
    expect(() => r.histogram('h3', 'x', [], [])).toThrow(/at least one bucket/);
    expect(() => r.histogram('h4', 'x', [], [1, Infinity])).toThrow(/finite/);
    const h = r.histogram('h5', 'x', [], [1]);
    expect(() => { h.observe({}, Number.NaN); }).toThrow(/NaN/);
    expect(() => { r.gauge('g', 'x').set({}, Number.NaN); }).toThrow(/NaN/);
  });

  it('bounds the number of series per metric', () => {
    const r = new Registry({ maxSeries: 2 });
    const c = r.counter('paths_total', 'x', ['path']);
    for (const p of ['/a', '/b', '/c', '/d']) c.inc({ path: p });
    c.inc({ path: '/a' });
    expect(c.droppedSeries).toBe(2);
    expect(c.get({ path: '/a' })).toBe(2);
    expect(r.expose()).not.toContain('/c');
  });

  it('times with an injected clock', () => {
    const r = new Registry();
    const h = r.histogram('t_seconds', 'x', [], [1, 2]);
    let t = 1000;
    const stop = h.startTimer({}, () => t);
    t = 2500;
    expect(stop()).toBe(1.5);
    expect(r.expose()).toContain('t_seconds_bucket{le="2"} 1\nt_seconds_bucket{le="+Inf"} 1\nt_seconds_sum 1.5\nt_seconds_count 1');
  });
});

describe('createGatewayMetrics', () => {
  it('predefines the gateway metrics', () => {
    const m = createGatewayMetrics();
    m.httpRequestDuration.observe({ route: '/v2/models/:name/infer', method: 'POST', status: '200' }, 0.042);
    m.backendAdmissions.inc({ backend: 'enclave-1' });
    m.backendRefusals.inc({ backend: 'enclave-2', reason: 'ERR_TCB_STATUS' });
    m.collateralCache.inc({ result: 'hit' });
    m.collateralCache.inc({ result: 'miss' });
    m.collateralCache.inc({ result: 'hit' });
    m.verificationDuration.observe({ tee: 'tdx' }, 0.003);
    m.receiptLogDuration.observe({}, 0.0003);
    m.admittedBackends.set({}, 1);
    const http = 'attestgate_http_request_duration_seconds';
    const labels = 'route="/v2/models/:name/infer",method="POST",status="200"';
    const vd = 'attestgate_verification_duration_seconds';
    const rl = 'attestgate_receipt_log_duration_seconds';
    expect(m.registry.expose()).toBe(
      [
        `# HELP ${http} HTTP request duration in seconds, by route template, method and status code.`,
        `# TYPE ${http} histogram`,
        ...[
          ['0.005', 0],
          ['0.01', 0],
          ['0.025', 0],
          ['0.05', 1],
          ['0.1', 1],
          ['0.25', 1],
          ['0.5', 1],
          ['1', 1],
          ['2.5', 1],
          ['5', 1],
          ['10', 1],
          ['30', 1],
          ['+Inf', 1],
        ].map(([le, v]) => `${http}_bucket{${labels},le="${String(le)}"} ${String(v)}`),
        `${http}_sum{${labels}} 0.042`,
        `${http}_count{${labels}} 1`,
        '# HELP attestgate_backend_admissions_total Backends admitted after verification and appraisal.',
        '# TYPE attestgate_backend_admissions_total counter',
        'attestgate_backend_admissions_total{backend="enclave-1"} 1',
        '# HELP attestgate_backend_refusals_total Backends refused, by reason (an error code).',
        '# TYPE attestgate_backend_refusals_total counter',
        'attestgate_backend_refusals_total{backend="enclave-2",reason="ERR_TCB_STATUS"} 1',
        '# HELP attestgate_collateral_cache_total Collateral lookups, by result: hit (cache or offline bundle), miss (fetched), stale (cached collateral served while the service failed).',
        '# TYPE attestgate_collateral_cache_total counter',
        'attestgate_collateral_cache_total{result="hit"} 2',
        'attestgate_collateral_cache_total{result="miss"} 1',
        `# HELP ${vd} Evidence verification duration in seconds, by TEE.`,
        `# TYPE ${vd} histogram`,
        ...[
          ['0.001', 0],
          ['0.0025', 0],
          ['0.005', 1],
          ['0.01', 1],
          ['0.025', 1],
          ['0.05', 1],
          ['0.1', 1],
          ['0.25', 1],
          ['0.5', 1],
          ['1', 1],
          ['2.5', 1],
          ['5', 1],
          ['+Inf', 1],
        ].map(([le, v]) => `${vd}_bucket{tee="tdx",le="${String(le)}"} ${String(v)}`),
        `${vd}_sum{tee="tdx"} 0.003`,
        `${vd}_count{tee="tdx"} 1`,
        `# HELP ${rl} Time an answer waits for its receipt to be durable: appended to the transparency log and stored (group commit included).`,
        `# TYPE ${rl} histogram`,
        ...[
          ['0.0001', 0],
          ['0.00025', 0],
          ['0.0005', 1],
          ['0.001', 1],
          ['0.0025', 1],
          ['0.005', 1],
          ['0.01', 1],
          ['0.025', 1],
          ['0.05', 1],
          ['0.1', 1],
          ['0.25', 1],
          ['1', 1],
          ['+Inf', 1],
        ].map(([le, v]) => `${rl}_bucket{le="${String(le)}"} ${String(v)}`),
        `${rl}_sum 0.0003`,
        `${rl}_count 1`,
        '# HELP attestgate_admitted_backends Backends currently admitted (holding a valid attestation result).',
        '# TYPE attestgate_admitted_backends gauge',
        'attestgate_admitted_backends 1',
        '',
      ].join('\n'),
    );
  });

  it('registers into a given registry', () => {
    const r = new Registry();
    r.counter('other_total', 'x');
    createGatewayMetrics(r);
    expect(r.expose().startsWith('# HELP other_total x\n')).toBe(true);
    expect(() => createGatewayMetrics(r)).toThrow(/already registered/);
  });
});
