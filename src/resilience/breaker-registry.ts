import type { Clock } from '../kernel/clock.js';
import {
  type BreakerPolicy,
  type BreakerState,
  CircuitBreaker,
  DEFAULT_BREAKER_POLICY,
} from './circuit-breaker.js';

/** One breaker as the admin API shows it. */
export interface BreakerView {
  name: string;
  policy: string;
  state: BreakerState;
  failureRate: number;
  calls: number;
  /** When an open breaker admits trial calls again (ISO time). */
  retryAt?: string;
}

/**
 * The breakers of a process, one per target (instance, upstream or model), each made from a
 * named policy. Bounded: beyond `maxBreakers` the oldest closed breaker is forgotten.
 */
export class BreakerRegistry {
  private readonly breakers = new Map<string, { breaker: CircuitBreaker; policy: string }>();

  constructor(
    private readonly policies: Record<string, BreakerPolicy>,
    private readonly clock: Clock,
    private readonly onChange?: (name: string, from: BreakerState, to: BreakerState) => void,
    private readonly maxBreakers = 10_000,
  ) {}

  /** The breaker of `name`, created from `policy` (falling back to `default`) on first use. */
  get(name: string, policy = 'default'): CircuitBreaker {
    const found = this.breakers.get(name);
    if (found) return found.breaker;
    if (this.breakers.size >= this.maxBreakers) this.evictOne();
    const breaker = new CircuitBreaker(
      name,
      this.policies[policy] ?? this.policies.default ?? DEFAULT_BREAKER_POLICY,
      this.clock,
      this.onChange,
    );
    this.breakers.set(name, { breaker, policy: this.policies[policy] ? policy : 'default' });
    return breaker;
  }

  /** The breaker of `name` when one exists (no creation). */
  peek(name: string): CircuitBreaker | undefined {
    return this.breakers.get(name)?.breaker;
  }

  /** Every breaker's state. */
  list(): BreakerView[] {
    return [...this.breakers.values()].map(({ breaker, policy }) => {
      const retryAt = breaker.retryAt();
      return {
        name: breaker.name,
        policy,
        state: breaker.state,
        failureRate: breaker.failureRate(),
        calls: breaker.calls(),
        ...(retryAt ? { retryAt: new Date(retryAt).toISOString() } : {}),
      };
    });
  }

  private evictOne(): void {
    for (const [name, { breaker }] of this.breakers) {
      if (breaker.state === 'closed') {
        this.breakers.delete(name);
        return;
      }
    }
    const first = this.breakers.keys().next().value;
    if (first !== undefined) this.breakers.delete(first);
  }
}
