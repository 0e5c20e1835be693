import type * as ort from 'onnxruntime-node';
import { badRequest, unprocessable } from '../../kernel/errors.js';
import type {
  Datatype,
  LoadedModel,
  ModelRuntime,
  Tensor,
  TensorData,
  TensorSpec,
} from '../../ports/model-runtime.js';
import { OnnxSessionThread, type WireTensor } from './onnx-session-thread.js';

const toOrt: Record<Datatype, ort.Tensor.Type> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
};
const fromOrt = new Map(Object.entries(toOrt).map(([v2, o]) => [o as string, v2 as Datatype]));

interface ValueMetadata {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: (number | string)[];
}

function describe(meta: readonly ValueMetadata[], names: readonly string[]): TensorSpec[] {
  return names.map((name, i) => {
    const m = meta[i];
    const datatype = m?.isTensor && m.type ? fromOrt.get(m.type) : undefined;
    if (!datatype)
      throw unprocessable(
        'unsupported_model',
        `ONNX value "${name}" has unsupported type ${m?.type ?? 'non-tensor'}`,
      );
    return { name, datatype, shape: (m.shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) };
  });
}

/** Threading of ONNX Runtime sessions. */
export interface OnnxRuntimeOptions {
  /** Threads one run may use; 0 = ONNX Runtime's default (one per core). */
  intraOpThreads?: number;
  /**
   * Whether idle pool threads spin waiting for work (ONNX Runtime's default: on). Turning it
   * off gives CPU back to other processes; with it on, batched throughput measured 2–4× higher here.
   */
  spinning?: boolean;
  /**
   * Run each session on a worker thread of its own (default), so a batch's compute never stalls
   * the server's thread; false runs it on the calling thread.
   */
  thread?: boolean;
}

/** ONNX Runtime (CPU) over in-memory `.onnx` files. */
export function createOnnxRuntime(options: OnnxRuntimeOptions = {}): ModelRuntime {
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    ...(options.intraOpThreads ? { intraOpNumThreads: options.intraOpThreads } : {}),
    extra: { session: { intra_op: { allow_spinning: options.spinning === false ? '0' : '1' } } },
  };
  return {
    format: 'onnx',
    platform: 'onnxruntime_onnx',
    async load(source): Promise<LoadedModel> {
      // Loaded on first use, so processes without ONNX models never map the native library.
      // Named exports: the package is CommonJS flagged __esModule, so `default` differs between loaders.
      const bytes = await source.read(source.entry);
      if (options.thread !== false) return loadOnThread(source.entry, bytes, sessionOptions);
      const { InferenceSession, Tensor } = await import('onnxruntime-node');
      let session: ort.InferenceSession;
      try {
        session = await InferenceSession.create(bytes, sessionOptions);
      } catch (error) {
        throw unprocessable(
          'invalid_model',
          `${source.entry} is not a loadable ONNX model: ${(error as Error).message}`,
        );
      }
      const meta = session as unknown as { inputMetadata: ValueMetadata[]; outputMetadata: ValueMetadata[] };
      const inputs = describe(meta.inputMetadata, session.inputNames);
      const outputs = describe(meta.outputMetadata, session.outputNames);
      return {
        inputs,
        outputs,
        async run(batch: Tensor[]): Promise<Tensor[]> {
          const feeds: Record<string, ort.Tensor> = {};
          for (const t of batch) feeds[t.name] = new Tensor(toOrt[t.datatype], t.data as never, t.shape);
          for (const s of inputs)
            if (!feeds[s.name]) throw badRequest('missing_input', `input "${s.name}" is required`);
          const results = await session.run(feeds);
          return outputs.map((s) => {
            const r = results[s.name];
            return { name: s.name, datatype: s.datatype, shape: [...r.dims], data: r.data as TensorData };
          });
        },
        async dispose() {
          await session.release();
        },
      };
    },
  };
}

async function loadOnThread(
  entry: string,
  bytes: Uint8Array,
  sessionOptions: ort.InferenceSession.SessionOptions,
): Promise<LoadedModel> {
  let thread: OnnxSessionThread;
  try {
    thread = await OnnxSessionThread.start(bytes, sessionOptions);
  } catch (error) {
    throw unprocessable(
      'invalid_model',
      `${entry} is not a loadable ONNX model: ${(error as Error).message}`,
    );
  }
  const { meta } = thread;
  const inputs = describe(meta.inputMetadata as ValueMetadata[], meta.inputNames);
  const outputs = describe(meta.outputMetadata as ValueMetadata[], meta.outputNames);
  return {
    inputs,
    outputs,
    async run(batch: Tensor[]): Promise<Tensor[]> {
      const feeds: WireTensor[] = [];
      for (const s of inputs) {
        const t = batch.find((b) => b.name === s.name);
        if (!t) throw badRequest('missing_input', `input "${s.name}" is required`);
        feeds.push({ name: t.name, type: toOrt[t.datatype], dims: t.shape, data: t.data });
      }
      const results = await thread.run(feeds);
      return outputs.map((s) => {
        const r = results.find((o) => o.name === s.name)!;
        return { name: s.name, datatype: s.datatype, shape: r.dims, data: r.data as TensorData };
      });
    },
    dispose: () => thread.dispose(),
  };
}

/** ONNX Runtime with its default threading. */
export const onnxRuntime: ModelRuntime = createOnnxRuntime();
