import { randomFillSync } from 'node:crypto';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);

/**
 * Random hex for span and trace ids, drawn from a buffer refilled 4 KiB at a time: one
 * `randomFillSync` per ~500 spans instead of one per request, which showed in the profile.
 */
export class RandomHexPool {
  private readonly pool = Buffer.allocUnsafe(4096);
  private offset = this.pool.length;

  /** `bytes` random bytes as lower-case hex. */
  hex(bytes: number): string {
    if (this.offset + bytes > this.pool.length) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    const out = this.pool.toString('hex', this.offset, this.offset + bytes);
    this.offset += bytes;
    return out;
  }
}

/**
 * The W3C `traceparent` to send upstream: the caller's trace continued with a new span id for
 * the gateway's hop, or a new sampled trace when the caller sent none (or a malformed one).
 */
export function childTraceparent(incoming: string | string[] | undefined, random: RandomHexPool): string {
  const text = Array.isArray(incoming) ? incoming[0] : incoming;
  const match = text ? TRACEPARENT.exec(text.trim().toLowerCase()) : null;
  const span = random.hex(8);
  if (match && match[1] !== ZERO_TRACE) return `00-${match[1]}-${span}-${match[3]}`;
  return `00-${random.hex(16)}-${span}-01`;
}
