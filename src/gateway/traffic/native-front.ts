import type { IncomingHttpHeaders } from 'node:http';
import { parsePriority } from '../../resilience/bulkhead.js';
import { isRepeatable } from '../../resilience/retry.js';
import type { CallFront, GatewayCall } from '../pipeline/gateway-call.js';
import type { CallerConnection } from '../proxy/caller-connections.js';
import type { Choice, ForwardRequest } from '../proxy/forwarder.js';
import { childTraceparent, type RandomHexPool } from '../proxy/trace-context.js';
import { isHopByHopRequestHeader, type UpstreamExchange } from '../proxy/upstream-client.js';
import { type ModelChooser, modelRequest } from '../routing/model-choice.js';
import type { ModelTypes } from '../routing/model-types.js';
import { type CompiledRoute, resolveTarget, upstreamPath } from '../routing/route-table.js';
import type { ModelSelector } from '../selection/model-selector.js';
import { TRAFFIC_METHODS, type TrafficEntry } from './traffic-routes.js';

export interface NativeFrontOptions {
  chooser: ModelChooser;
  /** Types of models named by id, so access rules by type apply to them too. */
  types?: ModelTypes;
  selector?: ModelSelector;
  /** Span and trace ids for `traceparent`. */
  traceIds: RandomHexPool;
  /**
   * The platform's service token: a call of an authenticated caller goes upstream with it, plus
   * who the caller is (`X-Aimesh-Actor`) and what it may do (`X-Aimesh-Roles`), so the platform
   * service behind the route grants the caller's rights, not the gateway's.
   */
  serviceToken?: string;
}

// Response fields that describe the upstream hop, not the message.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'proxy-connection',
  'upgrade',
  'trailer',
]);

// The gateway terminates the caller's credentials (upstreams learn who called from X-Aimesh-User)
// and decides the model itself.
const NOT_FORWARDED = new Set([
  'x-api-key',
  'authorization',
  'x-model-id',
  'x-model-version',
  'x-aimesh-user',
  'x-aimesh-actor',
  'x-aimesh-roles',
]);

const NO_QUERY: Record<string, string | string[]> = Object.freeze({}) as Record<string, string | string[]>;

/**
 * One configured route of the native traffic path: its target (or a content rule's), the model
 * a model-aware route chooses, the caller's request passed on nearly whole, the upstream's answer
 * relayed with its headers.
 */
export class NativeFront implements CallFront {
  readonly name = 'native';
  readonly route: string;
  readonly credentialsRequired = false;

  constructor(
    private readonly r: CompiledRoute,
    private readonly o: NativeFrontOptions,
  ) {
    this.route = r.name;
  }

  async choose(call: GatewayCall): Promise<Choice[]> {
    const headers = call.req.headers;
    const target = resolveTarget(this.r, headers, call);
    if (!this.r.modelAware) return [{ target }];
    const request = modelRequest(headers, call.url, call, queryOf(call.url));
    // A model named without a type: its type from the catalogue or the registry, for the rules.
    if (request.id !== undefined && request.type === undefined && this.o.types) {
      request.resolvedType = await this.o.types.typeOf(request.id);
    }
    return this.o.chooser.choose(request, call.principal, target);
  }

  forwardRequest(call: GatewayCall, caller: CallerConnection): ForwardRequest {
    const method = call.req.method ?? 'GET';
    const headers = call.req.headers;
    return {
      method,
      path: upstreamPath(this.r, call.url),
      headers: upstreamHeaders(call, this.o.traceIds, this.o.serviceToken),
      headersClean: true,
      body: call.body && call.body.length > 0 ? call.body : undefined,
      repeatable: isRepeatable(method, headers),
      priority: parsePriority(headers['x-priority']),
      policy: this.r.policy,
      signal: caller.signal,
      caller,
      choices: call.choices!,
    };
  }

  answerHeaders(
    _call: GatewayCall,
    response: UpstreamExchange,
    out: Record<string, string | string[] | number>,
  ): void {
    for (const name in response.headers) {
      const value = response.headers[name];
      if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
    }
  }

  finished(call: GatewayCall): void {
    const answer = call.answer;
    const model = answer?.choice.model;
    if (answer && model) this.o.selector?.observe(model.id, answer.upstreamMs, call.status < 500);
  }
}

/** The headers for the upstream, built in one pass (hop-by-hop ones dropped here, not again in the client). */
function upstreamHeaders(
  call: GatewayCall,
  traceIds: RandomHexPool,
  serviceToken: string | undefined,
): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  const incoming: IncomingHttpHeaders = call.req.headers;
  for (const name in incoming) {
    if (NOT_FORWARDED.has(name) || isHopByHopRequestHeader(name)) continue;
    out[name] = incoming[name];
  }
  const principal = call.principal;
  if (principal) {
    out['x-aimesh-user'] = principal.id;
    if (serviceToken) {
      out.authorization = `Bearer ${serviceToken}`;
      out['x-aimesh-actor'] = principal.id;
      out['x-aimesh-roles'] = principal.roles.join(',');
    }
  }
  out['x-request-id'] = call.id;
  out.traceparent = childTraceparent(incoming.traceparent, traceIds);
  const ip = call.req.socket.remoteAddress;
  const forwarded = incoming['x-forwarded-for'];
  out['x-forwarded-for'] = forwarded ? `${forwarded}, ${ip}` : ip;
  if (incoming.host) out['x-forwarded-host'] = incoming.host;
  return out;
}

/** The query string as Fastify parses it (a repeated key gives an array). */
function queryOf(url: string): Record<string, string | string[]> {
  const at = url.indexOf('?');
  if (at < 0) return NO_QUERY;
  const parsed: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(url.slice(at + 1))) {
    const seen = parsed[key];
    parsed[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return parsed;
}

/** The native traffic path: each configured route as a path of the gateway pipeline. */
export function nativeTraffic(routes: readonly CompiledRoute[], options: NativeFrontOptions): TrafficEntry[] {
  return routes.map((route) => ({
    path: route.prefix,
    subtree: route.subtree,
    methods: TRAFFIC_METHODS,
    front: new NativeFront(route, options),
  }));
}
