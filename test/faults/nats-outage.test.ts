import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { startTestAimesh } from '../support/aimesh.js';
import { canRun, type OwnService, startOwnNats } from '../support/own-services.js';
import { until } from '../support/until.js';

async function readiness(url: string) {
  const res = await request(`${url}/readyz`, { headersTimeout: 5_000 });
  return { status: res.statusCode, body: (await res.body.json()) as Reply };
}

// The parts of an answer these tests read.
// biome-ignore lint/suspicious/noExplicitAny: JSON bodies read field by field in assertions
type Reply = Record<string, any>;

describe.skipIf(!canRun('nats'))('a NATS outage (own instance, killed and restarted)', () => {
  let nats: OwnService;
  let aimesh: RunningAimesh;

  beforeAll(async () => {
    nats = await startOwnNats();
    aimesh = await startTestAimesh({
      targets: ['events'],
      config: { bus: { adapter: 'nats', servers: nats.url }, server: { healthCheckMs: 200 } },
    });
  }, 60_000);

  afterAll(async () => {
    await aimesh?.stop();
    await nats?.destroy();
  });

  it('fails readiness naming the bus while it is down and recovers when it returns; liveness stays up', async () => {
    expect((await readiness(aimesh.url)).status).toBe(200);
    await nats.stop();
    await until(async () => (await readiness(aimesh.url)).status === 503, 10_000, 'readiness failing');
    const down = await readiness(aimesh.url);
    expect(Object.keys(down.body.unreachable)).toEqual(['bus']);
    expect(down.body.modules.events.status).toBe('degraded');
    expect((await request(`${aimesh.url}/healthz`)).statusCode).toBe(200);

    await nats.start();
    await until(async () => (await readiness(aimesh.url)).status === 200, 20_000, 'readiness recovering');
  }, 60_000);
});
