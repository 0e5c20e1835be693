import fc from 'fast-check';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { adminHeaders, onBehalfHeaders, serviceHeaders, startTestAimesh } from '../support/aimesh.js';

describe('Events HTTP API', () => {
  let aimesh: RunningAimesh;
  beforeAll(async () => {
    aimesh = await startTestAimesh({
      targets: ['events'],
      config: { events: { relay: { enabled: false } } },
    });
  });
  afterAll(async () => {
    await aimesh?.stop();
  });

  const send = async (body: string | Buffer, contentType = 'application/json') => {
    const r = await request(`${aimesh.url}/api/v1/events`, {
      method: 'POST',
      headers: { ...serviceHeaders(), 'content-type': contentType },
      body,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const text = await r.body.text();
    return { status: r.statusCode, body: text ? JSON.parse(text) : undefined };
  };
  const post = (value: unknown) => send(JSON.stringify(value));
  const good = { id: 'api-1', type: 'ai.training.started', source: '/pipeline', data: { executionId: 'e1' } };

  it('keeps platform event types to service and admin principals: 403 reserved_event_type for others', async () => {
    const as = async (headers: Record<string, string>, value: unknown) => {
      const r = await request(`${aimesh.url}/api/v1/events`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify(value),
      });
      const text = await r.body.text();
      return { status: r.statusCode, body: text ? JSON.parse(text) : undefined };
    };
    const forged = {
      id: 'forged-promotion',
      type: 'ai.model.promoted',
      source: '/x',
      data: { model: 'iris', version: 1, alias: 'production' },
    };
    for (const roles of [['caller'], ['operator']]) {
      const refused = await as(onBehalfHeaders('mallory', roles), forged);
      expect(refused.status, roles.join()).toBe(403);
      expect(refused.body.error.code).toBe('reserved_event_type');
      expect(refused.body.error.message).toContain('ai.model.promoted');
    }
    // One reserved type in a batch refuses the whole batch: nothing of it is stored.
    const own = { id: 'own-1', type: 'shop.order.placed', source: '/shop', data: { order: 1 } };
    const batch = await as(onBehalfHeaders('mallory', ['caller']), [own, { ...forged, id: 'forged-2' }]);
    expect(batch.status).toBe(403);
    // A caller's own event types are its to append.
    expect((await as(onBehalfHeaders('mallory', ['caller']), own)).status).toBe(201);
    expect((await as(adminHeaders(), { ...forged, id: 'admin-promotion' })).status).toBe(201);
    const stored = await request(`${aimesh.url}/api/v1/events?type=ai.model.promoted`, {
      headers: adminHeaders(),
    });
    const ids = ((await stored.body.json()) as { events: { id: string }[] }).events.map((e) => e.id);
    expect(ids).toEqual(['admin-promotion']);
  });

  it('appends an event (201), then answers 200 with duplicate: true for the same id', async () => {
    const first = await post(good);
    expect(first.status).toBe(201);
    expect(first.body.events[0]).toMatchObject({ id: 'api-1', duplicate: false });
    const again = await post(good);
    expect(again.status).toBe(200);
    expect(again.body.events[0]).toMatchObject({ id: 'api-1', duplicate: true });
  });

  it('queries what was appended', async () => {
    const r = await request(`${aimesh.url}/api/v1/events?type=ai.training.started`, {
      headers: adminHeaders(),
    });
    const body = (await r.body.json()) as { events: { id: string }[] };
    expect(body.events.map((e) => e.id)).toContain('api-1');
  });

  for (const key of ['id', 'type', 'source'] as const) {
    it(`refuses an event without ${key}: 400 invalid_event naming it`, async () => {
      const { [key]: _, ...rest } = good;
      const r = await post(rest);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('invalid_event');
      expect(r.body.error.message).toContain(`event.${key}`);
    });
  }

  it('refuses wrong types, naming the field (and the index in a batch)', async () => {
    const numericSource = await post({ ...good, id: 'w1', source: 42 });
    expect(numericSource.status).toBe(400);
    expect(numericSource.body.error.message).toContain('event.source');
    const inBatch = await post([
      { ...good, id: 'w2' },
      { ...good, id: 'w3', type: ['x'] },
    ]);
    expect(inBatch.status).toBe(400);
    expect(inBatch.body.error.message).toContain('event[1].type');
    const badData = await post({ ...good, id: 'w4', data: { executionId: 5 } });
    expect(badData.status).toBe(400);
    expect(badData.body.error.code).toBe('invalid_event_data');
    const badTime = await post({ ...good, id: 'w5', time: 'noon' });
    expect(badTime.body.error).toMatchObject({ code: 'invalid_event' });
    const scalar = await post('just a string');
    expect(scalar.status).toBe(400);
  });

  it('refuses invalid JSON with 400 invalid_json', async () => {
    const r = await send('{"id": "x", "type": ');
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_json');
  });

  it('refuses a 10 MB body with 413 payload_too_large', async () => {
    const huge = JSON.stringify({
      ...good,
      id: 'huge',
      data: { executionId: 'x', pad: 'x'.repeat(10 * 1024 * 1024) },
    });
    const r = await send(huge);
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('payload_too_large');
  });

  it('refuses a body that is not JSON with 415', async () => {
    const r = await send('id=1', 'application/x-www-form-urlencoded');
    expect(r.status).toBe(415);
  });

  it('answers any generated JSON body with 2xx or 4xx, never 5xx or a hang', async () => {
    const eventLike = fc.record(
      {
        id: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
        type: fc.oneof(
          fc.constantFrom('ai.inference.completed', 'ai.model.promoted', 'x.y'),
          fc.string(),
          fc.integer(),
        ),
        source: fc.oneof(fc.string(), fc.boolean()),
        time: fc.oneof(
          fc.string(),
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          fc.integer(),
        ),
        dataschema: fc.string(),
        correlationid: fc.oneof(fc.string(), fc.integer()),
        data: fc.jsonValue({ maxDepth: 3 }),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.jsonValue({ maxDepth: 3 }), eventLike, fc.array(eventLike, { maxLength: 5 })),
        async (value) => {
          const r = await post(value);
          expect(r.status, JSON.stringify(r.body)).toBeGreaterThanOrEqual(200);
          expect(r.status, JSON.stringify(r.body)).toBeLessThan(500);
        },
      ),
      { numRuns: 150 },
    );
  }, 60_000);

  it('answers arbitrary text bodies with 2xx or 4xx, never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), async (text) => {
        const r = await send(text);
        expect(r.status).toBeLessThan(500);
      }),
      { numRuns: 100 },
    );
  }, 60_000);
});
