import { createHash } from 'node:crypto';
import type { Tensor } from '../ports/model-runtime.js';
import type { InferenceMetrics } from './inference-metrics.js';

/**
 * A bounded LRU of results keyed by model, version and a digest of the inputs. A Map keeps
 * insertion order, so re-inserting on a hit makes the first key the least recently used.
 */
export class ResultCache {
  private readonly entries = new Map<string, Tensor[]>();

  constructor(
    private readonly maxEntries: number,
    private readonly metrics: InferenceMetrics,
  ) {}

  get enabled(): boolean {
    return this.maxEntries > 0;
  }

  /** The cache key of a request. */
  key(model: string, version: number, inputs: Tensor[]): string {
    const hash = createHash('sha256');
    for (const t of inputs) {
      hash.update(`${t.name}|${t.datatype}|${t.shape.join(',')}|`);
      if (Array.isArray(t.data)) hash.update(JSON.stringify(t.data));
      else hash.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
    return `${model}\u0000${version}\u0000${hash.digest('base64url')}`;
  }

  get(key: string): Tensor[] | undefined {
    const hit = this.entries.get(key);
    this.metrics.cacheLookups.inc({ result: hit ? 'hit' : 'miss' });
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  set(key: string, outputs: Tensor[]): void {
    if (!this.enabled) return;
    this.entries.delete(key);
    this.entries.set(key, outputs);
    while (this.entries.size > this.maxEntries)
      this.entries.delete(this.entries.keys().next().value as string);
    this.metrics.cacheEntries.set(this.entries.size);
  }

  /** Drops every entry of a model (its versions changed, so cached answers may be stale). */
  invalidate(model: string): void {
    const prefix = `${model}\u0000`;
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.entries.delete(key);
    this.metrics.cacheEntries.set(this.entries.size);
  }
}
