import type { Registry } from 'prom-client';
import { enforceRateLimit, RateLimitConfig, RateLimiter } from '../../../src/gateway/rate-limit/index.js';
import { role } from '../../../src/kernel/access.js';
import { readSection } from '../../../src/kernel/config.js';
import { createHttpServer } from '../../../src/kernel/http.js';
import { createLogger } from '../../../src/kernel/logger.js';
import type { RateLimitStore } from '../../../src/ports/rate-limit-store.js';

/**
 * A gateway-like HTTP server on loopback: every request is checked against the rate limiter
 * under the caller named in `x-caller`, the way the gateway checks it under the API key.
 */
export async function startRateLimitedServer(store: RateLimitStore, config: unknown, metrics?: Registry) {
  const limiter = new RateLimiter(readSection(RateLimitConfig, config, '/gateway/rateLimit'), store, metrics);
  const http = await createHttpServer({ logger: createLogger('silent'), bodyLimitBytes: 1 << 20 });
  http.addHook('onRequest', async (request, reply) => {
    const caller = String(request.headers['x-caller'] ?? 'anonymous');
    enforceRateLimit(reply, await limiter.check(caller, request.url));
  });
  http.get('/*', { config: role('public') }, async () => ({ ok: true }));
  await http.listen({ host: '127.0.0.1', port: 0 });
  return {
    url: `http://127.0.0.1:${(http.server.address() as { port: number }).port}`,
    stop: () => http.close(),
  };
}
