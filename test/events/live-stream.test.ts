import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { adminHeaders, serviceHeaders, startTestAimesh, TEST_ADMIN_TOKEN } from '../support/aimesh.js';
import { sleep, waitFor } from '../support/wait.js';

const bin = new URL('../../bin/aimesh.js', import.meta.url).pathname;

/** Reads an SSE stream into parsed events until `stop()`. */
async function openStream(url: string) {
  const response = await request(url, { bodyTimeout: 0, headers: adminHeaders() });
  const events: { type: string; data: Record<string, unknown> }[] = [];
  let pending = '';
  const done = (async () => {
    try {
      for await (const chunk of response.body) {
        pending += chunk.toString();
        for (let end = pending.indexOf('\n\n'); end >= 0; end = pending.indexOf('\n\n')) {
          const frame = pending.slice(0, end);
          pending = pending.slice(end + 2);
          const type = /^event: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (type && data) events.push({ type, data: JSON.parse(data) });
        }
      }
    } catch {
      // The test closed the stream.
    }
  })();
  return {
    status: response.statusCode,
    headers: response.headers,
    events,
    async stop() {
      response.body.destroy();
      await done;
    },
  };
}

let seq = 0;
const withId = (event: Record<string, unknown>) => ({ id: `live-${Date.now()}-${++seq}`, ...event });
const post = (base: string, body: Record<string, unknown> | Record<string, unknown>[]) =>
  request(`${base}/api/v1/events`, {
    method: 'POST',
    headers: { ...serviceHeaders(), 'content-type': 'application/json' },
    body: JSON.stringify(Array.isArray(body) ? body.map(withId) : withId(body)),
  }).then(async (r) => ({ status: r.statusCode, body: (await r.body.json()) as Record<string, unknown> }));

describe('Live event stream (SSE) and aimesh events tail', () => {
  let aimesh: RunningAimesh;
  beforeAll(async () => {
    aimesh = await startTestAimesh({
      targets: ['events'],
      config: { events: { relay: { pollIntervalMs: 50 }, stream: { clientBufferSize: 5 } } },
    });
  });
  afterAll(async () => {
    await aimesh?.stop();
  });

  it('streams appended events to a client as Server-Sent Events, filtered by type', async () => {
    const all = await openStream(`${aimesh.url}/api/v1/events/stream`);
    const inference = await openStream(`${aimesh.url}/api/v1/events/stream?type=ai.inference.*`);
    expect(all.status).toBe(200);
    expect(all.headers['content-type']).toMatch(/^text\/event-stream/);
    await sleep(50);
    await post(aimesh.url, [
      { type: 'ai.training.started', source: '/t', data: { executionId: 'e1' } },
      { type: 'ai.inference.completed', source: '/t', data: { modelId: 'm', latencyMs: 12 } },
    ]);
    await waitFor(() => all.events.length === 2 && inference.events.length === 1, 'both streams');
    expect(all.events.map((e) => e.type)).toEqual(['ai.training.started', 'ai.inference.completed']);
    expect(inference.events[0].data).toMatchObject({
      type: 'ai.inference.completed',
      data: { latencyMs: 12 },
    });
    await all.stop();
    await inference.stop();
  });

  it('refuses a malformed type filter with 400', async () => {
    const r = await request(`${aimesh.url}/api/v1/events/stream?type=${encodeURIComponent('a b')}`, {
      headers: adminHeaders(),
    });
    expect(r.statusCode).toBe(400);
    expect(((await r.body.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
  });

  it('drops a client that stops reading once its buffer is full, and counts it', async () => {
    // A raw socket that never reads: the kernel buffers fill, then our bounded backlog.
    const socket = connect({ host: '127.0.0.1', port: aimesh.port });
    await new Promise((r) => socket.once('connect', r));
    socket.write(
      `GET /api/v1/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${adminHeaders().authorization}\r\n\r\n`,
    );
    socket.pause();
    await sleep(100);
    const big = 'x'.repeat(200_000);
    for (let i = 0; i < 60 && !(await droppedCount()); i++) {
      await post(aimesh.url, { type: 'test.big', source: '/t', data: { big } });
    }
    expect(await droppedCount()).toBe(1);
    socket.destroy();
  });

  it('`aimesh events tail --type` prints matching events as JSON lines', async () => {
    const child = spawn(
      process.execPath,
      [bin, 'events', 'tail', '--url', aimesh.url, '--type', 'ai.model.promoted', '--count', '1'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AIMESH_ADMIN_TOKEN: TEST_ADMIN_TOKEN } },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    // Keep appending until the tail (still starting) has connected and printed one.
    for (let i = 0; i < 150 && out === ''; i++) {
      await post(aimesh.url, { type: 'ai.training.started', source: '/t', data: { executionId: 'x' } });
      await post(aimesh.url, {
        type: 'ai.model.promoted',
        source: '/t',
        data: { model: 'm', version: 1, alias: 'prod' },
      });
      await sleep(100);
    }
    expect(await exited).toBe(0);
    const line = JSON.parse(out.trim().split('\n')[0]);
    expect(line).toMatchObject({ type: 'ai.model.promoted', data: { alias: 'prod' } });
  }, 30_000);

  async function droppedCount(): Promise<number> {
    const text = await (await request(`${aimesh.url}/metrics`)).body.text();
    return Number(/^aimesh_events_stream_clients_dropped_total (\d+)/m.exec(text)?.[1] ?? 0);
  }
});
