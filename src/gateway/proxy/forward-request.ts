import type { ServiceInstance } from '../../discovery/index.js';
import { AimeshError } from '../../kernel/errors.js';
import type { Priority } from '../../resilience/bulkhead.js';
import type { Endpoint } from '../balancing/load-balancer.js';
import type { RouteTarget } from '../routing/route-table.js';
import type { CallerWatch, UpstreamError, UpstreamExchange } from './upstream-client.js';

// What the forwarder is asked and answers, and the small rules it applies per choice.

/** A model the call may be served by, in order of preference. */
export interface Choice {
  /** The model, and its expected price per call when the catalogue knows it. */
  model?: { id: string; version: string; type: string; cost?: number };
  target: RouteTarget;
  /**
   * Headers this choice sends (an undefined value removes one), in place of the
   * `X-Model-Id` / `X-Model-Version` a model-aware choice sends otherwise.
   */
  headers?: Readonly<Record<string, string | undefined>>;
  /** The body this choice sends in place of the call's (e.g. naming its own upstream model), made when first needed. */
  body?: Buffer | (() => Buffer);
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
  /**
   * A choice that fails (no answer, 429 or 5xx) gives way to the next one at once, and when every
   * one has failed the call is refused with 502 `upstream_unavailable` listing each failure (the
   * OpenAI front's fallback chains). Otherwise the next choice is tried only when no instance of
   * this one could be called (open breakers, full bulkheads), and an answer is returned as it came.
   */
  fallBackOnFailure?: boolean;
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

/** What one forward has seen so far, across its choices. */
export class ForwardState {
  attempts = 0;
  lastError: UpstreamError | undefined;
  shed = false;
  sawEndpoints = false;
  openUntil = Number.POSITIVE_INFINITY;
  readonly tried = new Set<string>();
  /** Each failed choice of a fallback chain, with why. */
  readonly failures: string[] = [];

  failed(choice: Choice, reason: string): void {
    this.failures.push(`${choice.model?.id ?? describeTarget(choice)}: ${reason}`);
  }
}

/** An answer a fallback chain moves on from: too many requests, or a server error. */
export function failedAnswer(status: number): boolean {
  return status === 429 || status >= 500;
}

export function bodyOf(body: Buffer | (() => Buffer)): Buffer {
  return typeof body === 'function' ? body() : body;
}

/** The headers a choice sets upstream: its own, or the model it names. */
export function setChoiceHeaders(headers: ForwardRequest['headers'], choice: Choice): void {
  if (choice.headers) {
    for (const name in choice.headers) {
      const value = choice.headers[name];
      if (value === undefined) delete headers[name];
      else headers[name] = value;
    }
    return;
  }
  if (!choice.model) return;
  headers['x-model-id'] = choice.model.id;
  // An unpinned version ('') lets the model server's default (its production alias) decide.
  if (choice.model.version) headers['x-model-version'] = choice.model.version;
  else delete headers['x-model-version'];
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

export function describeTarget(choice: Choice): string {
  const where =
    choice.target.kind === 'service' ? `service ${choice.target.service}` : `upstreams ${choice.target.name}`;
  return choice.model ? `${choice.model.id}@${choice.model.version} (${where})` : where;
}
