import type { Logger } from '../kernel/logger.js';
import type { Subscription } from '../ports/event-bus.js';
import type { EventLog } from '../ports/event-log.js';
import type { ModelLoader, Promotion } from './model-loader.js';

/** Reads a promotion from an `ai.model.promoted` event's data; undefined when malformed. */
export function promotionOf(value: unknown): Promotion | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const data = value as Record<string, unknown>;
  const version = Number(data.version);
  if (typeof data.model !== 'string' || !Number.isInteger(version) || version < 1) return undefined;
  return { model: data.model, version, alias: typeof data.alias === 'string' ? data.alias : 'production' };
}

/** Applies every `ai.model.promoted` published from now on to the models this server serves. */
export function followPromotions(
  events: EventLog,
  loader: ModelLoader,
  logger: Logger,
): Promise<Subscription> {
  return events.subscribe('ai.model.promoted', (event) => {
    const promotion = promotionOf(event.data);
    if (!promotion) {
      logger.warn({ event: event.id }, 'ignored a malformed ai.model.promoted event');
      return;
    }
    loader
      .onPromoted(promotion)
      .catch((error) => logger.error({ err: error, ...promotion }, 'promotion could not be applied'));
  });
}
