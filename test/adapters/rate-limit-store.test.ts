import { setTimeout as sleep } from 'node:timers/promises';
import { createMemoryRateLimitStore } from '../../src/adapters/memory/memory-rate-limit-store.js';
import { createRedisRateLimitStore } from '../../src/adapters/redis/redis-rate-limit-store.js';
import { ManualClock } from '../../src/kernel/clock.js';
import { rateLimitStoreContract } from '../contracts/rate-limit-store.js';
import { REDIS_URL, serviceAvailable } from '../support/services.js';

rateLimitStoreContract('in-process', async () => {
  const clock = new ManualClock(1_000_000);
  return { store: createMemoryRateLimitStore({ clock, maxKeys: 1_000 }), elapse: (ms) => clock.advance(ms) };
});

const redis = await serviceAvailable('redis');
rateLimitStoreContract(
  'redis',
  async () => ({
    store: createRedisRateLimitStore({ url: REDIS_URL, keyPrefix: `aimesh:test:${process.pid}:` }),
    elapse: (ms) => sleep(ms),
  }),
  redis,
);
