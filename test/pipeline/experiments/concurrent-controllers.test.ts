import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../../src/app/runtime.js';
import type { PipelineApi } from '../../../src/pipeline/index.js';
import { startTestAimesh } from '../../support/aimesh.js';
import { createTestDatabase, serviceAvailable } from '../../support/services.js';
import { basePipeline, drain } from './scripted-worker.js';

const SEED_GRID = {
  learningRate: [0.001, 0.01, 0.1],
  batchSize: [32, 64, 128],
  epochs: [10, 20, 50],
  dropout: [0.1, 0.2, 0.5],
};

const postgres = await serviceAvailable('postgres');

async function start(database: string): Promise<RunningAimesh> {
  return startTestAimesh({
    targets: ['pipeline'],
    config: {
      database: { adapter: 'postgres', url: database },
      // A 100 ms controller lease: the two controllers take the experiment from each other all the time.
      pipeline: {
        leaseMs: 5_000,
        monitorIntervalMs: 600_000,
        experiments: { tickMs: 600_000, leaseMs: 100 },
      },
    },
  });
}

describe.skipIf(!postgres)('two controllers on one PostgreSQL', () => {
  const instances: RunningAimesh[] = [];
  let drop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    const db = await createTestDatabase();
    drop = db.drop;
    instances.push(await start(db.url), await start(db.url));
    await instances[0].manager.api('registry')!.pushDataset({
      name: 'tiny',
      data: new TextEncoder().encode('x,y\n1,a\n2,b\n'),
      actor: 'test',
    });
  }, 60_000);

  afterAll(async () => {
    for (const i of instances) await i.stop();
    await drop?.();
  });

  it("run the seed's grid to 81 distinct trials, even when a controller's candidate counter is rewound", async () => {
    const [a, b] = instances.map((i) => i.manager.api('pipeline') as PipelineApi);
    const created = await a.experiments.create(
      { name: 'racing', definition: basePipeline(), space: SEED_GRID, parallel: 16, maxFailedTrials: 0 },
      'alice',
    );
    const db = instances[0].db;
    const loop = async (api: PipelineApi, worker: string, rewindAt: number) => {
      for (let i = 0; i < 300; i++) {
        if (i === rewindAt)
          // A controller that forgot where it was proposes every candidate again from the start.
          await db.query(
            'UPDATE pipeline_experiments SET next_candidate = 0, exhausted = FALSE WHERE id = $1',
            [created.id],
          );
        await api.tickExperiments();
        if ((await api.experiments.get(created.id)).status !== 'RUNNING') return;
        await drain(api, worker, 20);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await Promise.all([loop(a, 'worker-a', 3), loop(b, 'worker-b', 6)]);

    const done = await b.experiments.get(created.id);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.trials.SUCCEEDED).toBe(81);
    const rows = await db.query<{ n: number; keys: number }>(
      'SELECT count(*)::int AS n, count(DISTINCT params_key)::int AS keys FROM pipeline_trials WHERE experiment_id = $1',
      [created.id],
    );
    expect(rows.rows[0]).toEqual({ n: 81, keys: 81 });
  }, 180_000);

  it('refuses a second trial with the same parameters in the database itself', async () => {
    const db = instances[0].db;
    const [experiment] = await (instances[0].manager.api('pipeline') as PipelineApi).experiments.list({
      limit: 1,
      offset: 0,
    });
    const existing = await db.query<{ params: unknown; params_key: string }>(
      'SELECT params, params_key FROM pipeline_trials WHERE experiment_id = $1 LIMIT 1',
      [experiment.id],
    );
    await expect(
      db.query(
        `INSERT INTO pipeline_trials (id, experiment_id, number, params, params_key, status, created_at)
         VALUES ('dup', $1, 100000, $2, $3, 'PENDING', now())`,
        [experiment.id, JSON.stringify(existing.rows[0].params), existing.rows[0].params_key],
      ),
    ).rejects.toThrow(/pipeline_trials_unique_params|duplicate key/);
  });
});
