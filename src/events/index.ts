import { readSection } from '../kernel/config.js';
import { newId } from '../kernel/ids.js';
import type { ModuleDefinition } from '../kernel/module.js';
import { EventsConfig } from './config.js';
import { LiveStream } from './live-stream.js';
import { OutboxRelay } from './outbox-relay.js';
import { eventRoutes } from './routes.js';

export type { EventTypeDefinition } from './catalogue.js';
export { builtInEventTypes, DEFAULT_TOPIC, EventCatalogue } from './catalogue.js';
export { decodeCloudEvent, encodeCloudEvent } from './cloud-event-json.js';
export type { AppendResult, EventQuery, NewEvent, StoredEvent } from './event-store.js';
export { EventStore } from './event-store.js';
export { OutboxRelay } from './outbox-relay.js';

/**
 * The events module: the events HTTP API, the outbox relay (store → bus, one active across
 * processes) and the live stream. The store itself is shared by every module of the process.
 */
export const eventsModule: ModuleDefinition = {
  name: 'events',
  deps: [],
  migrations: new URL('./migrations', import.meta.url).pathname,
  async init(ctx) {
    const config = readSection(EventsConfig, ctx.config.events, '/events');
    const relay = config.relay.enabled
      ? new OutboxRelay({
          store: ctx.events,
          db: ctx.db,
          bus: ctx.bus,
          clock: ctx.clock,
          random: ctx.random,
          logger: ctx.logger.child({ component: 'relay' }),
          metrics: ctx.metrics,
          owner: newId(ctx.clock.now()),
          ...config.relay,
        })
      : undefined;
    const live = new LiveStream({
      bus: ctx.bus,
      logger: ctx.logger,
      metrics: ctx.metrics,
      ...config.stream,
    });
    await live.start();
    // Live streams never finish on their own; end them before the server waits for open requests.
    ctx.http.addHook('preClose', async () => live.stop());
    await ctx.http.register(eventRoutes(ctx.events, live), { prefix: '/api/v1/events' });
    relay?.start();
    return {
      ready: () => ({
        status: 'ready',
        detail: relay ? (relay.isLeader ? 'relay active' : 'relay standing by') : 'relay disabled',
      }),
      stop: async (deadline) => {
        await live.stop();
        await relay?.stop(deadline);
      },
    };
  },
};
