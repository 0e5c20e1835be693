import { openPgliteDatabase } from '../../src/adapters/pglite/pglite-database.js';
import { openPostgresDatabase } from '../../src/adapters/postgres/postgres-database.js';
import { registryRepositoryContract } from '../contracts/registry-repositories.js';
import { createTestDatabase, serviceAvailable } from '../support/services.js';

registryRepositoryContract('pglite (in memory)', async () => ({
  db: await openPgliteDatabase('memory://'),
  cleanup: async () => {},
}));

const postgres = await serviceAvailable('postgres');
registryRepositoryContract(
  'postgres server',
  async () => {
    const test = await createTestDatabase();
    return { db: await openPostgresDatabase(test.url, 8), cleanup: test.drop };
  },
  postgres,
);
