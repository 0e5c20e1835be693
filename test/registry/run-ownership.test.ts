import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { adminHeaders, onBehalfHeaders, serviceHeaders, startTestAimesh } from '../support/aimesh.js';
import { call } from './registry-call.js';

// Starting PGlite and migrating every module takes tens of seconds on a loaded machine.
const START_TIMEOUT_MS = 120_000;

describe('runs are read by their creator, an operator or a service', () => {
  let aimesh: RunningAimesh;
  let anasRun: string;
  let carolsRun: string;
  const carol = onBehalfHeaders('carol', ['caller']);
  const api = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
    call(aimesh.url, method, path, body, headers);

  beforeAll(async () => {
    aimesh = await startTestAimesh({ targets: ['registry'] });
    expect((await api('POST', '/api/v1/experiments', { name: 'owned' })).status).toBe(201);
    // Runs are started by operators; carol's run is one started as her (her operator key, say).
    anasRun = (await api('POST', '/api/v1/experiments/owned/runs', { name: 'ana-1' })).body.id;
    carolsRun = (
      await api(
        'POST',
        '/api/v1/experiments/owned/runs',
        { name: 'carol-1' },
        onBehalfHeaders('carol', ['operator']),
      )
    ).body.id;
    for (const run of [anasRun, carolsRun]) {
      const logged = await api('POST', `/api/v1/runs/${run}/log-batch`, {
        metrics: [{ key: 'accuracy', value: 0.9, step: 0 }],
      });
      expect(logged.status).toBe(204);
    }
  }, START_TIMEOUT_MS);
  afterAll(() => aimesh?.stop());

  it("refuses a caller another principal's run and its metric history: 403 not_owner", async () => {
    for (const path of [`/api/v1/runs/${anasRun}`, `/api/v1/runs/${anasRun}/metrics/accuracy`]) {
      const refused = await api('GET', path, undefined, carol);
      expect(refused.status, path).toBe(403);
      expect(refused.body.error.code).toBe('not_owner');
      expect(refused.body.error.message).toContain(`run ${anasRun}`);
      expect(refused.body.error.message).toContain('operator');
    }
  });

  it('gives a caller its own run and metric history', async () => {
    const own = await api('GET', `/api/v1/runs/${carolsRun}`, undefined, carol);
    expect(own).toMatchObject({ status: 200, body: { id: carolsRun, createdBy: 'carol' } });
    const history = await api('GET', `/api/v1/runs/${carolsRun}/metrics/accuracy`, undefined, carol);
    expect(history.status).toBe(200);
    expect(history.body.items).toHaveLength(1);
  });

  it("gives operators, services and admins anyone's run", async () => {
    for (const headers of [onBehalfHeaders('dan', ['operator']), serviceHeaders(), adminHeaders()]) {
      const read = await api('GET', `/api/v1/runs/${anasRun}`, undefined, headers);
      expect(read).toMatchObject({ status: 200, body: { id: anasRun, createdBy: 'ana' } });
    }
  });

  it('lists to a caller only its own runs, in both searches; to an operator every run', async () => {
    const names = (body: { items: { name: string }[] }) => body.items.map((r) => r.name).sort();
    const byCaller = await api('GET', '/api/v1/experiments/owned/runs', undefined, carol);
    expect(byCaller.status).toBe(200);
    expect(names(byCaller.body)).toEqual(['carol-1']);
    // A filter does not widen it: the creator is one more condition, not one the caller sets.
    const filtered = await api(
      'POST',
      '/api/v1/runs/search',
      {
        experimentIds: ['owned'],
        filter: "attributes.created_by = 'ana'",
      },
      carol,
    );
    expect(filtered).toMatchObject({ status: 200, body: { items: [] } });
    const searched = await api('POST', '/api/v1/runs/search', { experimentIds: ['owned'] }, carol);
    expect(names(searched.body)).toEqual(['carol-1']);
    const byOperator = await api('GET', '/api/v1/experiments/owned/runs');
    expect(names(byOperator.body)).toEqual(['ana-1', 'carol-1']);
    const bySearch = await api('POST', '/api/v1/runs/search', { experimentIds: ['owned'] }, serviceHeaders());
    expect(names(bySearch.body)).toEqual(['ana-1', 'carol-1']);
  });
});
