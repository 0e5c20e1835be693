import { type Transferable, Worker } from 'node:worker_threads';

const BOOTSTRAP = new URL('./ts-worker.mjs', import.meta.url);

/**
 * Starts a worker thread running the TypeScript module at `entry` (a file URL, usually
 * `new URL('./x.ts', import.meta.url)`); `data` reaches it as `workerData`.
 */
export function startTsWorker(
  entry: URL,
  data: Record<string, unknown>,
  transferList: Transferable[] = [],
): Worker {
  return new Worker(BOOTSTRAP, { workerData: { ...data, entry: entry.href }, transferList });
}
