import { describe, expect, it } from 'vitest';
import {
  credentialResolver,
  withPlatformTokens,
} from '../../../src/gateway/auth/credential-authenticator.js';
import type { ApiKeyRecord } from '../../../src/gateway/auth/index.js';
import { assertAdmin, bearerToken, createCredentialAuthenticator } from '../../../src/gateway/auth/index.js';
import { platformTokenResolver } from '../../../src/kernel/access.js';
import { ManualClock } from '../../../src/kernel/clock.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const record = (overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord => ({
  id: 'k1',
  prefix: 'aim_abcdef',
  owner: 'alice',
  roles: ['caller'],
  team: 'research',
  createdAt: new Date(NOW - 1_000),
  ...overrides,
});

/** Keys held in a map; `cachedKeys` answer at once, the others after a lookup. */
function authenticator(
  keys: Record<string, ApiKeyRecord>,
  cachedKeys: string[] = [],
  jwt?: { verify(t: string): Promise<never> },
) {
  return createCredentialAuthenticator({
    clock: new ManualClock(NOW),
    jwt: jwt as never,
    keys: {
      cached: (key) => (cachedKeys.includes(key) ? (keys[key] ?? null) : undefined),
      find: async (key) => keys[key] ?? null,
    },
  });
}

async function outcome(run: () => unknown) {
  try {
    return await run();
  } catch (error) {
    return (error as { code: string }).code;
  }
}

describe('Credential authenticator', () => {
  const alice = 'aim_alice-key';

  it('accepts a key in X-API-Key or Authorization: Bearer, cached or looked up', async () => {
    const auth = authenticator({ [alice]: record() }, [alice]);
    const principal = { id: 'alice', team: 'research', keyId: 'k1', roles: ['caller'], via: 'api-key' };
    expect(await auth.authenticate({ 'x-api-key': alice })).toEqual(principal);
    expect(await auth.authenticate({ authorization: `Bearer ${alice}` })).toEqual(principal);
    const looked = authenticator({ [alice]: record() });
    expect(await looked.authenticate({ 'x-api-key': alice })).toEqual(principal);
  });

  it.each([
    [{}, 'missing_credentials'],
    [{ 'x-api-key': '' }, 'missing_credentials'],
    [{ 'x-api-key': ['aim_a', 'aim_b'] }, 'invalid_api_key'],
    [{ 'x-api-key': 'not-a-key' }, 'invalid_api_key'],
    [{ 'x-api-key': `aim_${'x'.repeat(253)}` }, 'invalid_api_key'],
    [{ 'x-api-key': 'aim_unknown' }, 'invalid_api_key'],
    [{ authorization: 'Basic abc' }, 'invalid_credentials'],
    [{ authorization: 'Bearer eyJ.some.jwt' }, 'invalid_token'],
  ])('refuses %j with 401 %s', async (headers, code) => {
    const auth = authenticator({ [alice]: record() });
    expect(await outcome(() => auth.authenticate(headers))).toBe(code);
  });

  it.each([
    [{ 'x-api-key': ['aim_a', 'aim_b'] }, 'send one X-API-Key header'],
    [{ 'x-api-key': 'not-a-key' }, 'the API key is not valid'],
    [{ 'x-api-key': 'aim_unknown' }, 'the API key is not valid'],
    [{ authorization: 'Basic abc' }, 'Authorization must be "Bearer <API key or JWT>"'],
    [{ authorization: 'Bearer eyJ.some.jwt' }, 'bearer tokens are not accepted here; use an API key'],
    [{}, 'send an API key in X-API-Key or a bearer token in Authorization'],
  ])('tells the caller of %j what is wrong: %s', async (headers, message) => {
    const auth = authenticator({ [alice]: record() });
    await expect(auth.authenticate(headers)).rejects.toMatchObject({ status: 401, message });
  });

  it('never asks the key store about a value that is not a key, or one longer than 256 characters', async () => {
    const asked: string[] = [];
    const auth = createCredentialAuthenticator({
      clock: new ManualClock(NOW),
      keys: {
        cached: (key) => {
          asked.push(`cached ${key}`);
          return undefined;
        },
        find: async (key) => {
          asked.push(`find ${key}`);
          return null;
        },
      },
    });
    for (const key of ['not-a-key', `aim_${'x'.repeat(253)}`])
      await expect(auth.authenticate({ 'x-api-key': key })).rejects.toMatchObject({
        code: 'invalid_api_key',
      });
    expect(asked).toEqual([]);
    await expect(auth.authenticate({ 'x-api-key': 'aim_x' })).rejects.toMatchObject({
      code: 'invalid_api_key',
    });
    expect(asked).toEqual(['cached aim_x', 'find aim_x']);
  });

  it('answers a cached key, and a key cached as unknown, without a lookup', async () => {
    const found: string[] = [];
    const auth = createCredentialAuthenticator({
      clock: new ManualClock(NOW),
      keys: {
        cached: (key) => (key === alice ? record() : key === 'aim_gone' ? null : undefined),
        find: async (key) => {
          found.push(key);
          return null;
        },
      },
    });
    expect(await auth.authenticate({ 'x-api-key': alice })).toMatchObject({ id: 'alice' });
    await expect(auth.authenticate({ 'x-api-key': 'aim_gone' })).rejects.toMatchObject({
      code: 'invalid_api_key',
    });
    expect(found).toEqual([]);
  });

  it('names the revoked or expired key by its prefix, and when it expired', async () => {
    const auth = authenticator({
      aim_revoked: record({ revokedAt: new Date(NOW - 1) }),
      aim_expired: record({ expiresAt: new Date(NOW - 60_000) }),
    });
    await expect(auth.authenticate({ 'x-api-key': 'aim_revoked' })).rejects.toMatchObject({
      message: 'API key aim_abcdef… has been revoked',
    });
    await expect(auth.authenticate({ 'x-api-key': 'aim_expired' })).rejects.toMatchObject({
      message: 'API key aim_abcdef… expired at 2025-12-31T23:59:00.000Z',
    });
  });

  it('accepts a key of exactly 256 characters', async () => {
    const long = `aim_${'x'.repeat(252)}`;
    expect(long).toHaveLength(256);
    expect(await authenticator({ [long]: record() }).authenticate({ 'x-api-key': long })).toMatchObject({
      id: 'alice',
    });
  });

  it('refuses revoked keys, and keys expiring now or earlier, but not a moment later', async () => {
    const keys = {
      aim_revoked: record({ revokedAt: new Date(NOW - 1) }),
      aim_now: record({ expiresAt: new Date(NOW) }),
      aim_later: record({ expiresAt: new Date(NOW + 1), team: undefined }),
    };
    const auth = authenticator(keys);
    expect(await outcome(() => auth.authenticate({ 'x-api-key': 'aim_revoked' }))).toBe('revoked_api_key');
    expect(await outcome(() => auth.authenticate({ 'x-api-key': 'aim_now' }))).toBe('expired_api_key');
    expect(await auth.authenticate({ 'x-api-key': 'aim_later' })).toEqual({
      id: 'alice',
      roles: ['caller'],
      team: undefined,
      keyId: 'k1',
      via: 'api-key',
    });
  });

  it('hands bearer tokens that are not keys to the JWT verifier', async () => {
    const seen: string[] = [];
    const auth = authenticator({}, [], {
      verify: async (token) => {
        seen.push(token);
        throw Object.assign(new Error('no'), { code: 'from_jwt' });
      },
    });
    expect(await outcome(() => auth.authenticate({ authorization: 'Bearer eyJ.a.b' }))).toBe('from_jwt');
    expect(seen).toEqual(['eyJ.a.b']);
  });
});

describe('Admin token', () => {
  it('reads the bearer token, in any case of the scheme, and nothing else', () => {
    expect(bearerToken({ authorization: 'bearer  tok ' })).toBe('tok');
    expect(bearerToken({ authorization: 'Bearer a b' })).toBeUndefined();
    expect(bearerToken({ authorization: 'Token tok' })).toBeUndefined();
    expect(bearerToken({})).toBeUndefined();
    expect(bearerToken({ authorization: 'NotBearer tok' })).toBeUndefined();
    expect(bearerToken({ authorization: ['Bearer tok'] } as never)).toBeUndefined();
  });

  it.each([
    [{}, 'secret-admin-token', 'the admin API needs Authorization: Bearer <admin token>'],
    [
      { authorization: 'Bearer x' },
      undefined,
      'the admin API is disabled: set gateway.auth.adminToken to enable it',
    ],
    [{ authorization: 'Bearer wrong' }, 'secret-admin-token', 'the admin token is not valid'],
  ])('tells the caller of %j (configured %s): %s', (headers, token, message) => {
    expect(() => assertAdmin(headers, token)).toThrow(message);
  });

  it('takes no token from repeated X-Admin-Token headers', () => {
    expect(() => assertAdmin({ 'x-admin-token': ['secret-admin-token', 'x'] }, 'secret-admin-token')).toThrow(
      expect.objectContaining({ code: 'missing_credentials', status: 401 }),
    );
  });

  it.each([
    [{}, 'secret-admin-token', 'missing_credentials'],
    [{ 'x-admin-token': '' }, 'secret-admin-token', 'missing_credentials'],
    [{ authorization: 'Bearer x' }, undefined, 'admin_disabled'],
    [{ authorization: 'Bearer wrong-admin-token' }, 'secret-admin-token', 'invalid_admin_token'],
    [{ 'x-admin-token': 'secret-admin-token-2' }, 'secret-admin-token', 'invalid_admin_token'],
    [{ authorization: 'Bearer secret-admin-token' }, 'secret-admin-token', 'ok'],
    [{ 'x-admin-token': 'secret-admin-token' }, 'secret-admin-token', 'ok'],
  ])('answers %j (configured %s) with %s', async (headers, token, expected) => {
    expect(
      await outcome(() => {
        assertAdmin(headers, token);
        return 'ok';
      }),
    ).toBe(expected);
  });
});

describe('the gateway credentials as a source of the access guard', () => {
  const seen: unknown[] = [];
  const resolver = credentialResolver({
    authenticate: async (headers) => {
      seen.push(headers);
      return { id: 'k', roles: ['caller'], via: 'api-key' };
    },
  });

  it('answers undefined for headers without credentials, without asking the authenticator', async () => {
    await expect(resolver.resolve({ 'x-other': 'x' })).resolves.toBeUndefined();
    expect(seen).toEqual([]);
  });

  it('asks the authenticator when either an API key or an Authorization header is present', async () => {
    await expect(resolver.resolve({ 'x-api-key': 'aim_key' })).resolves.toMatchObject({ id: 'k' });
    await expect(resolver.resolve({ authorization: 'Bearer t' })).resolves.toMatchObject({ id: 'k' });
    expect(seen).toHaveLength(2);
  });
});

describe('the gateway authenticator with the platform tokens', () => {
  const ADMIN = 'admin-token-0123456789';
  const SERVICE = 'service-token-0123456789';
  const withTokens = withPlatformTokens(
    authenticator({ aim_alice_key_0123456789: record() }),
    platformTokenResolver({ adminToken: ADMIN, serviceToken: SERVICE }),
  );
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('takes the admin token as the admin principal and the service token as the service one', async () => {
    expect(await withTokens.authenticate(bearer(ADMIN))).toMatchObject({ id: 'admin', roles: ['admin'] });
    expect(await withTokens.authenticate(bearer(SERVICE))).toMatchObject({
      id: 'service',
      roles: ['service'],
    });
  });

  it('leaves every other credential to the keys and JWTs', async () => {
    expect(await outcome(() => withTokens.authenticate(bearer('not-a-platform-token-0123')))).toBe(
      'invalid_token',
    );
    expect(await outcome(() => withTokens.authenticate({}))).toBe('missing_credentials');
  });

  it('lets an X-API-Key win over the admin token sent alongside it', async () => {
    const principal = await withTokens.authenticate({
      ...bearer(ADMIN),
      'x-api-key': 'aim_alice_key_0123456789',
    });
    expect(principal).toMatchObject({ via: 'api-key' });
    expect(principal.roles).not.toContain('admin');
  });
});
