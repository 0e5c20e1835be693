import { Type } from '@sinclair/typebox';
import { badRequest } from '../kernel/errors.js';
import type { RecordedRun } from './lineage-repository.js';

/** Namespace of the datasets and models aimesh itself names in lineage. */
export const AIMESH_NAMESPACE = 'aimesh';
/** What we put in `producer` of the RunEvents we emit. */
export const PRODUCER = 'urn:aimesh:registry';
const SCHEMA_URL = 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent';

const DatasetRef = Type.Object(
  {
    namespace: Type.String({ minLength: 1, maxLength: 512 }),
    name: Type.String({ minLength: 1, maxLength: 1024 }),
    facets: Type.Optional(Type.Object({}, { additionalProperties: true })),
  },
  { additionalProperties: true },
);

/** An OpenLineage RunEvent (the fields aimesh reads; others are accepted and ignored). */
export const RunEvent = Type.Object(
  {
    eventType: Type.Union(
      ['START', 'RUNNING', 'COMPLETE', 'FAIL', 'ABORT', 'OTHER'].map((t) => Type.Literal(t)),
    ),
    eventTime: Type.String({ format: 'date-time' }),
    run: Type.Object(
      {
        runId: Type.String({ minLength: 1, maxLength: 200 }),
        facets: Type.Optional(Type.Object({}, { additionalProperties: true })),
      },
      { additionalProperties: true },
    ),
    job: Type.Object(
      {
        namespace: Type.String({ minLength: 1, maxLength: 512 }),
        name: Type.String({ minLength: 1, maxLength: 1024 }),
        facets: Type.Optional(Type.Object({}, { additionalProperties: true })),
      },
      { additionalProperties: true },
    ),
    inputs: Type.Optional(Type.Array(DatasetRef, { maxItems: 1000 })),
    outputs: Type.Optional(Type.Array(DatasetRef, { maxItems: 1000 })),
    producer: Type.Optional(Type.String()),
    schemaURL: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);
/** An OpenLineage RunEvent. */
export type RunEvent = typeof RunEvent.static;

/**
 * The lineage node id of an OpenLineage dataset. Our own datasets and models have short ids
 * (`dataset:iris@<sha256>`, `model:iris-classifier@3`); anything else keeps its namespace.
 */
export function nodeOf(ref: { namespace: string; name: string }): string {
  if (ref.namespace === AIMESH_NAMESPACE) {
    const own = /^(datasets|models)\/([^@/]+)@([^@/]+)$/.exec(ref.name);
    if (own) return `${own[1] === 'datasets' ? 'dataset' : 'model'}:${own[2]}@${own[3]}`;
  }
  return `external:${ref.namespace}#${ref.name}`;
}

/** The OpenLineage dataset a node id stands for (the inverse of `nodeOf`). */
export function refOf(node: string): { namespace: string; name: string } {
  const own = /^(dataset|model):(.+)$/.exec(node);
  if (own) return { namespace: AIMESH_NAMESPACE, name: `${own[1]}s/${own[2]}` };
  const external = /^external:(.*?)#(.*)$/.exec(node);
  if (external) return { namespace: external[1], name: external[2] };
  throw badRequest('invalid_node', `${node} is not a lineage dataset node`);
}

/** Parses what users type for a node: `model:iris@3`, `dataset:iris@<sha>`, `run:<id>`, or `iris@3` (a model). */
export function parseNode(text: string): string {
  if (/^(dataset|model):[^@]+@.+$/.test(text) || /^run:.+$/.test(text) || /^external:.+#.+$/.test(text))
    return text;
  if (/^[^:@]+@[^@]+$/.test(text)) return `model:${text}`;
  throw badRequest(
    'invalid_node',
    `cannot read lineage node "${text}"; use model:<name>@<version>, dataset:<name>@<sha256>, run:<id> or <model>@<version>`,
  );
}

/** Builds the RunEvent for a recorded run. */
export function toRunEvent(run: RecordedRun): RunEvent {
  return {
    eventType: run.state as RunEvent['eventType'],
    eventTime: run.eventTime,
    run: { runId: run.runId, facets: run.facets },
    job: { namespace: run.jobNamespace, name: run.jobName },
    inputs: run.inputs.filter((n) => !n.startsWith('run:')).map(refOf),
    outputs: run.outputs.filter((n) => !n.startsWith('run:')).map(refOf),
    producer: PRODUCER,
    schemaURL: SCHEMA_URL,
  };
}
