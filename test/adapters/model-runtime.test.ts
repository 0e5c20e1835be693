import { createOnnxRuntime, onnxRuntime } from '../../src/adapters/onnx/onnx-runtime.js';
import { tfjsRuntime } from '../../src/adapters/tfjs/tfjs-runtime.js';
import type { ModelSource } from '../../src/ports/model-runtime.js';
import { modelRuntimeContract } from '../contracts/model-runtime.js';
import { denseModel, onnxFiles, predict, tfjsFiles } from '../support/models.js';

const model = denseModel(5, [
  [8, 'tanh'],
  [3, 'softmax'],
]);
const memory = (entry: string, files: Record<string, Uint8Array>): ModelSource => ({
  entry,
  read: async (path) => {
    const file = files[path];
    if (!file) throw new Error(`no ${path}`);
    return file;
  },
});
const garbage = {
  'model.json': new TextEncoder().encode('{"not": "a model"'),
  'model.onnx': new Uint8Array([1, 2, 3, 4]),
};

modelRuntimeContract('tfjs', async () => ({
  runtime: tfjsRuntime,
  source: memory('model.json', await tfjsFiles(model)),
  reference: (rows) => predict(model, rows),
  broken: memory('model.json', garbage),
}));

modelRuntimeContract('onnx', async () => ({
  runtime: onnxRuntime,
  source: memory('model.onnx', await onnxFiles(model)),
  reference: (rows) => predict(model, rows),
  broken: memory('model.onnx', garbage),
}));

// The same runtime with its sessions on the calling thread instead of a thread of their own.
modelRuntimeContract('onnx (on the calling thread)', async () => ({
  runtime: createOnnxRuntime({ thread: false }),
  source: memory('model.onnx', await onnxFiles(model)),
  reference: (rows) => predict(model, rows),
  broken: memory('model.onnx', garbage),
}));
