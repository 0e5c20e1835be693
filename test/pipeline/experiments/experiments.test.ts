import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../../src/app/runtime.js';
import type { ExperimentRecord, PipelineApi, TrialRecord } from '../../../src/pipeline/index.js';
import { startTestAimesh } from '../../support/aimesh.js';
import { basePipeline, claimAndDie, drain } from './scripted-worker.js';

const SEED_GRID = {
  learningRate: [0.001, 0.01, 0.1],
  batchSize: [32, 64, 128],
  epochs: [10, 20, 50],
  dropout: [0.1, 0.2, 0.5],
};

async function start(config: Record<string, unknown> = {}): Promise<RunningAimesh> {
  const aimesh = await startTestAimesh({
    targets: ['pipeline'],
    config: {
      pipeline: {
        leaseMs: 500,
        monitorIntervalMs: 600_000,
        experiments: { tickMs: 600_000, leaseMs: 60_000 },
      },
      ...config,
    },
  });
  await aimesh.manager.api('registry')!.pushDataset({
    name: 'tiny',
    data: new TextEncoder().encode('x,y\n1,a\n2,b\n'),
    actor: 'test',
  });
  return aimesh;
}

const pipelineOf = (aimesh: RunningAimesh) => aimesh.manager.api('pipeline') as PipelineApi;

/** Ticks the controller and runs every queued task until the experiment ends (bounded). */
async function runToEnd(
  api: PipelineApi,
  id: string,
  maxTicks = 200,
  afterEpoch?: () => Promise<void>,
): Promise<ExperimentRecord> {
  for (let i = 0; i < maxTicks; i++) {
    await api.tickExperiments();
    const experiment = await api.experiments.get(id);
    if (experiment.status !== 'RUNNING') return experiment;
    await drain(api, 'scripted-worker', 1_000, afterEpoch);
  }
  throw new Error(`experiment ${id} did not end within ${maxTicks} ticks`);
}

async function allTrials(api: PipelineApi, id: string): Promise<TrialRecord[]> {
  return (await api.experiments.trials(id, { sort: 'number', order: 'asc', limit: 1000, offset: 0 })).items;
}

describe('experiments, with a scripted worker', () => {
  let aimesh: RunningAimesh;
  let api: PipelineApi;

  beforeAll(async () => {
    aimesh = await start();
    api = pipelineOf(aimesh);
  }, 60_000);
  afterAll(async () => {
    await aimesh?.stop();
  });

  it("runs the seed's 81-trial grid to the end although a worker dies mid-trial: 81 distinct finished trials, the best promoted", async () => {
    const created = await api.experiments.create(
      {
        name: 'seed-grid',
        definition: basePipeline(),
        space: SEED_GRID,
        parallel: 8,
        maxFailedTrials: 0,
      },
      'alice',
    );
    expect(created).toMatchObject({ status: 'RUNNING', strategy: 'grid', totalTrials: 81 });

    await api.tickExperiments();
    const doomed = await claimAndDie(api, 'doomed-worker');
    expect(doomed).not.toBeNull();
    await new Promise((r) => setTimeout(r, 700)); // its 500 ms lease lapses
    await api.monitor();
    const done = await runToEnd(api, created.id);

    expect(done.status).toBe('SUCCEEDED');
    expect(done.trials).toMatchObject({ SUCCEEDED: 81, FAILED: 0, CANCELLED: 0, RUNNING: 0, PENDING: 0 });
    const trials = await allTrials(api, created.id);
    expect(trials).toHaveLength(81);
    expect(new Set(trials.map((t) => JSON.stringify(t.params))).size).toBe(81);
    expect(new Set(trials.map((t) => t.executionId)).size).toBe(81);
    const rerun = trials.filter((t) => t.reruns > 0);
    expect(rerun.map((t) => t.executionId)).toEqual([doomed!.executionId]);
    expect(done.best).toMatchObject({
      params: { learningRate: 0.01, batchSize: 64, dropout: 0.1, epochs: 50 },
      status: 'SUCCEEDED',
    });
    expect(done.best!.metric).toBeCloseTo(0.999, 6);
    expect(done.result).toMatchObject({ model: 'scripted-model', promoted: true, alias: 'production' });
    const registry = aimesh.manager.api('registry')!;
    const promoted = await registry.getModelVersion('scripted-model', 'production');
    expect(promoted.version).toBe(done.result!.version);
    expect(promoted.metrics.accuracy).toBeCloseTo(0.999, 6);

    // Each trial is an execution without a deploy stage, and a registry run.
    const execution = await api.getExecution(trials[0].executionId!);
    expect(execution.stages.map((s) => s.name)).toEqual(['prepare', 'train', 'evaluate']);

    const events = await aimesh.manager.api('eventlog')!.query({ correlationId: created.id, limit: 10_000 });
    const count = (type: string) => events.filter((e) => e.type === type).length;
    expect(count('ai.experiment.started')).toBe(1);
    expect(count('ai.trial.started')).toBe(81 + 0);
    expect(count('ai.trial.completed')).toBe(81);
    expect(count('ai.trial.rerun')).toBe(1);
    expect(count('ai.trial.failed')).toBe(0);
    const completed = events.find((e) => e.type === 'ai.experiment.completed');
    expect(completed?.data).toMatchObject({
      bestTrial: { id: done.best!.id, metric: done.best!.metric },
      promoted: true,
    });
  }, 120_000);

  it('pages and sorts trials on the server, and ranks parameter effects', async () => {
    const [experiment] = await api.experiments.list({ limit: 1, offset: 0 });
    const page = await api.experiments.trials(experiment.id, {
      sort: 'metric',
      order: 'desc',
      limit: 10,
      offset: 0,
    });
    expect(page.total).toBe(81);
    expect(page.items).toHaveLength(10);
    expect(page.nextOffset).toBe(10);
    const metrics = page.items.map((t) => t.metric!);
    expect(metrics).toEqual([...metrics].sort((a, b) => b - a));
    expect(page.items[0].id).toBe(experiment.best!.id);
    const last = await api.experiments.trials(experiment.id, {
      sort: 'metric',
      order: 'desc',
      limit: 10,
      offset: 80,
    });
    expect(last.items).toHaveLength(1);
    expect(last.nextOffset).toBeNull();

    const analysis = await api.experiments.analysis(experiment.id, 5);
    expect(analysis.ranked.map((t) => t.id)).toEqual(page.items.slice(0, 5).map((t) => t.id));
    expect(analysis.effects).toHaveLength(12);
    const lr = analysis.effects.filter((e) => e.param === 'learningRate');
    expect(lr[0].value).toBe('0.01');
    for (const e of lr) expect(e.trials).toBe(27);
  });

  it('promotes the best third of each rung with ASHA, continuing from the checkpoint, for far fewer epochs than the grid', async () => {
    const created = await api.experiments.create(
      { name: 'seed-asha', definition: basePipeline(), space: SEED_GRID, strategy: 'asha', parallel: 1 },
      'alice',
    );
    const done = await runToEnd(api, created.id, 200);
    expect(done.status).toBe('SUCCEEDED');
    const trials = await allTrials(api, created.id);
    expect(trials.every((t) => t.status === 'SUCCEEDED')).toBe(true);
    // Rungs at 10, 30 and 50 epochs: every configuration trains 10, at least a third of them
    // 30, and at least a third of those 50 (asynchronous promotion may take a few more).
    const at = (e: number) => trials.filter((t) => t.params.epochs === e);
    expect(at(10)).toHaveLength(27);
    expect(at(30).length).toBeGreaterThanOrEqual(9);
    expect(at(30).length).toBeLessThan(27);
    expect(at(50).length).toBeGreaterThanOrEqual(3);
    expect(at(50).length).toBeLessThan(at(30).length);
    expect(at(10).length + at(30).length + at(50).length).toBe(trials.length);
    // A promoted configuration extends one of the rung below, from its checkpoint: it trains
    // only the epochs between the two rungs.
    const key = (p: Record<string, unknown>) => `${p.learningRate}/${p.batchSize}/${p.dropout}`;
    for (const t of at(30)) expect(at(10).map((b) => key(b.params))).toContain(key(t.params));
    for (const t of at(50)) expect(at(30).map((b) => key(b.params))).toContain(key(t.params));
    for (const t of at(30)) expect(t.epochs).toBe(20);
    for (const t of at(50)) expect(t.epochs).toBe(20);
    expect(done.best?.params).toMatchObject({ learningRate: 0.01, batchSize: 64, dropout: 0.1, epochs: 50 });
    expect(done.epochs).toBeLessThan(2160 / 3);
  }, 120_000);

  it('fails an experiment whose trials fail more often than allowed, naming the reason', async () => {
    const created = await api.experiments.create(
      {
        name: 'failing',
        definition: basePipeline(),
        space: { learningRate: [0.1, 0.2, 0.3] },
        parallel: 3,
        maxFailedTrials: 1,
      },
      'alice',
    );
    await api.tickExperiments();
    for (let i = 0; i < 3; i++) {
      const task = await claimAndDie(api, 'bad-worker');
      if (task) await api.fail(task.id, 'bad-worker', task.attempt, 'params.learningRate diverged');
    }
    await api.tickExperiments();
    const failed = await api.experiments.get(created.id);
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toContain('more than maxFailedTrials (1)');
    expect(failed.error).toContain('diverged');
  });
});

describe('an experiment across a restart', () => {
  it('resumes after the platform restarts, keeping every finished trial', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'aimesh-experiments-'));
    const config = { database: { adapter: 'pglite', dataDir } };
    const first = await start(config);
    const a = pipelineOf(first);
    const created = await a.experiments.create(
      {
        name: 'restart',
        definition: basePipeline(),
        space: { learningRate: [0.001, 0.01, 0.1], dropout: [0.1, 0.2, 0.5] },
        parallel: 3,
      },
      'alice',
    );
    await a.tickExperiments();
    await drain(a);
    await a.tickExperiments(); // settles the first 3, starts 3 more
    const before = (await allTrials(a, created.id)).filter((t) => t.status === 'SUCCEEDED');
    expect(before).toHaveLength(3);
    await first.stop();

    const second = await start(config);
    try {
      const b = pipelineOf(second);
      const done = await runToEnd(b, created.id);
      expect(done.status).toBe('SUCCEEDED');
      const after = await allTrials(b, created.id);
      expect(after).toHaveLength(9);
      expect(after.every((t) => t.status === 'SUCCEEDED')).toBe(true);
      for (const kept of before) expect(after.find((t) => t.id === kept.id)).toEqual(kept);
    } finally {
      await second.stop();
    }
  }, 120_000);
});
