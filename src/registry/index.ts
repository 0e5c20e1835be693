import { readSection } from '../kernel/config.js';
import type { ModuleDefinition } from '../kernel/module.js';
import type { RegistryApi } from './api.js';
import { RegistryConfig } from './config.js';
import { RegistryService } from './registry-service.js';
import { registryRoutes } from './routes.js';

export type {
  DatasetPush,
  NewModel,
  NewTrackedRun,
  PromotionRequest,
  PromotionResult,
  RegistryApi,
} from './api.js';
export { RegistryConfig } from './config.js';
export type { RunBatch } from './experiment-repository.js';
export type { ModelRecord, ModelVersionRecord, NewModelVersion, StoredModelVersion } from './records.js';

declare module '../kernel/module.js' {
  interface ModuleApis {
    registry: RegistryApi;
  }
}

/** The registry module: models, versions and aliases; datasets; experiments and runs; lineage. */
export const registryModule: ModuleDefinition = {
  name: 'registry',
  deps: ['eventlog'],
  requires: ['database'],
  migrations: new URL('./migrations', import.meta.url).pathname,
  async init(ctx) {
    const config = readSection(RegistryConfig, ctx.config.registry, '/registry');
    const service = new RegistryService({
      db: ctx.db,
      events: ctx.use('eventlog'),
      artifacts: ctx.artifacts,
      clock: ctx.clock,
      logger: ctx.logger,
      metrics: ctx.metrics,
      config,
    });
    await ctx.http.register(registryRoutes(service, config), { prefix: '/api/v1' });
    return {
      api: service,
      ready: () => ({ status: 'ready' }),
      stop: async () => {},
    };
  },
};
