import { type AimeshError, badRequest, isAimeshError, unprocessable } from '../../kernel/errors.js';
import type { Random } from '../../kernel/random.js';
import type { AccessPolicy, Principal } from '../auth/principal.js';
import type { Choice } from '../proxy/forwarder.js';
import type { ModelSelector } from '../selection/model-selector.js';
import { parseSelectionConstraints } from '../selection/selection-constraints.js';
import { type LazyBody, pickWeighted, type RouteTarget } from './route-table.js';

/** What a model-aware call asked for. */
export interface ModelRequest {
  /** `X-Model-Type` or the body's `modelType`. */
  type?: string;
  /**
   * The model the call will reach: the name in `/v2/models/<name>/...`, else `X-Model-Id`, else
   * the body's `modelId`, else its `model`.
   */
  id?: string;
  /** `X-Model-Version`. */
  version?: string;
  /** The type of `id` where the call names no type (from the catalogue or the registry), for the access rules. */
  resolvedType?: string;
  query: Record<string, unknown>;
}

export interface ModelChooserOptions {
  selector?: ModelSelector;
  access?: AccessPolicy;
  /** Canary splits per model id. */
  versions: Record<string, { version: string; weight: number }[]>;
  random: Random;
}

const V2_MODEL = /^\/v2\/models\/([^/?]+)/;
const URL_LIKE = /^https?:\/\//;

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return (Array.isArray(v) ? v[0] : v) || undefined;
}

/**
 * Reads the model a call asks for, as the model server will serve it: a V2 path names its model
 * whatever else is sent; otherwise the gateway's X-Model-Id (set from the choice made here) wins
 * at the model server, so the caller's headers, then the body (`modelType`, `modelId`, `model`)
 * are read here in that order. The body is parsed only when the headers leave the model open.
 */
export function modelRequest(
  headers: Record<string, string | string[] | undefined>,
  path: string,
  body: LazyBody,
  query: Record<string, unknown>,
): ModelRequest {
  let type = header(headers, 'x-model-type');
  let id: string | undefined;
  const m = V2_MODEL.exec(path);
  if (m) {
    try {
      id = decodeURIComponent(m[1]);
    } catch {
      throw badRequest('invalid_model', `model name in the path is not valid percent-encoding: ${m[1]}`);
    }
  }
  id ??= header(headers, 'x-model-id');
  // A caller that names the type in X-Model-Type costs no JSON parse.
  if (type === undefined && id === undefined) {
    const parsed = body.value() as Record<string, unknown> | undefined;
    if (parsed && typeof parsed === 'object') {
      if (typeof parsed.modelType === 'string') type = parsed.modelType;
      if (typeof parsed.modelId === 'string') id = parsed.modelId;
      else if (typeof parsed.model === 'string') id = parsed.model;
    }
  }
  if (id !== undefined && id.length > 256)
    throw badRequest('invalid_model', 'model id is longer than 256 characters');
  return { type, id, version: header(headers, 'x-model-version'), query };
}

/**
 * Turns a model request into the ordered choices the forwarder tries: with a type, the
 * selector's ranking (cheapest qualifying first, the rest as fallbacks) minus what the caller
 * may not use; with only an id, that model; with neither, the route's target unchanged.
 */
export class ModelChooser {
  private readonly targets = new Map<string, RouteTarget>();

  constructor(private readonly o: ModelChooserOptions) {}

  /** The choices for a call, best first; throws 403, 422 or 400 as the request deserves. */
  choose(request: ModelRequest, principal: Principal | undefined, routeTarget: RouteTarget): Choice[] {
    const { selector, access } = this.o;
    // A type the catalogue does not list goes to the route's service unchanged: the model
    // server picks its own model of that type (a freshly trained and promoted one, say).
    if (request.type !== undefined && selector?.hasType(request.type)) {
      const ranked = selector.rank(request.type, parseSelectionConstraints(request.query));
      let forbiddenError: AimeshError | undefined;
      const choices: Choice[] = [];
      for (const candidate of ranked) {
        if (request.id !== undefined && candidate.id !== request.id) continue;
        if (principal && access) {
          try {
            access.assertModelAllowed(principal, candidate);
          } catch (error) {
            if (!isAimeshError(error) || error.status !== 403) throw error;
            forbiddenError ??= error;
            continue;
          }
        }
        const explicit = choices.length === 0 ? request.version : undefined;
        choices.push({
          model: {
            cost: candidate.expectedCost,
            id: candidate.id,
            version: explicit ?? this.version(candidate.id, candidate.version),
            type: candidate.type,
          },
          target: this.target(candidate.upstream, routeTarget),
        });
      }
      if (choices.length > 0) return choices;
      if (forbiddenError) throw forbiddenError;
      throw unprocessable(
        'no_suitable_model',
        `model ${request.id} is not of type '${request.type}' or does not meet the constraints`,
      );
    }
    if (request.type !== undefined && request.id === undefined) {
      // Outside the catalogue only the type is known here; rules naming the type apply.
      if (principal && access) access.assertModelAllowed(principal, { id: '', type: request.type });
      return [{ target: routeTarget }];
    }
    if (request.id !== undefined) {
      const type = request.type ?? request.resolvedType ?? '';
      if (principal && access) access.assertModelAllowed(principal, { id: request.id, type });
      return [
        {
          model: {
            id: request.id,
            version: request.version ?? this.version(request.id, ''),
            type,
          },
          target: routeTarget,
        },
      ];
    }
    return [{ target: routeTarget }];
  }

  private version(modelId: string, fallback: string): string {
    const split = this.o.versions[modelId];
    return (split && pickWeighted(split, this.o.random)) ?? fallback;
  }

  /** A catalogue `upstream`: a URL is a static target, anything else a service name; the route's own target when it matches. */
  private target(upstream: string, routeTarget: RouteTarget): RouteTarget {
    if (routeTarget.kind === 'service' && routeTarget.service === upstream) return routeTarget;
    let target = this.targets.get(upstream);
    if (!target) {
      const url = upstream.replace(/\/$/, '');
      target = URL_LIKE.test(upstream)
        ? { kind: 'static', name: url, endpoints: [{ id: url, url }] }
        : { kind: 'service', service: upstream };
      if (this.targets.size < 10_000) this.targets.set(upstream, target);
    }
    return target;
  }
}
