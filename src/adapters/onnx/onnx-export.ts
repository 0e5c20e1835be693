import type * as tf from '@tensorflow/tfjs';
import { unprocessable } from '../../kernel/errors.js';
import { tensorNames } from '../tfjs/tfjs-runtime.js';
import { encodeOnnxModel, type OnnxInitializer, type OnnxNode, OnnxType } from './onnx-proto.js';

const activations: Record<string, string | null> = {
  linear: null,
  relu: 'Relu',
  sigmoid: 'Sigmoid',
  tanh: 'Tanh',
  softmax: 'Softmax',
};

/**
 * Exports a dense TF.js layers model (Dense layers with linear/relu/sigmoid/tanh/softmax
 * activations; Dropout, which is the identity at inference) to an ONNX file, opset 13.
 * Each Dense becomes one Gemm (x·W + b) followed by its activation node.
 * Throws 422 naming the first layer it cannot express.
 */
export async function exportDenseModelToOnnx(model: tf.LayersModel): Promise<Uint8Array> {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw unprocessable('unsupported_model', 'ONNX export supports models with one input and one output');
  }
  const inputShape = model.inputs[0].shape;
  if (inputShape.length !== 2) {
    throw unprocessable(
      'unsupported_model',
      `ONNX export supports [batch, features] inputs, got [${inputShape.join(', ')}]`,
    );
  }
  const names = tensorNames(model);
  const nodes: OnnxNode[] = [];
  const initializers: OnnxInitializer[] = [];
  let current = names.inputs[0];
  let width = inputShape[1] as number;
  for (const [index, layer] of model.layers.entries()) {
    const kind = layer.getClassName();
    if (kind === 'InputLayer' || kind === 'Dropout') continue;
    if (kind !== 'Dense')
      throw unprocessable(
        'unsupported_layer',
        `layer ${index} (${layer.name}) is a ${kind}; ONNX export supports Dense and Dropout`,
      );
    const config = layer.getConfig() as { activation?: string; useBias?: boolean; units: number };
    const activation = config.activation ?? 'linear';
    if (!(activation in activations)) {
      throw unprocessable(
        'unsupported_activation',
        `layer ${index} (${layer.name}) uses activation ${activation}; supported: ${Object.keys(activations).join(', ')}`,
      );
    }
    const [kernel, bias] = layer.getWeights();
    const units = config.units;
    const w = `${layer.name}_kernel`;
    initializers.push({ name: w, dims: [width, units], values: (await kernel.data()) as Float32Array });
    const gemmInputs = [current, w];
    if (bias) {
      initializers.push({
        name: `${layer.name}_bias`,
        dims: [units],
        values: (await bias.data()) as Float32Array,
      });
      gemmInputs.push(`${layer.name}_bias`);
    }
    const dense = `${layer.name}_dense`;
    nodes.push({ op: 'Gemm', inputs: gemmInputs, outputs: [dense] });
    current = dense;
    const op = activations[activation];
    if (op) {
      const out = `${layer.name}_${activation}`;
      nodes.push({
        op,
        inputs: [current],
        outputs: [out],
        ...(op === 'Softmax' ? { attributes: { axis: -1 } } : {}),
      });
      current = out;
    }
    width = units;
  }
  // The graph output needs its own name; Identity gives it one without copying at run time.
  nodes.push({ op: 'Identity', inputs: [current], outputs: [names.outputs[0]] });
  return encodeOnnxModel({
    name: model.name,
    inputs: [{ name: names.inputs[0], elemType: OnnxType.FLOAT, dims: ['batch', inputShape[1] as number] }],
    outputs: [{ name: names.outputs[0], elemType: OnnxType.FLOAT, dims: ['batch', width] }],
    nodes,
    initializers,
  });
}
