import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisRateLimitStore } from '../../../src/adapters/redis/redis-rate-limit-store.js';
import type { RateLimitStore } from '../../../src/ports/rate-limit-store.js';
import { REDIS_URL, serviceAvailable } from '../../support/services.js';
import { startRateLimitedServer } from './rate-limit-server.js';

const redis = await serviceAvailable('redis');

describe.skipIf(!redis)('Rate limiting shared through Redis', () => {
  const keyPrefix = `aimesh:test:shared:${randomBytes(6).toString('hex')}:`;
  const stores: RateLimitStore[] = [];
  const servers: Awaited<ReturnType<typeof startRateLimitedServer>>[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      // Each gateway has its own Redis connection, as two processes would.
      const store = createRedisRateLimitStore({ url: REDIS_URL, keyPrefix });
      stores.push(store);
      servers.push(
        await startRateLimitedServer(store, {
          rules: [{ route: '/api/v1/ai/**', requestsPerSecond: 0.01, burst: 10 }],
        }),
      );
    }
  });
  afterAll(async () => {
    for (const s of servers) await s.stop();
    for (const s of stores) await s.close();
  });

  it('lets two gateways spend one bucket together: 10 of 20 alternating calls pass', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${servers[i % 2].url}/api/v1/ai/inference`, {
        headers: { 'x-caller': 'shared-key' },
      });
      statuses.push(res.status);
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.slice(10).every((s) => s === 429)).toBe(true);
  });

  it('holds the shared limit under concurrent calls to both gateways', async () => {
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        fetch(`${servers[i % 2].url}/api/v1/ai/inference`, { headers: { 'x-caller': 'concurrent-key' } }),
      ),
    );
    expect(responses.filter((r) => r.status === 200)).toHaveLength(10);
  });
});
