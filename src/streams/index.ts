import { readSection } from '../kernel/config.js';
import type { ModuleDefinition } from '../kernel/module.js';
import { StreamsConfig } from './config.js';
import { ConsumerGroup } from './consumer-group.js';
import { Explorer, replaySubject } from './explorer.js';
import { evaluationCompletedHandler, inferenceCompletedHandler, trainingStartedHandler } from './handlers.js';
import { streamRoutes } from './routes.js';
import { StreamProcessor } from './stream-processor.js';
import { Webhooks } from './webhooks.js';
import { WindowAggregator } from './window-aggregator.js';

export { StreamsConfig } from './config.js';
export type { ConsumedEvent, EventHandler, HandlerContext } from './consumer-group.js';
export { ConsumerGroup } from './consumer-group.js';
export { Explorer } from './explorer.js';
export { LATE_SUBJECT, StreamProcessor } from './stream-processor.js';
export { signature, Webhooks } from './webhooks.js';
export type { WindowResult } from './window-aggregator.js';
export { WindowAggregator } from './window-aggregator.js';

declare module '../kernel/module.js' {
  interface ModuleApis {
    streams: { group: ConsumerGroup; processor?: StreamProcessor; explorer: Explorer };
  }
}

/**
 * Event processing: the `ai-system` consumer group with the platform's handlers (metrics and
 * alerts per inference, training bookkeeping, auto-deploy on evaluation), outgoing webhooks,
 * the windowed stream processor, and the explorer API.
 */
export const streamsModule: ModuleDefinition = {
  name: 'streams',
  deps: ['eventlog', 'events'],
  optionalDeps: ['registry'],
  requires: ['database', 'bus'],
  migrations: new URL('./migrations', import.meta.url).pathname,
  async init(ctx) {
    const config = readSection(StreamsConfig, ctx.config.streams, '/streams');
    const events = ctx.use('eventlog');
    const logger = ctx.logger.child({ component: 'streams' });
    const group = new ConsumerGroup({
      bus: ctx.bus,
      db: ctx.db,
      events,
      logger,
      metrics: ctx.metrics,
      group: config.group,
      subjects: [
        'ai.inference.completed',
        'ai.training.started',
        'ai.evaluation.completed',
        replaySubject(config.group, '>'),
      ],
      concurrency: config.concurrency,
      maxDeliveries: config.maxDeliveries,
      ackWaitMs: config.ackWaitMs,
      retryDelayMs: config.retryDelayMs,
    })
      .on(inferenceCompletedHandler({ metrics: ctx.metrics, latencyAlertMs: config.latencyAlertMs }))
      .on(trainingStartedHandler())
      .on(evaluationCompletedHandler({ registry: ctx.tryUse('registry'), ...config.autoDeploy }));
    const w = config.windows;
    const processor = w.enabled
      ? new StreamProcessor({
          bus: ctx.bus,
          db: ctx.db,
          events,
          clock: ctx.clock,
          logger,
          metrics: ctx.metrics,
          name: w.consumer,
          windows: new WindowAggregator(w),
          maxLatencyMs: w.maxLatencyMs,
          graceMs: w.graceMs,
          commitIntervalMs: w.commitIntervalMs,
          inFlight: w.inFlight,
        })
      : undefined;
    const webhooks = new Webhooks({
      events,
      db: ctx.db,
      clock: ctx.clock,
      logger,
      metrics: ctx.metrics,
      hooks: config.webhooks,
    });
    const explorer = new Explorer({ db: ctx.db, bus: ctx.bus, events, now: () => ctx.clock.now() });
    await ctx.http.register(streamRoutes(explorer, ctx.db), { prefix: '/api/v1/streams' });
    await group.start();
    await processor?.start();
    await webhooks.start();
    return {
      api: { group, processor, explorer },
      ready: () => ({ status: 'ready' }),
      stop: async () => {
        await webhooks.stop();
        await processor?.stop();
        await group.stop();
      },
    };
  },
};
