import { describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../../src/kernel/clock.js';
import {
  BreakerRegistry,
  Bulkhead,
  backoffDelay,
  CircuitBreaker,
  DEFAULT_BREAKER_POLICY,
  DEFAULT_RETRY_POLICY,
  isRepeatable,
  parsePriority,
  RetryBudget,
  waitFor,
} from '../../src/resilience/index.js';

const fixed = (value: number) => ({ next: () => value });

function tripped(clock = new ManualClock(1_000), policy = DEFAULT_BREAKER_POLICY) {
  const breaker = new CircuitBreaker('t', policy, clock);
  for (let i = 0; i < policy.minimumCalls; i++) breaker.record(false);
  return breaker;
}

describe('CircuitBreaker edges', () => {
  it('reports no failure rate and refuses nothing before any call', () => {
    const breaker = new CircuitBreaker('t', DEFAULT_BREAKER_POLICY, new ManualClock());
    expect(breaker.failureRate()).toBe(0);
    expect(breaker.isRefusing()).toBe(false);
    expect(breaker.retryAt()).toBe(0);
  });

  it('says when an open breaker admits trial calls, and 0 once it does', async () => {
    const clock = new ManualClock(1_000);
    const breaker = tripped(clock);
    expect(breaker.retryAt()).toBe(31_000);
    await clock.advance(30_000);
    expect(breaker.retryAt()).toBe(0);
  });

  it('ignores outcomes recorded while open', () => {
    const breaker = tripped();
    for (let i = 0; i < 10; i++) breaker.record(true);
    expect(breaker.calls()).toBe(5);
    expect(breaker.failureRate()).toBe(1);
    expect(breaker.state).toBe('open');
  });

  it('in half-open, refuses nothing while trial slots remain', async () => {
    const clock = new ManualClock(0);
    const breaker = tripped(clock);
    await clock.advance(30_000);
    expect(breaker.isRefusing()).toBe(false);
    expect(breaker.tryAcquire()).toBe(true);
    expect(breaker.isRefusing()).toBe(false);
  });

  it('re-opens as soon as the trial failures reach the threshold: 1 of 2 trials at 50 %', async () => {
    const clock = new ManualClock(0);
    const breaker = tripped(clock, { ...DEFAULT_BREAKER_POLICY, halfOpenCalls: 2 });
    await clock.advance(30_000);
    breaker.tryAcquire();
    breaker.record(false);
    expect(breaker.state).toBe('open');
  });

  it('closes after all trials when their failure rate stays below the threshold, with an empty window', async () => {
    const clock = new ManualClock(0);
    const breaker = tripped(clock, { ...DEFAULT_BREAKER_POLICY, halfOpenCalls: 3 });
    await clock.advance(30_000);
    breaker.record(true);
    breaker.record(true);
    expect(breaker.state).toBe('half-open');
    breaker.record(false);
    expect(breaker.state).toBe('closed');
    expect(breaker.calls()).toBe(0);
  });

  it('gives back only slots still held: a trial that recorded its outcome keeps its slot', async () => {
    const clock = new ManualClock(0);
    const breaker = tripped(clock);
    await clock.advance(30_000);
    expect(breaker.tryAcquire()).toBe(true);
    breaker.record(true);
    breaker.release();
    expect([breaker.tryAcquire(), breaker.tryAcquire(), breaker.tryAcquire()]).toEqual([true, true, false]);
  });

  it('reports every state change once', async () => {
    const clock = new ManualClock(0);
    const changes: string[] = [];
    const breaker = new CircuitBreaker(
      'svc',
      { ...DEFAULT_BREAKER_POLICY, halfOpenCalls: 1 },
      clock,
      (n, f, t) => changes.push(`${n}:${f}->${t}`),
    );
    for (let i = 0; i < 5; i++) breaker.record(false);
    await clock.advance(30_000);
    expect(breaker.state).toBe('half-open');
    breaker.record(true);
    expect(changes).toEqual(['svc:closed->open', 'svc:open->half-open', 'svc:half-open->closed']);
  });
});

describe('BreakerRegistry edges', () => {
  it('peeks without creating', () => {
    const registry = new BreakerRegistry({ default: DEFAULT_BREAKER_POLICY }, new ManualClock());
    expect(registry.peek('a')).toBeUndefined();
    const a = registry.get('a');
    expect(registry.peek('a')).toBe(a);
    expect(registry.list()).toHaveLength(1);
  });

  it('shows when an open breaker retries, as an ISO time', () => {
    const registry = new BreakerRegistry(
      { default: { ...DEFAULT_BREAKER_POLICY, minimumCalls: 1 } },
      new ManualClock(Date.parse('2026-01-01T00:00:00Z')),
    );
    registry.get('a').record(false);
    registry.get('b');
    expect(registry.list()).toEqual([
      {
        name: 'a',
        policy: 'default',
        state: 'open',
        failureRate: 1,
        calls: 1,
        retryAt: '2026-01-01T00:00:30.000Z',
      },
      { name: 'b', policy: 'default', state: 'closed', failureRate: 0, calls: 0 },
    ]);
  });

  it('forgets the oldest breaker when every one is open', () => {
    const registry = new BreakerRegistry(
      { default: { ...DEFAULT_BREAKER_POLICY, minimumCalls: 1 } },
      new ManualClock(),
      undefined,
      2,
    );
    registry.get('a').record(false);
    registry.get('b').record(false);
    registry.get('c');
    expect(registry.list().map((b) => b.name)).toEqual(['b', 'c']);
  });

  it('uses the built-in default policy when none is configured', () => {
    const registry = new BreakerRegistry({}, new ManualClock());
    expect(registry.get('a', 'inference').policy).toEqual(DEFAULT_BREAKER_POLICY);
  });
});

describe('Bulkhead edges', () => {
  it('keeps a reserve of 10 % (at least 1) for high priority and sheds low at 80 % by default', () => {
    const twenty = new Bulkhead(20);
    for (let i = 0; i < 16; i++) expect(twenty.tryEnter('low')).toBe(true);
    expect(twenty.tryEnter('low')).toBe(false);
    for (let i = 0; i < 4; i++) expect(twenty.tryEnter('normal')).toBe(true);
    expect(twenty.saturated()).toBe(true);
    expect([twenty.tryEnter('high'), twenty.tryEnter('high'), twenty.tryEnter('high')]).toEqual([
      true,
      true,
      false,
    ]);
    const five = new Bulkhead(5);
    for (let i = 0; i < 5; i++) five.tryEnter('normal');
    expect([five.tryEnter('high'), five.tryEnter('high')]).toEqual([true, false]);
  });

  it('is not saturated below its limit and never counts below zero', () => {
    const bulkhead = new Bulkhead(2);
    bulkhead.leave();
    expect(bulkhead.inFlight()).toBe(0);
    bulkhead.tryEnter('normal');
    expect(bulkhead.saturated()).toBe(false);
    bulkhead.leave();
    bulkhead.leave();
    expect(bulkhead.inFlight()).toBe(0);
    expect([bulkhead.tryEnter('normal'), bulkhead.tryEnter('normal'), bulkhead.tryEnter('normal')]).toEqual([
      true,
      true,
      false,
    ]);
  });

  it.each([
    ['normal', 'normal'],
    [' High ', 'high'],
    ['', 'normal'],
    ['   ', 'normal'],
    ['0', 'low'],
    ['2', 'low'],
    ['3', 'normal'],
    ['6', 'normal'],
    ['7', 'high'],
    ['10', 'normal'],
    ['-1', 'normal'],
    ['2.5', 'normal'],
    ['urgent', 'normal'],
  ])('reads X-Priority %j as %s', (value, expected) => {
    expect(parsePriority(value)).toBe(expected);
  });

  it('reads the first of repeated X-Priority headers', () => {
    expect(parsePriority(['high', 'low'])).toBe('high');
  });
});

describe('Retry edges', () => {
  it('jitters between half and all of the exponential delay', () => {
    expect(backoffDelay(DEFAULT_RETRY_POLICY, 1, fixed(0))).toBe(500);
    expect(backoffDelay(DEFAULT_RETRY_POLICY, 2, fixed(0.5))).toBe(1_500);
    expect(backoffDelay(DEFAULT_RETRY_POLICY, 6, fixed(0.999_999))).toBeCloseTo(10_000, 1);
    expect(backoffDelay(DEFAULT_RETRY_POLICY, 1, fixed(0.5), 100)).toBe(750);
  });

  it.each(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'])('repeats %s', (method) => {
    expect(isRepeatable(method, {})).toBe(true);
  });

  it('does not repeat PATCH or an empty method', () => {
    expect(isRepeatable('PATCH', {})).toBe(false);
    expect(isRepeatable('', {})).toBe(false);
  });

  it('waits on the clock and says whether the wait ran out or was aborted', async () => {
    const clock = new ManualClock(0);
    const waited = waitFor(clock, 100);
    await clock.advance(100);
    expect(await waited).toBe(true);
    expect(await waitFor(systemClock, 60_000, AbortSignal.abort())).toBe(false);
  });

  it('counts requests and retries in ten buckets over the window, each leaving exactly a window later', async () => {
    const clock = new ManualClock(0);
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 0, windowMs: 10_000 }, clock);
    for (let i = 0; i < 5; i++) budget.recordRequest();
    await clock.advance(5_000);
    for (let i = 0; i < 5; i++) budget.recordRequest();
    await clock.advance(4_999); // t = 9.999 s: all 10 requests count
    expect([budget.tryRetry(), budget.tryRetry(), budget.tryRetry()]).toEqual([true, true, false]);
    await clock.advance(1); // t = 10 s: the first 5 leave; the 2 retries stay
    expect(budget.tryRetry()).toBe(false);
    await clock.advance(8_999); // t = 18.999 s: 10 fresh requests, but the retries of 9.999 s still count
    for (let i = 0; i < 10; i++) budget.recordRequest();
    expect(budget.tryRetry()).toBe(false);
    await clock.advance(1); // t = 19 s: they have left
    expect([budget.tryRetry(), budget.tryRetry(), budget.tryRetry()]).toEqual([true, true, false]);
  });

  it('keeps its buckets when the wall clock steps back', () => {
    let now = 0;
    const clock = { now: () => now, sleep: () => Promise.resolve() };
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 0, windowMs: 10_000 }, clock);
    for (let i = 0; i < 10; i++) budget.recordRequest();
    now = -5_000;
    budget.recordRequest();
    now = 9_999;
    expect([budget.tryRetry(), budget.tryRetry(), budget.tryRetry()]).toEqual([true, true, false]);
  });

  it('starts afresh after an idle gap of many windows', async () => {
    const clock = new ManualClock(0);
    const budget = new RetryBudget({ ratio: 0.5, minPerSecond: 0, windowMs: 1_000 }, clock);
    for (let i = 0; i < 4; i++) budget.recordRequest();
    expect(budget.tryRetry()).toBe(true);
    await clock.advance(55_500);
    expect(budget.tryRetry()).toBe(false);
    budget.recordRequest();
    budget.recordRequest();
    expect([budget.tryRetry(), budget.tryRetry()]).toEqual([true, false]);
  });
});
