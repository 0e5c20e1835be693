import type { FastifyPluginAsync } from 'fastify';
import type { RegistryConfig } from './config.js';
import { datasetRoutes } from './dataset-routes.js';
import { experimentRoutes } from './experiment-routes.js';
import { lineageRoutes } from './lineage-routes.js';
import { modelFileRoutes } from './model-file-routes.js';
import { modelRoutes } from './model-routes.js';
import type { RegistryService } from './registry-service.js';
import { runRoutes } from './run-routes.js';

/** The registry's HTTP API, mounted at /api/v1: models, datasets, experiments and runs, lineage. */
export function registryRoutes(service: RegistryService, config: RegistryConfig): FastifyPluginAsync {
  return async (app) => {
    await app.register(modelRoutes(service));
    await app.register(modelFileRoutes(service, config));
    await app.register(experimentRoutes(service));
    await app.register(runRoutes(service));
    await app.register(datasetRoutes(service, config), { prefix: '/datasets' });
    await app.register(lineageRoutes(service), { prefix: '/lineage' });
  };
}
