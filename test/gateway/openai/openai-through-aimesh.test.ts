import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../../src/app/runtime.js';
import { startTestAimesh } from '../../support/aimesh.js';
import { createTestDatabase, serviceAvailable } from '../../support/services.js';
import { startFakeOpenAi } from './fake-openai-upstream.js';

const ADMIN = 'e2e-admin-token-0123456789abcdef';

describe('The official openai client against a running aimesh gateway', () => {
  let upstream: Awaited<ReturnType<typeof startFakeOpenAi>>;
  let aimesh: RunningAimesh;
  let client: OpenAI;
  let database: { url: string; drop(): Promise<void> } | undefined;

  beforeAll(async () => {
    upstream = await startFakeOpenAi();
    // A fresh Postgres database starts in milliseconds; embedded PGlite when there is no server.
    if (await serviceAvailable('postgres')) database = await createTestDatabase();
    aimesh = await startTestAimesh({
      targets: ['gateway'],
      config: {
        ...(database ? { database: { adapter: 'postgres', url: database.url, poolSize: 4 } } : {}),
        gateway: {
          auth: { adminToken: ADMIN, access: { rules: [{ user: 'app', allow: ['chat-*'] }] } },
          openai: {
            upstreams: [{ name: 'local', baseUrl: `${upstream.url}/v1` }],
            models: [
              { id: 'chat-small', upstream: 'local' },
              { id: 'other-model', upstream: 'local' },
            ],
          },
        },
      },
    });
    const created = await fetch(`${aimesh.url}/api/v1/admin/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ owner: 'app', expiresIn: '1h' }),
    });
    expect(created.status).toBe(201);
    const { key } = (await created.json()) as { key: string };
    client = new OpenAI({ apiKey: key, baseURL: `${aimesh.url}/v1`, maxRetries: 0, timeout: 10_000 });
  });
  afterAll(async () => {
    await aimesh?.stop();
    await upstream?.stop();
    await database?.drop();
  });

  it('answers a chat completion', async () => {
    const completion = await client.chat.completions.create({
      model: 'chat-small',
      messages: [{ role: 'user', content: 'through the gateway' }],
    });
    expect(completion.choices[0].message.content).toBe('echo: through the gateway');
  });

  it('streams a chat completion', async () => {
    const stream = await client.chat.completions.create({
      model: 'chat-small',
      messages: [{ role: 'user', content: 'a b' }],
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (text === 'echo:') upstream.releaseStream();
    }
    expect(text).toBe('echo: a b');
  });

  it('refuses a model outside the key owner’s rules with 403 and a wrong key with 401', async () => {
    await expect(
      client.chat.completions.create({ model: 'other-model', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
    const stranger = new OpenAI({
      apiKey: `aim_${'q'.repeat(43)}`,
      baseURL: `${aimesh.url}/v1`,
      maxRetries: 0,
    });
    await expect(stranger.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });
});
