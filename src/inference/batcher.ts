import type { Clock } from '../kernel/clock.js';
import { AimeshError } from '../kernel/errors.js';
import type { Tensor } from '../ports/model-runtime.js';
import { batchSignature, concatBatch, splitBatch } from './tensor-codec.js';

/** Triton-style dynamic batching knobs of one model version. */
export interface BatchingPolicy {
  /** Most rows merged into one runtime call; 0 or 1 turns batching off. */
  maxBatchSize: number;
  /** Longest a request waits for others to join its batch, in microseconds. */
  maxQueueDelayMicros: number;
  /** Batch sizes the runtime prefers; a batch of one of these sizes leaves at once. */
  preferredBatchSizes: number[];
  /** Requests waiting at most; beyond it callers get 503 with Retry-After. */
  maxQueueSize: number;
  /** A request still queued after this long fails with 504. */
  timeoutMs: number;
}

/** What one request learns about the batch that served it. */
export interface BatchResult {
  outputs: Tensor[];
  batchSize: number;
  queueWaitMs: number;
}

/** Hooks for metrics; called on the hot path, so they must be cheap. */
export interface BatchObserver {
  dispatched(batchSize: number, queueWaitsMs: number[]): void;
  depth(requests: number): void;
}

interface Pending {
  inputs: Tensor[];
  rows: number;
  signature: string;
  enqueuedAt: number;
  resolve(result: BatchResult): void;
  reject(error: unknown): void;
  timer?: NodeJS.Timeout;
}

/**
 * The dynamic batcher of one model version: requests queue, and one runtime call at a time
 * takes as many queued rows as fit in `maxBatchSize` — at once when the batch is full or a
 * preferred size is available, else once the oldest request has waited `maxQueueDelayMicros`.
 * While a call runs, the queue fills, so under load batches form without any waiting.
 */
export class Batcher {
  private readonly queue: Pending[] = [];
  private queuedRows = 0;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private idle: (() => void)[] = [];

  constructor(
    private readonly run: (inputs: Tensor[]) => Promise<Tensor[]>,
    private readonly policy: BatchingPolicy,
    private readonly clock: Clock,
    private readonly observer: BatchObserver,
  ) {}

  /** Requests waiting (not yet running). */
  get depth(): number {
    return this.queue.length;
  }

  /** Queues a request of `rows` rows; throws 503 `queue_full` at once when the queue is at its bound. */
  submit(inputs: Tensor[], rows: number): Promise<BatchResult> {
    if (this.queue.length >= this.policy.maxQueueSize) {
      throw new AimeshError(
        'queue_full',
        503,
        `the model's queue holds ${this.policy.maxQueueSize} requests; retry shortly`,
        { retryAfterSeconds: 1 },
      );
    }
    return new Promise<BatchResult>((resolve, reject) => {
      const pending: Pending = {
        inputs,
        rows,
        signature: batchSignature(inputs),
        enqueuedAt: this.clock.now(),
        resolve,
        reject,
      };
      if (this.policy.timeoutMs > 0) {
        pending.timer = setTimeout(() => this.expire(pending), this.policy.timeoutMs);
        pending.timer.unref();
      }
      this.queue.push(pending);
      this.queuedRows += rows;
      this.observer.depth(this.queue.length);
      this.pump();
    });
  }

  /** Resolves once nothing is queued or running, or at `deadline` (epoch ms), whichever is first. */
  async drain(deadline: number): Promise<void> {
    if (!this.running && this.queue.length === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadline - this.clock.now()));
      timer.unref();
      this.idle.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Fails every queued request (the version is going away). */
  rejectAll(error: AimeshError): void {
    for (const p of this.queue.splice(0)) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.queuedRows = 0;
    this.observer.depth(0);
  }

  private expire(pending: Pending): void {
    const index = this.queue.indexOf(pending);
    if (index < 0) return;
    this.queue.splice(index, 1);
    this.queuedRows -= pending.rows;
    this.observer.depth(this.queue.length);
    pending.reject(
      new AimeshError(
        'inference_timeout',
        504,
        `request waited ${this.policy.timeoutMs} ms in the queue without running`,
      ),
    );
  }

  private pump(): void {
    if (this.running || this.queue.length === 0) return;
    const { maxBatchSize, maxQueueDelayMicros } = this.policy;
    const waitedMicros = (this.clock.now() - this.queue[0].enqueuedAt) * 1000;
    const target = this.batchTarget();
    if (maxBatchSize > 1 && target === undefined && waitedMicros < maxQueueDelayMicros) {
      if (!this.timer) {
        const delayMs = Math.max(1, Math.ceil((maxQueueDelayMicros - waitedMicros) / 1000));
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, delayMs);
      }
      return;
    }
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    void this.dispatch(this.take(target ?? Math.max(1, maxBatchSize)));
  }

  /** Rows to send now without waiting: a full batch, or the largest preferred size available. */
  private batchTarget(): number | undefined {
    const { maxBatchSize, preferredBatchSizes } = this.policy;
    if (this.queuedRows >= maxBatchSize) return maxBatchSize;
    let best: number | undefined;
    for (const size of preferredBatchSizes)
      if (size <= this.queuedRows && (best === undefined || size > best)) best = size;
    return best;
  }

  private take(limit: number): Pending[] {
    const head = this.queue[0];
    const batch: Pending[] = [];
    let rows = 0;
    for (let i = 0; i < this.queue.length; ) {
      const p = this.queue[i];
      if (batch.length === 0 || (p.signature === head.signature && rows + p.rows <= limit)) {
        batch.push(p);
        rows += p.rows;
        this.queue.splice(i, 1);
        if (rows >= limit) break;
      } else i++;
    }
    this.queuedRows -= rows;
    this.observer.depth(this.queue.length);
    return batch;
  }

  private async dispatch(batch: Pending[]): Promise<void> {
    this.running = true;
    const now = this.clock.now();
    const waits = batch.map((p) => now - p.enqueuedAt);
    const batchSize = batch.reduce((n, p) => n + p.rows, 0);
    for (const p of batch) clearTimeout(p.timer);
    this.observer.dispatched(batchSize, waits);
    try {
      const outputs = await this.run(concatBatch(batch.map((p) => p.inputs)));
      const parts = splitBatch(
        outputs,
        batch.map((p) => p.rows),
      );
      for (const [i, p] of batch.entries())
        p.resolve({ outputs: parts[i], batchSize, queueWaitMs: waits[i] });
    } catch (error) {
      const failure =
        error instanceof AimeshError
          ? error
          : new AimeshError('runtime_failed', 500, `the model runtime failed: ${(error as Error).message}`);
      for (const p of batch) p.reject(failure);
    } finally {
      this.running = false;
      if (this.queue.length === 0) for (const done of this.idle.splice(0)) done();
      else this.pump();
    }
  }
}
