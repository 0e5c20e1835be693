import type { Command } from 'commander';
import { badRequest } from '../kernel/errors.js';
import { callApi } from './client.js';

/** `aimesh infer <model> --input '[...]'`: one inference call against a running server. */
export function registerInferCommand(program: Command): void {
  // `aimesh --version` is the program's; with positional options, `infer … --version 2` is ours.
  program.enablePositionalOptions();
  program
    .command('infer <model>')
    .description('run a model on inputs through POST /api/v1/ai/inference of a running server')
    .requiredOption(
      '-i, --input <json>',
      'a row ([5.1, 3.5, 1.4, 0.2]), rows ([[...], [...]]), strings, or V2 tensors',
    )
    .option('-v, --version <version>', "version number or alias (default: the model's default version)")
    .option(
      '-u, --url <url>',
      'server URL (default AIMESH_INFERENCE_URL, else AIMESH_URL, else http://127.0.0.1:8081)',
    )
    .addHelpText(
      'after',
      `
Examples:
  aimesh infer iris --input '[5.1, 3.5, 1.4, 0.2]'
  aimesh infer iris --input '[[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]' --version production
  AIMESH_URL=http://127.0.0.1:8080 aimesh infer iris --input '[1, 2, 3, 4]'   # through the gateway`,
    )
    .action(async (model: string, opts: { input: string; version?: string; url?: string }) => {
      let inputs: unknown;
      try {
        inputs = JSON.parse(opts.input);
      } catch (error) {
        throw badRequest('invalid_input', `--input is not JSON: ${(error as Error).message}`);
      }
      if (!Array.isArray(inputs)) throw badRequest('invalid_input', '--input must be a JSON array');
      const url =
        opts.url ?? process.env.AIMESH_INFERENCE_URL ?? process.env.AIMESH_URL ?? 'http://127.0.0.1:8081';
      const result = await callApi(
        'POST',
        '/api/v1/ai/inference',
        { modelId: model, inputs, ...(opts.version ? { version: opts.version } : {}) },
        { url },
      );
      console.log(JSON.stringify(result, null, 2));
    });
}
