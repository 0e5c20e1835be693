import type { StoredEvent } from '../ports/event-log.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A stored event as a structured-mode CloudEvents JSON message body (store position and topic left out). */
export function encodeCloudEvent(event: StoredEvent): Uint8Array {
  const { position: _position, topic: _topic, ...cloudEvent } = event;
  return encoder.encode(JSON.stringify(cloudEvent));
}

/** Parses a structured-mode CloudEvents JSON body; undefined when it is not a JSON object with id and type. */
export function decodeCloudEvent(body: Uint8Array): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(decoder.decode(body)) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    const record = value as Record<string, unknown>;
    return typeof record.id === 'string' && typeof record.type === 'string' ? record : undefined;
  } catch {
    return undefined;
  }
}
