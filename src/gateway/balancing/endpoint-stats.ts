/** Live figures of one endpoint (instance or static upstream) the balancer ranks by. */
export class EndpointStats {
  /** Calls in flight now. */
  inFlight = 0;
  /** Latency EWMA in ms; 0 until the first call, which makes new endpoints attractive. */
  ewmaMs = 0;

  /** A failure weighs like a call this slow, so a failing endpoint drifts out of favour before its breaker opens. */
  static readonly FAILURE_PENALTY_MS = 1_000;

  constructor(private readonly alpha = 0.3) {}

  /** Marks the start of a call. */
  begin(): void {
    this.inFlight += 1;
  }

  /** Marks the end of a call begun with `begin`. */
  end(latencyMs: number, ok: boolean): void {
    if (this.inFlight > 0) this.inFlight -= 1;
    const sample = ok ? latencyMs : Math.max(latencyMs, EndpointStats.FAILURE_PENALTY_MS);
    this.ewmaMs = this.ewmaMs === 0 ? sample : this.alpha * sample + (1 - this.alpha) * this.ewmaMs;
  }

  /** Peak-EWMA style cost (Finagle): expected latency times the queue a new call would join. */
  cost(): number {
    return (this.ewmaMs + 1) * (this.inFlight + 1);
  }
}

/** Stats per endpoint id, bounded: the oldest entries go first beyond `max`. */
export class EndpointStatsTable {
  private readonly table = new Map<string, EndpointStats>();

  constructor(private readonly max = 10_000) {}

  /** The stats of `id`, created on first use. */
  get(id: string): EndpointStats {
    let stats = this.table.get(id);
    if (stats) return stats;
    if (this.table.size >= this.max) {
      const oldest = this.table.keys().next().value;
      if (oldest !== undefined) this.table.delete(oldest);
    }
    stats = new EndpointStats();
    this.table.set(id, stats);
    return stats;
  }
}
