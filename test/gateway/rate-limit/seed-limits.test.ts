import { describe, expect, it } from 'vitest';
import { createMemoryRateLimitStore } from '../../../src/adapters/memory/memory-rate-limit-store.js';
import { GatewayConfig } from '../../../src/gateway/config.js';
import { RateLimiter } from '../../../src/gateway/rate-limit/index.js';
import { ManualClock } from '../../../src/kernel/clock.js';
import { readSection } from '../../../src/kernel/config.js';

// The limits a gateway applies when nothing is configured.
const seed = readSection(GatewayConfig, {}, '/gateway').rateLimit;

function limiter(clock = new ManualClock(0), config = seed) {
  return new RateLimiter(config, createMemoryRateLimitStore({ clock, maxKeys: 100 }));
}

async function allowedOf(rl: RateLimiter, subject: string, path: string, calls: number) {
  let allowed = 0;
  for (let i = 0; i < calls; i++) if ((await rl.check(subject, path))?.allowed) allowed++;
  return allowed;
}

describe("The seed's rate limits", () => {
  it('are 100 requests per second with a burst of 100, per caller, on the model and OpenAI routes', () => {
    expect(seed.enabled).toBe(true);
    expect(seed.rules).toEqual([
      { route: '/api/v1/ai/**', requestsPerSecond: 100, burst: 100, per: 'key' },
      { route: '/v1/**', requestsPerSecond: 100, burst: 100, per: 'key' },
    ]);
  });

  it('let a caller make 100 calls at once to /api/v1/ai/** and refuse the 101st', async () => {
    const rl = limiter();
    expect(await allowedOf(rl, 'key:a', '/api/v1/ai/models/iris/infer', 100)).toBe(100);
    const refused = await rl.check('key:a', '/api/v1/ai/models/iris/infer');
    expect(refused).toMatchObject({ allowed: false, limit: 100, remaining: 0, retryAfterMs: 10 });
    // Another caller has a bucket of its own.
    expect((await rl.check('key:b', '/api/v1/ai/models/iris/infer'))?.allowed).toBe(true);
  });

  it('refill one call per 10 ms: still refused after 9 ms, admitted after 10', async () => {
    const clock = new ManualClock(0);
    const rl = limiter(clock);
    expect(await allowedOf(rl, 'key:a', '/v1/chat/completions', 101)).toBe(100);
    await clock.advance(9);
    expect((await rl.check('key:a', '/v1/chat/completions'))?.allowed).toBe(false);
    await clock.advance(1);
    expect((await rl.check('key:a', '/v1/chat/completions'))?.allowed).toBe(true);
    expect((await rl.check('key:a', '/v1/chat/completions'))?.allowed).toBe(false);
  });

  it('refill 50 calls in half a second and a full burst, no more, in a second', async () => {
    const clock = new ManualClock(0);
    const rl = limiter(clock);
    expect(await allowedOf(rl, 'key:a', '/api/v1/ai/x', 100)).toBe(100);
    await clock.advance(500);
    expect(await allowedOf(rl, 'key:a', '/api/v1/ai/x', 60)).toBe(50);
    await clock.advance(5_000);
    expect(await allowedOf(rl, 'key:a', '/api/v1/ai/x', 120)).toBe(100);
  });

  it('leave routes that no rule names alone', async () => {
    const rl = limiter();
    expect(rl.applies('/api/v1/registry/models')).toBe(false);
    expect(await rl.check('key:a', '/api/v1/registry/models')).toBeUndefined();
  });
});
