import type * as tf from '@tensorflow/tfjs';
import { badRequest } from '../../kernel/errors.js';
import type {
  LoadedModel,
  ModelRuntime,
  ModelSource,
  Tensor,
  TensorSpec,
} from '../../ports/model-runtime.js';

/** The files of a saved TF.js layers model: `model.json` and its weight shards. */
export type ModelFiles = Record<string, Uint8Array>;

interface ModelJson {
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
}

/**
 * TF.js loads on first use: importing it registers its CPU backend and prints a banner,
 * which processes that never serve a TF.js model should not pay for.
 */
const loadTf = () => import('@tensorflow/tfjs');

/** Reads a TF.js layers model (model.json + shards) through `source`, without touching the file system. */
export async function loadLayersModel(source: ModelSource): Promise<tf.LayersModel> {
  const tf = await loadTf();
  let json: ModelJson;
  try {
    json = JSON.parse(new TextDecoder().decode(await source.read(source.entry))) as ModelJson;
  } catch (error) {
    throw badRequest(
      'invalid_model',
      `${source.entry} is not a TF.js model.json: ${(error as Error).message}`,
    );
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw badRequest('invalid_model', `${source.entry} lacks modelTopology or weightsManifest`);
  }
  const base = source.entry.includes('/') ? source.entry.slice(0, source.entry.lastIndexOf('/') + 1) : '';
  const shards: Uint8Array[] = [];
  for (const group of json.weightsManifest)
    for (const path of group.paths) shards.push(await source.read(base + path));
  const total = shards.reduce((n, s) => n + s.byteLength, 0);
  const weights = new Uint8Array(total);
  let offset = 0;
  for (const shard of shards) {
    weights.set(shard, offset);
    offset += shard.byteLength;
  }
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
      weightData: weights.buffer,
      format: json.format,
      generatedBy: json.generatedBy,
      convertedBy: json.convertedBy ?? undefined,
    }),
  );
}

/** Serialises a layers model to `model.json` + `weights.bin`, the layout TF.js's file loader reads. */
export async function saveLayersModel(model: tf.LayersModel): Promise<ModelFiles> {
  const tf = await loadTf();
  let files: ModelFiles = {};
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData;
      const bytes = weightData instanceof ArrayBuffer ? new Uint8Array(weightData) : new Uint8Array(0);
      const json: ModelJson = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
      };
      files = { 'model.json': new TextEncoder().encode(JSON.stringify(json)), 'weights.bin': bytes };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return files;
}

/**
 * The stable tensor names of a layers model: `input`/`output` for single-tensor models, so
 * a model keeps its names when it is exported to ONNX; else the layer tensors' names.
 */
export function tensorNames(model: tf.LayersModel): { inputs: string[]; outputs: string[] } {
  const names = (tensors: tf.SymbolicTensor[], single: string) =>
    tensors.length === 1 ? [single] : tensors.map((t) => t.name.replace(/:\d+$/, ''));
  return { inputs: names(model.inputs, 'input'), outputs: names(model.outputs, 'output') };
}

/** Wraps a layers model (and the TF.js module that runs it) as a LoadedModel; FP32 in and out, the first dimension is the batch. */
export function servingLayersModel(
  model: tf.LayersModel,
  tf: typeof import('@tensorflow/tfjs'),
): LoadedModel {
  const names = tensorNames(model);
  const spec = (shape: (number | null)[], name: string): TensorSpec => ({
    name,
    datatype: 'FP32',
    shape: shape.map((d) => (d === null ? -1 : d)),
  });
  const inputs = model.inputs.map((t, i) => spec(t.shape, names.inputs[i]));
  const outputs = model.outputs.map((t, i) => spec(t.shape, names.outputs[i]));
  return {
    inputs,
    outputs,
    async run(batch: Tensor[]): Promise<Tensor[]> {
      const byName = new Map(batch.map((t) => [t.name, t]));
      const results = tf.tidy(() => {
        const xs = inputs.map((s) => {
          const t = byName.get(s.name);
          if (!t) throw badRequest('missing_input', `input "${s.name}" is required`);
          return tf.tensor(Float32Array.from(t.data as Float32Array), t.shape, 'float32');
        });
        const y = model.predict(xs.length === 1 ? xs[0] : xs);
        return Array.isArray(y) ? y : [y];
      });
      try {
        return await Promise.all(
          results.map(async (y, i) => ({
            name: outputs[i].name,
            datatype: 'FP32' as const,
            shape: y.shape,
            data: (await y.data()) as Float32Array,
          })),
        );
      } finally {
        for (const y of results) y.dispose();
      }
    },
    async dispose() {
      model.dispose();
    },
  };
}

/** TensorFlow.js layers models (`model.json` + weights), on the pure-JS CPU backend. */
export const tfjsRuntime: ModelRuntime = {
  format: 'tfjs',
  platform: 'tensorflowjs_layers',
  async load(source) {
    return servingLayersModel(await loadLayersModel(source), await loadTf());
  },
};
