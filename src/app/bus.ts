import { createMemoryBus } from '../adapters/memory/memory-bus.js';
import { connectNatsBus } from '../adapters/nats/nats-bus.js';
import type { Config } from '../kernel/config.js';
import type { EventBus } from '../ports/event-bus.js';

/** Opens the event bus the config selects. */
export function openBus(config: Config['bus']): Promise<EventBus> {
  return config.adapter === 'nats'
    ? connectNatsBus({ servers: config.servers, stream: config.stream, subjectPrefix: config.subjectPrefix })
    : Promise.resolve(createMemoryBus());
}
