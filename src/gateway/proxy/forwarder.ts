import type { DiscoveryApi, ServiceInstance } from '../../discovery/index.js';
import type { Clock } from '../../kernel/clock.js';
import { AimeshError } from '../../kernel/errors.js';
import type { Random } from '../../kernel/random.js';
import type { BreakerRegistry } from '../../resilience/breaker-registry.js';
import { Bulkhead, type Priority } from '../../resilience/bulkhead.js';
import type { CircuitBreaker } from '../../resilience/circuit-breaker.js';
import { backoffDelay, type RetryBudget, type RetryPolicy, waitFor } from '../../resilience/retry.js';
import type { EndpointStatsTable } from '../balancing/endpoint-stats.js';
import type { Endpoint, LoadBalancer } from '../balancing/load-balancer.js';
import type { RouteTarget } from '../routing/route-table.js';
import {
  type CallerWatch,
  isFailureStatus,
  isRetryableStatus,
  parseRetryAfter,
  type UpstreamClient,
  UpstreamError,
  type UpstreamExchange,
} from './upstream-client.js';

/** A model the call may be served by, in order of preference. */
export interface Choice {
  /** The model, and its expected price per call when the catalogue knows it. */
  model?: { id: string; version: string; type: string; cost?: number };
  target: RouteTarget;
}

/** One call to forward. */
export interface ForwardRequest {
  method: string;
  path: string;
  /** Headers for the upstream; `x-model-id` / `x-model-version` are set per choice. */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer | undefined;
  /** The headers carry no hop-by-hop fields already. */
  headersClean?: boolean;
  /** True when the call may be sent twice (idempotent method or Idempotency-Key). */
  repeatable: boolean;
  priority: Priority;
  /** Breaker policy name of the route. */
  policy: string;
  signal: AbortSignal;
  /** The caller's connection, when the call came over one: watched more cheaply than `signal`. */
  caller?: CallerWatch;
  choices: Choice[];
}

/** What answered. */
export interface ForwardResult {
  /** The answer; its body is still to be relayed (or discarded). */
  response: UpstreamExchange;
  choice: Choice;
  /** 0 = the first choice; more = a fallback served. */
  choiceIndex: number;
  endpoint: Endpoint;
  attempts: number;
  /** Time to the upstream's response headers, ms (of the attempt that answered). */
  upstreamMs: number;
}

/** A refusal the gateway makes itself (no upstream answered); carries Retry-After. */
export class GatewayRefusal extends AimeshError {
  constructor(
    code: string,
    status: number,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(code, status, message);
  }
}

export interface ForwarderOptions {
  client: UpstreamClient;
  discovery: DiscoveryApi;
  breakers: BreakerRegistry;
  balancer: LoadBalancer;
  stats: EndpointStatsTable;
  retry: RetryPolicy;
  budget: RetryBudget;
  bulkhead: { maxConcurrent: number; lowPriorityShare: number };
  clock: Clock;
  random: Random;
  /** Told of each retry and each shed call (metrics). */
  onRetry?: () => void;
  onShed?: () => void;
}

const EMPTY: Endpoint[] = [];

function keyOf(keys: Map<string, string>, prefix: string, id: string): string {
  let key = keys.get(id);
  if (key === undefined) {
    if (keys.size >= 10_000) keys.clear();
    key = prefix + id;
    keys.set(id, key);
  }
  return key;
}

/**
 * Sends one call through the resilience chain: for each choice in order (the chosen model,
 * then the fallbacks), pick a usable instance (open breakers are skipped before anything is
 * tried), enter its bulkhead, call it, feed the breaker, and retry with backoff what is safe to
 * retry, within the retry budget.
 */
export class Forwarder {
  private readonly bulkheads = new Map<string, Bulkhead>();
  private readonly filtered = new WeakMap<readonly ServiceInstance[], Map<string, ServiceInstance[]>>();
  private readonly closedFilters = new Map<string, (e: Endpoint) => boolean>();

  constructor(private readonly o: ForwarderOptions) {}

  // Breaker keys made once per id: a key built per lookup is a new string to hash every time
  // (several lookups a call). Bounded; cleared when full, as entries are cheap to remake.
  private readonly endpointKeys = new Map<string, string>();
  private readonly modelKeys = new Map<string, string>();

  /** The breaker key of an endpoint. */
  static endpointKey(endpoint: Endpoint): string {
    return `endpoint:${endpoint.id}`;
  }

  /** The breaker key of a model. */
  static modelKey(modelId: string): string {
    return `model:${modelId}`;
  }

  // The same keys as the static forms, made once per id.
  private endpointBreakerKey(endpoint: Endpoint): string {
    return keyOf(this.endpointKeys, 'endpoint:', endpoint.id);
  }

  private modelBreakerKey(modelId: string): string {
    return keyOf(this.modelKeys, 'model:', modelId);
  }

  /** Forwards the call; rejects with an UpstreamError or a GatewayRefusal when nothing answered usefully. */
  async forward(request: ForwardRequest): Promise<ForwardResult> {
    const o = this.o;
    o.budget.recordRequest();
    let attempts = 0;
    let lastError: UpstreamError | undefined;
    let shed = false;
    let sawEndpoints = false;
    let openUntil = Number.POSITIVE_INFINITY;
    const tried = new Set<string>();
    for (let index = 0; index < request.choices.length; index++) {
      const choice = request.choices[index];
      const modelBreaker = choice.model
        ? o.breakers.get(this.modelBreakerKey(choice.model.id), request.policy)
        : undefined;
      if (modelBreaker?.isRefusing()) {
        openUntil = Math.min(openUntil, modelBreaker.retryAt() || openUntil);
        continue;
      }
      const endpoints = this.endpoints(choice);
      if (endpoints.length > 0) sawEndpoints = true;
      if (choice.model) {
        request.headers['x-model-id'] = choice.model.id;
        // An unpinned version ('') lets the model server's default (its production alias) decide.
        if (choice.model.version) request.headers['x-model-version'] = choice.model.version;
        else delete request.headers['x-model-version'];
      }
      // Bounded: a pick that is refused (breaker race, full bulkhead) marks the endpoint tried, but
      // the fallback pick may offer it again, so the spins are capped as well as the attempts.
      let spins = 0;
      const maxSpins = endpoints.length + o.retry.maxAttempts;
      while (attempts < o.retry.maxAttempts && spins++ < maxSpins) {
        const endpoint = this.pick(endpoints, tried, request.policy);
        if (!endpoint) {
          for (const e of endpoints) {
            const at = o.breakers.peek(this.endpointBreakerKey(e))?.retryAt();
            if (at) openUntil = Math.min(openUntil, at);
          }
          break;
        }
        const breaker = o.breakers.get(this.endpointBreakerKey(endpoint), request.policy);
        if (!breaker.tryAcquire()) {
          tried.add(endpoint.id);
          continue;
        }
        const bulkhead = this.bulkhead(endpoint.id);
        if (!bulkhead.tryEnter(request.priority)) {
          breaker.release();
          shed = true;
          o.onShed?.();
          tried.add(endpoint.id);
          if (tried.size >= endpoints.length) break;
          continue;
        }
        if (modelBreaker && !modelBreaker.tryAcquire()) {
          breaker.release();
          bulkhead.leave();
          break;
        }
        attempts += 1;
        const outcome = await this.attempt(endpoint, request, breaker, modelBreaker, bulkhead);
        if ('response' in outcome) {
          const { response, upstreamMs } = outcome;
          const retry =
            isRetryableStatus(response.status) && request.repeatable && attempts < o.retry.maxAttempts;
          if (retry) {
            const retryAfterMs = parseRetryAfter(response.headers['retry-after'], o.clock.now());
            if ((retryAfterMs === undefined || retryAfterMs <= o.retry.maxDelayMs) && o.budget.tryRetry()) {
              response.discard();
              tried.add(endpoint.id);
              o.onRetry?.();
              if (
                !(await waitFor(
                  o.clock,
                  backoffDelay(o.retry, attempts, o.random, retryAfterMs),
                  request.signal,
                ))
              ) {
                throw new UpstreamError('aborted', endpoint.id, 'the caller went away', true);
              }
              continue;
            }
          }
          return { response, choice, choiceIndex: index, endpoint, attempts, upstreamMs };
        }
        const error = outcome.error;
        lastError = error;
        tried.add(endpoint.id);
        if (error.kind === 'aborted') throw error;
        const safe = !error.sent || request.repeatable;
        const retryable =
          safe && (error.kind === 'connect' || error.kind === 'reset' || error.kind === 'timeout');
        if (!retryable || attempts >= o.retry.maxAttempts || !o.budget.tryRetry()) throw error;
        o.onRetry?.();
        if (!(await waitFor(o.clock, backoffDelay(o.retry, attempts, o.random), request.signal))) {
          throw new UpstreamError('aborted', endpoint.id, 'the caller went away', true);
        }
      }
      if (attempts >= o.retry.maxAttempts) break;
    }
    if (lastError) throw lastError;
    const now = o.clock.now();
    if (shed) {
      throw new GatewayRefusal(
        'upstream_saturated',
        503,
        'every upstream instance is at its concurrency limit; retry shortly',
        1_000,
      );
    }
    if (openUntil !== Number.POSITIVE_INFINITY) {
      throw new GatewayRefusal(
        'circuit_open',
        503,
        'every upstream that could serve this call has an open circuit breaker',
        Math.max(1_000, openUntil - now),
      );
    }
    const what = request.choices.map((c) => describeTarget(c)).join(', ');
    throw new GatewayRefusal(
      'no_instances',
      503,
      sawEndpoints ? `no usable instance of ${what}` : `no live instance of ${what} is registered`,
      1_000,
    );
  }

  private async attempt(
    endpoint: Endpoint,
    request: ForwardRequest,
    breaker: CircuitBreaker,
    modelBreaker: CircuitBreaker | undefined,
    bulkhead: Bulkhead,
  ): Promise<{ response: UpstreamExchange; upstreamMs: number } | { error: UpstreamError }> {
    const stats = this.o.stats.get(endpoint.id);
    stats.begin();
    const started = performance.now();
    try {
      const response = await this.o.client.exchange(endpoint, {
        method: request.method,
        path: request.path,
        headers: request.headers,
        headersClean: request.headersClean,
        body: request.body,
        signal: request.signal,
        caller: request.caller,
      });
      const upstreamMs = performance.now() - started;
      const ok = !isFailureStatus(response.status);
      stats.end(upstreamMs, ok);
      breaker.record(ok);
      modelBreaker?.record(ok);
      // Held until the body has been relayed or dropped, not just until the headers.
      response.leaveWhenSettled(bulkhead);
      return { response, upstreamMs };
    } catch (error) {
      const failure = error as UpstreamError;
      stats.end(performance.now() - started, false);
      bulkhead.leave();
      if (failure.kind === 'aborted') {
        breaker.release();
        modelBreaker?.release();
      } else {
        breaker.record(false);
        modelBreaker?.record(false);
      }
      return { error: failure };
    }
  }

  private pick(endpoints: readonly Endpoint[], tried: Set<string>, policy: string): Endpoint | undefined {
    const { balancer } = this.o;
    const closed = this.closedFilter(policy);
    if (tried.size > 0) {
      const fresh = balancer.pick(endpoints, (e) => !tried.has(e.id) && closed(e));
      if (fresh) return fresh;
    }
    return balancer.pick(endpoints, closed);
  }

  /** "Its breaker lets calls through", per breaker policy: made once, not per call. */
  private closedFilter(policy: string): (e: Endpoint) => boolean {
    let filter = this.closedFilters.get(policy);
    if (!filter) {
      const { breakers } = this.o;
      filter = (e: Endpoint) => !breakers.get(this.endpointBreakerKey(e), policy).isRefusing();
      this.closedFilters.set(policy, filter);
    }
    return filter;
  }

  private endpoints(choice: Choice): readonly Endpoint[] {
    const target = choice.target;
    if (target.kind === 'static') return target.endpoints;
    const all = this.o.discovery.instances(target.service);
    if (!choice.model || all.length === 0) return all.length === 0 ? EMPTY : all;
    // Instances that list their models serve only those; the rest serve anything. Cached per view.
    let byModel = this.filtered.get(all);
    if (!byModel) {
      byModel = new Map();
      this.filtered.set(all, byModel);
    }
    const key = `${choice.model.id}@${choice.model.version}`;
    let list = byModel.get(key);
    if (!list) {
      list = all.filter((i) => servesModel(i, choice.model!.id, choice.model!.version));
      byModel.set(key, list);
    }
    return list;
  }

  private bulkhead(id: string): Bulkhead {
    let bulkhead = this.bulkheads.get(id);
    if (!bulkhead) {
      if (this.bulkheads.size >= 10_000) {
        for (const [key, b] of this.bulkheads) {
          if (b.inFlight() === 0) {
            this.bulkheads.delete(key);
            break;
          }
        }
      }
      bulkhead = new Bulkhead(this.o.bulkhead.maxConcurrent, this.o.bulkhead.lowPriorityShare);
      this.bulkheads.set(id, bulkhead);
    }
    return bulkhead;
  }
}

/** True when an instance serves the model version (or does not say what it serves). */
export function servesModel(instance: ServiceInstance, modelId: string, version: string): boolean {
  const models = instance.metadata.models;
  if (!Array.isArray(models)) return true;
  return models.some((m) => {
    const entry = m as { id?: string; version?: string | number };
    return (
      entry.id === modelId && (!version || entry.version === undefined || String(entry.version) === version)
    );
  });
}

function describeTarget(choice: Choice): string {
  const where =
    choice.target.kind === 'service' ? `service ${choice.target.service}` : `upstreams ${choice.target.name}`;
  return choice.model ? `${choice.model.id}@${choice.model.version} (${where})` : where;
}
