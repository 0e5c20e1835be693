import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openPgliteDatabase } from '../../src/adapters/pglite/pglite-database.js';
import { migrate } from '../../src/app/migrations.js';
import { EventCatalogue } from '../../src/events/catalogue.js';
import { EventStore } from '../../src/events/event-store.js';
import { systemClock } from '../../src/kernel/clock.js';
import { createLogger } from '../../src/kernel/logger.js';
import type { Database } from '../../src/ports/database.js';
import type { BusMessage, EventBus } from '../../src/ports/event-bus.js';
import { ConsumerGroup, type EventHandler } from '../../src/streams/consumer-group.js';
import { until } from '../support/until.js';
import { waitFor } from '../support/wait.js';

const logger = createLogger('silent');
export const streamMigrations = [
  { module: 'events', dir: new URL('../../src/events/migrations', import.meta.url).pathname },
  { module: 'streams', dir: new URL('../../src/streams/migrations', import.meta.url).pathname },
];
const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

/** Consumer groups over one bus adapter: the same behaviour on every bus. */
export function consumerGroupContract(
  name: string,
  open: () => Promise<{ bus: EventBus; cleanup(): Promise<void> }>,
  enabled = true,
) {
  describe.skipIf(!enabled)(`consumer groups: ${name}`, () => {
    let bus: EventBus;
    let cleanup: () => Promise<void>;
    let db: Database;
    let store: EventStore;
    const groups: ConsumerGroup[] = [];

    const group = (
      name: string,
      handler: EventHandler,
      extra: Partial<ConstructorParameters<typeof ConsumerGroup>[0]> = {},
    ) => {
      const g = new ConsumerGroup({
        bus,
        db,
        events: store,
        logger,
        group: name,
        subjects: [`ai.${name}.>`],
        concurrency: 3,
        maxDeliveries: 3,
        retryDelayMs: 10,
        ackWaitMs: 5_000,
        ...extra,
      }).on(handler);
      groups.push(g);
      return g;
    };
    const publish = (name: string, id: string, extra: Record<string, unknown> = {}, msgId = id) =>
      bus.publish(
        `ai.${name}.done`,
        encode({
          id,
          type: `ai.${name}.done`,
          source: '/t',
          time: new Date().toISOString(),
          data: {},
          ...extra,
        }),
        { msgId },
      );

    beforeAll(async () => {
      ({ bus, cleanup } = await open());
      db = await openPgliteDatabase('memory://');
      await migrate(db, streamMigrations);
      store = new EventStore({ db, catalogue: new EventCatalogue(), clock: systemClock, logger });
    });
    afterEach(async () => {
      for (const g of groups.splice(0)) await g.stop();
    });
    afterAll(async () => {
      await bus?.close();
      await cleanup?.();
      await db?.close();
    });

    it('handles a redelivered event once: the processed-event record skips the second delivery', async () => {
      const handled: string[] = [];
      await group('once', {
        type: 'ai.once.done',
        name: 'count',
        handle: async (e) => void handled.push(e.id),
      }).start();
      await publish('once', 'e1');
      await waitFor(() => handled.length === 1, 'first handling', 20_000);
      // The same event again under another message id: what a redelivery after a lost ack looks like.
      await publish('once', 'e1', {}, 'e1-again');
      await publish('once', 'e2');
      await waitFor(() => handled.length === 2, 'second event', 20_000);
      await new Promise((r) => setTimeout(r, 200));
      expect(handled).toEqual(['e1', 'e2']);
    });

    it('counts an event once when its first handling failed and rolled back', async () => {
      let attempts = 0;
      const rows = async () =>
        (
          await db.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM aimesh_stream_processed WHERE consumer = 'retry'",
          )
        ).rows[0].n;
      await group('retry', {
        type: 'ai.retry.done',
        name: 'flaky',
        handle: async (_e, ctx) => {
          attempts += 1;
          ctx.emit({ type: 'ai.retry.noted', source: '/t', data: { attempt: attempts } });
          if (attempts === 1) throw new Error('first try fails');
        },
      }).start();
      await publish('retry', 'r1');
      await waitFor(() => attempts === 2, 'the retry', 20_000);
      await until(async () => (await rows()) === 1, 20_000, 'the processed record', 20);
      const noted = await store.query({ type: 'ai.retry.noted' });
      expect(noted.map((e) => (e.data as { attempt: number }).attempt)).toEqual([2]);
    });

    it('shares the work of one group across 3 consumers, each event handled once', async () => {
      const byMember = [0, 0, 0];
      const seen = new Set<string>();
      for (let m = 0; m < 3; m++) {
        await group(
          'share',
          {
            type: 'ai.share.done',
            name: `member-${m}`,
            handle: async (e) => {
              seen.add(e.id);
              byMember[m] += 1;
              await new Promise((r) => setTimeout(r, 30));
            },
          },
          { concurrency: 1 },
        ).start();
      }
      for (let i = 0; i < 30; i++) await publish('share', `s${i}`);
      await waitFor(() => byMember.reduce((a, b) => a + b, 0) >= 30, '30 handlings', 20_000);
      await new Promise((r) => setTimeout(r, 200));
      expect(byMember.reduce((a, b) => a + b, 0)).toBe(30);
      expect(seen.size).toBe(30);
      expect(byMember.every((n) => n > 0)).toBe(true);
    });

    it('sends a poison event to aimesh.dlq.<group> with its error after max deliveries', async () => {
      let attempts = 0;
      const dead: BusMessage[] = [];
      const reader = await bus.consume(
        { durable: 'dlq-reader', subjects: ['aimesh.dlq.poison'] },
        async (m) => {
          dead.push(m);
          m.ack();
        },
      );
      const g = group('poison', {
        type: 'ai.poison.done',
        name: 'fails',
        handle: async () => {
          attempts += 1;
          throw new Error('cannot digest this');
        },
      });
      expect(g.deadLetterSubject).toBe('aimesh.dlq.poison');
      await g.start();
      await publish('poison', 'p1');
      await waitFor(() => dead.length === 1, 'the dead letter', 20_000);
      await reader.close();
      expect(attempts).toBe(3);
      expect(dead[0].headers['Aimesh-Error']).toBe('cannot digest this');
      expect(dead[0].headers['Aimesh-Deliveries']).toBe('3');
      expect(dead[0].headers['Aimesh-Original-Subject']).toBe('ai.poison.done');
      expect(JSON.parse(new TextDecoder().decode(dead[0].data)).id).toBe('p1');
    });

    it('keeps the events of one partition key in order while other keys run alongside', async () => {
      const order = new Map<string, number[]>();
      await group(
        'order',
        {
          type: 'ai.order.done',
          name: 'ordered',
          handle: async (e) => {
            const n = Number(e.data.n);
            // Earlier events wait longer: without per-key order they would finish last.
            await new Promise((r) => setTimeout(r, (10 - (n % 10)) * 3));
            const key = String(e.partitionkey);
            order.set(key, [...(order.get(key) ?? []), n]);
          },
        },
        { concurrency: 6 },
      ).start();
      for (let n = 0; n < 20; n++)
        await publish('order', `o${n}`, { partitionkey: `k${n % 2}`, data: { n } });
      await waitFor(
        () => (order.get('k0')?.length ?? 0) + (order.get('k1')?.length ?? 0) === 20,
        '20 handled',
        20_000,
      );
      expect(order.get('k0')).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
      expect(order.get('k1')).toEqual([1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);
    });
  });
}
