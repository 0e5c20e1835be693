import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { parse as parseYaml } from 'yaml';
import { badRequest } from '../../kernel/errors.js';
import { asha } from './asha.js';
import { gridSearch } from './grid-search.js';
import { randomSearch } from './random-search.js';
import { readSearchSpace, type SearchSpace } from './search-space.js';
import type { Strategy } from './strategy.js';

/** An experiment as a definition file, the API or the CLI gives it. */
export const ExperimentInput = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,127}$' }),
    description: Type.String({ maxLength: 2000, default: '' }),
    definition: Type.Optional(
      Type.Unknown({ description: 'The pipeline each trial runs (YAML/JSON shape).' }),
    ),
    pipeline: Type.Optional(Type.String({ minLength: 1, description: 'Or a saved pipeline by name.' })),
    space: Type.Record(Type.String(), Type.Unknown(), {
      description: 'Parameters of the train stage: lists, {choices}, {uniform}, {int}, {logUniform}.',
    }),
    strategy: Type.Union([Type.Literal('grid'), Type.Literal('random'), Type.Literal('asha')], {
      default: 'grid',
    }),
    metric: Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_]{0,63}$', default: 'accuracy' }),
    direction: Type.Union([Type.Literal('maximize'), Type.Literal('minimize')], { default: 'maximize' }),
    parallel: Type.Integer({ minimum: 1, maximum: 256, default: 2, description: 'Trials running at once.' }),
    maxFailedTrials: Type.Integer({
      minimum: 0,
      maximum: 100_000,
      default: 3,
      description: 'More failed trials than this fail the experiment.',
    }),
    budget: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 100_000, description: 'Random search: trials to draw.' }),
    ),
    seed: Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, default: 42 }),
    asha: Type.Object(
      {
        resource: Type.String({ default: 'epochs' }),
        minEpochs: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
        maxEpochs: Type.Optional(Type.Integer({ minimum: 2, maximum: 100_000 })),
        reductionFactor: Type.Integer({ minimum: 2, maximum: 100, default: 3 }),
        metric: Type.Optional(
          Type.String({
            pattern: '^[A-Za-z][A-Za-z0-9_]{0,63}$',
            description:
              'The per-epoch metric rungs compare (e.g. valLoss); default the validation form of the experiment metric.',
          }),
        ),
        direction: Type.Optional(
          Type.Union([Type.Literal('maximize'), Type.Literal('minimize')], {
            description: 'Default: minimize for a metric named …loss, else the experiment direction.',
          }),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    promote: Type.Object(
      {
        alias: Type.String({ pattern: '^[a-z][a-z0-9_-]{0,62}$', default: 'production' }),
        enabled: Type.Boolean({ default: true }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);
export type ExperimentInput = Static<typeof ExperimentInput>;

/** What an experiment stores of its input (the pipeline is stored beside it). */
export type ExperimentSpec = Omit<ExperimentInput, 'definition' | 'pipeline' | 'name' | 'description'> & {
  space: Record<string, unknown>;
};

const check = TypeCompiler.Compile(ExperimentInput);

/** Fills defaults and validates an experiment; 400 `invalid_experiment` naming each problem. */
export function readExperimentInput(input: unknown): ExperimentInput {
  const value = structuredClone((input ?? null) as Record<string, unknown>);
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    value.description ??= '';
    value.strategy ??= 'grid';
    value.metric ??= 'accuracy';
    value.direction ??= 'maximize';
    value.parallel ??= 2;
    value.maxFailedTrials ??= 3;
    value.seed ??= 42;
    value.asha ??= {};
    value.promote ??= {};
    const a = value.asha as Record<string, unknown>;
    if (a && typeof a === 'object') {
      a.resource ??= 'epochs';
      a.reductionFactor ??= 3;
    }
    const p = value.promote as Record<string, unknown>;
    if (p && typeof p === 'object') {
      p.alias ??= 'production';
      p.enabled ??= true;
    }
  }
  if (!check.Check(value)) {
    const problems = [...check.Errors(value)].slice(0, 10).map((e) => `${e.path || '/'}: ${e.message}`);
    throw badRequest('invalid_experiment', `invalid experiment: ${problems.join('; ')}`, { problems });
  }
  if ((value.definition === undefined) === (value.pipeline === undefined))
    throw badRequest('invalid_experiment', 'give exactly one of definition or pipeline');
  strategyOf(value);
  return value;
}

/** Parses an experiment file's text (YAML, a superset of JSON). */
export function parseExperimentText(text: string): unknown {
  try {
    return parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    throw badRequest(
      'invalid_experiment',
      `the experiment is not valid YAML or JSON: ${(error as Error).message}`,
    );
  }
}

const numbersOf = (space: SearchSpace, name: string): number[] => {
  const d = space[name];
  if (!d) return [];
  if (d.kind === 'list') return d.values.filter((v): v is number => typeof v === 'number');
  return [d.min, d.max];
};

/** The strategy an experiment's spec describes (checked when the experiment is created). */
export function strategyOf(spec: Omit<ExperimentSpec, 'space'> & { space: unknown }): Strategy {
  const space = readSearchSpace(spec.space);
  if (spec.strategy === 'grid') return gridSearch(space);
  if (spec.strategy === 'random') {
    if (spec.budget === undefined) throw badRequest('invalid_experiment', 'random search needs a budget');
    return randomSearch(space, spec.budget, spec.seed);
  }
  const epochs = numbersOf(space, spec.asha.resource);
  const minResource = spec.asha.minEpochs ?? (epochs.length > 0 ? Math.min(...epochs) : undefined);
  const maxResource = spec.asha.maxEpochs ?? (epochs.length > 0 ? Math.max(...epochs) : undefined);
  if (minResource === undefined || maxResource === undefined)
    throw badRequest(
      'invalid_experiment',
      `asha needs ${spec.asha.resource} in the space or asha.minEpochs and asha.maxEpochs`,
    );
  return asha(space, {
    resource: spec.asha.resource,
    minResource,
    maxResource,
    reductionFactor: spec.asha.reductionFactor,
    // A loss is minimised whatever the experiment's metric does.
    direction:
      spec.asha.direction ??
      (spec.asha.metric && /loss$/i.test(spec.asha.metric) ? 'minimize' : spec.direction),
    budget: spec.budget,
    seed: spec.seed,
  });
}

/** The per-epoch value early stopping judges: asha.metric when set, else the experiment metric's. */
export function rungValue(
  epoch: Record<string, unknown>,
  spec: Pick<ExperimentSpec, 'metric' | 'asha'>,
): number | null {
  if (spec.asha.metric === undefined) return epochValue(epoch, spec.metric);
  const value = epoch[spec.asha.metric];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** The per-epoch value a metric is judged by: its validation form when training reports one. */
export function epochValue(epoch: Record<string, unknown>, metric: string): number | null {
  const validation = epoch[`val${metric[0].toUpperCase()}${metric.slice(1)}`];
  const value = typeof validation === 'number' ? validation : epoch[metric];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
