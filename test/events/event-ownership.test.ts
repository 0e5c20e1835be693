import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { adminHeaders, onBehalfHeaders, serviceHeaders, startTestAimesh } from '../support/aimesh.js';

describe('Events HTTP API: whose events a principal reads', () => {
  let aimesh: RunningAimesh;
  const alice = onBehalfHeaders('alice', ['caller']);

  const as = async (
    headers: Record<string, string>,
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
  ) => {
    const r = await request(`${aimesh.url}${path}`, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.body.text();
    // biome-ignore lint/suspicious/noExplicitAny: responses are inspected field by field
    return { status: r.statusCode, body: (text ? JSON.parse(text) : undefined) as any };
  };
  const ids = (body: { events: { id: string }[] }) => body.events.map((e) => e.id);

  beforeAll(async () => {
    aimesh = await startTestAimesh({
      targets: ['events'],
      config: { events: { relay: { enabled: false } } },
    });
    // What the platform records: a call of alice's and one of bob's (the gateway names the
    // caller userId), a registry change by bob (actor), and an event naming nobody.
    const seeded = await as(serviceHeaders(), 'POST', '/api/v1/events', [
      {
        id: 'call-alice',
        type: 'ai.inference.completed',
        source: '/gateway',
        data: { modelId: 'iris', latencyMs: 3, userId: 'alice' },
      },
      {
        id: 'call-bob',
        type: 'ai.inference.completed',
        source: '/gateway',
        data: { modelId: 'iris', latencyMs: 4, userId: 'bob' },
      },
      { id: 'model-bob', type: 'shop.model.noted', source: '/registry', data: { actor: 'bob' } },
      { id: 'nobody', type: 'shop.tick', source: '/clock', data: { n: 1 } },
    ]);
    expect(seeded.status).toBe(201);
  });
  afterAll(() => aimesh?.stop());

  it('answers a caller with only the events it acted in', async () => {
    const own = await as(alice, 'GET', '/api/v1/events');
    expect(own.status).toBe(200);
    expect(ids(own.body)).toEqual(['call-alice']);
    const asked = await as(alice, 'GET', '/api/v1/events?actor=alice&type=ai.inference.completed');
    expect(ids(asked.body)).toEqual(['call-alice']);
  });

  it("refuses a caller another principal's events: 403 not_owner", async () => {
    const refused = await as(alice, 'GET', '/api/v1/events?actor=bob');
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'not_owner' });
    expect(refused.body.error.message).toContain('operator');
  });

  it("answers operators, services and admins with anyone's events, or one actor's when asked", async () => {
    for (const headers of [onBehalfHeaders('olga', ['operator']), serviceHeaders(), adminHeaders()]) {
      expect(ids((await as(headers, 'GET', '/api/v1/events')).body)).toEqual([
        'call-alice',
        'call-bob',
        'model-bob',
        'nobody',
      ]);
      expect(ids((await as(headers, 'GET', '/api/v1/events?actor=bob')).body)).toEqual([
        'call-bob',
        'model-bob',
      ]);
    }
  });

  it('refuses a caller an event naming another principal as its actor: 403 actor_mismatch', async () => {
    for (const data of [{ actor: 'bob' }, { userId: 'bob' }]) {
      const forged = await as(alice, 'POST', '/api/v1/events', {
        id: `forged-${Object.keys(data)[0]}`,
        type: 'shop.note',
        source: '/x',
        data,
      });
      expect(forged.status).toBe(403);
      expect(forged.body.error.code).toBe('actor_mismatch');
    }
    const own = await as(alice, 'POST', '/api/v1/events', {
      id: 'alice-note',
      type: 'shop.note',
      source: '/x',
      data: { actor: 'alice' },
    });
    expect(own.status).toBe(201);
    expect(ids((await as(alice, 'GET', '/api/v1/events')).body)).toEqual(['call-alice', 'alice-note']);
  });
});
