// Run search over 100,000 runs on the PostgreSQL server: a metric + param filter through the
// registry's repository, beside plain indexed SELECTs as the floor, in one run.
import { openPostgresDatabase } from '../src/adapters/postgres/postgres-database.js';
import { migrate } from '../src/app/migrations.js';
import { seededRandom } from '../src/kernel/random.js';
import type { Database } from '../src/ports/database.js';
import { ExperimentRepository } from '../src/registry/experiment-repository.js';
import { createTestDatabase, serviceAvailable } from '../test/support/services.js';
import { quantile, report } from './report.js';

const RUNS = 100_000;
const BATCH = 5_000;
const ITERATIONS = 40;
const TARGET_MS = 200;
const DEADLINE = Date.now() + 100_000;

if (!(await serviceAvailable('postgres'))) {
  console.error('postgres is not reachable on 127.0.0.1:5432; the registry benchmark needs it');
  process.exit(1);
}

async function load(db: Database): Promise<void> {
  const random = seededRandom(42);
  const t0 = Date.UTC(2026, 0, 1);
  await db.query(
    `INSERT INTO registry_experiments (id, name, created_by, created_at) VALUES ('bench', 'bench', 'bench', now())`,
  );
  const rates = ['0.001', '0.01', '0.1'];
  for (let start = 0; start < RUNS; start += BATCH) {
    const ids = Array.from({ length: BATCH }, (_, i) => `run-${String(start + i).padStart(6, '0')}`);
    const times = ids.map((_, i) => new Date(t0 + (start + i) * 1000));
    await db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO registry_runs (id, experiment_id, status, created_by, start_time)
         SELECT id, 'bench', 'FINISHED', 'bench', t FROM unnest($1::text[], $2::timestamptz[]) AS u(id, t)`,
        [ids, times],
      );
      await tx.query(
        `INSERT INTO registry_run_params (run_id, key, value, value_number)
         SELECT id, k, v, v::float8 FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, k, v)`,
        [
          [...ids, ...ids],
          [...ids.map(() => 'learningRate'), ...ids.map(() => 'batchSize')],
          [
            ...ids.map(() => rates[Math.floor(random.next() * 3)]),
            ...ids.map(() => String(16 << Math.floor(random.next() * 4))),
          ],
        ],
      );
      const accuracy = ids.map(() => random.next());
      const loss = accuracy.map((a) => 1 - a + random.next() * 0.1);
      await tx.query(
        `INSERT INTO registry_run_metrics (run_id, key, value, step, logged_at)
         SELECT id, k, v, 10, t FROM unnest($1::text[], $2::text[], $3::float8[], $4::timestamptz[]) AS u(id, k, v, t)`,
        [
          [...ids, ...ids],
          [...ids.map(() => 'accuracy'), ...ids.map(() => 'loss')],
          [...accuracy, ...loss],
          [...times, ...times],
        ],
      );
    });
  }
  await db.exec('ANALYZE');
}

async function time(
  label: string,
  fn: () => Promise<number>,
): Promise<{ p50: number; p95: number; rows: number }> {
  let rows = 0;
  const samples: number[] = [];
  for (let i = 0; i < ITERATIONS + 3 && Date.now() < DEADLINE; i++) {
    const started = performance.now();
    rows = await fn();
    // The first three warm the cache and the plan; they are not counted.
    if (i >= 3) samples.push(performance.now() - started);
  }
  const figures = { p50: round(quantile(samples, 0.5)), p95: round(quantile(samples, 0.95)), rows };
  console.error(`${label}: p50 ${figures.p50} ms, p95 ${figures.p95} ms, ${rows} rows`);
  return figures;
}

const round = (ms: number) => Math.round(ms * 100) / 100;

const test = await createTestDatabase();
const db = await openPostgresDatabase(test.url, 4);
try {
  await migrate(db, [
    { module: 'registry', dir: new URL('../src/registry/migrations', import.meta.url).pathname },
  ]);
  const loadStart = performance.now();
  await load(db);
  const loadSeconds = round((performance.now() - loadStart) / 1000);
  console.error(`loaded ${RUNS} runs (2 params, 2 metrics each) in ${loadSeconds} s`);
  const experiments = new ExperimentRepository(db);
  const page = { limit: 100, offset: 0 };
  const filter = 'metrics.accuracy > 0.9 and params.learningRate = 0.01';
  const floorRuns = await time('floor: indexed SELECT of the newest 100 runs', async () => {
    const r = await db.query(
      `SELECT * FROM registry_runs WHERE experiment_id = $1 ORDER BY start_time DESC, id DESC LIMIT 100`,
      ['bench'],
    );
    return r.rows.length;
  });
  const floorMetric = await time('floor: indexed SELECT of 100 runs with accuracy > 0.9', async () => {
    const r = await db.query(
      'SELECT run_id FROM registry_run_metrics WHERE key = $1 AND value > $2 ORDER BY value DESC LIMIT 100',
      ['accuracy', 0.9],
    );
    return r.rows.length;
  });
  const search = await time(
    `search "${filter}", newest first`,
    async () => (await experiments.searchRuns({ experimentIds: ['bench'], filter, page })).length,
  );
  const searchByMetric = await time(
    `search "${filter}", by accuracy desc`,
    async () =>
      (
        await experiments.searchRuns({
          experimentIds: ['bench'],
          filter,
          orderBy: ['metrics.accuracy DESC'],
          page,
        })
      ).length,
  );
  const selective = await time(
    'search "metrics.accuracy > 0.999"',
    async () =>
      (await experiments.searchRuns({ experimentIds: ['bench'], filter: 'metrics.accuracy > 0.999', page }))
        .length,
  );
  const worst = Math.max(search.p95, searchByMetric.p95, selective.p95);
  report(
    'registry',
    {
      runs: RUNS,
      loadSeconds,
      pageSize: page.limit,
      floorNewestRunsMs: floorRuns,
      floorMetricIndexMs: floorMetric,
      searchNewestFirstMs: search,
      searchByAccuracyMs: searchByMetric,
      searchSelectiveMs: selective,
    },
    `run search with a metric filter over ${RUNS} runs: p95 < ${TARGET_MS} ms (each query shape)`,
    worst < TARGET_MS,
  );
} finally {
  await db.close();
  await test.drop();
}
