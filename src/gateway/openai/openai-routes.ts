import { pipeline } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import type { Clock } from '../../kernel/clock.js';
import { type AimeshError, badRequest, isAimeshError } from '../../kernel/errors.js';
import type { AccessPolicy, Authenticator, Principal } from '../auth/principal.js';
import type { UpstreamClient } from '../proxy/upstream-client.js';
import { enforceRateLimit } from '../rate-limit/rate-limit-headers.js';
import { type RateLimiter, rateLimitSubject } from '../rate-limit/rate-limiter.js';
import type { TokenQuota } from '../rate-limit/token-quota.js';
import type { OpenAiConfig } from './config.js';
import { OpenAiCatalogue } from './openai-catalogue.js';
import { forwardWithFallbacks } from './openai-forwarder.js';
import { OpenAiMetrics } from './openai-metrics.js';
import { SseUsageTap } from './sse-usage-tap.js';

const ChatBody = Type.Object(
  {
    model: Type.String({ minLength: 1 }),
    messages: Type.Array(Type.Object({}, { additionalProperties: true }), { minItems: 1 }),
    stream: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: true, description: 'An OpenAI chat completion request.' },
);
const EmbeddingsBody = Type.Object(
  {
    model: Type.String({ minLength: 1 }),
    input: Type.Union([Type.String(), Type.Array(Type.Unknown(), { minItems: 1 })]),
  },
  { additionalProperties: true, description: 'An OpenAI embeddings request.' },
);

/** One finished call, for events, metrics and model statistics. */
export interface OpenAiCallOutcome {
  requestId: string;
  principal: Principal;
  requestedModel: string;
  /** The model that answered (differs from `requestedModel` after a fallback). */
  servedModel?: string;
  upstream?: string;
  status: number;
  latencyMs: number;
  stream: boolean;
  totalTokens?: number;
  error?: string;
}

/** What the OpenAI-compatible front needs; every collaborator is passed in. */
export interface OpenAiRoutesDeps {
  config: OpenAiConfig;
  client: UpstreamClient;
  authenticator: Authenticator;
  access: AccessPolicy;
  clock: Clock;
  limiter?: RateLimiter;
  quota?: TokenQuota;
  metrics?: Registry;
  /** Called once per call after the response has been handed over (off the hot path for the caller). */
  onCompleted?: (outcome: OpenAiCallOutcome) => void;
}

/**
 * The OpenAI-compatible front; register with prefix `/v1`. Authentication, model access rules,
 * rate limits and the daily token quota apply as on every gateway route; each model is served by
 * its upstream, then by its fallbacks in order. Streams (`stream: true`) pass through unbuffered.
 */
export function openAiRoutes(deps: OpenAiRoutesDeps): FastifyPluginAsync {
  const catalogue = new OpenAiCatalogue(deps.config);
  const metrics = deps.metrics ? new OpenAiMetrics(deps.metrics) : undefined;
  // Weak: an outcome is forgotten with its request, so this never grows.
  const finished = new WeakSet<OpenAiCallOutcome>();

  return async (app) => {
    const tags = ['openai'];
    const security: Record<string, string[]>[] = [{ apiKey: [] }, { bearer: [] }];

    app.get(
      '/models',
      { schema: { tags, security, summary: 'Models the caller may use' } },
      async (request, reply) => {
        const principal = await deps.authenticator.authenticate(request.headers);
        if (deps.limiter)
          enforceRateLimit(reply, await deps.limiter.check(rateLimitSubject(principal), request.url));
        const data = catalogue
          .list()
          .filter((m) => allowed(deps.access, principal, m))
          .map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: m.upstream }));
        return { object: 'list', data };
      },
    );

    app.post(
      '/chat/completions',
      { schema: { tags, security, summary: 'Chat completion (stream: true for SSE)', body: ChatBody } },
      (request, reply) => serve(request, reply, 'chat', '/chat/completions'),
    );
    app.post(
      '/embeddings',
      { schema: { tags, security, summary: 'Embeddings', body: EmbeddingsBody } },
      (request, reply) => serve(request, reply, 'embedding', '/embeddings'),
    );
  };

  async function serve(
    request: FastifyRequest,
    reply: FastifyReply,
    type: 'chat' | 'embedding',
    path: string,
  ) {
    const started = deps.clock.now();
    const body = request.body as Record<string, unknown> & { model: string; stream?: boolean };
    const principal = await deps.authenticator.authenticate(request.headers);
    const subject = rateLimitSubject(principal);
    if (deps.limiter) enforceRateLimit(reply, await deps.limiter.check(subject, request.url));
    const model = catalogue.get(body.model);
    if (model.type !== type) {
      throw badRequest('wrong_model_type', `model '${model.id}' serves ${model.type}, not ${type}`);
    }
    deps.access.assertModelAllowed(principal, { id: model.id, type: model.type });
    if (deps.quota) await quotaOrRetryAfter(deps.quota, subject, reply);
    const chain = catalogue.chain(model.id).filter((r) => allowed(deps.access, principal, r.model));
    const outcome: OpenAiCallOutcome = {
      requestId: request.id,
      principal,
      requestedModel: model.id,
      status: 502,
      latencyMs: 0,
      stream: body.stream === true,
    };
    try {
      const abort = new AbortController();
      request.raw.once('close', () => {
        if (!reply.raw.writableFinished) abort.abort();
      });
      const result = await forwardWithFallbacks(deps.client, chain, {
        path,
        body: deps.quota && body.stream === true ? withStreamUsage(body) : body,
        headers: forwardedHeaders(request),
        signal: abort.signal,
      });
      const { response, route } = result;
      outcome.servedModel = route.model.id;
      outcome.upstream = route.upstream.name;
      outcome.status = response.status;
      reply.status(response.status);
      reply.header('x-model-id', route.model.id);
      reply.header('x-request-id', request.id);
      if (route.model.id !== model.id) {
        reply.header('x-model-fallback', model.id);
        metrics?.fellBack(model.id, route.model.id);
      }
      const contentType = String(response.headers['content-type'] ?? 'application/json');
      reply.header('content-type', contentType);
      if (contentType.startsWith('text/event-stream')) {
        // Tell any proxy in front of us not to buffer the stream either.
        reply.header('cache-control', 'no-cache');
        reply.header('x-accel-buffering', 'no');
        if (!deps.quota && !deps.onCompleted) return reply.send(response.body);
        const tap = new SseUsageTap();
        // pipeline destroys the upstream body when the caller goes away, and the reverse.
        pipeline(response.body, tap, () => {});
        tap.once('close', () => {
          outcome.totalTokens = tap.totalTokens;
          if (deps.quota && tap.totalTokens) charge(deps.quota, subject, tap.totalTokens);
          finish(outcome, started);
        });
        return reply.send(tap);
      }
      if (!deps.quota && !deps.onCompleted) return reply.send(response.body);
      // Small JSON answers: read once to learn the token usage, then send the same bytes.
      const bytes = await readAll(response.body);
      outcome.totalTokens = usageOf(bytes);
      if (deps.quota && outcome.totalTokens) charge(deps.quota, subject, outcome.totalTokens);
      finish(outcome, started);
      return reply.send(bytes);
    } catch (error) {
      outcome.error = (error as Error).message;
      if (isAimeshError(error)) outcome.status = error.status;
      finish(outcome, started);
      throw error;
    }
  }

  /** Charges usage without holding the response; a store failure is counted, the call already happened. */
  function charge(quota: TokenQuota, subject: string, tokens: number) {
    quota.charge(subject, tokens).catch(() => metrics?.chargeFailed());
  }

  function finish(outcome: OpenAiCallOutcome, started: number) {
    if (finished.has(outcome)) return;
    finished.add(outcome);
    outcome.latencyMs = deps.clock.now() - started;
    metrics?.completed(outcome);
    deps.onCompleted?.(outcome);
  }
}

function allowed(access: AccessPolicy, principal: Principal, model: { id: string; type: string }): boolean {
  try {
    access.assertModelAllowed(principal, model);
    return true;
  } catch {
    return false;
  }
}

async function quotaOrRetryAfter(quota: TokenQuota, subject: string, reply: FastifyReply) {
  try {
    await quota.assertAvailable(subject);
  } catch (error) {
    const details = (error as AimeshError).details as { retryAfterSeconds?: number } | undefined;
    if (details?.retryAfterSeconds) reply.header('retry-after', String(details.retryAfterSeconds));
    throw error;
  }
}

/** End-to-end headers worth passing on; the caller's credentials are not among them. */
function forwardedHeaders(request: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = { 'x-request-id': request.id };
  const accept = request.headers.accept;
  if (typeof accept === 'string') out.accept = accept;
  const traceparent = request.headers.traceparent;
  if (typeof traceparent === 'string') out.traceparent = traceparent;
  return out;
}

/** Asks the upstream to report usage at the end of a stream, so streamed tokens count towards the quota. */
function withStreamUsage(body: Record<string, unknown>): Record<string, unknown> {
  const options =
    typeof body.stream_options === 'object' && body.stream_options !== null ? body.stream_options : {};
  return { ...body, stream_options: { ...options, include_usage: true } };
}

async function readAll(body: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function usageOf(bytes: Buffer): number | undefined {
  try {
    const usage = (JSON.parse(bytes.toString('utf8')) as { usage?: { total_tokens?: unknown } }).usage;
    return typeof usage?.total_tokens === 'number' ? usage.total_tokens : undefined;
  } catch {
    return undefined;
  }
}
