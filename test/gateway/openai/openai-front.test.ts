import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AuthConfig, createGatewayAuth, type GatewayAuth } from '../../../src/gateway/auth/index.js';
import { systemClock } from '../../../src/kernel/clock.js';
import { readSection } from '../../../src/kernel/config.js';
import type { Database } from '../../../src/ports/database.js';
import { gatewayDatabase } from '../auth/auth-server.js';
import { startFakeOpenAi } from './fake-openai-upstream.js';
import { startOpenAiGateway } from './openai-gateway.js';

type Fake = Awaited<ReturnType<typeof startFakeOpenAi>>;
type Gateway = Awaited<ReturnType<typeof startOpenAiGateway>>;

describe('OpenAI-compatible front, through the official openai client', () => {
  let db: Database;
  let auth: GatewayAuth;
  let upstream: Fake;
  let overloaded: Fake;
  let gateway: Gateway;
  let quotaGateway: Gateway;
  let aliceKey: string;
  let client: OpenAI;

  const openai = () => ({
    upstreams: [
      { name: 'local', baseUrl: `${upstream.url}/v1`, apiKey: 'upstream-secret' },
      { name: 'overloaded', baseUrl: `${overloaded.url}/v1` },
      { name: 'down', baseUrl: 'http://127.0.0.1:1/v1' },
    ],
    models: [
      { id: 'gpt-local', upstream: 'local', upstreamModel: 'tiny-llama' },
      { id: 'gpt-flaky', upstream: 'overloaded', fallbacks: ['gpt-down', 'gpt-local'] },
      { id: 'gpt-down', upstream: 'down' },
      { id: 'embed-local', type: 'embedding', upstream: 'local' },
      { id: 'secret-model', upstream: 'local' },
    ],
  });

  beforeAll(async () => {
    db = await gatewayDatabase();
    auth = createGatewayAuth({
      config: readSection(AuthConfig, { access: { rules: [{ user: 'alice', deny: ['secret-*'] }] } }),
      db,
      clock: systemClock,
    });
    upstream = await startFakeOpenAi();
    overloaded = await startFakeOpenAi({ failWith: 503 });
    gateway = await startOpenAiGateway({ auth, openai: openai() });
    quotaGateway = await startOpenAiGateway({ auth, openai: openai(), rateLimit: { dailyTokenQuota: 60 } });
    aliceKey = (await auth.keys.create({ owner: 'alice' })).key;
    client = new OpenAI({ apiKey: aliceKey, baseURL: `${gateway.url}/v1`, maxRetries: 0, timeout: 10_000 });
  });
  afterAll(async () => {
    await gateway?.stop();
    await quotaGateway?.stop();
    await upstream?.stop();
    await overloaded?.stop();
    await db?.close();
  });

  it('answers a chat completion, naming the model that served it', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-local', messages: [{ role: 'user', content: 'hello there' }] })
      .withResponse();
    expect(data.choices[0].message.content).toBe('echo: hello there');
    expect(data.usage?.total_tokens).toBe(25);
    expect(response.headers.get('x-model-id')).toBe('gpt-local');
    expect(response.headers.get('ratelimit-limit')).toBe('100');
  });

  it('sends the upstream its own model name and credentials, never the caller’s key', async () => {
    await client.chat.completions.create({ model: 'gpt-local', messages: [{ role: 'user', content: 'x' }] });
    const call = upstream.seen.at(-1)!;
    expect(call.path).toBe('/v1/chat/completions');
    expect(call.body.model).toBe('tiny-llama');
    expect(call.headers.authorization).toBe('Bearer upstream-secret');
    expect(JSON.stringify(call.headers)).not.toContain(aliceKey);
  });

  it('streams a chat completion chunk by chunk', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-local',
      messages: [{ role: 'user', content: 'one two three' }],
      stream: true,
    });
    const pieces: string[] = [];
    let releasedAfterFirst = false;
    for await (const chunk of stream) {
      const content = chunk.choices[0]?.delta?.content;
      if (typeof content === 'string') pieces.push(content);
      if (pieces.length === 1 && !releasedAfterFirst) {
        // The upstream holds the rest back until now: the first chunk came through on its own.
        releasedAfterFirst = true;
        upstream.releaseStream();
      }
    }
    expect(releasedAfterFirst).toBe(true);
    expect(pieces.join('')).toBe('echo: one two three');
    await vi.waitFor(() =>
      expect(gateway.events.at(-1)).toMatchObject({
        type: 'ai.inference.completed',
        data: { front: 'openai', stream: true, modelId: 'gpt-local', status: 200, totalTokens: undefined },
      }),
    );
  });

  it('gets the first streamed chunk well before the upstream finishes', async () => {
    const started = Date.now();
    const stream = await client.chat.completions.create({
      model: 'gpt-local',
      messages: [{ role: 'user', content: 'slow' }],
      stream: true,
    });
    const iterator = stream[Symbol.asyncIterator]();
    const first = await iterator.next();
    const firstAfter = Date.now() - started;
    expect(first.value?.choices[0].delta.content).toBe('echo:');
    // Unreleased, the upstream holds the rest for 2 s; a buffering gateway could not answer before that.
    expect(firstAfter).toBeLessThan(1_500);
    upstream.releaseStream();
    for await (const _ of { [Symbol.asyncIterator]: () => iterator }) {
      // drain
    }
  });

  it('serves embeddings', async () => {
    const result = await client.embeddings.create({ model: 'embed-local', input: 'a sentence' });
    expect(result.data[0].embedding).toEqual([0.5, 0.25, -1]);
  });

  it('lists only the models the caller may use', async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    const { response } = await client.models.list().withResponse();
    expect(response.headers.get('ratelimit-limit')).toBe('100');
    expect(ids).toEqual(['gpt-local', 'gpt-flaky', 'gpt-down', 'embed-local']);
  });

  it('falls back along the chain when the model’s upstream fails (503, then refused connection)', async () => {
    const before = overloaded.seen.length;
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-flaky', messages: [{ role: 'user', content: 'still there?' }] })
      .withResponse();
    expect(data.choices[0].message.content).toBe('echo: still there?');
    expect(overloaded.seen.length).toBe(before + 1);
    expect(response.headers.get('x-model-id')).toBe('gpt-local');
    expect(response.headers.get('x-model-fallback')).toBe('gpt-flaky');
    await vi.waitFor(() =>
      expect(gateway.events.at(-1)?.data).toMatchObject({
        front: 'openai',
        fallbackFrom: 'gpt-flaky',
        modelId: 'gpt-local',
        status: 200,
        totalTokens: 25,
      }),
    );
    const metrics = await gateway.metrics.metrics();
    expect(metrics).toContain(
      'aimesh_gateway_openai_fallbacks_total{requested="gpt-flaky",served="gpt-local"} 1',
    );
    expect(metrics).toMatch(
      /aimesh_gateway_openai_requests_total\{model="gpt-local",status="200",stream="false"\} \d+/,
    );
    expect(metrics).toMatch(/aimesh_gateway_openai_tokens_total\{model="gpt-local"\} \d+/);
  });

  it('answers 502 upstream_unavailable when every model of the chain fails', async () => {
    const error = await client.chat.completions
      .create({ model: 'gpt-down', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((error as InstanceType<typeof OpenAI.APIError>).message).toContain('gpt-down');
  });

  it('refuses a model outside the caller’s access rules with 403 model_forbidden', async () => {
    const error = await client.chat.completions
      .create({ model: 'secret-model', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('model_forbidden');
  });

  it('refuses a wrong key with 401 invalid_api_key', async () => {
    const stranger = new OpenAI({
      apiKey: `aim_${'z'.repeat(43)}`,
      baseURL: `${gateway.url}/v1`,
      maxRetries: 0,
    });
    const error = await stranger.models.list().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('invalid_api_key');
  });

  it.each([
    [{ model: 'gpt-local' }, 400, 'invalid_request'],
    [{ model: 'gpt-local', messages: [] }, 400, 'invalid_request'],
    [{ model: 'nope', messages: [{ role: 'user', content: 'x' }] }, 404, 'model_not_found'],
    [{ model: 'embed-local', messages: [{ role: 'user', content: 'x' }] }, 400, 'wrong_model_type'],
  ])('answers %j with %i %s', async (body, status, code) => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${aliceKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(status);
    expect((await response.json()).error.code).toBe(code);
  });

  it('charges token usage to the daily quota and answers 429 quota_exceeded once it is spent', async () => {
    const key = (await auth.keys.create({ owner: 'quota-user' })).key;
    const quotaClient = new OpenAI({ apiKey: key, baseURL: `${quotaGateway.url}/v1`, maxRetries: 0 });
    const ask = () =>
      quotaClient.chat.completions.create({ model: 'gpt-local', messages: [{ role: 'user', content: 'x' }] });
    await ask(); // 25 of 60
    const stream = await quotaClient.chat.completions.create({
      model: 'gpt-local',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    let usage: number | undefined;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content === 'echo:') upstream.releaseStream();
      usage = chunk.usage?.total_tokens ?? usage;
    }
    expect(usage).toBe(25); // streamed calls are charged too: 50
    expect(upstream.seen.at(-1)?.body.stream_options).toEqual({ include_usage: true });
    await vi.waitFor(() => expect(quotaGateway.events.at(-1)?.data).toMatchObject({ totalTokens: 25 }));
    await ask(); // 75: admitted with 10 left, overdraws
    const error = await ask().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('quota_exceeded');
    expect((error as InstanceType<typeof OpenAI.APIError>).headers?.get('retry-after')).toBeTruthy();
  });

  it('guards the upstreams with the pipeline’s breakers: a failing one is skipped once its breaker opens', async () => {
    const before = overloaded.seen.length;
    for (let i = 0; i < 8; i++) {
      const { response } = await client.chat.completions
        .create({ model: 'gpt-flaky', messages: [{ role: 'user', content: `call ${i}` }] })
        .withResponse();
      expect(response.headers.get('x-model-id')).toBe('gpt-local');
      expect(response.headers.get('server-timing')).toMatch(/^gateway;dur=[\d.]+, upstream;dur=[\d.]+$/);
    }
    // The default policy opens after 5 calls at a failure rate of 50 % or more (one came earlier).
    expect(overloaded.seen.length - before).toBeLessThanOrEqual(5);
    const breaker = gateway.breakers.list().find((b) => b.name === `endpoint:${overloaded.url}/v1`);
    expect(breaker?.state).toBe('open');
    // Calls refused before a model was chosen (400, 404 above) count under no model.
    expect(await gateway.metrics.metrics()).not.toContain('aimesh_gateway_openai_requests_total{model=""');
  });
});
