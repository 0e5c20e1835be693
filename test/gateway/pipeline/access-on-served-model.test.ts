import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../../src/app/runtime.js';
import { serviceHeaders, startTestAimesh } from '../../support/aimesh.js';
import { startFakeOpenAi } from '../openai/fake-openai-upstream.js';
import { type MisbehavingUpstream, startUpstream } from '../proxy/misbehaving-upstream.js';

const ADMIN = 'access-admin-token-0123456789';

/**
 * Access rules are checked against the model the call will really reach, with its type, however
 * the caller names it: by type, by the body's `model` or `modelId`, by `X-Model-Id`, by the V2 path.
 */
describe('access rules on the model really served', () => {
  let aimesh: RunningAimesh;
  let server: MisbehavingUpstream;
  let llm: Awaited<ReturnType<typeof startFakeOpenAi>>;
  let key: string;

  const call = (path: string, init: { headers?: Record<string, string>; body?: unknown } = {}) =>
    fetch(`${aimesh.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key, ...init.headers },
      body: JSON.stringify(init.body ?? {}),
    });
  const expectForbidden = async (response: Response) => {
    expect(response.status).toBe(403);
    expect((await response.json()).error.code).toBe('model_forbidden');
  };

  beforeAll(async () => {
    server = await startUpstream('model-server');
    llm = await startFakeOpenAi();
    const model = (id: string, type: string) => ({
      id,
      version: '1',
      type,
      upstream: 'model-inference',
      costPerCall: 1,
      accuracy: 0.9,
    });
    aimesh = await startTestAimesh({
      targets: ['gateway', 'registry'],
      config: {
        gateway: {
          auth: {
            required: false,
            adminToken: ADMIN,
            access: { rules: [{ user: 'mallory', deny: ['iris', 'type:classification', 'type:embedding'] }] },
          },
          models: {
            catalogue: [
              model('iris', 'sentiment'),
              model('flower', 'classification'),
              model('mood', 'sentiment'),
            ],
          },
          openai: {
            upstreams: [{ name: 'local', baseUrl: `${llm.url}/v1` }],
            models: [
              { id: 'chat-ok', upstream: 'local' },
              { id: 'embed', type: 'embedding', upstream: 'local' },
            ],
          },
        },
      },
    });
    const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    const created = await fetch(`${aimesh.url}/api/v1/admin/keys`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ owner: 'mallory' }),
    });
    key = ((await created.json()) as { key: string }).key;
    const registered = await fetch(`${aimesh.url}/api/v1/discovery/instances`, {
      method: 'POST',
      headers: { ...serviceHeaders(), 'content-type': 'application/json' },
      body: JSON.stringify({ service: 'model-inference', url: server.url, ttlMs: 600_000 }),
    });
    expect(registered.status).toBe(201);
    // Known to the registry only: its type comes from there.
    const registryModel = await fetch(`${aimesh.url}/api/v1/models`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ name: 'registry-only', type: 'classification' }),
    });
    expect(registryModel.status).toBe(201);
    await new Promise((r) => setTimeout(r, 100));
  });
  afterAll(async () => {
    await aimesh?.stop();
    await server?.close();
    await llm?.stop();
  });

  it('lets an allowed model through, so the refusals below are the rules’ doing', async () => {
    const response = await call('/api/v1/ai/inference', { body: { modelId: 'mood', inputs: [1] } });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-model-id')).toBe('mood');
  });

  it('by type: a denied type is refused', async () => {
    await expectForbidden(await call('/api/v1/ai/inference', { body: { modelType: 'classification' } }));
  });

  it('by the body’s modelId (what the model server reads)', async () => {
    await expectForbidden(await call('/api/v1/ai/inference', { body: { modelId: 'iris', inputs: [1] } }));
    await expectForbidden(await call('/api/v1/ai/inference', { body: { modelId: 'flower', inputs: [1] } }));
  });

  it('by the body’s model', async () => {
    await expectForbidden(await call('/api/v1/ai/inference', { body: { model: 'iris' } }));
    await expectForbidden(await call('/api/v1/ai/inference', { body: { model: 'flower' } }));
  });

  it('by X-Model-Id, whatever the body says', async () => {
    await expectForbidden(await call('/api/v1/ai/inference', { headers: { 'x-model-id': 'iris' } }));
    await expectForbidden(
      await call('/api/v1/ai/inference', { headers: { 'x-model-id': 'flower' }, body: { modelId: 'mood' } }),
    );
  });

  it('by the V2 path, whatever X-Model-Id says', async () => {
    await expectForbidden(await call('/v2/models/iris/infer', { headers: { 'x-model-id': 'mood' } }));
    await expectForbidden(await call('/v2/models/flower/infer'));
    await expectForbidden(await call('/v2/models/fl%6Fwer/versions/1/infer'));
  });

  it('by a type only the registry knows', async () => {
    await expectForbidden(await call('/api/v1/ai/inference', { headers: { 'x-model-id': 'registry-only' } }));
    await expectForbidden(await call('/v2/models/registry-only/infer'));
  });

  it('on the OpenAI front, by the type of the model named', async () => {
    await expectForbidden(await call('/v1/embeddings', { body: { model: 'embed', input: 'x' } }));
    const ok = await call('/v1/chat/completions', {
      body: { model: 'chat-ok', messages: [{ role: 'user', content: 'x' }] },
    });
    expect(ok.status).toBe(200);
  });
});
