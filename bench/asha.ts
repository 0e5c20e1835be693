// ASHA against the full grid on one search space over iris, in one run, on the embedded
// defaults: every trial is a real pipeline execution (prepare → train → evaluate in task
// processes of the local worker, TF.js training), scheduled by the pipeline scheduler. The
// figures: each strategy's best held-out accuracy and the epochs its trials trained in all
// (counted from the workers' per-epoch progress events, so epochs a stopped trial trained
// before it saw the stop count too), and its wall time.
//
// The space is the seed's grid made smaller so both searches fit in a few minutes on a shared
// 2-core machine: learningRate {0.01, 0.1} × batchSize {16, 64} × dropout {0.1, 0.3} ×
// epochs {10, 30, 90}: 24 grid trials; ASHA trains the 8 configurations with rungs at 10 and
// 30 epochs (η = 3) and 90 at most, its rungs comparing the validation loss. Override the
// parallelism with BENCH_ASHA_PARALLEL (default 2).
import type { PipelineApi } from '../src/pipeline/index.js';
import { startTestAimesh } from '../test/support/aimesh.js';
import { report } from './report.js';

const SPACE = {
  learningRate: [0.01, 0.1],
  batchSize: [16, 64],
  dropout: [0.1, 0.3],
  epochs: [10, 30, 90],
};
const PARALLEL = Number(process.env.BENCH_ASHA_PARALLEL ?? 2);
const CAP_MS = 30 * 60_000;

const aimesh = await startTestAimesh({
  targets: ['pipeline', 'worker'],
  config: {
    worker: { concurrency: PARALLEL, heartbeatMs: 1_000, pollMs: 50 },
    pipeline: { experiments: { tickMs: 100 } },
  },
});
const api = aimesh.manager.api('pipeline') as PipelineApi;
const registry = aimesh.manager.api('registry')!;
const { readSample } = await import('../src/registry/samples.js');
await registry.pushDataset({ name: 'iris', data: await readSample('iris'), actor: 'bench' });

const definition = {
  name: 'iris-bench',
  dataset: { name: 'iris' },
  model: { name: 'iris-bench', type: 'iris-species' },
  seed: 42,
  stages: [
    {
      name: 'prepare',
      type: 'prepare',
      params: { features: ['sepalLength', 'sepalWidth', 'petalLength', 'petalWidth'], label: 'species' },
    },
    { name: 'train', type: 'train', dependsOn: ['prepare'], params: { hiddenLayers: [16, 8] } },
    { name: 'evaluate', type: 'evaluate', dependsOn: ['train'] },
  ],
};

async function epochsTrained(executions: Set<string>): Promise<number> {
  await aimesh.events.flush();
  let count = 0;
  let after = 0;
  for (let page = 0; page < 1_000; page++) {
    const events = await aimesh.events.query({
      type: 'ai.training.progress',
      afterPosition: after,
      limit: 10_000,
    });
    if (events.length === 0) break;
    for (const e of events) if (executions.has((e.data as { executionId: string }).executionId)) count++;
    after = events.at(-1)!.position;
  }
  return count;
}

async function search(strategy: 'grid' | 'asha') {
  const started = performance.now();
  const created = await api.experiments.create(
    {
      name: `bench-${strategy}-${Date.now()}`,
      definition,
      space: SPACE,
      strategy,
      parallel: PARALLEL,
      promote: { enabled: false },
    },
    'bench',
  );
  let done = created;
  while (done.status === 'RUNNING' && performance.now() - started < CAP_MS) {
    await new Promise((r) => setTimeout(r, 1_000));
    done = await api.experiments.get(created.id);
    process.stderr.write(`\r${strategy}: ${JSON.stringify(done.trials)} epochs ${done.epochs}   `);
  }
  process.stderr.write('\n');
  const seconds = (performance.now() - started) / 1000;
  const trials = await api.experiments.trials(created.id, {
    sort: 'number',
    order: 'asc',
    limit: 1000,
    offset: 0,
  });
  const executions = new Set(trials.items.flatMap((t) => (t.executionId ? [t.executionId] : [])));
  const figures = {
    status: done.status,
    trials: trials.total,
    stopped: done.trials.STOPPED,
    epochs: await epochsTrained(executions),
    bestAccuracy: done.best?.metric ?? null,
    bestParams: done.best?.params ?? null,
    // How many finished trials reached the best accuracy (the test split has 30 rows: one row is 3.3 points).
    atBest: trials.items.filter((t) => t.status === 'SUCCEEDED' && t.metric === done.best?.metric).length,
    seconds: Math.round(seconds),
  };
  console.log(`${strategy.padEnd(4)}  ${JSON.stringify(figures)}`);
  return figures;
}

try {
  const grid = await search('grid');
  const asha = await search('asha');
  const withinOnePoint =
    asha.bestAccuracy !== null && grid.bestAccuracy !== null && asha.bestAccuracy >= grid.bestAccuracy - 0.01;
  const epochRatio = grid.epochs > 0 ? asha.epochs / grid.epochs : null;
  report(
    'asha',
    { grid, asha, epochRatio, timeRatio: asha.seconds / grid.seconds },
    "ASHA's best accuracy within 1 point of the grid's, with at most 1/3 of its epochs",
    grid.status === 'SUCCEEDED' &&
      asha.status === 'SUCCEEDED' &&
      withinOnePoint &&
      epochRatio !== null &&
      epochRatio <= 1 / 3,
  );
} finally {
  await aimesh.stop();
}
