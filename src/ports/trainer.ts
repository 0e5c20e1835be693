/**
 * The Trainer port: fits a dense classifier on numeric features and runs a trained one.
 * Adapter: TensorFlow.js (pure-JS CPU backend). Training code runs in a task process of the
 * worker, so a crashing trainer never takes the platform down.
 */

/** Hyperparameters of a dense network. */
export interface DenseHyperparameters {
  learningRate: number;
  batchSize: number;
  epochs: number;
  dropout: number;
  /** Units of each hidden layer, e.g. [16, 16]. */
  hiddenLayers: number[];
  /** Seeds the weight initialisation and the shuffling. */
  seed: number;
}

/** What one training run takes: normalised features, class indices, and how to undo the normalisation. */
export interface TrainingJob {
  params: DenseHyperparameters;
  classes: number;
  train: { x: number[][]; y: number[] };
  validation: { x: number[][]; y: number[] };
  /**
   * The per-feature mean and standard deviation the features were normalised with; the saved
   * model folds them into its first layer, so it takes raw features.
   */
  normalisation: { mean: number[]; std: number[] };
  /**
   * Continue from a checkpoint (a `TrainedModel.checkpoint` of the same architecture) that
   * trained `epochs` epochs: training runs epochs `epochs + 1` to `params.epochs`, on the data
   * order the first epochs would have left. The optimiser's moments start afresh.
   */
  initial?: { files: Record<string, Uint8Array>; epochs: number };
}

/** Metrics of one epoch. */
export interface EpochMetrics {
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss?: number;
  valAccuracy?: number;
}

/** A trained model: its TF.js files (`model.json`, `weights.bin`) and, when the export succeeds, `model.onnx`. */
export interface TrainedModel {
  files: Record<string, Uint8Array>;
  /** The weights before the normalisation is folded in, to continue training from (`TrainingJob.initial`). */
  checkpoint: Record<string, Uint8Array>;
  onnx?: Uint8Array;
  /** Why there is no ONNX export, when there is none. */
  onnxError?: string;
}

export interface Trainer {
  /** Trains; `onEpoch` is called after each epoch. */
  train(job: TrainingJob, onEpoch: (metrics: EpochMetrics) => void): Promise<TrainedModel>;
  /** Class probabilities of each row of raw features, from a model's TF.js files. */
  predict(files: Record<string, Uint8Array>, rows: number[][]): Promise<number[][]>;
}
