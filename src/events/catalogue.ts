import { type TSchema, Type } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';

/**
 * The catalogue of known event types: for each, its bus topic, its data schema per version,
 * and upcasters that lift older versions to the current one, so events written years ago
 * stay readable after a schema change. Unknown types are accepted with any JSON data and
 * go to the default topic (MISSION.md Part 4).
 */
export interface EventTypeDefinition {
  type: string;
  topic: string;
  /** Schema per version; the highest version is current. */
  versions: Record<number, TSchema>;
  /** upcast[n] turns version n data into version n + 1 data. */
  upcast?: Record<number, (data: Record<string, unknown>) => Record<string, unknown>>;
}

export const DEFAULT_TOPIC = 'ai.events.default';

const id = Type.String({ minLength: 1 });
const count = Type.Number({ minimum: 0 });
/** Which gateway front took a call. */
const front = Type.Union([Type.Literal('native'), Type.Literal('openai')]);
const open = <T extends Record<string, TSchema>>(props: T) =>
  Type.Object(props, { additionalProperties: true });

/**
 * The built-in event types. Add a type here with its schema; bump a version with an upcaster.
 * A call through the gateway to a model server is recorded once per role, joined by the
 * correlation id (the request id): `ai.inference.*` by the gateway (either front, with `front`
 * and its timings), `ai.serving.*` by the model server (batch, queue wait, cache).
 */
export const builtInEventTypes: EventTypeDefinition[] = [
  {
    type: 'ai.inference.completed',
    topic: 'ai.inference.completed',
    versions: {
      1: open({ modelId: id, latency: count }),
      // `front`, `upstreamMs` and `gatewayMs` came later, optional: older v2 events lack them.
      2: open({
        modelId: id,
        modelVersion: Type.Optional(Type.String()),
        latencyMs: count,
        userId: Type.Optional(Type.String()),
        front: Type.Optional(front),
        upstreamMs: Type.Optional(count),
        gatewayMs: Type.Optional(count),
      }),
    },
    // v1 called the latency `latency`; v2 names its unit.
    upcast: { 1: ({ latency, ...rest }) => ({ ...rest, latencyMs: latency }) },
  },
  {
    type: 'ai.inference.failed',
    topic: 'ai.inference.failed',
    versions: {
      1: open({
        error: Type.String(),
        modelId: Type.Optional(Type.String()),
        status: Type.Optional(Type.Integer()),
        front: Type.Optional(front),
      }),
    },
  },
  {
    type: 'ai.serving.completed',
    topic: 'ai.serving.completed',
    versions: {
      1: open({
        modelId: id,
        modelVersion: Type.String(),
        latencyMs: count,
        batchSize: Type.Optional(count),
        queueWaitMs: Type.Optional(count),
        cached: Type.Optional(Type.Boolean()),
      }),
    },
  },
  {
    type: 'ai.serving.failed',
    topic: 'ai.serving.failed',
    versions: {
      1: open({
        error: Type.String(),
        modelId: Type.Optional(Type.String()),
        status: Type.Optional(Type.Integer()),
      }),
    },
  },
  {
    type: 'ai.inference.metrics',
    topic: 'ai.inference.metrics',
    versions: { 1: open({ modelId: id, latencyMs: count }) },
  },
  {
    type: 'ai.training.started',
    topic: 'ai.training.started',
    versions: { 1: open({ executionId: id }) },
  },
  {
    type: 'ai.training.progress',
    topic: 'ai.training.progress',
    versions: {
      1: open({ executionId: id, stage: id, epoch: Type.Integer({ minimum: 1 }), loss: Type.Number() }),
    },
  },
  {
    type: 'ai.training.anomaly',
    topic: 'ai.training.anomaly',
    versions: { 1: open({ executionId: id, stage: id, anomaly: Type.String() }) },
  },
  {
    type: 'ai.training.completed',
    topic: 'ai.training.completed',
    versions: { 1: open({ executionId: id }) },
  },
  {
    type: 'ai.training.failed',
    topic: 'ai.training.failed',
    versions: { 1: open({ executionId: id, error: Type.String() }) },
  },
  {
    type: 'ai.evaluation.completed',
    topic: 'ai.evaluation.completed',
    versions: {
      1: open({
        model: id,
        version: Type.Integer({ minimum: 1 }),
        accuracy: Type.Number({ minimum: 0, maximum: 1 }),
      }),
    },
  },
  {
    type: 'ai.data.preprocess.completed',
    topic: 'ai.data.preprocess.completed',
    versions: { 1: open({ datasetVersion: id }) },
  },
  {
    type: 'ai.model.version.created',
    topic: 'ai.model.version.created',
    versions: { 1: open({ model: id, version: Type.Integer({ minimum: 1 }) }) },
  },
  {
    type: 'ai.model.promoted',
    topic: 'ai.model.promoted',
    versions: { 1: open({ model: id, version: Type.Integer({ minimum: 1 }), alias: id }) },
  },
  {
    type: 'ai.dataset.version.created',
    topic: 'ai.dataset.version.created',
    versions: { 1: open({ dataset: id, version: id, rowCount: count }) },
  },
  {
    type: 'ai.metrics.window',
    topic: 'ai.metrics.window',
    versions: {
      1: open({ key: id, windowStart: id, windowEnd: id, count: count, errors: count }),
    },
  },
  {
    type: 'ai.metrics.late',
    topic: 'ai.metrics.late',
    versions: { 1: open({ eventId: id, reason: id }) },
  },
  {
    type: 'ai.alert.raised',
    topic: 'ai.alert.raised',
    versions: { 1: open({ alert: id, severity: id, message: Type.String() }) },
  },
  {
    type: 'ai.experiment.run.ended',
    topic: 'ai.experiment.run.ended',
    versions: { 1: open({ experimentId: id, runId: id, status: id }) },
  },
  ...experimentEventTypes(),
];

/** A search's events, correlated by the experiment's id: its life, and each trial's transitions. */
function experimentEventTypes(): EventTypeDefinition[] {
  const experiment = (type: string, props: Record<string, TSchema> = {}): EventTypeDefinition => ({
    type,
    topic: type,
    versions: { 1: open({ experimentId: id, ...props }) },
  });
  const trial = (type: string, props: Record<string, TSchema> = {}) =>
    experiment(type, { trial: Type.Integer({ minimum: 0 }), ...props });
  return [
    experiment('ai.experiment.started', { name: id, strategy: id }),
    experiment('ai.experiment.completed', {
      bestTrial: open({
        id,
        number: Type.Integer({ minimum: 0 }),
        metric: Type.Union([Type.Number(), Type.Null()]),
      }),
    }),
    experiment('ai.experiment.failed', { error: Type.String() }),
    experiment('ai.experiment.cancelled'),
    experiment('ai.experiment.resumed'),
    trial('ai.trial.started', { executionId: id }),
    trial('ai.trial.completed'),
    trial('ai.trial.stopped', { rung: Type.Integer({ minimum: 0 }) }),
    trial('ai.trial.failed', { error: Type.String() }),
    trial('ai.trial.cancelled'),
    trial('ai.trial.rerun', { executionId: id, reason: Type.String() }),
  ];
}

/** The seed's upper-case names, accepted as aliases of the dotted types. */
export const legacyTypeNames: Record<string, string> = {
  MODEL_INFERENCE_COMPLETED: 'ai.inference.completed',
  MODEL_TRAINING_STARTED: 'ai.training.started',
  MODEL_EVALUATION_COMPLETED: 'ai.evaluation.completed',
  DATA_PREPROCESSING_COMPLETED: 'ai.data.preprocess.completed',
};

interface CompiledType {
  definition: EventTypeDefinition;
  current: number;
  checks: Map<number, TypeCheck<TSchema>>;
}

/** Looks up types, validates data against a version, upcasts stored data to the current version. */
export class EventCatalogue {
  private readonly types = new Map<string, CompiledType>();

  constructor(definitions: EventTypeDefinition[] = builtInEventTypes) {
    for (const definition of definitions) {
      const versions = Object.keys(definition.versions).map(Number);
      const checks = new Map(versions.map((v) => [v, TypeCompiler.Compile(definition.versions[v])]));
      this.types.set(definition.type, { definition, current: Math.max(...versions), checks });
    }
  }

  /** The canonical type name (legacy upper-case names map to dotted ones). */
  canonical(type: string): string {
    return legacyTypeNames[type] ?? type;
  }

  /** The bus topic for a type; anything unknown goes to ai.events.default. */
  topic(type: string): string {
    return this.types.get(type)?.definition.topic ?? DEFAULT_TOPIC;
  }

  /** The current schema version of a type (1 for unknown types). */
  currentVersion(type: string): number {
    return this.types.get(type)?.current ?? 1;
  }

  /** `urn:aimesh:event:<type>:v<n>` — the CloudEvents dataschema we write. */
  dataschema(type: string, version: number): string {
    return `urn:aimesh:event:${type}:v${version}`;
  }

  /** The version a dataschema URN names, or undefined when it is not one of ours. */
  versionOf(dataschema: string | undefined | null): number | undefined {
    const match = dataschema ? /:v(\d+)$/.exec(dataschema) : null;
    return match ? Number(match[1]) : undefined;
  }

  /** Problems with `data` as version `version` of `type`; empty when valid or the type is unknown. */
  validate(type: string, version: number, data: unknown): string[] {
    const known = this.types.get(type);
    if (!known) return [];
    const check = known.checks.get(version);
    if (!check)
      return [`${type} has no schema version ${version} (known: ${[...known.checks.keys()].join(', ')})`];
    if (check.Check(data)) return [];
    return [...check.Errors(data)].slice(0, 5).map((e) => `data${e.path} ${e.message}`);
  }

  /** Lifts data written as `version` to the type's current version. */
  upcast(type: string, version: number, data: unknown): unknown {
    const known = this.types.get(type);
    if (!known) return data;
    let value = data as Record<string, unknown>;
    for (let v = version; v < known.current; v++) {
      const step = known.definition.upcast?.[v];
      if (step) value = step(value);
    }
    return value;
  }
}
