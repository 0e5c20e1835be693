import { platformTokenResolver } from '../kernel/access.js';
import { readSection } from '../kernel/config.js';
import { IdSource } from '../kernel/ids.js';
import type { ModuleDefinition } from '../kernel/module.js';
import { BreakerRegistry } from '../resilience/breaker-registry.js';
import type { BreakerPolicy } from '../resilience/circuit-breaker.js';
import { RetryBudget } from '../resilience/retry.js';
import { trafficAdminRoutes } from './admin-routes.js';
import { credentialResolver, withPlatformTokens } from './auth/credential-authenticator.js';
import { createGatewayAuth } from './auth/gateway-auth.js';
import type { AccessPolicy, Authenticator } from './auth/principal.js';
import { EndpointStatsTable } from './balancing/endpoint-stats.js';
import { createBalancer } from './balancing/load-balancer.js';
import { BUILT_IN_POLICIES, GatewayConfig } from './config.js';
import { openAiFront } from './openai/openai-routes.js';
import { GatewayPipeline } from './pipeline/gateway-pipeline.js';
import { CallerConnections } from './proxy/caller-connections.js';
import { Forwarder } from './proxy/forwarder.js';
import { GatewayMetrics } from './proxy/gateway-metrics.js';
import { RandomHexPool } from './proxy/trace-context.js';
import { UpstreamClient } from './proxy/upstream-client.js';
import { RateLimiter } from './rate-limit/rate-limiter.js';
import { TokenQuota } from './rate-limit/token-quota.js';
import { ModelChooser } from './routing/model-choice.js';
import { ModelTypes } from './routing/model-types.js';
import { compileRoutes } from './routing/route-table.js';
import { ModelSelector } from './selection/model-selector.js';
import { nativeTraffic } from './traffic/native-front.js';
import { trafficRoutes } from './traffic/traffic-routes.js';

export { AuthConfig } from './auth/config.js';
export { GatewayConfig } from './config.js';
export type { UpstreamRequest, UpstreamResponse, UpstreamTarget } from './proxy/upstream-client.js';
export { UpstreamClient, UpstreamError } from './proxy/upstream-client.js';

/** What the gateway offers other modules in this process. */
export interface GatewayApi {
  /** The pooled upstream caller (shared by the traffic routes and the OpenAI-compatible front). */
  client: UpstreamClient;
  /** Breaker states, for views that show them. */
  breakers: BreakerRegistry;
}

declare module '../kernel/module.js' {
  interface ModuleApis {
    gateway: GatewayApi;
  }
}

/**
 * The gateway module: one pipeline (authenticate → rate limit → choose a model under the access
 * rules → pick an instance → breaker → bulkhead → retry → forward → record) behind two fronts,
 * the native traffic routes and the OpenAI-compatible one, plus the admin APIs.
 */
export const gatewayModule: ModuleDefinition = {
  name: 'gateway',
  deps: ['discovery', 'eventlog'],
  // Model types for the access rules, when the registry runs in this process.
  optionalDeps: ['registry'],
  requires: ['database'],
  migrations: new URL('./migrations', import.meta.url).pathname,
  async init(ctx) {
    const config = readSection(GatewayConfig, ctx.config.gateway, '/gateway');
    const routes = compileRoutes(config.routes);
    const discovery = ctx.use('discovery');
    const events = ctx.use('eventlog');
    const { resilience } = config;
    const policies: Record<string, BreakerPolicy> = { ...BUILT_IN_POLICIES };
    for (const [name, p] of Object.entries(resilience.policies)) policies[name] = { halfOpenCalls: 3, ...p };
    const breakers = new BreakerRegistry(policies, ctx.clock, (name, from, to) =>
      ctx.logger.warn({ breaker: name, from, to }, 'circuit breaker changed state'),
    );
    const client = new UpstreamClient({
      connectTimeoutMs: resilience.timeouts.connectMs,
      readTimeoutMs: resilience.timeouts.readMs,
    });
    const metrics = new GatewayMetrics(ctx.metrics, breakers);
    const stats = new EndpointStatsTable();
    const forwarder = new Forwarder({
      client,
      discovery,
      breakers,
      balancer: createBalancer(config.balancer, stats, ctx.random),
      stats,
      retry: resilience.retry,
      budget: new RetryBudget(
        {
          ratio: resilience.retry.budgetRatio,
          minPerSecond: resilience.retry.budgetMinPerSecond,
          windowMs: 10_000,
        },
        ctx.clock,
      ),
      bulkhead: resilience.bulkhead,
      clock: ctx.clock,
      random: ctx.random,
      onRetry: () => metrics.retried(),
      onShed: () => metrics.wasShed(),
    });
    const auth = createGatewayAuth({
      config: config.auth,
      db: ctx.db,
      clock: ctx.clock,
      metrics: ctx.metrics,
    });
    const store = ctx.adapters.rateLimitStore({
      kind: config.rateLimit.store,
      keyPrefix: config.rateLimit.keyPrefix,
      memoryMaxKeys: config.rateLimit.memoryMaxKeys,
    });
    const rateLimiter = config.rateLimit.enabled
      ? new RateLimiter(config.rateLimit, store, ctx.metrics)
      : undefined;
    const selector = new ModelSelector({ config: config.models, clock: ctx.clock });
    // Traffic through the gateway also accepts the platform's tokens (the admin token is `admin`).
    const authenticator: Authenticator = withPlatformTokens(
      auth.authenticator,
      platformTokenResolver({ adminToken: config.auth.adminToken, serviceToken: config.auth.serviceToken }),
    );
    const access: AccessPolicy = auth.access;
    const chooser = new ModelChooser({ selector, access, versions: config.versions, random: ctx.random });

    // API keys and JWTs prove principals on every listener of this process.
    ctx.http.access.addResolver(credentialResolver(auth.authenticator));
    await ctx.http.register(auth.adminRoutes, { prefix: '/api/v1/admin/keys' });
    await ctx.http.register(trafficAdminRoutes({ discovery, breakers }), {
      prefix: '/api/v1/admin',
    });
    const traceIds = new RandomHexPool();
    const pipeline = new GatewayPipeline(
      {
        authenticator,
        authRequired: config.auth.required,
        rateLimiter,
        forwarder,
        metrics,
        events: config.events ? events : undefined,
        logger: ctx.logger,
        eventIds: new IdSource(),
      },
      new CallerConnections(),
    );
    const openai = config.openai.enabled
      ? openAiFront({
          config: config.openai,
          authenticator,
          access,
          limiter: rateLimiter,
          quota:
            config.rateLimit.dailyTokenQuota !== undefined
              ? new TokenQuota(store, config.rateLimit.dailyTokenQuota)
              : undefined,
          metrics: ctx.metrics,
          traceIds,
        })
      : undefined;
    const registry = ctx.tryUse('registry');
    const types = new ModelTypes({
      catalogue: (id) => selector.typeOf(id),
      source: registry ? { typeOf: async (id) => (await registry.getModel(id)).type } : undefined,
      clock: ctx.clock,
    });
    const native = nativeTraffic(routes, {
      chooser,
      selector,
      types,
      traceIds,
      serviceToken: config.auth.serviceToken,
    });
    await ctx.http.register(trafficRoutes(pipeline, [...(openai?.traffic ?? []), ...native]));
    if (openai) await ctx.http.register(openai.models);
    return {
      api: { client, breakers } satisfies GatewayApi,
      ready: () => ({ status: 'ready' }),
      // Verified keys keep serving through a short database outage; the gateway stays ready as long.
      outageGraceMs: { database: config.auth.apiKeys.cacheTtlMs + config.auth.apiKeys.staleIfErrorMs },
      async stop() {
        await client.close();
        await store.close();
      },
    };
  },
};
