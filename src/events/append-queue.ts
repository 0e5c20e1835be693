import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock } from '../kernel/clock.js';
import { isAimeshError } from '../kernel/errors.js';
import type { Logger } from '../kernel/logger.js';
import type { Database } from '../ports/database.js';
import type { NewEvent } from '../ports/event-log.js';
import { APPEND_LOCK_KEY, COPY, columns, copyRows, INSERT, type PreparedEvent } from './event-rows.js';

const UNIQUE_VIOLATION = '23505';

export interface AppendQueueOptions {
  db: Database;
  clock: Clock;
  logger: Logger;
  metrics?: Registry;
  /** Validates one event for storage; throws on a bad one. */
  prepare(event: NewEvent, index: number): PreparedEvent;
  /** Told how many events a batch stored (they are committed and readable). */
  stored(count: number): void;
  /** At most this many events wait; beyond it events are dropped and counted. */
  maxBuffered?: number;
  /** A batch goes when this many are waiting... */
  batchSize?: number;
  /** ...or after this long. */
  flushIntervalMs?: number;
  /** While the database is unreachable, a batch is tried again after this long. */
  retryMs?: number;
  /** Gives an event its id when it has none, so a batch tried again stores each event once. */
  id(): string;
}

/** The database is down or restarting: the batch waits and is tried again. */
function worthRetrying(error: unknown): boolean {
  return isAimeshError(error) && error.code === 'database_unavailable';
}

/**
 * The event log's batched append for hot paths (a proxied request) that must never wait on the
 * store: events wait in a bounded buffer and are stored in batches, one statement a batch.
 */
export class AppendQueue {
  private buffer: NewEvent[] = [];
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The flush interval ended while a batch was being stored. */
  private due = false;
  private readonly maxBuffered: number;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly retryMs: number;
  /** Set while the database is unreachable: batches wait for the retry timer. */
  private waiting: NodeJS.Timeout | undefined;
  private readonly dropped?: Counter;

  constructor(private readonly o: AppendQueueOptions) {
    this.maxBuffered = o.maxBuffered ?? 10_000;
    this.batchSize = o.batchSize ?? 500;
    this.flushIntervalMs = o.flushIntervalMs ?? 20;
    this.retryMs = o.retryMs ?? 1_000;
    if (o.metrics) {
      this.dropped = new Counter({
        name: 'aimesh_events_dropped_total',
        help: 'Events dropped because the append buffer was full or the store failed.',
        registers: [o.metrics],
      });
      const self = this;
      new Gauge({
        name: 'aimesh_events_buffered',
        help: 'Events waiting in the append buffer.',
        registers: [o.metrics],
        collect() {
          this.set(self.buffer.length);
        },
      });
    }
  }

  /** Queues an event and returns at once; the buffer is bounded and overflow is counted. */
  enqueue(event: NewEvent): void {
    if (this.buffer.length >= this.maxBuffered) {
      this.dropped?.inc();
      return;
    }
    // Stamped when it happened, not when its batch is stored; named before any try.
    if (event.time === undefined) event.time = new Date(this.o.clock.now());
    if (event.id === undefined) event.id = this.o.id();
    this.buffer.push(event);
    if (this.waiting) return;
    if (this.buffer.length >= this.batchSize) {
      if (!this.flushing) void this.storeBatch();
    } else if (!this.timer) {
      this.timer = setTimeout(this.onFlushTimer, this.flushIntervalMs);
      this.timer.unref();
    }
  }

  /** Stores everything queued so far (while the database is unreachable: one more try). */
  async flush(): Promise<void> {
    while (this.flushing || this.buffer.length > 0) {
      await (this.flushing ?? this.storeBatch());
      // Unreachable: the retry timer tries again; waiting here would hold a stop for the outage.
      if (this.waiting) return;
    }
  }

  /** Stops the retry timer; what is still queued is dropped with the process. */
  close(): void {
    clearTimeout(this.waiting);
    this.waiting = undefined;
  }

  // The interval is the batching: when it ends during a store, the next batch goes as soon as
  // that store is done. Storing again straight after every store instead made a batch of
  // whatever arrived during one round trip (a fifth of the events per statement at 4,000/s).
  private readonly onFlushTimer = () => {
    this.timer = undefined;
    if (this.flushing) this.due = true;
    else void this.storeBatch();
  };

  /** Stores the buffer as one batch; when it is done, the next if one is full or due. */
  private storeBatch(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    clearTimeout(this.waiting);
    this.waiting = undefined;
    this.due = false;
    const batch = this.buffer;
    this.buffer = [];
    this.flushing = this.insertBatch(batch)
      .then(
        () => true,
        (error) => {
          if (worthRetrying(error)) return this.keep(batch, error);
          this.dropped?.inc(batch.length);
          this.o.logger.error(
            { err: error, events: batch.length },
            'batched event append failed; events dropped',
          );
          return true;
        },
      )
      .then((stored) => {
        this.flushing = undefined;
        if (stored && (this.buffer.length >= this.batchSize || (this.due && this.buffer.length > 0)))
          void this.storeBatch();
      });
    return this.flushing;
  }

  /** Puts a batch back in front of the queue (within the bound) and tries again after `retryMs`. */
  private keep(batch: NewEvent[], error: unknown): false {
    if (!this.waiting)
      this.o.logger.warn({ err: error }, 'database unreachable; queued events wait in memory');
    const room = Math.max(0, this.maxBuffered - this.buffer.length);
    if (room < batch.length) this.dropped?.inc(batch.length - room);
    this.buffer = batch.slice(0, room).concat(this.buffer);
    this.waiting = setTimeout(() => void this.storeBatch(), this.retryMs);
    this.waiting.unref();
    return false;
  }

  /**
   * The same checks as `append`, but nobody waits for positions, so none are returned or read
   * back, and on a PostgreSQL server the batch is loaded with COPY under the same append lock
   * (INSERT, as `append`, where the adapter has no COPY or an id repeats).
   */
  private async insertBatch(batch: NewEvent[]): Promise<void> {
    const events: PreparedEvent[] = [];
    let invalid: unknown;
    for (let i = 0; i < batch.length; i++) {
      try {
        events.push(this.o.prepare(batch[i], i));
      } catch (error) {
        // One producer's bad event must not cost the batch the others.
        this.dropped?.inc();
        invalid ??= error;
      }
    }
    if (invalid) {
      this.o.logger.error(
        { err: invalid, events: batch.length - events.length },
        'queued events failed validation; dropped',
      );
    }
    if (events.length === 0) return;
    const { db } = this.o;
    let stored: number | undefined;
    if (db.copyFrom) {
      try {
        stored = await db.copyFrom(COPY, copyRows(events), { advisoryLock: APPEND_LOCK_KEY });
      } catch (error) {
        // An id stored before (a producer's retry): INSERT skips it, COPY cannot.
        if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
      }
    }
    if (stored === undefined) {
      const result = await db.query(INSERT, columns(events).params, { name: 'aimesh_events_batch' });
      stored = result.rowCount;
    }
    if (stored > 0) this.o.stored(stored);
  }
}
