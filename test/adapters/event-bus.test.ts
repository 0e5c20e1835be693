import { createMemoryBus } from '../../src/adapters/memory/memory-bus.js';
import { eventBusContract } from '../contracts/event-bus.js';
import { natsTestBus } from '../support/nats.js';
import { serviceAvailable } from '../support/services.js';

eventBusContract('memory', async () => ({ bus: createMemoryBus(), cleanup: async () => {} }));

const nats = await serviceAvailable('nats');
eventBusContract('nats jetstream', natsTestBus, nats);
