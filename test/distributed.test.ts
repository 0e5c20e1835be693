import pg from 'pg';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceHeaders, TEST_SERVICE_TOKEN } from './support/aimesh.js';
import { readStream, testStream } from './support/nats.js';
import { type AimeshProcess, runAimesh } from './support/processes.js';
import { createTestDatabase, NATS_URL, serviceAvailable } from './support/services.js';
import { sleep } from './support/wait.js';

const available = (await serviceAvailable('postgres')) && (await serviceAvailable('nats'));

describe.skipIf(!available)('Two targets as separate processes on Postgres + NATS (postgres, nats)', () => {
  const stream = testStream();
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let events: AimeshProcess;
  let registry: AimeshProcess;
  let eventsUrl: string;
  let registryUrl: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    const env = {
      AIMESH_DATABASE_URL: database.url,
      AIMESH_NATS_URL: NATS_URL,
      AIMESH_BUS__STREAM: stream.stream,
      AIMESH_BUS__SUBJECT_PREFIX: stream.subjectPrefix,
      AIMESH_ARTIFACTS__DIR: '.tmp/artifacts',
      // The credential platform processes share, so the test can append as one of them.
      AIMESH_GATEWAY__AUTH__SERVICE_TOKEN: TEST_SERVICE_TOKEN,
    };
    // Started together: both run the migrations at once against the fresh database.
    events = runAimesh(['start', '--target', 'events', '--port', '0'], env);
    registry = runAimesh(['start', '--target', 'registry', '--port', '0'], env);
    [eventsUrl, registryUrl] = await Promise.all([events.url(30_000), registry.url(30_000)]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([events?.stop(), registry?.stop()]);
    await stream.drop();
    await database?.drop();
  });

  it('serves each target on its own port', async () => {
    expect(eventsUrl).not.toBe(registryUrl);
    const readiness = async (url: string) =>
      (await (await request(`${url}/readyz`)).body.json()) as { modules: Record<string, unknown> };
    // Each target runs with the event log it records into, and nothing else.
    expect(Object.keys((await readiness(eventsUrl)).modules)).toEqual(['eventlog', 'events']);
    expect(Object.keys((await readiness(registryUrl)).modules)).toEqual(['eventlog', 'registry']);
  });

  it('stores an event appended through one process once and puts it on the JetStream stream once', async () => {
    const id = `dist-${Date.now()}`;
    const body = JSON.stringify({
      id,
      type: 'ai.evaluation.completed',
      source: '/t',
      data: { model: 'm', version: 1, accuracy: 0.97 },
    });
    const post = () =>
      request(`${eventsUrl}/api/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...serviceHeaders() },
        body,
      });
    expect((await post()).statusCode).toBe(201);
    expect((await post()).statusCode).toBe(200); // the same id again: a no-op
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT count(*)::int AS n FROM aimesh_events WHERE id = $1', [id]);
      expect(rows[0].n).toBe(1);
    } finally {
      await client.end();
    }
    let onStream: Awaited<ReturnType<typeof readStream>> = [];
    for (let i = 0; i < 50 && onStream.length === 0; i++) {
      await sleep(200);
      onStream = await readStream(stream.stream, `${stream.subjectPrefix}ai.>`);
    }
    await sleep(1_000);
    onStream = await readStream(stream.stream, `${stream.subjectPrefix}ai.>`);
    expect(onStream.map((m) => m.msgId)).toEqual([id]);
    expect(onStream[0].subject).toBe(`${stream.subjectPrefix}ai.evaluation.completed`);
    expect(JSON.parse(onStream[0].data)).toMatchObject({
      id,
      type: 'ai.evaluation.completed',
      data: { accuracy: 0.97 },
    });
  });
});
