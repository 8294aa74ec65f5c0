/**
 * The gateway's two static pages and what they need (docs: README "Verify in the browser"):
 *   GET /verify                       web/verify.html: verify an answer in the browser
 *   GET /log                          web/log.html: the transparency log explorer
 *   GET /web/style.css                the pages' style sheet
 *   GET /web/{verify-app,log-app}.js  the pages' scripts (web/dist/, built by src/web/build.ts)
 *   GET /v1/trust/simulated-roots     the simulated TEE's root certificates (PEM), ONLY when the
 *                                     gateway itself trusts them (trust.simulated_roots); 404
 *                                     otherwise, so a production gateway never offers them
 *
 * The pages are static files; everything they show they fetch from the gateway's API and check in
 * the browser. They run no inline script or style, so they are served with a strict Content
 * Security Policy (same-origin scripts, styles and fetches only; no framing).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import { anchorFromPem } from '../../attestation/roots/index.ts';
import { SIMULATED_ROOT_FILES } from '../../enclave/protocol.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../obs/log.ts';
import { WEB_DIR, WEB_DIST, WEB_ENTRIES, ensureWebBundle } from './build.ts';

export interface WebRouterOptions {
  /** The gateway's `trust.simulated_roots`: the only case in which the simulated roots are served. */
  readonly simulatedRoots: boolean;
  /** Where the simulated TEE keeps its PKI (`<data_dir>/sim-pki/...`). */
  readonly dataDir: string;
  /** Where the bundle is (default web/dist); built there when missing or stale. */
  readonly distDir?: string;
  readonly log?: Logger;
  /** Build the bundle (default `ensureWebBundle`); started when the router is made. */
  readonly build?: () => Promise<unknown>;
}

export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const PAGES: Readonly<Record<string, string>> = { '/verify': 'verify.html', '/log': 'log.html' };
const SCRIPTS = new Set<string>(WEB_ENTRIES.map((e) => `${e}.js`));

function secure(res: Response): void {
  res.set({
    'content-security-policy': PAGE_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    // Rebuilt bundles and edited pages must be picked up at once; they are small.
    'cache-control': 'no-cache',
  });
}

/** One simulated root as served: the file it was read from, its digest and its PEM. */
export interface SimulatedRoot {
  readonly file: string;
  readonly sha256: string;
  readonly subject: string;
  readonly pem: string;
}

/** The simulated roots present in the data directory (checked to carry the simulated mark). */
export async function readSimulatedRoots(dataDir: string): Promise<SimulatedRoot[]> {
  const out: SimulatedRoot[] = [];
  for (const file of SIMULATED_ROOT_FILES) {
    let pem: string;
    try {
      pem = await readFile(join(dataDir, file), 'utf8');
    } catch (e: unknown) {
      if ((e as { code?: unknown }).code === 'ENOENT') continue; // the enclave has not made this PKI (yet)
      throw e;
    }
    const a = await anchorFromPem(pem, file, false);
    // Never hand out a root that is not marked simulated as if it were one.
    if (!a.simulated) throw new Error(`${file} in the data directory is not a simulated root`);
    out.push({ file, sha256: a.sha256, subject: a.certificate.subject.text, pem });
  }
  return out;
}

export function webRouter(o: WebRouterOptions): express.Router {
  const r = express.Router();
  const dist = o.distDir ?? WEB_DIST;
  const build = o.build ?? (() => ensureWebBundle({ outDir: dist }));
  // Built once at start; a failure is logged and answered with a 500 on the script routes (the
  // API is unaffected), and retried at the next request for a script.
  let ready: Promise<unknown> | undefined;
  const bundle = (): Promise<unknown> => {
    ready ??= build().catch((e: unknown) => {
      ready = undefined;
      o.log?.error('web bundle build failed: /verify and /log will not work', { error: e instanceof Error ? e.message : String(e) });
      throw e;
    });
    return ready;
  };
  bundle().then(
    (b) => {
      const built = b as { built?: unknown; ms?: unknown } | undefined;
      if (built?.built === true) o.log?.info('web bundle built', { dir: dist, ms: built.ms });
    },
    () => undefined,
  );

  for (const [path, file] of Object.entries(PAGES)) {
    r.get(path, (req, res, next) => {
      // Pages use relative URLs (web/..., v1/...), so /verify/ would resolve them one level down.
      if (req.path.endsWith('/')) {
        res.redirect(301, `../${path.slice(1)}`);
        return;
      }
      secure(res);
      res.type('text/html; charset=utf-8').sendFile(join(WEB_DIR, file), (e?: Error) => {
        if (e !== undefined) next(e);
      });
    });
  }

  r.get('/web/style.css', (_req, res, next) => {
    secure(res);
    res.type('text/css; charset=utf-8').sendFile(join(WEB_DIR, 'style.css'), (e?: Error) => {
      if (e !== undefined) next(e);
    });
  });

  r.get('/web/:file', (req: Request, res: Response, next: NextFunction) => {
    const file = String(req.params['file'] ?? '');
    if (!SCRIPTS.has(file)) {
      next(new AppError('ERR_NOT_FOUND', `no page asset ${file}`));
      return;
    }
    bundle()
      .then(() => {
        secure(res);
        res.type('text/javascript; charset=utf-8').sendFile(join(dist, file), (e?: Error) => {
          if (e !== undefined) next(e);
        });
      })
      .catch((e: unknown) => {
        next(new AppError('ERR_INTERNAL', 'the web bundle could not be built', { cause: e }));
      });
  });

  r.get('/v1/trust/simulated-roots', (_req, res, next) => {
    if (!o.simulatedRoots) {
      next(new AppError('ERR_NOT_FOUND', 'this gateway does not trust simulated TEE roots'));
      return;
    }
    readSimulatedRoots(o.dataDir)
      .then((roots) => {
        res.set('cache-control', 'no-store').json({
          warning: 'SIMULATED TEE roots: this gateway trusts them because trust.simulated_roots is on (demo, CI). Evidence that chains to them proves nothing about hardware.',
          roots,
        });
      })
      .catch((e: unknown) => {
        next(new AppError('ERR_INTERNAL', 'the simulated roots could not be read', { cause: e }));
      });
  });
  return r;
}
