import type { Logger } from '../kernel/logger.js';
import type { EventBus, Subscription } from '../ports/event-bus.js';
import type { ModelLoader, Promotion } from './model-loader.js';

/** Reads a promotion from a bus message: a stored CloudEvent (data inside) or the bare data. */
export function parsePromotion(bytes: Uint8Array): Promotion | undefined {
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

/** Applies every `ai.model.promoted` published from now on to the models this server serves. */
export function followPromotions(bus: EventBus, loader: ModelLoader, logger: Logger): Promise<Subscription> {
  return bus.subscribe('ai.model.promoted', (message) => {
    const promotion = parsePromotion(message.data);
    if (!promotion) {
      logger.warn({ subject: message.subject }, 'ignored a malformed ai.model.promoted message');
      return;
    }
    loader
      .onPromoted(promotion)
      .catch((error) => logger.error({ err: error, ...promotion }, 'promotion could not be applied'));
  });
}
