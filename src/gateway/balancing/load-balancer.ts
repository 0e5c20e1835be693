import type { Random } from '../../kernel/random.js';
import type { EndpointStatsTable } from './endpoint-stats.js';

/** Something a call can go to. */
export interface Endpoint {
  id: string;
  url: string;
}

/** Picks one endpoint among candidates; `usable` excludes those whose breaker is open (never tried first). */
export interface LoadBalancer {
  pick<T extends Endpoint>(candidates: readonly T[], usable: (endpoint: T) => boolean): T | undefined;
}

/** The balancing strategies. */
export type BalancerKind = 'p2c-ewma' | 'least-outstanding' | 'round-robin';

/** Round robin over the usable endpoints. */
export class RoundRobinBalancer implements LoadBalancer {
  private next = 0;

  pick<T extends Endpoint>(candidates: readonly T[], usable: (endpoint: T) => boolean): T | undefined {
    const n = candidates.length;
    for (let i = 0; i < n; i++) {
      const candidate = candidates[(this.next + i) % n];
      if (usable(candidate)) {
        this.next = (this.next + i + 1) % Math.max(1, n);
        return candidate;
      }
    }
    return undefined;
  }
}

/** The usable endpoint with the fewest calls in flight; ties go to the lower latency. */
export class LeastOutstandingBalancer implements LoadBalancer {
  constructor(private readonly stats: EndpointStatsTable) {}

  pick<T extends Endpoint>(candidates: readonly T[], usable: (endpoint: T) => boolean): T | undefined {
    let best: T | undefined;
    let bestLoad = Number.POSITIVE_INFINITY;
    let bestLatency = Number.POSITIVE_INFINITY;
    for (const candidate of candidates) {
      if (!usable(candidate)) continue;
      const s = this.stats.get(candidate.id);
      if (s.inFlight < bestLoad || (s.inFlight === bestLoad && s.ewmaMs < bestLatency)) {
        best = candidate;
        bestLoad = s.inFlight;
        bestLatency = s.ewmaMs;
      }
    }
    return best;
  }
}

/**
 * Power of two choices on peak EWMA (Mitzenmacher; Finagle, Linkerd): two usable endpoints at
 * random, the cheaper by latency × load wins. Near the quality of least-loaded with none of its
 * herd behaviour, in O(n) without allocation.
 */
export class PowerOfTwoBalancer implements LoadBalancer {
  constructor(
    private readonly stats: EndpointStatsTable,
    private readonly random: Random,
  ) {}

  pick<T extends Endpoint>(candidates: readonly T[], usable: (endpoint: T) => boolean): T | undefined {
    let count = 0;
    for (const c of candidates) if (usable(c)) count += 1;
    if (count === 0) return undefined;
    const first = Math.floor(this.random.next() * count);
    if (count === 1) return nthUsable(candidates, usable, 0);
    let second = Math.floor(this.random.next() * (count - 1));
    if (second >= first) second += 1;
    const a = nthUsable(candidates, usable, first)!;
    const b = nthUsable(candidates, usable, second)!;
    return this.stats.get(a.id).cost() <= this.stats.get(b.id).cost() ? a : b;
  }
}

function nthUsable<T extends Endpoint>(
  candidates: readonly T[],
  usable: (e: T) => boolean,
  n: number,
): T | undefined {
  let seen = 0;
  for (const c of candidates) {
    if (!usable(c)) continue;
    if (seen === n) return c;
    seen += 1;
  }
  return undefined;
}

/** The balancer the config names. */
export function createBalancer(kind: BalancerKind, stats: EndpointStatsTable, random: Random): LoadBalancer {
  switch (kind) {
    case 'round-robin':
      return new RoundRobinBalancer();
    case 'least-outstanding':
      return new LeastOutstandingBalancer(stats);
    case 'p2c-ewma':
      return new PowerOfTwoBalancer(stats, random);
  }
}
