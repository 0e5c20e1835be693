import { readSection } from '../kernel/config.js';
import { newId } from '../kernel/ids.js';
import type { ModuleDefinition } from '../kernel/module.js';
import { EventCatalogue } from './catalogue.js';
import { EventsConfig } from './config.js';
import { EventStore } from './event-store.js';
import { LiveStream } from './live-stream.js';
import { OutboxRelay } from './outbox-relay.js';
import { eventRoutes } from './routes.js';

export type { EventTypeDefinition } from './catalogue.js';
export { builtInEventTypes, DEFAULT_TOPIC, EventCatalogue } from './catalogue.js';
export { decodeCloudEvent, encodeCloudEvent } from './cloud-event-json.js';
export { EventsConfig } from './config.js';
export { EventStore } from './event-store.js';
export { OutboxRelay } from './outbox-relay.js';

declare module '../kernel/module.js' {
  interface ModuleApis {
    /** The EventLog port (src/ports/event-log.ts), implemented on the database and the bus. */
    eventlog: EventStore;
  }
}

/**
 * The event log: the store every module records into and reads from (the EventLog port). No
 * HTTP and no relay of its own, so a process that only emits events (a gateway) runs just this.
 * Stopped after every module that uses it, it stores what they queued last.
 */
export const eventLogModule: ModuleDefinition = {
  name: 'eventlog',
  deps: [],
  // No `requires`: queued events wait out a database outage in memory (bounded); appends fail with 503.
  async init(ctx) {
    const config = readSection(EventsConfig, ctx.config.events, '/events');
    const store = new EventStore({
      db: ctx.db,
      bus: ctx.bus,
      catalogue: new EventCatalogue(),
      clock: ctx.clock,
      logger: ctx.logger,
      metrics: ctx.metrics,
      ...config.append,
    });
    return {
      api: store,
      ready: () => ({ status: 'ready' }),
      stop: () => store.close(),
    };
  },
};

/**
 * The events module: the events HTTP API, the outbox relay (store → bus, one active across
 * processes) and the live stream, over the event log.
 */
export const eventsModule: ModuleDefinition = {
  name: 'events',
  deps: ['eventlog'],
  requires: ['database', 'bus'],
  // The event tables' migrations, recorded under this name since before the log was a module.
  migrations: new URL('./migrations', import.meta.url).pathname,
  async init(ctx) {
    const config = readSection(EventsConfig, ctx.config.events, '/events');
    const store = ctx.use('eventlog');
    const relay = config.relay.enabled
      ? new OutboxRelay({
          store,
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
    await ctx.http.register(eventRoutes(store, live), { prefix: '/api/v1/events' });
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
