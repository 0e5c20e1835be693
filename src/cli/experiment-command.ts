import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { AimeshError, isAimeshError } from '../kernel/errors.js';
import {
  type ExperimentRecord,
  parseDefinitionText,
  parseDimensionFlag,
  type TrialRecord,
} from '../pipeline/index.js';
import { usageError } from './cli-errors.js';
import { callApi } from './client.js';
import { uploadCsv } from './datasets-command.js';
import { wholeNumber } from './option-values.js';
import { printTable } from './table-output.js';

const API = '/api/v1/training/experiments';

interface ColumnProfile {
  name: string;
  type: string;
}

/** The dataset's latest version, pushing the built-in sample of that name first when there is none. */
async function datasetColumns(name: string): Promise<ColumnProfile[]> {
  const path = `/api/v1/datasets/${encodeURIComponent(name)}/versions/latest`;
  try {
    return (await callApi<{ columns: ColumnProfile[] }>('GET', path)).columns;
  } catch (error) {
    if (!(isAimeshError(error) && error.status === 404)) throw error;
    await callApi('POST', `/api/v1/datasets/samples/${encodeURIComponent(name)}`);
    console.log(`dataset ${name}: pushed the built-in sample`);
    return (await callApi<{ columns: ColumnProfile[] }>('GET', path)).columns;
  }
}

/**
 * The pipeline a `--dataset` experiment trains: prepare (numeric columns as features, the last
 * text column as the label unless named) → train (a dense network) → evaluate → deploy.
 */
export async function pipelineForDataset(
  dataset: string,
  label?: string,
  features?: string[],
): Promise<Record<string, unknown>> {
  const columns = await datasetColumns(dataset);
  const target = label ?? columns.filter((c) => c.type === 'string' || c.type === 'boolean').at(-1)?.name;
  if (!target)
    throw usageError(
      'invalid_dataset',
      `dataset ${dataset} has no text column to predict; name one with --label`,
    );
  const inputs =
    features ??
    columns
      .filter((c) => (c.type === 'number' || c.type === 'integer') && c.name !== target)
      .map((c) => c.name);
  return {
    name: `${dataset}-search`,
    dataset: { name: dataset },
    model: { name: `${dataset}-classifier`, type: `${dataset}-classification` },
    stages: [
      { name: 'prepare', type: 'prepare', params: { features: inputs, label: target } },
      {
        name: 'train',
        type: 'train',
        dependsOn: ['prepare'],
        resources: { cpu: 1, memoryMb: 1024 },
        params: { hiddenLayers: [16, 8] },
      },
      { name: 'evaluate', type: 'evaluate', dependsOn: ['train'] },
      { name: 'deploy', type: 'deploy', dependsOn: ['evaluate'] },
    ],
  };
}

/** A pipeline file; a `dataset.file` is pushed first and the experiment pinned to that version. */
async function pipelineFromFile(file: string): Promise<Record<string, unknown>> {
  const definition = parseDefinitionText(await readFile(file, 'utf8'));
  if (definition.dataset.file) {
    const pushed = await uploadCsv(
      definition.dataset.name,
      new Uint8Array(await readFile(resolve(dirname(file), definition.dataset.file))),
    );
    definition.dataset.version = pushed.version.version;
    delete definition.dataset.file;
  }
  return definition as unknown as Record<string, unknown>;
}

interface RunOptions {
  file?: string;
  pipeline?: string;
  dataset?: string;
  label?: string;
  features?: string;
  name?: string;
  grid?: string[];
  range?: string[];
  strategy?: string;
  parallel?: number;
  budget?: number;
  seed?: number;
  maxFailed?: number;
  metric?: string;
  direction?: string;
  minEpochs?: number;
  reductionFactor?: number;
  ashaMetric?: string;
  ashaDirection?: string;
  wait: boolean;
  interval: string;
}

/** The experiment the flags (and an optional file they override) describe. */
export async function experimentFromOptions(opts: RunOptions): Promise<Record<string, unknown>> {
  const body: Record<string, unknown> = opts.file
    ? ((parseYaml(await readFile(opts.file, 'utf8')) as Record<string, unknown>) ?? {})
    : {};
  if (opts.file && typeof body.pipelineFile === 'string') {
    body.definition = await pipelineFromFile(resolve(dirname(opts.file), body.pipelineFile));
    delete body.pipelineFile;
  }
  if (opts.pipeline) body.definition = await pipelineFromFile(opts.pipeline);
  else if (opts.dataset)
    body.definition = await pipelineForDataset(
      opts.dataset,
      opts.label,
      opts.features?.split(',').map((f) => f.trim()),
    );
  const flags = [...(opts.grid ?? []), ...(opts.range ?? [])];
  if (flags.length > 0)
    body.space = { ...((body.space as object) ?? {}), ...Object.fromEntries(flags.map(parseDimensionFlag)) };
  if (body.definition === undefined && body.pipeline === undefined)
    throw usageError(
      'missing_pipeline',
      'say what each trial trains: --dataset, --pipeline <file>, or --file',
    );
  if (body.space === undefined)
    throw usageError('missing_space', 'give the search space: --grid name=v1,v2 ... or --file');
  const set = (key: string, value: unknown) => {
    if (value !== undefined) body[key] = value;
  };
  set('strategy', opts.strategy);
  set('parallel', opts.parallel);
  set('budget', opts.budget);
  set('seed', opts.seed);
  set('maxFailedTrials', opts.maxFailed);
  set('metric', opts.metric);
  set('direction', opts.direction);
  const asha = {
    minEpochs: opts.minEpochs,
    reductionFactor: opts.reductionFactor,
    metric: opts.ashaMetric,
    direction: opts.ashaDirection,
  };
  const given = Object.entries(asha).filter(([, value]) => value !== undefined);
  if (given.length > 0) body.asha = { ...((body.asha as object) ?? {}), ...Object.fromEntries(given) };
  body.name ??=
    opts.name ??
    `${String((body.definition as { name?: string } | undefined)?.name ?? body.pipeline)}-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '')}`;
  if (opts.name) body.name = opts.name;
  return body;
}

const fixed = (v: number | null | undefined) => (v === null || v === undefined ? '-' : v.toFixed(4));

/** One line of progress: trials done / running / stopped, epochs, best so far. */
export function progressLine(e: ExperimentRecord): string {
  const t = e.trials;
  const finished = t.SUCCEEDED + t.STOPPED + t.FAILED + t.CANCELLED;
  const total = e.totalTrials ?? finished + t.RUNNING + t.PENDING;
  const best = e.best ? `best ${e.metric} ${fixed(e.best.metric)} (trial ${e.best.number})` : 'best -';
  return `${finished}/${total} done · ${t.RUNNING} running · ${t.STOPPED} stopped · ${t.FAILED} failed · ${e.epochs} epochs · ${best}`;
}

function bar(e: ExperimentRecord, width = 24): string {
  const t = e.trials;
  const finished = t.SUCCEEDED + t.STOPPED + t.FAILED + t.CANCELLED;
  const total = Math.max(1, e.totalTrials ?? finished + t.RUNNING + t.PENDING);
  const full = Math.round((finished / total) * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
}

/**
 * Follows an experiment to its end: on a terminal one progress bar redrawn in place, otherwise
 * a plain line whenever the counts change (so a log reads well).
 */
async function follow(id: string, intervalMs: number): Promise<ExperimentRecord> {
  const tty = process.stdout.isTTY === true;
  let last = '';
  for (;;) {
    const e = await callApi<ExperimentRecord>('GET', `${API}/${encodeURIComponent(id)}`);
    const line = progressLine(e);
    if (tty) process.stdout.write(`\r${bar(e)} ${line}\x1b[K`);
    else if (line !== last) console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);
    last = line;
    if (e.status !== 'RUNNING') {
      if (tty) process.stdout.write('\n');
      return e;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function printSummary(e: ExperimentRecord): void {
  console.log(
    `${e.id}  ${e.name}  ${e.status}  ${e.strategy}  ${e.metric} (${e.direction})${e.error ? `  ${e.error}` : ''}`,
  );
  console.log(`  ${progressLine(e)}`);
  if (e.best)
    console.log(`  best trial ${e.best.number}: ${JSON.stringify(e.best.params)} → ${fixed(e.best.metric)}`);
  if (e.result) {
    const r = e.result as {
      model?: string;
      version?: number;
      promoted?: boolean;
      alias?: string;
      reason?: string;
    };
    if (r.model)
      console.log(
        `  registered ${r.model} v${r.version}${r.promoted ? ` → ${r.alias}` : r.alias ? ` (not promoted: ${r.reason})` : ''}`,
      );
  }
}

interface Analysis {
  metric: string;
  ranked: TrialRecord[];
  effects: { param: string; value: string; trials: number; mean: number; min: number; max: number }[];
}

async function printResults(id: string, top: number): Promise<void> {
  const a = await callApi<Analysis>('GET', `${API}/${encodeURIComponent(id)}/analysis?top=${top}`);
  const params = [...new Set(a.ranked.flatMap((t) => Object.keys(t.params)))];
  printTable(
    a.ranked.map((t, i) => ({
      rank: i + 1,
      trial: t.number,
      ...t.params,
      [a.metric]: fixed(t.metric),
      trained: t.epochs,
    })),
    ['rank', 'trial', ...params, a.metric, 'trained'],
  );
  console.log('');
  printTable(
    a.effects.map((e) => ({ ...e, mean: fixed(e.mean), min: fixed(e.min), max: fixed(e.max) })),
    ['param', 'value', 'trials', 'mean', 'min', 'max'],
  );
}

const collect = (value: string, previous: string[] = []) => [...previous, value];
const number = (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new AimeshError('invalid_argument', 400, `${value} is not a number`);
  return n;
};

/** `aimesh experiment run|status|ls|cancel|resume|results`. */
export function registerExperimentCommands(program: Command): void {
  const experiment = program
    .command('experiment')
    .description('hyperparameter searches over training pipelines: grid, random, asha');
  experiment
    .command('run')
    .description('start an experiment and follow it (progress bars on a terminal, plain lines otherwise)')
    .option('--file <file>', 'an experiment file (YAML/JSON: name, space, strategy, ..., pipelineFile)')
    .option('--pipeline <file>', 'the pipeline each trial runs (e.g. examples/pipelines/iris.yaml)')
    .option(
      '--dataset <name>',
      'or train a dense classifier on this dataset (a built-in sample is pushed if missing)',
    )
    .option('--label <column>', 'with --dataset: the column to predict (default the last text column)')
    .option('--features <a,b,...>', 'with --dataset: the input columns (default the numeric ones)')
    .option('--name <name>', 'the experiment name')
    .option('--grid <name=v1,v2...>', 'a list of values (repeat, or several after one flag)', collect)
    .option('--range <name=kind:min:max>', 'a range: uniform, int or log (repeat)', collect)
    .option('--strategy <grid|random|asha>', 'how to search (default grid)')
    .option('--parallel <n>', 'trials at once (default 2)', wholeNumber(1, 256))
    .option('--budget <n>', 'random: trials to draw; asha: configurations to draw', wholeNumber(1, 100_000))
    .option('--seed <n>', 'seed of random draws', wholeNumber(0, 2 ** 31 - 1))
    .option(
      '--max-failed <n>',
      'more failed trials than this fail the experiment (default 3)',
      wholeNumber(0),
    )
    .option('--metric <name>', 'the metric to optimise (default accuracy)')
    .option('--direction <maximize|minimize>', 'default maximize')
    .option('--min-epochs <n>', 'asha: epochs of the first rung', wholeNumber(1))
    .option('--reduction-factor <n>', 'asha: keep 1/n at each rung (default 3)', number)
    .option(
      '--asha-metric <name>',
      'asha: the per-epoch metric rungs compare (default the validation form of --metric)',
    )
    .option(
      '--asha-direction <maximize|minimize>',
      'asha: default minimize for a metric ending in loss, else --direction',
    )
    .option('--no-wait', 'return once the experiment is created')
    .option('--interval <ms>', 'polling interval while following', '1000')
    .allowExcessArguments(true)
    .argument('[more...]', 'more name=values after --grid')
    .action(async (more: string[], opts: RunOptions) => {
      opts.grid = [...(opts.grid ?? []), ...more.filter((m) => m.includes('='))];
      const body = await experimentFromOptions(opts);
      const created = await callApi<ExperimentRecord>('POST', API, body);
      console.log(
        `experiment ${created.id} ${created.name} ${created.status}: ${created.totalTrials ?? '?'} trials, ${created.strategy}`,
      );
      if (!opts.wait) return;
      const started = Date.now();
      const done = await follow(created.id, Math.max(100, Number(opts.interval) || 1000));
      printSummary(done);
      if (done.status === 'SUCCEEDED') await printResults(done.id, 10);
      console.log(`took ${((Date.now() - started) / 1000).toFixed(0)} s`);
      if (done.status !== 'SUCCEEDED') process.exitCode = 1;
    });
  experiment
    .command('status')
    .description("an experiment's status, progress and best trial")
    .argument('<id>')
    .action(async (id: string) =>
      printSummary(await callApi<ExperimentRecord>('GET', `${API}/${encodeURIComponent(id)}`)),
    );
  experiment
    .command('ls')
    .description('list experiments, newest first')
    .option('--status <status>', 'only this status')
    .option('--limit <n>', 'how many', '20')
    .action(async (opts: { status?: string; limit: string }) => {
      const q = new URLSearchParams({ limit: opts.limit, ...(opts.status ? { status: opts.status } : {}) });
      const listed = await callApi<{ items: ExperimentRecord[] }>('GET', `${API}?${q}`);
      printTable(
        listed.items.map((e) => ({
          ...e,
          progress: progressLine(e),
        })),
        ['id', 'name', 'status', 'strategy', 'progress'],
      );
    });
  experiment
    .command('cancel')
    .description('cancel a running experiment')
    .argument('<id>')
    .action(async (id: string) =>
      printSummary(await callApi<ExperimentRecord>('POST', `${API}/${encodeURIComponent(id)}/cancel`)),
    );
  experiment
    .command('resume')
    .description('resume a cancelled or failed experiment (finished trials are kept)')
    .argument('<id>')
    .option('--no-wait', 'return at once')
    .option('--interval <ms>', 'polling interval while following', '1000')
    .action(async (id: string, opts: { wait: boolean; interval: string }) => {
      const resumed = await callApi<ExperimentRecord>('POST', `${API}/${encodeURIComponent(id)}/resume`);
      printSummary(resumed);
      if (!opts.wait) return;
      const done = await follow(id, Math.max(100, Number(opts.interval) || 1000));
      printSummary(done);
      if (done.status !== 'SUCCEEDED') process.exitCode = 1;
    });
  experiment
    .command('results')
    .description('trials ranked by the metric, and each parameter’s effect (mean metric per value)')
    .argument('<id>')
    .option('--top <n>', 'how many trials', wholeNumber(1, 1000), 10)
    .action(async (id: string, opts: { top: number }) => printResults(id, opts.top));
}
