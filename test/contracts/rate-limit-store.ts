import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RateLimitStore } from '../../src/ports/rate-limit-store.js';

/** What an adapter under test provides: the store, and a way to let `ms` of its time pass. */
export interface RateLimitStoreUnderTest {
  store: RateLimitStore;
  /** Lets time pass for the store: a manual clock's advance, or a real wait. */
  elapse(ms: number): Promise<void>;
}

/** The Rate-limit store port's contract; every adapter runs it. */
export function rateLimitStoreContract(
  name: string,
  open: () => Promise<RateLimitStoreUnderTest>,
  enabled = true,
) {
  describe.skipIf(!enabled)(`RateLimitStore contract: ${name}`, () => {
    let subject: RateLimitStoreUnderTest;
    const run = randomBytes(4).toString('hex');
    let n = 0;
    const freshKey = () => `contract:${run}:${n++}`;

    beforeAll(async () => {
      subject = await open();
    });
    afterAll(() => subject?.store.close());

    it('answers every take with a promise, whatever the store (one return type for the port)', async () => {
      const answer = subject.store.take(freshKey(), { capacity: 1, refillPerSecond: 1 });
      expect(answer).toBeInstanceOf(Promise);
      expect((await answer).allowed).toBe(true);
    });

    it('allows a burst of `capacity` calls, then refuses with how long to wait', async () => {
      const key = freshKey();
      const rule = { capacity: 5, refillPerSecond: 1 };
      const decisions = [];
      for (let i = 0; i < 6; i++) decisions.push(await subject.store.take(key, rule));
      expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
      expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0, 0]);
      expect(decisions.every((d) => d.limit === 5)).toBe(true);
      expect(decisions[0].retryAfterMs).toBe(0);
      expect(decisions[5].retryAfterMs).toBeGreaterThan(900);
      expect(decisions[5].retryAfterMs).toBeLessThanOrEqual(1000);
      expect(decisions[5].resetMs).toBeGreaterThan(4_900);
      expect(decisions[5].resetMs).toBeLessThanOrEqual(5_000);
    });

    it('refills continuously at refillPerSecond, never above capacity', async () => {
      const key = freshKey();
      const rule = { capacity: 2, refillPerSecond: 20 };
      await subject.store.take(key, rule);
      await subject.store.take(key, rule);
      expect((await subject.store.take(key, rule)).allowed).toBe(false);
      await subject.elapse(250);
      const after = [];
      for (let i = 0; i < 3; i++) after.push((await subject.store.take(key, rule)).allowed);
      expect(after).toEqual([true, true, false]);
    });

    it('debits `cost` tokens, and nothing for a refused call', async () => {
      const key = freshKey();
      const rule = { capacity: 10, refillPerSecond: 0.001 };
      expect(await subject.store.take(key, rule, 7)).toMatchObject({ allowed: true, remaining: 3 });
      const refused = await subject.store.take(key, rule, 5);
      expect(refused).toMatchObject({ allowed: false, remaining: 3 });
      expect(refused.retryAfterMs).toBeGreaterThan(1_000_000);
      expect(await subject.store.take(key, rule, 3)).toMatchObject({ allowed: true, remaining: 0 });
    });

    it('keeps buckets of different keys apart', async () => {
      const rule = { capacity: 1, refillPerSecond: 0.001 };
      const a = freshKey();
      const b = freshKey();
      expect((await subject.store.take(a, rule)).allowed).toBe(true);
      expect((await subject.store.take(a, rule)).allowed).toBe(false);
      expect((await subject.store.take(b, rule)).allowed).toBe(true);
    });

    it('lets exactly `capacity` of many concurrent calls through', async () => {
      const key = freshKey();
      const rule = { capacity: 20, refillPerSecond: 0.001 };
      const decisions = await Promise.all(Array.from({ length: 60 }, () => subject.store.take(key, rule)));
      expect(decisions.filter((d) => d.allowed)).toHaveLength(20);
    });
  });
}
