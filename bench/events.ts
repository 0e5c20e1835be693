// Batched append throughput through the EventStore (validation, the append lock, ON CONFLICT,
// RETURNING) next to a raw batched INSERT of the same rows into the same table: the physical limit.
// Both on PGlite (in memory) and on the PostgreSQL server when it answers. Bounded: a fixed count
// of events per measurement and a time cap.
import { openPgliteDatabase } from '../src/adapters/pglite/pglite-database.js';
import { openPostgresDatabase } from '../src/adapters/postgres/postgres-database.js';
import { migrate } from '../src/app/migrations.js';
import { EventCatalogue } from '../src/events/catalogue.js';
import { EventStore } from '../src/events/event-store.js';
import { systemClock } from '../src/kernel/clock.js';
import { createLogger } from '../src/kernel/logger.js';
import type { Database } from '../src/ports/database.js';
import type { NewEvent } from '../src/ports/event-log.js';
import { createTestDatabase, serviceAvailable } from '../test/support/services.js';
import { report } from './report.js';

const BATCH = 500;
const EVENTS = Number(process.env.BENCH_EVENTS ?? 50_000);
const TIME_CAP_MS = 40_000;
const migrations = [{ module: 'events', dir: new URL('../src/events/migrations', import.meta.url).pathname }];

function events(prefix: string, count: number): NewEvent[] {
  const start = Date.now();
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-${i}`,
    type: 'ai.inference.completed',
    source: '/bench',
    time: new Date(start + i).toISOString(),
    correlationid: `corr-${i % 1000}`,
    data: { modelId: `model-${i % 7}`, latencyMs: i % 900, userId: `user-${i % 50}` },
  }));
}

/**
 * Events per second through each path, batches interleaved (raw, store, raw, store, ...) so a
 * busy machine slows both alike; stops at the time cap.
 */
async function measure(
  paths: Record<string, { events: NewEvent[]; append(batch: NewEvent[]): Promise<unknown> }>,
): Promise<Record<string, number>> {
  const started = performance.now();
  const spent: Record<string, number> = {};
  const done: Record<string, number> = {};
  const count = Math.min(...Object.values(paths).map((p) => p.events.length));
  for (let i = 0; i < count && performance.now() - started < TIME_CAP_MS; i += BATCH) {
    for (const [name, path] of Object.entries(paths)) {
      const batch = path.events.slice(i, i + BATCH);
      const t0 = performance.now();
      await path.append(batch);
      spent[name] = (spent[name] ?? 0) + performance.now() - t0;
      done[name] = (done[name] ?? 0) + batch.length;
    }
  }
  return Object.fromEntries(
    Object.keys(paths).map((name) => [name, Math.round(done[name] / (spent[name] / 1000))]),
  );
}

/** The same rows as the store writes them, in one INSERT ... SELECT FROM unnest per batch, nothing else. */
function rawInsert(db: Database) {
  return async (batch: NewEvent[]) => {
    const cols = [[], [], [], [], [], [], [], [], [], [], [], []] as unknown[][];
    for (const e of batch) {
      const row = [
        e.id,
        e.type,
        e.source,
        null,
        e.time,
        null,
        e.correlationid,
        null,
        null,
        2,
        'ai.inference.completed',
        JSON.stringify(e.data),
      ];
      for (let k = 0; k < row.length; k++) cols[k].push(row[k]);
    }
    await db.query(
      `INSERT INTO aimesh_events (id, type, source, subject, time, target, correlation_id, causation_id,
         traceparent, schema_version, topic, data)
       SELECT id, type, source, subject, time, target, c, ca, tp, v, topic, data::json
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[],
         $8::text[], $9::text[], $10::int[], $11::text[], $12::text[])
         AS t(id, type, source, subject, time, target, c, ca, tp, v, topic, data)`,
      cols,
    );
  };
}

async function run(name: string, db: Database): Promise<Record<string, number>> {
  await migrate(db, migrations);
  const store = new EventStore({
    db,
    catalogue: new EventCatalogue(),
    clock: systemClock,
    logger: createLogger('silent'),
  });
  // Warm up both paths (JIT, plan caches) before measuring.
  await store.append(events(`${name}-warm`, BATCH));
  await rawInsert(db)(events(`${name}-rawwarm`, BATCH));
  const rates = await measure({
    raw: { events: events(`${name}-raw`, EVENTS), append: rawInsert(db) },
    store: { events: events(`${name}-store`, EVENTS), append: (batch) => store.append(batch) },
  });
  const raw = rates.raw;
  const viaStore = rates.store;
  console.error(
    `${name}: EventStore.append ${viaStore}/s, raw INSERT ${raw}/s (${Math.round((viaStore / raw) * 100)}%)`,
  );
  return { [`${name}_store_events_per_s`]: viaStore, [`${name}_raw_insert_events_per_s`]: raw };
}

const figures: Record<string, number | string> = { batch: BATCH, events_per_measurement: EVENTS };
const pglite = await openPgliteDatabase('memory://');
Object.assign(figures, await run('pglite', pglite));
await pglite.close();

let met = false;
if (await serviceAvailable('postgres')) {
  const test = await createTestDatabase();
  const db = await openPostgresDatabase(test.url, 4);
  try {
    const pg = await run('postgres', db);
    Object.assign(figures, pg);
    met = pg.postgres_store_events_per_s >= 20_000;
  } finally {
    await db.close();
    await test.drop();
  }
} else {
  figures.postgres = 'not reachable; skipped';
}
report('events', figures, 'batched append >= 20,000 events/s on Postgres', met);
