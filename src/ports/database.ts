/** A result set: rows as plain objects, and how many rows a write touched. */
export interface QueryResult<Row> {
  rows: Row[];
  rowCount: number;
}

/** Something that runs SQL (Postgres dialect, `$1` placeholders): the database or a transaction. */
export interface Sql {
  query<Row = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<Row>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

/**
 * The Database port. One SQL dialect (Postgres) for both adapters: PGlite embedded and a
 * PostgreSQL server. BIGINT (int8) columns come back as JS numbers on both; timestamptz as Date.
 */
export interface Database extends Sql {
  /** Which adapter this is, for logs and /readyz. */
  readonly kind: 'pglite' | 'postgres';
  /** Runs `fn` in one transaction: commit when it resolves, roll back when it throws. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  /** Closes connections; pending queries finish first. */
  close(): Promise<void>;
}
