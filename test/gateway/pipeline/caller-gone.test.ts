import { Agent, type IncomingMessage, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../../src/app/runtime.js';
import { startTestAimesh } from '../../support/aimesh.js';
import { type MisbehavingUpstream, startUpstream } from '../proxy/misbehaving-upstream.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 20 ms for at most `ms`; true once it holds. */
async function within(ms: number, check: () => boolean): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(20)) if (check()) return true;
  return check();
}

describe('a caller that goes away', () => {
  let aimesh: RunningAimesh;
  let upstream: MisbehavingUpstream;

  beforeAll(async () => {
    upstream = await startUpstream('hanging', { kind: 'hang' });
    aimesh = await startTestAimesh({
      targets: ['gateway'],
      config: {
        gateway: {
          auth: { required: false },
          routes: [{ path: '/hang/**', upstreams: [upstream.url] }],
        },
      },
    });
  }, 120_000);

  afterAll(async () => {
    await aimesh?.stop();
    await upstream?.close();
  });

  it('cancels its upstream call at once, also on a kept-alive connection that served a call before', async () => {
    // One socket for both calls: the second rides the connection the first one used.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    const send = (path: string) => {
      const caller = request(`${aimesh.url}${path}`, { agent });
      caller.on('socket', (s) => sockets.add(s));
      caller.on('error', () => {});
      caller.end();
      return caller;
    };
    upstream.behave({ kind: 'ok' });
    const answered = await new Promise<IncomingMessage>((resolve) =>
      send('/hang/first').on('response', resolve),
    );
    expect(answered.statusCode).toBe(200);
    answered.resume();
    await new Promise((resolve) => answered.on('end', resolve));
    upstream.behave({ kind: 'hang' });
    const caller = send('/hang/second');
    expect(await within(5_000, () => upstream.seen.some((s) => s.url === '/hang/second'))).toBe(true);
    expect(sockets.size).toBe(1);
    caller.destroy();
    // The read timeout is 30 s: only the caller's going away can end the upstream call this soon.
    expect(await within(5_000, () => upstream.abandoned() === 1)).toBe(true);
    agent.destroy();
  });
});
