import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { startTestAimesh } from '../support/aimesh.js';
import { denseModel, onnxFiles, tfjsFiles } from '../support/models.js';

const ADMIN = 'e2e-admin-token-0123456789abcdef';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

/**
 * The whole platform in one process, as `npm start` runs it: a caller with an API key goes
 * through the gateway, which selects a model, finds the inference listener through discovery
 * and forwards; the registry's promotion reaches the model server through the event store,
 * the outbox relay and the bus. No module is replaced by a stand-in.
 */
describe('aimesh, all modules in one process', () => {
  let aimesh: RunningAimesh;
  let key: string;

  const call = async (
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const response = await fetch(`${aimesh.url}${path}`, {
      method,
      // As the admin, unless the call names its own credentials (an API key wins at the gateway).
      headers: {
        authorization: `Bearer ${ADMIN}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return {
      status: response.status,
      headers: Object.fromEntries(response.headers),
      body: parsed as Record<string, unknown>,
    } as Reply;
  };

  const waitFor = async <T>(
    what: string,
    probe: () => Promise<T | undefined>,
    timeoutMs = 20_000,
  ): Promise<T> => {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const value = await probe();
      if (value !== undefined) return value;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
  };

  beforeAll(async () => {
    aimesh = await startTestAimesh({
      targets: ['all'],
      config: {
        gateway: {
          auth: { adminToken: ADMIN },
          models: {
            catalogue: [
              {
                id: 'churn',
                type: 'classification',
                upstream: 'model-inference',
                costPerCall: 1,
                accuracy: 0.97,
              },
            ],
          },
        },
        inference: { server: { port: 0 }, models: [{ model: 'churn', ref: 'production' }], loadRetryMs: 200 },
      },
    });
    // Two versions of a model in the registry, their files in the artifact store.
    const v1 = denseModel(3, [[2, 'softmax']], 1);
    const v2 = denseModel(3, [[2, 'softmax']], 2);
    for (const [name, data] of Object.entries(await tfjsFiles(v1)))
      await aimesh.artifacts.put(`models/churn/1/${name}`, data);
    await aimesh.artifacts.put('models/churn/2/model.onnx', (await onnxFiles(v2))['model.onnx']);
    expect((await call('POST', '/api/v1/models', { name: 'churn', type: 'classification' })).status).toBe(
      201,
    );
    const created1 = await call('POST', '/api/v1/models/churn/versions', {
      format: 'tfjs',
      artifactUri: 'artifact://models/churn/1/',
      metrics: { accuracy: 0.96 },
    });
    expect(created1.status).toBe(201);
    const created2 = await call('POST', '/api/v1/models/churn/versions', {
      format: 'onnx',
      artifactUri: 'artifact://models/churn/2/model.onnx',
      metrics: { accuracy: 0.98 },
    });
    expect(created2.status).toBe(201);
    expect((await call('PUT', '/api/v1/models/churn/aliases/production', { version: 1 })).status).toBe(200);
    const created = await call(
      'POST',
      '/api/v1/admin/keys',
      { owner: 'alice' },
      { authorization: `Bearer ${ADMIN}` },
    );
    expect(created.status).toBe(201);
    key = created.body.key as string;
    await waitFor('the platform to be ready', async () =>
      (await call('GET', '/readyz')).status === 200 ? true : undefined,
    );
  }, 120_000);

  afterAll(async () => {
    await aimesh?.stop();
  });

  const infer = (headers: Record<string, string> = {}, query = '') =>
    call(
      'POST',
      `/api/v1/ai/inference${query}`,
      { modelType: 'classification', inputs: [[1, 2, 3]] },
      {
        'x-api-key': key,
        ...headers,
      },
    );

  it('serves an authenticated call through gateway, discovery and the model server, naming the model', async () => {
    const reply = await infer({ 'x-request-id': 'e2e-call-1' });
    expect(reply.status).toBe(200);
    expect(reply.headers['x-model-id']).toBe('churn');
    expect(reply.headers['x-model-version']).toBe('1');
    expect(reply.body).toMatchObject({ modelId: 'churn', modelVersion: '1' });
    expect(String(reply.headers['server-timing'])).toMatch(/gateway/);
  });

  it('refuses a call without credentials (401) and one no model can satisfy (422)', async () => {
    const response = await fetch(`${aimesh.url}/api/v1/ai/inference`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ modelType: 'classification', inputs: [[1, 2, 3]] }),
    });
    const anonymous = { status: response.status, body: await response.json() };
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toMatchObject({ error: { code: 'missing_credentials' } });
    const strict = await infer({}, '?minAccuracy=0.99');
    expect(strict.status).toBe(422);
    expect(strict.body).toMatchObject({ error: { code: 'no_suitable_model' } });
  });

  it('records the call as events correlated by the request id', async () => {
    const events = await waitFor('the gateway event', async () => {
      const found = await call('GET', '/api/v1/events?type=ai.inference.completed&correlationId=e2e-call-1');
      const list = found.body.events as { source: string; data: Record<string, unknown> }[];
      return list.some((e) => e.data.modelId === 'churn') ? list : undefined;
    });
    expect(events[0].data).toMatchObject({ modelId: 'churn', userId: 'alice', front: 'native' });
    expect(events[0].source).toBe('aimesh/gateway');
    // The model server records its own part of the same call under its own type, joined by the id.
    const serving = await waitFor('the model server event', async () => {
      const found = await call('GET', '/api/v1/events?type=ai.serving.completed&correlationId=e2e-call-1');
      const list = found.body.events as { source: string; data: Record<string, unknown> }[];
      return list.length > 0 ? list : undefined;
    });
    expect(serving).toHaveLength(1);
    expect(serving[0]).toMatchObject({
      source: 'aimesh/inference',
      data: { modelId: 'churn', modelVersion: '1' },
    });
    const gatewayOnly = await call(
      'GET',
      '/api/v1/events?type=ai.inference.completed&correlationId=e2e-call-1',
    );
    expect(gatewayOnly.body.events).toHaveLength(1);
  });

  it('follows a promotion in the registry: the model server loads the promoted version and the gateway serves it', async () => {
    const promotion = await call('PUT', '/api/v1/models/churn/aliases/production', {
      version: 2,
      causationId: 'eval-42',
    });
    expect(promotion.status).toBe(200);
    const version = await waitFor('version 2 to serve', async () => {
      const reply = await infer();
      return reply.status === 200 && reply.body.modelVersion === '2' ? reply : undefined;
    });
    expect(version.body).toMatchObject({ modelId: 'churn', modelVersion: '2' });
    expect(version.headers['x-model-version']).toBe('2');
    const promoted = await call('GET', '/api/v1/events?type=ai.model.promoted&causationId=eval-42');
    expect((promoted.body.events as unknown[]).length).toBe(1);
  });
});
