/**
 * What both HTTP front ends of the gateway (the express app and the direct inference handler,
 * fast-infer.ts) do with every request's outcome, kept in one place so that they cannot drift:
 * the latency metric and a warning for a 5xx when the answer is sent, and the mapping of an error
 * to its answer with the real message of a 5xx logged (the client sees only the registry's).
 */
import type { ServerResponse } from 'node:http';
import { toErrorResponse, type ErrorResponse } from '../errors.ts';
import type { Logger } from '../obs/log.ts';
import type { GatewayMetrics } from '../obs/metrics.ts';

/** Observe the request once its answer is sent; `route` is read then (express sets it while routing). */
export function measureRequest(res: ServerResponse, method: string, route: () => string, metrics: GatewayMetrics, log: Logger): void {
  const start = process.hrtime.bigint();
  res.once('finish', () => {
    const label = route();
    const s = Number(process.hrtime.bigint() - start) / 1e9;
    metrics.httpRequestDuration.observe({ route: label, method, status: String(res.statusCode) }, s);
    if (res.statusCode >= 500) log.warn('request failed', { route: label, method, status: res.statusCode, ms: Math.round(s * 1000) });
  });
}

/** The answer for `mapped` (the thrown `original`, or the typed error it was mapped to). */
export function errorAnswer(mapped: unknown, original: unknown, log: Logger): ErrorResponse {
  const answer = toErrorResponse(mapped);
  if (answer.status >= 500) log.error('request failed', { code: answer.body.error.code, error: original instanceof Error ? original.message : String(original) });
  return answer;
}
