import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { isAimeshError, retryAfterOf } from '../kernel/errors.js';
import { errorBody, toHttpError } from '../kernel/http.js';
import type { IdSource } from '../kernel/ids.js';
import type { Logger } from '../kernel/logger.js';
import type { EventLog } from '../ports/event-log.js';
import type { RateLimitDecision } from '../ports/rate-limit-store.js';
import { parsePriority } from '../resilience/bulkhead.js';
import { isRepeatable } from '../resilience/retry.js';
import type { Authenticator, Principal } from './auth/principal.js';
import { CallerConnections } from './proxy/caller-connections.js';
import { type Choice, type Forwarder, type ForwardResult, GatewayRefusal } from './proxy/forwarder.js';
import type { GatewayMetrics } from './proxy/gateway-metrics.js';
import { childTraceparent, type RandomHexPool } from './proxy/trace-context.js';
import { type ExchangeSink, isHopByHopRequestHeader, UpstreamError } from './proxy/upstream-client.js';
import { rateLimitedError, rateLimitHeaders } from './rate-limit/rate-limit-headers.js';
import { type RateLimiter, rateLimitSubject } from './rate-limit/rate-limiter.js';
import { type ModelChooser, modelRequest } from './routing/model-choice.js';
import { type CompiledRoute, type LazyBody, resolveTarget, upstreamPath } from './routing/route-table.js';
import type { ModelSelector } from './selection/model-selector.js';

/** What the traffic pipeline needs; every policy component is optional so each can be switched off. */
export interface PipelineDeps {
  routes: CompiledRoute[];
  authenticator?: Authenticator;
  /** When false, calls without credentials pass as anonymous. */
  authRequired: boolean;
  rateLimiter?: RateLimiter;
  chooser: ModelChooser;
  selector?: ModelSelector;
  forwarder: Forwarder;
  metrics: GatewayMetrics;
  events?: EventLog;
  logger: Logger;
  /** Span and trace ids for `traceparent`. */
  traceIds: RandomHexPool;
  /** Event ids: time-ordered, so the events table's primary key grows at its end. */
  eventIds: IdSource;
}

const METHODS = ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT', 'OPTIONS'] as const;
// Response fields that describe the upstream hop, not the message.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'proxy-connection',
  'upgrade',
  'trailer',
]);
const UNPARSED = Symbol('unparsed');

/** The traffic routes: one catch-all per configured path, each running the gateway pipeline. */
export function gatewayRoutes(deps: PipelineDeps): FastifyPluginAsync {
  return async (app) => {
    // The body is forwarded as it came; it is parsed only when routing or selection must read it.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    const callers = new CallerConnections();
    const bodyLimit = app.initialConfig.bodyLimit ?? 1024 * 1024;
    for (const route of deps.routes) {
      const handler = (request: FastifyRequest, reply: FastifyReply) =>
        handle(deps, callers, route, request, reply);
      const urls = route.subtree
        ? [`${route.prefix}/*`, ...(route.prefix ? [route.prefix] : [])]
        : [route.prefix];
      for (const url of urls) {
        app.route({
          method: [...METHODS],
          url,
          exposeHeadRoute: false,
          schema: { hide: true },
          // The fallback when another module's routes share the prefix (see TrafficRoutes).
          config: { traffic: route.subtree },
          handler,
        });
      }
      // Calls through the gateway skip Fastify's per-request machinery: read the body, handle.
      if (route.subtree) {
        app.traffic.add(route.prefix, (req, res, id) => {
          if (!TRAFFIC_METHODS.has(req.method ?? '')) {
            const path = (req.url ?? '/').split('?')[0];
            new TrafficReply(res)
              .status(404)
              .send(errorBody('not_found', `no route for ${req.method} ${path}`));
            return;
          }
          readBody(req, res, bodyLimit, (body) =>
            handle(deps, callers, route, new TrafficRequest(req, id, body), new TrafficReply(res)),
          );
        });
      }
    }
  };
}

const TRAFFIC_METHODS = new Set<string>(METHODS);

/** What the pipeline reads of a call: Fastify's request, or the traffic path's own. */
interface GatewayRequest {
  readonly id: string;
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: unknown;
  readonly ip: string | undefined;
  readonly query: unknown;
  readonly raw: IncomingMessage;
}

/** What the pipeline does with an answer: Fastify's reply, or the traffic path's own. */
interface GatewayReply {
  readonly raw: ServerResponse;
  hijack(): void;
  header(name: string, value: string): unknown;
  headers(values: Record<string, string | number>): unknown;
  status(code: number): { send(body: unknown): unknown };
}

/** A call taken from Node's server directly: the same fields Fastify's request would give. */
class TrafficRequest implements GatewayRequest {
  private parsedQuery: Record<string, string | string[]> | undefined;

  constructor(
    readonly raw: IncomingMessage,
    readonly id: string,
    readonly body: Buffer | undefined,
  ) {}

  get method(): string {
    return this.raw.method ?? 'GET';
  }

  get url(): string {
    return this.raw.url ?? '/';
  }

  get headers(): IncomingHttpHeaders {
    return this.raw.headers;
  }

  get ip(): string | undefined {
    return this.raw.socket.remoteAddress;
  }

  /** The query string as Fastify parses it (a repeated key gives an array); read only when needed. */
  get query(): Record<string, string | string[]> {
    if (this.parsedQuery) return this.parsedQuery;
    const parsed: Record<string, string | string[]> = {};
    const url = this.url;
    const at = url.indexOf('?');
    if (at >= 0) {
      for (const [key, value] of new URLSearchParams(url.slice(at + 1))) {
        const seen = parsed[key];
        parsed[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
      }
    }
    this.parsedQuery = parsed;
    return parsed;
  }
}

/** An answer written straight to Node's response: headers gathered, then JSON or a relay. */
class TrafficReply implements GatewayReply {
  private readonly extra: Record<string, string | number> = {};
  private code = 200;

  constructor(readonly raw: ServerResponse) {}

  hijack(): void {}

  header(name: string, value: string): this {
    this.extra[name] = value;
    return this;
  }

  headers(values: Record<string, string | number>): this {
    Object.assign(this.extra, values);
    return this;
  }

  status(code: number): this {
    this.code = code;
    return this;
  }

  send(body: unknown): void {
    const text = JSON.stringify(body);
    this.raw.writeHead(this.code, {
      ...this.extra,
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    });
    this.raw.end(text);
  }
}

/**
 * Reads a request body of at most `limit` bytes, then calls `done` (undefined when empty); a
 * larger one is refused with 413 as Fastify would, an aborted one ends the exchange.
 */
function readBody(
  req: IncomingMessage,
  res: ServerResponse,
  limit: number,
  done: (body: Buffer | undefined) => void,
): void {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    tooLarge(req, res, limit);
    return;
  }
  if (declared === 0 && req.headers['transfer-encoding'] === undefined) {
    // No body to wait for; still let the message finish so the connection can be reused.
    req.resume();
    done(undefined);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) {
      req.removeAllListeners('data');
      req.removeAllListeners('end');
      tooLarge(req, res, limit);
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () =>
    done(chunks.length === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)),
  );
  req.on('error', () => res.destroy());
}

function tooLarge(req: IncomingMessage, res: ServerResponse, limit: number): void {
  req.resume();
  new TrafficReply(res)
    .header('connection', 'close')
    .status(413)
    .send(errorBody('payload_too_large', `Request body is too large (the limit is ${limit} bytes)`));
}

function hasCredentials(headers: IncomingHttpHeaders): boolean {
  return headers['x-api-key'] !== undefined || headers.authorization !== undefined;
}

async function handle(
  deps: PipelineDeps,
  callers: CallerConnections,
  route: CompiledRoute,
  request: GatewayRequest,
  reply: GatewayReply,
) {
  const started = performance.now();
  const headers = request.headers;
  let principal: Principal | undefined;
  let choices: Choice[] | undefined;
  // Its headers go on every answer, written with the others rather than through the reply.
  let decision: RateLimitDecision | undefined;
  try {
    if (deps.authenticator && (deps.authRequired || hasCredentials(headers))) {
      const authenticated = deps.authenticator.authenticate(headers);
      principal = authenticated instanceof Promise ? await authenticated : authenticated;
    }
    if (deps.rateLimiter) {
      const url = request.url;
      const query = url.indexOf('?');
      const checked = deps.rateLimiter.check(
        rateLimitSubject(principal),
        query < 0 ? url : url.slice(0, query),
      );
      decision = checked instanceof Promise ? await checked : checked;
      if (decision && !decision.allowed) throw rateLimitedError(decision);
    }
    const raw = request.body as Buffer | undefined;
    const body = new JsonBody(raw, headers['content-type']);
    const target = resolveTarget(route, headers, body);
    choices = route.modelAware
      ? deps.chooser.choose(
          modelRequest(headers, request.url, body, request.query as Record<string, unknown>),
          principal,
          target,
        )
      : [{ target }];
    const caller = callers.of(request.raw.socket);
    const result = await deps.forwarder.forward({
      method: request.method,
      path: upstreamPath(route, request.url),
      headers: upstreamHeaders(request, principal, deps.traceIds),
      headersClean: true,
      body: raw && raw.length > 0 ? raw : undefined,
      repeatable: isRepeatable(request.method, headers),
      priority: parsePriority(headers['x-priority']),
      policy: route.policy,
      signal: caller.signal,
      caller,
      choices,
    });
    relay(deps, route, request, reply, result, principal, started, choices[0].model?.id, decision);
  } catch (error) {
    if (decision) reply.headers(rateLimitHeaders(decision));
    fail(deps, route, request, reply, error, principal, choices, started);
  }
}

/** The request body as JSON, parsed on first read (routing and selection may not need it). */
class JsonBody implements LazyBody {
  private parsed: unknown = UNPARSED;
  constructor(
    private readonly raw: Buffer | undefined,
    private readonly contentType: string | undefined,
  ) {}

  value(): unknown {
    if (this.parsed === UNPARSED) this.parsed = parseJson(this.raw, this.contentType);
    return this.parsed;
  }
}

function parseJson(raw: Buffer | undefined, contentType: string | undefined): unknown {
  if (!raw || raw.length === 0 || (contentType && !contentType.includes('json'))) return undefined;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}

// The gateway terminates the caller's credentials (upstreams learn who called from X-Aimesh-User)
// and decides the model itself.
const NOT_FORWARDED = new Set([
  'x-api-key',
  'authorization',
  'x-model-id',
  'x-model-version',
  'x-aimesh-user',
]);

/** The headers for the upstream, built in one pass (hop-by-hop ones dropped here, not again in the client). */
function upstreamHeaders(
  request: GatewayRequest,
  principal: Principal | undefined,
  traceIds: RandomHexPool,
): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  const incoming = request.headers;
  for (const name in incoming) {
    if (NOT_FORWARDED.has(name) || isHopByHopRequestHeader(name)) continue;
    out[name] = incoming[name];
  }
  if (principal) out['x-aimesh-user'] = principal.id;
  out['x-request-id'] = request.id;
  out.traceparent = childTraceparent(incoming.traceparent, traceIds);
  const forwarded = request.headers['x-forwarded-for'];
  out['x-forwarded-for'] = forwarded ? `${forwarded}, ${request.ip}` : request.ip;
  if (request.headers.host) out['x-forwarded-host'] = request.headers.host;
  return out;
}

// Hundredths of a millisecond, rounded as numbers (a third cheaper than toFixed, per call).
function serverTiming(totalMs: number, upstreamMs: number): string {
  return `gateway;dur=${Math.round(Math.max(0, totalMs - upstreamMs) * 100) / 100}, upstream;dur=${Math.round(upstreamMs * 100) / 100}`;
}

function relay(
  deps: PipelineDeps,
  route: CompiledRoute,
  request: GatewayRequest,
  reply: GatewayReply,
  result: ForwardResult,
  principal: Principal | undefined,
  started: number,
  firstModel: string | undefined,
  decision: RateLimitDecision | undefined,
): void {
  const { response, choice, choiceIndex, endpoint, upstreamMs } = result;
  const out: Record<string, string | string[] | number> = {};
  if (decision) {
    out['ratelimit-limit'] = decision.limit;
    out['ratelimit-remaining'] = decision.remaining;
    out['ratelimit-reset'] = Math.ceil(decision.resetMs / 1000);
  }
  for (const name in response.headers) {
    const value = response.headers[name];
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  const model = choice.model;
  if (model) {
    out['x-model-id'] = model.id;
    // Unpinned: the upstream's own X-Model-Version (already copied) names what served the call.
    if (model.version) out['x-model-version'] = model.version;
    // Degraded: say which model was passed over, so callers can tell.
    if (choiceIndex > 0) out['x-model-fallback'] = firstModel ?? 'true';
  }
  out['x-request-id'] = request.id;
  const headersMs = performance.now() - started;
  out['server-timing'] = serverTiming(headersMs, upstreamMs);
  const status = response.status;
  const modelId = model?.id ?? '';
  deps.metrics.observe(route.name, modelId, endpoint.id, status, headersMs / 1000);
  if (model && choiceIndex > 0) deps.metrics.fellBack(model.id);
  if (model) deps.selector?.observe(model.id, upstreamMs, status < 500);
  reply.hijack();
  const res = reply.raw;
  res.writeHead(status, out);
  // The body goes from undici's parser straight into the response: no stream, pipe or listener
  // per call here; the call is told once when the body is through (or failed) and records it.
  response.relay(
    res,
    new RelayedCall(
      deps,
      request,
      route,
      principal,
      model,
      endpoint.id,
      status,
      started,
      model?.version ? undefined : firstHeader(response.headers['x-model-version']),
    ),
  );
}

/** One relayed answer: when its body is through (or failed, or the caller left), records its event. */
class RelayedCall implements ExchangeSink {
  constructor(
    private readonly deps: PipelineDeps,
    private readonly request: GatewayRequest,
    private readonly route: CompiledRoute,
    private readonly principal: Principal | undefined,
    private readonly model: Choice['model'],
    private readonly endpointId: string,
    private readonly status: number,
    private readonly started: number,
    private readonly servedVersion: string | undefined,
  ) {}

  relayEnded(error: Error | undefined): void {
    if (!this.deps.events) return;
    record(
      this.deps,
      this.request,
      this.route,
      this.principal,
      this.model,
      this.endpointId,
      this.status,
      performance.now() - this.started,
      !error && this.status < 500,
      error?.message,
      this.servedVersion,
    );
  }
}

function record(
  deps: PipelineDeps,
  request: GatewayRequest,
  route: CompiledRoute,
  principal: Principal | undefined,
  model: Choice['model'],
  upstream: string | undefined,
  status: number,
  latencyMs: number,
  ok: boolean,
  error?: string,
  servedVersion?: string,
): void {
  // One shape for both outcomes (error undefined when it went well): no spread per call.
  const data = {
    modelId: model?.id ?? routeTargetName(route),
    modelVersion: model?.version || servedVersion,
    cost: model?.cost,
    latencyMs: Math.round(latencyMs * 100) / 100,
    userId: principal?.id,
    keyId: principal?.keyId,
    status,
    route: route.name,
    upstream,
    error: ok ? undefined : (error ?? `upstream answered ${status}`),
  };
  deps.events?.enqueue({
    // An id from the pooled randomness: the store would otherwise draw fresh bytes per event.
    id: deps.eventIds.next(),
    type: ok ? 'ai.inference.completed' : 'ai.inference.failed',
    source: 'aimesh/gateway',
    correlationid: request.id,
    data,
  });
}

function routeTargetName(route: CompiledRoute): string {
  return route.target.kind === 'service' ? route.target.service : route.target.name;
}

function fail(
  deps: PipelineDeps,
  route: CompiledRoute,
  request: GatewayRequest,
  reply: GatewayReply,
  error: unknown,
  principal: Principal | undefined,
  choices: Choice[] | undefined,
  started: number,
): void {
  const { status, body } = toHttpError(error);
  if (status >= 500 && !isAimeshError(error))
    deps.logger.error({ err: error, reqId: request.id }, 'gateway call failed');
  if (error instanceof GatewayRefusal && error.retryAfterMs !== undefined) {
    reply.header('retry-after', String(Math.max(1, Math.ceil(error.retryAfterMs / 1000))));
  } else {
    const retryAfter = retryAfterOf(error);
    if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
  }
  if (error instanceof UpstreamError && error.kind === 'aborted') {
    // The caller went away: nobody reads this answer.
    reply.raw.destroy();
    return;
  }
  const totalMs = performance.now() - started;
  reply.header('server-timing', serverTiming(totalMs, 0));
  reply.header('x-request-id', request.id);
  const model = choices?.[0]?.model;
  const proxied = choices !== undefined;
  deps.metrics.observe(
    route.name,
    model?.id ?? '',
    error instanceof UpstreamError ? error.target : '',
    status,
    totalMs / 1000,
  );
  if (proxied && deps.events) {
    record(
      deps,
      request,
      route,
      principal,
      model,
      error instanceof UpstreamError ? error.target : undefined,
      status,
      totalMs,
      false,
      (error as Error).message,
    );
  }
  void reply.status(status).send(body.error ? body : errorBody('internal_error', 'internal error'));
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
