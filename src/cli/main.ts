import { Command, CommanderError } from 'commander';
import { isAimeshError } from '../kernel/errors.js';
import { registerDatasetsCommands } from './datasets-command.js';
import { registerEventsCommands } from './events-commands.js';
import { registerInferCommand } from './infer-command.js';
import { registerKeysCommands } from './keys-command.js';
import { registerLineageCommand } from './lineage-command.js';
import { registerMigrateCommand } from './migrate-command.js';
import { registerModelsCommands } from './models-command.js';
import { registerPipelineCommands } from './pipeline-command.js';
import { registerServeCommand } from './serve-command.js';
import { registerStartCommand } from './start-command.js';

const program = new Command('aimesh')
  .description('aimesh: self-hosted AI microservices platform — gateway, serving, training, registry, events')
  .version('0.1.0')
  .showHelpAfterError()
  .addHelpText(
    'after',
    `
Examples:
  aimesh start                                  # the whole platform on http://127.0.0.1:8080
  aimesh start --target gateway,inference       # only some modules
  aimesh migrate --config examples/distributed.yaml
  aimesh events tail --type 'ai.inference.*'    # calls through the gateway, as they happen
  aimesh events ls --type ai.training.started --limit 20
  aimesh pipeline run examples/pipelines/iris.yaml --wait
  aimesh start --target worker --config examples/distributed.yaml`,
  );

registerStartCommand(program);
registerMigrateCommand(program);
registerEventsCommands(program);
registerModelsCommands(program);
registerDatasetsCommands(program);
registerLineageCommand(program);
registerServeCommand(program);
registerInferCommand(program);
registerKeysCommands(program);
registerPipelineCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  if (isAimeshError(error)) {
    console.error(`aimesh: ${error.message} (${error.code})`);
    process.exit(2);
  }
  console.error(error);
  process.exit(1);
}
