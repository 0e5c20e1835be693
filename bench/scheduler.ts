// Scheduler placements: 10,000 queued tasks, 50 simulated workers (concurrent claim loops, each
// claiming through the pipeline module's API: the claim query, the attempt record, the execution's
// start and the claimed task's context, in one transaction). On the PostgreSQL server (a fresh
// database, dropped at the end) and on PGlite in memory. Beside it, a no-op baseline: the same 50
// loops sending `SELECT 1` through the same pool, so the generator's own ceiling is visible, and
// the CPU share of this process while it claims.
import type { RunningAimesh } from '../src/app/runtime.js';
import type { PipelineApi } from '../src/pipeline/index.js';
import { startTestAimesh } from '../test/support/aimesh.js';
import { createTestDatabase, serviceAvailable } from '../test/support/services.js';
import { report } from './report.js';

const TASKS = 10_000;
const STAGES = 50; // stages per execution (independent: all queued at once)
const WORKERS = 50;
const POOL = 20;
const TIME_CAP_MS = Number(process.env.BENCH_SCHEDULER_CAP_MS ?? 20_000);
const BASELINE_MS = 2_000;
const BIG = { cpu: 64, memoryMb: 1_000_000, gpu: 0, storageMb: 1_000_000 };
const TARGET = 2_000;

function definition(i: number) {
  return {
    name: `bench-${i}`,
    dataset: { name: 'tiny' },
    model: { name: 'm' },
    stages: Array.from({ length: STAGES }, (_, s) => ({
      name: `s${s}`,
      type: 'command',
      params: { command: ['true'] },
      // A few resource shapes, so best fit has something to choose between.
      resources: { cpu: 1 + (s % 4), memoryMb: 512 << (s % 3) },
    })),
  };
}

async function start(url?: string): Promise<RunningAimesh> {
  const aimesh = await startTestAimesh({
    targets: ['pipeline'],
    config: {
      ...(url ? { database: { adapter: 'postgres', url, poolSize: POOL } } : {}),
      pipeline: { monitorIntervalMs: 600_000 },
    },
  });
  await aimesh.manager.api('registry')!.pushDataset({
    name: 'tiny',
    data: new TextEncoder().encode('x,y\n1,a\n2,b\n'),
    actor: 'bench',
  });
  return aimesh;
}

/** `WORKERS` loops running `step` until `stop()` says so; returns completed steps and elapsed ms. */
async function loops(
  step: (worker: string) => Promise<boolean>,
  stopAfterMs: number,
): Promise<{ done: number; ms: number; cpuShare: number }> {
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  let done = 0;
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, w) => {
      while (performance.now() - started < stopAfterMs) {
        if (!(await step(`worker-${w}`))) return;
        done++;
      }
    }),
  );
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpu0);
  return { done, ms, cpuShare: (cpu.user + cpu.system) / 1000 / ms };
}

async function run(name: string, url?: string): Promise<Record<string, number>> {
  const aimesh = await start(url);
  try {
    const api = aimesh.manager.api('pipeline') as PipelineApi;
    const t0 = performance.now();
    for (let i = 0; i < TASKS / STAGES; i++) await api.run(definition(i), 'bench');
    const enqueueMs = performance.now() - t0;
    const queued = await aimesh.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pipeline_tasks WHERE status = 'QUEUED'`,
    );

    const baseline = await loops(async () => {
      await aimesh.db.query('SELECT 1');
      return true;
    }, BASELINE_MS);

    const claims = await loops(async (worker) => (await api.claim(worker, BIG)) !== null, TIME_CAP_MS);
    const wait = await aimesh.db.query<{ p50: number; p99: number; n: number }>(
      `SELECT count(*)::int AS n,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM started_at - enqueued_at) * 1000) AS p50,
         percentile_cont(0.99) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM started_at - enqueued_at) * 1000) AS p99
       FROM pipeline_tasks WHERE status = 'RUNNING'`,
    );
    const rate = Math.round(claims.done / (claims.ms / 1000));
    const figures = {
      [`${name}_placements_per_s`]: rate,
      [`${name}_placed`]: claims.done,
      [`${name}_queued_at_start`]: queued.rows[0].n,
      [`${name}_enqueue_tasks_per_s`]: Math.round(TASKS / (enqueueMs / 1000)),
      [`${name}_median_enqueue_to_claim_ms`]: Math.round(wait.rows[0].p50),
      [`${name}_p99_enqueue_to_claim_ms`]: Math.round(wait.rows[0].p99),
      [`${name}_noop_baseline_queries_per_s`]: Math.round(baseline.done / (baseline.ms / 1000)),
      [`${name}_claim_loop_cpu_share`]: Math.round(claims.cpuShare * 100) / 100,
    };
    console.error(
      `${name}: ${rate} placements/s (${claims.done} placed of ${queued.rows[0].n} queued in ${Math.round(claims.ms)} ms), ` +
        `median enqueue→claim ${figures[`${name}_median_enqueue_to_claim_ms`]} ms; ` +
        `no-op SELECT 1 through the same loops ${figures[`${name}_noop_baseline_queries_per_s`]}/s; ` +
        `this process used ${Math.round(claims.cpuShare * 100)}% of one core while claiming`,
    );
    return figures;
  } finally {
    await aimesh.stop();
  }
}

const figures: Record<string, number | string> = {
  queued_tasks: TASKS,
  simulated_workers: WORKERS,
  pool_connections: POOL,
};
let met = false;
if (await serviceAvailable('postgres')) {
  const test = await createTestDatabase();
  try {
    const pg = await run('postgres', test.url);
    Object.assign(figures, pg);
    met = pg.postgres_placements_per_s >= TARGET;
  } finally {
    await test.drop();
  }
} else {
  figures.postgres = 'not reachable; skipped';
}
Object.assign(figures, await run('pglite'));
report(
  'scheduler',
  figures,
  '≥ 2,000 placements/s on PostgreSQL with 10,000 queued tasks and 50 workers',
  met,
);
