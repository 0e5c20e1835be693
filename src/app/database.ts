import { openPgliteDatabase } from '../adapters/pglite/pglite-database.js';
import { openPostgresDatabase } from '../adapters/postgres/postgres-database.js';
import type { Config } from '../kernel/config.js';
import type { Database } from '../ports/database.js';

/** Opens the database the config selects. */
export function openDatabase(config: Config['database']): Promise<Database> {
  return config.adapter === 'postgres'
    ? openPostgresDatabase(config.url!, config.poolSize)
    : openPgliteDatabase(config.dataDir);
}
