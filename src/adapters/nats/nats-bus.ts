import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  StorageType,
} from '@nats-io/jetstream';
import {
  connect,
  type MsgHdrs,
  type NatsConnection,
  nanos,
  headers as natsHeaders,
} from '@nats-io/transport-node';
import { AimeshError } from '../../kernel/errors.js';
import type {
  BusMessage,
  ConsumeOptions,
  EventBus,
  PublishOptions,
  Subscription,
} from '../../ports/event-bus.js';

export interface NatsBusOptions {
  /** NATS server URL(s), comma-separated. */
  servers: string;
  /** JetStream stream holding `ai.>` and the dead-letter subjects; created when missing. */
  stream: string;
  /**
   * Put in front of every subject on the wire (`staging.` → `staging.ai.>`), so several
   * installations or test runs share one NATS server without their streams overlapping.
   */
  subjectPrefix?: string;
  /** JetStream's duplicate window: a msgId seen within it is dropped (default 2 minutes). */
  duplicateWindowMs?: number;
  /** How long a publish waits for the stream's acknowledgement. */
  publishTimeoutMs?: number;
}

const DEAD_LETTER_ROOT = 'aimesh.dlq';
// Pull requests expire after this long (a stopping consumer ends its own at once). At NATS's
// minimum of 1 s the client's idle heartbeat is 500 ms, and under a steady 5,000 messages/s a
// pull now and then saw two heartbeats missed and failed, stalling delivery for 1.2–1.7 s
// (NATS 2.9); at 5 s none did.
const FETCH_EXPIRES_MS = 5_000;

/**
 * Connects the NATS JetStream EventBus: durable pull consumers with manual ack, redelivery after
 * the ack wait, dead letters after `maxDeliver`, broker-side de-duplication by msgId, and live
 * fan-out through core NATS subscriptions. Reconnects forever when the server goes away.
 */
export async function connectNatsBus(options: NatsBusOptions): Promise<EventBus> {
  const prefix = options.subjectPrefix ?? '';
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: options.servers.split(',').map((s) => s.trim()),
      name: 'aimesh',
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 5_000,
      // Without it every request (each JetStream publish waits on one) builds two Error objects
      // with stack traces up front, in case it times out: about 15 % of the relay's CPU. Our
      // errors carry the subject and the client's message instead.
      noAsyncTraces: true,
    });
  } catch (error) {
    throw new AimeshError(
      'bus_unavailable',
      503,
      `cannot connect to NATS at ${options.servers}: ${(error as Error).message}`,
    );
  }
  let connected = true;
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') connected = false;
      else if (status.type === 'reconnect') connected = true;
    }
  })();
  const jsm = await jetstreamManager(nc);
  await ensureStream(jsm, options.stream, [`${prefix}ai.>`, `${prefix}${DEAD_LETTER_ROOT}.>`], options);
  const js = jetstream(nc);
  const consumers = new Set<PullLoop>();
  const publishTimeout = options.publishTimeoutMs ?? 5_000;
  const deadLetterSubject = (durable: string) => `${DEAD_LETTER_ROOT}.${durable}`;

  const publish = async (subject: string, data: Uint8Array, opts: PublishOptions = {}) => {
    const h = toHeaders(opts.headers);
    try {
      await js.publish(`${prefix}${subject}`, data, {
        msgID: opts.msgId,
        headers: h,
        timeout: publishTimeout,
      });
    } catch (error) {
      throw new AimeshError(
        'bus_unavailable',
        503,
        `publish to ${subject} failed: ${(error as Error).message}`,
      );
    }
  };

  return {
    kind: 'nats',
    connected: () => connected && !nc.isClosed(),
    deadLetterSubject,
    publish,
    async consume(consume, handler) {
      const loop = new PullLoop({
        jsm,
        js,
        stream: options.stream,
        prefix,
        options: consume,
        handler,
        deadLetter: (m) =>
          publish(deadLetterSubject(consume.durable), m.data, {
            headers: {
              // Without Nats-Msg-Id: the stream would take the dead letter for a duplicate of the original.
              ...withoutNatsHeaders(fromHeaders(m.headers)),
              'Aimesh-Original-Subject': m.subject.slice(prefix.length),
            },
          }),
      });
      await loop.start();
      consumers.add(loop);
      return {
        close: async () => {
          consumers.delete(loop);
          await loop.stop();
        },
      };
    },
    async subscribe(subject, handler): Promise<Subscription> {
      const sub = nc.subscribe(`${prefix}${subject}`, {
        callback: (error, m) => {
          if (error) return;
          const h = fromHeaders(m.headers);
          const message: BusMessage = {
            subject: m.subject.slice(prefix.length),
            data: m.data,
            msgId: h['Nats-Msg-Id'],
            headers: h,
            deliveryCount: 1,
            ack() {},
            nak() {},
          };
          try {
            handler(message);
          } catch {
            // A live subscriber's failure is its own; other subscribers keep receiving.
          }
        },
      });
      return {
        async close() {
          sub.unsubscribe();
        },
      };
    },
    async close() {
      await Promise.all([...consumers].map((c) => c.stop()));
      consumers.clear();
      await nc.drain().catch(() => nc.close());
    },
  };
}

async function ensureStream(
  jsm: JetStreamManager,
  name: string,
  subjects: string[],
  options: NatsBusOptions,
): Promise<void> {
  const existing = await jsm.streams.info(name).catch(() => undefined);
  if (!existing) {
    await jsm.streams.add({
      name,
      subjects,
      storage: StorageType.File,
      duplicate_window: nanos(options.duplicateWindowMs ?? 120_000),
    });
    return;
  }
  const missing = subjects.filter((s) => !existing.config.subjects?.includes(s));
  if (missing.length > 0) {
    await jsm.streams.update(name, { subjects: [...(existing.config.subjects ?? []), ...missing] });
  }
}

interface PullLoopOptions {
  jsm: JetStreamManager;
  js: JetStreamClient;
  stream: string;
  prefix: string;
  options: ConsumeOptions;
  handler: (message: BusMessage) => Promise<void>;
  deadLetter: (message: JsMsg) => Promise<void>;
}

/**
 * One process's member of a durable consumer: fetches only as many messages as it has free
 * handler slots, so `concurrency` bounds both the handlers running and the messages held.
 */
class PullLoop {
  private active = 0;
  private stopped = false;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private current: { stop(): void } | undefined;
  // Resolved when no handler runs: stop waits for them.
  private readonly idle: (() => void)[] = [];
  private readonly concurrency: number;
  readonly maxDeliver: number;

  constructor(private readonly o: PullLoopOptions) {
    this.concurrency = Math.max(1, o.options.concurrency ?? 1);
    this.maxDeliver = Math.max(1, o.options.maxDeliver ?? 5);
  }

  async start(): Promise<void> {
    const { options, prefix } = this.o;
    const filters = options.subjects.map((s) => `${prefix}${s}`);
    const config = {
      durable_name: options.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(options.ackWaitMs ?? 30_000),
      // Unlimited on the server: we count deliveries ourselves and dead-letter, so a message
      // whose dead-letter publish failed is retried rather than silently abandoned.
      max_deliver: -1,
      max_ack_pending: 10_000,
      // Servers before 2.10 know only the single filter.
      ...(filters.length === 1 ? { filter_subject: filters[0] } : { filter_subjects: filters }),
    };
    const existing = await this.o.jsm.consumers.info(this.o.stream, options.durable).catch(() => undefined);
    if (existing) await this.o.jsm.consumers.update(this.o.stream, options.durable, config);
    else await this.o.jsm.consumers.add(this.o.stream, config);
    this.running = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.stop();
    this.wake?.();
    await this.running;
    if (this.active > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private async run(): Promise<void> {
    const consumer = await this.o.js.consumers.get(this.o.stream, this.o.options.durable);
    let failures = 0;
    while (!this.stopped) {
      const free = this.concurrency - this.active;
      if (free <= 0) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = undefined;
        continue;
      }
      try {
        const batch = await consumer.fetch({ max_messages: free, expires: FETCH_EXPIRES_MS });
        this.current = batch;
        for await (const m of batch) this.dispatch(m);
        failures = 0;
      } catch {
        // Disconnected or the server is restarting: back off (bounded) and pull again.
        failures += 1;
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** failures, 2_000)).unref());
      } finally {
        this.current = undefined;
      }
    }
  }

  private dispatch(m: JsMsg): void {
    const count = deliveryCountOf(m as JsMsg & { reply?: string });
    if (count > this.maxDeliver) {
      this.track(this.o.deadLetter(m).then(() => m.term('max deliveries')));
      return;
    }
    const message = new NatsMessage(m, this.o.prefix.length, count, this);
    this.active += 1;
    this.o.handler(message).then(
      () => this.finished(),
      () => {
        message.nak();
        this.finished();
      },
    );
  }

  /** A handler returned: its slot is free (one `then` per message, no promise chain or set). */
  private finished(): void {
    this.active -= 1;
    if (this.active === 0) for (const idle of this.idle.splice(0)) idle();
    this.wake?.();
  }

  /** Called by a message's nak once its deliveries are spent. */
  deadLetter(m: JsMsg): void {
    this.track(this.o.deadLetter(m).then(() => m.term('max deliveries')));
  }

  private track(work: Promise<void>): void {
    this.active += 1;
    work
      .catch(() => {
        // A failed dead-letter publish leaves the message unacked; the ack wait redelivers it.
      })
      .finally(() => this.finished());
  }
}

/**
 * One JetStream delivery as a handler sees it: a class, so a delivery allocates no closures,
 * and the headers are decoded only when read (the stream processor never reads them).
 */
class NatsMessage implements BusMessage {
  private settled = false;
  private decoded: Record<string, string> | undefined;

  constructor(
    private readonly m: JsMsg,
    private readonly prefixLength: number,
    readonly deliveryCount: number,
    private readonly loop: PullLoop,
  ) {}

  get subject(): string {
    return this.m.subject.slice(this.prefixLength);
  }

  get data(): Uint8Array {
    return this.m.data;
  }

  get headers(): Record<string, string> {
    this.decoded ??= fromHeaders(this.m.headers);
    return this.decoded;
  }

  get msgId(): string | undefined {
    return this.headers['Nats-Msg-Id'];
  }

  ack(): void {
    if (this.settled) return;
    this.settled = true;
    this.m.ack();
  }

  nak(delayMs?: number): void {
    if (this.settled) return;
    this.settled = true;
    if (this.deliveryCount >= this.loop.maxDeliver) this.loop.deadLetter(this.m);
    else this.m.nak(delayMs);
  }
}

/**
 * The delivery count from a JetStream ack subject, reading one token: nats.js's `m.info` splits
 * and parses all of them, a few microseconds a message. Old servers send
 * `$JS.ACK.<stream>.<consumer>.<count>.…` (9 tokens), newer ones
 * `$JS.ACK.<domain>.<hash>.<stream>.<consumer>.<count>.…` (12).
 */
export function deliveryCountOf(m: Pick<JsMsg, 'info'> & { reply?: string }): number {
  // The implementation exposes the ack subject as `reply`; its published type does not declare it.
  const reply = m.reply ?? '';
  let dots = 0;
  for (let i = 0; i < reply.length; i++) if (reply.charCodeAt(i) === 46) dots++;
  const want = dots === 8 ? 4 : 6;
  let seen = 0;
  let start = 0;
  for (let i = 0; i < reply.length; i++) {
    if (reply.charCodeAt(i) !== 46) continue;
    seen++;
    if (seen === want) start = i + 1;
    else if (seen === want + 1) {
      const count = Number(reply.slice(start, i));
      if (Number.isInteger(count) && count > 0) return count;
      break;
    }
  }
  return m.info.deliveryCount;
}

function toHeaders(values: Record<string, string> | undefined): MsgHdrs | undefined {
  if (!values || Object.keys(values).length === 0) return undefined;
  const h = natsHeaders();
  for (const [k, v] of Object.entries(values)) h.set(k, v);
  return h;
}

function fromHeaders(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const [k, v] of h) out[k] = v[0] ?? '';
  return out;
}

function withoutNatsHeaders(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).filter(([k]) => !k.startsWith('Nats-')));
}
