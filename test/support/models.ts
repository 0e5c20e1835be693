import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { exportDenseModelToOnnx } from '../../src/adapters/onnx/onnx-export.js';
import { encodeOnnxModel, OnnxType } from '../../src/adapters/onnx/onnx-proto.js';
import { saveLayersModel } from '../../src/adapters/tfjs/tfjs-runtime.js';

/** A dense TF.js model with seeded weights: `inputDim` → each of `layers` (units, activation). */
export function denseModel(
  inputDim: number,
  layers: [number, string][],
  seed = 1,
  dropout = false,
): tf.LayersModel {
  const model = tf.sequential();
  layers.forEach(([units, activation], i) => {
    model.add(
      tf.layers.dense({
        units,
        activation: activation as never,
        ...(i === 0 ? { inputShape: [inputDim] } : {}),
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 100 + i }),
        biasInitializer: tf.initializers.randomUniform({
          minval: -0.5,
          maxval: 0.5,
          seed: seed * 100 + i + 50,
        }),
      }),
    );
    if (dropout && i < layers.length - 1) model.add(tf.layers.dropout({ rate: 0.3 }));
  });
  return model;
}

/** Writes one version folder of a models directory; `files` maps file names to contents. */
export function writeVersion(
  dir: string,
  model: string,
  version: number,
  files: Record<string, Uint8Array | string>,
): void {
  const folder = join(dir, model, String(version));
  mkdirSync(folder, { recursive: true });
  for (const [name, data] of Object.entries(files)) writeFileSync(join(folder, name), data);
}

/** Writes a model's config.json. */
export function writeModelConfig(dir: string, model: string, config: Record<string, unknown>): void {
  mkdirSync(join(dir, model), { recursive: true });
  writeFileSync(join(dir, model, 'config.json'), JSON.stringify(config));
}

/** TF.js files (model.json + weights.bin) of a model. */
export function tfjsFiles(model: tf.LayersModel): Promise<Record<string, Uint8Array>> {
  return saveLayersModel(model);
}

/** The model's ONNX export as `model.onnx`. */
export async function onnxFiles(model: tf.LayersModel): Promise<Record<string, Uint8Array>> {
  return { 'model.onnx': await exportDenseModelToOnnx(model) };
}

/** An ONNX model doubling an INT64 [batch, 2] input `x` into output `y`. */
export function int64DoublerOnnx(): Uint8Array {
  return encodeOnnxModel({
    name: 'doubler',
    inputs: [{ name: 'x', elemType: OnnxType.INT64, dims: ['batch', 2] }],
    outputs: [{ name: 'y', elemType: OnnxType.INT64, dims: ['batch', 2] }],
    nodes: [{ op: 'Add', inputs: ['x', 'x'], outputs: ['y'] }],
  });
}

/** An ONNX model echoing a BYTES (string) [batch] input `text` as output `echo`. */
export function bytesEchoOnnx(): Uint8Array {
  return encodeOnnxModel({
    name: 'echo',
    inputs: [{ name: 'text', elemType: OnnxType.STRING, dims: ['batch'] }],
    outputs: [{ name: 'echo', elemType: OnnxType.STRING, dims: ['batch'] }],
    nodes: [{ op: 'Identity', inputs: ['text'], outputs: ['echo'] }],
  });
}

/** Predictions of a TF.js model on rows, flat. */
export async function predict(model: tf.LayersModel, rows: number[][]): Promise<Float32Array> {
  const y = model.predict(tf.tensor2d(rows)) as tf.Tensor;
  const data = (await y.data()) as Float32Array;
  y.dispose();
  return data;
}

/** Value of one Prometheus sample from a /metrics text, 0 when absent. */
export function metricValue(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inner = line.slice(name.length + 1, line.indexOf('}'));
    const parts = inner.split(',');
    if (want.every((w) => parts.includes(w))) return Number(line.slice(line.indexOf('}') + 1).trim());
  }
  return 0;
}

/** An ONNX model passing BOOL, FP64, INT32 and UINT8 [batch, 2] inputs through unchanged (`b`→`b_out`, ...). */
export function mixedTypesOnnx(): Uint8Array {
  const types = { b: OnnxType.BOOL, d: OnnxType.DOUBLE, i: OnnxType.INT32, u: OnnxType.UINT8 };
  return encodeOnnxModel({
    name: 'mixed',
    inputs: Object.entries(types).map(([name, elemType]) => ({ name, elemType, dims: ['batch', 2] })),
    outputs: Object.entries(types).map(([name, elemType]) => ({
      name: `${name}_out`,
      elemType,
      dims: ['batch', 2],
    })),
    nodes: Object.keys(types).map((name) => ({ op: 'Identity', inputs: [name], outputs: [`${name}_out`] })),
  });
}
