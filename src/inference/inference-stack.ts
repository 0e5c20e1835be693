import { createOnnxRuntime } from '../adapters/onnx/onnx-runtime.js';
import { openAiRuntime, v2RemoteRuntime } from '../adapters/remote/remote-runtime.js';
import { tfjsRuntime } from '../adapters/tfjs/tfjs-runtime.js';
import type { ModuleContext } from '../kernel/module.js';
import type { ModelRuntime } from '../ports/model-runtime.js';
import type { RegistryApi } from '../registry/api.js';
import type { InferenceConfig } from './config.js';
import { InferenceMetrics } from './inference-metrics.js';
import { InferenceService } from './inference-service.js';
import { ModelLoader } from './model-loader.js';
import { ModelManager } from './model-manager.js';
import { ResultCache } from './result-cache.js';

/** Every runtime this server can load, by format name. */
function runtimes(config: InferenceConfig): Record<string, ModelRuntime> {
  return {
    tfjs: tfjsRuntime,
    onnx: createOnnxRuntime({
      intraOpThreads: config.onnx.intraOpThreads,
      spinning: config.onnx.spinning,
      thread: config.onnx.sessionThreads,
    }),
    v2: v2RemoteRuntime,
    openai: openAiRuntime,
  };
}

/** The wired parts of the model server, before any listener. */
export function createInferenceStack(input: {
  ctx: ModuleContext;
  config: InferenceConfig;
  registry: RegistryApi | undefined;
  onChange(): void;
}) {
  const { ctx, config } = input;
  const metrics = new InferenceMetrics(ctx.metrics);
  const cache = new ResultCache(config.cache.maxEntries, metrics);
  const models = new ModelManager({
    runtimes: runtimes(config),
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
  const service = new InferenceService(models, cache, metrics, ctx.events, ctx.clock);
  return { metrics, cache, models, loader, service };
}
