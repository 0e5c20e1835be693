import { describe, expect, it } from 'vitest';
import { GatewayConfig } from '../../src/gateway/config.js';
import { ManualClock } from '../../src/kernel/clock.js';
import { readSection } from '../../src/kernel/config.js';
import {
  type BreakerPolicy,
  CircuitBreaker,
  DEFAULT_BREAKER_POLICY,
  DEFAULT_RETRY_POLICY,
} from '../../src/resilience/index.js';

// The seed's numbers, read from the configuration a gateway starts with when nothing is set.
const seed = readSection(GatewayConfig, {}, '/gateway');
const policy = (name: string): BreakerPolicy => ({ halfOpenCalls: 3, ...seed.resilience.policies[name] });

function run(breaker: CircuitBreaker, outcomes: boolean[]): void {
  for (const ok of outcomes) {
    expect(breaker.tryAcquire()).toBe(true);
    breaker.record(ok);
  }
}

describe("The seed's resilience configuration", () => {
  it('has the default breaker policy 50 %, 30 s, window 10, minimum 5, and the inference policy 60 %, 15 s, window 5, minimum 3', () => {
    expect(seed.resilience.policies).toEqual({
      default: {
        failureRateThreshold: 0.5,
        openMs: 30_000,
        slidingWindowSize: 10,
        minimumCalls: 5,
        halfOpenCalls: 3,
      },
      inference: {
        failureRateThreshold: 0.6,
        openMs: 15_000,
        slidingWindowSize: 5,
        minimumCalls: 3,
        halfOpenCalls: 3,
      },
    });
    expect(seed.resilience.policies.default).toEqual(DEFAULT_BREAKER_POLICY);
  });

  it('retries 3 attempts in all, backing off from 1 s up to 10 s, and times out at 10 s to connect and 30 s to read', () => {
    const { maxAttempts, baseDelayMs, maxDelayMs } = seed.resilience.retry;
    expect({ maxAttempts, baseDelayMs, maxDelayMs }).toEqual({
      maxAttempts: 3,
      baseDelayMs: 1_000,
      maxDelayMs: 10_000,
    });
    expect(DEFAULT_RETRY_POLICY).toEqual({ maxAttempts, baseDelayMs, maxDelayMs });
    expect(seed.resilience.timeouts).toEqual({ connectMs: 10_000, readMs: 30_000 });
  });

  it('sends the model routes through the inference policy and the rest through the default one', () => {
    expect(seed.routes.map((r) => [r.path, r.policy])).toEqual([
      ['/api/v1/ai/**', 'inference'],
      ['/v2/**', 'inference'],
      ['/api/v1/training/**', 'default'],
    ]);
  });
});

describe("The seed's default breaker, at its boundaries", () => {
  it('opens on the call that brings the failure rate to exactly 50 % of a full window of 10', () => {
    const breaker = new CircuitBreaker('t', policy('default'), new ManualClock());
    // 2/5, 2/6, 3/7, 3/8, 4/9: below half each time.
    run(breaker, [true, true, true, false, false, true, false, true, false]);
    expect(breaker.state).toBe('closed');
    run(breaker, [false]);
    expect(breaker.failureRate()).toBe(0.5);
    expect(breaker.state).toBe('open');
  });

  it('does not judge 4 failed calls, and opens on the fifth', () => {
    const breaker = new CircuitBreaker('t', policy('default'), new ManualClock());
    run(breaker, [false, false, false, false]);
    expect(breaker.state).toBe('closed');
    run(breaker, [false]);
    expect(breaker.state).toBe('open');
  });

  it('refuses calls for 30 s, then half-opens', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker('t', policy('default'), clock);
    run(breaker, [false, false, false, false, false]);
    await clock.advance(29_999);
    expect(breaker.tryAcquire()).toBe(false);
    await clock.advance(1);
    expect(breaker.state).toBe('half-open');
  });
});

describe("The seed's inference breaker, at its boundaries", () => {
  it('opens on the call that brings the failure rate to exactly 60 % of a full window of 5', () => {
    const breaker = new CircuitBreaker('t', policy('inference'), new ManualClock());
    run(breaker, [true, true, false, false]); // 1/3, 2/4
    expect(breaker.state).toBe('closed');
    run(breaker, [false]);
    expect(breaker.failureRate()).toBe(0.6);
    expect(breaker.state).toBe('open');
  });

  it('judges from the third call: 2 failures of 3 open it, 2 failures of 2 do not', () => {
    const breaker = new CircuitBreaker('t', policy('inference'), new ManualClock());
    run(breaker, [false, false]);
    expect(breaker.state).toBe('closed');
    run(breaker, [true]);
    expect(breaker.state).toBe('open');
  });

  it('forgets the sixth-last call: window 5', () => {
    const breaker = new CircuitBreaker('t', policy('inference'), new ManualClock());
    // 1/3, 1/4, 2/5, then the first failure leaves the window: 1/5, 2/5.
    run(breaker, [false, true, true, true, false, true, false]);
    expect(breaker.calls()).toBe(5);
    expect(breaker.failureRate()).toBe(0.4);
    expect(breaker.state).toBe('closed');
  });

  it('refuses calls for 15 s, then half-opens', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker('t', policy('inference'), clock);
    run(breaker, [false, false, false]);
    await clock.advance(14_999);
    expect(breaker.tryAcquire()).toBe(false);
    await clock.advance(1);
    expect(breaker.state).toBe('half-open');
  });
});
