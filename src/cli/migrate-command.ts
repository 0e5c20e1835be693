import type { Command } from 'commander';
import { openDatabase } from '../app/adapters.js';
import { migrate } from '../app/migrations.js';
import { moduleTable } from '../app/modules.js';
import { loadConfig } from '../kernel/config.js';

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
