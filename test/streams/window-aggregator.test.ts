import { describe, expect, it } from 'vitest';
import {
  type MissedEvent,
  WindowAggregator,
  type WindowResult,
} from '../../src/streams/window-aggregator.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const options = {
  sizeMs: 5_000,
  graceMs: 2_000,
  maxFutureMs: 60_000,
  maxOpenWindows: 1_000,
  maxLatencyMs: 10_000,
};
const input = (id: string, at: number, latencyMs = 10, key = 'u:m') => ({
  id,
  key,
  time: T0 + at,
  latencyMs,
  error: false,
  tokens: 1,
  cost: 0.5,
});

function run(w: WindowAggregator, events: ReturnType<typeof input>[], wallNow = T0 + 1_000_000) {
  const missed: MissedEvent[] = [];
  const closed: WindowResult[] = [];
  for (const e of events) {
    w.add(e, wallNow, missed);
    w.closeDue(closed);
  }
  return { missed, closed };
}

describe('event-time windows', () => {
  it('counts an event late within the grace period in the window it belongs to', () => {
    const w = new WindowAggregator(options);
    const { missed, closed } = run(w, [
      input('a', 1_000),
      input('b', 6_500),
      input('late', 4_000),
      input('c', 7_000),
    ]);
    expect(missed).toEqual([]);
    expect(closed.map((r) => [r.start - T0, r.count])).toEqual([[0, 2]]);
  });

  it('returns an event later than the grace period as missed, with the window it missed', () => {
    const w = new WindowAggregator(options);
    const { missed, closed } = run(w, [input('a', 1_000), input('b', 7_500), input('late', 4_000)]);
    expect(closed.map((r) => r.count)).toEqual([1]);
    expect(missed).toEqual([
      {
        eventId: 'late',
        key: 'u:m',
        time: T0 + 4_000,
        reason: 'late',
        windowStart: T0,
        windowEnd: T0 + 5_000,
        streamTime: T0 + 7_500,
      },
    ]);
  });

  it('does not let an event stamped far in the future advance stream time or close open windows', () => {
    const w = new WindowAggregator(options);
    const wall = T0 + 3_000;
    const { missed, closed } = run(
      w,
      [input('a', 1_000), input('future', 3_600_000), input('b', 2_000)],
      wall,
    );
    expect(closed).toEqual([]);
    expect(w.time).toBe(T0 + 2_000);
    expect(missed.map((m) => [m.eventId, m.reason])).toEqual([['future', 'future']]);
    const rest: WindowResult[] = [];
    w.closeAll(rest);
    expect(rest.map((r) => r.count)).toEqual([2]);
  });

  it('aggregates count, errors, mean and percentiles from an HdrHistogram, tokens and cost', () => {
    const w = new WindowAggregator(options);
    const events = Array.from({ length: 100 }, (_, i) => ({
      ...input(`e${i}`, 10 + i, i + 1),
      error: i % 10 === 0,
    }));
    run(w, events);
    const closed: WindowResult[] = [];
    w.closeAll(closed);
    const [r] = closed;
    expect(r).toMatchObject({ key: 'u:m', count: 100, errors: 10, tokens: 100, cost: 50 });
    expect(r.latencyMean).toBeCloseTo(50.5, 6);
    // Two significant digits: within 1 % of the exact order statistics.
    expect(r.latencyP50).toBeGreaterThanOrEqual(49.5);
    expect(r.latencyP50).toBeLessThanOrEqual(50.6);
    expect(r.latencyP95).toBeCloseTo(95, 0);
    expect(r.latencyP99).toBeCloseTo(99, 0);
  });

  it('keeps keys apart and, hopping, puts an event in every window that covers it', () => {
    const w = new WindowAggregator({ ...options, advanceMs: 2_500 });
    run(w, [input('a', 3_000, 10, 'u1:m'), input('b', 3_000, 10, 'u2:m')]);
    const closed: WindowResult[] = [];
    w.closeAll(closed);
    expect(closed.map((r) => [r.key, r.start - T0, r.end - T0]).sort()).toEqual(
      [
        ['u1:m', 0, 5_000],
        ['u1:m', 2_500, 7_500],
        ['u2:m', 0, 5_000],
        ['u2:m', 2_500, 7_500],
      ].sort(),
    );
  });

  it('restores from its snapshot to the same results as an uninterrupted run', () => {
    const events = Array.from({ length: 400 }, (_, i) =>
      input(`e${i}`, i * 40 + (i % 7) * 13, (i * 37) % 900, `u${i % 3}:m`),
    );
    const whole = new WindowAggregator(options);
    const all = run(whole, events);
    whole.closeAll(all.closed);

    const first = new WindowAggregator(options);
    const a = run(first, events.slice(0, 213));
    const resumed = new WindowAggregator(options);
    resumed.restore(JSON.parse(JSON.stringify(first.snapshot())));
    const b = run(resumed, events.slice(213));
    resumed.closeAll(b.closed);
    expect([...a.closed, ...b.closed]).toEqual(all.closed);
    expect([...a.missed, ...b.missed]).toEqual(all.missed);
  });

  it('closes the oldest windows early beyond the open-window bound, and counts them', () => {
    const w = new WindowAggregator({ ...options, maxOpenWindows: 2 });
    const { closed } = run(w, [
      input('a', 100, 1, 'k1'),
      input('b', 100, 1, 'k2'),
      input('c', 5_100, 1, 'k3'),
    ]);
    expect(closed.map((r) => r.key).sort()).toEqual(['k1', 'k2']);
    expect(w.evicted).toBe(2);
  });
});
