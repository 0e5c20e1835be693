import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../../src/app/runtime.js';
import { startTestAimesh } from '../../support/aimesh.js';
import { startFakeOpenAi } from '../openai/fake-openai-upstream.js';

const ADMIN = 'canonical-admin-token-0123456789';

/**
 * One path for the router, the rate limiter, the access rules and the events: a path spelled
 * another way (percent-encoded letters, repeated slashes, dot segments) is the same path, and
 * one that reads differently to different readers is refused.
 */
describe('the canonical path through the gateway', () => {
  let aimesh: RunningAimesh;
  let upstream: Awaited<ReturnType<typeof startFakeOpenAi>>;
  let key: string;

  beforeAll(async () => {
    upstream = await startFakeOpenAi();
    aimesh = await startTestAimesh({
      targets: ['gateway'],
      config: {
        gateway: {
          auth: { required: false, adminToken: ADMIN },
          rateLimit: {
            rules: [
              { route: '/api/v1/ai/**', requestsPerSecond: 0.01, burst: 2 },
              { route: '/v1/**', requestsPerSecond: 0.01, burst: 2 },
            ],
          },
          openai: {
            upstreams: [{ name: 'local', baseUrl: `${upstream.url}/v1` }],
            models: [{ id: 'chat', upstream: 'local' }],
          },
        },
      },
    });
    const created = await fetch(`${aimesh.url}/api/v1/admin/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ owner: 'spelling' }),
    });
    key = ((await created.json()) as { key: string }).key;
  });
  afterAll(async () => {
    await aimesh?.stop();
    await upstream?.stop();
  });

  const chat = (path: string) =>
    fetch(`${aimesh.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }] }),
    });

  it('limits /%761/chat/completions as /v1/chat/completions, whichever spelling spends the bucket', async () => {
    const first = await chat('/%761/chat/completions');
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-limit')).toBe('2');
    expect((await chat('/v1//chat/completions')).status).toBe(200);
    const third = await chat('/v1/x/../chat/completions');
    expect(third.status).toBe(429);
    expect((await third.json()).error.code).toBe('rate_limited');
    expect((await chat('/v1/chat/completions')).status).toBe(429);
  });

  it('limits /api/v1/a%69/inference as /api/v1/ai/inference', async () => {
    const statuses: number[] = [];
    const limits: (string | null)[] = [];
    for (const path of ['/api/v1/a%69/inference', '/api/v1/%61%69/inference', '/api/v1/a%69/inference']) {
      const response = await fetch(`${aimesh.url}${path}`, { method: 'POST', body: '{}' });
      statuses.push(response.status);
      limits.push(response.headers.get('ratelimit-limit'));
      await response.text();
    }
    // No model server is registered: the two admitted calls find no instance; the third is limited.
    expect(statuses).toEqual([503, 503, 429]);
    expect(limits).toEqual(['2', '2', '2']);
  });

  it.each([
    '/v1%2Fchat/completions',
    '/api/v1/ai%2Finference',
    '/api/v1/ai/inference%00',
    '/v1/chat%5Ccompletions',
  ])('refuses the ambiguous %s with 400 invalid_path', async (path) => {
    const response = await chat(path);
    expect(response.status).toBe(400);
    expect((await response.json()).error.code).toBe('invalid_path');
  });

  it('records the call under the canonical route', async () => {
    await aimesh.events.flush();
    const events = await aimesh.events.query({ type: 'ai.inference.completed', limit: 10 });
    expect(events.map((e) => (e.data as { route: string }).route)).toContain('/v1/chat/completions');
  });
});
