import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { serviceHeaders, startTestAimesh } from '../support/aimesh.js';
import { readStream, streamSize, testStream } from '../support/nats.js';
import { NATS_URL, serviceAvailable } from '../support/services.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { sleep } from '../support/wait.js';

const nats = await serviceAvailable('nats');

describe.skipIf(!nats)('Outbox relay through a NATS outage (nats)', () => {
  const stream = testStream();
  let proxy: TcpProxy;
  let aimesh: RunningAimesh;

  beforeAll(async () => {
    const target = new URL(NATS_URL);
    proxy = await startTcpProxy(target.hostname, Number(target.port) || 4222);
    aimesh = await startTestAimesh({
      targets: ['events'],
      config: {
        bus: {
          adapter: 'nats',
          servers: `nats://127.0.0.1:${proxy.port}`,
          stream: stream.stream,
          subjectPrefix: stream.subjectPrefix,
        },
        events: { relay: { pollIntervalMs: 100, maxBackoffMs: 500 } },
      },
    });
  });
  afterAll(async () => {
    proxy?.restore();
    await aimesh?.stop();
    await proxy?.close();
    await stream.drop();
  });

  it('accepts 1,000 appends while the bus is cut off, then publishes all of them once, in order', async () => {
    const subject = `${stream.subjectPrefix}ai.>`;
    await append([
      { id: 'before-outage', type: 'ai.training.started', source: '/t', data: { executionId: 'e' } },
    ]);
    await until(async () => (await streamSize(stream.stream)) === 1, 10_000);

    proxy.cut();
    const ids: string[] = [];
    for (let batch = 0; batch < 20; batch++) {
      const events = Array.from({ length: 50 }, (_, i) => {
        const id = `outage-${batch * 50 + i}`;
        ids.push(id);
        return { id, type: 'ai.inference.completed', source: '/t', data: { modelId: 'm', latencyMs: i } };
      });
      expect(await append(events)).toBe(201);
    }
    await sleep(1_000);
    proxy.restore();

    await until(async () => (await streamSize(stream.stream)) >= 1_001, 40_000);
    await sleep(500);
    const stored = await readStream(stream.stream, subject);
    expect(stored).toHaveLength(1_001);
    expect(stored.map((m) => m.msgId)).toEqual(['before-outage', ...ids]);
  }, 90_000);

  async function append(events: unknown[]): Promise<number> {
    const r = await request(`${aimesh.url}/api/v1/events`, {
      method: 'POST',
      headers: { ...serviceHeaders(), 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    await r.body.dump();
    return r.statusCode;
  }
});

async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(250);
  }
}
