import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import type { PipelineApi } from '../../src/pipeline/index.js';
import { startTestAimesh } from '../support/aimesh.js';
import { createTestDatabase, serviceAvailable } from '../support/services.js';

const BIG = { cpu: 64, memoryMb: 1_000_000, gpu: 0, storageMb: 1_000_000 };

/** A definition of `n` independent command stages (no worker runs them here: the tests claim by hand). */
function definition(
  name: string,
  n: number,
  extra: Record<string, unknown> = {},
  stage: Record<string, unknown> = {},
) {
  return {
    name,
    dataset: { name: 'tiny' },
    model: { name: 'm' },
    ...extra,
    stages: Array.from({ length: n }, (_, i) => ({
      name: `s${i}`,
      type: 'command',
      params: { command: ['true'] },
      ...stage,
    })),
  };
}

async function start(database?: string): Promise<RunningAimesh> {
  const aimesh = await startTestAimesh({
    targets: ['pipeline'],
    config: {
      ...(database ? { database: { adapter: 'postgres', url: database } } : {}),
      pipeline: { leaseMs: 500, monitorIntervalMs: 600_000 },
    },
  });
  const registry = aimesh.manager.api('registry')!;
  await registry.pushDataset({
    name: 'tiny',
    data: new TextEncoder().encode('x,y\n1,a\n2,b\n'),
    actor: 'test',
  });
  return aimesh;
}

const pipelineOf = (aimesh: RunningAimesh) => aimesh.manager.api('pipeline') as PipelineApi;

const postgres = await serviceAvailable('postgres');

describe.each([
  ['PGlite', false, 200],
  ['PostgreSQL', true, 1000],
] as const)('the task queue on %s', (_name, onPostgres, taskCount) => {
  const instances: RunningAimesh[] = [];
  let drop: (() => Promise<void>) | undefined;
  let a: PipelineApi;
  let b: PipelineApi;

  beforeAll(async () => {
    if (onPostgres && !postgres) return;
    if (onPostgres) {
      const db = await createTestDatabase();
      drop = db.drop;
      instances.push(await start(db.url));
      instances.push(await start(db.url));
    } else instances.push(await start());
    a = pipelineOf(instances[0]);
    b = pipelineOf(instances.at(-1)!);
  }, 60_000);

  afterAll(async () => {
    for (const i of instances) await i.stop();
    await drop?.();
  });

  it.skipIf(onPostgres && !postgres)(
    `hands each of ${taskCount} tasks to exactly one of eight racing claimers`,
    async () => {
      for (let i = 0; i < taskCount / 25; i++) await a.run(definition(`race-${i}`, 25), 'test');
      const claimed: string[] = [];
      const claimer = async (api: PipelineApi, worker: string) => {
        for (let n = 0; n < taskCount; n++) {
          const task = await api.claim(worker, BIG);
          if (!task) return;
          claimed.push(task.id);
          expect(await api.complete(task.id, worker, task.attempt, {}, {})).toBe(true);
        }
      };
      await Promise.all(Array.from({ length: 8 }, (_, i) => claimer(i % 2 === 0 ? a : b, `worker-${i}`)));
      expect(claimed).toHaveLength(taskCount);
      expect(new Set(claimed).size).toBe(taskCount);
    },
    120_000,
  );

  it.skipIf(onPostgres && !postgres)(
    'places the higher priority first, then the task that fills the worker best',
    async () => {
      const low = await a.run(definition('low', 1, { priority: 10 }), 'test');
      const high = await a.run(definition('high', 1, { priority: 500 }), 'test');
      const small = await a.run(definition('small', 1, { priority: 300 }, { resources: { cpu: 1 } }), 'test');
      const big = await a.run(definition('big', 1, { priority: 300 }, { resources: { cpu: 4 } }), 'test');
      const order: string[] = [];
      for (let i = 0; i < 4; i++) {
        const task = await a.claim('w', { ...BIG, cpu: 4 });
        expect(task).not.toBeNull();
        order.push(task!.executionId);
        await a.complete(task!.id, 'w', task!.attempt, {}, {});
      }
      expect(order).toEqual([high.id, big.id, small.id, low.id]);
    },
  );

  it.skipIf(onPostgres && !postgres)(
    'keeps a task no worker can hold queued, with the reason, and never hands it out',
    async () => {
      await a.registerWorker(
        'small-worker',
        'small',
        { cpu: 2, memoryMb: 2048, gpu: 0, storageMb: 1024 },
        {},
      );
      const run = await a.run(definition('gpu', 1, {}, { resources: { cpu: 1, gpu: 4 } }), 'test');
      await a.monitor();
      const stage = (await a.getExecution(run.id)).stages[0];
      expect(stage.status).toBe('QUEUED');
      expect(stage.waitReason).toMatch(/no live worker has 4 GPU \(largest worker: 0\)/);
      expect(await a.claim('small-worker', { cpu: 2, memoryMb: 2048, gpu: 0, storageMb: 1024 })).toBeNull();
      await a.cancel(run.id);
      await a.removeWorker('small-worker');
    },
  );

  it.skipIf(onPostgres && !postgres)(
    'runs a task again on another worker once the lease of a silent one expires',
    async () => {
      const run = await a.run(
        definition('lease', 1, {}, { retry: { maxAttempts: 2, initialBackoffMs: 0 } }),
        'test',
      );
      const first = await a.claim('silent', BIG);
      expect(first?.executionId).toBe(run.id);
      expect(await b.claim('other', BIG)).toBeNull();
      await new Promise((r) => setTimeout(r, 700));
      await b.monitor();
      const second = await b.claim('other', BIG);
      expect(second).toMatchObject({ id: first!.id, attempt: 2 });
      expect(await a.complete(first!.id, 'silent', first!.attempt, {}, {})).toBe(false);
      expect(await b.complete(second!.id, 'other', second!.attempt, { ok: true }, {})).toBe(true);
      expect((await a.getExecution(run.id)).status).toBe('SUCCEEDED');
    },
  );
});
