// A gateway-like process for the shared-bucket test: a rate-limited HTTP server whose buckets
// live in Redis. Prints its URL on stdout, then serves until stdin closes.
import { createRedisRateLimitStore } from '../../../src/adapters/redis/redis-rate-limit-store.js';
import { startRateLimitedServer } from './rate-limit-server.js';

const store = createRedisRateLimitStore({ url: process.env.REDIS_URL!, keyPrefix: process.env.KEY_PREFIX! });
const server = await startRateLimitedServer(store, JSON.parse(process.env.RATE_LIMIT_CONFIG!));
process.stdout.write(`${server.url}\n`);
process.stdin.resume();
process.stdin.on('end', async () => {
  await server.stop();
  await store.close();
  process.exit(0);
});
