import { Counter, Histogram, type Registry } from 'prom-client';

/** A finished OpenAI-compatible call as the metrics see it. */
export interface OpenAiMetricSample {
  requestedModel: string;
  servedModel?: string;
  status: number;
  latencyMs: number;
  stream: boolean;
  totalTokens?: number;
}

/**
 * The OpenAI-compatible front's metrics: calls and latency per served model and status,
 * tokens, fallbacks and quota charges that failed. Labels are bounded by the configured models.
 */
export class OpenAiMetrics {
  private readonly calls: Counter<'model' | 'status' | 'stream'>;
  private readonly latency: Histogram<'model' | 'stream'>;
  private readonly tokens: Counter<'model'>;
  private readonly fallbacks: Counter<'requested' | 'served'>;
  private readonly chargeErrors: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.calls = new Counter({
      name: 'aimesh_gateway_openai_requests_total',
      help: 'OpenAI-compatible calls by the model that served them, status and streaming',
      labelNames: ['model', 'status', 'stream'],
      registers,
    });
    this.latency = new Histogram({
      name: 'aimesh_gateway_openai_request_duration_seconds',
      help: 'OpenAI-compatible call duration, to the last byte for streams',
      labelNames: ['model', 'stream'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.tokens = new Counter({
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
    const model = sample.servedModel ?? sample.requestedModel;
    const stream = sample.stream ? 'true' : 'false';
    this.calls.inc({ model, status: String(sample.status), stream });
    this.latency.observe({ model, stream }, sample.latencyMs / 1000);
    if (sample.totalTokens) this.tokens.inc({ model }, sample.totalTokens);
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
