import { describe, expect, it } from 'vitest';
import { fastInferTarget } from '../../../../src/gateway/fast-infer.ts';

const LIMIT = 1024;
const ok = { 'content-type': 'application/json', 'content-length': '50' };

describe('which inference requests the direct handler claims (the rest go to express)', () => {
  it('claims the ordinary form: POST, canonical path, Content-Length within the limit', () => {
    expect(fastInferTarget('POST', '/v2/models/iris/infer', ok, LIMIT)).toEqual({ name: 'iris', version: undefined, length: 50 });
    expect(fastInferTarget('POST', '/v2/models/iris-2.a_b/versions/1.0/infer', ok, LIMIT)).toEqual({ name: 'iris-2.a_b', version: '1.0', length: 50 });
    expect(fastInferTarget('POST', '/v2/models/iris/infer', { 'content-length': '0' }, LIMIT)).toEqual({ name: 'iris', version: undefined, length: 0 });
    expect(fastInferTarget('POST', '/v2/models/iris/infer', { ...ok, 'content-encoding': 'IDENTITY' }, LIMIT)).toMatchObject({ name: 'iris' });
    expect(fastInferTarget('POST', '/v2/models/iris/infer', { 'content-length': String(LIMIT) }, LIMIT)).toMatchObject({ length: LIMIT });
  });

  it('leaves every other form to express, whose answer (413, 415, 400, a decoded name) it is', () => {
    const declined: [string | undefined, string | undefined, Record<string, string | undefined>][] = [
      ['GET', '/v2/models/iris/infer', ok],
      ['PUT', '/v2/models/iris/infer', ok],
      [undefined, '/v2/models/iris/infer', ok],
      ['POST', undefined, ok],
      ['POST', '/v2/models/iris/infer/', ok],
      ['POST', '/V2/models/iris/infer', ok],
      ['POST', '/v2/models/Iris/infer', ok],
      ['POST', '/v2/models/iris/infer?x=1', ok],
      ['POST', '/v2/models/ir%69s/infer', ok],
      ['POST', '/v2/models/.iris/infer', ok],
      ['POST', `/v2/models/${'a'.repeat(65)}/infer`, ok],
      ['POST', '/v2/models/iris/versions//infer', ok],
      ['POST', '//v2/models/iris/infer', ok],
      ['POST', '/v2/models/iris/infer', { ...ok, 'content-encoding': 'gzip' }],
      ['POST', '/v2/models/iris/infer', { ...ok, 'transfer-encoding': 'chunked' }],
      ['POST', '/v2/models/iris/infer', { ...ok, expect: '100-continue' }],
      ['POST', '/v2/models/iris/infer', { 'content-type': 'application/json' }],
      ['POST', '/v2/models/iris/infer', { 'content-length': String(LIMIT + 1) }],
      ['POST', '/v2/models/iris/infer', { 'content-length': '-1' }],
      ['POST', '/v2/models/iris/infer', { 'content-length': '1e3' }],
      ['POST', '/v2/models/iris/infer', { 'content-length': '9'.repeat(16) }],
    ];
    for (const [method, url, headers] of declined) expect(fastInferTarget(method, url, headers, LIMIT), `${String(method)} ${String(url)} ${JSON.stringify(headers)}`).toBeUndefined();
  });
});
