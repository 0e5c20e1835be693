import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../kernel/logger.js';
import type { Database } from '../ports/database.js';
import type { BusMessage, EventBus, Subscription } from '../ports/event-bus.js';
import type { NewEvent } from '../ports/event-log.js';
import { type EventSink, parse } from './consumer-group.js';
import type {
  MissedEvent,
  WindowAggregator,
  WindowInput,
  WindowResult,
  WindowState,
} from './window-aggregator.js';

export const LATE_SUBJECT = 'ai.metrics.late';
const SOURCE = '/aimesh/streams/windows';

export interface StreamProcessorOptions {
  bus: EventBus;
  db: Database;
  events: EventSink;
  clock: Clock;
  logger: Logger;
  metrics?: Registry;
  windows: WindowAggregator;
  /** Durable consumer and snapshot name. */
  name: string;
  maxLatencyMs: number;
  /** The windows' grace period, for the lag past a window's close. */
  graceMs: number;
  commitIntervalMs: number;
  /** Events held unacknowledged between commits; a commit starts early when half are held. */
  inFlight: number;
  ackWaitMs?: number;
  /** Told of every window result once committed (tests, the benchmark). */
  onWindow?(result: WindowResult, committedAt: number): void;
}

interface Snapshot {
  windows: WindowState;
  /** Ids of the last two committed batches: a redelivery of one (an ack lost in a crash) is skipped. */
  recent: string[];
  counts: Record<string, number>;
  /** Written by a stop that committed everything received: nothing comes back to hold for. */
  clean?: boolean;
}

type Outcome = 'accepted' | 'invalid' | 'outlier' | 'late' | 'future' | 'duplicate';

/**
 * The stream processor: consumes `ai.inference.completed`, drops invalid events and latency
 * outliers (counted by reason), aggregates per `userId:modelId` in event-time windows, and
 * commits every `commitIntervalMs`: closed windows (stored, and appended as `ai.metrics.window`),
 * missed events (appended as `ai.metrics.late`), and a snapshot of the open windows, in one
 * transaction; only then are the batch's events acknowledged. A restart restores the snapshot
 * and receives again exactly the unacknowledged events, so no window loses or double-counts one.
 */
export class StreamProcessor {
  private subscription: Subscription | undefined;
  private pending: BusMessage[] = [];
  // Resolved once the matching pending message is acknowledged: the bus counts a message as
  // in flight until then, so `inFlight` bounds what JetStream hands out (not only handler calls).
  private settlers: (() => void)[] = [];
  private batchIds: string[] = [];
  private previousIds: string[] = [];
  private readonly recent = new Set<string>();
  private readonly results: WindowResult[] = [];
  private readonly missed: MissedEvent[] = [];
  private readonly counts: Record<string, number> = {};
  private timer: NodeJS.Timeout | undefined;
  private committing: Promise<void> | undefined;
  private commitScheduled = false;
  // While resuming from a snapshot: events received, applied only once the ack wait has passed.
  private held: (WindowInput | undefined)[] | undefined;
  private releaseTimer: NodeJS.Timeout | undefined;
  private readonly outcomes?: Counter;
  private readonly lag?: Histogram;
  private readonly closed?: Counter;

  constructor(private readonly o: StreamProcessorOptions) {
    if (o.metrics) {
      const self = this;
      this.outcomes = new Counter({
        name: 'aimesh_stream_events_total',
        help: 'Events the stream processor received, by outcome (accepted, invalid, outlier, late, future, duplicate).',
        labelNames: ['outcome'],
        registers: [o.metrics],
      });
      this.closed = new Counter({
        name: 'aimesh_stream_windows_closed_total',
        help: 'Windows closed and committed.',
        registers: [o.metrics],
      });
      this.lag = new Histogram({
        name: 'aimesh_stream_window_lag_ms',
        help: "Wall time from a window's close (end plus grace) to its committed result.",
        buckets: [5, 10, 25, 50, 100, 250, 500, 1_000, 5_000],
        registers: [o.metrics],
      });
      new Gauge({
        name: 'aimesh_stream_open_windows',
        help: 'Windows open now.',
        registers: [o.metrics],
        collect() {
          this.set(self.o.windows.openWindows);
        },
      });
      new Gauge({
        name: 'aimesh_stream_time_lag_seconds',
        help: 'Wall clock minus stream time (the newest event time seen): how far behind the processor runs.',
        registers: [o.metrics],
        collect() {
          const t = self.o.windows.time;
          this.set(Number.isFinite(t) ? Math.max(0, (self.o.clock.now() - t) / 1000) : 0);
        },
      });
      new Gauge({
        name: 'aimesh_stream_in_flight_events',
        help: 'Events received and not yet committed (unacknowledged on the bus).',
        registers: [o.metrics],
        collect() {
          this.set(self.pending.length);
        },
      });
      for (const name of ['count', 'errors', 'latency_p99_ms'] as const) {
        new Gauge({
          name: `aimesh_stream_last_window_${name}`,
          help: `The last committed window's ${name.replace('_', ' ')}, summed (count, errors) or the highest (p99) over its keys.`,
          registers: [o.metrics],
          collect() {
            this.set(self.lastWindow[name]);
          },
        });
      }
    }
  }

  private lastWindow = { count: 0, errors: 0, latency_p99_ms: 0 };

  /** Counts by outcome since the snapshot history began. */
  get outcomeCounts(): Readonly<Record<string, number>> {
    return this.counts;
  }

  async start(): Promise<void> {
    const stored = await this.o.db.query<{ state: Snapshot | string }>(
      'SELECT state FROM aimesh_stream_snapshots WHERE name = $1',
      [this.o.name],
    );
    const raw = stored.rows[0]?.state;
    if (raw) {
      const snapshot = (typeof raw === 'string' ? JSON.parse(raw) : raw) as Snapshot;
      this.o.windows.restore(snapshot.windows);
      for (const id of snapshot.recent) this.recent.add(id);
      this.previousIds = snapshot.recent;
      Object.assign(this.counts, snapshot.counts);
      Object.assign(this.published, snapshot.counts);
      // The events a stopped or crashed predecessor had not committed come back only after
      // the ack wait, behind newer ones: held until then and applied in event-time order, they
      // land in the windows an uninterrupted run would have put them in, not among the late.
      if (!snapshot.clean) this.held = [];
      if (this.held) this.releaseTimer = setTimeout(() => this.release(), this.o.ackWaitMs ?? 30_000);
      this.releaseTimer?.unref();
      this.o.logger.info({ open: this.o.windows.openWindows }, 'stream processor resumed from its snapshot');
    }
    this.timer = setInterval(() => void this.commit(), this.o.commitIntervalMs);
    this.timer.unref();
    this.subscription = await this.o.bus.consume(
      {
        durable: this.o.name,
        subjects: ['ai.inference.completed'],
        concurrency: this.o.inFlight,
        ackWaitMs: this.o.ackWaitMs ?? 30_000,
      },
      (message) => new Promise<void>((settled) => this.receive(message, settled)),
    );
  }

  /** Stops consuming and commits what was received (open windows stay open, in the snapshot). */
  async stop(): Promise<void> {
    clearTimeout(this.releaseTimer);
    this.release();
    // The commit timer keeps running while the subscription closes: a bus waits for its
    // in-flight handlers, and ours settle only when a commit acknowledges their events.
    await this.commit();
    await this.subscription?.close();
    this.subscription = undefined;
    clearInterval(this.timer);
    await this.commit();
    await this.commitNow(true);
  }

  /** Stops without committing: the next processor gets the uncommitted events again (a crash). */
  async abandon(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.releaseTimer);
    await this.committing;
    // Let the bus's member go without acknowledging: the events come back after the ack wait.
    for (const settled of this.settlers.splice(0)) settled();
    this.pending = [];
    await this.subscription?.close();
    this.subscription = undefined;
  }

  private count(outcome: Outcome): void {
    this.counts[outcome] = (this.counts[outcome] ?? 0) + 1;
  }

  // The Prometheus counter moves by what a commit made durable: a labelled inc per event cost
  // about a microsecond (prom-client hashes the labels each time).
  private readonly published: Record<string, number> = {};

  private publishCounts(): void {
    if (!this.outcomes) return;
    for (const outcome in this.counts) {
      const delta = this.counts[outcome] - (this.published[outcome] ?? 0);
      if (delta > 0) this.outcomes.inc({ outcome }, delta);
      this.published[outcome] = this.counts[outcome];
    }
  }

  /** The hot path: synchronous, no I/O; the message is acknowledged by the next commit. */
  private receive(message: BusMessage, settled: () => void): void {
    const event = parse(message.data);
    if (event && this.recent.has(event.id)) {
      this.count('duplicate');
      message.ack();
      settled();
      return;
    }
    this.pending.push(message);
    this.settlers.push(settled);
    if (event) this.batchIds.push(event.id);
    const input = event && toInput(event.id, event.time, event.data);
    if (this.held) {
      this.held.push(input);
      // The bus delivers no more than inFlight unacknowledged: holding more would stall it.
      if (this.held.length >= this.o.inFlight) this.release();
    } else this.apply(input);
    if (this.due()) this.commitSoon();
  }

  // A closed window is committed at once (its lag is what readers wait for), and a quarter of
  // the in-flight bound at once too, so the bus keeps delivering while a commit is under way.
  private due(): boolean {
    return this.results.length > 0 || this.pending.length >= this.o.inFlight / 4;
  }

  private commitSoon(): void {
    if (this.commitScheduled) return;
    this.commitScheduled = true;
    setImmediate(() => {
      this.commitScheduled = false;
      void this.commit();
    });
  }

  private apply(input: WindowInput | undefined): void {
    if (!input) this.count('invalid');
    else if (input.latencyMs >= this.o.maxLatencyMs) this.count('outlier');
    else {
      const before = this.missed.length;
      this.o.windows.add(input, this.o.clock.now(), this.missed);
      if (this.missed.length === before) this.count('accepted');
      else this.count(this.missed[this.missed.length - 1].reason);
      this.o.windows.closeDue(this.results);
    }
  }

  /** Ends the resume period: what arrived during it is applied in event-time order. */
  private release(): void {
    const held = this.held;
    this.held = undefined;
    if (!held) return;
    held.sort((a, b) => (a?.time ?? 0) - (b?.time ?? 0));
    for (const input of held) this.apply(input);
    void this.commit();
  }

  /** Stores the batch's results and the snapshot in one transaction, then acknowledges the batch. */
  commit(): Promise<void> {
    // While resuming, the held events are in no window yet: acknowledging them could lose them.
    if (this.held) return RESOLVED;
    if (this.committing) return this.committing;
    if (this.pending.length === 0 && this.results.length === 0 && this.missed.length === 0) return RESOLVED;
    this.committing = this.commitNow().finally(() => {
      this.committing = undefined;
      if (this.due() && !this.held) this.commitSoon();
    });
    return this.committing;
  }

  private async commitNow(clean = false): Promise<void> {
    const batch = this.pending;
    const settlers = this.settlers;
    this.settlers = [];
    const results = this.results.splice(0);
    const missed = this.missed.splice(0);
    const ids = this.batchIds;
    this.pending = [];
    this.batchIds = [];
    const snapshot: Snapshot = {
      windows: this.o.windows.snapshot(),
      recent: [...this.previousIds, ...ids],
      counts: { ...this.counts },
      clean,
    };
    try {
      const state = JSON.stringify(snapshot);
      await this.o.db.transaction(async (tx) => {
        if (results.length > 0) await storeWindows(tx, results);
        const events = [...results.map(windowEvent), ...missed.map(missedEvent)];
        if (events.length > 0) await this.o.events.append(events, tx);
        await tx.query(
          `INSERT INTO aimesh_stream_snapshots (name, state, updated_at) VALUES ($1, $2, now())
           ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`,
          [this.o.name, state],
        );
      });
    } catch (error) {
      // Nothing acknowledged, and the windows already hold the batch: it joins the next commit
      // (the ack wait must outlast the outage, or the bus delivers it again to be skipped as recent).
      this.o.logger.error({ err: error }, 'stream commit failed; retried with the next batch');
      this.results.unshift(...results);
      this.missed.unshift(...missed);
      this.pending = batch.concat(this.pending);
      this.settlers = settlers.concat(this.settlers);
      this.batchIds = ids.concat(this.batchIds);
      for (const id of ids) this.recent.add(id);
      return;
    }
    this.o.events.committed();
    this.publishCounts();
    for (const m of batch) m.ack();
    for (const settled of settlers) settled();
    for (const id of this.previousIds) this.recent.delete(id);
    for (const id of ids) this.recent.add(id);
    this.previousIds = ids;
    const now = this.o.clock.now();
    if (results.length > 0) {
      this.closed?.inc(results.length);
      this.lastWindow = { count: 0, errors: 0, latency_p99_ms: 0 };
      for (const r of results) {
        this.lastWindow.count += r.count;
        this.lastWindow.errors += r.errors;
        this.lastWindow.latency_p99_ms = Math.max(this.lastWindow.latency_p99_ms, r.latencyP99);
        this.lag?.observe(Math.max(0, now - (r.end + this.o.graceMs)));
        this.o.onWindow?.(r, now);
      }
    }
  }
}

const RESOLVED = Promise.resolve();

/** The window input of an inference-completed event, or undefined when it is not a valid one. */
export function toInput(id: string, time: unknown, raw: Record<string, unknown>): WindowInput | undefined {
  const at = typeof time === 'string' ? Date.parse(time) : Number.NaN;
  const modelId = raw.modelId;
  const latency = raw.latencyMs ?? raw.latency;
  if (!Number.isFinite(at) || typeof modelId !== 'string' || modelId.length === 0) return undefined;
  if (typeof latency !== 'number' || !Number.isFinite(latency) || latency < 0) return undefined;
  const userId = typeof raw.userId === 'string' && raw.userId.length > 0 ? raw.userId : 'anonymous';
  const status = raw.status;
  return {
    id,
    key: `${userId}:${modelId}`,
    time: at,
    latencyMs: latency,
    error: raw.error !== undefined || (typeof status === 'number' && status >= 400),
    tokens: finite(raw.tokens) + finite(raw.promptTokens) + finite(raw.completionTokens),
    cost: finite(raw.cost),
  };
}

function finite(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}

async function storeWindows(tx: { query: Database['query'] }, results: WindowResult[]): Promise<void> {
  const columns: unknown[][] = [[], [], [], [], [], [], [], [], [], [], []];
  for (const r of results) {
    const row = [
      r.key,
      new Date(r.start).toISOString(),
      new Date(r.end).toISOString(),
      r.count,
      r.errors,
      r.latencyMean,
      r.latencyP50,
      r.latencyP95,
      r.latencyP99,
      r.tokens,
      r.cost,
    ];
    for (let i = 0; i < row.length; i++) columns[i].push(row[i]);
  }
  await tx.query(
    `INSERT INTO aimesh_stream_windows (key, window_start, window_end, count, errors, latency_mean,
       latency_p50, latency_p95, latency_p99, tokens, cost)
     SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::bigint[], $5::bigint[],
       $6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::float8[])
     ON CONFLICT (key, window_start) DO UPDATE SET window_end = EXCLUDED.window_end, count = EXCLUDED.count,
       errors = EXCLUDED.errors, latency_mean = EXCLUDED.latency_mean, latency_p50 = EXCLUDED.latency_p50,
       latency_p95 = EXCLUDED.latency_p95, latency_p99 = EXCLUDED.latency_p99, tokens = EXCLUDED.tokens,
       cost = EXCLUDED.cost`,
    columns,
  );
}

function windowEvent(r: WindowResult): NewEvent {
  const windowStart = new Date(r.start).toISOString();
  return {
    // One id per window: a window committed twice (a failed commit retried) is stored once.
    id: `window:${r.key}:${r.start}`,
    type: 'ai.metrics.window',
    source: SOURCE,
    partitionkey: r.key,
    data: {
      key: r.key,
      windowStart,
      windowEnd: new Date(r.end).toISOString(),
      count: r.count,
      errors: r.errors,
      latencyMeanMs: r.latencyMean,
      latencyP50Ms: r.latencyP50,
      latencyP95Ms: r.latencyP95,
      latencyP99Ms: r.latencyP99,
      tokens: r.tokens,
      cost: r.cost,
    },
  };
}

function missedEvent(m: MissedEvent): NewEvent {
  return {
    id: `missed:${m.eventId}:${m.windowStart ?? 'future'}`,
    type: 'ai.metrics.late',
    source: SOURCE,
    causationid: m.eventId,
    partitionkey: m.key,
    data: {
      eventId: m.eventId,
      reason: m.reason,
      key: m.key,
      eventTime: new Date(m.time).toISOString(),
      ...(m.windowStart !== undefined
        ? {
            windowStart: new Date(m.windowStart).toISOString(),
            windowEnd: new Date(m.windowEnd!).toISOString(),
          }
        : {}),
      streamTime: Number.isFinite(m.streamTime) ? new Date(m.streamTime).toISOString() : null,
    },
  };
}
