import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock } from '../../kernel/clock.js';
import {
  type RateLimitDecision,
  type RateLimitStore,
  type TokenBucketRule,
  tokenBucketDecision,
} from '../../ports/rate-limit-store.js';

interface Bucket {
  tokens: number;
  at: number;
}

/** Options of the in-process store. */
export interface MemoryRateLimitStoreOptions {
  clock: Clock;
  /** Most buckets kept; the least recently used go first (a forgotten bucket starts full again). */
  maxKeys: number;
  metrics?: Registry;
}

/** Token buckets in this process's memory: the embedded default, exact for one gateway process. */
export function createMemoryRateLimitStore(options: MemoryRateLimitStoreOptions): RateLimitStore {
  const buckets = new Map<string, Bucket>();
  if (options.metrics) {
    new Gauge({
      name: 'aimesh_rate_limit_memory_buckets',
      help: 'Token buckets held by the in-process rate-limit store',
      registers: [options.metrics],
      collect() {
        this.set(buckets.size);
      },
    });
  }
  const evicted = options.metrics
    ? new Counter({
        name: 'aimesh_rate_limit_memory_evictions_total',
        help: 'Buckets dropped because the in-process store was full',
        registers: [options.metrics],
      })
    : undefined;
  return {
    async take(key: string, rule: TokenBucketRule, cost = 1): Promise<RateLimitDecision> {
      const now = options.clock.now();
      const bucket = buckets.get(key);
      const elapsed = bucket ? Math.max(0, now - bucket.at) : 0;
      let tokens = bucket
        ? Math.min(rule.capacity, bucket.tokens + (elapsed * rule.refillPerSecond) / 1000)
        : rule.capacity;
      const allowed = tokens >= cost;
      if (allowed) tokens -= cost;
      // Delete-then-set keeps the map in least-recently-used order for eviction.
      buckets.delete(key);
      buckets.set(key, { tokens, at: now });
      if (buckets.size > options.maxKeys) {
        const oldest = buckets.keys().next().value;
        if (oldest !== undefined) buckets.delete(oldest);
        evicted?.inc();
      }
      return tokenBucketDecision(rule, tokens, allowed, cost);
    },
    async close() {
      buckets.clear();
    },
  };
}
