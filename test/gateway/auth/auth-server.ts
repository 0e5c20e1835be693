import { openPgliteDatabase } from '../../../src/adapters/pglite/pglite-database.js';
import { openPostgresDatabase } from '../../../src/adapters/postgres/postgres-database.js';
import { migrate } from '../../../src/app/migrations.js';
import { credentialResolver } from '../../../src/gateway/auth/credential-authenticator.js';
import { AuthConfig, createGatewayAuth, type GatewayAuth } from '../../../src/gateway/auth/index.js';
import { AccessGuard, platformTokenResolver, role } from '../../../src/kernel/access.js';
import type { Clock } from '../../../src/kernel/clock.js';
import { readSection } from '../../../src/kernel/config.js';
import { createHttpServer, type HttpServer } from '../../../src/kernel/http.js';
import { createLogger } from '../../../src/kernel/logger.js';
import type { Database } from '../../../src/ports/database.js';
import { createTestDatabase, serviceAvailable } from '../../support/services.js';

export const GATEWAY_MIGRATIONS = new URL('../../../src/gateway/migrations', import.meta.url).pathname;

/**
 * A fresh database with the gateway's tables: a new database on the configured PostgreSQL
 * (AIMESH_TEST_POSTGRES_URL; created in milliseconds). Only when that server is unreachable and
 * services are not required does it fall back, with a warning, to PGlite in memory (whose start
 * costs seconds on a busy machine); under AIMESH_REQUIRE_SERVICES=1 it fails instead. Both pass
 * the same Database contract; closing it also drops the server database.
 */
export async function gatewayDatabase(): Promise<Database> {
  let db: Database;
  if (await serviceAvailable('postgres', 'the gateway tests fall back to PGlite in memory')) {
    const test = await createTestDatabase();
    const server = await openPostgresDatabase(test.url, 4);
    db = {
      kind: server.kind,
      query: (text, params) => server.query(text, params),
      exec: (script) => server.exec(script),
      transaction: (fn) => server.transaction(fn),
      async close() {
        await server.close();
        await test.drop();
      },
    };
  } else {
    db = await openPgliteDatabase('memory://');
  }
  await migrate(db, [{ module: 'gateway', dir: GATEWAY_MIGRATIONS }]);
  return db;
}

/**
 * A real HTTP server on loopback with the key admin API and one guarded route,
 * `GET /guarded?model=&type=`, that authenticates, checks the model against the access rules and
 * returns the principal — the same two calls the gateway's routes make.
 */
export async function startAuthServer(options: { config: unknown; clock: Clock; db?: Database }) {
  const db = options.db ?? (await gatewayDatabase());
  const config = readSection(AuthConfig, options.config, '/gateway/auth');
  const auth: GatewayAuth = createGatewayAuth({ config, db, clock: options.clock });
  // The access guard as a process wires it: the platform tokens, then API keys and JWTs.
  const access = new AccessGuard();
  access.addResolver(platformTokenResolver(config));
  access.addResolver(credentialResolver(auth.authenticator));
  const http: HttpServer = await createHttpServer({
    logger: createLogger('silent'),
    bodyLimitBytes: 1 << 20,
    access,
  });
  await http.register(auth.adminRoutes, { prefix: '/api/v1/admin/keys' });
  http.get('/guarded', { config: role('public') }, async (request) => {
    const principal = await auth.authenticator.authenticate(request.headers);
    const q = request.query as { model?: string; type?: string };
    if (q.model) auth.access.assertModelAllowed(principal, { id: q.model, type: q.type ?? 'chat' });
    return principal;
  });
  await http.listen({ host: '127.0.0.1', port: 0 });
  const address = http.server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    auth,
    db,
    async stop() {
      await http.close();
      if (!options.db) await db.close();
    },
  };
}
