import type * as tf from '@tensorflow/tfjs';
import { seededRandom } from '../../kernel/random.js';
import type { EpochMetrics, Trainer, TrainingJob } from '../../ports/trainer.js';
import { exportDenseModelToOnnx } from '../onnx/onnx-export.js';
import { loadLayersModel, saveLayersModel } from './tfjs-runtime.js';

const loadTf = () => import('@tensorflow/tfjs');

/** A dense softmax classifier: hidden ReLU layers, each followed by dropout when asked. */
function buildModel(tfjs: typeof tf, job: TrainingJob, features: number): tf.Sequential {
  const { params } = job;
  const model = tfjs.sequential();
  let seed = params.seed;
  const init = () => tfjs.initializers.glorotUniform({ seed: seed++ });
  params.hiddenLayers.forEach((units, i) => {
    model.add(
      tfjs.layers.dense({
        units,
        activation: 'relu',
        kernelInitializer: init(),
        ...(i === 0 ? { inputShape: [features] } : {}),
      }),
    );
    if (params.dropout > 0) model.add(tfjs.layers.dropout({ rate: params.dropout, seed: seed++ }));
  });
  model.add(
    tfjs.layers.dense({
      units: job.classes,
      activation: 'softmax',
      kernelInitializer: init(),
      ...(params.hiddenLayers.length === 0 ? { inputShape: [features] } : {}),
    }),
  );
  model.compile({
    optimizer: tfjs.train.adam(params.learningRate),
    loss: 'sparseCategoricalCrossentropy',
    metrics: ['accuracy'],
  });
  return model;
}

/**
 * Folds x' = (x - mean) / std into the first Dense layer (W' = W / std per input row,
 * b' = b - Σ mean/std · W), so the saved model takes raw features and needs no preprocessing
 * at serving time — in TF.js and in its ONNX export alike.
 */
function foldNormalisation(tfjs: typeof tf, model: tf.LayersModel, norm: TrainingJob['normalisation']): void {
  const first = model.layers.find((l) => l.getClassName() === 'Dense');
  if (!first) return;
  const [kernel, bias] = first.getWeights();
  const [inputs, units] = kernel.shape as [number, number];
  const w = kernel.arraySync() as number[][];
  const b = bias.arraySync() as number[];
  const nextW = w.map((row, i) => row.map((v) => v / norm.std[i]));
  const nextB = b.map((v, j) => v - nextW.reduce((sum, row, i) => sum + norm.mean[i] * row[j], 0));
  first.setWeights([tfjs.tensor2d(nextW, [inputs, units]), tfjs.tensor1d(nextB)]);
}

/** Copies a checkpoint's weights into a freshly built model of the same architecture. */
async function restoreWeights(model: tf.LayersModel, files: Record<string, Uint8Array>): Promise<void> {
  const saved = await loadLayersModel({
    entry: 'model.json',
    read: async (path) => {
      const file = files[path];
      if (!file) throw new Error(`checkpoint file ${path} is missing`);
      return file;
    },
  });
  try {
    const weights = saved.getWeights();
    if (weights.length !== model.getWeights().length)
      throw new Error('the checkpoint does not have the architecture of the model to train');
    model.setWeights(weights);
  } finally {
    saved.dispose();
  }
}

/** The TF.js trainer: dense networks on the CPU backend, exported to ONNX when the layers allow. */
export const tfjsTrainer: Trainer = {
  async train(job, onEpoch) {
    const tfjs = await loadTf();
    await tfjs.setBackend('cpu');
    const features = job.train.x[0]?.length ?? 0;
    const model = buildModel(tfjs, job, features);
    if (job.initial) await restoreWeights(model, job.initial.files);
    const hasValidation = job.validation.x.length > 0;
    const vx = hasValidation ? tfjs.tensor2d(job.validation.x, [job.validation.x.length, features]) : null;
    const vy = hasValidation ? tfjs.tensor1d(job.validation.y, 'float32') : null;
    // Shuffled here with the job's seed rather than by TF.js (which draws from Math.random),
    // so the same seed and data train the same model.
    const random = seededRandom(job.params.seed);
    const order = job.train.x.map((_, i) => i);
    const shuffle = () => {
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(random.next() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
    };
    const first = (job.initial?.epochs ?? 0) + 1;
    for (let epoch = 1; epoch < first; epoch++) shuffle();
    try {
      for (let epoch = first; epoch <= job.params.epochs; epoch++) {
        shuffle();
        const xs = tfjs.tensor2d(
          order.map((i) => job.train.x[i]),
          [order.length, features],
        );
        const ys = tfjs.tensor1d(
          order.map((i) => job.train.y[i]),
          'float32',
        );
        let logs: tf.Logs | undefined;
        try {
          const history = await model.fit(xs, ys, {
            epochs: 1,
            batchSize: job.params.batchSize,
            shuffle: false,
            verbose: 0,
            ...(vx && vy ? { validationData: [vx, vy] as [tf.Tensor, tf.Tensor] } : {}),
          });
          logs = Object.fromEntries(Object.entries(history.history).map(([k, v]) => [k, Number(v[0])]));
        } finally {
          xs.dispose();
          ys.dispose();
        }
        const m: EpochMetrics = {
          epoch,
          loss: Number(logs?.loss),
          accuracy: Number(logs?.acc ?? logs?.accuracy),
        };
        if (logs?.val_loss !== undefined) m.valLoss = Number(logs.val_loss);
        if (logs?.val_acc !== undefined || logs?.val_accuracy !== undefined)
          m.valAccuracy = Number(logs?.val_acc ?? logs?.val_accuracy);
        onEpoch(m);
      }
      const checkpoint = await saveLayersModel(model);
      foldNormalisation(tfjs, model, job.normalisation);
      const files = await saveLayersModel(model);
      try {
        return { files, checkpoint, onnx: await exportDenseModelToOnnx(model) };
      } catch (error) {
        return { files, checkpoint, onnxError: (error as Error).message };
      }
    } finally {
      vx?.dispose();
      vy?.dispose();
      model.dispose();
    }
  },

  async predict(files, rows) {
    const tfjs = await loadTf();
    await tfjs.setBackend('cpu');
    const model = await loadLayersModel({
      entry: 'model.json',
      read: async (path) => {
        const file = files[path];
        if (!file) throw new Error(`model file ${path} is missing`);
        return file;
      },
    });
    try {
      const x = tfjs.tensor2d(rows, [rows.length, rows[0]?.length ?? 0]);
      const y = model.predict(x) as tf.Tensor;
      const out = y.arraySync() as number[][];
      x.dispose();
      y.dispose();
      return out;
    } finally {
      model.dispose();
    }
  },
};
