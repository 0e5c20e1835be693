import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { startFakeOpenAi } from '../gateway/openai/fake-openai-upstream.js';
import { startTestAimesh } from '../support/aimesh.js';

const ADMIN = 'bad-input-admin-token-0123456789';
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const DEEP = nested(10_000);

/**
 * Input PostgreSQL cannot store, numbers beyond a column's range and JSON nested far too deep,
 * sent to every module of a running platform on the embedded defaults: each is a 400 with a code
 * and a message, and the platform keeps serving.
 */
describe('bad input is a 400 with the common error shape on every module', () => {
  let aimesh: RunningAimesh;
  let upstream: Awaited<ReturnType<typeof startFakeOpenAi>>;
  let inference: string;
  let apiKey: string;

  const send = async (
    method: string,
    url: string,
    raw?: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: Record<string, unknown> }> => {
    const response = await fetch(url, {
      method,
      // As the admin, unless the call names its own credentials (an API key wins at the gateway).
      headers: {
        authorization: `Bearer ${ADMIN}`,
        ...(raw === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: raw,
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : {} };
  };
  const refused = async (
    method: string,
    url: string,
    raw: string | undefined,
    code: string,
    headers?: Record<string, string>,
  ) => {
    const reply = await send(method, url, raw, headers);
    expect({ url, status: reply.status, code: (reply.body.error as { code?: string })?.code }).toEqual({
      url,
      status: 400,
      code,
    });
    expect(reply.body.error).toEqual({ code, message: expect.any(String) });
  };
  const admin = { authorization: `Bearer ${ADMIN}` };

  beforeAll(async () => {
    upstream = await startFakeOpenAi();
    aimesh = await startTestAimesh({
      config: {
        gateway: {
          auth: { adminToken: ADMIN, access: { rules: [{ user: 'app', allow: ['chat-*', 'iris'] }] } },
          openai: {
            upstreams: [{ name: 'local', baseUrl: `${upstream.url}/v1` }],
            models: [{ id: 'chat-small', upstream: 'local' }],
          },
        },
      },
    });
    inference = (aimesh.manager.api('inference') as { url: string }).url;
    const created = await send(
      'POST',
      `${aimesh.url}/api/v1/admin/keys`,
      JSON.stringify({ owner: 'app' }),
      admin,
    );
    expect(created.status).toBe(201);
    apiKey = created.body.key as string;
  }, 120_000);
  afterAll(async () => {
    await aimesh?.stop();
    await upstream?.stop();
  });

  it('events: NUL in a stored string or a query value, positions and limits out of range, deep JSON', async () => {
    const events = `${aimesh.url}/api/v1/events`;
    await refused(
      'POST',
      events,
      JSON.stringify({ id: 'e\u0000', type: 'app.x', source: 's' }),
      'invalid_character',
    );
    await refused(
      'POST',
      events,
      JSON.stringify({ id: 'e1', type: 'app.x', source: 's', data: { note: 'a\u0000b' } }),
      'invalid_character',
    );
    await refused('POST', events, '{"id":"e2","type":"app.x","source":"\\ud800"}', 'invalid_character');
    await refused('POST', events, `{"id":"e3","type":"app.x","source":"s","data":${DEEP}}`, 'json_too_deep');
    await refused('GET', `${events}?type=%00`, undefined, 'invalid_character');
    await refused('GET', `${events}?correlationId=a%00b`, undefined, 'invalid_character');
    await refused('GET', `${events}?after=99999999999999999999`, undefined, 'number_out_of_range');
    await refused('GET', `${events}?limit=1e999`, undefined, 'number_out_of_range');
  });

  it('registry: models, versions, promotion, experiments, runs, log-batch, datasets and lineage', async () => {
    const api = `${aimesh.url}/api/v1`;
    expect((await send('POST', `${api}/models`, JSON.stringify({ name: 'bad-in', type: 'x' }))).status).toBe(
      201,
    );
    const version = await send(
      'POST',
      `${api}/models/bad-in/versions`,
      JSON.stringify({ format: 'onnx', artifactUri: 'file:///m.onnx', metrics: { accuracy: 0.99 } }),
    );
    expect(version.status).toBe(201);
    await refused(
      'PUT',
      `${api}/models/bad-in/aliases/production`,
      '{"version":9007199254740992}',
      'number_out_of_range',
    );
    await refused(
      'PUT',
      `${api}/models/bad-in/aliases/production`,
      '{"version":2147483648}',
      'number_out_of_range',
    );
    await refused(
      'POST',
      `${api}/models`,
      JSON.stringify({ name: 'm', type: 'x', tags: { k: '\u0000' } }),
      'invalid_character',
    );
    await refused(
      'POST',
      `${api}/models/bad-in/versions`,
      `{"format":"onnx","artifactUri":"u","params":${DEEP}}`,
      'json_too_deep',
    );
    await refused(
      'POST',
      `${api}/models/bad-in/versions`,
      JSON.stringify({ format: 'onnx', artifactUri: 'u', metrics: { 'acc\u0000': 1 } }),
      'invalid_character',
    );
    await refused('GET', `${api}/models?limit=1e999`, undefined, 'number_out_of_range');
    await refused('GET', `${api}/models?offset=99999999999999999999`, undefined, 'number_out_of_range');
    await refused('GET', `${api}/models?type=%00`, undefined, 'invalid_character');
    await refused('GET', `${api}/models/bad%00in`, undefined, 'invalid_path');

    await refused(
      'POST',
      `${api}/experiments`,
      JSON.stringify({ name: 'x', tags: { 'k\u0000': 'v' } }),
      'invalid_character',
    );
    const experiment = await send('POST', `${api}/experiments`, JSON.stringify({ name: 'bad-in-exp' }));
    expect(experiment.status).toBe(201);
    await refused(
      'POST',
      `${api}/experiments/bad-in-exp/runs`,
      JSON.stringify({ name: 'run\u0000' }),
      'invalid_character',
    );
    const run = await send('POST', `${api}/experiments/bad-in-exp/runs`, JSON.stringify({ name: 'ok' }));
    expect(run.status).toBe(201);
    const runId = run.body.id as string;
    await refused(
      'POST',
      `${api}/runs/${runId}/log-batch`,
      JSON.stringify({ metrics: [{ key: 'loss\u0000', value: 1, step: 0 }] }),
      'invalid_character',
    );
    await refused(
      'POST',
      `${api}/runs/${runId}/log-batch`,
      JSON.stringify({ metrics: [{ key: 'loss', value: 1, step: 2 ** 53 }] }),
      'number_out_of_range',
    );
    await refused(
      'POST',
      `${api}/runs/${runId}/log-batch`,
      '{"metrics":[{"key":"loss","value":1e999}]}',
      'number_out_of_range',
    );
    await refused(
      'PATCH',
      `${api}/runs/${runId}`,
      JSON.stringify({ tags: { t: '\ud800' } }),
      'invalid_character',
    );
    await refused('GET', `${api}/experiments/bad-in-exp/runs?offset=1e20`, undefined, 'number_out_of_range');
    await refused(
      'POST',
      `${api}/runs/search`,
      JSON.stringify({ experimentIds: ['a\u0000'] }),
      'invalid_character',
    );
    await refused('POST', `${api}/datasets/samples/%00`, undefined, 'invalid_path');
    await refused(
      'POST',
      `${api}/lineage`,
      JSON.stringify({
        eventType: 'COMPLETE',
        run: { runId: 'r\u0000' },
        job: { namespace: 'n', name: 'j' },
      }),
      'invalid_character',
    );
    await refused('GET', `${api}/lineage?node=run%3A%00`, undefined, 'invalid_character');
  });

  it('discovery: registration metadata, heartbeats and removals', async () => {
    const api = `${aimesh.url}/api/v1/discovery/instances`;
    await refused(
      'POST',
      api,
      JSON.stringify({ service: 'svc', url: 'http://127.0.0.1:1', metadata: { zone: '\u0000' } }),
      'invalid_character',
    );
    await refused(
      'POST',
      api,
      `{"service":"svc","url":"http://127.0.0.1:1","metadata":{"m":${DEEP}}}`,
      'json_too_deep',
    );
    await refused('PUT', `${api}/%00/heartbeat`, undefined, 'invalid_path');
    await refused('DELETE', `${api}/%00`, undefined, 'invalid_path');
  });

  it('gateway: the key admin API and the OpenAI-compatible front', async () => {
    await refused(
      'POST',
      `${aimesh.url}/api/v1/admin/keys`,
      JSON.stringify({ owner: 'o\u0000' }),
      'invalid_character',
      admin,
    );
    await refused('GET', `${aimesh.url}/api/v1/admin/keys?owner=o%00`, undefined, 'invalid_character', admin);
    await refused('DELETE', `${aimesh.url}/api/v1/admin/keys/%00`, undefined, 'invalid_path', admin);
    const caller = { 'x-api-key': apiKey };
    await refused(
      'POST',
      `${aimesh.url}/v1/chat/completions`,
      `{"model":"chat-small","messages":[{"role":"user","content":${DEEP}}]}`,
      'json_too_deep',
      caller,
    );
    await refused(
      'POST',
      `${aimesh.url}/v1/chat/completions`,
      JSON.stringify({ model: 'chat-small', messages: [{ role: 'user', content: 'a\u0000' }] }),
      'invalid_character',
      caller,
    );
    const ok = await send(
      'POST',
      `${aimesh.url}/v1/chat/completions`,
      JSON.stringify({ model: 'chat-small', messages: [{ role: 'user', content: 'still here' }] }),
      caller,
    );
    expect(ok.status).toBe(200);
  });

  it('inference listener: the V2 protocol and /api/v1/ai/inference, directly and through the gateway', async () => {
    await refused(
      'POST',
      `${inference}/api/v1/ai/inference`,
      `{"modelId":"iris","inputs":${DEEP}}`,
      'json_too_deep',
    );
    await refused(
      'POST',
      `${inference}/api/v1/ai/inference`,
      JSON.stringify({ modelId: 'i\u0000', inputs: [[1]] }),
      'invalid_character',
    );
    await refused('POST', `${inference}/v2/repository/models/%00/load`, '{}', 'invalid_path');
    await refused(
      'PUT',
      `${inference}/v2/repository/models/iris/aliases/production`,
      '{"version":9007199254740992}',
      'number_out_of_range',
    );
    // V2 keeps its protocol's `{ "error": message }` and adds the code.
    const v2 = await send(
      'POST',
      `${inference}/v2/models/iris/infer`,
      `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":${DEEP}}]}`,
    );
    expect(v2).toEqual({ status: 400, body: { error: expect.any(String), code: 'json_too_deep' } });
    const v2Nul = await send(
      'POST',
      `${inference}/v2/models/ir%00is/infer`,
      '{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}',
    );
    expect(v2Nul.status).toBe(400);
    // Refused before any route: the common shape.
    expect(v2Nul.body).toMatchObject({ error: { code: 'invalid_path' } });
    const through = await send('POST', `${aimesh.url}/api/v1/ai/inference`, `{"inputs":${DEEP}}`, {
      'x-api-key': apiKey,
    });
    expect(through.status).toBe(400);
    expect(through.body).toMatchObject({ error: { code: 'json_too_deep' } });
  });

  it('keeps serving afterwards', async () => {
    expect((await send('GET', `${aimesh.url}/healthz`)).status).toBe(200);
    expect((await send('GET', `${aimesh.url}/api/v1/events?limit=1`)).status).toBe(200);
  });
});
