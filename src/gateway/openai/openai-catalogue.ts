import { badRequest, notFound } from '../../kernel/errors.js';
import type { OpenAiConfig, OpenAiModel, OpenAiUpstream } from './config.js';

/** One step of a fallback chain: a model and the upstream that serves it. */
export interface OpenAiRoute {
  model: OpenAiModel;
  upstream: OpenAiUpstream;
  /** The name to put in the upstream request's `model` field. */
  upstreamModel: string;
}

/**
 * The OpenAI-compatible models callers may name, each resolved to its chain: itself, then its
 * fallbacks in order. Checked once at start, so a typo in the config fails the start, not a call.
 */
export class OpenAiCatalogue {
  private readonly models = new Map<string, OpenAiModel>();
  private readonly upstreams = new Map<string, OpenAiUpstream>();

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

  /** `id` and its fallbacks, each once, in the order to try them. */
  chain(id: string): OpenAiRoute[] {
    const seen = new Set<string>();
    const out: OpenAiRoute[] = [];
    for (const name of [id, ...this.get(id).fallbacks]) {
      if (seen.has(name)) continue;
      seen.add(name);
      const model = this.get(name);
      out.push({
        model,
        upstream: this.upstreams.get(model.upstream)!,
        upstreamModel: model.upstreamModel ?? model.id,
      });
    }
    return out;
  }
}
