import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { badRequest } from '../../kernel/errors.js';
import { parseJsonBody } from '../../kernel/request-input.js';
import { parsePriority } from '../../resilience/bulkhead.js';
import { isRepeatable } from '../../resilience/retry.js';
import type { AccessPolicy, Principal } from '../auth/principal.js';
import type { CallFront, GatewayCall } from '../pipeline/gateway-call.js';
import { TokenUsageReader } from '../pipeline/token-usage-reader.js';
import type { CallerConnection } from '../proxy/caller-connections.js';
import type { Choice, ForwardRequest } from '../proxy/forwarder.js';
import { childTraceparent, type RandomHexPool } from '../proxy/trace-context.js';
import type { UpstreamExchange } from '../proxy/upstream-client.js';
import { rateLimitSubject } from '../rate-limit/rate-limiter.js';
import type { TokenQuota } from '../rate-limit/token-quota.js';
import type { OpenAiCatalogue, OpenAiRoute } from './openai-catalogue.js';
import type { OpenAiMetrics } from './openai-metrics.js';

export const ChatBody = Type.Object(
  {
    model: Type.String({ minLength: 1 }),
    messages: Type.Array(Type.Object({}, { additionalProperties: true }), { minItems: 1 }),
    stream: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: true, description: 'An OpenAI chat completion request.' },
);
export const EmbeddingsBody = Type.Object(
  {
    model: Type.String({ minLength: 1 }),
    input: Type.Union([Type.String(), Type.Array(Type.Unknown(), { minItems: 1 })]),
  },
  { additionalProperties: true, description: 'An OpenAI embeddings request.' },
);
const checks = { chat: TypeCompiler.Compile(ChatBody), embedding: TypeCompiler.Compile(EmbeddingsBody) };

type OpenAiBody = Record<string, unknown> & { model: string; stream?: boolean };

/** What the OpenAI-compatible front needs besides the pipeline. */
export interface OpenAiFrontDeps {
  catalogue: OpenAiCatalogue;
  access: AccessPolicy;
  quota?: TokenQuota;
  metrics?: OpenAiMetrics;
  /** Breaker policy of the upstreams' breakers. */
  policy: string;
  traceIds: RandomHexPool;
}

/**
 * One endpoint of the OpenAI-compatible front (`/v1/chat/completions` or `/v1/embeddings`) on
 * the gateway pipeline: the body checked, the model named in it looked up with its fallback
 * chain (each step allowed to the caller), the daily token quota, then each step sent with its
 * own upstream model name and credentials — the caller's never leave the gateway — through the
 * breakers, bulkheads and retry budget. Answers (streams too) are relayed as they come, their
 * token usage read on the way.
 */
export class OpenAiFront implements CallFront {
  readonly name = 'openai';
  readonly credentialsRequired = true;

  constructor(
    /** The path callers use, e.g. `/v1/chat/completions`. */
    readonly route: string,
    private readonly type: 'chat' | 'embedding',
    /** The path under an upstream's base URL, e.g. `/chat/completions`. */
    private readonly upstreamPath: string,
    private readonly d: OpenAiFrontDeps,
  ) {}

  async choose(call: GatewayCall): Promise<Choice[]> {
    const body = this.parse(call);
    const { catalogue, access } = this.d;
    const model = catalogue.get(body.model);
    if (model.type !== this.type) {
      throw badRequest('wrong_model_type', `model '${model.id}' serves ${model.type}, not ${this.type}`);
    }
    const principal = call.principal as Principal;
    access.assertModelAllowed(principal, model);
    call.stream = body.stream === true;
    const rewriteUsage = this.d.quota !== undefined && call.stream;
    const choices: Choice[] = [];
    for (const step of catalogue.chain(model.id)) {
      if (choices.length > 0 && !allowed(access, principal, step)) continue;
      const same = step.upstreamModel === body.model && !rewriteUsage;
      choices.push({
        model: step.choiceModel,
        target: step.target,
        headers: step.headers,
        // The caller's bytes as they came where they name the upstream's model already.
        body: same ? undefined : () => upstreamBody(body, step, rewriteUsage),
      });
    }
    return choices;
  }

  async admit(call: GatewayCall): Promise<void> {
    if (this.d.quota) await this.d.quota.assertAvailable(rateLimitSubject(call.principal));
  }

  forwardRequest(call: GatewayCall, caller: CallerConnection): ForwardRequest {
    const incoming = call.req.headers;
    // End-to-end headers worth passing on; the caller's credentials are not among them.
    const headers: Record<string, string> = {
      'x-request-id': call.id,
      'content-type': 'application/json',
      traceparent: childTraceparent(incoming.traceparent, this.d.traceIds),
    };
    if (typeof incoming.accept === 'string') headers.accept = incoming.accept;
    return {
      method: 'POST',
      path: this.upstreamPath,
      headers,
      headersClean: true,
      body: call.body,
      repeatable: isRepeatable('POST', incoming),
      priority: parsePriority(incoming['x-priority']),
      policy: this.d.policy,
      signal: caller.signal,
      caller,
      choices: call.choices!,
      fallBackOnFailure: true,
    };
  }

  answerHeaders(
    call: GatewayCall,
    response: UpstreamExchange,
    out: Record<string, string | string[] | number>,
  ): void {
    const { headers } = response;
    const contentType = firstOf(headers['content-type']) ?? 'application/json';
    out['content-type'] = contentType;
    if (headers['content-length'] !== undefined) out['content-length'] = headers['content-length'];
    if (headers['content-encoding'] !== undefined) out['content-encoding'] = headers['content-encoding'];
    if (contentType.startsWith('text/event-stream')) {
      // Tell any proxy in front of us not to buffer the stream either.
      out['cache-control'] = 'no-cache';
      out['x-accel-buffering'] = 'no';
    }
    call.usage = new TokenUsageReader();
    const served = call.answer?.choice.model?.id;
    const requested = call.requestedModel;
    if (served && requested && served !== requested) this.d.metrics?.fellBack(requested, served);
  }

  finished(call: GatewayCall): void {
    // A call refused before it was sent on (credentials, limits, an unknown model) is no model's.
    if (!call.choices) return;
    const tokens = call.totalTokens;
    const { quota, metrics } = this.d;
    metrics?.completed({
      model: call.answer?.choice.model?.id ?? call.requestedModel ?? '',
      status: call.status,
      latencyMs: performance.now() - call.started,
      stream: call.stream,
      totalTokens: tokens,
    });
    // Charged without holding the response; a store failure is counted, the call already happened.
    if (quota && tokens && call.answer) {
      quota.charge(rateLimitSubject(call.principal), tokens).catch(() => metrics?.chargeFailed());
    }
  }

  /** The body as the endpoint's request; 400 when it is not JSON or not of its shape. */
  private parse(call: GatewayCall): OpenAiBody {
    // The platform's input rules: bounded nesting, storable strings, finite numbers.
    const body = parseJsonBody(call.body ?? Buffer.alloc(0));
    const check = checks[this.type];
    if (!check.Check(body)) {
      const first = check.Errors(body).First();
      throw badRequest('invalid_request', `body${first?.path ?? ''} ${first?.message ?? 'is not valid'}`);
    }
    call.parsed = body;
    return body as OpenAiBody;
  }
}

/** The body for one step: its upstream model name and, where the quota needs it, usage at a stream's end. */
function upstreamBody(body: OpenAiBody, step: OpenAiRoute, streamUsage: boolean): Buffer {
  const out: Record<string, unknown> = { ...body, model: step.upstreamModel };
  if (streamUsage) {
    const options =
      typeof body.stream_options === 'object' && body.stream_options !== null ? body.stream_options : {};
    out.stream_options = { ...options, include_usage: true };
  }
  return Buffer.from(JSON.stringify(out));
}

function allowed(access: AccessPolicy, principal: Principal, step: OpenAiRoute): boolean {
  try {
    access.assertModelAllowed(principal, step.model);
    return true;
  } catch {
    return false;
  }
}

function firstOf(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
