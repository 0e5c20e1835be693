import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusMessage, EventBus, Subscription } from '../../src/ports/event-bus.js';
import { sleep, waitFor } from '../support/wait.js';

const encode = (s: string) => new TextEncoder().encode(s);
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/** The EventBus port's contract; every adapter runs it. `open` returns a fresh bus of its own. */
export function eventBusContract(
  name: string,
  open: () => Promise<{ bus: EventBus; cleanup(): Promise<void> }>,
  enabled = true,
) {
  describe.skipIf(!enabled)(`EventBus contract: ${name}`, () => {
    let bus: EventBus;
    let cleanup: () => Promise<void>;
    const subscriptions: Subscription[] = [];
    const consume = async (
      options: Parameters<EventBus['consume']>[0],
      handler: (m: BusMessage) => Promise<void>,
    ) => {
      const sub = await bus.consume(options, handler);
      subscriptions.push(sub);
      return sub;
    };

    beforeAll(async () => {
      ({ bus, cleanup } = await open());
    });
    afterAll(async () => {
      for (const sub of subscriptions) await sub.close();
      await bus?.close();
      await cleanup?.();
    });

    it('delivers published messages to a durable consumer in order, with id and headers', async () => {
      for (let i = 0; i < 3; i++) {
        await bus.publish('ai.c1.thing', encode(`m${i}`), {
          msgId: `c1-${i}`,
          headers: { 'X-N': String(i) },
        });
      }
      const got: BusMessage[] = [];
      await consume({ durable: 'c1', subjects: ['ai.c1.>'] }, async (m) => {
        got.push(m);
        m.ack();
      });
      await waitFor(() => got.length === 3, '3 messages');
      expect(got.map((m) => decode(m.data))).toEqual(['m0', 'm1', 'm2']);
      expect(got.map((m) => m.subject)).toEqual(['ai.c1.thing', 'ai.c1.thing', 'ai.c1.thing']);
      expect(got[1].msgId).toBe('c1-1');
      expect(got[2].headers['X-N']).toBe('2');
      expect(got.every((m) => m.deliveryCount === 1)).toBe(true);
    });

    it('never redelivers an acknowledged message', async () => {
      const counts = new Map<string, number>();
      await consume({ durable: 'c2', subjects: ['ai.c2.>'], ackWaitMs: 300 }, async (m) => {
        counts.set(decode(m.data), (counts.get(decode(m.data)) ?? 0) + 1);
        m.ack();
      });
      await bus.publish('ai.c2.x', encode('once'), { msgId: 'c2-1' });
      await waitFor(() => counts.get('once') === 1, 'first delivery');
      await sleep(900);
      expect(counts.get('once')).toBe(1);
    });

    it('redelivers a nak-ed message with a higher delivery count', async () => {
      const deliveries: number[] = [];
      await consume({ durable: 'c3', subjects: ['ai.c3.>'], maxDeliver: 5 }, async (m) => {
        deliveries.push(m.deliveryCount);
        if (m.deliveryCount === 1) m.nak();
        else m.ack();
      });
      await bus.publish('ai.c3.x', encode('retry me'), { msgId: 'c3-1' });
      await waitFor(() => deliveries.length === 2, 'the redelivery');
      expect(deliveries).toEqual([1, 2]);
    });

    it('redelivers a message nobody acknowledged after the ack wait', async () => {
      const seen: { count: number; at: number }[] = [];
      await consume({ durable: 'c4', subjects: ['ai.c4.>'], ackWaitMs: 500 }, async (m) => {
        seen.push({ count: m.deliveryCount, at: Date.now() });
        if (m.deliveryCount > 1) m.ack();
      });
      await bus.publish('ai.c4.x', encode('forgotten'), { msgId: 'c4-1' });
      await waitFor(() => seen.length === 2, 'the redelivery after the ack wait');
      expect(seen.map((s) => s.count)).toEqual([1, 2]);
      expect(seen[1].at - seen[0].at).toBeGreaterThanOrEqual(400);
    });

    it('moves a message to the dead-letter subject after max deliveries', async () => {
      const attempts: number[] = [];
      const dead: BusMessage[] = [];
      await consume({ durable: 'c5', subjects: ['ai.c5.>'], maxDeliver: 3 }, async (m) => {
        attempts.push(m.deliveryCount);
        m.nak();
      });
      await consume({ durable: 'c5-dlq', subjects: [bus.deadLetterSubject('c5')] }, async (m) => {
        dead.push(m);
        m.ack();
      });
      await bus.publish('ai.c5.x', encode('poison'), { msgId: 'c5-1' });
      await waitFor(() => dead.length === 1, 'the dead letter');
      await sleep(300);
      expect(attempts).toEqual([1, 2, 3]);
      expect(decode(dead[0].data)).toBe('poison');
      expect(dead[0].headers['Aimesh-Original-Subject']).toBe('ai.c5.x');
      expect(bus.deadLetterSubject('c5').startsWith('ai.')).toBe(false);
    });

    it('drops a second publish with the same msgId', async () => {
      const got: string[] = [];
      await consume({ durable: 'c6', subjects: ['ai.c6.>'] }, async (m) => {
        got.push(decode(m.data));
        m.ack();
      });
      await bus.publish('ai.c6.x', encode('first'), { msgId: 'c6-same' });
      await bus.publish('ai.c6.x', encode('second'), { msgId: 'c6-same' });
      await bus.publish('ai.c6.x', encode('other'), { msgId: 'c6-other' });
      await waitFor(() => got.length === 2, 'two distinct messages');
      await sleep(300);
      expect(got).toEqual(['first', 'other']);
    });

    it('shares one durable between two consumers: each message handled once', async () => {
      const a: string[] = [];
      const b: string[] = [];
      const member = (into: string[]) => async (m: BusMessage) => {
        into.push(decode(m.data));
        await sleep(20);
        m.ack();
      };
      await consume({ durable: 'c7', subjects: ['ai.c7.>'] }, member(a));
      await consume({ durable: 'c7', subjects: ['ai.c7.>'] }, member(b));
      for (let i = 0; i < 20; i++) await bus.publish('ai.c7.x', encode(`w${i}`), { msgId: `c7-${i}` });
      await waitFor(() => a.length + b.length >= 20, '20 handled');
      await sleep(300);
      expect(a.length + b.length).toBe(20);
      expect(new Set([...a, ...b]).size).toBe(20);
      expect(a.length).toBeGreaterThan(0);
      expect(b.length).toBeGreaterThan(0);
    });

    it('fans a live message out to every subscriber, without replaying older ones', async () => {
      await bus.publish('ai.c8.x', encode('before'), { msgId: 'c8-0' });
      const one: string[] = [];
      const two: string[] = [];
      subscriptions.push(await bus.subscribe('ai.c8.>', (m) => one.push(decode(m.data))));
      subscriptions.push(await bus.subscribe('ai.c8.x', (m) => two.push(decode(m.data))));
      await sleep(50);
      await bus.publish('ai.c8.x', encode('live'), { msgId: 'c8-1' });
      await waitFor(() => one.length === 1 && two.length === 1, 'both subscribers');
      expect(one).toEqual(['live']);
      expect(two).toEqual(['live']);
    });

    it('runs at most `concurrency` handlers at once', async () => {
      let active = 0;
      let peak = 0;
      let done = 0;
      await consume({ durable: 'c9', subjects: ['ai.c9.>'], concurrency: 3 }, async (m) => {
        active += 1;
        peak = Math.max(peak, active);
        await sleep(60);
        active -= 1;
        done += 1;
        m.ack();
      });
      for (let i = 0; i < 12; i++) await bus.publish('ai.c9.x', encode(`k${i}`), { msgId: `c9-${i}` });
      await waitFor(() => done === 12, '12 handled', 10_000);
      expect(peak).toBe(3);
    });
  });
}
