import { Counter, type Registry } from 'prom-client';
import {
  type CounterSeries,
  type HistogramSeries,
  HotCounter,
  HotHistogram,
} from '../../kernel/hot-metrics.js';

/** A finished OpenAI-compatible call as the metrics see it. */
export interface OpenAiMetricSample {
  /** The model that served the call, else the one asked for. */
  model: string;
  status: number;
  latencyMs: number;
  stream: boolean;
  totalTokens?: number;
}

/**
 * The OpenAI-compatible front's metrics: calls and latency per served model and status,
 * tokens, fallbacks and quota charges that failed. Labels are bounded by the configured models;
 * the ones written per call are hot-path metrics.
 */
export class OpenAiMetrics {
  private readonly calls: HotCounter<'model' | 'status' | 'stream'>;
  private readonly latency: HotHistogram<'model' | 'stream'>;
  private readonly tokens: HotCounter<'model'>;
  private readonly fallbacks: Counter<'requested' | 'served'>;
  private readonly chargeErrors: Counter;
  // Series by their label values joined, kept across calls (a model's label set rarely changes).
  private readonly callSeries = new Map<
    string,
    { calls: CounterSeries; latency: HistogramSeries; tokens: CounterSeries; generation: number }
  >();

  constructor(registry: Registry) {
    const registers = [registry];
    this.calls = new HotCounter({
      name: 'aimesh_gateway_openai_requests_total',
      help: 'OpenAI-compatible calls by the model that served them, status and streaming',
      labelNames: ['model', 'status', 'stream'],
      registers,
    });
    this.latency = new HotHistogram({
      name: 'aimesh_gateway_openai_request_duration_seconds',
      help: 'OpenAI-compatible call duration, to the last byte for streams',
      labelNames: ['model', 'stream'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.tokens = new HotCounter({
      name: 'aimesh_gateway_openai_tokens_total',
      help: 'Tokens reported by upstreams',
      labelNames: ['model'],
      registers,
    });
    this.fallbacks = new Counter({
      name: 'aimesh_gateway_openai_fallbacks_total',
      help: 'OpenAI-compatible calls served by a fallback model',
      labelNames: ['requested', 'served'],
      registers,
    });
    this.chargeErrors = new Counter({
      name: 'aimesh_gateway_quota_charge_errors_total',
      help: 'Token usage that could not be charged to a quota because the store failed',
      registers,
    });
  }

  /** Records one finished call. */
  completed(sample: OpenAiMetricSample): void {
    const stream = sample.stream ? 'true' : 'false';
    const status = String(sample.status);
    const key = `${sample.model}\u0000${status}\u0000${stream}`;
    const generation = this.calls.generation + this.latency.generation + this.tokens.generation;
    let series = this.callSeries.get(key);
    if (!series || series.generation !== generation) {
      if (this.callSeries.size >= 10_000) this.callSeries.clear();
      series = {
        calls: this.calls.labels(sample.model, status, stream),
        latency: this.latency.labels(sample.model, stream),
        tokens: this.tokens.labels(sample.model),
        generation,
      };
      this.callSeries.set(key, series);
    }
    series.calls.inc();
    series.latency.observe(sample.latencyMs / 1000);
    if (sample.totalTokens) series.tokens.inc(sample.totalTokens);
  }

  /** Records a call that a fallback model served. */
  fellBack(requested: string, served: string): void {
    this.fallbacks.inc({ requested, served });
  }

  /** Records usage that could not be charged. */
  chargeFailed(): void {
    this.chargeErrors.inc();
  }
}
