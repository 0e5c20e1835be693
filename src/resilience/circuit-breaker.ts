import type { Clock } from '../kernel/clock.js';

/** closed: calls flow and outcomes are counted; open: calls are refused; half-open: a few trial calls. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** A breaker's thresholds; the defaults are Resilience4j's, as the seed names them. */
export interface BreakerPolicy {
  /** Open when at least this share (0..1) of the calls in the window failed. */
  failureRateThreshold: number;
  /** How long an open breaker refuses calls before it lets trial calls through. */
  openMs: number;
  /** The last this-many calls form the sliding window. */
  slidingWindowSize: number;
  /** No judgement before this many calls are in the window. */
  minimumCalls: number;
  /** Trial calls let through in half-open; their failure rate decides open or closed. */
  halfOpenCalls: number;
}

/** The seed's default policy: 50 %, 30 s, window 10, at least 5 calls. */
export const DEFAULT_BREAKER_POLICY: BreakerPolicy = {
  failureRateThreshold: 0.5,
  openMs: 30_000,
  slidingWindowSize: 10,
  minimumCalls: 5,
  halfOpenCalls: 3,
};

/**
 * A count-based circuit breaker with Resilience4j's semantics: a ring of the last N outcomes;
 * once it holds the minimum, a failure rate at or above the threshold opens the breaker; after
 * the wait it half-opens and admits a fixed number of trial calls, whose failure rate closes or
 * re-opens it. Time comes from the injected clock, so tests move it instead of sleeping.
 */
export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private readonly ring: Uint8Array;
  private ringCount = 0;
  private ringNext = 0;
  private ringFailures = 0;
  private openedAt = 0;
  private trialsAdmitted = 0;
  private trialsDone = 0;
  private trialFailures = 0;

  constructor(
    readonly name: string,
    readonly policy: BreakerPolicy,
    private readonly clock: Clock,
    private readonly onChange?: (name: string, from: BreakerState, to: BreakerState) => void,
  ) {
    this.ring = new Uint8Array(policy.slidingWindowSize);
  }

  /** The state now (an open breaker whose wait has passed reports half-open). */
  get state(): BreakerState {
    if (this.current === 'open' && this.clock.now() - this.openedAt >= this.policy.openMs) {
      this.transition('half-open');
    }
    return this.current;
  }

  /** True when a call would be refused right now; costs nothing and admits nothing. */
  isRefusing(): boolean {
    const state = this.state;
    return state === 'open' || (state === 'half-open' && this.trialsAdmitted >= this.policy.halfOpenCalls);
  }

  /** Admits one call (taking a trial slot in half-open); false when the breaker refuses it. */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.trialsAdmitted >= this.policy.halfOpenCalls) return false;
    this.trialsAdmitted += 1;
    return true;
  }

  /** When an open breaker will admit trial calls (epoch ms), or 0 when it is not open. */
  retryAt(): number {
    return this.state === 'open' ? this.openedAt + this.policy.openMs : 0;
  }

  /** Records the outcome of an admitted call. */
  record(success: boolean): void {
    const state = this.state;
    if (state === 'half-open') {
      this.trialsDone += 1;
      if (!success) this.trialFailures += 1;
      const trials = this.policy.halfOpenCalls;
      // Resilience4j waits for every trial; a failure rate already past the threshold cannot recover.
      if (this.trialFailures / trials >= this.policy.failureRateThreshold) this.open();
      else if (this.trialsDone >= trials) this.close();
      return;
    }
    if (state === 'open') return;
    const size = this.policy.slidingWindowSize;
    if (this.ringCount === size) this.ringFailures -= this.ring[this.ringNext];
    else this.ringCount += 1;
    this.ring[this.ringNext] = success ? 0 : 1;
    if (!success) this.ringFailures += 1;
    this.ringNext = (this.ringNext + 1) % size;
    if (
      this.ringCount >= this.policy.minimumCalls &&
      this.ringFailures / this.ringCount >= this.policy.failureRateThreshold
    ) {
      this.open();
    }
  }

  /** Releases a trial slot taken by a call that ended without an outcome (e.g. the caller went away). */
  release(): void {
    if (this.current === 'half-open' && this.trialsAdmitted > this.trialsDone) this.trialsAdmitted -= 1;
  }

  /** Failure rate of the current window (0..1), for the admin view. */
  failureRate(): number {
    return this.ringCount === 0 ? 0 : this.ringFailures / this.ringCount;
  }

  /** Calls in the current window. */
  calls(): number {
    return this.ringCount;
  }

  private open(): void {
    this.openedAt = this.clock.now();
    this.transition('open');
  }

  private close(): void {
    this.ringCount = 0;
    this.ringNext = 0;
    this.ringFailures = 0;
    this.transition('closed');
  }

  // Every caller changes the state: closed/half-open → open, open → half-open, half-open → closed.
  private transition(to: BreakerState): void {
    const from = this.current;
    this.current = to;
    this.trialsAdmitted = 0;
    this.trialsDone = 0;
    this.trialFailures = 0;
    this.onChange?.(this.name, from, to);
  }
}
