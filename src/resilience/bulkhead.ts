/** How urgent a call is; under saturation `low` is shed first. */
export type Priority = 'low' | 'normal' | 'high';

/** Reads `X-Priority` (`low` | `normal` | `high`, or 0-9 where < 3 is low and > 6 high); default normal. */
export function parsePriority(value: string | string[] | undefined): Priority {
  const text = (Array.isArray(value) ? value[0] : value)?.trim().toLowerCase();
  if (!text) return 'normal';
  if (text === 'low' || text === 'high') return text;
  const n = Number(text);
  if (Number.isInteger(n) && n >= 0 && n <= 9) return n < 3 ? 'low' : n > 6 ? 'high' : 'normal';
  return 'normal';
}

/**
 * A bulkhead: at most `maxConcurrent` calls in flight to one upstream, so one slow upstream
 * cannot hold every socket and worker. Shedding is by priority: `low` calls are refused once
 * `lowShare` of the slots are busy, `normal` ones when all are, and `high` ones may use a
 * reserve of `highReserve` extra slots.
 */
export class Bulkhead {
  private active = 0;

  constructor(
    readonly maxConcurrent: number,
    private readonly lowShare = 0.8,
    private readonly highReserve = Math.max(1, Math.ceil(maxConcurrent * 0.1)),
  ) {}

  /** Takes a slot; false when the call must be shed. */
  tryEnter(priority: Priority): boolean {
    const limit =
      priority === 'low'
        ? Math.floor(this.maxConcurrent * this.lowShare)
        : priority === 'high'
          ? this.maxConcurrent + this.highReserve
          : this.maxConcurrent;
    if (this.active >= limit) return false;
    this.active += 1;
    return true;
  }

  /** Returns a slot. */
  leave(): void {
    if (this.active > 0) this.active -= 1;
  }

  /** Calls in flight. */
  inFlight(): number {
    return this.active;
  }

  /** True when even a normal call would be refused. */
  saturated(): boolean {
    return this.active >= this.maxConcurrent;
  }
}
