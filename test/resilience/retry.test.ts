import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/kernel/clock.js';
import { seededRandom } from '../../src/kernel/random.js';
import { Bulkhead, parsePriority } from '../../src/resilience/bulkhead.js';
import { backoffDelay, DEFAULT_RETRY_POLICY, isRepeatable, RetryBudget } from '../../src/resilience/retry.js';

describe('backoffDelay', () => {
  it('grows exponentially from 1 s and never passes 10 s, jitter included', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }), fc.integer(), (retry, seed) => {
        const delay = backoffDelay(DEFAULT_RETRY_POLICY, retry, seededRandom(seed));
        const cap = Math.min(10_000, 1_000 * 2 ** (retry - 1));
        expect(delay).toBeGreaterThanOrEqual(cap / 2);
        expect(delay).toBeLessThanOrEqual(cap);
      }),
    );
  });

  it('honours a longer Retry-After', () => {
    expect(backoffDelay(DEFAULT_RETRY_POLICY, 1, seededRandom(1), 4_000)).toBe(4_000);
  });
});

describe('isRepeatable', () => {
  it('repeats idempotent methods and requests with an Idempotency-Key, not plain POSTs', () => {
    expect(isRepeatable('GET', {})).toBe(true);
    expect(isRepeatable('PUT', {})).toBe(true);
    expect(isRepeatable('POST', {})).toBe(false);
    expect(isRepeatable('POST', { 'idempotency-key': 'k' })).toBe(true);
  });
});

describe('RetryBudget', () => {
  it('allows retries up to 20 % of the requests in the window', () => {
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 0, windowMs: 10_000 }, new ManualClock());
    for (let i = 0; i < 10; i++) budget.recordRequest();
    expect([budget.tryRetry(), budget.tryRetry(), budget.tryRetry()]).toEqual([true, true, false]);
  });

  it('refills as old requests leave the window', async () => {
    const clock = new ManualClock();
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 0, windowMs: 10_000 }, clock);
    for (let i = 0; i < 5; i++) budget.recordRequest();
    expect(budget.tryRetry()).toBe(true);
    expect(budget.tryRetry()).toBe(false);
    await clock.advance(11_000);
    for (let i = 0; i < 5; i++) budget.recordRequest();
    expect(budget.tryRetry()).toBe(true);
  });

  it('always allows the floor of retries per second', () => {
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 1, windowMs: 10_000 }, new ManualClock());
    let allowed = 0;
    for (let i = 0; i < 50; i++) if (budget.tryRetry()) allowed++;
    expect(allowed).toBe(10);
  });
});

describe('Bulkhead', () => {
  it('sheds low priority first, then normal, and keeps a reserve for high', () => {
    const bulkhead = new Bulkhead(10, 0.8, 2);
    for (let i = 0; i < 8; i++) expect(bulkhead.tryEnter('low')).toBe(true);
    expect(bulkhead.tryEnter('low')).toBe(false);
    expect(bulkhead.tryEnter('normal')).toBe(true);
    expect(bulkhead.tryEnter('normal')).toBe(true);
    expect(bulkhead.tryEnter('normal')).toBe(false);
    expect(bulkhead.saturated()).toBe(true);
    expect(bulkhead.tryEnter('high')).toBe(true);
    expect(bulkhead.tryEnter('high')).toBe(true);
    expect(bulkhead.tryEnter('high')).toBe(false);
    bulkhead.leave();
    expect(bulkhead.inFlight()).toBe(11);
  });

  it('reads X-Priority words and digits, defaulting to normal', () => {
    expect(parsePriority('LOW')).toBe('low');
    expect(parsePriority('9')).toBe('high');
    expect(parsePriority('1')).toBe('low');
    expect(parsePriority(undefined)).toBe('normal');
    fc.assert(
      fc.property(fc.string(), (s) => {
        expect(['low', 'normal', 'high']).toContain(parsePriority(s));
      }),
    );
  });
});
