import { Counter, type Registry } from 'prom-client';
import type { RateLimitDecision, RateLimitStore, TokenBucketRule } from '../../ports/rate-limit-store.js';
import type { Principal } from '../auth/principal.js';
import type { RateLimitConfig } from './config.js';
import { compileRoutePattern } from './route-pattern.js';

interface CompiledRule {
  route: string;
  matches: (path: string) => boolean;
  bucket: TokenBucketRule;
  per: 'key' | 'route';
}

/**
 * Whom a bucket belongs to: the API key when there is one, else the principal, else (anonymous
 * calls, when credentials are optional) the client address, so one noisy client cannot spend
 * every anonymous caller's budget.
 */
export function rateLimitSubject(principal: Principal | undefined, clientIp?: string): string {
  if (!principal) return clientIp ? `ip:${clientIp}` : 'anonymous';
  return principal.keyId ? `key:${principal.keyId}` : `user:${principal.id}`;
}

/**
 * Token buckets per caller and route, from the `rateLimit` rules. Every matching rule is
 * checked in order; the first refusal is the answer (rules checked before it have already
 * been debited, which errs on the strict side). A store that fails lets the call through and
 * counts it in `aimesh_gateway_rate_limit_store_errors_total`.
 */
export class RateLimiter {
  private readonly rules: CompiledRule[];
  private readonly rejected?: Counter<'route'>;
  private readonly storeErrors?: Counter;

  constructor(
    private readonly config: RateLimitConfig,
    private readonly store: RateLimitStore,
    metrics?: Registry,
  ) {
    this.rules = config.rules.map((r) => ({
      route: r.route,
      matches: compileRoutePattern(r.route),
      bucket: {
        capacity: r.burst ?? Math.max(1, Math.ceil(r.requestsPerSecond)),
        refillPerSecond: r.requestsPerSecond,
      },
      per: r.per,
    }));
    if (metrics) {
      this.rejected = new Counter({
        name: 'aimesh_gateway_rate_limited_total',
        help: 'Requests refused by a rate-limit rule',
        labelNames: ['route'],
        registers: [metrics],
      });
      this.storeErrors = new Counter({
        name: 'aimesh_gateway_rate_limit_store_errors_total',
        help: 'Rate-limit checks that failed in the store and were let through',
        registers: [metrics],
      });
    }
  }

  /** True when some rule covers `path` (so callers can skip the work otherwise). */
  applies(path: string): boolean {
    return this.config.enabled && this.rules.some((r) => r.matches(path));
  }

  /** Checks and debits every rule matching `path`; undefined when none applies. */
  async check(subject: string, path: string): Promise<RateLimitDecision | undefined> {
    if (!this.config.enabled) return undefined;
    let tightest: RateLimitDecision | undefined;
    for (const rule of this.rules) {
      if (!rule.matches(path)) continue;
      const key = rule.per === 'route' ? `route:${rule.route}` : `route:${rule.route}:${subject}`;
      let decision: RateLimitDecision;
      try {
        decision = await this.store.take(key, rule.bucket);
      } catch {
        this.storeFailed();
        continue;
      }
      if (!decision.allowed) return this.refused(rule, decision);
      tightest = tighter(tightest, decision);
    }
    return tightest;
  }

  private refused(rule: CompiledRule, decision: RateLimitDecision): RateLimitDecision {
    this.rejected?.inc({ route: rule.route });
    return decision;
  }

  // Fail open: a Redis outage should slow nobody down; the counter makes it visible.
  private storeFailed(): void {
    this.storeErrors?.inc();
  }
}

function tighter(a: RateLimitDecision | undefined, b: RateLimitDecision): RateLimitDecision {
  return !a || b.remaining < a.remaining ? b : a;
}
