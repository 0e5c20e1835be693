import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../kernel/logger.js';
import type { Database, Sql } from '../ports/database.js';
import { type BusMessage, type EventBus, type Subscription, subjectMatches } from '../ports/event-bus.js';
import type { NewEvent } from '../ports/event-log.js';

/** A CloudEvent as a consumer receives it from the bus. */
export interface ConsumedEvent {
  id: string;
  type: string;
  source: string;
  time: string;
  data: Record<string, unknown>;
  subject?: string;
  correlationid?: string;
  causationid?: string;
  partitionkey?: string;
}

/** What a handler may do inside the transaction that also records the event as processed. */
export interface HandlerContext<P = unknown> {
  /** The transaction: writes here commit with the processed-event record, or not at all. */
  tx: Sql;
  /** What `prepare` returned. */
  prepared: P;
  /** Appends an event in the same transaction (the outbox: it exists only if the handling committed). */
  emit(event: NewEvent): void;
  /** Runs once the transaction committed (counters, notifications): never for a rolled-back handling. */
  afterCommit(fn: () => void): void;
}

/** One handler of one event type pattern. */
export interface EventHandler<P = unknown> {
  /** NATS-style pattern over the event type (`ai.inference.completed`, `ai.training.*`). */
  type: string;
  name: string;
  /**
   * Outside the transaction, before it: reads and idempotent calls to other modules (which use
   * the database themselves and so cannot run inside a transaction this handler holds open).
   */
  prepare?(event: ConsumedEvent): Promise<P>;
  handle(event: ConsumedEvent, ctx: HandlerContext<P>): Promise<void>;
}

/** Appends events inside a transaction; `committed` wakes the relay after the commit. */
export interface EventSink {
  append(input: NewEvent[], tx?: Sql): Promise<unknown>;
  committed(): void;
}

export interface ConsumerGroupOptions {
  bus: EventBus;
  db: Database;
  events: EventSink;
  logger: Logger;
  metrics?: Registry;
  /** The durable consumer's name; processes with the same group share its events. */
  group: string;
  /** Bus subjects to consume (the handlers' event types, or wider). */
  subjects: string[];
  concurrency?: number;
  maxDeliveries?: number;
  ackWaitMs?: number;
  /** First redelivery delay after a failure; doubles per delivery. */
  retryDelayMs?: number;
}

const decoder = new TextDecoder();

/**
 * A consumer group: handlers per event type over a durable bus consumer with manual ack.
 * Each event is handled once per group (a processed-event row written in the handlers'
 * transaction), in order per partition key within a process, retried with backoff, and after
 * `maxDeliveries` failures sent to `aimesh.dlq.<group>` with its error.
 */
export class ConsumerGroup {
  private readonly handlers: EventHandler[] = [];
  private readonly keyed = new Map<string, Promise<void>>();
  private subscription: Subscription | undefined;
  private readonly counters: Record<
    'processed' | 'duplicates' | 'redeliveries' | 'deadLetters',
    Counter | undefined
  >;

  constructor(private readonly o: ConsumerGroupOptions) {
    const counter = (name: string, help: string) =>
      o.metrics &&
      ((o.metrics.getSingleMetric(name) as Counter | undefined) ??
        new Counter({ name, help, labelNames: ['group'], registers: [o.metrics] }));
    this.counters = {
      processed: counter('aimesh_consumer_processed_total', 'Events a consumer group handled.'),
      duplicates: counter(
        'aimesh_consumer_duplicates_total',
        'Redelivered events found already handled and skipped.',
      ),
      redeliveries: counter(
        'aimesh_consumer_redeliveries_total',
        'Failed handlings given back to the bus for another delivery.',
      ),
      deadLetters: counter(
        'aimesh_consumer_dead_letters_total',
        'Events sent to the dead-letter subject after their last delivery.',
      ),
    };
  }

  /** Adds a handler; call before `start`. */
  on<P>(handler: EventHandler<P>): this {
    this.handlers.push(handler as EventHandler);
    return this;
  }

  /** The dead-letter subject of this group. */
  get deadLetterSubject(): string {
    return this.o.bus.deadLetterSubject(this.o.group);
  }

  async start(): Promise<void> {
    this.subscription = await this.o.bus.consume(
      {
        durable: this.o.group,
        subjects: this.o.subjects,
        concurrency: this.o.concurrency ?? 3,
        ackWaitMs: this.o.ackWaitMs ?? 30_000,
        // One more than ours: the group dead-letters with the error itself; the bus's own
        // dead-lettering is left for a handler that never settles.
        maxDeliver: (this.o.maxDeliveries ?? 5) + 1,
      },
      (message) => this.receive(message),
    );
  }

  async stop(): Promise<void> {
    await this.subscription?.close();
    this.subscription = undefined;
    await Promise.allSettled([...this.keyed.values()]);
  }

  private receive(message: BusMessage): Promise<void> {
    const event = parse(message.data);
    const key = event?.partitionkey ?? message.headers['ce-partitionkey'];
    if (!key) return this.process(message, event);
    // Per-key order: a key's events run one after another; other keys run alongside.
    const previous = this.keyed.get(key) ?? Promise.resolve();
    const next = previous.then(() => this.process(message, event));
    this.keyed.set(key, next);
    void next.finally(() => {
      if (this.keyed.get(key) === next) this.keyed.delete(key);
    });
    return next;
  }

  private async process(message: BusMessage, event: ConsumedEvent | undefined): Promise<void> {
    const group = this.o.group;
    try {
      if (!event) throw new Error('not a CloudEvent (JSON object with id and type)');
      const handlers = this.handlers.filter((h) => subjectMatches(h.type, event.type));
      if (await this.seen(event.id)) {
        this.counters.duplicates?.inc({ group });
        message.ack();
        return;
      }
      const prepared: unknown[] = [];
      for (const h of handlers) prepared.push(h.prepare ? await h.prepare(event) : undefined);
      const after: (() => void)[] = [];
      const emitted: NewEvent[] = [];
      const handled = await this.o.db.transaction(async (tx) => {
        const claim = await tx.query(
          'INSERT INTO aimesh_stream_processed (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING',
          [group, event.id],
        );
        if (claim.rowCount === 0) return false;
        for (let i = 0; i < handlers.length; i++) {
          await handlers[i].handle(event, {
            tx,
            prepared: prepared[i],
            emit: (e) => void emitted.push(e),
            afterCommit: (fn) => void after.push(fn),
          });
        }
        if (emitted.length > 0) await this.o.events.append(emitted, tx);
        return true;
      });
      if (!handled) {
        this.counters.duplicates?.inc({ group });
        message.ack();
        return;
      }
      if (emitted.length > 0) this.o.events.committed();
      for (const fn of after) {
        try {
          fn();
        } catch (error) {
          this.o.logger.warn({ err: error, event: event.id }, 'an after-commit step failed');
        }
      }
      this.counters.processed?.inc({ group });
      message.ack();
    } catch (error) {
      await this.failed(message, event, error as Error);
    }
  }

  private async seen(id: string): Promise<boolean> {
    const result = await this.o.db.query(
      'SELECT 1 FROM aimesh_stream_processed WHERE consumer = $1 AND event_id = $2',
      [this.o.group, id],
    );
    return result.rows.length > 0;
  }

  private async failed(message: BusMessage, event: ConsumedEvent | undefined, error: Error): Promise<void> {
    const group = this.o.group;
    const max = this.o.maxDeliveries ?? 5;
    if (message.deliveryCount < max && event) {
      this.counters.redeliveries?.inc({ group });
      message.nak((this.o.retryDelayMs ?? 200) * 2 ** (message.deliveryCount - 1));
      return;
    }
    try {
      await this.o.bus.publish(this.deadLetterSubject, message.data, {
        headers: {
          ...Object.fromEntries(Object.entries(message.headers).filter(([k]) => !k.startsWith('Nats-'))),
          'Aimesh-Original-Subject': message.subject,
          'Aimesh-Error': oneLine(error.message),
          'Aimesh-Deliveries': String(message.deliveryCount),
        },
      });
      this.counters.deadLetters?.inc({ group });
      this.o.logger.warn(
        { event: event?.id, group, err: error },
        'event dead-lettered after its last delivery',
      );
      message.ack();
    } catch (publishError) {
      // The dead letter could not be stored: leave the event to the bus to deliver again.
      this.o.logger.warn({ err: publishError, group }, 'dead-letter publish failed');
      message.nak(this.o.retryDelayMs ?? 200);
    }
  }
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 1_000);
}

/** The CloudEvent in a bus message, or undefined when it is not one. */
export function parse(data: Uint8Array): ConsumedEvent | undefined {
  try {
    const value = JSON.parse(decoder.decode(data)) as Record<string, unknown>;
    if (
      typeof value !== 'object' ||
      value === null ||
      typeof value.id !== 'string' ||
      typeof value.type !== 'string'
    )
      return undefined;
    if (typeof value.data !== 'object' || value.data === null) value.data = {};
    return value as unknown as ConsumedEvent;
  } catch {
    return undefined;
  }
}
