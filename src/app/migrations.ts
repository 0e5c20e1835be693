import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from '../ports/database.js';

/** One module's migrations: files named `NNN_description.sql` in `dir`, applied in number order. */
export interface MigrationSet {
  module: string;
  dir: string;
}

// Any fixed 64-bit key works; all aimesh processes must agree on it.
const MIGRATION_LOCK_KEY = 7_346_121_001;

/**
 * Applies every migration not yet recorded, in one transaction that holds an advisory lock
 * throughout, so two processes starting at once never interleave: the first applies what is
 * missing, the second then finds the schema up to date. A failing migration rolls back the
 * run, leaving the recorded set and the schema as they were. Returns the names applied.
 */
export async function migrate(db: Database, sets: MigrationSet[]): Promise<string[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.exec(`CREATE TABLE IF NOT EXISTS aimesh_migrations (
      module TEXT NOT NULL, version INT NOT NULL, name TEXT NOT NULL,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (module, version))`);
    const applied: string[] = [];
    for (const set of sets) {
      for (const file of migrationFiles(set.dir)) {
        const version = Number(file.split('_')[0]);
        const done = await tx.query('SELECT 1 FROM aimesh_migrations WHERE module = $1 AND version = $2', [
          set.module,
          version,
        ]);
        if (done.rows.length > 0) continue;
        await tx.exec(readFileSync(join(set.dir, file), 'utf8'));
        await tx.query('INSERT INTO aimesh_migrations (module, version, name) VALUES ($1, $2, $3)', [
          set.module,
          version,
          file,
        ]);
        applied.push(`${set.module}/${file}`);
      }
    }
    return applied;
  });
}

function migrationFiles(dir: string): string[] {
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return [];
  }
  return files
    .filter((f) => /^\d+_.+\.sql$/.test(f))
    .sort((a, b) => Number(a.split('_')[0]) - Number(b.split('_')[0]));
}
