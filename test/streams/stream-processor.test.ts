import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryBus } from '../../src/adapters/memory/memory-bus.js';
import { openPgliteDatabase } from '../../src/adapters/pglite/pglite-database.js';
import { migrate } from '../../src/app/migrations.js';
import { EventCatalogue } from '../../src/events/catalogue.js';
import { encodeCloudEvent } from '../../src/events/cloud-event-json.js';
import { EventStore } from '../../src/events/event-store.js';
import { OutboxRelay } from '../../src/events/outbox-relay.js';
import { ManualClock, systemClock } from '../../src/kernel/clock.js';
import { createLogger } from '../../src/kernel/logger.js';
import { seededRandom } from '../../src/kernel/random.js';
import type { Database } from '../../src/ports/database.js';
import type { BusMessage, EventBus } from '../../src/ports/event-bus.js';
import { Explorer } from '../../src/streams/explorer.js';
import { StreamProcessor } from '../../src/streams/stream-processor.js';
import { WindowAggregator } from '../../src/streams/window-aggregator.js';
import { streamMigrations } from '../contracts/consumer-group.js';
import { natsTestBus } from '../support/nats.js';
import { serviceAvailable } from '../support/services.js';
import { until } from '../support/until.js';
import { waitFor } from '../support/wait.js';

const logger = createLogger('silent');
const nats = await serviceAvailable('nats', 'the stream processor is tested on the in-process bus only');
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const windowOptions = {
  sizeMs: 5_000,
  graceMs: 2_000,
  maxFutureMs: 60_000,
  maxOpenWindows: 10_000,
  maxLatencyMs: 10_000,
};

interface Setup {
  db: Database;
  bus: EventBus;
  store: EventStore;
  clock: ManualClock;
  metrics: Registry;
}

const opened: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

async function setup(): Promise<Setup> {
  const db = await openPgliteDatabase('memory://');
  await migrate(db, streamMigrations);
  const bus = createMemoryBus({ retain: 100_000 });
  const store = new EventStore({ db, catalogue: new EventCatalogue(), clock: systemClock, logger });
  opened.push(async () => {
    await bus.close();
    await db.close();
  });
  return { db, bus, store, clock: new ManualClock(T0 + 60_000), metrics: new Registry() };
}

function processor(s: Setup, ackWaitMs = 30_000, inFlight = 64, commitIntervalMs = 20) {
  s.metrics = new Registry();
  const p = new StreamProcessor({
    bus: s.bus,
    db: s.db,
    events: s.store,
    clock: s.clock,
    logger,
    metrics: s.metrics,
    name: 'ai-stream',
    windows: new WindowAggregator(windowOptions),
    maxLatencyMs: 10_000,
    graceMs: 2_000,
    commitIntervalMs,
    inFlight,
    ackWaitMs,
  });
  return p;
}

let seq = 0;
const inference = (at: number, latencyMs: number, extra: Record<string, unknown> = {}) => ({
  specversion: '1.0' as const,
  id: `inf-${++seq}`,
  type: 'ai.inference.completed',
  source: '/t',
  time: new Date(T0 + at).toISOString(),
  datacontenttype: 'application/json' as const,
  dataschema: 'urn:aimesh:event:ai.inference.completed:v2',
  data: { modelId: 'm', userId: 'u', latencyMs, ...extra },
  position: seq,
  topic: 'ai.inference.completed',
});

async function publish(bus: EventBus, events: ReturnType<typeof inference>[]) {
  for (const e of events) await bus.publish('ai.inference.completed', encodeCloudEvent(e), { msgId: e.id });
}

async function windowRows(db: Database) {
  const rows = await new Explorer({
    db,
    bus: createMemoryBus(),
    events: undefined as never,
    now: Date.now,
  }).windows({ limit: 1_000 });
  return rows;
}

async function committed(p: StreamProcessor, total: number) {
  await waitFor(
    () => Object.values(p.outcomeCounts).reduce((a, b) => a + b, 0) >= total,
    `${total} events`,
    60_000,
  );
  await p.commit();
}

describe('the stream processor', () => {
  it('drops invalid events and latency outliers, counted by reason', async () => {
    const s = await setup();
    const p = processor(s);
    opened.push(() => p.stop());
    await p.start();
    const bad = { ...inference(100, 5), data: { latencyMs: 5 } } as unknown as ReturnType<typeof inference>;
    await publish(s.bus, [inference(100, 5), bad, inference(200, 10_000), inference(300, 20)]);
    await committed(p, 4);
    expect(p.outcomeCounts).toEqual({ accepted: 2, invalid: 1, outlier: 1 });
    const text = await s.metrics.metrics();
    expect(text).toContain('aimesh_stream_events_total{outcome="outlier"} 1');
  });

  it('stores closed windows and appends ai.metrics.window; late events reach ai.metrics.late, counted', async () => {
    const s = await setup();
    const relay = new OutboxRelay({
      store: s.store,
      db: s.db,
      bus: s.bus,
      clock: systemClock,
      random: seededRandom(1),
      logger,
      owner: 'test',
      pollIntervalMs: 20,
    });
    relay.start();
    opened.push(() => relay.stop());
    const late: BusMessage[] = [];
    await s.bus.subscribe('ai.metrics.late', (m) => void late.push(m));
    const p = processor(s);
    opened.push(() => p.stop());
    await p.start();
    await publish(s.bus, [
      inference(1_000, 10),
      inference(2_000, 30),
      inference(6_500, 5),
      inference(4_000, 20), // late, within the grace period: counted in [0, 5 s)
      inference(7_100, 5), // closes [0, 5 s)
      inference(3_000, 99), // after the grace period
    ]);
    await committed(p, 6);
    const rows = await windowRows(s.db);
    expect(rows).toEqual([
      expect.objectContaining({ key: 'u:m', start: T0, end: T0 + 5_000, count: 3, latencyMean: 20 }),
    ]);
    expect(p.outcomeCounts.late).toBe(1);
    await until(async () => late.length === 1, 5_000, 'the late event on its subject', 20);
    const body = JSON.parse(new TextDecoder().decode(late[0].data));
    expect(body.data).toMatchObject({
      reason: 'late',
      key: 'u:m',
      windowStart: new Date(T0).toISOString(),
      windowEnd: new Date(T0 + 5_000).toISOString(),
    });
    const windows = await s.store.query({ type: 'ai.metrics.window' });
    expect(windows.map((e) => e.data)).toEqual([expect.objectContaining({ key: 'u:m', count: 3 })]);
  });

  it('does not close open windows for an event stamped far in the future', async () => {
    const s = await setup();
    const p = processor(s);
    opened.push(() => p.stop());
    await p.start();
    await publish(s.bus, [inference(1_000, 10), inference(10 * 3_600_000, 10), inference(2_000, 10)]);
    await committed(p, 3);
    expect(await windowRows(s.db)).toEqual([]);
    expect(p.outcomeCounts).toEqual({ accepted: 2, future: 1 });
    const missed = await s.store.query({ type: 'ai.metrics.late' });
    expect(missed.map((e) => (e.data as { reason: string }).reason)).toEqual(['future']);
  });

  // Events over 40 s of event time for three keys, a little out of order.
  const stream = () => {
    seq = 0;
    return Array.from({ length: 600 }, (_, i) =>
      inference(i * 60 + ((i * 7) % 5) * 100, (i * 37) % 900, { userId: `u${i % 3}` }),
    );
  };

  async function uninterrupted() {
    const s = await setup();
    const p = processor(s);
    await p.start();
    await publish(s.bus, stream());
    await committed(p, 600);
    await p.stop();
    return windowRows(s.db);
  }

  it('resumes after a stop mid-window with exactly the results of an uninterrupted run', async () => {
    const expected = await uninterrupted();
    expect(expected.length).toBeGreaterThan(10);
    const s = await setup();
    const events = stream();
    const first = processor(s);
    await first.start();
    await publish(s.bus, events.slice(0, 311));
    await committed(first, 311);
    await first.stop();
    const second = processor(s);
    opened.push(() => second.stop());
    await second.start();
    await publish(s.bus, events.slice(311));
    await waitFor(
      () => Object.values(second.outcomeCounts).reduce((a, b) => a + b, 0) >= 600,
      'the rest',
      30_000,
    );
    await second.commit();
    expect(await windowRows(s.db)).toEqual(expected);
  }, 90_000);

  it('resumes after a crash (nothing since the last commit acknowledged) without losing or double-counting', async () => {
    const expected = await uninterrupted();
    const s = await setup();
    const events = stream();
    const first = processor(s, 300, 1_024);
    await first.start();
    await publish(s.bus, events.slice(0, 200));
    await committed(first, 200);
    // Received but never committed: the crash loses them from memory, the bus still holds them.
    await publish(s.bus, events.slice(200, 260));
    await waitFor(
      () => Object.values(first.outcomeCounts).reduce((a, b) => a + b, 0) >= 260,
      '260 received',
      60_000,
    );
    await first.abandon();
    const second = processor(s, 300, 1_024);
    opened.push(() => second.stop());
    await second.start();
    await publish(s.bus, events.slice(260));
    await until(
      async () => {
        await second.commit();
        return (
          (await windowRows(s.db)).length === expected.length && (second.outcomeCounts.accepted ?? 0) >= 600
        );
      },
      60_000,
      'every window',
      50,
    );
    await second.commit();
    expect(await windowRows(s.db)).toEqual(expected);
  }, 180_000);
});

describe.skipIf(!nats)('the stream processor on JetStream', () => {
  it('stops with events held unacknowledged: the stop commits them, and a successor gets none again', async () => {
    const s = await setup();
    const { bus, cleanup } = await natsTestBus();
    opened.push(async () => {
      await bus.close();
      await cleanup();
    });
    s.bus = bus;
    // One window, fewer events than a quarter of inFlight and no timer commit before the stop:
    // every event is still unacknowledged when it begins, and the bus waits for their handlers.
    const first = processor(s, 30_000, 1_000, 60_000);
    await first.start();
    await publish(
      bus,
      Array.from({ length: 50 }, (_, i) => inference(1_000 + i, 10)),
    );
    await waitFor(() => first.outcomeCounts.accepted === 50, '50 events received', 30_000);
    const stopped = await Promise.race([
      first.stop().then(() => 'stopped'),
      new Promise((r) => setTimeout(r, 15_000, 'still stopping')),
    ]);
    expect(stopped).toBe('stopped');
    const second = processor(s, 1_000, 1_000, 20);
    opened.push(() => second.stop());
    await second.start();
    // Past the successor's ack wait: anything left unacknowledged would have come back by now.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(second.outcomeCounts).toEqual({ accepted: 50 });
  }, 60_000);
});
