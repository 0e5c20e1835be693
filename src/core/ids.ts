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

/**
 * UUIDv7s for hot paths (request and event ids): the random bits come from a buffer refilled
 * 4 KiB at a time, one `randomFillSync` per ~400 ids instead of one per id, which showed in the
 * gateway's profile. Not for secrets: keys and tokens draw from `randomBytes` directly.
 */
export class IdSource {
  private readonly pool = Buffer.allocUnsafe(4000);
  private offset = this.pool.length;

  /** A new UUIDv7 for time `now` (epoch ms). */
  next(now: number = Date.now()): string {
    if (this.offset + 10 > this.pool.length) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    // 74 random bits: 12 after the version nibble, 2 in the variant nibble, 12 + 48 after it.
    const r = this.pool.toString('hex', this.offset, this.offset + 10);
    this.offset += 10;
    const t = now.toString(16).padStart(12, '0');
    return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${r.slice(0, 3)}-${VARIANT[Number.parseInt(r[3], 16) & 3]}${r.slice(4, 7)}-${r.slice(8)}`;
  }
}
