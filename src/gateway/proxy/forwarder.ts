import type { DiscoveryApi, ServiceInstance } from '../../discovery/index.js';
import type { Clock } from '../../kernel/clock.js';
import { AimeshError } from '../../kernel/errors.js';
import type { Random } from '../../kernel/random.js';
import type { BreakerRegistry } from '../../resilience/breaker-registry.js';
import { Bulkhead } from '../../resilience/bulkhead.js';
import type { CircuitBreaker } from '../../resilience/circuit-breaker.js';
import { backoffDelay, type RetryBudget, type RetryPolicy, waitFor } from '../../resilience/retry.js';
import type { EndpointStatsTable } from '../balancing/endpoint-stats.js';
import type { Endpoint, LoadBalancer } from '../balancing/load-balancer.js';
import {
  bodyOf,
  type Choice,
  describeTarget,
  type ForwardRequest,
  type ForwardResult,
  ForwardState,
  failedAnswer,
  GatewayRefusal,
  servesModel,
  setChoiceHeaders,
} from './forward-request.js';
import {
  isFailureStatus,
  isRetryableStatus,
  parseRetryAfter,
  type UpstreamClient,
  UpstreamError,
  type UpstreamExchange,
} from './upstream-client.js';

export {
  type Choice,
  type ForwardRequest,
  type ForwardResult,
  GatewayRefusal,
  servesModel,
} from './forward-request.js';

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
const PICK_AGAIN = 0;
const NEXT_CHOICE = 1;

/** An instance entered for one attempt: its breaker's permit and a bulkhead slot are held. */
interface Slot {
  endpoint: Endpoint;
  breaker: CircuitBreaker;
  bulkhead: Bulkhead;
}

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
    this.o.budget.recordRequest();
    const state = new ForwardState();
    const { choices } = request;
    for (let index = 0; index < choices.length; index++) {
      const moveOn = request.fallBackOnFailure === true && index < choices.length - 1;
      const result = await this.tryChoice(request, index, state, moveOn);
      if (result) return result;
      if (!request.fallBackOnFailure && state.attempts >= this.o.retry.maxAttempts) break;
    }
    throw this.nothingAnswered(request, state);
  }

  /**
   * Calls instances of one choice (picking, breaker, bulkhead, retries with backoff) until one
   * answers; undefined when this choice is done with and the next may be tried. With `moveOn`,
   * a failure ends the choice at once.
   */
  private async tryChoice(
    request: ForwardRequest,
    index: number,
    state: ForwardState,
    moveOn: boolean,
  ): Promise<ForwardResult | undefined> {
    const o = this.o;
    const choice = request.choices[index];
    const modelBreaker = choice.model
      ? o.breakers.get(this.modelBreakerKey(choice.model.id), request.policy)
      : undefined;
    if (modelBreaker?.isRefusing()) {
      state.openUntil = Math.min(state.openUntil, modelBreaker.retryAt() || state.openUntil);
      return undefined;
    }
    const endpoints = this.endpoints(choice);
    if (endpoints.length > 0) state.sawEndpoints = true;
    setChoiceHeaders(request.headers, choice);
    const body = choice.body === undefined ? request.body : bodyOf(choice.body);
    // Attempts count across the choices, except where each choice is a fallback of its own.
    let attempts = request.fallBackOnFailure ? 0 : state.attempts;
    // Bounded: a pick that is refused (breaker race, full bulkhead) marks the endpoint tried, but
    // the fallback pick may offer it again, so the spins are capped as well as the attempts.
    let spins = 0;
    const maxSpins = endpoints.length + o.retry.maxAttempts;
    while (attempts < o.retry.maxAttempts && spins++ < maxSpins) {
      const slot = this.enter(endpoints, request, modelBreaker, state);
      if (slot === NEXT_CHOICE) return undefined;
      if (slot === PICK_AGAIN) continue;
      const { endpoint, breaker, bulkhead } = slot;
      attempts += 1;
      state.attempts += 1;
      const outcome = await this.attempt(endpoint, request, body, breaker, modelBreaker, bulkhead);
      if ('response' in outcome) {
        const { response, upstreamMs } = outcome;
        if (request.fallBackOnFailure && failedAnswer(response.status)) {
          if (moveOn || !(await this.retryAnswer(request, response, endpoint, attempts, state))) {
            response.discard();
            state.failed(choice, `${endpoint.id} answered ${response.status}`);
            return undefined;
          }
          continue;
        }
        if (await this.retryAnswer(request, response, endpoint, attempts, state)) continue;
        return { response, choice, choiceIndex: index, endpoint, attempts: state.attempts, upstreamMs };
      }
      const error = outcome.error;
      state.lastError = error;
      state.tried.add(endpoint.id);
      if (error.kind === 'aborted') throw error;
      if (moveOn || !(await this.retryError(request, error, endpoint, attempts))) {
        if (!request.fallBackOnFailure) throw error;
        state.failed(choice, error.message);
        return undefined;
      }
    }
    return undefined;
  }

  /**
   * Picks an instance of the choice and takes its breaker's permit, a bulkhead slot and the model
   * breaker's permit; PICK_AGAIN when this instance refused (it is marked tried), NEXT_CHOICE
   * when no instance of this choice can be called now.
   */
  private enter(
    endpoints: readonly Endpoint[],
    request: ForwardRequest,
    modelBreaker: CircuitBreaker | undefined,
    state: ForwardState,
  ): Slot | typeof PICK_AGAIN | typeof NEXT_CHOICE {
    const o = this.o;
    const endpoint = this.pick(endpoints, state.tried, request.policy);
    if (!endpoint) {
      for (const e of endpoints) {
        const at = o.breakers.peek(this.endpointBreakerKey(e))?.retryAt();
        if (at) state.openUntil = Math.min(state.openUntil, at);
      }
      return NEXT_CHOICE;
    }
    const breaker = o.breakers.get(this.endpointBreakerKey(endpoint), request.policy);
    if (!breaker.tryAcquire()) {
      state.tried.add(endpoint.id);
      return PICK_AGAIN;
    }
    const bulkhead = this.bulkhead(endpoint.id);
    if (!bulkhead.tryEnter(request.priority)) {
      breaker.release();
      state.shed = true;
      o.onShed?.();
      state.tried.add(endpoint.id);
      return state.tried.size >= endpoints.length ? NEXT_CHOICE : PICK_AGAIN;
    }
    if (modelBreaker && !modelBreaker.tryAcquire()) {
      breaker.release();
      bulkhead.leave();
      return NEXT_CHOICE;
    }
    return { endpoint, breaker, bulkhead };
  }

  /**
   * True when an answer is retried (a 502/503/504 to a repeatable call, within the attempts, the
   * budget and a Retry-After no longer than the longest backoff): its body is dropped and the
   * backoff waited out.
   */
  private async retryAnswer(
    request: ForwardRequest,
    response: UpstreamExchange,
    endpoint: Endpoint,
    attempts: number,
    state: ForwardState,
  ): Promise<boolean> {
    const o = this.o;
    if (!isRetryableStatus(response.status) || !request.repeatable || attempts >= o.retry.maxAttempts)
      return false;
    const retryAfterMs = parseRetryAfter(response.headers['retry-after'], o.clock.now());
    if ((retryAfterMs !== undefined && retryAfterMs > o.retry.maxDelayMs) || !o.budget.tryRetry())
      return false;
    response.discard();
    state.tried.add(endpoint.id);
    o.onRetry?.();
    await this.backOff(request, endpoint, backoffDelay(o.retry, attempts, o.random, retryAfterMs));
    return true;
  }

  /** True when a failed attempt is retried (safe to repeat, of a retryable kind, within budget), after its backoff. */
  private async retryError(
    request: ForwardRequest,
    error: UpstreamError,
    endpoint: Endpoint,
    attempts: number,
  ): Promise<boolean> {
    const o = this.o;
    const safe = !error.sent || request.repeatable;
    const retryable =
      safe && (error.kind === 'connect' || error.kind === 'reset' || error.kind === 'timeout');
    if (!retryable || attempts >= o.retry.maxAttempts || !o.budget.tryRetry()) return false;
    o.onRetry?.();
    await this.backOff(request, endpoint, backoffDelay(o.retry, attempts, o.random));
    return true;
  }

  private async backOff(request: ForwardRequest, endpoint: Endpoint, delayMs: number): Promise<void> {
    if (!(await waitFor(this.o.clock, delayMs, request.signal))) {
      throw new UpstreamError('aborted', endpoint.id, 'the caller went away', true);
    }
  }

  /** Why no choice answered: the failures of a fallback chain, the last error, or a refusal. */
  private nothingAnswered(request: ForwardRequest, state: ForwardState): Error {
    if (state.failures.length > 0) {
      return new AimeshError(
        'upstream_unavailable',
        502,
        `no upstream could serve the request: ${state.failures.join('; ')}`,
      );
    }
    if (state.lastError) return state.lastError;
    if (state.shed) {
      return new GatewayRefusal(
        'upstream_saturated',
        503,
        'every upstream instance is at its concurrency limit; retry shortly',
        1_000,
      );
    }
    if (state.openUntil !== Number.POSITIVE_INFINITY) {
      return new GatewayRefusal(
        'circuit_open',
        503,
        'every upstream that could serve this call has an open circuit breaker',
        Math.max(1_000, state.openUntil - this.o.clock.now()),
      );
    }
    const what = request.choices.map((c) => describeTarget(c)).join(', ');
    return new GatewayRefusal(
      'no_instances',
      503,
      state.sawEndpoints ? `no usable instance of ${what}` : `no live instance of ${what} is registered`,
      1_000,
    );
  }

  private async attempt(
    endpoint: Endpoint,
    request: ForwardRequest,
    body: Buffer | undefined,
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
        body,
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
