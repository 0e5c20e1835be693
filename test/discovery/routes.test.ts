import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { serviceHeaders, startTestAimesh, userHeaders } from '../support/aimesh.js';

describe('discovery HTTP API', () => {
  let aimesh: RunningAimesh;
  const call = (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = serviceHeaders(),
  ) =>
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

describe('discovery HTTP API: only service principals register', () => {
  let aimesh: RunningAimesh;
  beforeAll(async () => {
    aimesh = await startTestAimesh({ targets: ['gateway'] });
  });
  afterAll(() => aimesh.stop());

  it('refuses registration without credentials (401), with a wrong token (401) and from a caller or operator (403)', async () => {
    const body = JSON.stringify({ service: 'model-inference', url: 'http://127.0.0.1:9101' });
    const register = (headers: Record<string, string>) =>
      fetch(`${aimesh.url}/api/v1/discovery/instances`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
    const without = await register({});
    expect(without.status).toBe(401);
    expect((await without.json()).error.code).toBe('missing_credentials');
    expect((await register({ authorization: 'Bearer test-service-token-012345678X' })).status).toBe(401);
    for (const roles of [['caller'], ['operator']]) {
      const refused = await register(await userHeaders(aimesh.url, roles));
      expect(refused.status).toBe(403);
      expect((await refused.json()).error).toMatchObject({ code: 'insufficient_role' });
      expect(await liveCount()).toBe(0);
    }
    expect((await register(serviceHeaders())).status).toBe(201);
    expect(await liveCount()).toBe(1);
  });

  it('refuses a caller’s DELETE of a live instance, which stays registered', async () => {
    const [instance] = (await aimesh.db.query<{ id: string }>('SELECT id FROM aimesh_discovery_instances'))
      .rows;
    const removed = await fetch(`${aimesh.url}/api/v1/discovery/instances/${instance.id}`, {
      method: 'DELETE',
      headers: await userHeaders(aimesh.url, ['caller'], 'mallory'),
    });
    expect(removed.status).toBe(403);
    expect(await liveCount()).toBe(1);
  });

  const liveCount = async () =>
    (await aimesh.db.query<{ n: number }>('SELECT count(*)::int AS n FROM aimesh_discovery_instances'))
      .rows[0].n;
});
