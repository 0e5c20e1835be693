// Closed-loop HTTP load for the benchmarks, run in a worker thread so the callers do not
// share an event loop with the server they measure. Input (workerData): url, path, body,
// concurrency, warmupMs, durationMs. Output (one message): latencies (ms), errors, elapsedMs.
import { parentPort, workerData } from 'node:worker_threads';
import { Pool } from 'undici';

const { url, path, body, concurrency, warmupMs, durationMs } = workerData;
const pool = new Pool(url, { connections: concurrency, pipelining: 1 });
const latencies = [];
let errors = 0;
const started = performance.now();
const measureFrom = started + warmupMs;
const end = measureFrom + durationMs;

async function caller() {
  // Bounded by time; the count bound is a safety net.
  for (let i = 0; i < 1_000_000 && performance.now() < end; i++) {
    const t = performance.now();
    try {
      const res = await pool.request({
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      await res.body.text();
      if (res.statusCode !== 200) errors++;
    } catch {
      errors++;
    }
    const done = performance.now();
    // Completions inside the window count, whenever they started: slow models still measure.
    if (done >= measureFrom && done <= end) latencies.push(done - t);
  }
}

await Promise.all(Array.from({ length: concurrency }, caller));
await pool.close();
parentPort.postMessage({ latencies, errors, elapsedMs: durationMs });
