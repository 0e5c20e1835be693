import { badRequest } from '../../kernel/errors.js';

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const MAX_MS = 10 * 365 * 86_400_000;

/** Parses a key lifetime like `30d`, `12h`, `15m` or `3600s`; throws 400 `invalid_expiry` otherwise. */
export function parseExpiresIn(raw: string): number {
  const match = /^(\d{1,6})([smhd])$/.exec(raw.trim());
  const ms = match ? Number(match[1]) * UNITS[match[2]] : Number.NaN;
  if (!Number.isFinite(ms) || ms <= 0 || ms > MAX_MS) {
    throw badRequest(
      'invalid_expiry',
      `expiresIn must be a positive number with a unit s, m, h or d, at most 10 years (e.g. 30d); got '${raw}'`,
    );
  }
  return ms;
}
