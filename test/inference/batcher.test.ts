import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Batcher, type BatchingPolicy } from '../../src/inference/batcher.js';
import { ManualClock, systemClock } from '../../src/kernel/clock.js';
import { AimeshError } from '../../src/kernel/errors.js';
import type { Tensor } from '../../src/ports/model-runtime.js';

const policy = (overrides: Partial<BatchingPolicy> = {}): BatchingPolicy => ({
  maxBatchSize: 4,
  maxQueueDelayMicros: 1_000,
  preferredBatchSizes: [],
  maxQueueSize: 100,
  timeoutMs: 0,
  ...overrides,
});

/** `rows` rows of one FP32 feature, numbered from `first`. */
const input = (first: number, rows = 1, name = 'x'): Tensor[] => [
  {
    name,
    datatype: 'FP32',
    shape: [rows, 1],
    data: Float32Array.from({ length: rows }, (_, i) => first + i),
  },
];

/**
 * A runtime that echoes its input and finishes each call only when told to: `finish` releases the
 * oldest running call, then waits as `afterRelease` says.
 */
function heldRuntime(afterRelease: () => Promise<void>) {
  const calls: number[][] = [];
  const gates: (() => void)[] = [];
  const run = async (inputs: Tensor[]) => {
    calls.push(Array.from(inputs[0].data as Float32Array));
    await new Promise<void>((resolve) => gates.push(resolve));
    return inputs;
  };
  const finish = async () => {
    gates.shift()?.();
    await afterRelease();
  };
  return { run, calls, finish };
}

/**
 * A held runtime whose `finish` also lets a millisecond pass on the batcher's clock and its
 * (wall-clock) delay timer fire, so whatever is left leaves in the next call.
 */
function gatedRuntime(clock: ManualClock) {
  return heldRuntime(async () => {
    await clock.advance(1);
    await new Promise((resolve) => setTimeout(resolve, 10));
  });
}

const quiet = { dispatched: () => {}, depth: () => {} };

describe('Batcher', () => {
  it('takes at most maxBatchSize rows from a larger backlog, oldest first, and the rest in later calls', async () => {
    const clock = new ManualClock(0);
    const runtime = gatedRuntime(clock);
    const sizes: number[] = [];
    const batcher = new Batcher(runtime.run, policy(), clock, {
      dispatched: (n) => sizes.push(n),
      depth: () => {},
    });
    const results = [batcher.submit(input(0, 4), 4)];
    for (let i = 1; i <= 6; i++) results.push(batcher.submit(input(10 * i), 1));
    expect(runtime.calls).toEqual([[0, 1, 2, 3]]);
    expect(batcher.depth).toBe(6);
    await runtime.finish();
    expect(runtime.calls[1]).toEqual([10, 20, 30, 40]);
    expect(batcher.depth).toBe(2);
    await runtime.finish();
    expect(runtime.calls[2]).toEqual([50, 60]);
    await runtime.finish();
    expect(sizes).toEqual([4, 4, 2]);
    const answered = await Promise.all(results);
    expect(answered.map((r) => r.batchSize)).toEqual([4, 4, 4, 4, 4, 2, 2]);
    expect(Array.from(answered[3].outputs[0].data as Float32Array)).toEqual([30]);
  });

  it('never splits a request: a request whose rows would pass maxBatchSize waits for the next call', async () => {
    const clock = new ManualClock(0);
    const runtime = gatedRuntime(clock);
    const batcher = new Batcher(runtime.run, policy(), clock, quiet);
    const first = batcher.submit(input(0, 4), 4);
    const results = [batcher.submit(input(10, 3), 3), batcher.submit(input(20, 3), 3)];
    await runtime.finish();
    expect(runtime.calls[1]).toEqual([10, 11, 12]);
    await runtime.finish();
    expect(runtime.calls[2]).toEqual([20, 21, 22]);
    await runtime.finish();
    await Promise.all([first, ...results]);
  });

  it('sends a full batch at once and a smaller one only after maxQueueDelay', async () => {
    const clock = new ManualClock(0);
    const runtime = gatedRuntime(clock);
    const batcher = new Batcher(runtime.run, policy({ maxQueueDelayMicros: 60_000_000 }), clock, quiet);
    const results = [0, 1, 2].map((i) => batcher.submit(input(i), 1));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(runtime.calls).toEqual([]);
    results.push(batcher.submit(input(3), 1));
    expect(runtime.calls).toEqual([[0, 1, 2, 3]]);
    await runtime.finish();
    await Promise.all(results);
  });

  it('sends the largest preferred batch size available without waiting', async () => {
    const clock = new ManualClock(0);
    const runtime = gatedRuntime(clock);
    const batcher = new Batcher(
      runtime.run,
      policy({ maxBatchSize: 8, preferredBatchSizes: [2, 3], maxQueueDelayMicros: 1_000 }),
      clock,
      quiet,
    );
    const results = [batcher.submit(input(0), 1)];
    expect(runtime.calls).toEqual([]);
    results.push(batcher.submit(input(1), 1));
    expect(runtime.calls).toEqual([[0, 1]]);
    for (let i = 2; i < 6; i++) results.push(batcher.submit(input(i), 1));
    await runtime.finish();
    expect(runtime.calls[1]).toEqual([2, 3, 4]);
    await runtime.finish();
    expect(runtime.calls[2]).toEqual([5]);
    await runtime.finish();
    await Promise.all(results);
  });

  it('does not merge requests whose tensors differ in name or inner shape', async () => {
    const clock = new ManualClock(0);
    const runtime = gatedRuntime(clock);
    const batcher = new Batcher(runtime.run, policy({ maxBatchSize: 2 }), clock, quiet);
    const first = batcher.submit(input(0, 2), 2);
    const results = [batcher.submit(input(10, 1, 'x'), 1), batcher.submit(input(20, 1, 'y'), 1)];
    results.push(batcher.submit(input(30, 1, 'x'), 1));
    await runtime.finish();
    expect(runtime.calls[1]).toEqual([10, 30]);
    await runtime.finish();
    expect(runtime.calls[2]).toEqual([20]);
    await runtime.finish();
    await Promise.all([first, ...results]);
  });

  it('refuses a request with 503 queue_full once maxQueueSize requests wait', async () => {
    const clock = new ManualClock(0);
    const runtime = gatedRuntime(clock);
    const batcher = new Batcher(runtime.run, policy({ maxBatchSize: 1, maxQueueSize: 2 }), clock, quiet);
    const running = batcher.submit(input(0), 1);
    const queued = [batcher.submit(input(1), 1), batcher.submit(input(2), 1)];
    expect(() => batcher.submit(input(3), 1)).toThrow(
      expect.objectContaining({ code: 'queue_full', status: 503, details: { retryAfterSeconds: 1 } }),
    );
    for (let i = 0; i < 3; i++) await runtime.finish();
    await Promise.all([running, ...queued]);
  });

  it('tells each request how long it waited in the queue, on the batcher’s clock', async () => {
    const clock = new ManualClock(1_000);
    const runtime = gatedRuntime(clock);
    const batcher = new Batcher(runtime.run, policy({ maxBatchSize: 2 }), clock, quiet);
    const first = batcher.submit(input(0, 2), 2);
    await clock.advance(5);
    const second = batcher.submit(input(1, 2), 2);
    await runtime.finish();
    await runtime.finish();
    expect((await first).queueWaitMs).toBe(0);
    expect((await second).queueWaitMs).toBe(1); // submitted at 5 ms, ran at 6 ms
  });

  it('fails a request still queued after timeoutMs with 504, and leaves the rest to run', async () => {
    const clock = new ManualClock(0);
    const runtime = gatedRuntime(clock);
    const batcher = new Batcher(runtime.run, policy({ maxBatchSize: 1, timeoutMs: 20 }), clock, quiet);
    const running = batcher.submit(input(0), 1);
    const late = batcher.submit(input(1), 1);
    await expect(late).rejects.toMatchObject({
      code: 'inference_timeout',
      status: 504,
      message: 'request waited 20 ms in the queue without running',
    });
    expect(batcher.depth).toBe(0);
    const next = batcher.submit(input(2), 1);
    await runtime.finish();
    await runtime.finish();
    expect(runtime.calls).toEqual([[0], [2]]);
    await Promise.all([running, next]);
  });

  it('turns a runtime failure into 500 runtime_failed for the whole batch, and passes an AimeshError on', async () => {
    const clock = new ManualClock(0);
    const failing = new Batcher(
      async () => {
        throw new Error('boom');
      },
      policy({ maxBatchSize: 2 }),
      clock,
      quiet,
    );
    const both = [failing.submit(input(0), 1), failing.submit(input(1), 1)];
    for (const p of both)
      await expect(p).rejects.toMatchObject({
        code: 'runtime_failed',
        status: 500,
        message: 'the model runtime failed: boom',
      });
    const own = new Batcher(
      async () => {
        throw new AimeshError('model_gone', 410, 'gone');
      },
      policy({ maxBatchSize: 1 }),
      clock,
      quiet,
    );
    await expect(own.submit(input(0), 1)).rejects.toMatchObject({ code: 'model_gone' });
  });

  it('drains: at once when idle, when the last call ends, or at the deadline', async () => {
    const clock = new ManualClock(0);
    const runtime = gatedRuntime(clock);
    const batcher = new Batcher(runtime.run, policy({ maxBatchSize: 1 }), clock, quiet);
    await batcher.drain(0);
    const running = batcher.submit(input(0), 1);
    let drained = false;
    const draining = batcher.drain(60_000).then(() => {
      drained = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(drained).toBe(false);
    await runtime.finish();
    await draining;
    await running;
    batcher.submit(input(1), 1);
    const started = Date.now();
    await batcher.drain(clock.now() + 30);
    expect(Date.now() - started).toBeGreaterThanOrEqual(20);
    await runtime.finish();
  });

  it('fails every queued request when the version goes away', async () => {
    const clock = new ManualClock(0);
    const runtime = gatedRuntime(clock);
    const depths: number[] = [];
    const batcher = new Batcher(runtime.run, policy({ maxBatchSize: 1 }), clock, {
      dispatched: () => {},
      depth: (n) => depths.push(n),
    });
    const running = batcher.submit(input(0), 1);
    const queued = [batcher.submit(input(1), 1), batcher.submit(input(2), 1)];
    batcher.rejectAll(new AimeshError('model_unloaded', 503, 'unloaded'));
    for (const p of queued) await expect(p).rejects.toMatchObject({ code: 'model_unloaded' });
    expect(batcher.depth).toBe(0);
    expect(depths.at(-1)).toBe(0);
    await runtime.finish();
    await running;
    expect(runtime.calls).toEqual([[0]]);
  });

  it('says how many requests the full queue holds', () => {
    const batcher = new Batcher(async (x) => x, policy({ maxQueueSize: 0 }), new ManualClock(0), quiet);
    expect(() => batcher.submit(input(0), 1)).toThrow("the model's queue holds 0 requests; retry shortly");
  });
});

/**
 * The batcher's delay timer runs on the timer functions; these tests fake them and the wall
 * clock together (the batcher reads the time from `systemClock`), so every wait is exact.
 */
describe('Batcher timing, on a controlled clock and timers', () => {
  const start = 1_700_000_000_000;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: start });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Lets the promise chains of a finished call run (setImmediate is left real for this). */
  const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

  /** A held runtime whose `finish` lets the finished call's promise chains run. */
  const settledRuntime = () => heldRuntime(settle);

  it('sends a lone request once it has waited exactly maxQueueDelay, not a millisecond before', async () => {
    const runtime = settledRuntime();
    const batcher = new Batcher(runtime.run, policy({ maxQueueDelayMicros: 10_000 }), systemClock, quiet);
    const result = batcher.submit(input(0), 1);
    await vi.advanceTimersByTimeAsync(9);
    expect(runtime.calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(runtime.calls).toEqual([[0]]);
    await runtime.finish();
    expect((await result).queueWaitMs).toBe(10);
  });

  it('sends at once what has waited exactly maxQueueDelay when another request arrives', async () => {
    const runtime = settledRuntime();
    const batcher = new Batcher(runtime.run, policy({ maxQueueDelayMicros: 10_000 }), systemClock, quiet);
    const results = [batcher.submit(input(0), 1)];
    vi.setSystemTime(start + 10); // the clock moves, the delay timer has not fired yet
    results.push(batcher.submit(input(1), 1));
    expect(runtime.calls).toEqual([[0, 1]]);
    await runtime.finish();
    await Promise.all(results);
  });

  it('keeps one delay timer however many requests wait, and cancels it when a full batch leaves', async () => {
    const runtime = settledRuntime();
    const batcher = new Batcher(runtime.run, policy({ maxQueueDelayMicros: 10_000 }), systemClock, quiet);
    const results = [batcher.submit(input(0), 1)];
    await vi.advanceTimersByTimeAsync(1);
    results.push(batcher.submit(input(1), 1));
    results.push(batcher.submit(input(2), 1));
    expect(vi.getTimerCount()).toBe(1);
    results.push(batcher.submit(input(3), 1));
    expect(runtime.calls).toEqual([[0, 1, 2, 3]]);
    expect(vi.getTimerCount()).toBe(0);
    await runtime.finish();
    await Promise.all(results);
  });

  it('after a call ends, lets the requests left wait only the rest of their delay, in one wake-up', async () => {
    const runtime = settledRuntime();
    const batcher = new Batcher(
      runtime.run,
      policy({ maxBatchSize: 2, maxQueueDelayMicros: 10_000 }),
      systemClock,
      quiet,
    );
    const running = batcher.submit(input(0, 2), 2);
    const waiting = batcher.submit(input(10), 1);
    await vi.advanceTimersByTimeAsync(4);
    await runtime.finish();
    expect(runtime.calls).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersToNextTimer();
    expect(Date.now()).toBe(start + 10);
    expect(runtime.calls).toEqual([[0, 1], [10]]);
    await runtime.finish();
    await Promise.all([running, waiting]);
  });

  it('with a backlog and no preferred size, waits only as long as the oldest request has left', async () => {
    const runtime = settledRuntime();
    const batcher = new Batcher(
      runtime.run,
      policy({ maxBatchSize: 4, maxQueueDelayMicros: 2_500 }),
      systemClock,
      quiet,
    );
    const result = batcher.submit(input(0), 1);
    vi.advanceTimersToNextTimer();
    expect(Date.now()).toBe(start + 3); // 2.5 ms rounded up to the timer's millisecond
    expect(runtime.calls).toEqual([[0]]);
    await runtime.finish();
    await result;
  });

  it('sends the largest preferred size available whatever order the sizes are listed in', async () => {
    const runtime = settledRuntime();
    const batcher = new Batcher(
      runtime.run,
      policy({ maxBatchSize: 8, preferredBatchSizes: [3, 2], maxQueueDelayMicros: 60_000_000 }),
      systemClock,
      quiet,
    );
    const results = [batcher.submit(input(0, 8), 8)];
    for (let i = 1; i <= 3; i++) results.push(batcher.submit(input(10 * i), 1));
    await runtime.finish();
    expect(runtime.calls[1]).toEqual([10, 20, 30]);
    await runtime.finish();
    await Promise.all(results);
  });

  it('runs a request with more rows than maxBatchSize alone, at once', async () => {
    const runtime = settledRuntime();
    const batcher = new Batcher(runtime.run, policy({ maxBatchSize: 2 }), systemClock, quiet);
    const big = batcher.submit(input(0, 3), 3);
    const small = batcher.submit(input(10), 1);
    expect(runtime.calls).toEqual([[0, 1, 2]]);
    await runtime.finish();
    await vi.advanceTimersByTimeAsync(1);
    expect(runtime.calls[1]).toEqual([10]);
    await runtime.finish();
    expect((await big).batchSize).toBe(3);
    expect((await small).batchSize).toBe(1);
  });

  it('finds nothing to do when its delay timer fires after the waiting request timed out', async () => {
    const runtime = settledRuntime();
    const batcher = new Batcher(
      runtime.run,
      policy({ maxBatchSize: 4, maxQueueDelayMicros: 50_000, timeoutMs: 20 }),
      systemClock,
      quiet,
    );
    const late = batcher.submit(input(0, 2), 2);
    const refused = expect(late).rejects.toMatchObject({ code: 'inference_timeout', status: 504 });
    await vi.advanceTimersByTimeAsync(20);
    await refused;
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(30);
    expect(runtime.calls).toEqual([]);
    expect(batcher.depth).toBe(0);
  });

  it('forgets the rows of a request that timed out behind a running call', async () => {
    const runtime = settledRuntime();
    const batcher = new Batcher(
      runtime.run,
      policy({ maxBatchSize: 4, maxQueueDelayMicros: 10_000, timeoutMs: 20 }),
      systemClock,
      quiet,
    );
    const running = batcher.submit(input(0, 4), 4);
    const late = batcher.submit(input(10, 2), 2);
    const refused = expect(late).rejects.toMatchObject({ code: 'inference_timeout' });
    await vi.advanceTimersByTimeAsync(20);
    await refused;
    await runtime.finish();
    await running;
    // Two rows of the expired request still counted would make these three a full batch.
    const next = batcher.submit(input(20, 3), 3);
    expect(runtime.calls).toEqual([[0, 1, 2, 3]]);
    await vi.advanceTimersByTimeAsync(10);
    expect(runtime.calls[1]).toEqual([20, 21, 22]);
    await runtime.finish();
    await next;
  });

  it('drains at once when idle, however far the deadline', async () => {
    const batcher = new Batcher(async (x) => x, policy(), systemClock, quiet);
    let drained = false;
    void batcher.drain(start + 60_000).then(() => {
      drained = true;
    });
    await settle();
    expect(drained).toBe(true);
  });

  it('does not count a request waiting for its batch as drained', async () => {
    const runtime = settledRuntime();
    const batcher = new Batcher(runtime.run, policy({ maxQueueDelayMicros: 10_000 }), systemClock, quiet);
    const result = batcher.submit(input(0), 1);
    let drained = false;
    void batcher.drain(start + 60_000).then(() => {
      drained = true;
    });
    await settle();
    expect(drained).toBe(false);
    await vi.advanceTimersByTimeAsync(10);
    expect(drained).toBe(false);
    await runtime.finish();
    expect(drained).toBe(true);
    await result;
  });

  it('stops waiting for a drain at the deadline exactly', async () => {
    const runtime = settledRuntime();
    const batcher = new Batcher(runtime.run, policy({ maxBatchSize: 1 }), systemClock, quiet);
    const running = batcher.submit(input(0), 1);
    let drained = false;
    void batcher.drain(start + 30).then(() => {
      drained = true;
    });
    await vi.advanceTimersByTimeAsync(29);
    expect(drained).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(drained).toBe(true);
    await runtime.finish();
    await running;
  });
});
