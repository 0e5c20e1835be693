import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { startTestAimesh } from '../support/aimesh.js';

describe('discovery HTTP API', () => {
  let aimesh: RunningAimesh;
  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${aimesh.url}${path}`, {
      method,
      headers: body ? { 'content-type': 'application/json', ...headers } : headers,
      body: body ? JSON.stringify(body) : undefined,
    });

  const liveIds = async () =>
    (await aimesh.db.query<{ id: string }>('SELECT id FROM aimesh_discovery_instances')).rows.map(
      (r) => r.id,
    );

  beforeAll(async () => {
    aimesh = await startTestAimesh({ targets: ['discovery'] });
  });
  afterAll(() => aimesh.stop());

  it('registers, renews and deregisters an outside instance', async () => {
    const created = await call('POST', '/api/v1/discovery/instances', {
      service: 'model-inference',
      url: 'http://127.0.0.1:9100',
      metadata: { models: [{ id: 'm', version: '1' }] },
      ttlMs: 10_000,
    });
    expect(created.status).toBe(201);
    const { instance } = await created.json();
    expect(await liveIds()).toEqual([instance.id]);

    const renewed = await call('PUT', `/api/v1/discovery/instances/${instance.id}/heartbeat`);
    expect(renewed.status).toBe(200);

    expect((await call('DELETE', `/api/v1/discovery/instances/${instance.id}`)).status).toBe(204);
    expect(await liveIds()).toEqual([]);
    const gone = await call('PUT', `/api/v1/discovery/instances/${instance.id}/heartbeat`);
    expect(gone.status).toBe(404);
    expect((await gone.json()).error.code).toBe('instance_not_found');
  });

  it('refuses a bad registration with 400 and the field at fault', async () => {
    const bad = await call('POST', '/api/v1/discovery/instances', { service: 'x', url: 'not a url' });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.code).toBe('invalid_url');
    const missing = await call('POST', '/api/v1/discovery/instances', { url: 'http://127.0.0.1:1' });
    expect(missing.status).toBe(400);
  });
});

describe('discovery HTTP API with a token', () => {
  let aimesh: RunningAimesh;
  beforeAll(async () => {
    aimesh = await startTestAimesh({
      targets: ['discovery'],
      config: { discovery: { token: 'a-long-registration-token' } },
    });
  });
  afterAll(() => aimesh.stop());

  it('requires the bearer token', async () => {
    const body = JSON.stringify({ service: 'svc', url: 'http://127.0.0.1:9101' });
    const headers = { 'content-type': 'application/json' };
    const without = await fetch(`${aimesh.url}/api/v1/discovery/instances`, {
      method: 'POST',
      headers,
      body,
    });
    expect(without.status).toBe(401);
    const wrong = await fetch(`${aimesh.url}/api/v1/discovery/instances`, {
      method: 'POST',
      headers: { ...headers, authorization: 'Bearer a-long-registration-tokeX' },
      body,
    });
    expect(wrong.status).toBe(401);
    const right = await fetch(`${aimesh.url}/api/v1/discovery/instances`, {
      method: 'POST',
      headers: { ...headers, authorization: 'Bearer a-long-registration-token' },
      body,
    });
    expect(right.status).toBe(201);
  });
});
