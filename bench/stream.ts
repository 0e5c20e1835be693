// The stream processor on each bus: events/s it consumes (a backlog of inference events waiting
// on the bus, windows of 5 s, commits as configured), and the end-to-end lag from an append to
// the committed result of the window it closes, past that window's close (end + grace), under a
// steady load through the whole path: store, outbox relay, bus, processor. The in-process bus
// always; NATS JetStream when it answers on loopback. Bounded by event counts and time caps.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { createMemoryBus } from '../src/adapters/memory/memory-bus.js';
import { connectNatsBus } from '../src/adapters/nats/nats-bus.js';
import { openPgliteDatabase } from '../src/adapters/pglite/pglite-database.js';
import { openPostgresDatabase } from '../src/adapters/postgres/postgres-database.js';
import { migrate } from '../src/app/migrations.js';
import { EventCatalogue } from '../src/events/catalogue.js';
import { encodeCloudEvent } from '../src/events/cloud-event-json.js';
import { EventStore } from '../src/events/event-store.js';
import { OutboxRelay } from '../src/events/outbox-relay.js';
import { systemClock } from '../src/kernel/clock.js';
import { createLogger } from '../src/kernel/logger.js';
import { seededRandom } from '../src/kernel/random.js';
import type { Database } from '../src/ports/database.js';
import type { EventBus } from '../src/ports/event-bus.js';
import type { StoredEvent } from '../src/ports/event-log.js';
import { StreamProcessor } from '../src/streams/stream-processor.js';
import { WindowAggregator, type WindowResult } from '../src/streams/window-aggregator.js';
import { testStream } from '../test/support/nats.js';
import { NATS_URL, POSTGRES_URL, reachable } from '../test/support/services.js';
import { quantile, report } from './report.js';
import { createBenchDatabase } from './support/bench-database.js';

const BACKLOG = Number(process.env.BENCH_EVENTS ?? 100_000);
const LOAD_RATE = Number(process.env.BENCH_RATE ?? 5_000);
const LOAD_SECONDS = Number(process.env.BENCH_SECONDS ?? 12);
const TIME_CAP_MS = 60_000;
const IN_FLIGHT = 8_192;
const logger = createLogger('silent');
// BENCH_CPU_PROF=1: a CPU profile of each bus's measured throughput only (the backlog already
// published), for `node bench/profile-top.js bench/results/profiles/stream`.
const PROFILES = process.env.BENCH_CPU_PROF
  ? fileURLToPath(new URL('./results/profiles/stream/', import.meta.url))
  : undefined;
if (PROFILES) {
  rmSync(PROFILES, { recursive: true, force: true });
  mkdirSync(PROFILES, { recursive: true });
}

async function profiled<T extends number>(label: string, run: () => Promise<T>): Promise<T> {
  if (!PROFILES) return run();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  const events = await run();
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  writeFileSync(join(PROFILES, `${label}.cpuprofile`), JSON.stringify(profile));
  writeFileSync(join(PROFILES, `${label}.json`), JSON.stringify({ requests: events }));
  return events;
}
const migrations = [
  { module: 'events', dir: new URL('../src/events/migrations', import.meta.url).pathname },
  { module: 'streams', dir: new URL('../src/streams/migrations', import.meta.url).pathname },
];

async function openDatabase(): Promise<{ db: Database; close(): Promise<void>; kind: string }> {
  const url = new URL(POSTGRES_URL);
  if (await reachable(url.hostname, Number(url.port) || 5432)) {
    const made = await createBenchDatabase(POSTGRES_URL);
    const db = await openPostgresDatabase(made.url);
    await migrate(db, migrations);
    return {
      db,
      kind: 'postgres',
      close: async () => {
        await db.close();
        await made.drop();
      },
    };
  }
  const db = await openPgliteDatabase('memory://');
  await migrate(db, migrations);
  return { db, kind: 'pglite', close: () => db.close() };
}

function processorOn(
  bus: EventBus,
  db: Database,
  store: EventStore,
  windows: { sizeMs: number; graceMs: number },
  onWindow?: (r: WindowResult, at: number) => void,
) {
  return new StreamProcessor({
    bus,
    db,
    events: store,
    clock: systemClock,
    logger,
    metrics: new Registry(),
    name: 'bench-stream',
    windows: new WindowAggregator({
      ...windows,
      maxFutureMs: 60_000,
      maxOpenWindows: 100_000,
      maxLatencyMs: 10_000,
    }),
    maxLatencyMs: 10_000,
    graceMs: windows.graceMs,
    commitIntervalMs: 100,
    inFlight: IN_FLIGHT,
    onWindow,
  });
}

let seq = 0;
function inference(at: number): StoredEvent {
  seq += 1;
  return {
    specversion: '1.0',
    id: `bench-${seq}`,
    type: 'ai.inference.completed',
    source: '/bench',
    time: new Date(at).toISOString(),
    datacontenttype: 'application/json',
    dataschema: 'urn:aimesh:event:ai.inference.completed:v2',
    data: {
      modelId: `model-${seq % 7}`,
      userId: `user-${seq % 20}`,
      latencyMs: (seq * 37) % 900,
      tokens: 12,
    },
    position: seq,
    topic: 'ai.inference.completed',
  };
}

interface Throughput {
  /** Events/s the stream processor committed from the backlog. */
  processor: number;
  /** Events/s the generator put the backlog on the bus (before anything was timed). */
  published: number;
  /** Events/s a consumer that only acknowledges drains the same backlog: the bus's ceiling. */
  ackOnly: number;
}

/** An acknowledging-only consumer's rate over the backlog, with the processor's in-flight bound. */
async function ackOnly(bus: EventBus): Promise<number> {
  let acked = 0;
  const t0 = performance.now();
  const subscription = await bus.consume(
    { durable: 'bench-ack-only', subjects: ['ai.inference.completed'], concurrency: IN_FLIGHT },
    async (message) => {
      message.ack();
      acked += 1;
    },
  );
  while (acked < BACKLOG && performance.now() - t0 < TIME_CAP_MS) await new Promise((r) => setTimeout(r, 5));
  const elapsed = performance.now() - t0;
  await subscription.close();
  return Math.round(acked / (elapsed / 1000));
}

/** Events/s the processor consumes from a backlog already on the bus, with the generator's and bus's ceilings. */
async function throughput(bus: EventBus, db: Database, store: EventStore): Promise<Throughput> {
  const start = Date.now() - 60_000;
  const events = Array.from({ length: BACKLOG }, (_, i) => inference(start + Math.floor(i / 2)));
  const p0 = performance.now();
  for (let i = 0; i < events.length; i += 1_000) {
    await Promise.all(
      events.slice(i, i + 1_000).map((e) => bus.publish(e.topic, encodeCloudEvent(e), { msgId: e.id })),
    );
  }
  const published = Math.round(BACKLOG / ((performance.now() - p0) / 1000));
  const ceiling = await ackOnly(bus);
  const processor = processorOn(bus, db, store, { sizeMs: 5_000, graceMs: 1_000 });
  const seen = () => Object.values(processor.outcomeCounts).reduce((a, b) => a + b, 0);
  // Timed to the last commit (stop commits what was received): events/s committed, not only read.
  const t0 = performance.now();
  const done = await profiled(`${bus.kind}-throughput`, async () => {
    await processor.start();
    while (seen() < BACKLOG && performance.now() - t0 < TIME_CAP_MS)
      await new Promise((r) => setTimeout(r, 5));
    await processor.stop();
    return seen();
  });
  const elapsed = performance.now() - t0;
  return { processor: Math.round(done / (elapsed / 1000)), published, ackOnly: ceiling };
}

/** Lag samples (ms past each window's close) under a steady load through store, relay, bus, processor. */
async function lag(
  bus: EventBus,
  db: Database,
  store: EventStore,
): Promise<{ samples: number[]; generated: number }> {
  const windows = { sizeMs: 1_000, graceMs: 250 };
  const samples: number[] = [];
  const relay = new OutboxRelay({
    store,
    db,
    bus,
    clock: systemClock,
    random: seededRandom(1),
    logger,
    owner: 'bench',
    pollIntervalMs: 20,
    name: `bench-relay-${bus.kind}`,
  });
  relay.start();
  const processor = processorOn(bus, db, store, windows, (r, at) => {
    samples.push(at - (r.end + windows.graceMs));
  });
  await db.query('DELETE FROM aimesh_stream_snapshots');
  await processor.start();
  // Paced by the clock, not by tick count: a late timer (a loaded machine) is made up for in the
  // next tick, so the load is the one asked unless the generator itself cannot keep up.
  const tick = 10;
  const t0 = Date.now();
  let generated = 0;
  while (Date.now() - t0 < LOAD_SECONDS * 1000) {
    const now = Date.now();
    const due = Math.floor(((now - t0) * LOAD_RATE) / 1000) - generated;
    for (let i = 0; i < due; i++) {
      const e = inference(now);
      store.enqueue({ id: e.id, type: e.type, source: e.source, time: e.time, data: e.data });
    }
    generated += Math.max(0, due);
    await new Promise((r) => setTimeout(r, tick));
  }
  const generatedPerSecond = Math.round(generated / ((Date.now() - t0) / 1000));
  await store.flush();
  await new Promise((r) => setTimeout(r, 500));
  await processor.stop();
  await relay.stop();
  return { samples, generated: generatedPerSecond };
}

const figures: Record<string, unknown> = {};
const buses: { name: string; open(): Promise<{ bus: EventBus; close(): Promise<void> }> }[] = [
  {
    name: 'memory',
    open: async () => ({ bus: createMemoryBus({ retain: BACKLOG }), close: async () => {} }),
  },
];
const natsUrl = new URL(NATS_URL);
if (process.env.BENCH_BUS !== 'memory' && (await reachable(natsUrl.hostname, Number(natsUrl.port) || 4222))) {
  buses.push({
    name: 'jetstream',
    open: async () => {
      const test = testStream();
      const bus = await connectNatsBus({
        servers: NATS_URL,
        stream: test.stream,
        subjectPrefix: test.subjectPrefix,
      });
      return {
        bus,
        close: async () => {
          await bus.close();
          await test.drop();
        },
      };
    },
  });
} else {
  console.log(`NATS is not reachable at ${natsUrl.host}: JetStream is not measured`);
}

let met = buses.length === 2;
for (const { name, open } of buses) {
  const database = await openDatabase();
  const store = new EventStore({
    db: database.db,
    catalogue: new EventCatalogue(),
    clock: systemClock,
    logger,
    flushIntervalMs: 20,
  });
  let opened = await open();
  const rate = await throughput(opened.bus, database.db, store);
  await opened.close();
  opened = await open();
  const { samples, generated } = await lag(opened.bus, database.db, store);
  await opened.close();
  await store.close();
  await database.close();
  const p50 = Math.round(quantile(samples, 0.5));
  const p99 = Math.round(quantile(samples, 0.99));
  figures[name] = {
    eventsPerSecond: rate.processor,
    publishedPerSecond: rate.published,
    ackOnlyPerSecond: rate.ackOnly,
    lagP50Ms: p50,
    lagP99Ms: p99,
    windows: samples.length,
    database: database.kind,
    loadPerSecond: LOAD_RATE,
    generatedPerSecond: generated,
  };
  console.log(
    `${name}: processor ${rate.processor} events/s from a backlog of ${BACKLOG} (generator published it at ${rate.published}/s; an ack-only consumer drains it at ${rate.ackOnly}/s)`,
  );
  console.log(
    `${name}: lag past a window's close p50 ${p50} ms, p99 ${p99} ms over ${samples.length} windows (load ${LOAD_RATE}/s asked, ${generated}/s generated, for ${LOAD_SECONDS} s, ${database.kind})`,
  );
  if (!(rate.processor >= 20_000 && p99 < 250)) met = false;
}
report('stream', figures, '>= 20,000 events/s on each bus and p99 lag < 250 ms past the window close', met);
process.exit(0);
