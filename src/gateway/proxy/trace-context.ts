import { randomBytes } from 'node:crypto';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The W3C `traceparent` to send upstream: the caller's trace continued with a new span id for
 * the gateway's hop, or a new sampled trace when the caller sent none (or a malformed one).
 */
export function childTraceparent(incoming: string | string[] | undefined): string {
  const text = Array.isArray(incoming) ? incoming[0] : incoming;
  const match = text ? TRACEPARENT.exec(text.trim().toLowerCase()) : null;
  const span = randomBytes(8).toString('hex');
  if (match && match[1] !== '0'.repeat(32)) return `00-${match[1]}-${span}-${match[3]}`;
  return `00-${randomBytes(16).toString('hex')}-${span}-01`;
}
