import type { ModuleContext } from '../kernel/module.js';
import type { EventLog } from '../ports/event-log.js';
import type { RegistryApi } from '../registry/index.js';
import type { InferenceConfig } from './config.js';
import { InferenceMetrics } from './inference-metrics.js';
import { InferenceService } from './inference-service.js';
import { ModelLoader } from './model-loader.js';
import { ModelManager } from './model-manager.js';
import { ResultCache } from './result-cache.js';

/** The wired parts of the model server, before any listener. */
export function createInferenceStack(input: {
  ctx: ModuleContext;
  config: InferenceConfig;
  registry: RegistryApi | undefined;
  events: EventLog;
  onChange(): void;
}) {
  const { ctx, config } = input;
  const metrics = new InferenceMetrics(ctx.metrics);
  const cache = new ResultCache(config.cache.maxEntries, metrics);
  const models = new ModelManager({
    runtimes: ctx.adapters.modelRuntimes({
      onnx: {
        intraOpThreads: config.onnx.intraOpThreads,
        spinning: config.onnx.spinning,
        thread: config.onnx.sessionThreads,
      },
    }),
    metrics,
    cache,
    clock: ctx.clock,
    random: ctx.random,
    logger: ctx.logger,
    defaults: config.batching,
    maxVersionsPerModel: config.maxVersionsPerModel,
    onChange: input.onChange,
  });
  const loader = new ModelLoader(config, models, ctx.artifacts, input.registry, ctx.logger);
  const service = new InferenceService(models, cache, metrics, input.events, ctx.clock);
  return { metrics, cache, models, loader, service };
}
