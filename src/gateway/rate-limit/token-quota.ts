import { AimeshError } from '../../kernel/errors.js';
import type { RateLimitStore, TokenBucketRule } from '../../ports/rate-limit-store.js';

/**
 * A daily LLM-token quota per caller, kept in the rate-limit store as a bucket of one day's
 * tokens that refills continuously (a rolling day, not a calendar one: no midnight stampede).
 * Calls are admitted while tokens remain and charged afterwards, once usage is known, so one
 * call may overdraw the last few tokens.
 */
export class TokenQuota {
  private readonly rule: TokenBucketRule;

  constructor(
    private readonly store: RateLimitStore,
    dailyTokens: number,
  ) {
    this.rule = { capacity: dailyTokens, refillPerSecond: dailyTokens / 86_400 };
  }

  /** Throws 429 `quota_exceeded` when `subject` has no tokens left today. */
  async assertAvailable(subject: string): Promise<void> {
    const decision = await this.store.take(this.key(subject), this.rule, 0);
    if (decision.remaining < 1) {
      const retryAfterSeconds = Math.max(1, Math.ceil(1 / this.rule.refillPerSecond));
      throw new AimeshError(
        'quota_exceeded',
        429,
        `daily token quota of ${this.rule.capacity} used up; tokens come back at ${this.rule.capacity} a day (next in ${retryAfterSeconds} s)`,
        { retryAfterSeconds },
      );
    }
  }

  /** Charges `tokens` used by a finished call; overdrawing empties the bucket. */
  async charge(subject: string, tokens: number): Promise<void> {
    if (tokens <= 0) return;
    const decision = await this.store.take(this.key(subject), this.rule, tokens);
    if (!decision.allowed && decision.remaining > 0) {
      await this.store.take(this.key(subject), this.rule, decision.remaining);
    }
  }

  private key(subject: string): string {
    return `quota:${subject}`;
  }
}
