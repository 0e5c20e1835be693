import { isAimeshError } from '../kernel/errors.js';
import type { ClaimedTask } from '../pipeline/index.js';
import type { EventLog } from '../ports/event-log.js';
import type { RegistryApi } from '../registry/index.js';
import type { StageResult } from './stages/stage-io.js';

function findOutput(task: ClaimedTask, key: string): Record<string, unknown> {
  const output = Object.values(task.outputs).find((o) => key in o);
  if (!output) throw new Error(`stage ${task.stage.name} needs a finished stage that produced ${key}`);
  return output;
}

/**
 * Registers the trained model as a new version (lineage: dataset version → execution → model
 * version), records its evaluation, and asks the registry to promote it; the registry's
 * promotion rules decide, and a refusal is recorded, not a failure.
 */
export async function deployStage(
  task: ClaimedTask,
  registry: RegistryApi,
  events: EventLog,
  log: (line: string) => void,
): Promise<StageResult> {
  const { definition } = task;
  const trained = findOutput(task, 'modelUri');
  const evaluation = (findOutput(task, 'evaluation').evaluation ?? {}) as Record<string, number>;
  const alias = typeof task.stage.params.alias === 'string' ? task.stage.params.alias : 'production';
  const actor = `pipeline:${definition.name}`;
  try {
    await registry.createModel({
      name: definition.model.name,
      type: definition.model.type,
      createdBy: actor,
      description: definition.description,
    });
  } catch (error) {
    if (!(isAimeshError(error) && error.status === 409)) throw error;
  }
  const version = await registry.createModelVersion({
    model: definition.model.name,
    format: 'tfjs',
    artifactUri: String(trained.modelUri),
    artifacts: trained.onnxUri ? [{ format: 'onnx', uri: String(trained.onnxUri) }] : [],
    metrics: evaluation,
    params: {
      ...(trained.params as Record<string, unknown>),
      features: trained.features,
      classes: trained.classes,
    },
    runId: task.executionId,
    dataset: definition.dataset.name,
    datasetVersion: task.datasetVersion,
    createdBy: actor,
  });
  log(`registered ${version.model} v${version.version}`);
  const [evaluated] = await events.append({
    type: 'ai.evaluation.completed',
    source: 'aimesh/worker',
    subject: `${version.model}@${version.version}`,
    correlationid: task.executionId,
    data: { model: version.model, version: version.version, executionId: task.executionId, ...evaluation },
  });
  const output: Record<string, unknown> = {
    model: version.model,
    version: version.version,
    alias,
    promoted: false,
  };
  try {
    await registry.promote({
      model: version.model,
      version: version.version,
      alias,
      actor,
      causationId: evaluated.id,
    });
    output.promoted = true;
    log(`promoted ${version.model} v${version.version} to ${alias}`);
  } catch (error) {
    if (!(isAimeshError(error) && error.status === 422)) throw error;
    output.reason = error.message;
    log(`not promoted to ${alias}: ${error.message}`);
  }
  return { output, metrics: {} };
}
