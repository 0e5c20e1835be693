import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/ports/database.js';

/** The Database port's contract; every adapter runs it. `open` returns a fresh, empty database. */
export function databaseContract(
  name: string,
  open: () => Promise<{ db: Database; cleanup(): Promise<void> }>,
  enabled = true,
) {
  describe.skipIf(!enabled)(`Database contract: ${name}`, () => {
    let db: Database;
    let cleanup: () => Promise<void>;

    beforeAll(async () => {
      ({ db, cleanup } = await open());
      await db.exec(
        'CREATE TABLE things (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, doc JSONB, at TIMESTAMPTZ DEFAULT now())',
      );
    });
    afterAll(async () => {
      await db?.close();
      await cleanup?.();
    });

    it('runs parameterised queries and returns rows and counts', async () => {
      const inserted = await db.query('INSERT INTO things (name, doc) VALUES ($1, $2), ($3, $4)', [
        'a',
        { x: 1 },
        'b',
        null,
      ]);
      expect(inserted.rowCount).toBe(2);
      const { rows } = await db.query<{ id: number; name: string; doc: unknown; at: Date }>(
        'SELECT * FROM things ORDER BY id',
      );
      expect(rows.map((r) => r.name)).toEqual(['a', 'b']);
      expect(rows[0].doc).toEqual({ x: 1 });
      expect(typeof rows[0].id).toBe('number');
      expect(rows[0].at).toBeInstanceOf(Date);
    });

    it('runs a named statement many times, concurrently and in transactions, with each call its own parameters', async () => {
      const text = 'SELECT $1::int * 2 AS doubled, $2::text AS label';
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          db.query<{ doubled: number; label: string }>(text, [i, `n${i}`], { name: 'contract_double' }),
        ),
      );
      expect(results.map((r) => r.rows[0])).toEqual(
        Array.from({ length: 30 }, (_, i) => ({ doubled: i * 2, label: `n${i}` })),
      );
      const inTx = await db.transaction((tx) =>
        tx.query<{ doubled: number }>(text, [21, 'tx'], { name: 'contract_double' }),
      );
      expect(inTx.rows[0].doubled).toBe(42);
    });

    it('bulk-loads with COPY where the adapter offers it (the server), alone and inside a transaction', async () => {
      // Embedded PGlite has no COPY path here; its callers use INSERT.
      expect(db.copyFrom === undefined).toBe(db.kind === 'pglite');
      if (!db.copyFrom) return;
      const loaded = await db.copyFrom(
        'COPY things (name, doc) FROM STDIN',
        'copy-1\t{"a":1}\ncopy-2\t\\N\n',
      );
      expect(loaded).toBe(2);
      await expect(
        db.transaction(async (tx) => {
          await tx.copyFrom!('COPY things (name) FROM STDIN', 'copy-3\n');
          throw new Error('undo');
        }),
      ).rejects.toThrow('undo');
      const { rows } = await db.query<{ name: string; doc: unknown }>(
        "SELECT name, doc FROM things WHERE name LIKE 'copy-%' ORDER BY name",
      );
      expect(rows).toEqual([
        { name: 'copy-1', doc: { a: 1 } },
        { name: 'copy-2', doc: null },
      ]);
      await db.query("DELETE FROM things WHERE name LIKE 'copy-%'");
    });

    it('holds the advisory lock a bulk load asks for until its rows commit', async () => {
      if (!db.copyFrom) return;
      const key = 4_242_001;
      let releaseHolder!: () => void;
      let holding!: () => void;
      const held = new Promise<void>((r) => (holding = r));
      // Another transaction holds the lock: the load must wait for it.
      const holder = db.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock($1)', [key]);
        holding();
        await new Promise<void>((r) => (releaseHolder = r));
      });
      await held;
      let loaded: number | undefined;
      const load = db
        .copyFrom('COPY things (name) FROM STDIN', 'locked-1\nlocked-2\n', { advisoryLock: key })
        .then((n) => (loaded = n));
      await new Promise((r) => setTimeout(r, 300));
      expect(loaded).toBeUndefined();
      releaseHolder();
      await holder;
      await load;
      expect(loaded).toBe(2);
      // Once the load committed, the lock is free again for anyone.
      const free = await db.query<{ got: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS got', [key]);
      expect(free.rows[0].got).toBe(true);
      await expect(
        db.copyFrom('COPY things (name) FROM STDIN', 'x\n', { advisoryLock: 1.5 }),
      ).rejects.toThrow('advisoryLock must be a safe integer');
      await db.query("DELETE FROM things WHERE name LIKE 'locked-%'");
    });

    it('commits a transaction that resolves', async () => {
      await db.transaction(async (tx) => {
        await tx.query('INSERT INTO things (name) VALUES ($1)', ['c']);
      });
      const { rows } = await db.query('SELECT name FROM things WHERE name = $1', ['c']);
      expect(rows).toHaveLength(1);
    });

    it('rolls back a transaction that throws, and rethrows', async () => {
      await expect(
        db.transaction(async (tx) => {
          await tx.query('INSERT INTO things (name) VALUES ($1)', ['d']);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      const { rows } = await db.query('SELECT name FROM things WHERE name = $1', ['d']);
      expect(rows).toHaveLength(0);
    });

    it('reports constraint violations as errors without breaking the connection', async () => {
      await expect(db.query('INSERT INTO things (name) VALUES ($1)', ['a'])).rejects.toThrow(
        /duplicate|unique/i,
      );
      const { rows } = await db.query('SELECT count(*)::int AS n FROM things');
      expect(rows[0]).toEqual({ n: 3 });
    });

    it('answers a value PostgreSQL cannot store with a 400 that names the problem, in and out of transactions', async () => {
      const refused = async (run: Promise<unknown>, code: string) => {
        const error = await run.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toMatchObject({ status: 400, code });
        expect((error as Error).message).toMatch(/cannot be stored/);
      };
      await refused(db.query('INSERT INTO things (name) VALUES ($1)', ['nul\u0000']), 'invalid_character');
      await refused(
        db.query('INSERT INTO things (name, doc) VALUES ($1, $2)', ['j', '{"a":"\\u0000"}']),
        'invalid_character',
      );
      await refused(db.query('SELECT $1::int AS n', [9007199254740992]), 'number_out_of_range');
      await refused(db.query('SELECT $1::bigint AS n', ['99999999999999999999']), 'number_out_of_range');
      await refused(db.query('SELECT $1::timestamptz AS t', ['not a time']), 'invalid_value');
      await refused(
        db.transaction((tx) => tx.query('SELECT $1::int AS n', [2 ** 31])),
        'number_out_of_range',
      );
      // The connection is still good afterwards.
      const { rows } = await db.query('SELECT count(*)::int AS n FROM things');
      expect(rows[0]).toEqual({ n: 3 });
    });

    it('passes arrays as parameters', async () => {
      const { rows } = await db.query<{ name: string }>(
        'SELECT name FROM things WHERE name = ANY($1::text[]) ORDER BY name',
        [['a', 'c', 'zzz']],
      );
      expect(rows.map((r) => r.name)).toEqual(['a', 'c']);
    });

    it('runs multi-statement scripts with exec', async () => {
      await db.exec('CREATE TABLE t2 (a INT); INSERT INTO t2 VALUES (1); INSERT INTO t2 VALUES (2);');
      const { rows } = await db.query('SELECT sum(a)::int AS s FROM t2');
      expect(rows[0]).toEqual({ s: 3 });
    });

    it('takes advisory transaction locks', async () => {
      const got = await db.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock($1)', [42]);
        return (await tx.query<{ ok: number }>('SELECT 1 AS ok')).rows[0].ok;
      });
      expect(got).toBe(1);
    });
  });
}
