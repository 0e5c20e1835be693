import { Command } from 'commander';
import { reportCliError } from './cli-errors.js';
import { registerDatasetsCommands } from './datasets-command.js';
import { registerEventsCommands } from './events-commands.js';
import { registerExperimentCommands } from './experiment-command.js';
import { registerInferCommand } from './infer-command.js';
import { registerKeysCommands } from './keys-command.js';
import { registerLineageCommand } from './lineage-command.js';
import { registerMigrateCommand } from './migrate-command.js';
import { registerModelsCommands } from './models-command.js';
import { registerModelsRegisterCommand } from './models-register-command.js';
import { registerPipelineCommands } from './pipeline-command.js';
import { registerServeCommand } from './serve-command.js';
import { registerStartCommand } from './start-command.js';

const program = new Command('aimesh')
  .description('aimesh: self-hosted AI microservices platform — gateway, serving, training, registry, events')
  .version('0.1.0')
  // Usage errors are one line too; every subcommand inherits this.
  .configureOutput({ outputError: (text, write) => write(`${text.trimEnd()} (see --help)\n`) })
  .addHelpText(
    'after',
    `
Examples:
  aimesh start                                  # the whole platform on http://127.0.0.1:8080 (inference on 8081)
  aimesh start --target gateway,inference       # only some modules
  aimesh migrate --config examples/distributed.yaml
  aimesh events tail --type 'ai.inference.*'    # calls through the gateway, as they happen
  aimesh events ls --type ai.training.started --limit 20
  aimesh pipeline run examples/pipelines/iris.yaml --wait
  aimesh models register ./my-model --name my-model --type classification --metric accuracy=0.97
  aimesh start --target worker --config examples/distributed.yaml

Exit codes: 0 ok, 1 usage (bad argument or file), 2 configuration (invalid, or a port in use),
3 the server refused, 4 unreachable (server, database or bus), 5 internal error.`,
  );

registerStartCommand(program);
registerMigrateCommand(program);
registerEventsCommands(program);
registerModelsCommands(program);
registerModelsRegisterCommand(program);
registerDatasetsCommands(program);
registerLineageCommand(program);
registerServeCommand(program);
registerInferCommand(program);
registerKeysCommands(program);
registerPipelineCommands(program);
registerExperimentCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exit(reportCliError(error));
}
