import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { adminHeaders, startTestAimesh } from '../support/aimesh.js';
import { canRun, type OwnService, startOwnPostgres } from '../support/own-services.js';
import { until } from '../support/until.js';

async function get(url: string) {
  const res = await request(url, { headers: adminHeaders(), headersTimeout: 5_000, bodyTimeout: 5_000 });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    headers: res.headers,
    body: text.startsWith('{') ? JSON.parse(text) : text,
  };
}

async function post(url: string, body: unknown) {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...adminHeaders() },
    body: JSON.stringify(body),
    headersTimeout: 5_000,
  });
  return {
    status: res.statusCode,
    headers: res.headers,
    body: (await res.body.json()) as Reply,
  };
}

// The parts of an answer these tests read.
// biome-ignore lint/suspicious/noExplicitAny: JSON bodies read field by field in assertions
type Reply = Record<string, any>;

describe.skipIf(!canRun('postgres'))('a PostgreSQL outage (own instance, stopped and restarted)', () => {
  let pg: OwnService;
  let aimesh: RunningAimesh;

  beforeAll(async () => {
    pg = await startOwnPostgres();
    aimesh = await startTestAimesh({
      targets: ['events', 'registry'],
      config: {
        database: { adapter: 'postgres', url: pg.url, poolSize: 4 },
        server: { healthCheckMs: 200 },
        events: { relay: { enabled: false } },
      },
    });
  }, 90_000);

  afterAll(async () => {
    await aimesh?.stop();
    await pg?.destroy();
  });

  it('answers 503 naming the database with Retry-After, fails readiness, keeps queued events, and recovers by itself', async () => {
    const before = await post(`${aimesh.url}/api/v1/events`, { type: 'x.fault', source: '/t', id: 'before' });
    expect(before.status).toBe(201);
    expect((await get(`${aimesh.url}/readyz`)).status).toBe(200);

    await pg.stop();

    const read = await get(`${aimesh.url}/api/v1/events?type=x.fault`);
    expect(read.status).toBe(503);
    expect(read.body.error.code).toBe('database_unavailable');
    expect(Number(read.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    const write = await post(`${aimesh.url}/api/v1/events`, { type: 'x.fault', source: '/t', id: 'during' });
    expect(write.status).toBe(503);
    expect(write.body.error.code).toBe('database_unavailable');
    expect(write.headers['retry-after']).toBeDefined();
    const registry = await get(`${aimesh.url}/api/v1/models`);
    expect(registry.status).toBe(503);

    await until(async () => (await get(`${aimesh.url}/readyz`)).status === 503, 5_000, 'readiness failing');
    const ready = await get(`${aimesh.url}/readyz`);
    expect(ready.body.ready).toBe(false);
    expect(Object.keys(ready.body.unreachable)).toEqual(['database']);
    expect(ready.body.modules.registry.status).toBe('degraded');
    expect((await get(`${aimesh.url}/healthz`)).status).toBe(200);

    // A scrape never waits on the database.
    const scrapeStarted = performance.now();
    expect((await get(`${aimesh.url}/metrics`)).status).toBe(200);
    expect(performance.now() - scrapeStarted).toBeLessThan(500);

    // Hot-path events queued during the outage wait in memory.
    for (let i = 0; i < 20; i++) aimesh.events.enqueue({ type: 'x.fault.queued', source: '/t', data: { i } });
    await aimesh.events.flush();

    await pg.start();
    const recoveredIn = await until(
      async () => (await get(`${aimesh.url}/readyz`)).status === 200,
      30_000,
      'readiness recovering',
    );
    expect(recoveredIn).toBeLessThan(30_000);
    expect(
      (await post(`${aimesh.url}/api/v1/events`, { type: 'x.fault', source: '/t', id: 'after' })).status,
    ).toBe(201);
    await until(
      async () => (await aimesh.events.query({ type: 'x.fault.queued', limit: 100 })).length === 20,
      10_000,
      'the queued events being stored',
    );
    const stored = await aimesh.events.query({ type: 'x.fault', limit: 100 });
    expect(stored.map((e) => e.id)).toEqual(['before', 'after']);
  }, 120_000);
});
