import type { Command } from 'commander';
import { callApi } from './client.js';
import { wholeNumber } from './option-values.js';
import { printTable } from './table-output.js';

interface Listed<T> {
  items: T[];
  nextOffset: number | null;
}

/** The `models` command group, created once and shared by every file that adds commands to it. */
export function modelsGroup(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === 'models') ??
    program.command('models').description('registered models, versions, aliases and promotion')
  );
}

/** `aimesh models ls|show|promote|compare`: the model registry from the command line. */
export function registerModelsCommands(program: Command): void {
  const models = modelsGroup(program);
  models
    .command('ls')
    .description('list registered models, or the versions of one model')
    .argument('[name]', 'a model: list its versions')
    .option('--type <type>', 'only models of this type/task')
    .option('--limit <n>', 'items per page', wholeNumber(1), 50)
    .option('--offset <n>', 'items to skip', wholeNumber(0), 0)
    .action(async (name: string | undefined, opts: { type?: string; limit: number; offset: number }) => {
      const page = `limit=${encodeURIComponent(opts.limit)}&offset=${encodeURIComponent(opts.offset)}`;
      if (name) {
        const listed = await callApi<Listed<Record<string, unknown>>>(
          'GET',
          `/api/v1/models/${encodeURIComponent(name)}/versions?${page}`,
        );
        printTable(
          listed.items.map((v) => ({ ...v, accuracy: (v.metrics as Record<string, number>).accuracy })),
          ['version', 'format', 'status', 'accuracy', 'aliases', 'createdAt'],
        );
        return;
      }
      const type = opts.type ? `&type=${encodeURIComponent(opts.type)}` : '';
      const listed = await callApi<Listed<Record<string, unknown>>>('GET', `/api/v1/models?${page}${type}`);
      printTable(listed.items, ['name', 'type', 'latestVersion', 'aliases', 'createdAt']);
    });
  models
    .command('show')
    .description('show a model, or one version by number, alias or latest')
    .argument('<name>', 'model name')
    .argument('[version]', 'version number, alias (production) or latest')
    .action(async (name: string, version: string | undefined) => {
      const path = `/api/v1/models/${encodeURIComponent(name)}${version ? `/versions/${encodeURIComponent(version)}` : ''}`;
      console.log(JSON.stringify(await callApi('GET', path), null, 2));
    });
  models
    .command('promote')
    .description('point an alias at a version, if the promotion rules pass')
    .argument('<name>', 'model name')
    .argument('<version>', 'version number', wholeNumber(1))
    .option('--alias <alias>', 'alias to set', 'production')
    .option('--causation <eventId>', 'id of the event that triggered this promotion')
    .action(async (name: string, version: number, opts: { alias: string; causation?: string }) => {
      const result = await callApi<{
        version: number;
        alias: string;
        previousVersion: number | null;
        changed: boolean;
      }>('PUT', `/api/v1/models/${encodeURIComponent(name)}/aliases/${encodeURIComponent(opts.alias)}`, {
        version,
        causationId: opts.causation,
      });
      console.log(
        result.changed
          ? `${name}@${result.version} is now ${result.alias} (was ${result.previousVersion ?? 'unset'})`
          : `${name}@${result.version} already is ${result.alias}`,
      );
    });
  models
    .command('compare')
    .description('metric and param differences between two versions')
    .argument('<name>', 'model name')
    .argument('<a>', 'first version (number or alias)')
    .argument('<b>', 'second version (number or alias)')
    .action(async (name: string, a: string, b: string) => {
      const diff = await callApi<{
        metrics: Record<string, unknown>[];
        params: Record<string, unknown>[];
      }>(
        'GET',
        `/api/v1/models/${encodeURIComponent(name)}/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`,
      );
      console.log('metrics');
      printTable(diff.metrics, ['key', 'a', 'b', 'delta']);
      console.log('\nparams');
      printTable(diff.params, ['key', 'a', 'b', 'changed']);
    });
}
