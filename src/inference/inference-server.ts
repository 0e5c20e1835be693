import type { Registry } from 'prom-client';
import { type AccessGuard, role } from '../kernel/access.js';
import { createHttpServer, type HttpServer, listenHttp } from '../kernel/http.js';
import type { Logger } from '../kernel/logger.js';
import type { InferenceConfig } from './config.js';
import type { InferenceService } from './inference-service.js';
import type { ModelLoader } from './model-loader.js';
import type { ModelManager } from './model-manager.js';
import { repositoryRoutes, seedRoutes } from './routes.js';
import { v2Routes } from './v2-routes.js';

/** What the inference listener serves from. */
export interface InferenceListenerDeps {
  config: InferenceConfig;
  logger: Logger;
  metrics: Registry;
  service: InferenceService;
  models: ModelManager;
  loader: ModelLoader;
  ready(): boolean;
  drainDeadline(): number;
  /** The process's access guard (the main listener's). */
  access?: AccessGuard;
}

/**
 * Starts the data-plane listener (Triton's dedicated port): V2 under `/v2`, the repository
 * API under `/v2/repository`, the seed endpoint under `/api/v1/ai`, and `/metrics`.
 */
export async function startInferenceListener(
  deps: InferenceListenerDeps,
): Promise<{ server: HttpServer; url: string }> {
  const { config, service, models, loader, ready, drainDeadline } = deps;
  const server = await createHttpServer({
    logger: deps.logger,
    bodyLimitBytes: config.server.bodyLimitBytes,
    access: deps.access,
    listener: 'inference',
  });
  await server.register((app) => v2Routes(app, { service, models, ready }), { prefix: '/v2' });
  await server.register((app) => repositoryRoutes(app, { service, models, loader, drainDeadline }), {
    prefix: '/v2/repository',
  });
  await server.register((app) => seedRoutes(app, { service, models, loader, drainDeadline }), {
    prefix: '/api/v1/ai',
  });
  server.get(
    '/metrics',
    { config: role('public'), schema: { tags: ['health'], summary: 'Prometheus metrics' } },
    async (_request, reply) => reply.type(deps.metrics.contentType).send(await deps.metrics.metrics()),
  );
  const port = await listenHttp(server, config.server.host, config.server.port ?? 0, 'inference.server.port');
  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  return { server, url: `http://${host}:${port}` };
}

/** Discovery metadata: the zone and every loaded version, with its model's type and whether it is the default. */
export function discoveryMetadata(models: ModelManager, zone: string): Record<string, unknown> {
  return {
    zone,
    models: models.list().flatMap((m) =>
      m.versions.map((v) => ({
        id: m.name,
        version: String(v.version),
        type: m.type,
        default: v.version === m.defaultVersion,
      })),
    ),
  };
}
