import { Registry } from 'prom-client';
import { createMemoryRateLimitStore } from '../../../src/adapters/memory/memory-rate-limit-store.js';
import type { GatewayAuth } from '../../../src/gateway/auth/index.js';
import { type OpenAiCallOutcome, OpenAiConfig, openAiRoutes } from '../../../src/gateway/openai/index.js';
import { UpstreamClient } from '../../../src/gateway/proxy/upstream-client.js';
import { RateLimitConfig, RateLimiter, TokenQuota } from '../../../src/gateway/rate-limit/index.js';
import { systemClock } from '../../../src/kernel/clock.js';
import { readSection } from '../../../src/kernel/config.js';
import { createHttpServer } from '../../../src/kernel/http.js';
import { createLogger } from '../../../src/kernel/logger.js';

/** A gateway HTTP server on loopback serving the OpenAI-compatible front with the given auth and config. */
export async function startOpenAiGateway(options: {
  auth: GatewayAuth;
  openai: unknown;
  rateLimit?: unknown;
}) {
  const metrics = new Registry();
  const store = createMemoryRateLimitStore({ clock: systemClock, maxKeys: 1_000 });
  const rateLimit = readSection(RateLimitConfig, options.rateLimit ?? {}, '/gateway/rateLimit');
  const client = new UpstreamClient({ connectTimeoutMs: 2_000, readTimeoutMs: 5_000 });
  const outcomes: OpenAiCallOutcome[] = [];
  const http = await createHttpServer({ logger: createLogger('silent'), bodyLimitBytes: 1 << 20 });
  await http.register(
    openAiRoutes({
      config: readSection(OpenAiConfig, options.openai, '/gateway/openai'),
      client,
      authenticator: options.auth.authenticator,
      access: options.auth.access,
      clock: systemClock,
      limiter: new RateLimiter(rateLimit, store, metrics),
      quota: rateLimit.dailyTokenQuota ? new TokenQuota(store, rateLimit.dailyTokenQuota) : undefined,
      metrics,
      onCompleted: (o) => outcomes.push(o),
    }),
    { prefix: '/v1' },
  );
  await http.listen({ host: '127.0.0.1', port: 0 });
  return {
    url: `http://127.0.0.1:${(http.server.address() as { port: number }).port}`,
    outcomes,
    metrics,
    async stop() {
      await http.close();
      await client.close();
      await store.close();
    },
  };
}
