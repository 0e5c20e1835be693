import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMemoryRateLimitStore } from '../../../src/adapters/memory/memory-rate-limit-store.js';
import {
  compileRoutePattern,
  RateLimitConfig,
  RateLimiter,
  rateLimitedError,
  rateLimitHeaders,
  TokenQuota,
} from '../../../src/gateway/rate-limit/index.js';
import { ManualClock } from '../../../src/kernel/clock.js';
import { readSection } from '../../../src/kernel/config.js';
import type { RateLimitStore } from '../../../src/ports/rate-limit-store.js';

const decision = (allowed: boolean, resetMs: number, retryAfterMs: number) => ({
  allowed,
  limit: 10,
  remaining: allowed ? 3 : 0,
  resetMs,
  retryAfterMs,
});
const limiter = (rules: unknown[], extra: Record<string, unknown> = {}, store?: RateLimitStore) =>
  new RateLimiter(
    readSection(RateLimitConfig, { rules, ...extra }),
    store ?? createMemoryRateLimitStore({ clock: new ManualClock(0), maxKeys: 100 }),
  );

describe('RateLimit headers and the 429 error', () => {
  it('give the reset in whole seconds, rounded up, and Retry-After only when refused', () => {
    expect(rateLimitHeaders(decision(true, 2_001, 0))).toEqual({
      'ratelimit-limit': '10',
      'ratelimit-remaining': '3',
      'ratelimit-reset': '3',
    });
    expect(rateLimitHeaders(decision(false, 5_000, 2_500))['retry-after']).toBe('3');
    expect(rateLimitHeaders(decision(false, 5_000, 10))['retry-after']).toBe('1');
  });

  it('say what was exceeded and when to retry', () => {
    const error = rateLimitedError(decision(false, 0, 4_200));
    expect(error).toMatchObject({ code: 'rate_limited', status: 429 });
    expect(error.message).toBe('rate limit of 10 exceeded; retry in 5 s');
    expect(rateLimitedError(decision(false, 0, 1), 'burst').message).toBe(
      'burst of 10 exceeded; retry in 1 s',
    );
  });
});

describe('RateLimiter', () => {
  it('applies when some rule covers the path, and never when disabled', async () => {
    const rules = [
      { route: '/a/**', requestsPerSecond: 1 },
      { route: '/b/**', requestsPerSecond: 1 },
    ];
    expect(limiter(rules).applies('/b/x')).toBe(true);
    expect(limiter(rules).applies('/c')).toBe(false);
    const off = limiter(rules, { enabled: false });
    expect(off.applies('/a/x')).toBe(false);
    expect(await off.check('k', '/a/x')).toBeUndefined();
  });

  it('keeps one bucket per caller and rule, and one per route with per: route', async () => {
    const rl = limiter([
      { route: '/a/**', requestsPerSecond: 1, burst: 1 },
      { route: '/b/**', requestsPerSecond: 1, burst: 1, per: 'route' },
    ]);
    expect((await rl.check('k1', '/a/x'))?.allowed).toBe(true);
    expect((await rl.check('k2', '/a/x'))?.allowed).toBe(true);
    expect((await rl.check('k1', '/a/y'))?.allowed).toBe(false);
    expect((await rl.check('k1', '/b/x'))?.allowed).toBe(true);
    expect((await rl.check('k2', '/b/x'))?.allowed).toBe(false);
  });

  it('keeps a separate route-wide bucket for each per: route rule', async () => {
    const rl = limiter([
      { route: '/a/**', requestsPerSecond: 1, burst: 1, per: 'route' },
      { route: '/b/**', requestsPerSecond: 1, burst: 1, per: 'route' },
    ]);
    expect((await rl.check('k1', '/a/x'))?.allowed).toBe(true);
    expect((await rl.check('k2', '/b/x'))?.allowed).toBe(true);
    expect((await rl.check('k3', '/a/y'))?.allowed).toBe(false);
  });

  it('counts each refusal under its rule in aimesh_gateway_rate_limited_total', async () => {
    const metrics = new Registry();
    const rl = new RateLimiter(
      readSection(RateLimitConfig, { rules: [{ route: '/a/**', requestsPerSecond: 1, burst: 1 }] }),
      createMemoryRateLimitStore({ clock: new ManualClock(0), maxKeys: 10 }),
      metrics,
    );
    await rl.check('k', '/a/x');
    await rl.check('k', '/a/x');
    await rl.check('k', '/a/x');
    expect(await metrics.getSingleMetricAsString('aimesh_gateway_rate_limited_total')).toContain(
      'aimesh_gateway_rate_limited_total{route="/a/**"} 2',
    );
  });

  it('makes the burst one second of requests when none is given, at least 1', async () => {
    const rl = limiter([
      { route: '/a', requestsPerSecond: 2.5 },
      { route: '/b', requestsPerSecond: 0.5 },
    ]);
    expect((await rl.check('k', '/a'))?.limit).toBe(3);
    expect((await rl.check('k', '/b'))?.limit).toBe(1);
  });

  it('answers with the tightest of the allowing rules, the first on a tie', async () => {
    const rl = limiter([
      { route: '/a/**', requestsPerSecond: 1, burst: 5 },
      { route: '/a/x', requestsPerSecond: 1, burst: 3 },
      { route: '/**', requestsPerSecond: 1, burst: 6 },
    ]);
    expect(await rl.check('k', '/a/x')).toMatchObject({ limit: 3, remaining: 2 });
    const tie = limiter([
      { route: '/**', requestsPerSecond: 1, burst: 4 },
      { route: '/a', requestsPerSecond: 2, burst: 4 },
    ]);
    expect(await tie.check('k', '/a')).toMatchObject({ limit: 4, remaining: 3, resetMs: 1_000 });
  });

  it('lets a call through and counts it when the store throws at once', async () => {
    const metrics = new Registry();
    const broken: RateLimitStore = {
      take: () => {
        throw new Error('down');
      },
      close: async () => {},
    };
    const rl = new RateLimiter(
      readSection(RateLimitConfig, { rules: [{ route: '/a', requestsPerSecond: 1 }] }),
      broken,
      metrics,
    );
    expect(await rl.check('k', '/a')).toBeUndefined();
    expect(await metrics.getSingleMetricAsString('aimesh_gateway_rate_limit_store_errors_total')).toContain(
      ' 1',
    );
    expect(
      await limiter([{ route: '/a', requestsPerSecond: 1 }], {}, broken).check('k', '/a'),
    ).toBeUndefined();
  });
});

describe('Route patterns, further', () => {
  it('treat ** inside a segment as any characters, and escape the rest', () => {
    expect(compileRoutePattern('/a**')('/abc/d')).toBe(true);
    expect(compileRoutePattern('/a**')('/b')).toBe(false);
    expect(compileRoutePattern('/v1/x.y')('/v1/x.y')).toBe(true);
    expect(compileRoutePattern('/v1/(x)')('/v1/(x)')).toBe(true);
    expect(compileRoutePattern('/a/**')('/ab')).toBe(false);
    expect(compileRoutePattern('/a/**')('/a/')).toBe(true);
  });

  it('ignore the query string but not the path before it', () => {
    expect(compileRoutePattern('/a')('/a?x=/b')).toBe(true);
    expect(compileRoutePattern('/a')('/b?x=/a')).toBe(false);
    expect(compileRoutePattern('/a/*')('/a/b?c/d')).toBe(true);
  });
});

describe('Daily token quota, further', () => {
  it('refills a thousandth of a day’s tokens in about 86.4 s, and says so', async () => {
    const clock = new ManualClock(0);
    const quota = new TokenQuota(createMemoryRateLimitStore({ clock, maxKeys: 10 }), 1_000);
    await quota.charge('s', 1_000);
    await clock.advance(86_300);
    await expect(quota.assertAvailable('s')).rejects.toMatchObject({
      code: 'quota_exceeded',
      details: { retryAfterSeconds: 87 },
      message: 'daily token quota of 1000 used up; tokens come back at 1000 a day (next in 87 s)',
    });
    await clock.advance(200); // past 86.4 s, clear of rounding
    await expect(quota.assertAvailable('s')).resolves.toBeUndefined();
  });

  it('says at least 1 s when tokens come back faster than one a second', async () => {
    const quota = new TokenQuota(
      createMemoryRateLimitStore({ clock: new ManualClock(0), maxKeys: 10 }),
      1_000_000,
    );
    await quota.charge('s', 1_000_000);
    await expect(quota.assertAvailable('s')).rejects.toMatchObject({ details: { retryAfterSeconds: 1 } });
  });

  it('charges nothing for zero tokens, and empties the bucket on an overdraw', async () => {
    const takes: number[] = [];
    const store = createMemoryRateLimitStore({ clock: new ManualClock(0), maxKeys: 10 });
    const counting: RateLimitStore = {
      take: (key, rule, cost) => {
        takes.push(cost ?? 1);
        return store.take(key, rule, cost);
      },
      close: () => store.close(),
    };
    const quota = new TokenQuota(counting, 100);
    await quota.charge('s', 0);
    expect(takes).toEqual([]);
    await quota.charge('s', 60);
    await quota.charge('s', 60);
    expect(takes).toEqual([60, 60, 40]);
    await quota.charge('s', 5);
    expect(takes).toEqual([60, 60, 40, 5]);
  });
});
