import { openPgliteDatabase } from '../../src/adapters/pglite/pglite-database.js';
import { openPostgresDatabase } from '../../src/adapters/postgres/postgres-database.js';
import { databaseContract } from '../contracts/database.js';
import { createTestDatabase, serviceAvailable } from '../support/services.js';

databaseContract('pglite (in memory)', async () => ({
  db: await openPgliteDatabase('memory://'),
  cleanup: async () => {},
}));

const postgres = await serviceAvailable('postgres');
databaseContract(
  'postgres server',
  async () => {
    const test = await createTestDatabase();
    return { db: await openPostgresDatabase(test.url, 4), cleanup: test.drop };
  },
  postgres,
);
