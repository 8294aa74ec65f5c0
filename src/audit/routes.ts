/**
 * The log's read API for auditors and clients (docs/log.md):
 *   GET /v1/log/checkpoint                         the latest checkpoint (C2SP signed note, text)
 *   GET /v1/log/key                                the verifier key to pin (signed-note format)
 *   GET /v1/log/entries?start=&end=                entries [start, end) with their exact leaf bytes
 *   GET /v1/log/proof/inclusion?index=&size=       RFC 9162 inclusion proof
 *   GET /v1/log/proof/consistency?first=&second=   RFC 9162 consistency proof
 *   GET /v1/log/blobs/{sha256}                     evidence and collateral by content digest
 */
import express, { type Request, type Response } from 'express';
import { AppError } from '../errors.ts';
import { LogError } from './errors.ts';
import type { GatewayLog } from './gateway-log.ts';
import { MAX_ENTRIES_PER_READ } from './log.ts';

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

function intParam(req: Request, name: string, min: number): number {
  const v = req.query[name];
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v)) throw new AppError('ERR_BAD_REQUEST', `query parameter ${name} must be a non-negative integer`);
  const n = Number(v);
  if (n < min) throw new AppError('ERR_BAD_REQUEST', `query parameter ${name} must be at least ${min}`);
  return n;
}

/** A log failure as the gateway answers it: a caller's range error is a 400, anything else the storage's (503, ERR_STORE_IO). */
export function asApp(e: unknown): unknown {
  if (LogError.is(e)) {
    // A range error is the caller's (an index past the tree); anything else is the log's storage.
    if (e.code === 'ERR_LOG_RANGE') return new AppError('ERR_BAD_REQUEST', e.message, { cause: e });
    return new AppError('ERR_STORE_IO', e.message, { cause: e, expose: true });
  }
  return e;
}

/** Inclusion proof bundle of one entry against the latest checkpoint (signing one on demand). */
export function proofBundle(log: GatewayLog, index: number): { checkpoint: string; tree_size: number; index: number; leaf: string; proof: string[] } {
  const note = log.checkpointNow();
  const size = log.tlog.latestCheckpoint()?.size ?? 0;
  const [entry] = log.tlog.entries(index, index + 1);
  if (entry === undefined || index >= size) throw new AppError('ERR_NOT_FOUND', `log entry ${index} is not in the log yet`);
  return { checkpoint: note, tree_size: size, index, leaf: b64(entry.data), proof: log.tlog.inclusionProof(index, size).map(b64) };
}

export function logRouter(log: GatewayLog): express.Router {
  const r = express.Router();
  const handle =
    (h: (req: Request, res: Response) => void) =>
    (req: Request, res: Response, next: (e?: unknown) => void): void => {
      try {
        h(req, res);
      } catch (e: unknown) {
        next(asApp(e));
      }
    };
  r.get(
    '/v1/log/checkpoint',
    handle((_req, res) => {
      res.type('text/plain; charset=utf-8').set('cache-control', 'no-store').send(log.checkpointNow());
    }),
  );
  r.get(
    '/v1/log/key',
    handle((_req, res) => {
      res.type('text/plain; charset=utf-8').send(`${log.tlog.verifierKey}\n`);
    }),
  );
  r.get(
    '/v1/log/entries',
    handle((req, res) => {
      const start = intParam(req, 'start', 0);
      const end = intParam(req, 'end', start);
      if (end - start > MAX_ENTRIES_PER_READ) throw new AppError('ERR_BAD_REQUEST', `at most ${MAX_ENTRIES_PER_READ} entries per request`);
      const size = log.tlog.size();
      const entries = log.tlog.entries(start, Math.min(end, size)).map((e) => ({ index: e.index, leaf: b64(e.data), timestamp: e.timestamp }));
      res.json({ tree_size: size, entries });
    }),
  );
  r.get(
    '/v1/log/proof/inclusion',
    handle((req, res) => {
      const index = intParam(req, 'index', 0);
      const size = intParam(req, 'size', index + 1);
      res.json({ index, tree_size: size, proof: log.tlog.inclusionProof(index, size).map(b64) });
    }),
  );
  r.get(
    '/v1/log/proof/consistency',
    handle((req, res) => {
      const first = intParam(req, 'first', 0);
      const second = intParam(req, 'second', first);
      res.json({ first, second, proof: log.tlog.consistencyProof(first, second).map(b64) });
    }),
  );
  r.get(
    '/v1/log/blobs/:sha256',
    handle((req, res) => {
      const h = String(req.params['sha256'] ?? '');
      if (!/^[0-9a-f]{64}$/.test(h)) throw new AppError('ERR_BAD_REQUEST', 'blob name must be a lowercase hex SHA-256');
      const b = log.tlog.getBlob(h);
      if (b === undefined) throw new AppError('ERR_NOT_FOUND', `no blob ${h}`);
      res.type('application/octet-stream').send(Buffer.from(b));
    }),
  );
  return r;
}
