import { mkdirSync } from 'node:fs';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { Database, QueryResult, Sql } from '../../ports/database.js';
import { dataError } from '../postgres/data-errors.js';
import { isFreshDataDir, pgliteTemplate } from './pglite-template.js';

const INT8_OID = 20;

/** Opens embedded Postgres (PGlite) in `dataDir`, or in memory for `memory://`. */
export async function openPgliteDatabase(dataDir: string): Promise<Database> {
  const template = isFreshDataDir(dataDir) ? pgliteTemplate() : undefined;
  if (!dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir, {
    parsers: { [INT8_OID]: (v: string) => Number(v) },
    ...(template ? { loadDataDir: template } : {}),
  });
  const run = async <Row>(
    target: PGlite | Transaction,
    text: string,
    params?: unknown[],
  ): Promise<QueryResult<Row>> => {
    try {
      const result = await target.query<Row>(text, params as unknown[]);
      return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
    } catch (error) {
      throw dataError(error) ?? error;
    }
  };
  const sqlOf = (target: PGlite | Transaction): Sql => ({
    query: (text, params) => run(target, text, params),
    exec: async (script) => {
      await target.exec(script);
    },
  });
  return {
    kind: 'pglite',
    ...sqlOf(db),
    transaction: (fn) => db.transaction((tx) => fn(sqlOf(tx))),
    close: () => db.close(),
  };
}
