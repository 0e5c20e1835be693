import { Counter, type Registry } from 'prom-client';
import type { Clock } from '../kernel/clock.js';
import { badRequest } from '../kernel/errors.js';
import { IdSource } from '../kernel/ids.js';
import type { Logger } from '../kernel/logger.js';
import type { Database, Sql } from '../ports/database.js';
import type { EventBus, Subscription } from '../ports/event-bus.js';
import type {
  AppendResult,
  EventLog,
  EventQuery,
  LiveEvent,
  NewEvent,
  StoredEvent,
} from '../ports/event-log.js';
import { AppendQueue } from './append-queue.js';
import type { EventCatalogue } from './catalogue.js';
import { checkEnvelope, type EnvelopeDefaults, IsoTimes } from './cloud-event-envelope.js';
import { decodeCloudEvent } from './cloud-event-json.js';
import { columns, INSERT } from './event-rows.js';

export interface EventStoreOptions {
  db: Database;
  catalogue: EventCatalogue;
  clock: Clock;
  logger: Logger;
  metrics?: Registry;
  /** Carries the live stream (`subscribe`); without it `subscribe` is refused. */
  bus?: EventBus;
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
  partition_key: string | null;
  schema_version: number;
  topic: string;
  data: unknown;
}

/**
 * The event store: append-only CloudEvents in Postgres (embedded or server), validated on
 * append, upcast on read. It is also the outbox the relay publishes from.
 */
export class EventStore implements EventLog {
  private readonly db: Database;
  private readonly catalogue: EventCatalogue;
  private readonly clock: Clock;
  private readonly bus: EventBus | undefined;
  private readonly listeners = new Set<() => void>();
  private readonly envelopeDefaults: EnvelopeDefaults;
  private readonly queue: AppendQueue;
  private readonly appended?: Counter;

  constructor(options: EventStoreOptions) {
    this.db = options.db;
    this.catalogue = options.catalogue;
    this.clock = options.clock;
    this.bus = options.bus;
    // Pooled randomness: a batch of a thousand events would otherwise draw a thousand times.
    const ids = new IdSource();
    this.envelopeDefaults = {
      id: () => ids.next(this.clock.now()),
      now: () => this.clock.now(),
      times: new IsoTimes(),
    };
    if (options.metrics) {
      this.appended = new Counter({
        name: 'aimesh_events_appended_total',
        help: 'Events stored.',
        registers: [options.metrics],
      });
    }
    this.queue = new AppendQueue({
      db: options.db,
      clock: options.clock,
      logger: options.logger,
      metrics: options.metrics,
      maxBuffered: options.maxBuffered,
      batchSize: options.batchSize,
      flushIntervalMs: options.flushIntervalMs,
      id: this.envelopeDefaults.id,
      prepare: (event, index) => this.prepare(event, index),
      stored: (count) => {
        this.appended?.inc(count);
        this.committed();
      },
    });
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
    this.queue.enqueue(event);
  }

  /** Stores everything `enqueue`d so far. */
  flush(): Promise<void> {
    return this.queue.flush();
  }

  /** Live events of the types `pattern` matches, as the relay publishes them to the bus. */
  subscribe(pattern: string, handler: (event: LiveEvent) => void): Promise<Subscription> {
    if (!this.bus) throw new Error('this event store has no bus to subscribe to');
    return this.bus.subscribe(pattern, (message) => {
      const event = decodeCloudEvent(message.data);
      if (event) handler(event as unknown as LiveEvent);
    });
  }

  /** Events matching every given filter, in store order (by time for causation queries). */
  async query(q: EventQuery = {}): Promise<StoredEvent[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: string, value: unknown) => {
      params.push(value);
      where.push(clause.replaceAll('?', `$${params.length}`));
    };
    if (q.from !== undefined) add('time >= ?', toDate(q.from, 'from'));
    if (q.to !== undefined) add('time <= ?', toDate(q.to, 'to'));
    if (q.type) add('type = ?', this.catalogue.canonical(q.type));
    if (q.correlationId) add('correlation_id = ?', q.correlationId);
    if (q.causationId) add('causation_id = ?', q.causationId);
    // Read from the data, with no index of its own: a caller's own events are a walk in store
    // order that stops at `limit` matches, so no append pays for the lookups of a few queries.
    if (q.actor !== undefined) add("(data->>'actor' = ? OR data->>'userId' = ?)", q.actor);
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
    this.queue.close();
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
    if (envelope.partitionkey === undefined)
      envelope.partitionkey = defaultPartitionKey(envelope.type, input.data);
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
    if (row.partition_key !== null) event.partitionkey = row.partition_key;
    return event;
  }
}

/**
 * Per-call events (`ai.inference.*`, `ai.serving.*`) are keyed `userId:modelId`, so one caller's
 * calls to one model are consumed in order; other events carry no key unless the producer gives one.
 */
export function defaultPartitionKey(type: string, data: unknown): string | undefined {
  if (!type.startsWith('ai.inference.') && !type.startsWith('ai.serving.')) return undefined;
  if (typeof data !== 'object' || data === null) return undefined;
  const { modelId, userId } = data as { modelId?: unknown; userId?: unknown };
  if (typeof modelId !== 'string' || modelId.length === 0) return undefined;
  return `${typeof userId === 'string' && userId.length > 0 ? userId : 'anonymous'}:${modelId}`;
}

function toDate(value: string | Date, name: string): Date {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime()))
    throw badRequest('invalid_query', `${name} is not a valid time: ${String(value)}`);
  return date;
}
