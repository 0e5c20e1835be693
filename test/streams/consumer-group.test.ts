import { createMemoryBus } from '../../src/adapters/memory/memory-bus.js';
import { consumerGroupContract } from '../contracts/consumer-group.js';
import { natsTestBus } from '../support/nats.js';
import { serviceAvailable } from '../support/services.js';

consumerGroupContract('in-process bus', async () => ({ bus: createMemoryBus(), cleanup: async () => {} }));

const nats = await serviceAvailable('nats');
consumerGroupContract('NATS JetStream', natsTestBus, nats);
