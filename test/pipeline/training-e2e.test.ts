import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { parseDefinitionText } from '../../src/pipeline/index.js';
import { startTestAimesh } from '../support/aimesh.js';

const ADMIN = 'training-admin-token-0123456789abcdef';

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/**
 * The training path end to end, in one process with the embedded defaults: the iris example
 * pipeline runs through the gateway's /api/v1/training route, its stages run in task processes
 * of the local worker, the version it registers is promoted by the registry's rules, and the
 * model server serves it with no restart.
 */
describe('training pipelines, all modules in one process', () => {
  let aimesh: RunningAimesh;
  let key: string;
  let callerKey: string;

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${aimesh.url}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: response.status, headers: Object.fromEntries(response.headers), body: parsed } as Reply;
  };
  const withKey = (method: string, path: string, body?: unknown) =>
    call(method, path, body, { 'x-api-key': key });

  const waitFor = async <T>(
    what: string,
    probe: () => Promise<T | undefined>,
    timeoutMs = 90_000,
  ): Promise<T> => {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const value = await probe();
      if (value !== undefined) return value;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`timed out waiting for ${what}`);
  };

  beforeAll(async () => {
    aimesh = await startTestAimesh({
      targets: ['all'],
      config: {
        gateway: { auth: { adminToken: ADMIN } },
        inference: { server: { port: 0 } },
        worker: { heartbeatMs: 200, pollMs: 50 },
      },
    });
    const created = await call(
      'POST',
      '/api/v1/admin/keys',
      { owner: 'alice', roles: ['operator'] },
      { authorization: `Bearer ${ADMIN}` },
    );
    expect(created.status).toBe(201);
    key = created.body.key as string;
    const plain = await call(
      'POST',
      '/api/v1/admin/keys',
      { owner: 'bob' },
      { authorization: `Bearer ${ADMIN}` },
    );
    callerKey = plain.body.key as string;
  }, 60_000);

  afterAll(async () => {
    await aimesh?.stop();
  });

  it('forwards a caller through the gateway with a caller’s rights: reads pass, a run is 403, forged roles are ignored', async () => {
    const asCaller = { 'x-api-key': callerKey };
    expect((await call('GET', '/api/v1/training/executions', undefined, asCaller)).status).toBe(200);
    const definition = {
      name: 'p',
      dataset: { name: 'iris' },
      model: { name: 'm' },
      stages: [{ name: 'a', type: 'train' }],
    };
    const refused = await call('POST', '/api/v1/training/executions', { definition }, asCaller);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: { code: 'insufficient_role' } });
    const forged = await call(
      'POST',
      '/api/v1/training/executions',
      { definition },
      { ...asCaller, 'x-aimesh-roles': 'operator,admin', 'x-aimesh-actor': 'alice' },
    );
    expect(forged.status).toBe(403);
  });

  it('records the authenticated principal as the creator, not an X-Aimesh-Actor it sends', async () => {
    const pushed = await fetch(`${aimesh.url}/api/v1/datasets/forged-owner/versions`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv', 'x-api-key': key },
      body: 'x,y\n1,a\n',
    });
    expect(pushed.status).toBeLessThan(300);
    // Straight to the training listener, where the operator key is checked by the access guard.
    const training = aimesh.manager.api('pipeline')!.url;
    const response = await fetch(`${training}/api/v1/training/executions`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'x-aimesh-actor': 'mallory', 'content-type': 'application/json' },
      body: JSON.stringify({
        definition: {
          name: 'forged',
          dataset: { name: 'forged-owner' },
          model: { name: 'm' },
          stages: [{ name: 'a', type: 'train' }],
        },
      }),
    });
    const body = (await response.json()) as { id: string; createdBy?: string };
    expect(response.status, JSON.stringify(body)).toBe(201);
    expect(body.createdBy).toBe('alice');
    const cancelled = await withKey('POST', `/api/v1/training/executions/${body.id}/cancel`);
    expect(cancelled.status).toBeLessThan(300);
  });

  it('rejects a definition with a cycle with a 400 naming it', async () => {
    const reply = await withKey('POST', '/api/v1/training/executions', {
      definition: {
        name: 'loop',
        dataset: { name: 'iris' },
        model: { name: 'm' },
        stages: [
          { name: 'a', type: 'train', dependsOn: ['b'] },
          { name: 'b', type: 'train', dependsOn: ['a'] },
        ],
      },
    });
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ error: { code: 'invalid_pipeline' } });
    expect(JSON.stringify(reply.body)).toContain('cycle');
  });

  it('runs examples/pipelines/iris.yaml to SUCCEEDED and serves the promoted version', async () => {
    const definition = parseDefinitionText(await readFile('examples/pipelines/iris.yaml', 'utf8'));
    const csv = await readFile('examples/datasets/iris.csv');
    const pushed = await fetch(`${aimesh.url}/api/v1/datasets/iris/versions`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv', 'x-api-key': key },
      body: csv,
    });
    expect(pushed.status).toBeLessThan(300);

    const started = await withKey('POST', '/api/v1/training/executions', { definition });
    expect(started.status).toBe(201);
    const id = started.body.id as string;
    expect(['QUEUED', 'RUNNING']).toContain(started.body.status);

    const finished = await waitFor('the execution to finish', async () => {
      const r = await withKey('GET', `/api/v1/training/executions/${id}`);
      return ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(r.body.status as string) ? r.body : undefined;
    });
    expect(finished.error).toBeNull();
    expect(finished.status).toBe('SUCCEEDED');
    const stages = finished.stages as {
      name: string;
      status: string;
      metrics: Record<string, unknown>;
      output: Record<string, unknown>;
    }[];
    expect(stages.map((s) => [s.name, s.status])).toEqual([
      ['prepare', 'SUCCEEDED'],
      ['train', 'SUCCEEDED'],
      ['evaluate', 'SUCCEEDED'],
      ['deploy', 'SUCCEEDED'],
    ]);
    const history = stages[1].metrics.history as { epoch: number; loss: number }[];
    expect(history).toHaveLength(100);
    expect(history[99].loss).toBeLessThan(history[0].loss);
    const evaluation = stages[2].metrics as { accuracy: number; confusionMatrix: number[][] };
    expect(evaluation.accuracy).toBeGreaterThan(0.95);
    expect(evaluation.confusionMatrix).toHaveLength(3);
    const deployed = stages[3].output as { model: string; version: number; promoted: boolean };
    expect(deployed).toMatchObject({ model: 'iris-classifier', promoted: true });

    // The registry holds the version, promoted, with its lineage.
    const version = await call(
      'GET',
      `/api/v1/models/iris-classifier/versions/${deployed.version}`,
      undefined,
      {
        'x-api-key': key,
      },
    );
    expect(version.body).toMatchObject({ runId: id, dataset: 'iris', aliases: ['production'] });
    expect((version.body.metrics as { accuracy: number }).accuracy).toBeGreaterThan(0.95);

    // The model server follows the promotion: the gateway reaches it by type.
    const answer = await waitFor(
      'the model to be served',
      async () => {
        const r = await withKey('POST', '/api/v1/ai/inference', {
          modelType: 'iris-species',
          inputs: [
            [5.1, 3.5, 1.4, 0.2],
            [6.7, 3.0, 5.2, 2.3],
          ],
        });
        return r.status === 200 ? r : undefined;
      },
      20_000,
    );
    expect(answer.headers['x-model-id']).toBe('iris-classifier');
    expect(answer.headers['x-model-version']).toBe(String(deployed.version));

    const logs = await withKey('GET', `/api/v1/training/executions/${id}/logs`);
    expect(JSON.stringify(logs.body)).toContain('epoch 100');
    const events = await aimesh.events.query({ correlationId: id, limit: 1000 });
    const types = new Set(events.map((e) => e.type));
    for (const type of [
      'ai.training.started',
      'ai.data.preprocess.completed',
      'ai.training.progress',
      'ai.evaluation.completed',
      'ai.training.completed',
    ])
      expect(types).toContain(type);
  }, 150_000);
});
