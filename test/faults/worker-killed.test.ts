import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import type { PipelineApi } from '../../src/pipeline/index.js';
import { startTestAimesh } from '../support/aimesh.js';
import { type AimeshProcess, runAimesh } from '../support/processes.js';
import { createTestDatabase, serviceAvailable } from '../support/services.js';
import { until } from '../support/until.js';

const postgres = await serviceAvailable('postgres');

/**
 * Two worker processes (`aimesh start --target worker`) pull from one PostgreSQL queue; the one
 * running a task is killed with SIGKILL mid-task. Its lease expires, the monitor turns it into a
 * failed attempt, and the other worker runs the task again to success.
 */
describe.skipIf(!postgres)('a worker process killed with SIGKILL mid-task', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aimesh-killed-worker-'));
  let drop: () => Promise<void>;
  let aimesh: RunningAimesh;
  const workers: AimeshProcess[] = [];

  beforeAll(async () => {
    const database = await createTestDatabase();
    drop = database.drop;
    const shared = { leaseMs: 1_500, monitorIntervalMs: 200, workerTtlMs: 1_500 };
    aimesh = await startTestAimesh({
      targets: ['pipeline'],
      config: {
        database: { adapter: 'postgres', url: database.url },
        artifacts: { dir },
        pipeline: shared,
      },
    });
    await aimesh.manager
      .api('registry')!
      .pushDataset({ name: 'tiny', data: new TextEncoder().encode('x,y\n1,a\n'), actor: 'test' });
    for (const name of ['w1', 'w2'])
      workers.push(
        runAimesh(['start', '--target', 'worker', '--port', '0'], {
          AIMESH_DATABASE__ADAPTER: 'postgres',
          AIMESH_DATABASE__URL: database.url,
          AIMESH_ARTIFACTS__DIR: dir,
          AIMESH_PIPELINE__LEASE_MS: String(shared.leaseMs),
          AIMESH_PIPELINE__WORKER_TTL_MS: String(shared.workerTtlMs),
          AIMESH_WORKER__NAME: name,
          AIMESH_WORKER__POLL_MS: '50',
          AIMESH_WORKER__HEARTBEAT_MS: '200',
        }),
      );
    const api = aimesh.manager.api('pipeline') as PipelineApi;
    await until(
      async () => (await api.workers()).filter((w) => w.live).length === 2,
      60_000,
      'both worker processes to register',
      100,
    );
  }, 120_000);

  afterAll(async () => {
    for (const w of workers) await w.stop();
    await aimesh?.stop();
    await drop?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the task again on the other worker after the lease expires, and the execution succeeds', async () => {
    const api = aimesh.manager.api('pipeline') as PipelineApi;
    const run = await api.run(
      {
        name: 'killed-worker',
        dataset: { name: 'tiny' },
        model: { name: 'm' },
        stages: [
          {
            name: 'work',
            type: 'command',
            retry: { maxAttempts: 2, initialBackoffMs: 0 },
            params: { command: [process.execPath, '-e', 'setTimeout(() => {}, 3000)'] },
          },
        ],
      },
      'test',
    );
    await until(
      async () => (await api.getExecution(run.id)).stages[0].status === 'RUNNING',
      30_000,
      'the task to start',
      20,
    );
    const owner = await aimesh.db.query<{ name: string }>(
      `SELECT w.name FROM pipeline_tasks t JOIN pipeline_workers w ON w.id = t.lease_owner WHERE t.execution_id = $1`,
      [run.id],
    );
    const victim = workers[['w1', 'w2'].indexOf(owner.rows[0].name)];
    victim.child.kill('SIGKILL');
    await victim.exited;
    await until(
      async () => ['SUCCEEDED', 'FAILED'].includes((await api.getExecution(run.id)).status),
      60_000,
      'the execution to finish',
      100,
    );
    const done = await api.getExecution(run.id);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.stages[0].attempts).toBe(2);
    const attempts = await aimesh.db.query<{ worker: string; outcome: string }>(
      `SELECT w.name AS worker, a.outcome FROM pipeline_task_attempts a
       LEFT JOIN pipeline_workers w ON w.id = a.worker_id WHERE a.task_id = $1 ORDER BY a.attempt`,
      [`${run.id}/work`],
    );
    expect(attempts.rows[0].outcome).toMatch(/lease expired/);
    expect(attempts.rows[1]).toEqual({
      worker: ['w1', 'w2'].find((n) => n !== owner.rows[0].name),
      outcome: 'succeeded',
    });
  }, 120_000);
});
