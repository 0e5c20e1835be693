import type { Clock } from '../kernel/clock.js';
import { notFound, unavailable } from '../kernel/errors.js';
import type { Logger } from '../kernel/logger.js';
import type { Random } from '../kernel/random.js';
import type { LoadedModel, ModelRuntime } from '../ports/model-runtime.js';
import { Batcher, type BatchingPolicy } from './batcher.js';
import type { BatchingConfig, ModelConfig } from './config.js';
import type { InferenceMetrics } from './inference-metrics.js';
import type { VersionSource } from './model-sources.js';
import type { ResultCache } from './result-cache.js';

/** One loaded version of a model with its batcher. */
export interface ModelVersion {
  model: string;
  version: number;
  format: string;
  platform: string;
  loaded: LoadedModel;
  batcher: Batcher;
  policy: BatchingPolicy;
}

interface ServedModel {
  name: string;
  type?: string;
  versions: Map<number, ModelVersion>;
  aliases: Map<string, number>;
  /** Share (percent) of unversioned traffic sent to a version instead of the default. */
  canary: Map<number, number>;
}

/** What the manager needs; all injected. */
export interface ModelManagerDeps {
  runtimes: Record<string, ModelRuntime>;
  metrics: InferenceMetrics;
  cache: ResultCache;
  clock: Clock;
  random: Random;
  logger: Logger;
  defaults: BatchingConfig;
  maxVersionsPerModel: number;
  /** Called after the set of loaded versions or aliases changed (discovery metadata). */
  onChange(): void;
}

/** A loaded model as the list endpoints show it. */
export interface ModelSummary {
  name: string;
  type?: string;
  versions: { version: number; format: string; platform: string; queueDepth: number }[];
  aliases: Record<string, number>;
  defaultVersion: number;
  canary: Record<string, number>;
}

/** The default alias: unversioned requests go to the version it names, else to the newest loaded one. */
export const DEFAULT_ALIAS = 'production';

/**
 * Loaded models and their versions: loads and unloads versions, keeps aliases and canary
 * weights, and resolves a request's model and version to a live ModelVersion. A version
 * leaves the routing table before it is drained and disposed, so a switch drops nothing.
 */
export class ModelManager {
  private readonly models = new Map<string, ServedModel>();

  constructor(private readonly deps: ModelManagerDeps) {}

  /** Loads `version` of `model` (a no-op when it is already loaded) and applies the model's config. */
  async load(
    model: string,
    version: number,
    from: VersionSource,
    config: ModelConfig = {},
  ): Promise<ModelVersion> {
    const existing = this.models.get(model)?.versions.get(version);
    if (existing) return existing;
    const runtime = this.deps.runtimes[from.format];
    if (!runtime) throw unavailable('unsupported_format', `no runtime for format ${from.format}`);
    const loaded = await runtime.load(from.source);
    const batchable = [...loaded.inputs, ...loaded.outputs].every((s) => s.shape[0] === -1);
    const merged = { ...this.deps.defaults, ...config.batching };
    const policy: BatchingPolicy = { ...merged, maxBatchSize: batchable ? merged.maxBatchSize : 1 };
    const observer = this.deps.metrics.observer(model, version);
    const batcher = new Batcher((inputs) => loaded.run(inputs), policy, this.deps.clock, observer);
    const entry: ModelVersion = {
      model,
      version,
      format: from.format,
      platform: runtime.platform,
      loaded,
      batcher,
      policy,
    };
    const served: ServedModel = this.models.get(model) ?? {
      name: model,
      versions: new Map(),
      aliases: new Map(),
      canary: new Map(),
    };
    if (config.type) served.type = config.type;
    for (const [alias, v] of Object.entries(config.aliases ?? {})) served.aliases.set(alias, v);
    if (config.canary) served.canary = new Map(Object.entries(config.canary).map(([v, w]) => [Number(v), w]));
    served.versions.set(version, entry);
    this.models.set(model, served);
    this.deps.metrics.loadedVersions.set({ model }, served.versions.size);
    this.deps.cache.invalidate(model);
    this.deps.logger.info({ model, version, format: from.format }, 'model version loaded');
    this.deps.onChange();
    await this.evict(served);
    return entry;
  }

  /** Points `alias` at a version; unversioned requests follow `production` at once. */
  setAlias(model: string, alias: string, version: number): void {
    const served = this.served(model);
    served.aliases.set(alias, version);
    this.deps.cache.invalidate(model);
    this.deps.onChange();
  }

  /** Sets the canary shares (percent of unversioned traffic per version). */
  setCanary(model: string, weights: Record<number, number>): void {
    this.served(model).canary = new Map(Object.entries(weights).map(([v, w]) => [Number(v), w]));
  }

  /** Unloads one version, or every version when `version` is absent; queued requests finish first. */
  async unload(model: string, version: number | undefined, deadline: number): Promise<number[]> {
    const served = this.served(model);
    const targets = version === undefined ? [...served.versions.values()] : [this.version(served, version)];
    for (const t of targets) served.versions.delete(t.version);
    if (served.versions.size === 0) this.models.delete(model);
    this.deps.metrics.loadedVersions.set({ model }, served.versions.size);
    this.deps.cache.invalidate(model);
    this.deps.onChange();
    await Promise.all(targets.map((t) => this.dispose(t, deadline)));
    return targets.map((t) => t.version);
  }

  /** The version serving a request: explicit number, alias, canary draw, then the default. */
  resolve(model: string, ref?: string): ModelVersion {
    const served = this.served(model);
    if (ref !== undefined && ref !== '') {
      if (/^\d+$/.test(ref)) return this.version(served, Number(ref));
      const aliased = served.aliases.get(ref);
      if (aliased === undefined)
        throw notFound(
          'version_not_found',
          `model ${model} has no alias "${ref}"; aliases: ${[...served.aliases.keys()].join(', ') || 'none'}`,
        );
      return this.version(served, aliased);
    }
    const fallback = this.defaultVersion(served);
    if (served.canary.size > 0) {
      let draw = this.deps.random.next() * 100;
      for (const [v, weight] of served.canary) {
        if (v === fallback || !served.versions.has(v)) continue;
        draw -= weight;
        if (draw < 0) return served.versions.get(v) as ModelVersion;
      }
    }
    return served.versions.get(fallback) as ModelVersion;
  }

  /** The first model (by name) of a type, for requests that name a type instead of a model. */
  modelOfType(type: string): string {
    for (const served of [...this.models.values()].sort((a, b) => a.name.localeCompare(b.name)))
      if (served.type === type) return served.name;
    throw notFound('model_not_found', `no loaded model has type "${type}"`);
  }

  /** Whether a version is loaded. */
  has(model: string, version?: number): boolean {
    const served = this.models.get(model);
    return served !== undefined && (version === undefined || served.versions.has(version));
  }

  list(): ModelSummary[] {
    return [...this.models.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((s) => ({
        name: s.name,
        type: s.type,
        versions: [...s.versions.values()]
          .sort((a, b) => a.version - b.version)
          .map((v) => ({
            version: v.version,
            format: v.format,
            platform: v.platform,
            queueDepth: v.batcher.depth,
          })),
        aliases: Object.fromEntries(s.aliases),
        defaultVersion: this.defaultVersion(s),
        canary: Object.fromEntries(s.canary),
      }));
  }

  /** Unloads everything, letting queued work finish until `deadline`. */
  async stop(deadline: number): Promise<void> {
    const all = [...this.models.values()].flatMap((s) => [...s.versions.values()]);
    this.models.clear();
    await Promise.all(all.map((v) => this.dispose(v, deadline)));
  }

  private served(model: string): ServedModel {
    const served = this.models.get(model);
    if (!served)
      throw notFound(
        'model_not_found',
        `model ${JSON.stringify(model)} is not loaded; loaded: ${[...this.models.keys()].join(', ') || 'none'}`,
      );
    return served;
  }

  private version(served: ServedModel, version: number): ModelVersion {
    const v = served.versions.get(version);
    if (!v)
      throw notFound(
        'version_not_found',
        `model ${served.name} has no loaded version ${version}; loaded: ${[...served.versions.keys()].sort((a, b) => a - b).join(', ')}`,
      );
    return v;
  }

  private defaultVersion(served: ServedModel): number {
    const aliased = served.aliases.get(DEFAULT_ALIAS);
    if (aliased !== undefined && served.versions.has(aliased)) return aliased;
    return Math.max(...served.versions.keys());
  }

  private async evict(served: ServedModel): Promise<void> {
    const protectedVersions = new Set([
      ...served.aliases.values(),
      ...served.canary.keys(),
      Math.max(...served.versions.keys()),
    ]);
    const candidates = [...served.versions.keys()]
      .filter((v) => !protectedVersions.has(v))
      .sort((a, b) => a - b);
    while (served.versions.size > this.deps.maxVersionsPerModel && candidates.length > 0) {
      const v = candidates.shift() as number;
      await this.unload(served.name, v, this.deps.clock.now() + this.deps.defaults.timeoutMs);
    }
  }

  private async dispose(v: ModelVersion, deadline: number): Promise<void> {
    await v.batcher.drain(deadline);
    v.batcher.rejectAll(unavailable('model_unloaded', `model ${v.model} version ${v.version} was unloaded`));
    await v.loaded
      .dispose()
      .catch((error) =>
        this.deps.logger.warn({ err: error, model: v.model, version: v.version }, 'model dispose failed'),
      );
    this.deps.logger.info({ model: v.model, version: v.version }, 'model version unloaded');
  }
}
