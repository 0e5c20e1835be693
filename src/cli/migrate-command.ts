import type { Command } from 'commander';
import { loadConfig } from '../core/config.js';
import { openDatabase } from '../core/database.js';
import { migrate } from '../core/migrations.js';
import { moduleTable } from '../core/modules.js';

/** `aimesh migrate`: applies pending migrations of every module and exits. */
export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations of every module, then exit')
    .option('-c, --config <file>', 'YAML config file')
    .action(async (opts: { config?: string }) => {
      const config = loadConfig({ file: opts.config });
      const db = await openDatabase(config.database);
      try {
        const applied = await migrate(
          db,
          moduleTable.filter((m) => m.migrations).map((m) => ({ module: m.name, dir: m.migrations! })),
        );
        console.log(applied.length ? `applied:\n  ${applied.join('\n  ')}` : 'schema is up to date');
      } finally {
        await db.close();
      }
    });
}
