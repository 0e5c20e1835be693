import { Registry } from 'prom-client';
import { createMemoryRateLimitStore } from '../../../src/adapters/memory/memory-rate-limit-store.js';
import type { DiscoveryApi } from '../../../src/discovery/index.js';
import type { GatewayAuth } from '../../../src/gateway/auth/index.js';
import { EndpointStatsTable } from '../../../src/gateway/balancing/endpoint-stats.js';
import { RoundRobinBalancer } from '../../../src/gateway/balancing/load-balancer.js';
import { BUILT_IN_POLICIES } from '../../../src/gateway/config.js';
import { OpenAiConfig, openAiFront } from '../../../src/gateway/openai/index.js';
import { GatewayPipeline } from '../../../src/gateway/pipeline/gateway-pipeline.js';
import { CallerConnections } from '../../../src/gateway/proxy/caller-connections.js';
import { Forwarder } from '../../../src/gateway/proxy/forwarder.js';
import { GatewayMetrics } from '../../../src/gateway/proxy/gateway-metrics.js';
import { RandomHexPool } from '../../../src/gateway/proxy/trace-context.js';
import { UpstreamClient } from '../../../src/gateway/proxy/upstream-client.js';
import { RateLimitConfig, RateLimiter, TokenQuota } from '../../../src/gateway/rate-limit/index.js';
import { trafficRoutes } from '../../../src/gateway/traffic/traffic-routes.js';
import { systemClock } from '../../../src/kernel/clock.js';
import { readSection } from '../../../src/kernel/config.js';
import { createHttpServer } from '../../../src/kernel/http.js';
import { IdSource } from '../../../src/kernel/ids.js';
import { createLogger } from '../../../src/kernel/logger.js';
import { seededRandom } from '../../../src/kernel/random.js';
import type { EventLog, NewEvent } from '../../../src/ports/event-log.js';
import { BreakerRegistry } from '../../../src/resilience/breaker-registry.js';
import { RetryBudget } from '../../../src/resilience/retry.js';

const noDiscovery: DiscoveryApi = {
  register: () => Promise.reject(new Error('unused')),
  instances: () => [],
  watch: () => () => {},
};

/**
 * A gateway HTTP server on loopback serving the OpenAI-compatible front on the gateway pipeline
 * (breakers, bulkheads, retry budget) with the given auth and config; the events it records are
 * kept in `events`.
 */
export async function startOpenAiGateway(options: {
  auth: GatewayAuth;
  openai: unknown;
  rateLimit?: unknown;
  readTimeoutMs?: number;
}) {
  const metrics = new Registry();
  const store = createMemoryRateLimitStore({ clock: systemClock, maxKeys: 1_000 });
  const rateLimit = readSection(RateLimitConfig, options.rateLimit ?? {}, '/gateway/rateLimit');
  const client = new UpstreamClient({
    connectTimeoutMs: 2_000,
    readTimeoutMs: options.readTimeoutMs ?? 5_000,
  });
  const events: NewEvent[] = [];
  const eventLog = { enqueue: (event: NewEvent) => events.push(event) } as unknown as EventLog;
  const breakers = new BreakerRegistry(BUILT_IN_POLICIES, systemClock);
  const forwarder = new Forwarder({
    client,
    discovery: noDiscovery,
    breakers,
    balancer: new RoundRobinBalancer(),
    stats: new EndpointStatsTable(),
    retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 },
    budget: new RetryBudget({ ratio: 0.2, minPerSecond: 10, windowMs: 10_000 }, systemClock),
    bulkhead: { maxConcurrent: 64, lowPriorityShare: 0.8 },
    clock: systemClock,
    random: seededRandom(7),
  });
  const limiter = new RateLimiter(rateLimit, store, metrics);
  const pipeline = new GatewayPipeline(
    {
      authenticator: options.auth.authenticator,
      authRequired: true,
      rateLimiter: limiter,
      forwarder,
      metrics: new GatewayMetrics(metrics, breakers),
      events: eventLog,
      logger: createLogger('silent'),
      eventIds: new IdSource(),
    },
    new CallerConnections(),
  );
  const front = openAiFront({
    config: readSection(OpenAiConfig, options.openai, '/gateway/openai'),
    authenticator: options.auth.authenticator,
    access: options.auth.access,
    limiter,
    quota: rateLimit.dailyTokenQuota ? new TokenQuota(store, rateLimit.dailyTokenQuota) : undefined,
    metrics,
    traceIds: new RandomHexPool(),
  });
  const http = await createHttpServer({ logger: createLogger('silent'), bodyLimitBytes: 1 << 20 });
  await http.register(trafficRoutes(pipeline, front.traffic));
  await http.register(front.models);
  await http.listen({ host: '127.0.0.1', port: 0 });
  return {
    url: `http://127.0.0.1:${(http.server.address() as { port: number }).port}`,
    /** The events recorded, oldest first. */
    events,
    metrics,
    breakers,
    async stop() {
      await http.close();
      await client.close();
      await store.close();
    },
  };
}
