/**
 * The ModelRuntime port: loads a model from its files and runs batches of tensors.
 * Adapters: TensorFlow.js layers models, ONNX Runtime, remote V2 / OpenAI-compatible servers.
 */

/** Tensor element types, named as the Open Inference Protocol (V2) names them. */
export type Datatype =
  | 'BOOL'
  | 'UINT8'
  | 'UINT16'
  | 'UINT32'
  | 'UINT64'
  | 'INT8'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'FP32'
  | 'FP64'
  | 'BYTES';

/** Flat, row-major tensor contents; the typed array matches the datatype (BYTES: strings, BOOL: 0/1 bytes). */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | string[];

/** A named tensor. */
export interface Tensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: TensorData;
}

/** A model input or output as metadata describes it; -1 marks a variable dimension (the batch). */
export interface TensorSpec {
  name: string;
  datatype: Datatype;
  shape: number[];
}

/** Where a runtime reads a model's files from: the entry file plus any file next to it. */
export interface ModelSource {
  /** The main file, e.g. `model.onnx` or `model.json`. */
  entry: string;
  /** Reads a file by its path relative to the entry's folder. */
  read(path: string): Promise<Uint8Array>;
  /** Runtime-specific settings (a remote runtime's URL, ...). */
  options?: Record<string, unknown>;
}

/** A loaded model, ready to run. */
export interface LoadedModel {
  readonly inputs: TensorSpec[];
  readonly outputs: TensorSpec[];
  /** Runs one batch: every input's first dimension is the batch; outputs keep that first dimension. */
  run(inputs: Tensor[]): Promise<Tensor[]>;
  /** Frees the model's memory; further runs fail. */
  dispose(): Promise<void>;
}

/** A runtime for one model format. */
export interface ModelRuntime {
  /** `tfjs`, `onnx`, `v2`, `openai`. */
  readonly format: string;
  /** Platform name as V2 metadata reports it, e.g. `onnxruntime_onnx`. */
  readonly platform: string;
  load(source: ModelSource): Promise<LoadedModel>;
}

/** Number of elements a shape holds. */
export function elementCount(shape: number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** What a module asks of the wiring layer when it opens the model runtimes. */
export interface ModelRuntimeOptions {
  onnx: {
    /** Threads one run may use; 0 = ONNX Runtime's default. */
    intraOpThreads?: number;
    /** Whether idle pool threads spin waiting for work. */
    spinning?: boolean;
    /** Each session on a worker thread of its own. */
    thread?: boolean;
  };
}
