/** The outcome of one token-bucket check. */
export interface RateLimitDecision {
  allowed: boolean;
  /** The bucket's capacity (requests in a burst). */
  limit: number;
  /** Whole tokens left after this check. */
  remaining: number;
  /** Milliseconds until the bucket is full again. */
  resetMs: number;
  /** Milliseconds until a request of this cost would be allowed; 0 when allowed. */
  retryAfterMs: number;
}

/** A token bucket's shape: `capacity` tokens at most, refilled continuously at `refillPerSecond`. */
export interface TokenBucketRule {
  capacity: number;
  refillPerSecond: number;
}

/**
 * The Rate-limit store port: token buckets by key, checked and debited atomically, so that
 * several gateway processes sharing one store share one bucket.
 */
export interface RateLimitStore {
  /**
   * Takes `cost` tokens (default 1) from the bucket `key` when it holds enough; never debits a
   * refused call. A store that fails rejects.
   */
  take(key: string, rule: TokenBucketRule, cost?: number): Promise<RateLimitDecision>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}

/**
 * The decision every adapter reports, from the tokens left after a check, so adapters agree
 * exactly. When `cost` exceeds the capacity the call can never pass; it is told to wait for a
 * full bucket.
 */
export function tokenBucketDecision(
  rule: TokenBucketRule,
  tokens: number,
  allowed: boolean,
  cost: number,
): RateLimitDecision {
  const perMs = rule.refillPerSecond / 1000;
  const resetMs = Math.ceil((rule.capacity - tokens) / perMs);
  const missing = Math.min(cost, rule.capacity) - tokens;
  return {
    allowed,
    limit: rule.capacity,
    remaining: Math.max(0, Math.floor(tokens)),
    resetMs: Math.max(0, resetMs),
    retryAfterMs: allowed ? 0 : Math.max(1, Math.ceil(missing / perMs)),
  };
}

/** What a module asks of the wiring layer when it opens a rate-limit store. */
export interface RateLimitStoreOptions {
  /** `memory`: this process alone; `redis`: shared by every process using the same Redis and prefix. */
  kind: 'memory' | 'redis';
  /** Prefix of every key in a shared store. */
  keyPrefix: string;
  /** Most buckets an in-process store keeps. */
  memoryMaxKeys: number;
}
