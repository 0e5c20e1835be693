import { badRequest, notFound } from '../../kernel/errors.js';
import type { Choice } from '../proxy/forwarder.js';
import type { RouteTarget } from '../routing/route-table.js';
import type { OpenAiConfig, OpenAiModel, OpenAiUpstream } from './config.js';

/** One step of a fallback chain: a model and the upstream that serves it, made once at start. */
export interface OpenAiRoute {
  model: OpenAiModel;
  upstream: OpenAiUpstream;
  /** The name to put in the upstream request's `model` field. */
  upstreamModel: string;
  /** The model as the pipeline names it (breakers, metrics, events). */
  choiceModel: NonNullable<Choice['model']>;
  /** The upstream as the forwarder reaches it: its base URL, with its own breaker and bulkhead. */
  target: RouteTarget;
  /** The upstream's own credentials (never the caller's), or none: set on each call sent to it. */
  headers: Readonly<Record<string, string | undefined>>;
}

/**
 * The OpenAI-compatible models callers may name, each resolved to its chain: itself, then its
 * fallbacks in order. Checked once at start, so a typo in the config fails the start, not a call.
 */
export class OpenAiCatalogue {
  private readonly models = new Map<string, OpenAiModel>();
  private readonly upstreams = new Map<string, OpenAiUpstream>();
  private readonly chains = new Map<string, OpenAiRoute[]>();

  constructor(config: OpenAiConfig) {
    for (const u of config.upstreams) this.upstreams.set(u.name, u);
    for (const m of config.models) {
      if (!this.upstreams.has(m.upstream)) {
        throw badRequest('invalid_config', `openai model '${m.id}' names unknown upstream '${m.upstream}'`);
      }
      this.models.set(m.id, m);
    }
    for (const m of config.models) {
      for (const f of m.fallbacks) {
        if (!this.models.has(f))
          throw badRequest('invalid_config', `openai model '${m.id}' falls back to unknown '${f}'`);
      }
    }
  }

  /** Every model, in config order. */
  list(): OpenAiModel[] {
    return [...this.models.values()];
  }

  /** The model `id`; 404 `model_not_found` when it is not offered. */
  get(id: string): OpenAiModel {
    const model = this.models.get(id);
    if (!model)
      throw notFound('model_not_found', `model '${id}' is not offered here; GET /v1/models lists them`);
    return model;
  }

  /** `id` and its fallbacks, each once, in the order to try them; 404 when `id` is not offered. */
  chain(id: string): readonly OpenAiRoute[] {
    const known = this.chains.get(id);
    if (known) return known;
    const steps = new Map<string, OpenAiRoute>();
    for (const name of [id, ...this.get(id).fallbacks])
      if (!steps.has(name)) steps.set(name, this.route(name));
    const chain = [...steps.values()];
    this.chains.set(id, chain);
    return chain;
  }

  private route(name: string): OpenAiRoute {
    const model = this.get(name);
    const upstream = this.upstreams.get(model.upstream)!;
    const url = upstream.baseUrl.replace(/\/$/, '');
    return {
      model,
      upstream,
      upstreamModel: model.upstreamModel ?? model.id,
      choiceModel: { id: model.id, version: '', type: model.type },
      target: { kind: 'static', name: upstream.name, endpoints: [{ id: url, url }] },
      headers: { authorization: upstream.apiKey ? `Bearer ${upstream.apiKey}` : undefined },
    };
  }
}
