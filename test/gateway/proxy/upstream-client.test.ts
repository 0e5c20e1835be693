import type { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  endToEndHeaders,
  parseRetryAfter,
  UpstreamClient,
  UpstreamError,
} from '../../../src/gateway/proxy/upstream-client.js';
import { type MisbehavingUpstream, startUpstream } from './misbehaving-upstream.js';

describe('UpstreamClient', () => {
  let upstream: MisbehavingUpstream;
  const client = new UpstreamClient({ connectTimeoutMs: 500, readTimeoutMs: 300 });
  const target = () => ({ id: 'u1', url: upstream.url });

  beforeAll(async () => {
    upstream = await startUpstream('u1');
  });
  afterEach(() => upstream.behave({ kind: 'ok' }));
  afterAll(async () => {
    await client.close();
    await upstream.close();
  });

  it('forwards method, path, body and end-to-end headers, dropping hop-by-hop ones', async () => {
    const response = await client.call(target(), {
      method: 'POST',
      path: '/v2/x?y=1',
      headers: {
        'x-model-id': 'm1',
        connection: 'keep-alive',
        host: 'gateway',
        'content-type': 'application/json',
      },
      body: Buffer.from('{"a":1}'),
    });
    expect(response.status).toBe(200);
    expect(JSON.parse(await text(response.body))).toEqual({ upstream: 'u1', path: '/v2/x?y=1' });
    const seen = upstream.seen.at(-1)!;
    expect(seen.method).toBe('POST');
    expect(seen.body).toBe('{"a":1}');
    expect(seen.headers['x-model-id']).toBe('m1');
    expect(seen.headers.host).not.toBe('gateway');
  });

  it('prefixes the path of a base URL that has one', async () => {
    const response = await client.call(
      { id: 'u1', url: `${upstream.url}/base/` },
      { method: 'GET', path: '/p', headers: {} },
    );
    await text(response.body);
    expect(upstream.seen.at(-1)!.url).toBe('/base/p');
  });

  it('returns a 503 as a response with its Retry-After, not as an error', async () => {
    upstream.behave({ kind: 'status', status: 503, retryAfter: '2' });
    const response = await client.call(target(), { method: 'GET', path: '/', headers: {} });
    await text(response.body);
    expect(response.status).toBe(503);
    expect(parseRetryAfter(response.headers['retry-after'], 0)).toBe(2000);
  });

  it('classifies a refused connection as a connect failure that never reached the upstream', async () => {
    const error = await client
      .call({ id: 'dead', url: 'http://127.0.0.1:1' }, { method: 'POST', path: '/', headers: {}, body: 'x' })
      .catch((e) => e);
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error.kind).toBe('connect');
    expect(error.sent).toBe(false);
  });

  it('classifies a reset as a reset', async () => {
    upstream.behave({ kind: 'reset' });
    const error = await client.call(target(), { method: 'GET', path: '/', headers: {} }).catch((e) => e);
    expect(error.kind).toBe('reset');
  });

  it('fires the read timeout on an upstream that hangs', async () => {
    upstream.behave({ kind: 'hang' });
    const started = Date.now();
    const error = await client
      .call(target(), { method: 'GET', path: '/', headers: {}, headersTimeoutMs: 150 })
      .catch((e) => e);
    expect(error.kind).toBe('timeout');
    expect(error.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('stops when the caller aborts', async () => {
    upstream.behave({ kind: 'hang' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const error = await client
      .call(target(), { method: 'GET', path: '/', headers: {}, signal: controller.signal })
      .catch((e) => e);
    expect(error.kind).toBe('aborted');
  });

  it('streams SSE chunks as they come instead of buffering the response', async () => {
    upstream.behave({ kind: 'sse', events: ['a', 'b', 'c'], gapMs: 60 });
    const response = await client.call(target(), { method: 'GET', path: '/stream', headers: {} });
    const arrivals: number[] = [];
    const started = Date.now();
    for await (const _chunk of response.body) arrivals.push(Date.now() - started);
    expect(arrivals.length).toBeGreaterThanOrEqual(3);
    expect(arrivals[0]).toBeLessThan(arrivals.at(-1)! - 60);
  });

  it('keeps only end-to-end headers', () => {
    expect(
      endToEndHeaders({ 'transfer-encoding': 'chunked', te: 'trailers', 'x-a': 'b', 'content-length': '3' }),
    ).toEqual({ 'x-a': 'b' });
  });
});

async function text(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks).toString();
}
