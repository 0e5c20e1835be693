// Worker-thread entry for TypeScript modules: aimesh runs from its sources, and a worker does not
// inherit the main thread's loader, so it registers tsx itself and then imports `workerData.entry`.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
