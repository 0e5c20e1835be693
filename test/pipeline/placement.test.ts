import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import type { PipelineApi } from '../../src/pipeline/index.js';
import { adminHeaders, startTestAimesh } from '../support/aimesh.js';
import { createTestDatabase, serviceAvailable } from '../support/services.js';

const BIG = { cpu: 8, memoryMb: 16_384, gpu: 0, storageMb: 10_000 };

/** One command stage; `stage` and `extra` add to it and to the definition. */
function definition(name: string, stage: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    name,
    dataset: { name: 'tiny' },
    model: { name: 'm' },
    ...extra,
    stages: [{ name: 's', type: 'command', params: { command: ['true'] }, ...stage }],
  };
}

const postgres = await serviceAvailable('postgres');

describe.each([
  ['PGlite', false],
  ['PostgreSQL', true],
] as const)('placement on %s: node selectors, gangs, team quotas', (_name, onPostgres) => {
  let aimesh: RunningAimesh;
  let api: PipelineApi;
  let drop: (() => Promise<void>) | undefined;
  const skip = onPostgres && !postgres;

  beforeAll(async () => {
    if (skip) return;
    let database: Record<string, unknown> = {};
    if (onPostgres) {
      const db = await createTestDatabase();
      drop = db.drop;
      database = { database: { adapter: 'postgres', url: db.url } };
    }
    aimesh = await startTestAimesh({
      targets: ['pipeline'],
      config: { ...database, pipeline: { leaseMs: 60_000, monitorIntervalMs: 600_000 } },
    });
    api = aimesh.manager.api('pipeline') as PipelineApi;
    await aimesh.manager
      .api('registry')!
      .pushDataset({ name: 'tiny', data: new TextEncoder().encode('x,y\n1,a\n'), actor: 'test' });
  }, 60_000);

  afterAll(async () => {
    await aimesh?.stop();
    await drop?.();
  });

  it.skipIf(skip)('gives a task with a node selector only to a worker carrying those labels', async () => {
    await api.registerWorker('plain', 'plain', BIG, {});
    const run = await api.run(definition('selector', { nodeSelector: { accelerator: 'a100' } }), 'test');
    expect(await api.claim('plain', BIG)).toBeNull();
    await api.monitor();
    expect((await api.getExecution(run.id)).stages[0].waitReason).toBe(
      'no live worker carries the labels accelerator=a100',
    );
    expect(await api.claim('other', BIG, { accelerator: 'h100' })).toBeNull();
    const task = await api.claim('labelled', BIG, { accelerator: 'a100', zone: 'b' });
    expect(task?.executionId).toBe(run.id);
    expect(await api.complete(task!.id, 'labelled', task!.attempt, {}, {})).toBe(true);
    await api.removeWorker('plain');
  });

  it.skipIf(skip)(
    'places a gang only when every member has a worker, then runs it on all of them',
    async () => {
      await api.registerWorker('g1', 'g1', BIG, {});
      const run = await api.run(definition('gang', { gang: 3, resources: { cpu: 4 } }), 'test');
      // One live worker: nothing is held, and the reason says how many could take a member.
      expect(await api.claim('g1', BIG)).toBeNull();
      await api.monitor();
      expect((await api.getExecution(run.id)).stages[0].waitReason).toBe(
        'a gang of 3 needs 3 live workers that can each hold a member; 1 can',
      );
      // Two claim at once: still one short, so neither gets a member.
      expect(await Promise.all([api.claim('g1', BIG), api.claim('g2', BIG)])).toEqual([null, null]);
      await api.registerWorker('g2', 'g2', BIG, {});
      await api.registerWorker('g3', 'g3', BIG, {});
      await api.heartbeatWorker('g3', 0, { ...BIG, cpu: 2 }); // too little free for a member
      expect(await api.claim('g1', BIG)).toBeNull();
      await api.heartbeatWorker('g3', 0, BIG);
      const first = await api.claim('g1', BIG);
      expect(first?.gang?.size).toBe(3);
      expect(first?.gang?.rank).toBe(0);
      expect([...first!.gang!.workers].sort()).toEqual(['g1', 'g2', 'g3']);
      expect((await api.getExecution(run.id)).stages[0].status).toBe('RUNNING');
      const second = await api.claim('g2', BIG);
      const third = await api.claim('g3', BIG);
      expect(second?.id).toBe(first?.id);
      expect(third?.id).toBe(first?.id);
      expect(second?.gang?.rank).toBe(first!.gang!.workers.indexOf('g2'));
      expect(third?.gang?.rank).toBe(first!.gang!.workers.indexOf('g3'));
      // A member renews its own lease; one that is no member renews nothing.
      expect(await api.extendLease(first!.id, 'g2', first!.attempt)).toBe(true);
      expect(await api.extendLease(first!.id, 'stranger', first!.attempt)).toBe(false);
      expect(await api.complete(first!.id, 'g1', first!.attempt, { rank: 0 }, {})).toBe(true);
      expect(await api.complete(first!.id, 'g2', first!.attempt, { rank: 1 }, {})).toBe(true);
      expect((await api.getExecution(run.id)).status).toBe('RUNNING');
      expect(await api.complete(first!.id, 'g3', first!.attempt, { rank: 2 }, {})).toBe(true);
      const done = await api.getExecution(run.id);
      expect(done.status).toBe('SUCCEEDED');
      expect(done.stages[0].output).toEqual({ rank: 0, gang: 3 });
      for (const w of ['g1', 'g2', 'g3']) await api.removeWorker(w);
    },
  );

  it.skipIf(skip)('fails the whole gang attempt when one member fails', async () => {
    const run = await api.run(definition('gang-fail', { gang: 2 }), 'test');
    const [a, b] = await Promise.all([api.claim('f1', BIG), api.claim('f2', BIG)]);
    expect(a?.gang?.workers).toEqual(['f1', 'f2']);
    expect(b?.id).toBe(a?.id);
    expect(await api.fail(b!.id, 'f2', b!.attempt, 'rank 1 crashed')).toBe('failed');
    expect(await api.complete(a!.id, 'f1', a!.attempt, {}, {})).toBe(false);
    expect(await api.extendLease(a!.id, 'f1', a!.attempt)).toBe(false);
    expect((await api.getExecution(run.id)).status).toBe('FAILED');
  });

  it.skipIf(skip)("holds a team's tasks beyond its quota queued, with the reason", async () => {
    const put = await fetch(`${api.url}/api/v1/training/quotas/vision`, {
      method: 'PUT',
      headers: { ...adminHeaders(), 'content-type': 'application/json' },
      body: JSON.stringify({ tasks: 1 }),
    });
    expect(put.status).toBe(200);
    const bad = await fetch(`${api.url}/api/v1/training/quotas/vision`, {
      method: 'PUT',
      headers: { ...adminHeaders(), 'content-type': 'application/json' },
      body: JSON.stringify({ tasks: -1 }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBeTypeOf('string');
    const one = await api.run(definition('q1', {}, { team: 'vision' }), 'test');
    const two = await api.run(definition('q2', {}, { team: 'vision' }), 'test');
    const other = await api.run(definition('q3', {}, { team: 'speech' }), 'test');
    // One of the team's tasks and the other team's are placed; the team's second waits.
    const placed = [await api.claim('q', BIG), await api.claim('q', BIG), await api.claim('q', BIG)];
    expect(placed[2]).toBeNull();
    expect(placed.map((t) => t?.executionId)).toContain(other.id);
    const first = placed.find((t) => t?.executionId === one.id || t?.executionId === two.id)!;
    expect(first).toBeDefined();
    const waiting = first.executionId === one.id ? two : one;
    await api.registerWorker('q', 'q', BIG, {});
    await api.monitor();
    expect((await api.getExecution(waiting.id)).stages[0].waitReason).toBe(
      'team vision is at its quota (1/1 tasks in use)',
    );
    const quotas = (await (
      await fetch(`${api.url}/api/v1/training/quotas`, { headers: adminHeaders() })
    ).json()) as { items: { team: string; used: { tasks: number } }[] };
    expect(quotas.items).toEqual([
      expect.objectContaining({ team: 'vision', used: expect.objectContaining({ tasks: 1 }) }),
    ]);
    await api.complete(first.id, 'q', first.attempt, {}, {});
    expect((await api.claim('q', BIG))?.executionId).toBe(waiting.id);
    const removed = await fetch(`${api.url}/api/v1/training/quotas/vision`, {
      method: 'DELETE',
      headers: adminHeaders(),
    });
    expect(removed.status).toBe(204);
    await api.removeWorker('q');
  });
});
