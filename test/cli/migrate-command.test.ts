import { readdirSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { moduleTable } from '../../src/app/modules.js';
import { runAimesh } from '../support/processes.js';
import { createTestDatabase, serviceAvailable } from '../support/services.js';

const postgres = await serviceAvailable('postgres');

describe.skipIf(!postgres)('aimesh migrate (postgres)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('two processes migrating one fresh database at the same moment both succeed and apply each migration once', async () => {
    const env = { AIMESH_DATABASE_URL: database.url };
    const a = runAimesh(['migrate'], env);
    const b = runAimesh(['migrate'], env);
    const codes = await Promise.all([a.exited, b.exited]);
    expect(codes, `${a.output()}\n${b.output()}`).toEqual([0, 0]);
    const expected = moduleTable
      .filter((m) => m.migrations)
      .flatMap((m) =>
        readdirSync(m.migrations!)
          .filter((f) => /^\d+_.+\.sql$/.test(f))
          .map((f) => `${m.name}/${f}`),
      )
      .sort();
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ key: string; n: number }>(
        "SELECT module || '/' || name AS key, count(*)::int AS n FROM aimesh_migrations GROUP BY 1 ORDER BY 1",
      );
      expect(rows.map((r) => r.key)).toEqual(expected);
      expect(rows.every((r) => r.n === 1)).toBe(true);
    } finally {
      await client.end();
    }
    // Exactly one of the two applied anything; the other found the schema up to date.
    expect([a.output(), b.output()].filter((o) => o.includes('applied:'))).toHaveLength(1);
  }, 60_000);
});
