import type { FastifyReply } from 'fastify';
import { AimeshError } from '../../kernel/errors.js';
import type { RateLimitDecision } from '../../ports/rate-limit-store.js';

/** The `RateLimit-*` headers (IETF draft-ietf-httpapi-ratelimit-headers) and, when refused, `Retry-After`. */
export function rateLimitHeaders(decision: RateLimitDecision): Record<string, string> {
  const headers: Record<string, string> = {
    'ratelimit-limit': String(decision.limit),
    'ratelimit-remaining': String(decision.remaining),
    'ratelimit-reset': String(Math.ceil(decision.resetMs / 1000)),
  };
  if (!decision.allowed)
    headers['retry-after'] = String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000)));
  return headers;
}

/** The 429 `rate_limited` error for a refused decision. */
export function rateLimitedError(decision: RateLimitDecision, what = 'rate limit'): AimeshError {
  const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
  return new AimeshError('rate_limited', 429, `${what} of ${decision.limit} exceeded; retry in ${seconds} s`);
}

/** Puts the decision's headers on the reply and throws 429 `rate_limited` when it refused. */
export function enforceRateLimit(reply: FastifyReply, decision: RateLimitDecision | undefined): void {
  if (!decision) return;
  reply.headers(rateLimitHeaders(decision));
  if (!decision.allowed) throw rateLimitedError(decision);
}
