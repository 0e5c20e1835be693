import type { ModuleDefinition } from '../core/module.js';
import { eventRoutes } from './routes.js';

export type { EventTypeDefinition } from './catalogue.js';
export { builtInEventTypes, DEFAULT_TOPIC, EventCatalogue } from './catalogue.js';
export type { AppendResult, EventQuery, NewEvent, StoredEvent } from './event-store.js';
export { EventStore } from './event-store.js';

/** The events module: the events HTTP API (the store itself is shared by every module of the process). */
export const eventsModule: ModuleDefinition = {
  name: 'events',
  deps: [],
  migrations: new URL('./migrations', import.meta.url).pathname,
  async init(ctx) {
    await ctx.http.register(eventRoutes(ctx.events), { prefix: '/api/v1/events' });
    return {
      ready: () => ({ status: 'ready' }),
      stop: async () => {},
    };
  },
};
