import { SignJWT } from 'jose';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { credentialResolver } from '../../../src/gateway/auth/credential-authenticator.js';
import { AuthConfig, createGatewayAuth } from '../../../src/gateway/auth/index.js';
import { AccessGuard, platformTokenResolver } from '../../../src/kernel/access.js';
import { ManualClock } from '../../../src/kernel/clock.js';
import { readSection } from '../../../src/kernel/config.js';
import { createHttpServer, type HttpServer } from '../../../src/kernel/http.js';
import { createLogger } from '../../../src/kernel/logger.js';
import type { Database } from '../../../src/ports/database.js';

const SECRET = 'a-shared-secret-of-at-least-32-characters!';
const ADMIN = 'admin-token-for-tests-0123456789';

/**
 * A database with an empty key table that records what it is asked: the wiring is what is under
 * test here; the key store's SQL runs against PostgreSQL and PGlite in api-keys.test.ts.
 */
function emptyKeyTable() {
  const queries: string[] = [];
  const db: Database = {
    kind: 'pglite',
    query: async <Row>(text: string) => {
      queries.push(text.trim().split(/\s+/)[0]);
      return { rows: [] as Row[], rowCount: 0 };
    },
    exec: async () => {},
    transaction: async (fn) => fn(db),
    close: async () => {},
  };
  return { db, queries };
}

const wire = (config: unknown, db: Database, clock = new ManualClock(0), metrics?: Registry) =>
  createGatewayAuth({ config: readSection(AuthConfig, config, '/gateway/auth'), db, clock, metrics });

describe('Gateway auth, as wired from its configuration', () => {
  it('looks keys up in the given database, trusts an answer for cacheTtlMs on its clock, and counts lookups', async () => {
    const { db, queries } = emptyKeyTable();
    const clock = new ManualClock(0);
    const metrics = new Registry();
    const auth = wire({ apiKeys: { cacheTtlMs: 1_000 } }, db, clock, metrics);
    const unknown = () => auth.authenticator.authenticate({ 'x-api-key': 'aim_unknown' });
    await expect(unknown()).rejects.toMatchObject({ code: 'invalid_api_key' });
    await clock.advance(999);
    await expect(unknown()).rejects.toMatchObject({ code: 'invalid_api_key' });
    expect(queries).toEqual(['SELECT']);
    await clock.advance(1);
    await expect(unknown()).rejects.toMatchObject({ code: 'invalid_api_key' });
    expect(queries).toEqual(['SELECT', 'SELECT']);
    const lookups = await metrics.getSingleMetricAsString('aimesh_gateway_api_key_lookups_total');
    expect(lookups).toContain('aimesh_gateway_api_key_lookups_total{result="database"} 2');
    expect(lookups).toContain('aimesh_gateway_api_key_lookups_total{result="cache"} 1');
  });

  it('accepts a JWT when a jwt section is configured, without touching the key table', async () => {
    const { db, queries } = emptyKeyTable();
    const auth = wire({ jwt: { algorithms: ['HS256'], secret: SECRET } }, db);
    const token = await new SignJWT({
      sub: 'erin',
      team: 'research',
      exp: Math.floor(Date.now() / 1000) + 60,
    })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(SECRET));
    expect(await auth.authenticator.authenticate({ authorization: `Bearer ${token}` })).toEqual({
      id: 'erin',
      roles: ['caller'],
      team: 'research',
      via: 'jwt',
    });
    expect(queries).toEqual([]);
  });

  it('applies the configured access rules', () => {
    const auth = wire({ access: { rules: [{ user: 'bob', deny: ['m'] }] } }, emptyKeyTable().db);
    expect(() =>
      auth.access.assertModelAllowed({ id: 'bob', roles: ['caller'], via: 'jwt' }, { id: 'm', type: 'chat' }),
    ).toThrow(expect.objectContaining({ code: 'model_forbidden' }));
    expect(() =>
      auth.access.assertModelAllowed({ id: 'amy', roles: ['caller'], via: 'jwt' }, { id: 'm', type: 'chat' }),
    ).not.toThrow();
  });

  describe('key admin routes', () => {
    let http: HttpServer;
    afterAll(() => http?.close());

    it('guard the key admin API with the configured admin token', async () => {
      const { db, queries } = emptyKeyTable();
      const auth = wire({ adminToken: ADMIN }, db);
      const access = new AccessGuard();
      access.addResolver(platformTokenResolver({ adminToken: ADMIN }));
      access.addResolver(credentialResolver(auth.authenticator));
      http = await createHttpServer({ logger: createLogger('silent'), bodyLimitBytes: 1 << 20, access });
      await http.register(auth.adminRoutes, { prefix: '/api/v1/admin/keys' });
      const list = (token: string) =>
        http.inject({ url: '/api/v1/admin/keys', headers: { authorization: `Bearer ${token}` } });
      const wrong = await list('not-the-admin-token');
      expect(wrong.statusCode).toBe(401);
      expect(wrong.json()).toMatchObject({ error: { code: 'invalid_token' } });
      expect(queries).toEqual([]);
      const right = await list(ADMIN);
      expect(right.statusCode).toBe(200);
      expect(queries).toEqual(['SELECT']);
    });
  });
});
