import type { ClaimedTask, SchedulerApi } from '../../../src/pipeline/index.js';

const ALL = { cpu: 64, memoryMb: 1_000_000, gpu: 0, storageMb: 1_000_000 };

/**
 * What a trial with these parameters scores: best at learningRate 0.01, batchSize 64, dropout
 * 0.1 and the most epochs (0.999), so the best trial is known in advance.
 */
export function scoreOf(p: Record<string, unknown>): number {
  const lr = Number(p.learningRate ?? 0.01);
  const batch = Number(p.batchSize ?? 64);
  const dropout = Number(p.dropout ?? 0.1);
  const epochs = Number(p.epochs ?? 50);
  return (
    1 -
    Math.abs(Math.log10(lr) + 2) * 0.02 -
    Math.abs(batch - 64) / 6400 -
    dropout * 0.01 -
    (50 - epochs) / 5000
  );
}

/** A base pipeline for experiments whose stages the test runs by hand. */
export function basePipeline(extra: Record<string, unknown> = {}) {
  return {
    name: 'scripted',
    dataset: { name: 'tiny' },
    model: { name: 'scripted-model', type: 'scripted' },
    stages: [
      { name: 'prepare', type: 'prepare', params: { features: ['x'], label: 'y' } },
      { name: 'train', type: 'train', dependsOn: ['prepare'], params: { hiddenLayers: [4] } },
      { name: 'evaluate', type: 'evaluate', dependsOn: ['train'] },
      { name: 'deploy', type: 'deploy', dependsOn: ['evaluate'] },
    ],
    ...extra,
  };
}

/** Completes one claimed task as the real stage would shape its result, with scripted metrics. */
export async function completeTask(
  api: SchedulerApi,
  worker: string,
  task: ClaimedTask,
  /** Called after each epoch's metrics are reported; training stops when the lease is lost. */
  afterEpoch?: () => Promise<void>,
): Promise<boolean> {
  // The evaluation scores the parameters the model was trained with.
  const params = (task.outputs.train?.params as Record<string, unknown> | undefined) ?? task.stage.params;
  const score = scoreOf(params);
  if (task.stage.type === 'train') {
    const epochs = Number(params.epochs ?? 10);
    // A warm start continues after the epochs its checkpoint holds, as the real trainer does.
    const from = Number((params.warmStart as { epochs?: number } | undefined)?.epochs ?? 0);
    const history = Array.from({ length: epochs - from }, (_, i) => ({
      epoch: from + i + 1,
      loss: 1 - (score * (from + i + 1)) / epochs,
      accuracy: (score * (from + i + 1)) / epochs,
      valAccuracy: (score * (from + i + 1)) / epochs,
    }));
    if (afterEpoch)
      for (let e = 1; e <= epochs; e++) {
        const held = await api.extendLease(task.id, worker, task.attempt, { history: history.slice(0, e) });
        if (!held) return false;
        await afterEpoch();
      }
    return api.complete(
      task.id,
      worker,
      task.attempt,
      {
        modelUri: `artifact://executions/${task.executionId}/train/model/`,
        checkpointUri: `artifact://executions/${task.executionId}/train/checkpoint/`,
        params,
        features: ['x'],
        classes: ['a', 'b'],
      },
      { history, accuracy: score },
    );
  }
  if (task.stage.type === 'evaluate')
    return api.complete(
      task.id,
      worker,
      task.attempt,
      { evaluation: { accuracy: score } },
      { accuracy: score, f1: score },
    );
  return api.complete(
    task.id,
    worker,
    task.attempt,
    { dataUri: 'artifact://prepared.json', datasetVersion: task.datasetVersion },
    {},
  );
}

/** Claims and completes every queued task (bounded). */
export async function drain(
  api: SchedulerApi,
  worker = 'scripted-worker',
  max = 1_000,
  afterEpoch?: () => Promise<void>,
): Promise<number> {
  let done = 0;
  for (let i = 0; i < max; i++) {
    const task = await api.claim(worker, ALL);
    if (!task) break;
    await completeTask(api, worker, task, afterEpoch);
    done++;
  }
  return done;
}

/** Claims one task and never finishes it: a worker that died holding it. */
export async function claimAndDie(api: SchedulerApi, worker: string): Promise<ClaimedTask | null> {
  return api.claim(worker, ALL);
}
