import { Agent, type IncomingMessage, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthConfig, createGatewayAuth } from '../../../src/gateway/auth/index.js';
import { systemClock } from '../../../src/kernel/clock.js';
import { readSection } from '../../../src/kernel/config.js';
import type { Database } from '../../../src/ports/database.js';
import { gatewayDatabase } from '../auth/auth-server.js';
import { type MisbehavingUpstream, startUpstream } from '../proxy/misbehaving-upstream.js';
import { startOpenAiGateway } from './openai-gateway.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 20 ms for at most `ms`; true once it holds. */
async function within(ms: number, check: () => boolean): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(20)) if (check()) return true;
  return check();
}

describe('the OpenAI front, when its caller goes away', () => {
  let db: Database;
  let upstream: MisbehavingUpstream;
  let gateway: Awaited<ReturnType<typeof startOpenAiGateway>>;
  let key: string;

  beforeAll(async () => {
    db = await gatewayDatabase();
    const auth = createGatewayAuth({ config: readSection(AuthConfig, {}), db, clock: systemClock });
    upstream = await startUpstream('llm', { kind: 'hang' });
    gateway = await startOpenAiGateway({
      auth,
      openai: {
        upstreams: [{ name: 'llm', baseUrl: `${upstream.url}/v1` }],
        models: [{ id: 'chat', upstream: 'llm' }],
      },
      // Only the caller's going away can end an upstream call this soon.
      readTimeoutMs: 30_000,
    });
    key = (await auth.keys.create({ owner: 'leaver' })).key;
  });
  afterAll(async () => {
    await gateway?.stop();
    await upstream?.close();
    await db?.close();
  });

  const send = (agent: Agent, stream = false) => {
    const body = JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }], stream });
    const caller = request(`${gateway.url}/v1/chat/completions`, {
      agent,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
    });
    caller.on('error', () => {});
    caller.end(body);
    return caller;
  };

  it('aborts the upstream call when the caller leaves before the upstream’s headers, on a kept-alive connection', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    upstream.behave({ kind: 'ok' });
    const answered = await new Promise<IncomingMessage>((resolve) => send(agent).on('response', resolve));
    expect(answered.statusCode).toBe(200);
    answered.resume();
    await new Promise((resolve) => answered.on('end', resolve));
    upstream.behave({ kind: 'hang' });
    const before = upstream.seen.length;
    const abandonedBefore = upstream.abandoned();
    const caller = send(agent);
    expect(await within(5_000, () => upstream.seen.length > before)).toBe(true);
    caller.destroy();
    expect(await within(5_000, () => upstream.abandoned() === abandonedBefore + 1)).toBe(true);
    agent.destroy();
  });

  it('aborts the upstream stream when the caller leaves in the middle of it', async () => {
    const agent = new Agent({ keepAlive: false });
    upstream.behave({ kind: 'sse', events: ['one', 'two', 'three'], gapMs: 10_000 });
    const abandonedBefore = upstream.abandoned();
    const caller = send(agent, true);
    const response = await new Promise<IncomingMessage>((resolve) => caller.on('response', resolve));
    expect(response.statusCode).toBe(200);
    const first = await new Promise<Buffer>((resolve) => response.once('data', resolve));
    expect(first.toString()).toContain('one');
    caller.destroy();
    expect(await within(5_000, () => upstream.abandoned() === abandonedBefore + 1)).toBe(true);
    await within(
      2_000,
      () => gateway.events.length > 0 && gateway.events.at(-1)?.type === 'ai.inference.failed',
    );
    expect(gateway.events.at(-1)).toMatchObject({ type: 'ai.inference.failed', data: { front: 'openai' } });
    agent.destroy();
  });
});
