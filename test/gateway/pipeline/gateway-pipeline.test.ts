import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../../src/app/runtime.js';
import { serviceHeaders, startTestAimesh, userHeaders } from '../../support/aimesh.js';
import { type MisbehavingUpstream, startUpstream } from '../proxy/misbehaving-upstream.js';

const ADMIN = 'test-admin-token-0123456789';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the gateway pipeline against misbehaving loopback upstreams', () => {
  let aimesh: RunningAimesh;
  const up: Record<string, MisbehavingUpstream> = {};
  const names = [
    'plain',
    'sse',
    'breaker',
    'retry',
    'hang',
    'other',
    'good',
    'bad',
    'expire',
    'cheap',
    'pricey',
    'slow',
  ];

  const call = (path: string, init: RequestInit & { headers?: Record<string, string> } = {}) =>
    fetch(`${aimesh.url}${path}`, init);
  const register = async (
    service: string,
    url: string,
    ttlMs = 10_000,
    metadata: Record<string, unknown> = {},
  ) => {
    const response = await call('/api/v1/discovery/instances', {
      method: 'POST',
      headers: { ...serviceHeaders(), 'content-type': 'application/json' },
      body: JSON.stringify({ service, url, ttlMs, metadata }),
    });
    expect(response.status).toBe(201);
    return (await response.json()).instance as { id: string };
  };

  beforeAll(async () => {
    for (const name of names) up[name] = await startUpstream(name);
    const lenient = { failureRateThreshold: 1, openMs: 1_000, slidingWindowSize: 100, minimumCalls: 100 };
    aimesh = await startTestAimesh({
      targets: ['gateway'],
      config: {
        discovery: { sweepIntervalMs: 50, refreshIntervalMs: 60_000 },
        gateway: {
          auth: { required: false, adminToken: ADMIN },
          rateLimit: { rules: [{ route: '/limited/**', requestsPerSecond: 1, burst: 2 }] },
          models: {
            catalogue: [
              {
                id: 'cheap',
                version: '3',
                type: 'sentiment',
                upstream: up.cheap.url,
                costPerCall: 1,
                accuracy: 0.9,
                latencyMs: 10,
              },
              {
                id: 'pricey',
                version: '7',
                type: 'sentiment',
                upstream: up.pricey.url,
                costPerCall: 5,
                accuracy: 0.97,
                latencyMs: 10,
              },
            ],
          },
          versions: {
            canary: [
              { version: '1', weight: 0 },
              { version: '2', weight: 1 },
            ],
          },
          resilience: {
            policies: {
              default: { failureRateThreshold: 0.5, openMs: 30_000, slidingWindowSize: 10, minimumCalls: 5 },
              fast: {
                failureRateThreshold: 0.5,
                openMs: 400,
                slidingWindowSize: 4,
                minimumCalls: 2,
                halfOpenCalls: 1,
              },
              lenient,
            },
            retry: { baseDelayMs: 60, maxDelayMs: 1_000 },
            timeouts: { connectMs: 500, readMs: 1_500 },
            bulkhead: { maxConcurrent: 4, lowPriorityShare: 0.5 },
          },
          routes: [
            { path: '/plain/**', upstreams: [up.plain.url], stripPrefix: '/plain', policy: 'lenient' },
            { path: '/limited/**', upstreams: [up.plain.url], policy: 'lenient' },
            { path: '/sse/**', upstreams: [up.sse.url] },
            { path: '/breaker/**', upstreams: [up.breaker.url], policy: 'fast' },
            { path: '/retry/**', upstreams: [up.retry.url], policy: 'lenient' },
            { path: '/hang/**', upstreams: [up.hang.url], policy: 'lenient' },
            { path: '/slow/**', upstreams: [up.slow.url], policy: 'lenient' },
            { path: '/svc/**', service: 'echo-svc', policy: 'fast' },
            { path: '/expire/**', service: 'short-lived', policy: 'lenient' },
            { path: '/ai/**', service: 'model-inference', policy: 'fast', modelAware: true },
            {
              path: '/content/**',
              upstreams: [up.plain.url],
              policy: 'lenient',
              match: [
                { header: 'x-tenant', equals: 'beta', upstreams: [up.other.url] },
                { field: 'input.lang', pattern: '^de', upstreams: [up.other.url] },
              ],
            },
          ],
        },
      },
    });
  });
  afterAll(async () => {
    await aimesh?.stop();
    for (const u of Object.values(up)) await u.close();
  });

  it('forwards to a static upstream with the request id, a traceparent and Server-Timing', async () => {
    const response = await call('/plain/hello?x=1', { headers: { 'x-request-id': 'req-1' } });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ upstream: 'plain', path: '/hello?x=1' });
    expect(response.headers.get('x-request-id')).toBe('req-1');
    expect(response.headers.get('server-timing')).toMatch(/^gateway;dur=[\d.]+, upstream;dur=[\d.]+$/);
    const seen = up.plain.seen.at(-1)!;
    expect(seen.headers['x-request-id']).toBe('req-1');
    expect(seen.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it('forwards a body as it came, in one piece or chunked, and refuses one over the limit with 413', async () => {
    const before = up.plain.seen.length;
    const posted = await call('/plain/echo', { method: 'POST', body: 'x'.repeat(100_000) });
    expect(posted.status).toBe(200);
    expect(up.plain.seen.at(-1)!.body).toHaveLength(100_000);
    const chunked = await call('/plain/echo', {
      method: 'POST',
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('a'.repeat(1000)));
          controller.enqueue(new TextEncoder().encode('b'.repeat(1000)));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit & { headers?: Record<string, string> });
    expect(chunked.status).toBe(200);
    expect(up.plain.seen.at(-1)!.body).toBe('a'.repeat(1000) + 'b'.repeat(1000));
    const seenBefore = up.plain.seen.length;
    expect(seenBefore).toBe(before + 2);
    const tooLarge = await call('/plain/echo', { method: 'POST', body: 'x'.repeat(4 * 1024 * 1024 + 1) });
    expect(tooLarge.status).toBe(413);
    expect((await tooLarge.json()).error.code).toBe('payload_too_large');
    expect(up.plain.seen.length).toBe(seenBefore);
  });

  it('answers a method it does not route with a JSON 404, and keeps serving', async () => {
    const response = await call('/plain/x', { method: 'PROPFIND' });
    expect(response.status).toBe(404);
    expect((await response.json()).error.code).toBe('not_found');
    expect((await call('/plain/hello')).status).toBe(200);
  });

  it('continues the caller’s trace', async () => {
    const trace = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await (await call('/plain/t', { headers: { traceparent: trace } })).text();
    expect(up.plain.seen.at(-1)!.headers.traceparent).toMatch(
      /^00-0af7651916cd43dd8448eb211c80319c-(?!b7ad6b7169203331)[0-9a-f]{16}-01$/,
    );
  });

  it('streams SSE through without buffering', async () => {
    up.sse.behave({ kind: 'sse', events: ['one', 'two', 'three'], gapMs: 150 });
    const started = Date.now();
    const response = await call('/sse/stream');
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const reader = response.body!.getReader();
    const first = await reader.read();
    const firstAt = Date.now() - started;
    expect(new TextDecoder().decode(first.value)).toContain('data: one');
    let rest = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    expect(rest).toContain('data: three');
    expect(firstAt).toBeLessThan(Date.now() - started - 200);
  });

  it('opens the breaker at the threshold, then skips the target at once, and half-opens after the wait', async () => {
    up.breaker.behave({ kind: 'status', status: 500 });
    expect((await call('/breaker/x', { method: 'POST', body: 'a' })).status).toBe(500);
    expect((await call('/breaker/x', { method: 'POST', body: 'a' })).status).toBe(500);
    const before = up.breaker.seen.length;
    const refused = await call('/breaker/x', { method: 'POST', body: 'a' });
    expect(refused.status).toBe(503);
    expect((await refused.json()).error.code).toBe('circuit_open');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(up.breaker.seen.length).toBe(before);

    const admin = await call('/api/v1/admin/breakers', { headers: { authorization: `Bearer ${ADMIN}` } });
    const { breakers } = await admin.json();
    expect(breakers.find((b: { name: string }) => b.name === `endpoint:${up.breaker.url}`)?.state).toBe(
      'open',
    );
    const metrics = await (await call('/metrics')).text();
    expect(metrics).toMatch(
      /aimesh_gateway_breaker_state\{breaker="endpoint:http:\/\/127\.0\.0\.1:\d+",policy="fast"\} 2/,
    );

    up.breaker.behave({ kind: 'ok' });
    await sleep(450);
    const trial = await call('/breaker/x', { method: 'POST', body: 'a' });
    expect(trial.status).toBe(200);
    expect(up.breaker.seen.length).toBe(before + 1);
  });

  it('retries a 503 on a GET with growing backoff and stops after 3 attempts', async () => {
    up.retry.behave({ kind: 'status', status: 503 });
    const before = up.retry.seen.length;
    const response = await call('/retry/r');
    expect(response.status).toBe(503);
    const attempts = up.retry.seen.slice(before);
    expect(attempts).toHaveLength(3);
    const gaps = [attempts[1].at - attempts[0].at, attempts[2].at - attempts[1].at];
    expect(gaps[0]).toBeGreaterThanOrEqual(25);
    expect(gaps[1]).toBeGreaterThanOrEqual(55);
  });

  it('retries a 503 whose body is still arriving without crashing, and stops after 3 attempts', async () => {
    up.retry.behave({ kind: 'status-open-body', status: 503 });
    const before = up.retry.seen.length;
    const controller = new AbortController();
    const response = await call('/retry/r', { signal: controller.signal });
    expect(response.status).toBe(503);
    controller.abort();
    expect(up.retry.seen.length - before).toBe(3);
    // Still serving: a retried body that was dropped mid-stream did not take the process down.
    up.retry.behave({ kind: 'ok' });
    expect((await call('/retry/r')).status).toBe(200);
  });

  it('does not retry a POST that reached the upstream', async () => {
    up.retry.behave({ kind: 'status', status: 503 });
    const before = up.retry.seen.length;
    expect((await call('/retry/r', { method: 'POST', body: 'x' })).status).toBe(503);
    expect(up.retry.seen.length - before).toBe(1);
  });

  it('does not wait for a Retry-After beyond the longest backoff', async () => {
    up.retry.behave({ kind: 'status', status: 503, retryAfter: '120' });
    const before = up.retry.seen.length;
    const response = await call('/retry/r');
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('120');
    expect(up.retry.seen.length - before).toBe(1);
  });

  it('fires the read timeout on an upstream that hangs (504)', async () => {
    up.hang.behave({ kind: 'hang' });
    const started = Date.now();
    const response = await call('/hang/h', { method: 'POST', body: 'x' });
    expect(response.status).toBe(504);
    expect((await response.json()).error.code).toBe('upstream_timeout');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('sheds low-priority calls first when an upstream is saturated (503 + Retry-After)', async () => {
    up.slow.behave({ kind: 'slow', delayMs: 1_000 });
    const held = [call('/slow/a'), call('/slow/b')];
    for (let i = 0; i < 50 && up.slow.seen.length < 2; i++) await sleep(20);
    const low = await call('/slow/c', { headers: { 'x-priority': 'low' } });
    expect(low.status).toBe(503);
    expect((await low.json()).error.code).toBe('upstream_saturated');
    expect(low.headers.get('retry-after')).toBe('1');
    const normal = await call('/slow/d');
    expect(normal.status).toBe(200);
    for (const r of await Promise.all(held)) expect(r.status).toBe(200);
  });

  it('balances across discovered instances and avoids a failing one', async () => {
    up.bad.behave({ kind: 'reset' });
    await register('echo-svc', up.good.url);
    await register('echo-svc', up.bad.url);
    await sleep(50);
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await call('/svc/x')).status);
    expect(statuses.every((s) => s === 200)).toBe(true);
    // Two failures open its breaker; a busy machine may let a half-open trial or two through.
    expect(up.bad.seen.length).toBeLessThanOrEqual(5);
    expect(up.good.seen.length).toBeGreaterThanOrEqual(20);
  });

  it('stops sending to an instance whose TTL expired', async () => {
    await register('short-lived', up.expire.url, 1_000);
    await sleep(30);
    expect((await call('/expire/a')).status).toBe(200);
    const seen = up.expire.seen.length;
    await sleep(1_200);
    const after = await call('/expire/a');
    expect(after.status).toBe(503);
    expect((await after.json()).error.code).toBe('no_instances');
    expect(up.expire.seen.length).toBe(seen);
  });

  it('routes on a header or a JSON body field', async () => {
    expect((await (await call('/content/a')).json()).upstream).toBe('plain');
    expect((await (await call('/content/a', { headers: { 'x-tenant': 'beta' } })).json()).upstream).toBe(
      'other',
    );
    const byField = await call('/content/a', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: { lang: 'de-AT' } }),
    });
    expect((await byField.json()).upstream).toBe('other');
    expect(up.other.seen.at(-1)!.body).toBe('{"input":{"lang":"de-AT"}}');
  });

  it('chooses the cheapest qualifying model and says which, up and back', async () => {
    const response = await call('/ai/predict', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-model-type': 'sentiment',
        'x-request-id': 'choice-1',
      },
      body: '{"text":"good"}',
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-model-id')).toBe('cheap');
    expect(response.headers.get('x-model-version')).toBe('3');
    expect(up.cheap.seen.at(-1)!.headers['x-model-id']).toBe('cheap');
    await response.text();
    await aimesh.events.flush();
    const [event] = await aimesh.events.query({ correlationId: 'choice-1' });
    expect(event.data).toMatchObject({ modelId: 'cheap', modelVersion: '3', cost: 1, status: 200 });
    const strict = await call('/ai/predict?minAccuracy=0.95', {
      method: 'POST',
      body: '{"modelType":"sentiment"}',
      headers: { 'content-type': 'application/json' },
    });
    expect(strict.headers.get('x-model-id')).toBe('pricey');
    expect(up.pricey.seen.at(-1)!.headers['x-model-version']).toBe('7');
    const none = await call('/ai/predict?minAccuracy=0.99', {
      method: 'POST',
      headers: { 'x-model-type': 'sentiment' },
    });
    expect(none.status).toBe(422);
    expect((await none.json()).error.code).toBe('no_suitable_model');
  });

  it('falls back to the next qualifying model when the chosen one’s breaker is open, and says so', async () => {
    up.cheap.behave({ kind: 'status', status: 500 });
    const headers = { 'x-model-type': 'sentiment' };
    await (await call('/ai/predict', { method: 'POST', headers })).text();
    await (await call('/ai/predict', { method: 'POST', headers })).text();
    const before = up.cheap.seen.length;
    const response = await call('/ai/predict', { method: 'POST', headers });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-model-id')).toBe('pricey');
    expect(response.headers.get('x-model-fallback')).toBe('cheap');
    expect(up.cheap.seen.length).toBe(before);
    up.cheap.behave({ kind: 'ok' });
  });

  it('uses the canary split when the caller names no version, and the caller’s version when it does', async () => {
    await register('model-inference', up.plain.url);
    await sleep(30);
    const split = await call('/ai/x', { headers: { 'x-model-id': 'canary' } });
    expect(split.headers.get('x-model-version')).toBe('2');
    const pinned = await call('/ai/x', { headers: { 'x-model-id': 'canary', 'x-model-version': '1' } });
    expect(pinned.headers.get('x-model-version')).toBe('1');
    expect(up.plain.seen.at(-1)!.headers['x-model-version']).toBe('1');
  });

  it('authenticates a key when one is sent, rate-limits it, and records an event per call', async () => {
    const bad = await call('/plain/k', { headers: { 'x-api-key': 'not-a-real-key' } });
    expect(bad.status).toBe(401);
    const created = await call('/api/v1/admin/keys', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ owner: 'alice' }),
    });
    expect(created.status).toBe(201);
    const { key, id } = await created.json();
    const ok = await call('/plain/k', { headers: { 'x-api-key': key, 'x-request-id': 'evt-1' } });
    expect(ok.status).toBe(200);
    expect(up.plain.seen.at(-1)!.headers['x-api-key']).toBeUndefined();
    expect(up.plain.seen.at(-1)!.headers['x-aimesh-user']).toBe('alice');
    const statuses = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await call('/limited/a', { headers: { 'x-api-key': key } })).status);
    expect(statuses).toEqual([200, 200, 429]);
    await aimesh.events.flush();
    const [event] = await aimesh.events.query({ correlationId: 'evt-1' });
    expect(event.type).toBe('ai.inference.completed');
    expect(event.data).toMatchObject({
      front: 'native',
      userId: 'alice',
      keyId: id,
      status: 200,
      route: '/plain/**',
      upstreamMs: expect.any(Number),
      gatewayMs: expect.any(Number),
    });
  });

  it('lists discovered instances to an operator or admin only', async () => {
    expect((await call('/api/v1/admin/discovery/instances')).status).toBe(401);
    const caller = await call('/api/v1/admin/discovery/instances', {
      headers: await userHeaders(aimesh.url),
    });
    expect(caller.status).toBe(403);
    const response = await call('/api/v1/admin/discovery/instances?service=echo-svc', {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(response.status).toBe(200);
    expect((await response.json()).instances.map((i: { url: string }) => i.url).sort()).toEqual(
      [up.bad.url, up.good.url].sort(),
    );
  });
});
