import pg from 'pg';
import { from as copyStream } from 'pg-copy-streams';
import { dependencyUnavailable } from '../../kernel/errors.js';
import type { CopyOptions, Database, QueryOptions, QueryResult, Sql } from '../../ports/database.js';
import { dataError } from './data-errors.js';

const INT8_OID = 20;

/** Connects a pool to a PostgreSQL server; int8 columns parse to numbers like the PGlite adapter. */
export async function openPostgresDatabase(url: string, poolSize = 10): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID
          ? (v: string) => Number(v)
          : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  await pool.query('SELECT 1');
  const run = async <Row>(
    target: pg.Pool | pg.PoolClient,
    text: string,
    params?: unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<Row>> => {
    try {
      const result = await (options?.name
        ? target.query({ name: options.name, text, values: params })
        : target.query(text, params));
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? result.rows.length };
    } catch (error) {
      throw unreachable(error);
    }
  };
  const copyFrom = async (
    client: pg.PoolClient,
    statement: string,
    data: string | Uint8Array,
    options?: CopyOptions,
  ): Promise<number> => {
    const lock = options?.advisoryLock;
    if (lock !== undefined && !Number.isSafeInteger(lock))
      throw new TypeError(`advisoryLock must be a safe integer, got ${lock}`);
    // The lock and the load as one simple query: its statements share one transaction (an
    // implicit one outside BEGIN), so the lock is held until the rows commit.
    const copy = copyStream(
      lock === undefined ? statement : `SELECT pg_advisory_xact_lock(${lock}); ${statement}`,
    );
    // The lock's one row comes to the copy stream first; it has nothing to do with it.
    Object.assign(copy, { handleRowDescription: ignore, handleDataRow: ignore });
    const stream = client.query(copy);
    await new Promise<void>((resolve, reject) => {
      stream.once('finish', resolve);
      stream.once('error', reject);
      stream.end(data);
    });
    return stream.rowCount;
  };
  const sqlOf = (target: pg.Pool | pg.PoolClient): Sql => ({
    query: (text, params, options) => run(target, text, params, options),
    exec: async (script) => {
      await target.query(script);
    },
    copyFrom: async (statement, data, options) => {
      if (target !== pool)
        return copyFrom(target as pg.PoolClient, statement, data, options).catch((error) => {
          throw unreachable(error);
        });
      const client = await checkout(pool);
      let broken: Error | undefined;
      try {
        return await copyFrom(client, statement, data, options).catch((error) => {
          broken = error;
          throw unreachable(error);
        });
      } finally {
        client.release(broken);
      }
    },
  });
  return {
    kind: 'postgres',
    ...sqlOf(pool),
    async transaction(fn) {
      const client = await checkout(pool);
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await fn(sqlOf(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        // A client whose rollback fails has lost its connection: the pool must not hand it out again.
        await client.query('ROLLBACK').catch((rollbackError: Error) => {
          broken = rollbackError;
        });
        throw error;
      } finally {
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}

function ignore(): void {}

/**
 * A client of its own from the pool. The pool listens for errors only on idle clients, so a
 * checked-out client gets a listener too: a server restart mid-transaction then fails the
 * transaction's next query instead of crashing the process.
 */
async function checkout(pool: pg.Pool): Promise<pg.PoolClient> {
  const client = await pool.connect().catch((error) => {
    throw unreachable(error);
  });
  if (client.listenerCount('error') === 0) client.on('error', ignore);
  return client;
}

// Refused before anything was sent: the request was certainly not applied.
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', '57P03', '53300']);
const LOST = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', '57P01', '57P02']);
const LOST_MESSAGE = /Connection terminated|connection timeout|Client has encountered a connection error/i;

/**
 * A server that is down, restarting or out of connections is a 503 `database_unavailable`
 * (with Retry-After), never a 500; a value it cannot store is a 400; anything else passes
 * through unchanged.
 */
function unreachable(error: unknown): unknown {
  const invalid = dataError(error);
  if (invalid) return invalid;
  const e = error as { code?: string; message?: string };
  const code = typeof e?.code === 'string' ? e.code : '';
  const notSent = NOT_SENT.has(code);
  const lost = !notSent && (LOST.has(code) || code.startsWith('08') || LOST_MESSAGE.test(e?.message ?? ''));
  if (!notSent && !lost) return error;
  return dependencyUnavailable(
    'database',
    lost
      ? `the database connection was lost (${code || e.message}); the request may or may not have been applied, and retrying it with the same id is safe`
      : `the database is not reachable (${code}); try again shortly`,
    { outcomeUnknown: lost },
  );
}
