import { build, type JsHistogram } from 'hdr-histogram-js';

/** One valid inference as the windows take it: event time in ms since the epoch. */
export interface WindowInput {
  id: string;
  key: string;
  time: number;
  latencyMs: number;
  error: boolean;
  tokens: number;
  cost: number;
}

/** A closed window's aggregates. */
export interface WindowResult {
  key: string;
  start: number;
  end: number;
  count: number;
  errors: number;
  latencyMean: number;
  latencyP50: number;
  latencyP95: number;
  latencyP99: number;
  tokens: number;
  cost: number;
}

/** An event no window took: too late for the window it belongs to, or stamped too far ahead. */
export interface MissedEvent {
  eventId: string;
  key: string;
  time: number;
  reason: 'late' | 'future';
  /** The window it missed (late), or none (future). */
  windowStart?: number;
  windowEnd?: number;
  streamTime: number;
}

export interface WindowOptions {
  sizeMs: number;
  /** A new window starts this often; equal to sizeMs (the default) for tumbling windows. */
  advanceMs?: number;
  graceMs: number;
  /** Events stamped further than this ahead of the wall clock never advance stream time. */
  maxFutureMs: number;
  /** Open windows at most; the oldest close early beyond it (counted). */
  maxOpenWindows: number;
  /** Latency recorded in the histogram up to this (the outlier limit). */
  maxLatencyMs: number;
}

interface OpenWindow {
  key: string;
  start: number;
  end: number;
  count: number;
  errors: number;
  latencySum: number;
  tokens: number;
  cost: number;
  histogram: JsHistogram;
}

/** The aggregator's state as stored in a snapshot (JSON). */
export interface WindowState {
  streamTime: number;
  /** Each open window, its histogram's non-zero counts as flat (index, count) pairs. */
  windows: (Omit<OpenWindow, 'histogram'> & { histogram: number[] })[];
}

// Latencies are recorded in hundredths of a millisecond: HdrHistogram takes integers.
const SCALE = 100;

/**
 * Event-time windows per key (tumbling, or hopping with `advanceMs`), closed once stream time
 * (the newest event time seen) passes their end plus the grace period. Latency percentiles come
 * from an HdrHistogram per window (mergeable, bounded error, two significant digits). Nothing is
 * dropped silently: an event for a closed window, or one stamped too far ahead, is returned as missed.
 * Synchronous and free of I/O: the processor's hot path.
 */
export class WindowAggregator {
  private streamTime = Number.NEGATIVE_INFINITY;
  // Open windows grouped by end (all windows of one end close together), ends kept sorted.
  private readonly byEnd = new Map<number, Map<string, OpenWindow>>();
  private ends: number[] = [];
  private open = 0;
  private readonly advance: number;
  /** Windows closed early because too many were open. */
  evicted = 0;

  constructor(private readonly o: WindowOptions) {
    this.advance = Math.min(o.advanceMs ?? o.sizeMs, o.sizeMs);
  }

  /** The newest event time that advanced the stream (ms), or -Infinity before any. */
  get time(): number {
    return this.streamTime;
  }

  /** Open windows now. */
  get openWindows(): number {
    return this.open;
  }

  /**
   * Adds one event; returns the windows it missed (empty when every window of it took it).
   * `wallNow` is the wall clock, only to tell a far-future stamp.
   */
  add(input: WindowInput, wallNow: number, missed: MissedEvent[]): void {
    const t = input.time;
    if (t > wallNow + this.o.maxFutureMs) {
      missed.push({
        eventId: input.id,
        key: input.key,
        time: t,
        reason: 'future',
        streamTime: this.streamTime,
      });
      return;
    }
    if (t > this.streamTime) this.streamTime = t;
    // Windows start at multiples of the advance; those with start <= t < start + size take t.
    const last = Math.floor(t / this.advance) * this.advance;
    for (
      let start = last - (Math.ceil(this.o.sizeMs / this.advance) - 1) * this.advance;
      start <= last;
      start += this.advance
    ) {
      const end = start + this.o.sizeMs;
      if (t >= end) continue;
      if (end + this.o.graceMs <= this.streamTime) {
        missed.push({
          eventId: input.id,
          key: input.key,
          time: t,
          reason: 'late',
          windowStart: start,
          windowEnd: end,
          streamTime: this.streamTime,
        });
        continue;
      }
      this.windowFor(input.key, start, end).record(input, this.o.maxLatencyMs);
    }
  }

  /** Closes and returns every window whose end plus grace stream time has passed. */
  closeDue(out: WindowResult[]): void {
    while (this.ends.length > 0 && this.ends[0] + this.o.graceMs <= this.streamTime) this.closeOldest(out);
    while (this.open > this.o.maxOpenWindows && this.ends.length > 0) {
      this.evicted += this.byEnd.get(this.ends[0])?.size ?? 0;
      this.closeOldest(out);
    }
  }

  /** Closes every open window (a final flush; not used across restarts, which restore instead). */
  closeAll(out: WindowResult[]): void {
    while (this.ends.length > 0) this.closeOldest(out);
  }

  snapshot(): WindowState {
    const windows: WindowState['windows'] = [];
    for (const end of this.ends) {
      for (const w of this.byEnd.get(end)!.values()) {
        windows.push({
          key: w.key,
          start: w.start,
          end: w.end,
          count: w.count,
          errors: w.errors,
          latencySum: w.latencySum,
          tokens: w.tokens,
          cost: w.cost,
          histogram: (w as OpenWindowRecord).encoded(),
        });
      }
    }
    return { streamTime: Number.isFinite(this.streamTime) ? this.streamTime : -1, windows };
  }

  restore(state: WindowState): void {
    this.streamTime = state.streamTime < 0 ? Number.NEGATIVE_INFINITY : state.streamTime;
    for (const s of state.windows) {
      const w = this.windowFor(s.key, s.start, s.end);
      w.count = s.count;
      w.errors = s.errors;
      w.latencySum = s.latencySum;
      w.tokens = s.tokens;
      w.cost = s.cost;
      w.decode(s.histogram);
    }
  }

  private windowFor(key: string, start: number, end: number): OpenWindowRecord {
    let group = this.byEnd.get(end);
    if (!group) {
      group = new Map();
      this.byEnd.set(end, group);
      insertSorted(this.ends, end);
    }
    let w = group.get(key) as OpenWindowRecord | undefined;
    if (!w) {
      w = new OpenWindowRecord(key, start, end, this.o.maxLatencyMs);
      group.set(key, w);
      this.open += 1;
    }
    return w;
  }

  private closeOldest(out: WindowResult[]): void {
    const end = this.ends.shift()!;
    const group = this.byEnd.get(end)!;
    this.byEnd.delete(end);
    this.open -= group.size;
    for (const w of group.values()) out.push((w as OpenWindowRecord).result());
  }
}

class OpenWindowRecord implements OpenWindow {
  count = 0;
  errors = 0;
  latencySum = 0;
  tokens = 0;
  cost = 0;
  histogram: JsHistogram;
  // The snapshot form, kept until the next record: a commit re-encodes only changed windows.
  private cached: number[] | undefined;

  constructor(
    readonly key: string,
    readonly start: number,
    readonly end: number,
    maxLatencyMs: number,
  ) {
    this.histogram = build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: Math.ceil(maxLatencyMs * SCALE) + 1,
      numberOfSignificantValueDigits: 2,
      useWebAssembly: false,
    }) as JsHistogram;
  }

  /**
   * The counts as flat (index, count) pairs: a plain scan of the counts array. The library's
   * compressed encoding (deflate per histogram) cost about 0.15 ms a window, most of a commit.
   */
  encoded(): number[] {
    if (this.cached) return this.cached;
    const h = this.histogram;
    const out: number[] = [];
    for (let i = 0; i < h.countsArrayLength; i++) {
      const c = h.getCountAtIndex(i);
      if (c > 0) out.push(i, c);
    }
    this.cached = out;
    return out;
  }

  decode(pairs: number[]): void {
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      this.histogram.recordValueWithCount(this.histogram.valueFromIndex(pairs[i]), pairs[i + 1]);
    }
    this.cached = undefined;
  }

  record(input: WindowInput, maxLatencyMs: number): void {
    this.cached = undefined;
    this.count += 1;
    if (input.error) this.errors += 1;
    this.latencySum += input.latencyMs;
    this.tokens += input.tokens;
    this.cost += input.cost;
    this.histogram.recordValue(Math.round(Math.min(input.latencyMs, maxLatencyMs) * SCALE));
  }

  result(): WindowResult {
    const h = this.histogram;
    return {
      key: this.key,
      start: this.start,
      end: this.end,
      count: this.count,
      errors: this.errors,
      latencyMean: this.count > 0 ? this.latencySum / this.count : 0,
      latencyP50: h.getValueAtPercentile(50) / SCALE,
      latencyP95: h.getValueAtPercentile(95) / SCALE,
      latencyP99: h.getValueAtPercentile(99) / SCALE,
      tokens: this.tokens,
      cost: this.cost,
    };
  }
}

function insertSorted(list: number[], value: number): void {
  let i = list.length;
  while (i > 0 && list[i - 1] > value) i--;
  list.splice(i, 0, value);
}
