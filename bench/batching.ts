// Dynamic batching over HTTP: 64 closed-loop callers against the inference listener, with
// batching off (maxBatchSize 1) and on (maxBatchSize 64 — 8 for TF.js on the large model —, 2 ms queue delay), for a small
// dense model and a large one, on TF.js and on ONNX Runtime. One run, loopback only.
// The large model is 64 → 3×2048 → 10: one unbatched ONNX Runtime call costs 1–2 ms here
// (3×1024 costs only ~0.2 ms on this CPU, too little for batching to matter).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { onnxRuntime } from '../src/adapters/onnx/onnx-runtime.js';
import { startAimesh } from '../src/app/runtime.js';
import { createLogger } from '../src/kernel/logger.js';
import { testConfig } from '../test/support/aimesh.js';
import { denseModel, onnxFiles, tfjsFiles, writeModelConfig, writeVersion } from '../test/support/models.js';
import { createTestDatabase, serviceAvailable } from '../test/support/services.js';
import { quantile, report } from './report.js';

const CONCURRENCY = 64;
const MAX_BATCH = 64;
const QUEUE_DELAY_MICROS = 2_000;
const WARMUP_MS = 500;
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 2_500);

const shapes = {
  small: {
    inputs: 4,
    layers: [
      [16, 'relu'],
      [3, 'softmax'],
    ] as [number, string][],
  },
  large: {
    inputs: 64,
    layers: [
      [2048, 'relu'],
      [2048, 'relu'],
      [2048, 'relu'],
      [10, 'softmax'],
    ] as [number, string][],
  },
};

const dir = mkdtempSync(join(tmpdir(), 'aimesh-bench-models-'));
const onnxLarge: Record<string, Uint8Array> = {};
for (const [size, shape] of Object.entries(shapes)) {
  const model = denseModel(shape.inputs, shape.layers, 3);
  const files = { tfjs: await tfjsFiles(model), onnx: await onnxFiles(model) };
  if (size === 'large') Object.assign(onnxLarge, files.onnx);
  for (const runtime of ['tfjs', 'onnx'] as const) {
    for (const batching of ['off', 'on'] as const) {
      const name = `${size}-${runtime}-${batching}`;
      writeVersion(dir, name, 1, files[runtime]);
      // TF.js's pure-JS kernels cost the same per row beyond a few rows, and a 64-row batch of
      // the large model runs for seconds there; 8 rows is where its per-row cost stops falling.
      const maxBatchSize = runtime === 'tfjs' && size === 'large' ? 8 : MAX_BATCH;
      writeModelConfig(dir, name, {
        batching:
          batching === 'on'
            ? { maxBatchSize, maxQueueDelayMicros: QUEUE_DELAY_MICROS, maxQueueSize: 4_096 }
            : { maxBatchSize: 1, maxQueueSize: 4_096 },
      });
    }
  }
}

// One full batch's compute on ONNX Runtime, measured directly: the p99 bound's middle term.
const direct = await onnxRuntime.load({ entry: 'model.onnx', read: async (p) => onnxLarge[p] });
const batchInput = {
  name: 'input',
  datatype: 'FP32' as const,
  shape: [MAX_BATCH, 64],
  data: new Float32Array(MAX_BATCH * 64).fill(0.5),
};
const single = { ...batchInput, shape: [1, 64], data: new Float32Array(64).fill(0.5) };
const time = async (input: typeof batchInput, n: number) => {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await direct.run([input]);
    samples.push(performance.now() - t);
  }
  return quantile(samples, 0.5);
};
await time(batchInput, 3);
const batchComputeMs = await time(batchInput, 15);
const singleComputeMs = await time(single, 50);
await direct.dispose();

// The model server as it is deployed: against a PostgreSQL server, so its per-request event
// appends are I/O rather than embedded-database (WASM) work on the serving thread.
// BENCH_DATABASE=pglite measures embedded mode.
let database: Record<string, unknown> = {};
let dropDatabase = async () => {};
if (process.env.BENCH_DATABASE !== 'pglite' && (await serviceAvailable('postgres'))) {
  const created = await createTestDatabase();
  database = { adapter: 'postgres', url: created.url };
  dropDatabase = created.drop;
}
const aimesh = await startAimesh({
  config: testConfig({
    database,
    inference: { server: { port: 0 }, modelsDir: dir },
  }),
  targets: ['inference'],
  logger: createLogger('silent'),
});
const status = (await (await fetch(`${aimesh.url}/api/v1/inference/models`)).json()) as { url: string };

function load(
  model: string,
  inputs: number,
): Promise<{ latencies: number[]; errors: number; elapsedMs: number }> {
  const row = Array.from({ length: inputs }, (_, i) => (i % 7) / 7);
  const body = JSON.stringify({
    inputs: [{ name: 'input', datatype: 'FP32', shape: [1, inputs], data: row }],
  });
  const worker = new Worker(new URL('./http-load-worker.js', import.meta.url), {
    workerData: {
      url: status.url,
      path: `/v2/models/${model}/infer`,
      body,
      concurrency: CONCURRENCY,
      warmupMs: WARMUP_MS,
      durationMs: DURATION_MS,
    },
  });
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
const figures: Record<string, unknown> = {
  concurrency: CONCURRENCY,
  maxBatchSize: MAX_BATCH,
  maxQueueDelayMicros: QUEUE_DELAY_MICROS,
  durationMs: DURATION_MS,
  onnxLargeSingleComputeMs: round(singleComputeMs),
  onnxLargeBatchComputeMs: round(batchComputeMs),
  database: aimesh.db.kind,
};
for (const [size, shape] of Object.entries(shapes)) {
  for (const runtime of ['tfjs', 'onnx']) {
    const results: Record<string, { rps: number; p50: number; p99: number; errors: number }> = {};
    for (const batching of ['off', 'on']) {
      const r = await load(`${size}-${runtime}-${batching}`, shape.inputs);
      results[batching] = {
        rps: round((r.latencies.length / r.elapsedMs) * 1000, 1),
        p50: round(quantile(r.latencies, 0.5)),
        p99: round(quantile(r.latencies, 0.99)),
        errors: r.errors,
      };
      console.error(`${size} ${runtime} batching ${batching}: ${JSON.stringify(results[batching])}`);
    }
    figures[`${size}-${runtime}`] = {
      ...results,
      throughputRatio: round(results.on.rps / results.off.rps),
      p99Ratio: round(results.on.p99 / results.off.p99),
    };
  }
}
await aimesh.stop();
await dropDatabase();

const large = figures['large-onnx'] as { on: { p99: number }; throughputRatio: number };
const p99BoundMs = QUEUE_DELAY_MICROS / 1000 + batchComputeMs + 2;
figures.onnxLargeP99BoundMs = round(p99BoundMs);
report(
  'batching',
  figures,
  '≥ 5× throughput with batching on for the large model (ONNX Runtime); its p99 ≤ maxQueueDelay + one batch compute + 2 ms',
  large.throughputRatio >= 5 && large.on.p99 <= p99BoundMs,
);
