import { AimeshError } from '../../core/errors.js';
import type { EventBus } from '../../ports/event-bus.js';

export interface NatsBusOptions {
  servers: string;
  stream: string;
}

/** Connects the NATS JetStream EventBus. */
export async function connectNatsBus(_options: NatsBusOptions): Promise<EventBus> {
  throw new AimeshError('not_implemented', 501, 'the NATS JetStream bus adapter is not built yet');
}
