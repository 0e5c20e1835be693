import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { usageError } from './cli-errors.js';
import { callApi, sendBytes } from './client.js';
import { wholeNumber } from './option-values.js';
import { printTable } from './table-output.js';

export interface PushResult {
  created: boolean;
  version: { dataset: string; version: string; rowCount: number; columns: { name: string; type: string }[] };
}

/** Uploads CSV bytes as the body (the version id is the sha256 of exactly these bytes). */
export function uploadCsv(name: string, data: Uint8Array, description?: string): Promise<PushResult> {
  const query = description ? `?description=${encodeURIComponent(description)}` : '';
  return sendBytes<PushResult>(
    'POST',
    `/api/v1/datasets/${encodeURIComponent(name)}/versions${query}`,
    data,
    'text/csv',
  );
}

function describePush(pushed: PushResult): string {
  const v = pushed.version;
  const columns = v.columns.map((c) => `${c.name}:${c.type}`).join(', ');
  return `${pushed.created ? 'stored' : 'already stored'} ${v.dataset}@${v.version} (${v.rowCount} rows; ${columns})`;
}

/** `aimesh datasets push|ls|show`: content-addressed datasets from the command line. */
export function registerDatasetsCommands(program: Command): void {
  const datasets = program
    .command('datasets')
    .description('datasets: CSV versions addressed by their sha256');
  datasets
    .command('push')
    .description('store a CSV file as a dataset version, or a built-in sample (--sample iris|penguins|cars)')
    .argument('[file]', 'CSV file')
    .option('--name <name>', 'dataset name (default: the file name without .csv, or the sample name)')
    .option('--sample <sample>', 'push a built-in sample data set instead of a file')
    .option('--description <text>', 'what the dataset is')
    .action(
      async (file: string | undefined, opts: { name?: string; sample?: string; description?: string }) => {
        if (opts.sample) {
          console.log(
            describePush(
              await callApi<PushResult>(
                'POST',
                `/api/v1/datasets/samples/${encodeURIComponent(opts.sample)}`,
              ),
            ),
          );
          return;
        }
        if (!file) throw usageError('missing_file', 'give a CSV file to push, or --sample <name>');
        const name = opts.name ?? basename(file).replace(/\.csv$/i, '');
        console.log(
          describePush(await uploadCsv(name, new Uint8Array(await readFile(file)), opts.description)),
        );
      },
    );
  datasets
    .command('ls')
    .description('list datasets, or the versions of one dataset')
    .argument('[name]', 'a dataset: list its versions')
    .option('--limit <n>', 'items per page', wholeNumber(1), 50)
    .option('--offset <n>', 'items to skip', wholeNumber(0), 0)
    .action(async (name: string | undefined, opts: { limit: number; offset: number }) => {
      const page = `limit=${encodeURIComponent(opts.limit)}&offset=${encodeURIComponent(opts.offset)}`;
      if (name) {
        const listed = await callApi<{ items: Record<string, unknown>[] }>(
          'GET',
          `/api/v1/datasets/${encodeURIComponent(name)}/versions?${page}`,
        );
        printTable(listed.items, ['version', 'rowCount', 'sizeBytes', 'createdBy', 'createdAt']);
        return;
      }
      const listed = await callApi<{ items: Record<string, unknown>[] }>('GET', `/api/v1/datasets?${page}`);
      printTable(listed.items, ['name', 'versions', 'latestVersion', 'description']);
    });
  datasets
    .command('show')
    .description('show a dataset version: columns, types and statistics')
    .argument('<name>', 'dataset name')
    .argument('[version]', 'sha256, a prefix of 8+ characters, or latest', 'latest')
    .action(async (name: string, version: string) => {
      const v = await callApi<{
        version: string;
        rowCount: number;
        uri: string;
        columns: Record<string, unknown>[];
      }>('GET', `/api/v1/datasets/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`);
      console.log(`${name}@${v.version}  ${v.rowCount} rows  ${v.uri}`);
      printTable(v.columns, ['name', 'type', 'missing', 'distinct', 'min', 'max', 'mean', 'std']);
    });
}
