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

describe('event-time windows at their boundaries', () => {
  const drain = (w: WindowAggregator) => {
    const out: WindowResult[] = [];
    w.closeAll(out);
    return out;
  };

  it('takes an event stamped exactly maxFutureMs ahead, and misses one a millisecond further', () => {
    const w = new WindowAggregator(options);
    const wall = T0;
    const { missed } = run(w, [input('edge', 60_000), input('beyond', 60_001)], wall);
    expect(missed.map((m) => [m.eventId, m.reason, m.streamTime - T0])).toEqual([
      ['beyond', 'future', 60_000],
    ]);
    expect(w.time).toBe(T0 + 60_000);
    expect(drain(w).map((r) => [r.start - T0, r.count])).toEqual([[60_000, 1]]);
  });

  it('leaves out of a hopping window an event exactly at its end, and one past it', () => {
    // Size 5 s, advance 2 s: windows start at multiples of 2 s, so [0, 5 s) ends between starts.
    const w = new WindowAggregator({ ...options, advanceMs: 2_000 });
    run(w, [input('at-end', 5_000), input('past-end', 5_500)]);
    const windows = drain(w).map((r) => [r.start - T0, r.end - T0, r.count]);
    expect(windows).toEqual([
      [2_000, 7_000, 2],
      [4_000, 9_000, 2],
    ]);
  });

  it('misses an event whose window ends exactly grace before stream time, and closes that window then', () => {
    const w = new WindowAggregator(options);
    const { missed, closed } = run(w, [input('a', 1_000), input('b', 7_000), input('late', 4_999)]);
    expect(closed.map((r) => [r.start - T0, r.count])).toEqual([[0, 1]]);
    expect(missed.map((m) => [m.eventId, m.reason, m.windowEnd! - T0])).toEqual([['late', 'late', 5_000]]);
  });

  it('keeps a window open a millisecond before end plus grace', () => {
    const w = new WindowAggregator(options);
    const { missed, closed } = run(w, [input('a', 1_000), input('b', 6_999), input('late', 4_999)]);
    expect(missed).toEqual([]);
    expect(closed).toEqual([]);
    expect(w.openWindows).toBe(2);
    expect(drain(w).map((r) => [r.start - T0, r.count])).toEqual([
      [0, 2],
      [5_000, 1],
    ]);
  });

  it('closes windows in end order when an older window opens after a newer one', () => {
    const w = new WindowAggregator(options);
    // Key B's window [0, 5 s) opens within grace after key A's [5 s, 10 s).
    const { closed } = run(w, [
      input('a', 6_000, 10, 'A'),
      input('b', 4_000, 10, 'B'),
      input('c', 7_000, 10, 'A'),
    ]);
    expect(closed.map((r) => [r.key, r.start - T0])).toEqual([['B', 0]]);
    expect(w.openWindows).toBe(1);
    // A third end between the two: sorted into the middle.
    const w2 = new WindowAggregator({ ...options, graceMs: 20_000 });
    run(w2, [input('a', 16_000, 10, 'A'), input('b', 1_000, 10, 'B'), input('c', 6_000, 10, 'C')]);
    expect(drain(w2).map((r) => r.key)).toEqual(['B', 'C', 'A']);
  });

  it('keeps exactly maxOpenWindows open, and closes the oldest one beyond', () => {
    const w = new WindowAggregator({ ...options, graceMs: 60_000, maxOpenWindows: 2 });
    const { closed } = run(w, [input('a', 100, 1, 'k1'), input('b', 5_100, 1, 'k1')]);
    expect(closed).toEqual([]);
    expect(w.openWindows).toBe(2);
    expect(w.evicted).toBe(0);
    const more = run(w, [input('c', 10_100, 1, 'k1')]);
    expect(more.closed.map((r) => r.start - T0)).toEqual([0]);
    expect(w.evicted).toBe(1);
    expect(w.openWindows).toBe(2);
  });

  it('with a bound below one, closes every window and stops once none is open', () => {
    const w = new WindowAggregator({ ...options, maxOpenWindows: -1 });
    const closed: WindowResult[] = [];
    w.closeDue(closed);
    expect(closed).toEqual([]);
    const r = run(w, [input('a', 100), input('b', 5_100)]);
    expect(r.closed.map((x) => x.start - T0)).toEqual([0, 5_000]);
    expect(w.evicted).toBe(2);
    expect(w.openWindows).toBe(0);
  });

  it('snapshots stream time -1 before any event and restores it as no stream time', () => {
    const fresh = new WindowAggregator(options);
    expect(fresh.time).toBe(Number.NEGATIVE_INFINITY);
    const snap = fresh.snapshot();
    expect(snap).toEqual({ streamTime: -1, windows: [] });
    const w = new WindowAggregator(options);
    w.restore(snap);
    expect(w.time).toBe(Number.NEGATIVE_INFINITY);
    // Any first event then advances stream time, even one at the epoch.
    run(w, [{ ...input('a', 0), time: 0 }], 0);
    expect(w.time).toBe(0);
  });

  it('restores stream time 0 as 0 and a positive one as itself', () => {
    const zero = new WindowAggregator(options);
    zero.restore({ streamTime: 0, windows: [] });
    expect(zero.time).toBe(0);
    expect(zero.snapshot().streamTime).toBe(0);
    const later = new WindowAggregator(options);
    later.restore({ streamTime: T0 + 7_500, windows: [] });
    expect(later.time).toBe(T0 + 7_500);
    const { missed } = run(later, [input('late', 4_000)]);
    expect(missed.map((m) => m.reason)).toEqual(['late']);
  });

  it('reports a restored window with no events with mean 0, not NaN', () => {
    const w = new WindowAggregator(options);
    w.restore({
      streamTime: T0,
      windows: [
        {
          key: 'k',
          start: T0,
          end: T0 + 5_000,
          count: 0,
          errors: 0,
          latencySum: 0,
          tokens: 0,
          cost: 0,
          histogram: [],
        },
      ],
    });
    expect(w.openWindows).toBe(1);
    const [r] = drain(w);
    expect(r).toMatchObject({ key: 'k', count: 0, latencyMean: 0, latencyP50: 0 });
  });

  it('records latency in hundredths with two significant digits, capped at maxLatencyMs', () => {
    const w = new WindowAggregator({ ...options, maxLatencyMs: 100 });
    run(w, [input('a', 100, 12.345), input('b', 200, 250), input('c', 300, 250)]);
    const [r] = drain(w);
    // 250 ms is recorded as the 100 ms limit, whose bucket at two digits reports 100.47 ms.
    expect(r.latencyP50).toBeCloseTo(100.47, 6);
    expect(r.latencyP99).toBeCloseTo(100.47, 6);
    expect(r.latencyMean).toBeCloseTo((12.345 + 500) / 3, 9);
    // 1234.5 hundredths rounds to 1235; at two digits its bucket reports 12.39 ms.
    const low = new WindowAggregator(options);
    run(low, [input('a', 100, 12.345)]);
    expect(drain(low)[0].latencyP50).toBeCloseTo(12.39, 6);
  });

  it('snapshots the histogram anew after more events, and restores it exactly', () => {
    const w = new WindowAggregator(options);
    run(w, [input('a', 100, 10)]);
    const first = w.snapshot().windows[0].histogram;
    expect(first).toHaveLength(2);
    expect(first[1]).toBe(1);
    run(w, [input('b', 200, 10), input('c', 300, 500)]);
    const second = w.snapshot();
    expect(second.windows[0].histogram).toHaveLength(4);
    expect(second.windows[0].histogram[1]).toBe(2);
    const restored = new WindowAggregator(options);
    restored.restore(JSON.parse(JSON.stringify(second)));
    expect(restored.snapshot()).toEqual(second);
    expect(drain(restored)).toEqual(drain(w));
  });

  it('reuses the encoded histogram of a window unchanged since the last snapshot', () => {
    const w = new WindowAggregator(options);
    run(w, [input('a', 100, 10), input('b', 5_100, 10)]);
    const before = w.snapshot().windows.map((s) => s.histogram);
    run(w, [input('c', 5_200, 20)]);
    const after = w.snapshot().windows.map((s) => s.histogram);
    expect(after[0]).toBe(before[0]);
    expect(after[1]).not.toBe(before[1]);
    expect(after[1]).toHaveLength(4);
  });

  it('ignores a trailing index without its count in a restored histogram', () => {
    const source = new WindowAggregator(options);
    run(source, [input('a', 100, 10), input('b', 200, 30)]);
    const state = source.snapshot();
    const pairs = state.windows[0].histogram;
    const whole = new WindowAggregator(options);
    whole.restore(state);
    const cut = new WindowAggregator(options);
    cut.restore({ ...state, windows: [{ ...state.windows[0], histogram: [...pairs, pairs[0]] }] });
    expect(cut.snapshot()).toEqual(whole.snapshot());
    const out: WindowResult[] = [];
    cut.closeAll(out);
    expect(out[0].latencyP99).toBeCloseTo(30, 0);
  });
});
