import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPgliteDatabase } from '../../src/adapters/pglite/pglite-database.js';
import { openPostgresDatabase } from '../../src/adapters/postgres/postgres-database.js';
import { migrate } from '../../src/app/migrations.js';
import { EventCatalogue } from '../../src/events/catalogue.js';
import { EventStore } from '../../src/events/event-store.js';
import { systemClock } from '../../src/kernel/clock.js';
import type { AimeshError } from '../../src/kernel/errors.js';
import { createLogger } from '../../src/kernel/logger.js';
import type { Database } from '../../src/ports/database.js';
import { createTestDatabase, serviceAvailable } from '../support/services.js';

const migrations = [
  { module: 'events', dir: new URL('../../src/events/migrations', import.meta.url).pathname },
];
let seq = 0;
const unique = (p: string) => `${p}-${Date.now()}-${++seq}`;
const completed = (extra: Record<string, unknown> = {}) => ({
  type: 'ai.inference.completed',
  source: '/gateway',
  data: { modelId: 'm1', latencyMs: 20 },
  ...extra,
});

function eventStoreSpec(
  name: string,
  open: () => Promise<{ db: Database; cleanup(): Promise<void> }>,
  enabled = true,
) {
  describe.skipIf(!enabled)(`Event store on ${name}`, () => {
    let db: Database;
    let cleanup: () => Promise<void>;
    let store: EventStore;
    beforeAll(async () => {
      ({ db, cleanup } = await open());
      await migrate(db, migrations);
      store = new EventStore({
        db,
        catalogue: new EventCatalogue(),
        clock: systemClock,
        logger: createLogger('silent'),
      });
    });
    afterAll(async () => {
      await db?.close();
      await cleanup?.();
    });

    it('appends one event and reads it back as a CloudEvent with its topic', async () => {
      const id = unique('one');
      const [result] = await store.append(
        completed({ id, correlationid: 'c-one', traceparent: '00-abc-def-01' }),
      );
      expect(result).toMatchObject({ id, duplicate: false });
      const [event] = await store.query({ correlationId: 'c-one' });
      expect(event).toMatchObject({
        specversion: '1.0',
        id,
        type: 'ai.inference.completed',
        source: '/gateway',
        datacontenttype: 'application/json',
        dataschema: 'urn:aimesh:event:ai.inference.completed:v2',
        correlationid: 'c-one',
        traceparent: '00-abc-def-01',
        topic: 'ai.inference.completed',
        position: result.position,
        data: { modelId: 'm1', latencyMs: 20 },
      });
      expect(Number.isNaN(Date.parse(event.time))).toBe(false);
    });

    it('appends a batch in one transaction with increasing positions', async () => {
      const corr = unique('batch');
      const results = await store.append([1, 2, 3].map(() => completed({ correlationid: corr })));
      const positions = results.map((r) => r.position);
      expect(positions).toEqual([...positions].sort((a, b) => a - b));
      expect(new Set(positions).size).toBe(3);
    });

    it('stores nothing from a batch in which one event is invalid', async () => {
      const corr = unique('atomic');
      await expect(
        store.append([
          completed({ correlationid: corr }),
          completed({ correlationid: corr, data: { modelId: 'x' } }),
        ]),
      ).rejects.toMatchObject({ status: 400, code: 'invalid_event_data' });
      expect(await store.query({ correlationId: corr })).toEqual([]);
    });

    it('treats an id already stored as a no-op, in later appends and within a batch', async () => {
      const id = unique('dup');
      const [first] = await store.append(completed({ id }));
      const [again] = await store.append(completed({ id, data: { modelId: 'other', latencyMs: 1 } }));
      expect(again).toEqual({ id, position: first.position, duplicate: true });
      const twice = await store.append([completed({ id: `${id}-b` }), completed({ id: `${id}-b` })]);
      expect(twice.map((r) => r.duplicate)).toEqual([false, true]);
      expect(twice[0].position).toBe(twice[1].position);
      const [stored] = await store
        .query({
          correlationId: undefined,
          type: 'ai.inference.completed',
          from: '1970-01-01T00:00:00Z',
          limit: 10_000,
        })
        .then((all) => all.filter((e) => e.id === id));
      expect(stored.data).toEqual({ modelId: 'm1', latencyMs: 20 });
    });

    it('finds events by time range, inclusive at both ends', async () => {
      const corr = unique('time');
      const times = ['2031-01-01T00:00:00.000Z', '2031-01-02T00:00:00.000Z', '2031-01-03T00:00:00.000Z'];
      await store.append(times.map((time) => completed({ correlationid: corr, time })));
      const found = await store.query({ from: times[0], to: times[1] });
      expect(found.filter((e) => e.correlationid === corr).map((e) => e.time)).toEqual(times.slice(0, 2));
    });

    it('finds events by type, also under the legacy upper-case name', async () => {
      const corr = unique('type');
      await store.append([
        completed({ correlationid: corr }),
        { type: 'ai.training.started', source: '/p', data: { executionId: 'e' }, correlationid: corr },
      ]);
      const byType = (await store.query({ type: 'MODEL_TRAINING_STARTED', limit: 10_000 })).filter(
        (e) => e.correlationid === corr,
      );
      expect(byType.map((e) => e.type)).toEqual(['ai.training.started']);
    });

    it('finds events by correlation id in store order', async () => {
      const corr = unique('corr');
      const results = await store.append([
        completed({ correlationid: corr }),
        completed({ correlationid: corr }),
      ]);
      expect((await store.query({ correlationId: corr })).map((e) => e.id)).toEqual(results.map((r) => r.id));
    });

    it('finds the events a principal acted in: data.actor, or data.userId of a call', async () => {
      const corr = unique('corr');
      const actor = unique('actor');
      const results = await store.append([
        completed({ correlationid: corr, data: { modelId: 'm1', latencyMs: 1, userId: actor } }),
        completed({ correlationid: corr, data: { modelId: 'm1', latencyMs: 1, userId: 'someone-else' } }),
        { type: 'shop.note', source: '/x', correlationid: corr, data: { actor } },
        { type: 'shop.note', source: '/x', correlationid: corr, data: { note: actor } },
      ]);
      const found = await store.query({ correlationId: corr, actor });
      expect(found.map((e) => e.id)).toEqual([results[0].id, results[2].id]);
    });

    it('finds events by causation id ordered by time, not by store order', async () => {
      const cause = unique('cause');
      await store.append([
        completed({ id: `${cause}-late`, causationid: cause, time: '2030-05-01T00:00:02Z' }),
        completed({ id: `${cause}-early`, causationid: cause, time: '2030-05-01T00:00:01Z' }),
      ]);
      expect((await store.query({ causationId: cause })).map((e) => e.id)).toEqual([
        `${cause}-early`,
        `${cause}-late`,
      ]);
    });

    it('reads forward from a position', async () => {
      const head = await store.head();
      const results = await store.append([completed(), completed(), completed()]);
      const after = await store.readFrom(head, 2);
      expect(after.map((e) => e.id)).toEqual(results.slice(0, 2).map((r) => r.id));
      expect((await store.readFrom(results[2].position)).length).toBe(0);
    });

    it('upcasts an event stored as v1 to the current version when read', async () => {
      const id = unique('v1');
      await store.append({
        id,
        type: 'ai.inference.completed',
        source: '/old',
        dataschema: 'urn:aimesh:event:ai.inference.completed:v1',
        data: { modelId: 'm1', latency: 42 },
      });
      const [event] = (await store.query({ from: '1970-01-01T00:00:00Z', limit: 10_000 })).filter(
        (e) => e.id === id,
      );
      expect(event.data).toEqual({ modelId: 'm1', latencyMs: 42 });
      expect(event.dataschema).toBe('urn:aimesh:event:ai.inference.completed:v2');
    });

    it('rejects invalid events with 400 and a message naming the problem', async () => {
      const reject = async (input: unknown) => {
        try {
          await store.append(input as never);
        } catch (error) {
          return error as AimeshError;
        }
        throw new Error('expected a rejection');
      };
      expect(await reject({ type: 'x.y', data: {} })).toMatchObject({ status: 400, code: 'invalid_event' });
      expect((await reject({ type: 'x.y', data: {} })).message).toMatch(/source/);
      expect(await reject({ source: '/s' })).toMatchObject({ status: 400, code: 'invalid_event' });
      expect(await reject(completed({ data: { modelId: 'm', latencyMs: 'slow' } }))).toMatchObject({
        code: 'invalid_event_data',
      });
      expect((await reject(completed({ data: { modelId: 'm' } }))).message).toMatch(/latencyMs/);
      expect(await reject(completed({ time: 'yesterday' }))).toMatchObject({ code: 'invalid_event' });
      expect(await reject(completed({ correlationid: 7 }))).toMatchObject({ code: 'invalid_event' });
      expect(await reject(completed({ dataschema: 'https://example.org/schema' }))).toMatchObject({
        code: 'invalid_event',
      });
    });

    it('commits positions in order: a reader following "after position N" never skips one', async () => {
      let cursor = await store.head();
      const start = cursor;
      const read: number[] = [];
      let writing = true;
      const writers = Array.from({ length: 6 }, async (_, w) => {
        for (let b = 0; b < 15; b++) {
          await store.append(Array.from({ length: 10 }, () => completed({ correlationid: `order-${w}` })));
        }
      });
      const reader = (async () => {
        while (writing || cursor < (await store.head())) {
          const batch = await store.readFrom(cursor, 1_000);
          for (const e of batch) read.push(e.position);
          if (batch.length > 0) cursor = batch[batch.length - 1].position;
        }
      })();
      await Promise.all(writers);
      writing = false;
      await reader;
      const all = (await store.readFrom(start, 10_000)).map((e) => e.position);
      expect(all).toHaveLength(900);
      expect(read).toEqual(all);
    });

    it('stores enqueued events in batches on flush', async () => {
      const corr = unique('enqueue');
      for (let i = 0; i < 5; i++)
        store.enqueue(completed({ correlationid: corr, data: { modelId: `m-${i}`, latencyMs: i } }));
      await store.flush();
      const stored = await store.query({ correlationId: corr });
      // Each row carries its own event's data, in the order they were enqueued.
      expect(stored.map((e) => e.data)).toEqual(
        [0, 1, 2, 3, 4].map((i) => expect.objectContaining({ modelId: `m-${i}`, latencyMs: i })),
      );
    });

    it('stores any text exactly, through enqueue and append alike (quotes, backslashes, commas, braces, NULL)', async () => {
      // Text PostgreSQL can hold: any string without NUL.
      const text = fc
        .string({ unit: 'binary', minLength: 1, maxLength: 40 })
        .filter((t) => !t.includes('\u0000'));
      const tricky = fc.constantFrom('NULL', 'null', '"', '\\', '{a,b}', ' ', '\\"', ',', '}');
      const value = fc.oneof(text, tricky);
      await fc.assert(
        fc.asyncProperty(
          value,
          value,
          value,
          fc.boolean(),
          async (subject, correlation, modelId, batched) => {
            const id = unique('text');
            const event = completed({
              id,
              subject,
              correlationid: correlation,
              data: { modelId, latencyMs: 1 },
            });
            if (batched) {
              store.enqueue(event);
              await store.flush();
            } else await store.append(event);
            const [stored] = await store
              .query({ correlationId: correlation, limit: 10_000 })
              .then((all) => all.filter((e) => e.id === id));
            expect(stored).toMatchObject({ subject, correlationid: correlation, data: { modelId } });
          },
        ),
        { numRuns: 60 },
      );
    });

    it('times an enqueued event when it was enqueued, not when its batch was stored', async () => {
      let now = Date.parse('2026-01-01T00:00:00.000Z');
      const clock = { now: () => now, sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)) };
      const slow = new EventStore({
        db,
        catalogue: new EventCatalogue(),
        clock,
        logger: createLogger('silent'),
        flushIntervalMs: 60_000,
      });
      const corr = unique('enqueue-time');
      slow.enqueue(completed({ correlationid: corr }));
      now += 5_000;
      await slow.flush();
      const [event] = await store.query({ correlationId: corr });
      expect(event.time).toBe('2026-01-01T00:00:00.000Z');
    });

    it('batches by the flush interval even while stores are slow, and loses nothing', async () => {
      // Each store takes 10 ms; events arrive every 2 ms for ~200 ms; the interval is 40 ms.
      // Storing again as soon as a store ended would make ~20 statements of a few events each.
      let statements = 0;
      const slowly = async () => {
        statements += 1;
        await new Promise((r) => setTimeout(r, 10));
      };
      // Whichever way the adapter stores a batch: an INSERT, or a COPY.
      const slowDb: Database = {
        ...db,
        query: async (text, params, options) => {
          if (text.includes('INSERT INTO aimesh_events')) await slowly();
          return db.query(text, params, options);
        },
        ...(db.copyFrom
          ? {
              copyFrom: async (statement, data, options) => {
                await slowly();
                return db.copyFrom!(statement, data, options);
              },
            }
          : {}),
      };
      const batching = new EventStore({
        db: slowDb,
        catalogue: new EventCatalogue(),
        clock: systemClock,
        logger: createLogger('silent'),
        flushIntervalMs: 40,
      });
      const corr = unique('interval');
      const started = performance.now();
      for (let i = 0; i < 100; i++) {
        batching.enqueue(completed({ correlationid: corr, data: { modelId: `m-${i}`, latencyMs: i } }));
        await new Promise((r) => setTimeout(r, 2));
      }
      const enqueuedFor = performance.now() - started;
      await batching.flush();
      const stored = await store.query({ correlationId: corr, limit: 1_000 });
      expect(stored.map((e) => (e.data as { latencyMs: number }).latencyMs)).toEqual(
        Array.from({ length: 100 }, (_, i) => i),
      );
      // One statement per interval the enqueueing lasted (however long a busy machine made
      // it), plus the one a slow store holds back and the final flush; not one per event.
      expect(statements).toBeGreaterThanOrEqual(2);
      expect(statements).toBeLessThanOrEqual(Math.ceil(enqueuedFor / 40) + 2);
      expect(statements).toBeLessThan(100);
    });

    it('stores a batch holding an id stored before, or twice, once each and loses the rest of it', async () => {
      const corr = unique('dup-batch');
      const repeated = unique('dup');
      await store.append(completed({ id: repeated, correlationid: corr }));
      const twice = unique('twice');
      store.enqueue(completed({ id: repeated, correlationid: corr }));
      store.enqueue(completed({ id: twice, correlationid: corr }));
      store.enqueue(completed({ id: twice, correlationid: corr }));
      store.enqueue(completed({ correlationid: corr }));
      await store.flush();
      const stored = await store.query({ correlationId: corr });
      expect(stored).toHaveLength(3);
      expect(new Set(stored.map((e) => e.id)).size).toBe(3);
    });

    it('drops only the invalid events of a queued batch and stores the rest', async () => {
      const corr = unique('mixed');
      store.enqueue(completed({ correlationid: corr }));
      store.enqueue(completed({ correlationid: corr, source: '' }));
      store.enqueue(completed({ correlationid: corr, data: { latencyMs: 'slow' } }));
      store.enqueue(completed({ correlationid: corr }));
      await store.flush();
      expect(await store.query({ correlationId: corr })).toHaveLength(2);
    });

    it('stores a full batch at once, without waiting for the interval', async () => {
      const eager = new EventStore({
        db,
        catalogue: new EventCatalogue(),
        clock: systemClock,
        logger: createLogger('silent'),
        batchSize: 5,
        flushIntervalMs: 60_000,
      });
      const corr = unique('full');
      for (let i = 0; i < 5; i++) eager.enqueue(completed({ correlationid: corr }));
      await expect
        .poll(() => store.query({ correlationId: corr }).then((all) => all.length), { timeout: 5_000 })
        .toBe(5);
    });
  });
}

eventStoreSpec('pglite', async () => ({
  db: await openPgliteDatabase('memory://'),
  cleanup: async () => {},
}));

const postgres = await serviceAvailable('postgres');
eventStoreSpec(
  'postgres',
  async () => {
    const test = await createTestDatabase();
    return { db: await openPostgresDatabase(test.url, 4), cleanup: test.drop };
  },
  postgres,
);
