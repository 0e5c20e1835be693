import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/kernel/clock.js';
import { BreakerRegistry } from '../../src/resilience/breaker-registry.js';
import { CircuitBreaker, DEFAULT_BREAKER_POLICY } from '../../src/resilience/circuit-breaker.js';

const inference = {
  failureRateThreshold: 0.6,
  openMs: 15_000,
  slidingWindowSize: 5,
  minimumCalls: 3,
  halfOpenCalls: 3,
};

function run(breaker: CircuitBreaker, outcomes: boolean[]): void {
  for (const ok of outcomes) {
    expect(breaker.tryAcquire()).toBe(true);
    breaker.record(ok);
  }
}

describe('CircuitBreaker (default policy: 50 %, 30 s, window 10, min 5)', () => {
  it('does not judge before the minimum of 5 calls, however many fail', () => {
    const breaker = new CircuitBreaker('t', DEFAULT_BREAKER_POLICY, new ManualClock());
    run(breaker, [false, false, false, false]);
    expect(breaker.state).toBe('closed');
  });

  it('opens when 5 calls fail at a rate of 50 % or more', () => {
    const breaker = new CircuitBreaker('t', DEFAULT_BREAKER_POLICY, new ManualClock());
    run(breaker, [true, true, false, false]);
    expect(breaker.state).toBe('closed');
    run(breaker, [false]);
    expect(breaker.state).toBe('open');
    expect(breaker.tryAcquire()).toBe(false);
    expect(breaker.isRefusing()).toBe(true);
  });

  it('stays closed at 4 failures in a full window of 10', () => {
    const breaker = new CircuitBreaker('t', DEFAULT_BREAKER_POLICY, new ManualClock());
    run(breaker, [true, true, false, true, false, true, false, true, true, false]);
    expect(breaker.state).toBe('closed');
    expect(breaker.failureRate()).toBe(0.4);
  });

  it('forgets outcomes older than the sliding window', () => {
    const breaker = new CircuitBreaker('t', DEFAULT_BREAKER_POLICY, new ManualClock());
    run(breaker, [true, true, true, true, true, true, false, false, false, false]);
    expect(breaker.state).toBe('closed');
    run(breaker, Array(10).fill(true));
    expect(breaker.failureRate()).toBe(0);
  });

  it('half-opens after 30 s, admits 3 trial calls only, and closes when they succeed', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker('t', DEFAULT_BREAKER_POLICY, clock);
    run(breaker, [false, false, false, false, false]);
    await clock.advance(29_999);
    expect(breaker.state).toBe('open');
    await clock.advance(1);
    expect(breaker.state).toBe('half-open');
    expect([breaker.tryAcquire(), breaker.tryAcquire(), breaker.tryAcquire(), breaker.tryAcquire()]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    expect(breaker.isRefusing()).toBe(true);
    breaker.record(true);
    breaker.record(true);
    breaker.record(true);
    expect(breaker.state).toBe('closed');
  });

  it('re-opens from half-open when the trial calls fail, and waits the full time again', async () => {
    const clock = new ManualClock();
    const changes: string[] = [];
    const breaker = new CircuitBreaker('t', DEFAULT_BREAKER_POLICY, clock, (_n, from, to) =>
      changes.push(`${from}->${to}`),
    );
    run(breaker, [false, false, false, false, false]);
    await clock.advance(30_000);
    run(breaker, [false, false]);
    expect(breaker.state).toBe('open');
    await clock.advance(29_000);
    expect(breaker.state).toBe('open');
    expect(changes).toEqual(['closed->open', 'open->half-open', 'half-open->open']);
  });

  it('gives a trial slot back when a call ends without an outcome', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker('t', { ...DEFAULT_BREAKER_POLICY, halfOpenCalls: 1 }, clock);
    run(breaker, [false, false, false, false, false]);
    await clock.advance(30_000);
    expect(breaker.tryAcquire()).toBe(true);
    expect(breaker.tryAcquire()).toBe(false);
    breaker.release();
    expect(breaker.tryAcquire()).toBe(true);
  });
});

describe('CircuitBreaker (inference policy: 60 %, 15 s, window 5, min 3)', () => {
  it('opens after 2 of 3 calls fail and half-opens after 15 s', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker('t', inference, clock);
    run(breaker, [true, false, false]);
    expect(breaker.state).toBe('open');
    await clock.advance(15_000);
    expect(breaker.state).toBe('half-open');
  });

  it('stays closed at 1 failure in 3 calls', () => {
    const breaker = new CircuitBreaker('t', inference, new ManualClock());
    run(breaker, [true, false, true]);
    expect(breaker.state).toBe('closed');
  });
});

describe('BreakerRegistry', () => {
  it('makes each breaker from its named policy, falling back to default', () => {
    const registry = new BreakerRegistry({ default: DEFAULT_BREAKER_POLICY, inference }, new ManualClock());
    expect(registry.get('a', 'inference').policy).toBe(inference);
    expect(registry.get('b', 'nope').policy).toBe(DEFAULT_BREAKER_POLICY);
    expect(registry.get('a')).toBe(registry.get('a', 'inference'));
    expect(registry.list().map((b) => [b.name, b.policy, b.state])).toEqual([
      ['a', 'inference', 'closed'],
      ['b', 'default', 'closed'],
    ]);
  });

  it('stays within its bound, forgetting closed breakers first', () => {
    const registry = new BreakerRegistry(
      { default: { ...DEFAULT_BREAKER_POLICY, minimumCalls: 1 } },
      new ManualClock(),
      undefined,
      2,
    );
    const open = registry.get('open');
    open.record(false);
    registry.get('x');
    registry.get('y');
    expect(
      registry
        .list()
        .map((b) => b.name)
        .sort(),
    ).toEqual(['open', 'y']);
  });
});
