// A cheap companion to `npm run bench -- asha`, for several seeds: the same prepare, train and
// evaluate stage code and the same ASHA strategy, run in this one process (no scheduler, no task
// processes, no database), so a seed costs the epochs' time, not a process start per stage.
// Trials run two at a time on a clock counted in epochs: a trial started when a slot frees
// finishes once its epochs have passed, and ASHA sees the trials finished by then — the
// asynchronous order the platform produces when epochs dominate a trial's time.
//
// Space, rungs and figures as in bench/asha.ts. BENCH_ASHA_SEEDS (default 1,2,3,42),
// BENCH_ASHA_DATASET (iris or penguins).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalArtifactStore } from '../src/adapters/local/local-artifact-store.js';
import { tfjsTrainer } from '../src/adapters/tfjs/tfjs-trainer.js';
import { asha } from '../src/pipeline/experiments/asha.js';
import { gridSearch } from '../src/pipeline/experiments/grid-search.js';
import { paramsKey, readSearchSpace, type TrialParams } from '../src/pipeline/experiments/search-space.js';
import { type KnownTrial, WAIT } from '../src/pipeline/experiments/strategy.js';
import type { EpochMetrics } from '../src/ports/trainer.js';
import { readSample } from '../src/registry/samples.js';
import { evaluateStage } from '../src/worker/stages/evaluate.js';
import { prepareStage } from '../src/worker/stages/prepare.js';
import type { StageContext, StageInput } from '../src/worker/stages/stage-io.js';
import { trainStage } from '../src/worker/stages/train.js';
import { report } from './report.js';
import { DATASETS, SPACE } from './support/asha-space.js';

const DATASET = process.env.BENCH_ASHA_DATASET ?? 'iris';
const SEEDS = (process.env.BENCH_ASHA_SEEDS ?? '1,2,3,42').split(',').map(Number);
const PARALLEL = 2;
if (!DATASETS[DATASET]) throw new Error(`BENCH_ASHA_DATASET must be one of ${Object.keys(DATASETS)}`);

const root = mkdtempSync(join(tmpdir(), 'aimesh-bench-asha-'));
const artifacts = createLocalArtifactStore(root);
const datasetUri = await artifacts.put(`datasets/${DATASET}.csv`, await readSample(DATASET));

interface Trial {
  params: TrialParams;
  epochs: number;
  valLoss: number;
  testAccuracy: number;
  checkpointUri: string;
}

let executions = 0;
async function runTrial(
  seed: number,
  prepared: Record<string, unknown>,
  params: Record<string, unknown>,
): Promise<Trial> {
  const executionId = `e${executions++}`;
  const history: EpochMetrics[] = [];
  const ctx: StageContext = {
    trainer: tfjsTrainer,
    artifacts,
    log: () => {},
    progress: (m) => history.push(m),
  };
  const input = (
    type: 'train' | 'evaluate',
    outputs: Record<string, Record<string, unknown>>,
  ): StageInput => ({
    type,
    executionId,
    stage: type,
    params: type === 'train' ? { hiddenLayers: [16, 8], ...params } : {},
    seed,
    dataset: { name: DATASET, version: 'bench', uri: datasetUri },
    outputs,
  });
  const train = await trainStage(input('train', { prepare: prepared }), ctx);
  const evaluation = await evaluateStage(input('evaluate', { prepare: prepared, train: train.output }), ctx);
  return {
    params: params as TrialParams,
    epochs: history.length,
    valLoss: history.at(-1)?.valLoss ?? Number.POSITIVE_INFINITY,
    testAccuracy: Number(evaluation.metrics.accuracy),
    checkpointUri: String(train.output.checkpointUri),
  };
}

function figures(trials: Trial[]) {
  const selected = trials.reduce((b, t) => (t.valLoss < b.valLoss ? t : b));
  const bestTest = Math.max(...trials.map((t) => t.testAccuracy));
  return {
    trials: trials.length,
    epochs: trials.reduce((s, t) => s + t.epochs, 0),
    selected: {
      testAccuracy: selected.testAccuracy,
      valLoss: Number(selected.valLoss.toFixed(4)),
      params: selected.params,
    },
    bestTest,
    atBestTest: trials.filter((t) => t.testAccuracy === bestTest).length,
  };
}

async function ashaSearch(seed: number, prepared: Record<string, unknown>): Promise<Trial[]> {
  const strategy = asha(readSearchSpace(SPACE), {
    resource: 'epochs',
    minResource: 10,
    maxResource: 50,
    reductionFactor: 3,
    direction: 'minimize',
    seed,
  });
  const done: Trial[] = [];
  const known: KnownTrial[] = [];
  const running: { at: number; index: number; trial: Trial }[] = [];
  let clock = 0;
  for (let step = 0; step < 10_000; step++) {
    const p = running.length < PARALLEL ? strategy.candidate(known.length, known) : WAIT;
    if (p === null && running.length === 0) break;
    if (p !== null && p !== WAIT) {
      const from = strategy.continuesFrom?.(p);
      const parent = from ? done.find((t) => paramsKey(t.params) === paramsKey(from)) : undefined;
      const warm = parent ? { warmStart: { checkpointUri: parent.checkpointUri, epochs: from!.epochs } } : {};
      const trial = await runTrial(seed, prepared, { ...p, ...warm });
      trial.params = p;
      known.push({ number: known.length, params: p, finished: false, metric: null, rungValue: null });
      running.push({ at: clock + trial.epochs, index: known.length - 1, trial });
      continue;
    }
    // Nothing to start: the clock moves to the next trial that finishes.
    running.sort((a, b) => a.at - b.at || a.index - b.index);
    const next = running.shift()!;
    clock = next.at;
    known[next.index] = { ...known[next.index], finished: true, rungValue: next.trial.valLoss };
    done.push(next.trial);
  }
  return done;
}

try {
  const runs = [];
  for (const seed of SEEDS) {
    const prepare = await prepareStage(
      {
        type: 'prepare',
        executionId: `prepare-${seed}`,
        stage: 'prepare',
        params: DATASETS[DATASET],
        seed,
        dataset: { name: DATASET, version: 'bench', uri: datasetUri },
        outputs: {},
      },
      { trainer: tfjsTrainer, artifacts, log: () => {}, progress: () => {} },
    );
    const gridTrials: Trial[] = [];
    const points = gridSearch(readSearchSpace(SPACE));
    for (let n = 0; n < (points.total ?? 0); n++) {
      const p = points.candidate(n, []);
      if (p === null || p === WAIT) break;
      gridTrials.push(await runTrial(seed, prepare.output, p));
    }
    const grid = figures(gridTrials);
    const ashaFigures = figures(await ashaSearch(seed, prepare.output));
    const run = {
      seed,
      grid,
      asha: ashaFigures,
      epochRatio: ashaFigures.epochs / grid.epochs,
      withinOnePoint: ashaFigures.selected.testAccuracy >= grid.selected.testAccuracy - 0.01,
    };
    console.log(JSON.stringify(run));
    runs.push(run);
  }
  report(
    'asha-in-process',
    { dataset: DATASET, parallel: PARALLEL, runs },
    "on every seed, the held-out accuracy of ASHA's selected trial within 1 point of the grid's, with at most 1/3 of its epochs",
    runs.every((r) => r.withinOnePoint && r.epochRatio <= 1 / 3),
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
