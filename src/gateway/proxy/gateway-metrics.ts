import { Counter, Gauge, type Registry } from 'prom-client';
import {
  type CounterSeries,
  type HistogramSeries,
  HotCounter,
  HotHistogram,
} from '../../kernel/hot-metrics.js';
import type { BreakerRegistry } from '../../resilience/breaker-registry.js';

const STATE_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;
/** The gateway's Prometheus metrics; the two written per call are hot-path metrics. */
export class GatewayMetrics {
  private readonly requests: HotCounter<'route' | 'model' | 'upstream' | 'status'>;
  private readonly duration: HotHistogram<'route' | 'model'>;
  private readonly retries: Counter;
  private readonly shed: Counter;
  private readonly fallbacks: Counter<'model'>;

  constructor(registry: Registry, breakers: BreakerRegistry) {
    const registers = [registry];
    this.requests = new HotCounter({
      name: 'aimesh_gateway_requests_total',
      help: 'Calls through the gateway by route, model, upstream instance and status.',
      labelNames: ['route', 'model', 'upstream', 'status'],
      registers,
    });
    this.duration = new HotHistogram({
      name: 'aimesh_gateway_request_duration_seconds',
      help: 'Time from request to response headers, by route and model.',
      labelNames: ['route', 'model'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.retries = new Counter({
      name: 'aimesh_gateway_retries_total',
      help: 'Upstream calls retried.',
      registers,
    });
    this.shed = new Counter({
      name: 'aimesh_gateway_shed_total',
      help: 'Calls refused by a saturated bulkhead (low priority first).',
      registers,
    });
    this.fallbacks = new Counter({
      name: 'aimesh_gateway_model_fallbacks_total',
      help: 'Calls served by a fallback model because the chosen one was unavailable, by the chosen model.',
      labelNames: ['model'],
      registers,
    });
    new Gauge({
      name: 'aimesh_gateway_breaker_state',
      help: 'Circuit breaker state per target: 0 closed, 1 half-open, 2 open.',
      labelNames: ['breaker', 'policy'],
      registers,
      collect() {
        this.reset();
        for (const b of breakers.list())
          this.set({ breaker: b.name, policy: b.policy }, STATE_VALUE[b.state]);
      },
    });
  }

  /** Counts one finished call and its time to headers. */
  observe(route: string, model: string, upstream: string, status: number, seconds: number): void {
    // Calls in a row mostly share their labels: the last series is kept and reused when they
    // match (the same strings, compared by identity first), sparing a key join and a lookup.
    const last = this.last;
    if (
      last.route !== route ||
      last.model !== model ||
      last.upstream !== upstream ||
      last.status !== status ||
      last.generation !== this.requests.generation + this.duration.generation
    ) {
      last.generation = this.requests.generation + this.duration.generation;
      last.route = route;
      last.model = model;
      last.upstream = upstream;
      last.status = status;
      last.requests = this.requests.labels(route, model, upstream, String(status));
      last.duration = this.duration.labels(route, model);
    }
    last.requests!.inc();
    last.duration!.observe(seconds);
  }

  private readonly last: {
    route?: string;
    model?: string;
    upstream?: string;
    status?: number;
    generation?: number;
    requests?: CounterSeries;
    duration?: HistogramSeries;
  } = {};

  /** Counts a retry. */
  retried(): void {
    this.retries.inc();
  }

  /** Counts a shed call. */
  wasShed(): void {
    this.shed.inc();
  }

  /** Counts a call served by a fallback of `model`. */
  fellBack(model: string): void {
    this.fallbacks.inc({ model });
  }
}
