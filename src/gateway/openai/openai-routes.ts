import type { FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';
import { role } from '../../kernel/access.js';
import type { AccessPolicy, Authenticator, Principal } from '../auth/principal.js';
import type { RandomHexPool } from '../proxy/trace-context.js';
import { enforceRateLimit } from '../rate-limit/rate-limit-headers.js';
import { type RateLimiter, rateLimitSubject } from '../rate-limit/rate-limiter.js';
import type { TokenQuota } from '../rate-limit/token-quota.js';
import type { TrafficEntry } from '../traffic/traffic-routes.js';
import type { OpenAiConfig } from './config.js';
import { OpenAiCatalogue } from './openai-catalogue.js';
import { ChatBody, EmbeddingsBody, OpenAiFront } from './openai-front.js';
import { OpenAiMetrics } from './openai-metrics.js';

/** What the OpenAI-compatible front needs; every collaborator is passed in. */
export interface OpenAiRoutesDeps {
  config: OpenAiConfig;
  authenticator: Authenticator;
  access: AccessPolicy;
  limiter?: RateLimiter;
  quota?: TokenQuota;
  metrics?: Registry;
  traceIds: RandomHexPool;
}

/**
 * The OpenAI-compatible front at `/v1`: chat completions and embeddings as paths of the gateway
 * pipeline (authentication, rate limits, model access rules, the daily token quota, breakers,
 * bulkheads, retry budget, fallback chains, one event per call), and `GET /v1/models` listing
 * what the caller may use. The catalogue is checked at once, so a typo in the config fails the start.
 */
export function openAiFront(deps: OpenAiRoutesDeps): { traffic: TrafficEntry[]; models: FastifyPluginAsync } {
  const catalogue = new OpenAiCatalogue(deps.config);
  const front = {
    catalogue,
    access: deps.access,
    quota: deps.quota,
    metrics: deps.metrics ? new OpenAiMetrics(deps.metrics) : undefined,
    policy: deps.config.policy,
    traceIds: deps.traceIds,
  };
  const tags = ['openai'];
  const security: Record<string, string[]>[] = [{ apiKey: [] }, { bearer: [] }];
  const traffic: TrafficEntry[] = [
    {
      path: '/v1/chat/completions',
      subtree: false,
      direct: true,
      methods: ['POST'],
      front: new OpenAiFront('/v1/chat/completions', 'chat', '/chat/completions', front),
      schema: { tags, security, summary: 'Chat completion (stream: true for SSE)', body: ChatBody },
    },
    {
      path: '/v1/embeddings',
      subtree: false,
      direct: true,
      methods: ['POST'],
      front: new OpenAiFront('/v1/embeddings', 'embedding', '/embeddings', front),
      schema: { tags, security, summary: 'Embeddings', body: EmbeddingsBody },
    },
  ];
  const models: FastifyPluginAsync = async (app) => {
    app.get(
      '/v1/models',
      { config: role('public'), schema: { tags, security, summary: 'Models the caller may use' } },
      async (request, reply) => {
        const principal = await deps.authenticator.authenticate(request.headers);
        if (deps.limiter)
          enforceRateLimit(
            reply,
            await deps.limiter.check(rateLimitSubject(principal), request.url.split('?')[0]),
          );
        const data = catalogue
          .list()
          .filter((m) => allowed(deps.access, principal, m))
          .map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: m.upstream }));
        return { object: 'list', data };
      },
    );
  };
  return { traffic, models };
}

function allowed(access: AccessPolicy, principal: Principal, model: { id: string; type: string }): boolean {
  try {
    access.assertModelAllowed(principal, model);
    return true;
  } catch {
    return false;
  }
}
