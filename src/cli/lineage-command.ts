import type { Command } from 'commander';
import { callApi } from './client.js';
import { wholeNumber } from './option-values.js';

interface Edge {
  source: string;
  target: string;
}

/** `aimesh lineage <model@version>`: where a model version came from, and what came from a dataset. */
export function registerLineageCommand(program: Command): void {
  program
    .command('lineage')
    .description('walk lineage from a node: <model>@<version>, dataset:<name>@<sha256> or run:<id>')
    .argument('<node>', 'e.g. iris-classifier@3')
    .option('--direction <direction>', 'upstream, downstream or both', 'upstream')
    .option('--depth <n>', 'hops to walk (1-20)', wholeNumber(1, 20), 5)
    .action(async (node: string, opts: { direction: string; depth: number }) => {
      const walk = await callApi<{ node: string; upstream: Edge[]; downstream: Edge[] }>(
        'GET',
        `/api/v1/lineage?node=${encodeURIComponent(node)}&direction=${encodeURIComponent(opts.direction)}&depth=${encodeURIComponent(opts.depth)}`,
      );
      for (const [title, edges] of [
        ['upstream', walk.upstream],
        ['downstream', walk.downstream],
      ] as const) {
        if (opts.direction !== 'both' && opts.direction !== title) continue;
        console.log(`${title} of ${walk.node}:`);
        if (edges.length === 0) console.log('  (nothing recorded)');
        for (const e of edges) console.log(`  ${e.source} -> ${e.target}`);
      }
    });
}
