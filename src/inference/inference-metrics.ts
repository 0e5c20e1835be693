import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { HotCounter, HotHistogram } from '../kernel/hot-metrics.js';
import type { BatchObserver } from './batcher.js';

/** The inference module's Prometheus metrics, registered on the process registry. */
export class InferenceMetrics {
  /** Written per request: hot-path metrics (`labels(model, version, outcome)`). */
  readonly requests: HotCounter<'model' | 'version' | 'outcome'>;
  readonly latency: HotHistogram<'model' | 'version'>;
  readonly runtimeCalls: Counter<'model' | 'version'>;
  readonly batchSize: Histogram<'model' | 'version'>;
  readonly queueWait: Histogram<'model' | 'version'>;
  readonly queueDepth: Gauge<'model' | 'version'>;
  readonly cacheLookups: Counter<'result'>;
  readonly cacheEntries: Gauge;
  readonly loadedVersions: Gauge<'model'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new HotCounter({
      name: 'aimesh_inference_requests_total',
      help: 'Inference requests by outcome (ok, client_error, rejected, error).',
      labelNames: ['model', 'version', 'outcome'],
      registers,
    });
    this.latency = new HotHistogram({
      name: 'aimesh_inference_request_duration_seconds',
      help: 'Time from request to result, queue wait included.',
      labelNames: ['model', 'version'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.runtimeCalls = new Counter({
      name: 'aimesh_inference_runtime_calls_total',
      help: 'Runtime calls (one per batch).',
      labelNames: ['model', 'version'],
      registers,
    });
    this.batchSize = new Histogram({
      name: 'aimesh_inference_batch_size',
      help: 'Rows per runtime call.',
      labelNames: ['model', 'version'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    });
    this.queueWait = new Histogram({
      name: 'aimesh_inference_queue_wait_seconds',
      help: 'Time a request waited in the batcher queue.',
      labelNames: ['model', 'version'],
      buckets: [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers,
    });
    this.queueDepth = new Gauge({
      name: 'aimesh_inference_queue_depth',
      help: 'Requests waiting in the batcher queue.',
      labelNames: ['model', 'version'],
      registers,
    });
    this.cacheLookups = new Counter({
      name: 'aimesh_inference_cache_lookups_total',
      help: 'Result cache lookups (hit, miss).',
      labelNames: ['result'],
      registers,
    });
    this.cacheEntries = new Gauge({
      name: 'aimesh_inference_cache_entries',
      help: 'Entries in the result cache.',
      registers,
    });
    this.loadedVersions = new Gauge({
      name: 'aimesh_inference_loaded_versions',
      help: 'Model versions loaded.',
      labelNames: ['model'],
      registers,
    });
  }

  /** A batcher observer recording this model version's batches and queue. */
  observer(model: string, version: number): BatchObserver {
    const labels = { model, version: String(version) };
    const calls = this.runtimeCalls.labels(labels);
    const sizes = this.batchSize.labels(labels);
    const waits = this.queueWait.labels(labels);
    const depth = this.queueDepth.labels(labels);
    return {
      dispatched(batchSize, queueWaitsMs) {
        calls.inc();
        sizes.observe(batchSize);
        for (const w of queueWaitsMs) waits.observe(w / 1000);
      },
      depth(requests) {
        depth.set(requests);
      },
    };
  }
}
