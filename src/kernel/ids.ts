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

/** The ASCII codes of the hex digits. */
const DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/**
 * UUIDv7s for hot paths (request and event ids): the random bits come from a buffer refilled
 * 4 KiB at a time, one `randomFillSync` per ~400 ids instead of one per id, which showed in the
 * gateway's profile. The id is written as ASCII into a buffer of its own and read out as one
 * flat string: joining its pieces made a rope of some twenty strings that every later use
 * (a map key, a COPY field) flattened again. The time part is written once per millisecond.
 * Not for secrets: keys and tokens draw from `randomBytes` directly.
 */
export class IdSource {
  private readonly pool = Buffer.allocUnsafe(4000);
  private offset = this.pool.length;
  private lastMs = -1;
  // xxxxxxxx-xxxx-7xxx-Vxxx-xxxxxxxxxxxx
  private readonly text = Buffer.from('00000000-0000-7000-8000-000000000000', 'latin1');

  /** A new UUIDv7 for time `now` (epoch ms). */
  next(now: number = Date.now()): string {
    if (this.offset + 10 > this.pool.length) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    const t = this.text;
    if (now !== this.lastMs) {
      // 48 bits of milliseconds: the 12 digits before the version, with a dash after the 8th.
      let ms = now;
      for (let i = 12; i >= 0; i--) {
        if (i === 8) continue;
        t[i] = DIGITS[ms % 16];
        ms = Math.floor(ms / 16);
      }
      this.lastMs = now;
    }
    const p = this.pool;
    const o = this.offset;
    this.offset = o + 10;
    // 74 random bits: 12 after the version nibble, 2 in the variant nibble, 12 + 48 after it.
    t[15] = DIGITS[p[o] >> 4];
    t[16] = DIGITS[p[o] & 15];
    t[17] = DIGITS[p[o + 1] >> 4];
    t[19] = DIGITS[8 | (p[o + 1] & 3)];
    t[20] = DIGITS[p[o + 2] >> 4];
    t[21] = DIGITS[p[o + 2] & 15];
    t[22] = DIGITS[p[o + 3] >> 4];
    for (let i = 0; i < 6; i++) {
      const b = p[o + 4 + i];
      t[24 + 2 * i] = DIGITS[b >> 4];
      t[25 + 2 * i] = DIGITS[b & 15];
    }
    return t.toString('latin1', 0, 36);
  }
}
