// A fresh database on the PostgreSQL server for one run, so every run starts from empty tables
// (an event store grown by earlier runs would be measured too), dropped at the end.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** A database made for this run: its URL, and how to drop it. */
export interface BenchDatabase {
  url: string;
  drop(): Promise<void>;
}

/** Creates an empty database on the server at `serverUrl` (loopback only); throws if it cannot be reached. */
export async function createBenchDatabase(serverUrl: string): Promise<BenchDatabase> {
  const server = new URL(serverUrl);
  if (!LOOPBACK.has(server.hostname))
    throw new Error(`the bench only talks to loopback; ${server.host} is not (set BENCH_POSTGRES_URL)`);
  const name = `aimesh_bench_${randomBytes(6).toString('hex')}`;
  const admin = (): pg.Client =>
    new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 5_000, query_timeout: 30_000 });
  const client = admin();
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const dropper = admin();
      await dropper.connect();
      try {
        await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await dropper.end();
      }
    },
  };
}
