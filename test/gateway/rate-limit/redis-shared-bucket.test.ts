import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisRateLimitStore } from '../../../src/adapters/redis/redis-rate-limit-store.js';
import type { RateLimitStore } from '../../../src/ports/rate-limit-store.js';
import { REDIS_URL, serviceAvailable } from '../../support/services.js';
import { startRateLimitedServer } from './rate-limit-server.js';

const redis = await serviceAvailable('redis');

describe.skipIf(!redis)('Rate limiting shared through Redis', () => {
  const keyPrefix = `aimesh:test:shared:${randomBytes(6).toString('hex')}:`;
  const stores: RateLimitStore[] = [];
  const servers: Awaited<ReturnType<typeof startRateLimitedServer>>[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      // Each gateway has its own Redis connection, as two processes would.
      const store = createRedisRateLimitStore({ url: REDIS_URL, keyPrefix });
      stores.push(store);
      servers.push(
        await startRateLimitedServer(store, {
          rules: [{ route: '/api/v1/ai/**', requestsPerSecond: 0.01, burst: 10 }],
        }),
      );
    }
  });
  afterAll(async () => {
    for (const s of servers) await s.stop();
    for (const s of stores) await s.close();
  });

  it('lets two gateways spend one bucket together: 10 of 20 alternating calls pass', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${servers[i % 2].url}/api/v1/ai/inference`, {
        headers: { 'x-caller': 'shared-key' },
      });
      statuses.push(res.status);
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.slice(10).every((s) => s === 429)).toBe(true);
  });

  it('holds the shared limit under concurrent calls to both gateways', async () => {
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        fetch(`${servers[i % 2].url}/api/v1/ai/inference`, { headers: { 'x-caller': 'concurrent-key' } }),
      ),
    );
    expect(responses.filter((r) => r.status === 200)).toHaveLength(10);
  });
});

/** Starts the gateway-like process; resolves with its URL once it listens. */
async function startProcess(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const script = new URL('./rate-limited-process.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const timer = setTimeout(() => child.kill(), 60_000);
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  clearTimeout(timer);
  return { child, url: line.toString().trim() };
}

describe.skipIf(!redis)('Rate limiting shared through Redis by two gateway processes', () => {
  const processes: { child: ChildProcess; url: string }[] = [];

  beforeAll(async () => {
    const env = {
      REDIS_URL,
      KEY_PREFIX: `aimesh:test:processes:${randomBytes(6).toString('hex')}:`,
      RATE_LIMIT_CONFIG: JSON.stringify({
        rules: [{ route: '/api/v1/ai/**', requestsPerSecond: 0.01, burst: 8 }],
      }),
    };
    processes.push(...(await Promise.all([startProcess(env), startProcess(env)])));
  }, 90_000);
  afterAll(async () => {
    for (const p of processes) {
      p.child.stdin?.end();
      await Promise.race([once(p.child, 'exit'), new Promise((r) => setTimeout(r, 5_000))]);
      p.child.kill();
    }
  });

  it('lets 8 of 16 calls spread over both processes pass, and no more', async () => {
    expect(processes[0].child.pid).not.toBe(processes[1].child.pid);
    const responses = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        fetch(`${processes[i % 2].url}/api/v1/ai/inference`, { headers: { 'x-caller': 'two-processes' } }),
      ),
    );
    expect(responses.filter((r) => r.status === 200)).toHaveLength(8);
    expect(responses.filter((r) => r.status === 429)).toHaveLength(8);
  });
});
