import type { Clock } from '../kernel/clock.js';
import type { Random } from '../kernel/random.js';

/** How often and how patiently to retry. */
export interface RetryPolicy {
  /** Attempts in all, the first included (the seed's 3). */
  maxAttempts: number;
  /** Delay before the first retry (the seed's 1 s). */
  baseDelayMs: number;
  /** Longest delay (the seed's 10 s); a Retry-After beyond it means: do not retry. */
  maxDelayMs: number;
}

/** The seed's retry: 3 attempts, exponential backoff from 1 s up to 10 s. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 1_000, maxDelayMs: 10_000 };

/**
 * The delay before retry number `retry` (1 = the first retry): exponential, capped, with "equal
 * jitter" (half fixed, half random) so retries of many callers spread out yet still grow.
 * A Retry-After from the upstream is honoured when it is longer.
 */
export function backoffDelay(
  policy: RetryPolicy,
  retry: number,
  random: Random,
  retryAfterMs?: number,
): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  const jittered = exponential / 2 + (random.next() * exponential) / 2;
  return retryAfterMs !== undefined ? Math.max(jittered, retryAfterMs) : jittered;
}

/** Methods RFC 9110 §9.2.2 calls idempotent: safe to send twice. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** True when the request may be repeated after it may have reached the upstream. */
export function isRepeatable(method: string, headers: Record<string, unknown>): boolean {
  return IDEMPOTENT.has(method) || headers['idempotency-key'] !== undefined;
}

/** Options of a retry budget. */
export interface RetryBudgetOptions {
  /** Retries allowed as a share of requests (Finagle's default 20 %). */
  ratio: number;
  /** Retries always allowed per second, so a quiet service can still retry. */
  minPerSecond: number;
  /** Requests and retries are counted over this window. */
  windowMs: number;
}

const BUCKETS = 10;

/**
 * A retry budget (Finagle, Envoy): retries may not exceed `ratio` of the requests in the last
 * window plus a small floor, so a struggling upstream is never hit by a retry storm. Counted in
 * ten time buckets over the window, read from the injected clock.
 */
export class RetryBudget {
  private readonly requests = new Float64Array(BUCKETS);
  private readonly retries = new Float64Array(BUCKETS);
  private bucketStart = 0;
  private bucket = 0;
  private readonly bucketMs: number;

  constructor(
    private readonly options: RetryBudgetOptions,
    private readonly clock: Clock,
  ) {
    this.bucketMs = options.windowMs / BUCKETS;
    this.bucketStart = clock.now();
  }

  /** Counts one first attempt. */
  recordRequest(): void {
    this.roll();
    this.requests[this.bucket] += 1;
  }

  /** Takes one retry from the budget; false when the budget is spent. */
  tryRetry(): boolean {
    this.roll();
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < BUCKETS; i++) {
      requests += this.requests[i];
      retries += this.retries[i];
    }
    const allowed =
      this.options.ratio * requests + (this.options.minPerSecond * this.options.windowMs) / 1000;
    if (retries + 1 > allowed) return false;
    this.retries[this.bucket] += 1;
    return true;
  }

  private roll(): void {
    const now = this.clock.now();
    let steps = Math.floor((now - this.bucketStart) / this.bucketMs);
    if (steps <= 0) return;
    this.bucketStart += steps * this.bucketMs;
    if (steps > BUCKETS) steps = BUCKETS;
    for (let i = 0; i < steps; i++) {
      this.bucket = (this.bucket + 1) % BUCKETS;
      this.requests[this.bucket] = 0;
      this.retries[this.bucket] = 0;
    }
  }
}

/** Waits `ms` on the clock; resolves early (false) when the signal aborts. */
export async function waitFor(clock: Clock, ms: number, signal?: AbortSignal): Promise<boolean> {
  try {
    await clock.sleep(ms, signal);
    return true;
  } catch {
    return false;
  }
}
