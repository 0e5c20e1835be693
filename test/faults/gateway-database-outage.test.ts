import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { type MisbehavingUpstream, startUpstream } from '../gateway/proxy/misbehaving-upstream.js';
import { startTestAimesh } from '../support/aimesh.js';
import { canRun, type OwnService, startOwnPostgres } from '../support/own-services.js';
import { until as untilEvery } from '../support/until.js';

const ADMIN = 'fault-admin-token-0123456789';
const CACHE_TTL_MS = 300;
const STALE_IF_ERROR_MS = 4_000;

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies read field by field in assertions
type Reply = Record<string, any>;

async function call(url: string, init: { method?: 'GET' | 'POST'; key?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (init.key) headers.authorization = `Bearer ${init.key}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await request(url, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    headersTimeout: 5_000,
    bodyTimeout: 5_000,
  });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    headers: res.headers,
    body: (text.startsWith('{') ? JSON.parse(text) : text) as Reply,
  };
}

const until = (probe: () => Promise<boolean>, ms: number, what: string) => untilEvery(probe, ms, what, 50);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!canRun('postgres'))('the gateway during a database outage (own PostgreSQL)', () => {
  let pg: OwnService;
  let upstream: MisbehavingUpstream;
  let aimesh: RunningAimesh;

  beforeAll(async () => {
    pg = await startOwnPostgres();
    upstream = await startUpstream('plain');
    aimesh = await startTestAimesh({
      targets: ['gateway'],
      config: {
        database: { adapter: 'postgres', url: pg.url, poolSize: 4 },
        server: { healthCheckMs: 100 },
        gateway: {
          auth: {
            adminToken: ADMIN,
            apiKeys: { cacheTtlMs: CACHE_TTL_MS, staleIfErrorMs: STALE_IF_ERROR_MS },
          },
          routes: [{ path: '/plain/**', upstreams: [upstream.url], stripPrefix: '/plain' }],
        },
      },
    });
  }, 90_000);

  afterAll(async () => {
    await aimesh?.stop();
    await upstream?.close();
    await pg?.destroy();
  });

  it('keeps verified keys working for staleIfErrorMs and stays ready as long, answers 503 for unknown keys, then fails readiness and recovers by itself', async () => {
    const created = await call(`${aimesh.url}/api/v1/admin/keys`, {
      method: 'POST',
      key: ADMIN,
      body: { owner: 'ada' },
    });
    expect(created.status).toBe(201);
    const key = created.body.key as string;
    expect((await call(`${aimesh.url}/plain/x`, { key })).status).toBe(200);

    await pg.stop();
    const stoppedAt = Date.now();
    await sleep(CACHE_TTL_MS + 100);

    // Past the cache time, the verified key still works: stale-if-error.
    const stale = await call(`${aimesh.url}/plain/x`, { key });
    expect(stale.status).toBe(200);
    expect(stale.body).toEqual({ upstream: 'plain', path: '/x' });
    // A key never seen cannot be checked: 503 naming the database, with Retry-After.
    const unknown = await call(`${aimesh.url}/plain/x`, { key: 'aim_neverseenbefore0123456789' });
    expect(unknown.status).toBe(503);
    expect(unknown.body.error.code).toBe('database_unavailable');
    expect(Number(unknown.headers['retry-after'])).toBeGreaterThanOrEqual(1);

    // Ready while it serves from memory, and says so.
    await until(
      async () => (await call(`${aimesh.url}/readyz`)).body.unreachable?.database !== undefined,
      2_000,
      'the outage being noticed',
    );
    const serving = await call(`${aimesh.url}/readyz`);
    expect(Date.now() - stoppedAt).toBeLessThan(STALE_IF_ERROR_MS);
    expect(serving.status).toBe(200);
    expect(serving.body.modules.gateway.detail).toMatch(/serving from memory/);

    // Once the window has passed: not ready, and the key can no longer be vouched for.
    await until(async () => (await call(`${aimesh.url}/readyz`)).status === 503, 8_000, 'readiness failing');
    const degraded = await call(`${aimesh.url}/readyz`);
    expect(degraded.body.modules.gateway.status).toBe('degraded');
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(STALE_IF_ERROR_MS);
    const expired = await call(`${aimesh.url}/plain/x`, { key });
    expect(expired.status).toBe(503);
    expect(expired.body.error.code).toBe('database_unavailable');

    await pg.start();
    await until(
      async () => (await call(`${aimesh.url}/readyz`)).status === 200,
      30_000,
      'readiness recovering',
    );
    expect((await call(`${aimesh.url}/plain/x`, { key })).status).toBe(200);
  }, 120_000);
});
