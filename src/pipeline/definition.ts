import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { parse as parseYaml } from 'yaml';
import { badRequest } from '../kernel/errors.js';

/** What a task asks of a worker; a task runs only on a worker whose free capacity holds it. */
export const Resources = Type.Object(
  {
    cpu: Type.Number({ minimum: 0, maximum: 1024, default: 1, description: 'Cores.' }),
    memoryMb: Type.Integer({ minimum: 0, maximum: 4_194_304, default: 512 }),
    gpu: Type.Integer({ minimum: 0, maximum: 64, default: 0 }),
    storageMb: Type.Integer({ minimum: 0, maximum: 104_857_600, default: 0 }),
  },
  { additionalProperties: false, default: {} },
);
export type Resources = Static<typeof Resources>;

/** Retries with exponential backoff: attempt n waits initialMs · 2^(n-1), at most maxMs. */
export const RetryPolicy = Type.Object(
  {
    maxAttempts: Type.Integer({ minimum: 1, maximum: 20, default: 1 }),
    initialBackoffMs: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 1_000 }),
    maxBackoffMs: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 10_000 }),
  },
  { additionalProperties: false, default: {} },
);
export type RetryPolicy = Static<typeof RetryPolicy>;

const StageName = Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$', description: 'lower-case, digits, -' });

/** One stage: a task type, what it needs, and the stages it waits for. */
export const Stage = Type.Object(
  {
    name: StageName,
    type: Type.Union(['prepare', 'train', 'evaluate', 'deploy', 'command'].map((t) => Type.Literal(t))),
    dependsOn: Type.Array(StageName, { default: [], maxItems: 64 }),
    resources: Resources,
    env: Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.String({ maxLength: 4096 }), {
      default: {},
    }),
    timeoutMs: Type.Integer({ minimum: 100, maximum: 86_400_000, default: 600_000 }),
    retry: RetryPolicy,
    params: Type.Record(Type.String(), Type.Unknown(), { default: {} }),
    nodeSelector: Type.Record(
      Type.String({ minLength: 1, maxLength: 253 }),
      Type.String({ maxLength: 253 }),
      {
        default: {},
        maxProperties: 32,
        description: 'Labels a worker must carry (each with this value) to run the stage.',
      },
    ),
    gang: Type.Integer({
      minimum: 1,
      maximum: 64,
      default: 1,
      description:
        'Workers the stage needs at once (all or nothing), each holding `resources`; above 1 only for command stages.',
    }),
  },
  { additionalProperties: false },
);
export type Stage = Static<typeof Stage>;

/** A pipeline definition, as a YAML or JSON file holds it. */
export const PipelineDefinition = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$' }),
    description: Type.String({ maxLength: 2000, default: '' }),
    dataset: Type.Object(
      {
        name: Type.String({ minLength: 1, maxLength: 128 }),
        version: Type.String({ minLength: 1, default: 'latest', description: 'sha256, prefix or latest' }),
        file: Type.Optional(
          Type.String({ description: 'A CSV the CLI pushes first (path relative to the definition).' }),
        ),
      },
      { additionalProperties: false },
    ),
    model: Type.Object(
      {
        name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,127}$' }),
        type: Type.String({ minLength: 1, maxLength: 64, default: 'classification' }),
      },
      { additionalProperties: false },
    ),
    team: Type.String({
      pattern: '^[a-z0-9][a-z0-9._-]{0,62}$',
      default: 'default',
      description: 'The team the execution runs for; its quota bounds what runs at once.',
    }),
    priority: Type.Integer({ minimum: 0, maximum: 1000, default: 100 }),
    seed: Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, default: 42 }),
    stages: Type.Array(Stage, { minItems: 1, maxItems: 64 }),
  },
  { additionalProperties: false },
);
export type PipelineDefinition = Static<typeof PipelineDefinition>;

const check = TypeCompiler.Compile(PipelineDefinition);

/** Fills defaults recursively (TypeBox `default`s), then validates; 400 `invalid_pipeline` naming each problem. */
export function readDefinition(input: unknown): PipelineDefinition {
  const value = withDefaults(PipelineDefinition, structuredClone(input ?? null));
  if (!check.Check(value)) {
    const problems = [...check.Errors(value)].slice(0, 10).map((e) => `${e.path || '/'}: ${e.message}`);
    throw badRequest('invalid_pipeline', `invalid pipeline definition: ${problems.join('; ')}`, { problems });
  }
  checkGraph(value.stages);
  return value;
}

/** Parses a definition file's text: YAML (a superset of JSON). */
export function parseDefinitionText(text: string): PipelineDefinition {
  let value: unknown;
  try {
    value = parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    throw badRequest(
      'invalid_pipeline',
      `the definition is not valid YAML or JSON: ${(error as Error).message}`,
    );
  }
  return readDefinition(value);
}

/** Unique names, known dependencies, no cycles; returns the stages in a topological order. */
export function checkGraph(stages: Stage[]): Stage[] {
  const byName = new Map<string, Stage>();
  for (const stage of stages) {
    if (byName.has(stage.name)) throw badRequest('invalid_pipeline', `stage ${stage.name} is defined twice`);
    byName.set(stage.name, stage);
  }
  for (const stage of stages)
    for (const dep of stage.dependsOn) {
      if (!byName.has(dep))
        throw badRequest('invalid_pipeline', `stage ${stage.name} depends on ${dep}, which is not a stage`);
      if (dep === stage.name) throw badRequest('invalid_pipeline', `stage ${stage.name} depends on itself`);
    }
  const order: Stage[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (stage: Stage, path: string[]) => {
    if (state.get(stage.name) === 'done') return;
    if (state.get(stage.name) === 'visiting')
      throw badRequest('invalid_pipeline', `stages form a cycle: ${[...path, stage.name].join(' → ')}`);
    state.set(stage.name, 'visiting');
    for (const dep of stage.dependsOn) visit(byName.get(dep)!, [...path, stage.name]);
    state.set(stage.name, 'done');
    order.push(stage);
  };
  for (const stage of stages) visit(stage, []);
  for (const stage of stages) {
    if (stage.type === 'command' && !Array.isArray(stage.params.command))
      throw badRequest(
        'invalid_pipeline',
        `command stage ${stage.name} needs params.command: [executable, ...args]`,
      );
    if (stage.gang > 1 && stage.type !== 'command')
      throw badRequest(
        'invalid_pipeline',
        `stage ${stage.name} asks for a gang of ${stage.gang} workers; only command stages run as gangs`,
      );
  }
  return order;
}

function withDefaults(schema: unknown, value: unknown): unknown {
  const s = schema as {
    type?: string;
    properties?: Record<string, unknown>;
    items?: unknown;
    default?: unknown;
  };
  if (value === undefined && s.default !== undefined) value = structuredClone(s.default);
  if (s.type === 'object' && s.properties && value && typeof value === 'object' && !Array.isArray(value)) {
    const object = value as Record<string, unknown>;
    for (const [key, sub] of Object.entries(s.properties)) {
      const filled = withDefaults(sub, object[key]);
      if (filled !== undefined) object[key] = filled;
    }
  }
  if (s.type === 'array' && s.items && Array.isArray(value))
    return value.map((v) => withDefaults(s.items, v));
  return value;
}
