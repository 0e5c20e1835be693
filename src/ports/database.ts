/** A result set: rows as plain objects, and how many rows a write touched. */
export interface QueryResult<Row> {
  rows: Row[];
  rowCount: number;
}

/** How to run one query. */
export interface QueryOptions {
  /**
   * A statement run very often (the event append): a server prepares it once per connection
   * under this name and then only binds and executes it. One name, one text.
   */
  name?: string;
}

/** How to run one bulk load. */
export interface CopyOptions {
  /**
   * Takes this transaction-scoped advisory lock (`pg_advisory_xact_lock`) before loading, in
   * the same transaction as the load: outside a transaction, the load and the lock are then one
   * statement's worth of round trips instead of BEGIN, lock, COPY and COMMIT.
   */
  advisoryLock?: number;
}

/** Something that runs SQL (Postgres dialect, `$1` placeholders): the database or a transaction. */
export interface Sql {
  query<Row = Record<string, unknown>>(
    text: string,
    params?: unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<Row>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
  /**
   * Bulk load: runs `statement` (a `COPY ... FROM STDIN` in text format) with `data` as its
   * input and returns the rows loaded. Only where the adapter has a cheaper bulk path than an
   * INSERT (the PostgreSQL server); callers fall back to INSERT when absent.
   */
  copyFrom?(statement: string, data: string | Uint8Array, options?: CopyOptions): Promise<number>;
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
