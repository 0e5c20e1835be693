import type { Worker } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import { startTsWorker } from '../../kernel/worker-thread.js';

/** A tensor as it crosses between the server thread and a session thread. */
export interface WireTensor {
  name: string;
  /** ONNX Runtime's type name (`float32`, ...). */
  type: string;
  dims: number[];
  data: ArrayBufferView | string[];
}

export type SessionRequest = { id: number; feeds: WireTensor[] } | { dispose: true };

export type SessionReply =
  | {
      ready: {
        inputNames: readonly string[];
        outputNames: readonly string[];
        inputMetadata: unknown[];
        outputMetadata: unknown[];
      };
    }
  | { failed: string }
  | { id: number; outputs: WireTensor[] }
  | { id: number; error: string };

type Ready = Extract<SessionReply, { ready: unknown }>['ready'];

/**
 * An ONNX Runtime session on a worker thread of its own. onnxruntime-node runs a session
 * synchronously on the calling thread, so on the server's thread a batch's compute stalls every
 * other request for its whole duration; here the server keeps parsing requests and forming the
 * next batch while the current one computes (as Triton runs model instances off its HTTP threads).
 */
export class OnnxSessionThread {
  private readonly waiting = new Map<
    number,
    { resolve: (t: WireTensor[]) => void; reject: (e: Error) => void }
  >();
  private nextId = 1;
  private dead: Error | undefined;

  private constructor(
    private readonly worker: Worker,
    readonly meta: Ready,
  ) {
    worker.on('message', (reply: SessionReply) => {
      if (!('id' in reply)) return;
      const waiter = this.waiting.get(reply.id);
      if (!waiter) return;
      this.waiting.delete(reply.id);
      if ('error' in reply) waiter.reject(new Error(reply.error));
      else waiter.resolve(reply.outputs);
    });
    worker.on('error', (error) => this.fail(error));
    worker.once('exit', () => this.fail(new Error('the ONNX Runtime session thread stopped')));
  }

  /** Creates the session on a new thread; rejects with ONNX Runtime's message when it cannot. */
  static async start(
    bytes: Uint8Array,
    sessionOptions: ort.InferenceSession.SessionOptions,
  ): Promise<OnnxSessionThread> {
    // A copy the thread owns: the caller's bytes may be a view into a larger, shared buffer.
    const own = bytes.slice();
    const worker = startTsWorker(
      new URL('./onnx-session-worker.ts', import.meta.url),
      { bytes: own, sessionOptions },
      [own.buffer],
    );
    const first = await new Promise<SessionReply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the ONNX Runtime session thread exited (${code})`)));
    });
    // A loaded model must not keep the process alive: stopping the server disposes it.
    worker.unref();
    if ('ready' in first) return new OnnxSessionThread(worker, first.ready);
    await worker.terminate();
    throw new Error('failed' in first ? first.failed : 'unexpected reply from the session thread');
  }

  /** Runs one batch on the thread. */
  run(feeds: WireTensor[]): Promise<WireTensor[]> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, feeds } satisfies SessionRequest);
    });
  }

  /** Releases the session and ends the thread. */
  async dispose(): Promise<void> {
    if (this.dead) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage({ dispose: true } satisfies SessionRequest);
    const timer = setTimeout(() => void this.worker.terminate(), 5_000);
    await exited;
    clearTimeout(timer);
  }

  private fail(error: Error): void {
    this.dead ??= error;
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }
}
