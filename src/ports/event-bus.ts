/** One message as a consumer sees it. */
export interface BusMessage {
  subject: string;
  data: Uint8Array;
  /** The publisher's message id (the event id), used by the broker to drop duplicates. */
  msgId?: string;
  headers: Record<string, string>;
  /** 1 on first delivery, 2 on the first redelivery, ... */
  deliveryCount: number;
  /** Done: never deliver again. */
  ack(): void;
  /** Failed: deliver again after `delayMs` (or the ack wait). */
  nak(delayMs?: number): void;
}

export interface PublishOptions {
  /** Idempotency key: a second publish with the same id within the broker's window is dropped. */
  msgId?: string;
  headers?: Record<string, string>;
}

export interface ConsumeOptions {
  /** Durable consumer name; processes sharing it share the work (a consumer group). */
  durable: string;
  /** Subject filters, NATS-style wildcards (`ai.>`, `ai.*.completed`). */
  subjects: string[];
  /** Unacknowledged messages are redelivered after this long. */
  ackWaitMs?: number;
  /** After this many deliveries a message goes to the dead-letter subject instead. */
  maxDeliver?: number;
  /** Handlers running at once in this process. */
  concurrency?: number;
}

export interface Subscription {
  /** Stops delivery to this subscriber; in-flight handlers finish. */
  close(): Promise<void>;
}

/**
 * The EventBus port: durable at-least-once consumption with manual ack (`consume`) and live
 * fan-out to every subscriber (`subscribe`). Adapters: in-process and NATS JetStream.
 */
export interface EventBus {
  readonly kind: 'memory' | 'nats';
  /** False while the connection to the broker is lost (it reconnects by itself). */
  connected(): boolean;
  /** Stores the message in the stream; resolves once the bus has it. */
  publish(subject: string, data: Uint8Array, options?: PublishOptions): Promise<void>;
  /** Durable, load-balanced among processes with the same `durable`; handler must ack or nak. */
  consume(options: ConsumeOptions, handler: (message: BusMessage) => Promise<void>): Promise<Subscription>;
  /** Live fan-out of messages published from now on; no ack needed, nothing replayed. */
  subscribe(subject: string, handler: (message: BusMessage) => void): Promise<Subscription>;
  /** Subject that receives messages a durable consumer gave up on. */
  deadLetterSubject(durable: string): string;
  close(): Promise<void>;
}

/** True when a NATS-style subject pattern (`*` one token, `>` the rest) matches a subject. */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}
