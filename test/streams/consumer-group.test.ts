import { createMemoryBus } from '../../src/adapters/memory/memory-bus.js';
import { connectNatsBus } from '../../src/adapters/nats/nats-bus.js';
import { consumerGroupContract } from '../contracts/consumer-group.js';
import { testStream } from '../support/nats.js';
import { NATS_URL, serviceAvailable } from '../support/services.js';

consumerGroupContract('in-process bus', async () => ({ bus: createMemoryBus(), cleanup: async () => {} }));

const nats = await serviceAvailable('nats');
consumerGroupContract(
  'NATS JetStream',
  async () => {
    const test = testStream();
    const bus = await connectNatsBus({
      servers: NATS_URL,
      stream: test.stream,
      subjectPrefix: test.subjectPrefix,
    });
    return { bus, cleanup: test.drop };
  },
  nats,
);
