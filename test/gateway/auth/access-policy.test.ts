import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthConfig, createAccessPolicy, type Principal } from '../../../src/gateway/auth/index.js';
import { ManualClock } from '../../../src/kernel/clock.js';
import { readSection } from '../../../src/kernel/config.js';
import { startAuthServer } from './auth-server.js';

const access = {
  defaultPolicy: 'allow',
  rules: [
    { user: 'alice', allow: ['gpt-4o*', 'type:embedding'], deny: ['gpt-4o-large'] },
    { team: 'interns', deny: ['type:chat'] },
    { user: '*', deny: ['internal-*'] },
  ],
};

describe('Model access rules over HTTP', () => {
  let server: Awaited<ReturnType<typeof startAuthServer>>;
  let aliceKey: string;
  let internKey: string;

  beforeAll(async () => {
    server = await startAuthServer({
      config: { access },
      clock: new ManualClock(Date.parse('2026-01-01T00:00:00Z')),
    });
    aliceKey = (await server.auth.keys.create({ owner: 'alice' })).key;
    internKey = (await server.auth.keys.create({ owner: 'ivan', team: 'interns' })).key;
  });
  afterAll(() => server?.stop());

  async function use(key: string, model: string, type: string) {
    const response = await fetch(`${server.url}/guarded?model=${model}&type=${type}`, {
      headers: { 'x-api-key': key },
    });
    return { status: response.status, body: await response.json() };
  }

  it('lets a user use a model their allow rule names', async () => {
    expect((await use(aliceKey, 'gpt-4o-mini', 'chat')).status).toBe(200);
    expect((await use(aliceKey, 'bge-small', 'embedding')).status).toBe(200);
  });

  it('answers 403 model_forbidden for a model outside the user’s allow rules', async () => {
    const res = await use(aliceKey, 'llama-3-70b', 'chat');
    expect(res).toMatchObject({ status: 403, body: { error: { code: 'model_forbidden' } } });
    expect(res.body.error.message).toContain("'llama-3-70b'");
  });

  it('lets deny win over a matching allow', async () => {
    const res = await use(aliceKey, 'gpt-4o-large', 'chat');
    expect(res).toMatchObject({ status: 403, body: { error: { code: 'model_forbidden' } } });
    expect(res.body.error.message).toContain("denied by 'gpt-4o-large'");
  });

  it('applies team rules by model type, and rules for everyone', async () => {
    expect((await use(internKey, 'gpt-4o-mini', 'chat')).status).toBe(403);
    expect((await use(internKey, 'bge-small', 'embedding')).status).toBe(200);
    expect((await use(internKey, 'internal-ranker', 'embedding')).status).toBe(403);
  });
});

describe('Access policy defaults', () => {
  const bob: Principal = { id: 'bob', roles: ['caller'], via: 'api-key' };

  it('denies everything not allowed when the default policy is deny', () => {
    const policy = createAccessPolicy(
      readSection(AuthConfig, { access: { defaultPolicy: 'deny', rules: [{ user: 'bob', allow: ['m1'] }] } })
        .access,
    );
    expect(() => policy.assertModelAllowed(bob, { id: 'm1', type: 'chat' })).not.toThrow();
    expect(() => policy.assertModelAllowed(bob, { id: 'm2', type: 'chat' })).toThrow(
      /may not use model 'm2'/,
    );
    expect(() =>
      policy.assertModelAllowed({ id: 'zed', roles: ['caller'], via: 'jwt' }, { id: 'm1', type: 'chat' }),
    ).toThrow();
  });

  it('treats glob characters literally except * and ?', () => {
    const policy = createAccessPolicy(
      readSection(AuthConfig, { access: { rules: [{ user: 'bob', allow: ['a.b?', 'org/(x)*'] }] } }).access,
    );
    expect(() => policy.assertModelAllowed(bob, { id: 'a.b1', type: 't' })).not.toThrow();
    expect(() => policy.assertModelAllowed(bob, { id: 'axb1', type: 't' })).toThrow();
    expect(() => policy.assertModelAllowed(bob, { id: 'org/(x)-large', type: 't' })).not.toThrow();
  });
});
