import { notFound } from '../kernel/errors.js';
import type { Logger } from '../kernel/logger.js';
import type { ArtifactStore } from '../ports/artifact-store.js';
import type { RegistryApi } from '../registry/index.js';
import type { InferenceConfig } from './config.js';
import type { ModelManager } from './model-manager.js';
import {
  type DirectoryModel,
  directoryVersionSource,
  registryVersionSource,
  scanModelsDir,
  singleFileModel,
} from './model-sources.js';

/** A promotion as the `ai.model.promoted` event carries it. */
export interface Promotion {
  model: string;
  version: number;
  alias: string;
}

/**
 * Brings model versions in from where they live — the models directory or the registry
 * (through the artifact store) — and keeps the configured set loaded, following promotions.
 */
export class ModelLoader {
  /** Configured models not loaded yet, with the last error. */
  readonly failures = new Map<string, string>();

  constructor(
    private readonly config: InferenceConfig,
    private readonly manager: ModelManager,
    private readonly artifacts: ArtifactStore,
    private readonly registry: RegistryApi | undefined,
    private readonly logger: Logger,
  ) {}

  /** Loads every version in the models directory and every configured registry model; failures are kept for retry. */
  async loadConfigured(): Promise<void> {
    if (this.config.modelsDir) {
      try {
        for (const model of await scanModelsDir(this.config.modelsDir)) await this.loadDirectoryModel(model);
        this.failures.delete(`dir:${this.config.modelsDir}`);
      } catch (error) {
        this.fail(`dir:${this.config.modelsDir}`, error);
      }
    }
    for (const file of this.config.modelFiles) {
      try {
        await this.loadFile(file);
        this.failures.delete(`file:${file}`);
      } catch (error) {
        this.fail(`file:${file}`, error);
      }
    }
    for (const { model, ref } of this.config.models) {
      const key = `registry:${model}@${ref}`;
      try {
        await this.loadFromRegistry(model, ref);
        this.failures.delete(key);
      } catch (error) {
        this.fail(key, error);
      }
    }
  }

  /** Retries what failed; true when nothing is left to load. */
  async retryFailures(): Promise<boolean> {
    if (this.failures.size === 0) return true;
    await this.loadConfigured();
    return this.failures.size === 0;
  }

  /** Loads one model file as version 1 (the `models serve <file>` case). */
  async loadFile(path: string): Promise<string> {
    const { name, source } = await singleFileModel(path);
    await this.manager.load(name, 1, source);
    return name;
  }

  /** Loads a model (one version, or all it has) from the directory, else from the registry. */
  async load(model: string, version?: number): Promise<number[]> {
    const fromDir = this.config.modelsDir
      ? (await scanModelsDir(this.config.modelsDir)).find((m) => m.name === model)
      : undefined;
    if (fromDir && (version === undefined || fromDir.versions.includes(version))) {
      return this.loadDirectoryModel(fromDir, version === undefined ? undefined : [version]);
    }
    if (this.registry) return [await this.loadFromRegistry(model, version ?? 'latest')];
    throw notFound(
      'model_not_found',
      `model ${model}${version ? ` version ${version}` : ''} is not in the models directory${this.registry ? ' or the registry' : ''}`,
    );
  }

  /**
   * Follows a promotion: loads the version if needed, then moves the alias; requests never see a gap.
   * For a model the registry holds, the alias is read back from it first and its answer is what is served: an
   * event's data alone never moves an alias (an event can be forged; the registry's rules cannot).
   */
  async onPromoted(announced: Promotion): Promise<void> {
    const promotion = await this.confirmed(announced);
    if (!promotion) return;
    // Besides the models it was told to serve, the server follows every promotion to the aliases
    // of `followAliases` (production by default): a newly trained model is served with no restart.
    const managed =
      this.manager.has(promotion.model) ||
      this.config.models.some((m) => m.model === promotion.model) ||
      (this.registry !== undefined && this.config.followAliases.includes(promotion.alias));
    if (!managed) return;
    if (!this.manager.has(promotion.model, promotion.version))
      await this.load(promotion.model, promotion.version);
    this.manager.setAlias(promotion.model, promotion.alias, promotion.version);
    // A configured model this promotion brings in is loaded now: readiness says so at once.
    for (const { model, ref } of this.config.models) {
      if (model === promotion.model && (ref === promotion.alias || ref === promotion.version))
        this.failures.delete(`registry:${model}@${ref}`);
    }
    this.logger.info(promotion, 'model promotion applied');
  }

  // The promotion as the registry holds it now, or undefined when it holds the model but not the alias.
  private async confirmed(promotion: Promotion): Promise<Promotion | undefined> {
    if (!this.registry) return promotion;
    try {
      const held = await this.registry.getModelVersion(promotion.model, promotion.alias);
      if (held.version !== promotion.version)
        this.logger.warn(
          { ...promotion, registryVersion: held.version },
          'a promotion event disagrees with the registry; serving what the registry says',
        );
      return { ...promotion, version: held.version };
    } catch (error) {
      if (!isNotFound(error)) throw error;
      // A model the registry does not know at all (one from the models directory) has no alias
      // there to read; its promotions come from events only, which only platform principals append.
      if (!(await this.registryHolds(promotion.model))) return promotion;
      this.logger.warn(promotion, 'ignored a promotion the registry does not hold');
      return undefined;
    }
  }

  private async registryHolds(model: string): Promise<boolean> {
    try {
      await this.registry!.getModel(model);
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  private async loadDirectoryModel(model: DirectoryModel, only?: number[]): Promise<number[]> {
    const dir = this.config.modelsDir as string;
    const versions = only ?? model.versions.slice(-this.config.maxVersionsPerModel);
    for (const version of versions) {
      await this.manager.load(
        model.name,
        version,
        await directoryVersionSource(dir, model, version, this.config.preferOnnx),
        model.config,
      );
    }
    return versions;
  }

  private async loadFromRegistry(model: string, ref: number | string): Promise<number> {
    if (!this.registry)
      throw notFound(
        'registry_unavailable',
        `model ${model}@${ref} needs the registry, which this process does not run`,
      );
    const record = await this.registry.getModelVersion(model, ref);
    await this.manager.load(
      model,
      record.version,
      registryVersionSource(record, this.artifacts, this.config.preferOnnx),
      record.type ? { type: record.type } : {},
    );
    if (typeof ref === 'string' && ref !== 'latest') this.manager.setAlias(model, ref, record.version);
    return record.version;
  }

  private fail(key: string, error: unknown): void {
    const message = (error as Error).message;
    if (this.failures.get(key) !== message)
      this.logger.warn({ source: key, err: error }, 'model failed to load; will retry');
    this.failures.set(key, message);
  }
}

function isNotFound(error: unknown): boolean {
  return (error as { status?: number }).status === 404;
}
