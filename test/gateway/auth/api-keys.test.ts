import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyStore } from '../../../src/gateway/auth/index.js';
import { ManualClock } from '../../../src/kernel/clock.js';
import type { Database } from '../../../src/ports/database.js';
import { gatewayDatabase, startAuthServer } from './auth-server.js';

const ADMIN = 'admin-token-for-tests-0123456789';
const T0 = Date.parse('2026-01-01T00:00:00Z');

async function call(url: string, init: RequestInit = {}) {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

const admin = (extra: Record<string, string> = {}) => ({
  authorization: `Bearer ${ADMIN}`,
  'content-type': 'application/json',
  ...extra,
});

let db: Database;
beforeAll(async () => {
  db = await gatewayDatabase();
});
afterAll(() => db?.close());

describe('API keys', () => {
  const clock = new ManualClock(T0);
  let server: Awaited<ReturnType<typeof startAuthServer>>;

  beforeAll(async () => {
    server = await startAuthServer({
      config: { adminToken: ADMIN, apiKeys: { cacheTtlMs: 5_000 } },
      clock,
      db,
    });
  });
  afterAll(() => server?.stop());

  async function createKey(body: Record<string, unknown>) {
    const res = await call(`${server.url}/api/v1/admin/keys`, {
      method: 'POST',
      headers: admin(),
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(201);
    return res.body as { id: string; key: string; owner: string; expiresAt: string | null };
  }

  it('creates a key that is shown once and authenticates in X-API-Key and Authorization: Bearer', async () => {
    const created = await createKey({ owner: 'alice', team: 'search' });
    expect(created.key).toMatch(/^aim_[A-Za-z0-9_-]{43}$/);

    const viaHeader = await call(`${server.url}/guarded`, { headers: { 'x-api-key': created.key } });
    expect(viaHeader).toEqual({
      status: 200,
      body: { id: 'alice', team: 'search', keyId: created.id, roles: ['caller'], via: 'api-key' },
    });
    const viaBearer = await call(`${server.url}/guarded`, {
      headers: { authorization: `Bearer ${created.key}` },
    });
    expect(viaBearer.status).toBe(200);

    const listed = await call(`${server.url}/api/v1/admin/keys?owner=alice`, { headers: admin() });
    expect(listed.body.keys).toHaveLength(1);
    expect(listed.body.keys[0]).not.toHaveProperty('key');
  });

  it('answers with a promise every time: a cached key, an unknown one, and missing or malformed credentials', async () => {
    const { key } = await createKey({ owner: 'promised' });
    const { authenticator } = server.auth;
    const first = authenticator.authenticate({ 'x-api-key': key });
    expect(first).toBeInstanceOf(Promise);
    expect((await first).id).toBe('promised');
    const cached = authenticator.authenticate({ 'x-api-key': key });
    expect(cached).toBeInstanceOf(Promise);
    expect((await cached).id).toBe('promised');
    for (const headers of [{}, { 'x-api-key': 'nope' }, { 'x-api-key': `aim_${'x'.repeat(43)}` }]) {
      const refused = authenticator.authenticate(headers);
      expect(refused).toBeInstanceOf(Promise);
      await expect(refused).rejects.toMatchObject({ status: 401 });
    }
  });

  it('stores only the hash of a key', async () => {
    const created = await createKey({ owner: 'hash-check' });
    const { rows } = await server.db.query('SELECT * FROM gateway_api_keys WHERE id = $1', [created.id]);
    expect(JSON.stringify(rows)).not.toContain(created.key);
    expect(JSON.stringify(rows)).not.toContain(created.key.slice(12));
  });

  it('answers 401 missing_credentials without credentials and invalid_api_key for an unknown key', async () => {
    expect((await call(`${server.url}/guarded`)).body.error.code).toBe('missing_credentials');
    const wrong = await call(`${server.url}/guarded`, { headers: { 'x-api-key': `aim_${'x'.repeat(43)}` } });
    expect(wrong).toMatchObject({ status: 401, body: { error: { code: 'invalid_api_key' } } });
    const garbage = await call(`${server.url}/guarded`, { headers: { 'x-api-key': 'not-a-key' } });
    expect(garbage).toMatchObject({ status: 401, body: { error: { code: 'invalid_api_key' } } });
    const basic = await call(`${server.url}/guarded`, { headers: { authorization: 'Basic dTpw' } });
    expect(basic).toMatchObject({ status: 401, body: { error: { code: 'invalid_credentials' } } });
  });

  it('rejects an expired key with 401 expired_api_key', async () => {
    const created = await createKey({ owner: 'bob', expiresIn: '1h' });
    expect((await call(`${server.url}/guarded`, { headers: { 'x-api-key': created.key } })).status).toBe(200);
    await clock.advance(3_600_000);
    const res = await call(`${server.url}/guarded`, { headers: { 'x-api-key': created.key } });
    expect(res).toMatchObject({ status: 401, body: { error: { code: 'expired_api_key' } } });
  });

  it('rejects a revoked key with 401 revoked_api_key at once in the revoking process', async () => {
    const created = await createKey({ owner: 'carol' });
    expect((await call(`${server.url}/guarded`, { headers: { 'x-api-key': created.key } })).status).toBe(200);
    const revoked = await call(`${server.url}/api/v1/admin/keys/${created.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    const res = await call(`${server.url}/guarded`, { headers: { 'x-api-key': created.key } });
    expect(res).toMatchObject({ status: 401, body: { error: { code: 'revoked_api_key' } } });
  });

  it('answers 404 api_key_not_found when revoking an unknown id', async () => {
    const res = await call(`${server.url}/api/v1/admin/keys/nope`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(res).toMatchObject({ status: 404, body: { error: { code: 'api_key_not_found' } } });
  });

  it('guards the admin API: 401 without a token or with a wrong one, 403 for a caller key', async () => {
    const none = await call(`${server.url}/api/v1/admin/keys`);
    expect(none).toMatchObject({ status: 401, body: { error: { code: 'missing_credentials' } } });
    const wrong = await call(`${server.url}/api/v1/admin/keys`, {
      method: 'POST',
      headers: { authorization: 'Bearer wrong-admin-token-0000000', 'content-type': 'application/json' },
      body: JSON.stringify({ owner: 'mallory' }),
    });
    expect(wrong).toMatchObject({ status: 401, body: { error: { code: 'invalid_token' } } });
    const created = await server.auth.keys.create({ owner: 'mallory' });
    const caller = await call(`${server.url}/api/v1/admin/keys`, {
      method: 'POST',
      headers: { 'x-api-key': created.key, 'content-type': 'application/json' },
      body: JSON.stringify({ owner: 'mallory', roles: ['admin'] }),
    });
    expect(caller).toMatchObject({ status: 403, body: { error: { code: 'insufficient_role' } } });
    expect(caller.body.error.message).toContain('admin');
  });

  it.each([
    [{}, 'invalid_request'],
    [{ owner: '' }, 'invalid_request'],
    [{ owner: 'x', role: 'admin' }, 'invalid_request'],
    [{ owner: 'x', expiresIn: 'soon' }, 'invalid_expiry'],
    [{ owner: 'x', expiresIn: '0d' }, 'invalid_expiry'],
  ])('answers 400 to the key body %j with %s', async (body, code) => {
    const res = await call(`${server.url}/api/v1/admin/keys`, {
      method: 'POST',
      headers: admin(),
      body: JSON.stringify(body),
    });
    expect(res).toMatchObject({ status: 400, body: { error: { code } } });
  });
});

describe('API keys without an admin token configured', () => {
  it('refuses the admin API: no bearer token is an admin (401 invalid_token)', async () => {
    const server = await startAuthServer({ config: {}, clock: new ManualClock(T0), db });
    try {
      const res = await call(`${server.url}/api/v1/admin/keys`, {
        headers: { authorization: 'Bearer something' },
      });
      expect(res).toMatchObject({ status: 401, body: { error: { code: 'invalid_token' } } });
    } finally {
      await server.stop();
    }
  });
});

describe('API key cache', () => {
  it('lets another process see a revocation within the cache lifetime, and not before', async () => {
    const clock = new ManualClock(T0);
    const options = { db, clock, cacheTtlMs: 5_000, cacheSize: 100 };
    const processA = new ApiKeyStore(options);
    const processB = new ApiKeyStore(options);
    const created = await processA.create({ owner: 'dave' });
    expect((await processB.find(created.key))?.revokedAt).toBeUndefined();
    await processA.revoke(created.id);
    await clock.advance(4_000);
    expect((await processB.find(created.key))?.revokedAt).toBeUndefined();
    await clock.advance(1_000);
    expect((await processB.find(created.key))?.revokedAt).toBeInstanceOf(Date);
  });

  it('keeps at most cacheSize lookups in memory and still answers for evicted keys', async () => {
    const store = new ApiKeyStore({ db, clock: new ManualClock(T0), cacheTtlMs: 60_000, cacheSize: 2 });
    const keys = await Promise.all(['a', 'b', 'c'].map((owner) => store.create({ owner })));
    for (const k of keys) expect((await store.find(k.key))?.owner).toBe(k.owner);
    expect((store as unknown as { cache: Map<string, unknown> }).cache.size).toBe(2);
    expect((await store.find(keys[0].key))?.owner).toBe('a');
  });
});
