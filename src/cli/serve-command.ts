import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { stopOnSignals } from '../app/process-lifecycle.js';
import { startAimesh } from '../app/runtime.js';
import { deepMerge, loadConfig } from '../kernel/config.js';
import { badRequest, isAimeshError } from '../kernel/errors.js';
import { portNumber, wholeNumber } from './option-values.js';

interface ServeOptions {
  config?: string;
  port: number;
  host: string;
  maxBatchSize?: number;
  maxQueueDelayUs?: number;
}

/** The `models` command group, created when no other file has created it yet. */
function modelsGroup(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === 'models') ??
    program.command('models').description('model registry and serving')
  );
}

/** `aimesh models serve <dir|file>`: a quick local model server on the inference listener. */
export function registerServeCommand(program: Command): void {
  modelsGroup(program)
    .command('serve <path>')
    .description(
      'serve a models directory (<dir>/<model>/<version>/model.onnx|model.json) or one model file over V2 and /api/v1/ai/inference',
    )
    .option('-c, --config <file>', 'YAML config file (default: embedded, in-memory database)')
    .option('-p, --port <port>', 'inference listener port (0 = any free port)', portNumber, 8081)
    .option('--host <host>', 'inference listener address', '127.0.0.1')
    .option(
      '--max-batch-size <n>',
      'dynamic batching: most rows per runtime call (1 = off)',
      wholeNumber(0, 4096),
    )
    .option(
      '--max-queue-delay-us <n>',
      'dynamic batching: longest wait for a batch to fill, microseconds',
      wholeNumber(0, 10_000_000),
    )
    .addHelpText(
      'after',
      `
Examples:
  aimesh models serve ./models                       # every model and version in the folder
  aimesh models serve ./iris.onnx --port 9000        # one file, as model "iris" version 1
  curl -s localhost:8081/v2/models/iris/infer -d '{"inputs":[{"name":"input","datatype":"FP32","shape":[1,4],"data":[5.1,3.5,1.4,0.2]}]}'`,
    )
    .action(async (path: string, opts: ServeOptions) => {
      const full = resolve(path);
      const stats = statSync(full, { throwIfNoEntry: false });
      if (!stats) throw badRequest('not_found', `${path} does not exist`);
      const batching: Record<string, number> = {};
      if (opts.maxBatchSize !== undefined) batching.maxBatchSize = opts.maxBatchSize;
      if (opts.maxQueueDelayUs !== undefined) batching.maxQueueDelayMicros = opts.maxQueueDelayUs;
      const inference = {
        server: { host: opts.host, port: opts.port },
        ...(stats.isDirectory() ? { modelsDir: full } : { modelFiles: [full] }),
        batching,
      };
      // Without a config file the server is self-contained: in-memory database, main listener on any port.
      const embedded = opts.config
        ? {}
        : { database: { adapter: 'pglite', dataDir: 'memory://' }, server: { port: 0 } };
      const config = loadConfig({
        file: opts.config,
        overrides: deepMerge(embedded, { inference }) as Record<string, unknown>,
      });
      const running = await startAimesh({ config, targets: ['inference'] }).catch((error: unknown) => {
        // Here the inference listener's port is this command's --port.
        if (isAimeshError(error) && error.code === 'port_unavailable')
          error.message = error.message.replace('set inference.server.port', 'give --port');
        throw error;
      });
      // Asked in process: the module's API, not its HTTP route (which needs credentials).
      const status = running.manager.api('inference')!;
      for (const m of status.models())
        console.error(`  ${m.name}: versions ${m.versions.map((v) => v.version).join(', ')}`);
      console.error(
        `serving on ${status.url} (V2 at ${status.url}/v2, metrics at ${status.url}/metrics); Ctrl-C stops`,
      );
      stopOnSignals({ stop: () => running.stop(), logger: running.logger });
    });
}
