import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMemoryRateLimitStore } from '../../src/adapters/memory/memory-rate-limit-store.js';
import { createRedisRateLimitStore } from '../../src/adapters/redis/redis-rate-limit-store.js';
import { ManualClock } from '../../src/kernel/clock.js';

describe('In-process rate-limit store bounds', () => {
  it('keeps at most maxKeys buckets, forgetting the least recently used first', async () => {
    const metrics = new Registry();
    const store = createMemoryRateLimitStore({ clock: new ManualClock(0), maxKeys: 2, metrics });
    const rule = { capacity: 1, refillPerSecond: 0.001 };
    await store.take('a', rule);
    await store.take('b', rule);
    await store.take('a', rule); // refused, but touches a
    await store.take('c', rule); // evicts b
    expect((await store.take('a', rule)).allowed).toBe(false);
    expect((await store.take('b', rule)).allowed).toBe(true); // forgotten: starts full
    expect(await metrics.getSingleMetricAsString('aimesh_rate_limit_memory_buckets')).toContain(' 2');
    expect(await metrics.getSingleMetricAsString('aimesh_rate_limit_memory_evictions_total')).toContain(' 2');
  });
});

describe('Redis rate-limit store without a Redis', () => {
  it('fails a check within its command timeout instead of holding the request', async () => {
    const store = createRedisRateLimitStore({ url: 'redis://127.0.0.1:1', keyPrefix: 'aimesh:none:' });
    try {
      const started = Date.now();
      await expect(store.take('k', { capacity: 1, refillPerSecond: 1 })).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await store.close();
    }
  });
});
