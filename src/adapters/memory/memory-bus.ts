import {
  type BusMessage,
  type ConsumeOptions,
  type EventBus,
  type PublishOptions,
  type Subscription,
  subjectMatches,
} from '../../ports/event-bus.js';

interface Stored {
  subject: string;
  data: Uint8Array;
  msgId?: string;
  headers: Record<string, string>;
}

interface Delivery {
  message: Stored;
  count: number;
}

interface Member {
  handler: (message: BusMessage) => Promise<void>;
  concurrency: number;
  active: number;
}

interface Durable {
  name: string;
  subjects: string[];
  ackWaitMs: number;
  maxDeliver: number;
  queue: Delivery[];
  /** Index of the queue's first element: taking from the front moves it, never the elements. */
  head: number;
  members: Member[];
  next: number;
  /**
   * Deliveries awaiting their ack, in delivery order: with one ack wait per durable that is
   * deadline order too, so one timer for the oldest replaces a timer per message.
   */
  unacked: Set<MemoryMessage>;
  ackTimer: NodeJS.Timeout | undefined;
}

/** One delivery as its handler sees it; a class, so a delivery allocates no closures. */
class MemoryMessage implements BusMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly msgId: string | undefined;
  readonly headers: Record<string, string>;
  readonly deliveryCount: number;
  /** Wall time (ms) after which an unacknowledged delivery is given back. */
  readonly deadline: number;
  settled = false;

  constructor(
    readonly delivery: Delivery,
    readonly durable: Durable,
    readonly member: Member,
    private readonly settle: (m: MemoryMessage, requeueAfter: number | undefined) => void,
  ) {
    const m = delivery.message;
    this.subject = m.subject;
    this.data = m.data;
    this.msgId = m.msgId;
    this.headers = m.headers;
    this.deliveryCount = delivery.count;
    this.deadline = Date.now() + durable.ackWaitMs;
  }

  ack(): void {
    this.settle(this, undefined);
  }

  nak(delayMs?: number): void {
    this.settle(this, delayMs ?? 0);
  }
}

export interface MemoryBusOptions {
  /** Messages kept for durables created later (JetStream keeps its stream; we keep a bounded tail). */
  retain?: number;
  /** Ids remembered for duplicate detection (JetStream's duplicate window, by count). */
  dedupeWindow?: number;
}

/** The in-process EventBus: same semantics as the JetStream adapter, in one process's memory. */
export function createMemoryBus(options: MemoryBusOptions = {}): EventBus {
  const retain = options.retain ?? 10_000;
  const dedupeWindow = options.dedupeWindow ?? 100_000;
  // The retained tail is log[logHead..]: trimmed ones are dropped in chunks, as Array.shift
  // moves the whole array on every call once it is large (100,000 retained at 5,000 messages/s
  // made the bus fall seconds behind).
  const log: Stored[] = [];
  let logHead = 0;
  const seen = new Set<string>();
  const durables = new Map<string, Durable>();
  const subscribers = new Set<{ subject: string; handler: (m: BusMessage) => void }>();
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  const later = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timer.unref();
    timers.add(timer);
    return timer;
  };

  const deadLetterSubject = (durable: string) => `aimesh.dlq.${durable}`;

  function route(message: Stored) {
    for (const durable of durables.values()) {
      if (durable.subjects.some((s) => subjectMatches(s, message.subject))) {
        durable.queue.push({ message, count: 0 });
        pump(durable);
      }
    }
    for (const sub of subscribers) {
      if (!subjectMatches(sub.subject, message.subject)) continue;
      try {
        sub.handler({ ...message, deliveryCount: 1, ack() {}, nak() {} });
      } catch {
        // A live subscriber's failure is its own; the bus keeps delivering to the others.
      }
    }
  }

  function pump(durable: Durable) {
    let batch: MemoryMessage[] | undefined;
    while (!closed && durable.queue.length > durable.head) {
      const member = pickMember(durable);
      if (!member) break;
      // Array.shift copies a large array on every call: a backlog of N would cost N² moves.
      const delivery = durable.queue[durable.head]!;
      durable.queue[durable.head++] = undefined as never;
      if (durable.head > 1_024 && durable.head * 2 > durable.queue.length) {
        durable.queue = durable.queue.slice(durable.head);
        durable.head = 0;
      }
      delivery.count += 1;
      member.active += 1;
      const message = new MemoryMessage(delivery, durable, member, settle);
      durable.unacked.add(message);
      if (batch) batch.push(message);
      else batch = [message];
    }
    if (!batch) return;
    armAckTimer(durable);
    // Handlers run after the caller's turn (as a broker's delivery would), one microtask per batch.
    const ready = batch;
    queueMicrotask(() => {
      for (const message of ready) {
        try {
          message.member.handler(message).catch(() => message.nak());
        } catch {
          message.nak();
        }
      }
    });
  }

  function pickMember(durable: Durable): Member | undefined {
    for (let i = 0; i < durable.members.length; i++) {
      const member = durable.members[(durable.next + i) % durable.members.length];
      if (member.active < member.concurrency) {
        durable.next = (durable.next + i + 1) % durable.members.length;
        return member;
      }
    }
    return undefined;
  }

  function settle(message: MemoryMessage, requeueAfter: number | undefined) {
    if (message.settled) return;
    message.settled = true;
    const durable = message.durable;
    durable.unacked.delete(message);
    message.member.active -= 1;
    if (requeueAfter !== undefined) later(requeueAfter, () => requeue(durable, message.delivery));
    pump(durable);
  }

  /** One timer per durable, for its oldest unacknowledged delivery. */
  function armAckTimer(durable: Durable) {
    if (durable.ackTimer || closed) return;
    const oldest = durable.unacked.values().next().value;
    if (!oldest) return;
    durable.ackTimer = setTimeout(() => expire(durable), Math.max(0, oldest.deadline - Date.now()));
    durable.ackTimer.unref();
  }

  function expire(durable: Durable) {
    durable.ackTimer = undefined;
    const now = Date.now();
    for (const message of durable.unacked) {
      if (message.deadline > now) break;
      settle(message, 0);
    }
    armAckTimer(durable);
  }

  function requeue(durable: Durable, delivery: Delivery) {
    if (delivery.count >= durable.maxDeliver) {
      const dead: Stored = {
        subject: deadLetterSubject(durable.name),
        data: delivery.message.data,
        msgId: delivery.message.msgId,
        headers: { ...delivery.message.headers, 'Aimesh-Original-Subject': delivery.message.subject },
      };
      route(dead);
      return;
    }
    if (durable.head > 0) durable.queue[--durable.head] = delivery;
    else durable.queue.unshift(delivery);
    pump(durable);
  }

  return {
    kind: 'memory',
    connected: () => true,
    deadLetterSubject,
    async publish(subject: string, data: Uint8Array, opts: PublishOptions = {}) {
      if (closed) throw new Error('bus is closed');
      if (opts.msgId) {
        if (seen.has(opts.msgId)) return;
        seen.add(opts.msgId);
        if (seen.size > dedupeWindow) seen.delete(seen.values().next().value!);
      }
      const message: Stored = { subject, data, msgId: opts.msgId, headers: opts.headers ?? {} };
      log.push(message);
      if (log.length - logHead > retain) logHead += 1;
      if (logHead > 1_024 && logHead * 2 > log.length) {
        log.splice(0, logHead);
        logHead = 0;
      }
      route(message);
    },
    async consume(options: ConsumeOptions, handler): Promise<Subscription> {
      let durable = durables.get(options.durable);
      if (!durable) {
        durable = {
          name: options.durable,
          subjects: options.subjects,
          ackWaitMs: options.ackWaitMs ?? 30_000,
          maxDeliver: options.maxDeliver ?? 5,
          queue: log
            .slice(logHead)
            .filter((m) => options.subjects.some((s) => subjectMatches(s, m.subject)))
            .map((message) => ({ message, count: 0 })),
          head: 0,
          members: [],
          next: 0,
          unacked: new Set(),
          ackTimer: undefined,
        };
        durables.set(options.durable, durable);
      }
      const member: Member = { handler, concurrency: options.concurrency ?? 1, active: 0 };
      durable.members.push(member);
      const state = durable;
      queueMicrotask(() => pump(state));
      return {
        async close() {
          state.members = state.members.filter((m) => m !== member);
        },
      };
    },
    async subscribe(subject, handler): Promise<Subscription> {
      const sub = { subject, handler };
      subscribers.add(sub);
      return {
        async close() {
          subscribers.delete(sub);
        },
      };
    },
    async close() {
      closed = true;
      for (const durable of durables.values()) clearTimeout(durable.ackTimer);
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      subscribers.clear();
    },
  };
}
