import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { exportDenseModelToOnnx } from '../../src/adapters/onnx/onnx-export.js';
import { onnxRuntime } from '../../src/adapters/onnx/onnx-runtime.js';
import { seededRandom } from '../../src/kernel/random.js';
import { denseModel, predict } from '../support/models.js';

const load = (bytes: Uint8Array) => onnxRuntime.load({ entry: 'model.onnx', read: async () => bytes });

describe('ONNX export of dense TF.js models', () => {
  it('predicts what TF.js predicts (≤ 1e-5) on 1,000 random inputs, every activation and Dropout included', async () => {
    const model = denseModel(
      12,
      [
        [32, 'relu'],
        [24, 'tanh'],
        [16, 'sigmoid'],
        [16, 'linear'],
        [5, 'softmax'],
      ],
      7,
      true,
    );
    const onnx = await load(await exportDenseModelToOnnx(model));
    expect(onnx.inputs).toEqual([{ name: 'input', datatype: 'FP32', shape: [-1, 12] }]);
    const random = seededRandom(42);
    const rows = Array.from({ length: 1_000 }, () =>
      Array.from({ length: 12 }, () => (random.next() - 0.5) * 8),
    );
    const expected = await predict(model, rows);
    const [actual] = await onnx.run([
      { name: 'input', datatype: 'FP32', shape: [1_000, 12], data: Float32Array.from(rows.flat()) },
    ]);
    expect(actual.shape).toEqual([1_000, 5]);
    let worst = 0;
    for (let i = 0; i < expected.length; i++)
      worst = Math.max(worst, Math.abs((actual.data as Float32Array)[i] - expected[i]));
    expect(worst).toBeLessThanOrEqual(1e-5);
    await onnx.dispose();
  });

  it('exports a Dense layer without bias', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.dense({
          units: 3,
          inputShape: [2],
          useBias: false,
          kernelInitializer: tf.initializers.ones(),
        }),
      ],
    });
    const onnx = await load(await exportDenseModelToOnnx(model));
    const [y] = await onnx.run([
      { name: 'input', datatype: 'FP32', shape: [1, 2], data: new Float32Array([1, 2]) },
    ]);
    expect(Array.from(y.data as Float32Array)).toEqual([3, 3, 3]);
  });

  it('refuses a layer it cannot express with 422 naming the layer', async () => {
    const model = tf.sequential({
      layers: [tf.layers.dense({ units: 4, inputShape: [3] }), tf.layers.batchNormalization()],
    });
    await expect(exportDenseModelToOnnx(model)).rejects.toMatchObject({
      status: 422,
      code: 'unsupported_layer',
      message: expect.stringMatching(/BatchNormalization/),
    });
    const elu = tf.sequential({
      layers: [tf.layers.dense({ units: 4, inputShape: [3], activation: 'elu' })],
    });
    await expect(exportDenseModelToOnnx(elu)).rejects.toMatchObject({
      status: 422,
      code: 'unsupported_activation',
    });
  });
});
