import { readSection } from '../core/config.js';
import { createHttpServer } from '../core/http.js';
import type { ModuleContext, ModuleDefinition, ModuleInstance } from '../core/module.js';
import type { DiscoveryApi, Registration } from '../discovery/api.js';
import type { Subscription } from '../ports/event-bus.js';
import type { RegistryApi } from '../registry/api.js';
import { InferenceConfig } from './config.js';
import type { InferenceRequest, InferenceResponse } from './inference-service.js';
import { createInferenceStack } from './inference-stack.js';
import type { ModelSummary } from './model-manager.js';
import { repositoryRoutes, seedRoutes } from './routes.js';
import { v2Routes } from './v2-routes.js';

/** What other modules (and tests) get from the inference module. */
export interface InferenceApi {
  /** Base URL of the inference listener (data plane). */
  readonly url: string;
  models(): ModelSummary[];
  infer(request: InferenceRequest): Promise<InferenceResponse>;
}

declare module '../core/module.js' {
  interface ModuleApis {
    inference: InferenceApi;
  }
}

/** The discovery service name the gateway routes `/api/v1/ai/**` and `/v2/**` to. */
export const INFERENCE_SERVICE = 'model-inference';

/** The inference module: the model server on its own listener (Triton-style data plane port). */
export const inferenceModule: ModuleDefinition = {
  name: 'inference',
  deps: ['discovery', 'registry'],
  init: startInference,
};

async function startInference(ctx: ModuleContext): Promise<ModuleInstance> {
  const config = readSection(InferenceConfig, ctx.config.inference, '/inference');
  // Discovery and registry may run elsewhere (or not yet): both APIs are optional here.
  const use = ctx.use as unknown as (name: string) => unknown;
  const discovery = use('discovery') as DiscoveryApi | undefined;
  const registry = use('registry') as RegistryApi | undefined;
  const stack = createInferenceStack({
    ctx,
    config,
    registry,
    onChange: () => void registration?.update(metadata()).catch(() => {}),
  });
  const { models, loader, service } = stack;
  let registration: Registration | undefined;
  const metadata = () => ({
    zone: config.zone,
    models: models.list().flatMap((m) =>
      m.versions.map((v) => ({
        id: m.name,
        version: String(v.version),
        type: m.type,
        default: v.version === m.defaultVersion,
      })),
    ),
  });

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
  const server = await createHttpServer({ logger: ctx.logger, bodyLimitBytes: config.server.bodyLimitBytes });
  const ready = () => loader.failures.size === 0 && !service.isDraining;
  await server.register((app) => v2Routes(app, { service, models, ready }), { prefix: '/v2' });
  await server.register((app) => repositoryRoutes(app, { service, models, loader, drainDeadline }), {
    prefix: '/v2/repository',
  });
  await server.register((app) => seedRoutes(app, { service, models, loader, drainDeadline }), {
    prefix: '/api/v1/ai',
  });
  server.get(
    '/metrics',
    { schema: { tags: ['health'], summary: 'Prometheus metrics' } },
    async (_request, reply) => reply.type(ctx.metrics.contentType).send(await ctx.metrics.metrics()),
  );
  // Read-only status on the main listener, for the dashboard and operators.
  await ctx.http.register(
    async (app) => {
      app.get(
        '/models',
        { schema: { tags: ['inference'], summary: 'Models this process serves' } },
        async () => ({ url, models: models.list() }),
      );
    },
    { prefix: '/api/v1/inference' },
  );

  await server.listen({ host: config.server.host, port: config.server.port });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const url = `http://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${port}`;
  ctx.logger.info({ url, models: models.list().map((m) => m.name) }, 'inference listening');

  if (discovery) {
    registration = await discovery.register({
      service: INFERENCE_SERVICE,
      url,
      metadata: metadata(),
      ttlMs: config.discoveryTtlMs,
    });
  } else {
    ctx.logger.warn('discovery is not running in this process; the inference server is not registered');
  }

  const subscription: Subscription = await ctx.bus.subscribe('ai.model.promoted', (message) => {
    const promotion = parsePromotion(message.data);
    if (!promotion)
      return void ctx.logger.warn(
        { subject: message.subject },
        'ignored a malformed ai.model.promoted message',
      );
    loader
      .onPromoted(promotion)
      .catch((error) => ctx.logger.error({ err: error, ...promotion }, 'promotion could not be applied'));
  });

  return {
    api: {
      url,
      models: () => models.list(),
      infer: (request) => service.infer(request),
    } satisfies InferenceApi,
    ready: () =>
      ready()
        ? { status: 'ready' }
        : {
            status: 'starting',
            detail: service.isDraining
              ? 'stopping'
              : `not loaded yet: ${[...loader.failures].map(([k, e]) => `${k} (${e})`).join('; ')}`,
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

/** Reads a promotion from a bus message: a stored CloudEvent (data inside) or the bare data. */
function parsePromotion(bytes: Uint8Array): { model: string; version: number; alias: string } | undefined {
  try {
    const json = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
    const data = (typeof json.data === 'object' && json.data !== null ? json.data : json) as Record<
      string,
      unknown
    >;
    const version = Number(data.version);
    if (typeof data.model !== 'string' || !Number.isInteger(version) || version < 1) return undefined;
    return { model: data.model, version, alias: typeof data.alias === 'string' ? data.alias : 'production' };
  } catch {
    return undefined;
  }
}
