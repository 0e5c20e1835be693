import type { IncomingHttpHeaders } from 'node:http';
import { retryAfterOf as detailsRetryAfter, isAimeshError } from '../../kernel/errors.js';
import { errorBody, toHttpError } from '../../kernel/http.js';
import type { IdSource } from '../../kernel/ids.js';
import type { Logger } from '../../kernel/logger.js';
import type { EventLog } from '../../ports/event-log.js';
import type { Authenticator } from '../auth/principal.js';
import type { CallerConnections } from '../proxy/caller-connections.js';
import { type Forwarder, type ForwardResult, GatewayRefusal } from '../proxy/forwarder.js';
import type { GatewayMetrics } from '../proxy/gateway-metrics.js';
import { UpstreamError } from '../proxy/upstream-client.js';
import { rateLimitedError, rateLimitHeaders } from '../rate-limit/rate-limit-headers.js';
import { type RateLimiter, rateLimitSubject } from '../rate-limit/rate-limiter.js';
import { recordCall } from './call-event.js';
import { type CallFront, GatewayCall } from './gateway-call.js';
import { sendJson } from './send-json.js';

/** What the pipeline needs; every policy component is optional so each can be switched off. */
export interface PipelineDeps {
  authenticator?: Authenticator;
  /** When false, calls without credentials pass as anonymous (on fronts that allow it). */
  authRequired: boolean;
  rateLimiter?: RateLimiter;
  forwarder: Forwarder;
  metrics: GatewayMetrics;
  /** Where calls are recorded; none, and they are not. */
  events?: EventLog;
  logger: Logger;
  /** Event ids: time-ordered, so the events table's primary key grows at its end. */
  eventIds: IdSource;
}

/**
 * The gateway's one pipeline, for both fronts: authenticate → rate limit → choose (access rules
 * applied to each model) → admit (quota) → forward (breakers, retry within budget, bulkheads,
 * fallbacks) → relay → record. A front supplies what differs: choosing, the upstream request,
 * the answer's headers.
 */
export class GatewayPipeline {
  private readonly callers: CallerConnections;
  private readonly relayEnded = (call: GatewayCall, error: Error | undefined) => this.finish(call, error);

  constructor(
    private readonly d: PipelineDeps,
    callers: CallerConnections,
  ) {
    this.callers = callers;
  }

  /** A call of `front`, ready to run. */
  call(
    front: CallFront,
    id: string,
    req: GatewayCall['req'],
    res: GatewayCall['res'],
    body: Buffer | undefined,
  ): GatewayCall {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    return new GatewayCall(
      front,
      id,
      req,
      res,
      url,
      query < 0 ? url : url.slice(0, query),
      body,
      this.relayEnded,
    );
  }

  /** Runs one call through every stage; answers and records it, never rejects. */
  async run(call: GatewayCall): Promise<void> {
    const { front } = call;
    try {
      await this.authenticate(call);
      await this.limit(call);
      const choices = await front.choose(call);
      if (front.admit) await front.admit(call);
      call.choices = choices;
      const result = await this.d.forwarder.forward(
        front.forwardRequest(call, this.callers.of(call.req.socket)),
      );
      this.relay(call, result);
    } catch (error) {
      this.fail(call, error);
    }
  }

  private async authenticate(call: GatewayCall): Promise<void> {
    const { authenticator } = this.d;
    if (!authenticator) return;
    if (call.front.credentialsRequired || this.d.authRequired || hasCredentials(call.req.headers)) {
      call.principal = await authenticator.authenticate(call.req.headers);
    }
  }

  private async limit(call: GatewayCall): Promise<void> {
    const { rateLimiter } = this.d;
    if (!rateLimiter) return;
    call.decision = await rateLimiter.check(rateLimitSubject(call.principal), call.path);
    if (call.decision && !call.decision.allowed) throw rateLimitedError(call.decision);
  }

  /** Writes the answer's head and relays its body; the call is recorded when the body is through. */
  private relay(call: GatewayCall, result: ForwardResult): void {
    const { response, choice, choiceIndex, endpoint, upstreamMs } = result;
    call.answer = result;
    call.status = response.status;
    const out: Record<string, string | string[] | number> = {};
    const decision = call.decision;
    if (decision) {
      out['ratelimit-limit'] = decision.limit;
      out['ratelimit-remaining'] = decision.remaining;
      out['ratelimit-reset'] = Math.ceil(decision.resetMs / 1000);
    }
    call.front.answerHeaders(call, response, out);
    const model = choice.model;
    if (model) {
      out['x-model-id'] = model.id;
      // Unpinned: the upstream's own X-Model-Version (copied by the front) names what served the call.
      if (model.version) out['x-model-version'] = model.version;
      else call.servedVersion = firstHeader(response.headers['x-model-version']);
      // Degraded: say which model was passed over, so callers can tell.
      if (choiceIndex > 0) {
        out['x-model-fallback'] = call.requestedModel ?? 'true';
        this.d.metrics.fellBack(model.id);
      }
    }
    out['x-request-id'] = call.id;
    call.headersMs = performance.now() - call.started;
    out['server-timing'] = serverTiming(call.headersMs, upstreamMs);
    this.d.metrics.observe(
      call.front.route,
      model?.id ?? '',
      endpoint.id,
      call.status,
      call.headersMs / 1000,
    );
    call.res.writeHead(call.status, out);
    // The body goes from undici's parser straight into the response: no stream, pipe or listener
    // per call here; the call is told once when the body is through (or failed) and records it.
    response.relay(call.res, call, call.usage);
  }

  /** The relayed body is through, or broke off. */
  private finish(call: GatewayCall, error: Error | undefined): void {
    call.front.finished?.(call);
    if (this.d.events)
      recordCall(this.d.events, this.d.eventIds, call, call.answer?.endpoint.id, error?.message);
  }

  /** Answers a call that failed before an answer was relayed, and records it when it had been sent on. */
  private fail(call: GatewayCall, error: unknown): void {
    const { status, body } = toHttpError(error);
    if (status >= 500 && !isAimeshError(error))
      this.d.logger.error({ err: error, reqId: call.id }, 'gateway call failed');
    if (error instanceof UpstreamError && error.kind === 'aborted') {
      // The caller went away: nobody reads this answer.
      call.res.destroy();
      call.status = 499;
      this.ended(call, error);
      return;
    }
    const headers: Record<string, string | number> = {};
    if (call.decision) Object.assign(headers, rateLimitHeaders(call.decision));
    const retryAfter = retryAfterOf(error);
    if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
    const totalMs = performance.now() - call.started;
    call.status = status;
    call.headersMs = totalMs;
    headers['server-timing'] = serverTiming(totalMs, 0);
    headers['x-request-id'] = call.id;
    const upstream = error instanceof UpstreamError ? error.target : '';
    this.d.metrics.observe(call.front.route, call.requestedModel ?? '', upstream, status, totalMs / 1000);
    sendJson(call.res, status, headers, body.error ? body : errorBody('internal_error', 'internal error'));
    this.ended(call, error);
  }

  private ended(call: GatewayCall, error: unknown): void {
    call.front.finished?.(call);
    if (call.choices !== undefined && this.d.events) {
      const upstream = error instanceof UpstreamError ? error.target : undefined;
      recordCall(this.d.events, this.d.eventIds, call, upstream, (error as Error).message);
    }
  }
}

function hasCredentials(headers: IncomingHttpHeaders): boolean {
  return headers['x-api-key'] !== undefined || headers.authorization !== undefined;
}

/** Retry-After in seconds for a refusal that says when to come back. */
function retryAfterOf(error: unknown): string | undefined {
  if (error instanceof GatewayRefusal && error.retryAfterMs !== undefined) {
    return String(Math.max(1, Math.ceil(error.retryAfterMs / 1000)));
  }
  const seconds = detailsRetryAfter(error);
  return seconds === undefined ? undefined : String(seconds);
}

// Hundredths of a millisecond, rounded as numbers (a third cheaper than toFixed, per call).
function serverTiming(totalMs: number, upstreamMs: number): string {
  return `gateway;dur=${Math.round(Math.max(0, totalMs - upstreamMs) * 100) / 100}, upstream;dur=${Math.round(upstreamMs * 100) / 100}`;
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
