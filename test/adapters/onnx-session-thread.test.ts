import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOnnxRuntime } from '../../src/adapters/onnx/onnx-runtime.js';
import { seededRandom } from '../../src/kernel/random.js';
import type { LoadedModel } from '../../src/ports/model-runtime.js';
import { denseModel, onnxFiles } from '../support/models.js';

const model = denseModel(5, [
  [8, 'tanh'],
  [3, 'softmax'],
]);

describe('ONNX Runtime sessions on their own threads', () => {
  let threaded: LoadedModel;
  let inline: LoadedModel;
  beforeAll(async () => {
    const files = await onnxFiles(model);
    const source = { entry: 'model.onnx', read: async (path: string) => files[path] };
    threaded = await createOnnxRuntime({ thread: true }).load(source);
    inline = await createOnnxRuntime({ thread: false }).load(source);
  });
  afterAll(async () => {
    await threaded?.dispose();
    await inline?.dispose();
  });

  const input = (rows: number[][]) => ({
    name: 'input',
    datatype: 'FP32' as const,
    shape: [rows.length, 5],
    data: Float32Array.from(rows.flat()),
  });

  it('answers 40 concurrent runs each with its own result, as the calling thread computes it', async () => {
    const random = seededRandom(11);
    const batches = Array.from({ length: 40 }, (_, i) =>
      Array.from({ length: 1 + (i % 7) }, () => Array.from({ length: 5 }, () => random.next() * 4 - 2)),
    );
    const results = await Promise.all(batches.map((rows) => threaded.run([input(rows)])));
    for (const [i, rows] of batches.entries()) {
      const [expected] = await inline.run([input(rows)]);
      const [got] = results[i];
      expect(got.shape).toEqual([rows.length, 3]);
      expect(Array.from(got.data as Float32Array)).toEqual(Array.from(expected.data as Float32Array));
    }
  });

  it('refuses a batch without the model input with a 400 naming it', async () => {
    await expect(
      threaded.run([{ name: 'other', datatype: 'FP32', shape: [1, 5], data: new Float32Array(5) }]),
    ).rejects.toMatchObject({ status: 400, code: 'missing_input' });
  });

  it('fails runs after disposal instead of leaving them waiting', async () => {
    const files = await onnxFiles(model);
    const short = await createOnnxRuntime().load({ entry: 'model.onnx', read: async (p) => files[p] });
    await short.dispose();
    await expect(short.run([input([[0, 0, 0, 0, 0]])])).rejects.toThrow(/stopped/);
  });
});
