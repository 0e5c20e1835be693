/**
 * The EventLog port: the platform's memory. Every module records what happens through it and
 * reads it back; the events module implements it on the database (append-only CloudEvents,
 * also the outbox the relay publishes from) and the bus (the live stream).
 */

import type { Sql } from './database.js';
import type { Subscription } from './event-bus.js';

/** What a producer hands the log; id and time are filled in when absent. */
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
  /** CloudEvents `partitionkey`: consumers keep events of one key in order (default `userId:modelId` for per-call events). */
  partitionkey?: string;
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
  partitionkey?: string;
  data: unknown;
  position: number;
  topic: string;
}

/** A CloudEvent as the live stream delivers it: the stored fields without position and topic. */
export type LiveEvent = Omit<StoredEvent, 'position' | 'topic'>;

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
  /** Only events whose data names this principal as the one who acted (`actor`, or `userId` for calls). */
  actor?: string;
  /** Only events after this store position (reading forward). */
  afterPosition?: number;
  /** At most this many (default 100, at most 10,000). */
  limit?: number;
}

export interface EventLog {
  /**
   * Validates and stores one event or a batch in one transaction; duplicates by id are no-ops.
   * Given `tx`, the events join that transaction (the outbox pattern: a write and its event
   * commit or roll back together); append them last in it, and call `committed()` once it commits.
   */
  append(input: NewEvent | NewEvent[], tx?: Sql): Promise<AppendResult[]>;
  /** Tells the log that events appended inside a transaction have committed (wakes the relay). */
  committed(): void;
  /** Queues an event for a batched append and returns at once: for hot paths that must never wait. */
  enqueue(event: NewEvent): void;
  /** Stores everything queued so far. */
  flush(): Promise<void>;
  /** Events matching every given filter, in store order (by time for causation queries). */
  query(q?: EventQuery): Promise<StoredEvent[]>;
  /**
   * Events published from now on whose type matches `pattern` (NATS-style: `ai.model.*`,
   * `ai.>`), as the bus delivers them: live, nothing replayed, no acknowledgement.
   */
  subscribe(pattern: string, handler: (event: LiveEvent) => void): Promise<Subscription>;
}
