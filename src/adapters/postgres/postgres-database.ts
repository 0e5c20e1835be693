import pg from 'pg';
import { from as copyStream } from 'pg-copy-streams';
import type { CopyOptions, Database, QueryOptions, QueryResult, Sql } from '../../ports/database.js';

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
    const result = await (options?.name
      ? target.query({ name: options.name, text, values: params })
      : target.query(text, params));
    return { rows: result.rows as Row[], rowCount: result.rowCount ?? result.rows.length };
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
      if (target !== pool) return copyFrom(target as pg.PoolClient, statement, data, options);
      const client = await pool.connect();
      try {
        return await copyFrom(client, statement, data, options);
      } finally {
        client.release();
      }
    },
  });
  return {
    kind: 'postgres',
    ...sqlOf(pool),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(sqlOf(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

function ignore(): void {}
