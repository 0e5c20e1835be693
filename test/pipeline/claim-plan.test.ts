import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import type { PipelineApi } from '../../src/pipeline/index.js';
import { CONTEXT } from '../../src/pipeline/scheduler.js';
import { startTestAimesh } from '../support/aimesh.js';
import { createTestDatabase, serviceAvailable } from '../support/services.js';

const postgres = await serviceAvailable('postgres');

interface PlanNode {
  'Total Cost': number;
}

/**
 * The statement that opens every claim batch, planned by a PostgreSQL server on a fresh database
 * with 10,000 queued tasks (no statistics yet, an empty quota table): it must stay priced below the server's JIT
 * threshold, or PostgreSQL compiles it with LLVM on every claim — tens of ms for a statement
 * that runs in well under one.
 */
describe.skipIf(!postgres)('the claim on PostgreSQL', () => {
  let aimesh: RunningAimesh;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const database = await createTestDatabase();
    drop = database.drop;
    aimesh = await startTestAimesh({
      targets: ['pipeline'],
      config: {
        database: { adapter: 'postgres', url: database.url },
        pipeline: { monitorIntervalMs: 600_000 },
      },
    });
    await aimesh.manager
      .api('registry')!
      .pushDataset({ name: 'tiny', data: new TextEncoder().encode('x,y\n1,a\n'), actor: 'test' });
    const api = aimesh.manager.api('pipeline') as PipelineApi;
    await api.run(
      {
        name: 'queued',
        dataset: { name: 'tiny' },
        model: { name: 'm' },
        stages: Array.from({ length: 20 }, (_, i) => ({
          name: `s${i}`,
          type: 'command',
          params: { command: ['true'] },
        })),
      },
      'test',
    );
    // A queue of 10,000 (the scheduler benchmark's): copies of those 20 under other stage names.
    await aimesh.db.query(
      `INSERT INTO pipeline_tasks (id, execution_id, stage, type, status, depends_on, spec, priority, cpu,
         memory_mb, gpu, storage_mb, max_attempts, enqueued_at, available_at, team, node_selector, gang_size)
       SELECT t.id || '-' || g, t.execution_id, t.stage || '-' || g, t.type, t.status, t.depends_on, t.spec,
         t.priority, t.cpu, t.memory_mb, t.gpu, t.storage_mb, t.max_attempts, t.enqueued_at, t.available_at,
         t.team, t.node_selector, t.gang_size
       FROM pipeline_tasks t CROSS JOIN generate_series(1, 499) AS g`,
    );
  }, 60_000);

  afterAll(async () => {
    await aimesh?.stop();
    await drop?.();
  });

  it('opens a batch with a plan priced below the JIT threshold, and runs it without JIT', async () => {
    const now = new Date();
    const params = [
      now,
      64,
      1_000_000,
      0,
      1_000_000,
      60_000,
      64,
      128,
      [],
      ['w1', 'w2'],
      new Date(now.getTime() + 30_000),
    ];
    const threshold = Number(
      (await aimesh.db.query<{ v: string }>(`SELECT current_setting('jit_above_cost') AS v`)).rows[0].v,
    );
    const explained = await aimesh.db.query<{ 'QUERY PLAN': [{ Plan: PlanNode; JIT?: unknown }] }>(
      `EXPLAIN (ANALYZE, FORMAT JSON) ${CONTEXT}`,
      params,
    );
    const [plan] = explained.rows[0]['QUERY PLAN'];
    expect(plan.Plan['Total Cost']).toBeLessThan(threshold);
    expect(plan.JIT).toBeUndefined();
  });
});
