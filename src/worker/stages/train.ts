import type { EpochMetrics } from '../../ports/trainer.js';
import {
  numberParam,
  outputOfType,
  type PreparedData,
  readJson,
  type StageContext,
  type StageInput,
  type StageResult,
} from './stage-io.js';

const normalise = (rows: number[][], mean: number[], std: number[]) =>
  rows.map((x) => x.map((v, j) => (v - mean[j]) / std[j]));

/**
 * `params.warmStart`: `{ checkpointUri, epochs }`, a checkpoint another training saved after
 * `epochs` epochs (an experiment's promoted trial continues from the trial it extends).
 */
async function warmStartOf(
  given: unknown,
  epochs: number,
  ctx: StageContext,
): Promise<{ files: Record<string, Uint8Array>; epochs: number } | null> {
  if (given === undefined) return null;
  const w = given as { checkpointUri?: unknown; epochs?: unknown };
  if (
    typeof w !== 'object' ||
    w === null ||
    typeof w.checkpointUri !== 'string' ||
    !Number.isInteger(w.epochs) ||
    (w.epochs as number) < 1 ||
    (w.epochs as number) >= epochs
  )
    throw new Error('params.warmStart must be { checkpointUri, epochs } with epochs below params.epochs');
  const files: Record<string, Uint8Array> = {};
  for (const name of ['model.json', 'weights.bin'])
    files[name] = await ctx.artifacts.get(w.checkpointUri + name);
  return { files, epochs: w.epochs as number };
}

/** Trains a dense network on the prepared data and saves it (TF.js, and ONNX when exportable). */
export async function trainStage(input: StageInput, ctx: StageContext): Promise<StageResult> {
  const prepared = outputOfType(input, 'dataUri');
  const data = await readJson<PreparedData>(ctx.artifacts, String(prepared.dataUri));
  const p = input.params;
  const hidden = p.hiddenLayers ?? [16];
  if (
    !Array.isArray(hidden) ||
    !hidden.every((u) => Number.isInteger(u) && u > 0 && u <= 4096) ||
    hidden.length > 16
  )
    throw new Error('params.hiddenLayers must be a list of up to 16 layer widths (1..4096)');
  const params = {
    learningRate: numberParam(p, 'learningRate', 0.01, 1e-6, 10),
    batchSize: numberParam(p, 'batchSize', 32, 1, 65_536),
    epochs: numberParam(p, 'epochs', 50, 1, 10_000),
    dropout: numberParam(p, 'dropout', 0, 0, 0.95),
    hiddenLayers: hidden as number[],
    seed: input.seed,
  };
  const initial = await warmStartOf(p.warmStart, params.epochs, ctx);
  ctx.log(
    `training ${JSON.stringify(params)} on ${data.train.x.length} rows` +
      (initial ? `, continuing after epoch ${initial.epochs}` : ''),
  );
  const history: EpochMetrics[] = [];
  const model = await ctx.trainer.train(
    {
      params,
      classes: data.classes.length,
      train: { x: normalise(data.train.x, data.mean, data.std), y: data.train.y },
      validation: { x: normalise(data.validation.x, data.mean, data.std), y: data.validation.y },
      normalisation: { mean: data.mean, std: data.std },
      ...(initial ? { initial } : {}),
    },
    (epoch) => {
      if (!Number.isFinite(epoch.loss)) throw new Error(`loss became ${epoch.loss} at epoch ${epoch.epoch}`);
      history.push(epoch);
      ctx.progress(epoch);
    },
  );
  const base = `executions/${input.executionId}/${input.stage}/model/`;
  for (const [name, bytes] of Object.entries(model.files)) await ctx.artifacts.put(base + name, bytes);
  const modelUri = ctx.artifacts.uri(base);
  const checkpointBase = `executions/${input.executionId}/${input.stage}/checkpoint/`;
  for (const [name, bytes] of Object.entries(model.checkpoint))
    await ctx.artifacts.put(checkpointBase + name, bytes);
  const output: Record<string, unknown> = {
    modelUri,
    checkpointUri: ctx.artifacts.uri(checkpointBase),
    format: 'tfjs',
    params,
    features: data.features,
    classes: data.classes,
  };
  if (model.onnx) output.onnxUri = await ctx.artifacts.put(`${base}model.onnx`, model.onnx);
  else ctx.log(`no ONNX export: ${model.onnxError}`);
  const last = history.at(-1);
  ctx.log(`trained: loss ${last?.loss.toFixed(4)}, accuracy ${last?.accuracy.toFixed(4)}`);
  return { output, metrics: { history, loss: last?.loss, accuracy: last?.accuracy } };
}
