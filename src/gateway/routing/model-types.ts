import type { Clock } from '../../kernel/clock.js';
import { isAimeshError } from '../../kernel/errors.js';

/** Where a model's type is looked up beyond the gateway's catalogue: the registry. */
export interface ModelTypeSource {
  /** The model's type; rejects with a 404 AimeshError for a model it does not know. */
  typeOf(modelId: string): Promise<string>;
}

export interface ModelTypesOptions {
  /** The catalogue's own types (`gateway.models.catalogue`), answered at once. */
  catalogue: (modelId: string) => string | undefined;
  /** The registry, when it runs in this process. */
  source?: ModelTypeSource;
  clock: Clock;
  /** How long a looked-up type (or "unknown") is kept. */
  ttlMs?: number;
  maxEntries?: number;
}

/**
 * The type of a model a call names by id, so that access rules by type (`type:classification`)
 * hold however the model is named. The catalogue answers first; otherwise the registry, cached
 * for a while (types do not change under a name) and bounded; '' for a model neither knows.
 */
export class ModelTypes {
  private readonly cache = new Map<string, { type: string; at: number }>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;

  constructor(private readonly o: ModelTypesOptions) {
    this.ttlMs = o.ttlMs ?? 30_000;
    this.maxEntries = o.maxEntries ?? 10_000;
  }

  async typeOf(modelId: string): Promise<string> {
    const listed = this.o.catalogue(modelId);
    if (listed !== undefined) return listed;
    const { source, clock } = this.o;
    if (!source) return '';
    const now = clock.now();
    const cached = this.cache.get(modelId);
    if (cached && now - cached.at < this.ttlMs) return cached.type;
    let type: string;
    try {
      type = await source.typeOf(modelId);
    } catch (error) {
      if (!isAimeshError(error) || error.status !== 404) throw error;
      type = '';
    }
    if (this.cache.size >= this.maxEntries) this.cache.clear();
    this.cache.set(modelId, { type, at: now });
    return type;
  }
}
