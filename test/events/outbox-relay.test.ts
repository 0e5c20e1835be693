import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBus } from '../../src/adapters/memory/memory-bus.js';
import { openPgliteDatabase } from '../../src/adapters/pglite/pglite-database.js';
import { openPostgresDatabase } from '../../src/adapters/postgres/postgres-database.js';
import { migrate } from '../../src/app/migrations.js';
import { EventCatalogue } from '../../src/events/catalogue.js';
import { decodeCloudEvent } from '../../src/events/cloud-event-json.js';
import { EventStore } from '../../src/events/event-store.js';
import { OutboxRelay } from '../../src/events/outbox-relay.js';
import { systemClock } from '../../src/kernel/clock.js';
import { createLogger } from '../../src/kernel/logger.js';
import { seededRandom } from '../../src/kernel/random.js';
import type { Database } from '../../src/ports/database.js';
import type { BusMessage, EventBus } from '../../src/ports/event-bus.js';
import { createTestDatabase, serviceAvailable } from '../support/services.js';
import { sleep, waitFor } from '../support/wait.js';

const logger = createLogger(process.env.RELAY_LOG ?? 'silent');
const migrations = [
  { module: 'events', dir: new URL('../../src/events/migrations', import.meta.url).pathname },
];

function storeOn(db: Database) {
  return new EventStore({ db, catalogue: new EventCatalogue(), clock: systemClock, logger });
}

function relayOn(db: Database, store: EventStore, bus: EventBus, owner: string, metrics = new Registry()) {
  return new OutboxRelay({
    store,
    db,
    bus,
    clock: systemClock,
    random: seededRandom(1),
    logger,
    metrics,
    owner,
    pollIntervalMs: 50,
    leaseMs: 3_000,
  });
}

async function collect(bus: EventBus, into: BusMessage[]) {
  await bus.consume({ durable: `all-${into.length}`, subjects: ['ai.>'] }, async (m) => {
    into.push(m);
    m.ack();
  });
}

const event = (i: number) => ({
  id: `ev-${i}`,
  type: 'ai.inference.completed',
  source: '/test',
  data: { modelId: 'm', latencyMs: i },
});

function relaySpec(
  name: string,
  open: () => Promise<{ db: Database; cleanup(): Promise<void> }>,
  enabled = true,
) {
  describe.skipIf(!enabled)(`Outbox relay on ${name}`, () => {
    let db: Database;
    let cleanup: () => Promise<void>;
    let store: EventStore;
    const relays: OutboxRelay[] = [];
    beforeAll(async () => {
      ({ db, cleanup } = await open());
      await migrate(db, migrations);
      store = storeOn(db);
    });
    afterEach(async () => {
      for (const relay of relays.splice(0)) await relay.stop();
      await db.exec('TRUNCATE aimesh_events, aimesh_event_cursors, aimesh_event_leases');
    });
    afterAll(async () => {
      await db?.close();
      await cleanup?.();
    });

    it('publishes stored events in store order: CloudEvent JSON body, topic subject, event id as msgId', async () => {
      const bus = createMemoryBus();
      const got: BusMessage[] = [];
      await collect(bus, got);
      await store.append([event(1), event(2), { id: 'other', type: 'x.unknown', source: '/t', data: {} }]);
      const relay = relayOn(db, store, bus, 'a');
      relays.push(relay);
      relay.start();
      await waitFor(() => got.length === 3, 'three published');
      expect(got.map((m) => m.msgId)).toEqual(['ev-1', 'ev-2', 'other']);
      expect(got.map((m) => m.subject)).toEqual([
        'ai.inference.completed',
        'ai.inference.completed',
        'ai.events.default',
      ]);
      const body = decodeCloudEvent(got[1].data)!;
      expect(body).toMatchObject({
        specversion: '1.0',
        id: 'ev-2',
        type: 'ai.inference.completed',
        source: '/test',
      });
      expect(body.data).toEqual({ modelId: 'm', latencyMs: 2 });
      expect(body).not.toHaveProperty('position');
    });

    it('wakes on a local append at once, well before its poll interval', async () => {
      const bus = createMemoryBus();
      const got: BusMessage[] = [];
      await collect(bus, got);
      const relay = new OutboxRelay({
        store,
        db,
        bus,
        clock: systemClock,
        random: seededRandom(1),
        logger,
        owner: 'a',
        pollIntervalMs: 60_000,
      });
      relays.push(relay);
      relay.start();
      await waitFor(() => relay.isLeader, 'the lease');
      const t0 = Date.now();
      await store.append(event(1));
      await waitFor(() => got.length === 1, 'the publish', 2_000);
      expect(Date.now() - t0).toBeLessThan(1_000);
    });

    it("picks up another process's appends by polling", async () => {
      const bus = createMemoryBus();
      const got: BusMessage[] = [];
      await collect(bus, got);
      const relay = relayOn(db, store, bus, 'a');
      relays.push(relay);
      relay.start();
      await storeOn(db).append([event(1), event(2)]);
      await waitFor(() => got.length === 2, 'two published after a poll');
    });

    it('resumes from its saved position after a restart: nothing published twice', async () => {
      const first = createMemoryBus();
      const before: BusMessage[] = [];
      await collect(first, before);
      await store.append([event(1), event(2)]);
      const relay = relayOn(db, store, first, 'a');
      relay.start();
      await waitFor(() => before.length === 2, 'first two');
      await relay.stop();
      await store.append([event(3)]);
      const second = createMemoryBus();
      const after: BusMessage[] = [];
      await collect(second, after);
      const next = relayOn(db, store, second, 'b');
      relays.push(next);
      next.start();
      await waitFor(() => after.length === 1, 'the third');
      expect(after[0].msgId).toBe('ev-3');
    });

    it('backs off while the bus is down, and a stop gives up at its deadline', async () => {
      const bus = createMemoryBus();
      await bus.close(); // every publish now fails
      const metrics = new Registry();
      const relay = relayOn(db, store, bus, 'a', metrics);
      await store.append([event(1), event(2)]);
      relay.start();
      await sleep(1_500);
      const failures = (await metrics.getSingleMetric('aimesh_relay_failures_total')!.get()).values[0].value;
      expect(failures).toBeGreaterThan(0);
      expect(failures).toBeLessThan(40); // backoff, not a spin
      const t0 = Date.now();
      await relay.stop(Date.now() + 300);
      expect(Date.now() - t0).toBeLessThan(3_000);
      expect(relay.position).toBe(0);
    });

    it('takes over the lease of a relay that vanished once the lease expires', async () => {
      await db.query(
        `INSERT INTO aimesh_event_leases (name, owner, expires_at) VALUES ('relay', 'crashed', now() + interval '1 second')`,
      );
      const bus = createMemoryBus();
      const got: BusMessage[] = [];
      await collect(bus, got);
      await store.append(event(1));
      const relay = relayOn(db, store, bus, 'survivor');
      relays.push(relay);
      relay.start();
      await sleep(300);
      expect(relay.isLeader).toBe(false);
      expect(got).toHaveLength(0);
      await waitFor(() => got.length === 1, 'the takeover after expiry', 5_000);
      expect(relay.isLeader).toBe(true);
    });

    it('keeps exactly one relay active; a standby takes over when the active one stops', async () => {
      const bus = createMemoryBus();
      const got: BusMessage[] = [];
      await collect(bus, got);
      const metricsA = new Registry();
      const metricsB = new Registry();
      const a = relayOn(db, store, bus, 'a', metricsA);
      const b = relayOn(db, store, bus, 'b', metricsB);
      relays.push(b);
      a.start();
      await waitFor(() => a.isLeader, 'a to lead');
      b.start();
      await store.append(Array.from({ length: 50 }, (_, i) => event(i)));
      await waitFor(() => got.length === 50, '50 published');
      expect(b.isLeader).toBe(false);
      const published = async (r: Registry) =>
        (await r.getSingleMetric('aimesh_relay_published_total')!.get()).values[0]?.value ?? 0;
      expect(await published(metricsA)).toBe(50);
      expect(await published(metricsB)).toBe(0);
      await a.stop();
      relays.push(a);
      await store.append([event(100)]);
      await waitFor(() => got.length === 51, 'the standby to publish', 5_000);
      expect(b.isLeader).toBe(true);
      expect(await published(metricsB)).toBe(1);
    });
  });
}

relaySpec('pglite', async () => ({ db: await openPgliteDatabase('memory://'), cleanup: async () => {} }));

const postgres = await serviceAvailable('postgres');
relaySpec(
  'postgres',
  async () => {
    const test = await createTestDatabase();
    return { db: await openPostgresDatabase(test.url, 4), cleanup: test.drop };
  },
  postgres,
);
