import { randomBytes, randomFillSync } from 'node:crypto';

/**
 * A UUIDv7: time-ordered, so ids sort by creation and index well (RFC 9562).
 */
export function newId(now: number = Date.now()): string {
  const bytes = randomBytes(16);
  bytes[0] = Math.floor(now / 2 ** 40) & 0xff;
  bytes[1] = Math.floor(now / 2 ** 32) & 0xff;
  bytes[2] = (now >>> 24) & 0xff;
  bytes[3] = (now >>> 16) & 0xff;
  bytes[4] = (now >>> 8) & 0xff;
  bytes[5] = now & 0xff;
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const VARIANT = ['8', '9', 'a', 'b'];
/** Two hex digits per byte value, and the high digit alone. */
const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));
const HIGH = Array.from({ length: 256 }, (_, b) => (b >> 4).toString(16));

/**
 * UUIDv7s for hot paths (request and event ids): the random bits come from a buffer refilled
 * 4 KiB at a time, one `randomFillSync` per ~400 ids instead of one per id, which showed in the
 * gateway's profile; digits come from lookup tables and the time part is formatted once per
 * millisecond. Not for secrets: keys and tokens draw from `randomBytes` directly.
 */
export class IdSource {
  private readonly pool = Buffer.allocUnsafe(4000);
  private offset = this.pool.length;
  private lastMs = -1;
  private timePart = '';

  /** A new UUIDv7 for time `now` (epoch ms). */
  next(now: number = Date.now()): string {
    if (this.offset + 10 > this.pool.length) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    if (now !== this.lastMs) {
      const t = now.toString(16).padStart(12, '0');
      this.timePart = `${t.slice(0, 8)}-${t.slice(8, 12)}-7`;
      this.lastMs = now;
    }
    const p = this.pool;
    const o = this.offset;
    this.offset = o + 10;
    // 74 random bits: 12 after the version nibble, 2 in the variant nibble, 12 + 48 after it.
    return `${this.timePart}${HEX[p[o]]}${HIGH[p[o + 1]]}-${VARIANT[p[o + 1] & 3]}${HEX[p[o + 2]]}${HIGH[p[o + 3]]}-${HEX[p[o + 4]]}${HEX[p[o + 5]]}${HEX[p[o + 6]]}${HEX[p[o + 7]]}${HEX[p[o + 8]]}${HEX[p[o + 9]]}`;
  }
}
