import { describe, expect, it } from 'vitest';
import { waitReason } from '../../src/pipeline/scheduler.js';

const task = (cpu: number, memory_mb: number, gpu: number, storage_mb: number) => ({
  cpu,
  memory_mb,
  gpu,
  storage_mb,
});
const worker = (cpu: number, memoryMb: number, gpu: number, storageMb: number) => ({
  cpu,
  memoryMb,
  gpu,
  storageMb,
});

describe('Why a task waits for a worker', () => {
  it('says no live worker when there is none', () => {
    expect(waitReason(task(1, 1, 0, 1), [])).toBe('no live worker');
  });

  it('finds none when a worker has exactly the resources asked for', () => {
    expect(waitReason(task(2, 2048, 1, 100), [worker(2, 2048, 1, 100)])).toBeNull();
    expect(waitReason(task(2, 2048, 1, 100), [worker(1, 1, 0, 1), worker(2, 2048, 1, 100)])).toBeNull();
  });

  it.each([
    [task(3, 2048, 1, 100), 'no live worker has 3 CPU (largest worker: 2)'],
    [task(2, 2049, 1, 100), 'no live worker has 2049 MB memory (largest worker: 2048)'],
    [task(2, 2048, 2, 100), 'no live worker has 2 GPU (largest worker: 1)'],
    [task(2, 2048, 1, 101), 'no live worker has 101 MB storage (largest worker: 100)'],
  ])('names the one resource no worker has enough of: %j', (asked, reason) => {
    expect(waitReason(asked, [worker(2, 2048, 1, 100), worker(1, 512, 0, 10)])).toBe(reason);
  });

  it('names every resource short, against the largest worker of each', () => {
    expect(waitReason(task(8, 9000, 4, 5000), [worker(2, 8000, 0, 100), worker(4, 1000, 1, 200)])).toBe(
      'no live worker has 8 CPU (largest worker: 4), 9000 MB memory (largest worker: 8000), ' +
        '4 GPU (largest worker: 1), 5000 MB storage (largest worker: 200)',
    );
  });

  it('says when the resources exist, but on different workers', () => {
    expect(waitReason(task(4, 4096, 0, 1), [worker(4, 1024, 0, 1), worker(1, 4096, 0, 1)])).toBe(
      'no single live worker has all the requested resources at once',
    );
  });
});
