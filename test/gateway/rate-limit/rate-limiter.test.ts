import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryRateLimitStore } from '../../../src/adapters/memory/memory-rate-limit-store.js';
import { compileRoutePattern, rateLimitSubject, TokenQuota } from '../../../src/gateway/rate-limit/index.js';
import { ManualClock } from '../../../src/kernel/clock.js';
import type { RateLimitStore } from '../../../src/ports/rate-limit-store.js';
import { startRateLimitedServer } from './rate-limit-server.js';

const get = (url: string, caller = 'k1') => fetch(url, { headers: { 'x-caller': caller } });

describe('Rate limiting over HTTP (in-process store)', () => {
  const clock = new ManualClock(0);
  const metrics = new Registry();
  let server: Awaited<ReturnType<typeof startRateLimitedServer>>;

  beforeAll(async () => {
    server = await startRateLimitedServer(
      createMemoryRateLimitStore({ clock, maxKeys: 100 }),
      {
        rules: [
          { route: '/api/v1/ai/**', requestsPerSecond: 100, burst: 3 },
          { route: '/api/v1/training/*', requestsPerSecond: 1, burst: 2, per: 'route' },
        ],
      },
      metrics,
    );
  });
  afterAll(() => server?.stop());

  it('answers 429 rate_limited with Retry-After and RateLimit-* headers once the burst is spent', async () => {
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 4; i++) {
      last = await get(`${server.url}/api/v1/ai/inference?x=1`, 'burst-caller');
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(last!.headers.get('retry-after')).toBe('1');
    expect(last!.headers.get('ratelimit-limit')).toBe('3');
    expect(last!.headers.get('ratelimit-remaining')).toBe('0');
    expect(Number(last!.headers.get('ratelimit-reset'))).toBeGreaterThanOrEqual(1);
    expect((await last!.json()).error.code).toBe('rate_limited');
    expect(await metrics.getSingleMetricAsString('aimesh_gateway_rate_limited_total')).toContain(
      'route="/api/v1/ai/**"} 1',
    );
  });

  it('refills the bucket at the configured rate', async () => {
    for (let i = 0; i < 3; i++) await get(`${server.url}/api/v1/ai/x`, 'refill-caller');
    expect((await get(`${server.url}/api/v1/ai/x`, 'refill-caller')).status).toBe(429);
    await clock.advance(10); // 100/s: one token per 10 ms
    expect((await get(`${server.url}/api/v1/ai/x`, 'refill-caller')).status).toBe(200);
  });

  it('keeps one bucket per caller, and a route-wide bucket for per: route', async () => {
    for (let i = 0; i < 3; i++) await get(`${server.url}/api/v1/ai/x`, 'caller-a');
    expect((await get(`${server.url}/api/v1/ai/x`, 'caller-a')).status).toBe(429);
    expect((await get(`${server.url}/api/v1/ai/x`, 'caller-b')).status).toBe(200);

    expect((await get(`${server.url}/api/v1/training/jobs`, 'caller-c')).status).toBe(200);
    expect((await get(`${server.url}/api/v1/training/jobs`, 'caller-d')).status).toBe(200);
    expect((await get(`${server.url}/api/v1/training/jobs`, 'caller-e')).status).toBe(429);
  });

  it('leaves routes no rule covers alone, without RateLimit headers', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await get(`${server.url}/api/v1/registry/models`, 'caller-f');
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-limit')).toBeNull();
    }
  });
});

describe('Rate limiting whether the store answers at once or later', () => {
  it('gives the same answers and headers through a synchronous and an asynchronous store', async () => {
    const rules = {
      rules: [
        { route: '/api/v1/ai/**', requestsPerSecond: 100, burst: 4 },
        { route: '/api/v1/ai/x', requestsPerSecond: 1, burst: 2, per: 'route' as const },
      ],
    };
    const run = async (wrap: (store: RateLimitStore) => RateLimitStore) => {
      const server = await startRateLimitedServer(
        wrap(createMemoryRateLimitStore({ clock: new ManualClock(0), maxKeys: 100 })),
        rules,
        new Registry(),
      );
      try {
        const seen: string[] = [];
        for (const path of ['/api/v1/ai/x', '/api/v1/ai/y', '/api/v1/ai/x', '/api/v1/ai/x', '/api/v1/ai/y']) {
          const res = await get(`${server.url}${path}`, 'same-caller');
          seen.push(`${res.status} ${res.headers.get('ratelimit-remaining')}`);
        }
        return seen;
      } finally {
        await server.stop();
      }
    };
    const atOnce = await run((store) => store);
    const later = await run((store) => ({
      take: async (key, rule, cost) => store.take(key, rule, cost),
      close: () => store.close(),
    }));
    // The refused fourth call was still debited by the first rule (checked before the refusing one).
    expect(atOnce).toEqual(['200 1', '200 2', '200 0', '429 0', '429 0']);
    expect(later).toEqual(atOnce);
  });
});

describe('Rate limiting when the store fails', () => {
  it('lets calls through and counts the failure', async () => {
    const broken: RateLimitStore = {
      take: () => Promise.reject(new Error('connection lost')),
      close: async () => {},
    };
    const metrics = new Registry();
    const server = await startRateLimitedServer(broken, {}, metrics);
    try {
      expect((await get(`${server.url}/api/v1/ai/x`)).status).toBe(200);
      expect(await metrics.getSingleMetricAsString('aimesh_gateway_rate_limit_store_errors_total')).toContain(
        ' 1',
      );
    } finally {
      await server.stop();
    }
  });
});

describe('Route patterns', () => {
  it.each([
    ['/api/v1/ai/**', '/api/v1/ai', true],
    ['/api/v1/ai/**', '/api/v1/ai/inference', true],
    ['/api/v1/ai/**', '/api/v1/ai/models/x/infer?y=1', true],
    ['/api/v1/ai/**', '/api/v1/aix', false],
    ['/api/v1/*/infer', '/api/v1/m1/infer', true],
    ['/api/v1/*/infer', '/api/v1/m1/m2/infer', false],
    ['/v1/chat.completions', '/v1/chatXcompletions', false],
  ])('%s matches %s: %s', (pattern, path, expected) => {
    expect(compileRoutePattern(pattern)(path)).toBe(expected);
  });
});

describe('Daily token quota', () => {
  it('admits calls while tokens remain, charges usage afterwards, and refuses with 429 quota_exceeded', async () => {
    const clock = new ManualClock(0);
    const quota = new TokenQuota(createMemoryRateLimitStore({ clock, maxKeys: 10 }), 1_000);
    await quota.assertAvailable('key:1');
    await quota.charge('key:1', 900);
    await quota.assertAvailable('key:1');
    await quota.charge('key:1', 500); // overdraws: the bucket is emptied
    await expect(quota.assertAvailable('key:1')).rejects.toMatchObject({
      status: 429,
      code: 'quota_exceeded',
    });
    await quota.assertAvailable('key:2');
    await clock.advance(86_400); // a thousandth of a day brings one token back
    await expect(quota.assertAvailable('key:1')).resolves.toBeUndefined();
  });
});

describe('Rate-limit subjects', () => {
  it('are the key, else the principal, else the client address', () => {
    expect(rateLimitSubject({ id: 'u', keyId: 'k', roles: ['caller'], via: 'api-key' }, '10.0.0.1')).toBe(
      'key:k',
    );
    expect(rateLimitSubject({ id: 'u', roles: ['caller'], via: 'jwt' }, '10.0.0.1')).toBe('user:u');
    expect(rateLimitSubject(undefined, '10.0.0.1')).toBe('ip:10.0.0.1');
    expect(rateLimitSubject(undefined)).toBe('anonymous');
  });
});
