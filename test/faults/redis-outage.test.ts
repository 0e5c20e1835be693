import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisRateLimitStore } from '../../src/adapters/redis/redis-rate-limit-store.js';
import { RateLimiter } from '../../src/gateway/rate-limit/rate-limiter.js';
import type { RateLimitStore } from '../../src/ports/rate-limit-store.js';
import { canRun, type OwnService, startOwnRedis } from '../support/own-services.js';

const rule = { capacity: 10, refillPerSecond: 1 };

/** Takes until the store answers again (bounded): the client reconnects with its own backoff. */
async function untilAnswering(store: RateLimitStore, key: string) {
  for (let i = 0; i < 100; i++) {
    try {
      return await store.take(key, rule);
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('the store did not answer within 10 s of Redis returning');
}

describe.skipIf(!canRun('redis'))('Redis rate-limit store through a Redis outage (own instance)', () => {
  let redis: OwnService;
  let store: RateLimitStore;

  beforeAll(async () => {
    redis = await startOwnRedis();
    store = createRedisRateLimitStore({ url: redis.url, keyPrefix: 'aimesh:fault:' });
  });

  afterAll(async () => {
    await store?.close();
    await redis?.destroy();
  });

  it('fails checks at once while Redis is down, lets the calls through, and replays none of them when it returns', async () => {
    expect((await store.take('caller', rule)).remaining).toBe(9);
    await redis.stop();

    const metrics = new Registry();
    const limiter = new RateLimiter(
      { enabled: true, rules: [{ route: '/api/**', requestsPerSecond: 1, burst: 10, per: 'key' }] } as never,
      store,
      metrics,
    );
    const started = performance.now();
    for (let i = 0; i < 50; i++) expect(await limiter.check('key:caller', '/api/x')).toBeUndefined();
    // Fifty checks during the outage cost about nothing (an offline queue waited 250 ms each).
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(await metrics.getSingleMetricAsString('aimesh_gateway_rate_limit_store_errors_total')).toContain(
      ' 50',
    );

    await redis.start();
    const after = await untilAnswering(store, 'other');
    expect(after.allowed).toBe(true);
    // The caller's bucket holds what it held before the outage (9, refilled by at most the
    // outage's seconds), not 50 stale debits replayed on reconnect.
    const caller = await store.take('caller', rule);
    expect(caller.allowed).toBe(true);
    expect(caller.remaining).toBeGreaterThanOrEqual(8);
  }, 60_000);
});
