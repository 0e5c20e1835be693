import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock } from '../kernel/clock.js';
import { badRequest } from '../kernel/errors.js';
import { IdSource } from '../kernel/ids.js';
import type { Logger } from '../kernel/logger.js';
import type { Database, Sql } from '../ports/database.js';
import type { EventCatalogue } from './catalogue.js';
import { checkEnvelope, type EnvelopeDefaults, IsoTimes } from './cloud-event-envelope.js';
import { APPEND_LOCK_KEY, COPY, columns, copyRows, INSERT, type PreparedEvent } from './event-rows.js';

const UNIQUE_VIOLATION = '23505';

/** What a producer hands the store; id and time are filled in when absent. */
export interface NewEvent {
  type: string;
  source: string;
  data?: unknown;
  id?: string;
  time?: string | Date;
  subject?: string;
  target?: string;
  correlationid?: string;
  causationid?: string;
  traceparent?: string;
  dataschema?: string;
}

/** A CloudEvents 1.0 event as stored, with its store position and bus topic. */
export interface StoredEvent {
  specversion: '1.0';
  id: string;
  type: string;
  source: string;
  subject?: string;
  time: string;
  datacontenttype: 'application/json';
  dataschema: string;
  target?: string;
  correlationid?: string;
  causationid?: string;
  traceparent?: string;
  data: unknown;
  position: number;
  topic: string;
}

export interface AppendResult {
  id: string;
  /** Store position, or the existing one for a duplicate. */
  position: number;
  /** True when an event with this id was already stored: the append was a no-op. */
  duplicate: boolean;
}

export interface EventQuery {
  from?: string | Date;
  to?: string | Date;
  type?: string;
  correlationId?: string;
  causationId?: string;
  /** Only events after this store position (reading forward). */
  afterPosition?: number;
  /** At most this many (default 100, at most 10,000). */
  limit?: number;
}

export interface EventStoreOptions {
  db: Database;
  catalogue: EventCatalogue;
  clock: Clock;
  logger: Logger;
  metrics?: Registry;
  /** `enqueue` buffers at most this many events; beyond it events are dropped and counted. */
  maxBuffered?: number;
  /** `enqueue` flushes when this many are waiting... */
  batchSize?: number;
  /** ...or after this long. */
  flushIntervalMs?: number;
}

interface Row {
  position: number;
  id: string;
  type: string;
  source: string;
  subject: string | null;
  time: Date;
  target: string | null;
  correlation_id: string | null;
  causation_id: string | null;
  traceparent: string | null;
  schema_version: number;
  topic: string;
  data: unknown;
}

/**
 * The event store: append-only CloudEvents in Postgres (embedded or server), validated on
 * append, upcast on read. It is also the outbox the relay publishes from.
 */
export class EventStore {
  private readonly db: Database;
  private readonly catalogue: EventCatalogue;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly listeners = new Set<() => void>();
  private readonly envelopeDefaults: EnvelopeDefaults;
  private buffer: NewEvent[] = [];
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The flush interval ended while a batch was being stored. */
  private due = false;
  private readonly maxBuffered: number;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly dropped?: Counter;
  private readonly appended?: Counter;

  constructor(options: EventStoreOptions) {
    this.db = options.db;
    this.catalogue = options.catalogue;
    this.clock = options.clock;
    this.logger = options.logger;
    // Pooled randomness: a batch of a thousand events would otherwise draw a thousand times.
    const ids = new IdSource();
    this.envelopeDefaults = {
      id: () => ids.next(this.clock.now()),
      now: () => this.clock.now(),
      times: new IsoTimes(),
    };
    this.maxBuffered = options.maxBuffered ?? 10_000;
    this.batchSize = options.batchSize ?? 500;
    this.flushIntervalMs = options.flushIntervalMs ?? 20;
    if (options.metrics) {
      this.appended = new Counter({
        name: 'aimesh_events_appended_total',
        help: 'Events stored.',
        registers: [options.metrics],
      });
      this.dropped = new Counter({
        name: 'aimesh_events_dropped_total',
        help: 'Events dropped because the append buffer was full or the store failed.',
        registers: [options.metrics],
      });
      const self = this;
      new Gauge({
        name: 'aimesh_events_buffered',
        help: 'Events waiting in the append buffer.',
        registers: [options.metrics],
        collect() {
          this.set(self.buffer.length);
        },
      });
    }
  }

  /** Tells the listeners that events appended inside a transaction have committed. */
  committed(): void {
    for (const listener of this.listeners) listener();
  }

  /** Calls `listener` after every append in this process (the relay's wake-up). */
  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Validates and stores one event or a batch in one transaction; duplicates by id are no-ops.
   * Given `tx`, the events join that transaction (the outbox pattern: a write and its event commit
   * or roll back together); append them last in it, and call `committed()` once it commits.
   */
  async append(input: NewEvent | NewEvent[], tx?: Sql): Promise<AppendResult[]> {
    const sql = tx ?? this.db;
    const events = (Array.isArray(input) ? input : [input]).map((e, i) =>
      this.prepare(e, Array.isArray(input) ? i : undefined),
    );
    if (events.length === 0) return [];
    const { ids, params } = columns(events);
    const result = await sql.query<{ id: string; position: number }>(
      `${INSERT} RETURNING id, position`,
      params,
      { name: 'aimesh_events_append' },
    );
    const positions = new Map(result.rows.map((r) => [r.id, r.position]));
    const existing = new Map<string, number>();
    if (positions.size < ids.length) {
      // Duplicates: ON CONFLICT waited for their first writer to commit, so they are readable now.
      const missing = ids.filter((id) => !positions.has(id));
      const found = await sql.query<{ id: string; position: number }>(
        'SELECT id, position FROM aimesh_events WHERE id = ANY($1::text[])',
        [missing],
      );
      for (const r of found.rows) existing.set(r.id, r.position);
    }
    const inserted = { positions, existing };
    this.appended?.inc(inserted.positions.size);
    // Inside a caller's transaction the rows are not visible yet: `committed()` tells the listeners.
    if (inserted.positions.size > 0 && !tx) this.committed();
    const seen = new Set<string>();
    return ids.map((id) => {
      const fresh = inserted.positions.get(id);
      const firstInBatch = !seen.has(id);
      seen.add(id);
      return fresh !== undefined && firstInBatch
        ? { id, position: fresh, duplicate: false }
        : { id, position: fresh ?? inserted.existing.get(id) ?? -1, duplicate: true };
    });
  }

  /**
   * Queues an event for a batched append and returns at once: for hot paths (a proxied
   * request) that must never wait on the store. The buffer is bounded; overflow is counted.
   */
  enqueue(event: NewEvent): void {
    if (this.buffer.length >= this.maxBuffered) {
      this.dropped?.inc();
      return;
    }
    // Stamped when it happened, not when its batch is stored.
    if (event.time === undefined) event.time = new Date(this.clock.now());
    this.buffer.push(event);
    if (this.buffer.length >= this.batchSize) {
      if (!this.flushing) void this.storeBatch();
    } else if (!this.timer) {
      this.timer = setTimeout(this.onFlushTimer, this.flushIntervalMs);
      this.timer.unref();
    }
  }

  /** Stores everything `enqueue`d so far. */
  async flush(): Promise<void> {
    while (this.flushing || this.buffer.length > 0) {
      await (this.flushing ?? this.storeBatch());
    }
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
    this.due = false;
    const batch = this.buffer;
    this.buffer = [];
    this.flushing = this.insertBatch(batch)
      .catch((error) => {
        this.dropped?.inc(batch.length);
        this.logger.error(
          { err: error, events: batch.length },
          'batched event append failed; events dropped',
        );
      })
      .finally(() => {
        this.flushing = undefined;
        if (this.buffer.length >= this.batchSize || (this.due && this.buffer.length > 0))
          void this.storeBatch();
      });
    return this.flushing;
  }

  /**
   * A batch from `enqueue`: the same checks as `append`, but nobody waits for positions, so
   * none are returned or read back, and on a PostgreSQL server it is loaded with COPY under the
   * same append lock (INSERT, as `append`, where the adapter has no COPY or an id repeats).
   */
  private async insertBatch(batch: NewEvent[]): Promise<void> {
    const events: PreparedEvent[] = [];
    let invalid: unknown;
    for (let i = 0; i < batch.length; i++) {
      try {
        events.push(this.prepare(batch[i], i));
      } catch (error) {
        // One producer's bad event must not cost the batch the others.
        this.dropped?.inc();
        invalid ??= error;
      }
    }
    if (invalid) {
      this.logger.error(
        { err: invalid, events: batch.length - events.length },
        'queued events failed validation; dropped',
      );
    }
    if (events.length === 0) return;
    let stored: number | undefined;
    if (this.db.copyFrom) {
      try {
        stored = await this.db.copyFrom(COPY, copyRows(events), { advisoryLock: APPEND_LOCK_KEY });
      } catch (error) {
        // An id stored before (a producer's retry): INSERT skips it, COPY cannot.
        if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
      }
    }
    if (stored === undefined) {
      const result = await this.db.query(INSERT, columns(events).params, { name: 'aimesh_events_batch' });
      stored = result.rowCount;
    }
    this.appended?.inc(stored);
    if (stored > 0) this.committed();
  }

  /** Events matching every given filter, in store order (by time for causation queries). */
  async query(q: EventQuery = {}): Promise<StoredEvent[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: string, value: unknown) => {
      params.push(value);
      where.push(clause.replace('?', `$${params.length}`));
    };
    if (q.from !== undefined) add('time >= ?', toDate(q.from, 'from'));
    if (q.to !== undefined) add('time <= ?', toDate(q.to, 'to'));
    if (q.type) add('type = ?', this.catalogue.canonical(q.type));
    if (q.correlationId) add('correlation_id = ?', q.correlationId);
    if (q.causationId) add('causation_id = ?', q.causationId);
    if (q.afterPosition !== undefined) add('position > ?', q.afterPosition);
    const limit = Math.min(Math.max(q.limit ?? 100, 1), 10_000);
    params.push(limit);
    const order = q.causationId ? 'time, position' : 'position';
    const result = await this.db.query<Row>(
      `SELECT * FROM aimesh_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${order} LIMIT $${params.length}`,
      params,
    );
    return result.rows.map((row) => this.toEvent(row));
  }

  /** Up to `limit` events after `position`, in store order: how the relay and replays read. */
  readFrom(position: number, limit = 500): Promise<StoredEvent[]> {
    return this.query({ afterPosition: position, limit });
  }

  /** The highest stored position (0 when empty). */
  async head(): Promise<number> {
    const result = await this.db.query<{ head: number | null }>(
      'SELECT max(position) AS head FROM aimesh_events',
    );
    return Number(result.rows[0]?.head ?? 0);
  }

  /** Flushes buffered events. */
  async close(): Promise<void> {
    await this.flush();
  }

  private prepare(input: NewEvent, index: number | undefined) {
    const where = index === undefined ? 'event' : `event[${index}]`;
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw badRequest('invalid_event', `${where} must be a JSON object`);
    }
    const raw = input as unknown as Record<string, unknown>;
    const envelope = checkEnvelope(raw, where, this.envelopeDefaults);
    envelope.type = this.catalogue.canonical(envelope.type);
    const current = this.catalogue.currentVersion(envelope.type);
    const named = this.catalogue.versionOf(envelope.dataschema);
    if (envelope.dataschema && named === undefined) {
      throw badRequest(
        'invalid_event',
        `${where}.dataschema must be urn:aimesh:event:<type>:v<n>, got ${envelope.dataschema}`,
      );
    }
    const version = named ?? current;
    const problems = this.catalogue.validate(envelope.type, version, input.data ?? {});
    if (problems.length > 0) {
      throw badRequest(
        'invalid_event_data',
        `${where} (${envelope.type} v${version}): ${problems.join('; ')}`,
      );
    }
    return Object.assign(envelope, { version, topic: this.catalogue.topic(envelope.type), data: input.data });
  }

  private toEvent(row: Row): StoredEvent {
    const event: StoredEvent = {
      specversion: '1.0',
      id: row.id,
      type: row.type,
      source: row.source,
      time: row.time.toISOString(),
      datacontenttype: 'application/json',
      dataschema: this.catalogue.dataschema(row.type, this.catalogue.currentVersion(row.type)),
      data: this.catalogue.upcast(row.type, row.schema_version, row.data),
      position: Number(row.position),
      topic: row.topic,
    };
    if (row.subject !== null) event.subject = row.subject;
    if (row.target !== null) event.target = row.target;
    if (row.correlation_id !== null) event.correlationid = row.correlation_id;
    if (row.causation_id !== null) event.causationid = row.causation_id;
    if (row.traceparent !== null) event.traceparent = row.traceparent;
    return event;
  }
}

function toDate(value: string | Date, name: string): Date {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime()))
    throw badRequest('invalid_query', `${name} is not a valid time: ${String(value)}`);
  return date;
}
