import type { Registration } from '../discovery/index.js';
import { role } from '../kernel/access.js';
import { readSection } from '../kernel/config.js';
import type { ModuleContext, ModuleDefinition, ModuleInstance } from '../kernel/module.js';
import { InferenceConfig, inferencePortFor } from './config.js';
import { discoveryMetadata, startInferenceListener } from './inference-server.js';
import type { InferenceRequest, InferenceResponse } from './inference-service.js';
import { createInferenceStack } from './inference-stack.js';
import type { ModelSummary } from './model-manager.js';
import { followPromotions } from './promotions.js';

/** What other modules (and tests) get from the inference module. */
export interface InferenceApi {
  /** Base URL of the inference listener (data plane). */
  readonly url: string;
  models(): ModelSummary[];
  infer(request: InferenceRequest): Promise<InferenceResponse>;
}

declare module '../kernel/module.js' {
  interface ModuleApis {
    inference: InferenceApi;
  }
}

/** The discovery service name the gateway routes `/api/v1/ai/**` and `/v2/**` to. */
export const INFERENCE_SERVICE = 'model-inference';

/** The inference module: the model server on its own listener (Triton-style data plane port). */
export const inferenceModule: ModuleDefinition = {
  name: 'inference',
  deps: ['discovery', 'registry', 'eventlog'],
  init: startInference,
};

async function startInference(ctx: ModuleContext): Promise<ModuleInstance> {
  const config = readSection(InferenceConfig, ctx.config.inference, '/inference');
  config.server.port ??= inferencePortFor(ctx.config.server.port);
  const discovery = ctx.use('discovery');
  const registry = ctx.use('registry');
  const events = ctx.use('eventlog');
  let registration: Registration | undefined;
  const onChange = () =>
    void registration
      ?.update(discoveryMetadata(models, config.zone))
      .catch((error) => ctx.logger.warn({ err: error }, 'discovery metadata update failed'));
  const { models, loader, service } = createInferenceStack({ ctx, config, registry, events, onChange });

  await loader.loadConfigured();
  let retryTimer: NodeJS.Timeout | undefined;
  const scheduleRetry = () => {
    if (loader.failures.size === 0) return;
    retryTimer = setTimeout(() => void loader.retryFailures().finally(scheduleRetry), config.loadRetryMs);
    retryTimer.unref();
  };
  scheduleRetry();

  let stopDeadline = 0;
  const drainDeadline = () => (stopDeadline > 0 ? stopDeadline : ctx.clock.now() + config.batching.timeoutMs);
  const ready = () => loader.failures.size === 0 && !service.isDraining;
  const { server, url } = await startInferenceListener({
    config,
    logger: ctx.logger,
    metrics: ctx.metrics,
    service,
    models,
    loader,
    ready,
    drainDeadline,
    access: ctx.http.access,
  });
  ctx.logger.info({ url, models: models.list().map((m) => m.name) }, 'inference listening');
  // Read-only status on the main listener, for the dashboard and operators.
  await ctx.http.register(
    async (app) => {
      app.get(
        '/models',
        { config: role('caller'), schema: { tags: ['inference'], summary: 'Models this process serves' } },
        async () => ({ url, models: models.list() }),
      );
    },
    { prefix: '/api/v1/inference' },
  );

  registration = await discovery.register({
    service: INFERENCE_SERVICE,
    url,
    metadata: discoveryMetadata(models, config.zone),
    ttlMs: config.discoveryTtlMs,
  });
  const subscription = await followPromotions(events, loader, ctx.logger);

  return {
    api: {
      url,
      models: () => models.list(),
      infer: (request) => service.infer(request),
    } satisfies InferenceApi,
    ready: () => {
      if (ready()) return { status: 'ready' };
      const missing = [...loader.failures].map(([k, e]) => `${k} (${e})`).join('; ');
      return { status: 'starting', detail: service.isDraining ? 'stopping' : `not loaded yet: ${missing}` };
    },
    async stop(deadline) {
      stopDeadline = deadline;
      clearTimeout(retryTimer);
      service.drain();
      await subscription.close();
      // Closing the listener waits for in-flight requests; then the queues are empty.
      await Promise.race([
        server.close(),
        new Promise((r) => setTimeout(r, Math.max(0, deadline - ctx.clock.now())).unref()),
      ]);
      await registration
        ?.deregister()
        .catch((error) => ctx.logger.warn({ err: error }, 'discovery deregistration failed'));
      await models.stop(deadline);
    },
  };
}
