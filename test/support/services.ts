import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import pg from 'pg';

/**
 * Real services on loopback for integration tests. Without the service a suite skips with a
 * clear message; with AIMESH_REQUIRE_SERVICES=1 it fails instead.
 */
export const servicesRequired = process.env.AIMESH_REQUIRE_SERVICES === '1';

export const POSTGRES_URL = process.env.AIMESH_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const NATS_URL = process.env.AIMESH_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
export const REDIS_URL = process.env.AIMESH_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** True when something accepts TCP connections at host:port within `timeoutMs`. */
export function reachable(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Whether the named service answers. When it does not: throws if services are required,
 * else warns once (saying what happens `instead`) and returns false so the suite can
 * `describe.skipIf(!available)` or fall back.
 */
export async function serviceAvailable(
  name: 'postgres' | 'nats' | 'redis',
  instead = 'its integration tests are skipped',
): Promise<boolean> {
  const url = new URL(name === 'postgres' ? POSTGRES_URL : name === 'nats' ? NATS_URL : REDIS_URL);
  const port = Number(url.port) || { postgres: 5432, nats: 4222, redis: 6379 }[name];
  const ok = await reachable(url.hostname, port);
  if (!ok) {
    const unreachable = `${name} is not reachable at ${url.host}`;
    if (servicesRequired)
      throw new Error(`${unreachable}, and AIMESH_REQUIRE_SERVICES=1 requires it: start ${name} there`);
    console.warn(`SKIP: ${unreachable}; ${instead} (set AIMESH_REQUIRE_SERVICES=1 to fail instead)`);
  }
  return ok;
}

/** Creates a fresh, empty database on the test server; returns its URL and a dropper. */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `aimesh_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
