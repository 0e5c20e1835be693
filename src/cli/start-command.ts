import type { Command } from 'commander';
import { loadConfig } from '../core/config.js';
import { startAimesh } from '../core/runtime.js';

/** `aimesh start`: runs the chosen targets until SIGINT/SIGTERM, then stops gracefully. */
export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('start aimesh: every module (target "all") or the ones named')
    .option('-t, --target <targets>', 'comma-separated modules to run (all, gateway, inference, ...)', 'all')
    .option('-c, --config <file>', 'YAML config file (default: ./aimesh.yaml if present)')
    .option('-p, --port <port>', 'HTTP port (overrides config and AIMESH_PORT)')
    .addHelpText(
      'after',
      `
Examples:
  aimesh start                                   # everything, embedded (PGlite + in-process bus)
  aimesh start --target gateway --config examples/distributed.yaml
  AIMESH_PORT=9090 aimesh start --target inference,events`,
    )
    .action(async (opts: { target: string; config?: string; port?: string }) => {
      const overrides = opts.port === undefined ? {} : { server: { port: Number(opts.port) } };
      const config = loadConfig({ file: opts.config, overrides });
      const running = await startAimesh({ config, targets: [opts.target] });
      console.error(`aimesh listening on ${running.url} (modules: ${running.manager.names().join(', ')})`);
      let signals = 0;
      const shutdown = (signal: string) => {
        signals += 1;
        if (signals > 1) process.exit(130);
        running.logger.info({ signal }, 'stopping');
        running.stop().then(
          () => process.exit(0),
          (error) => {
            running.logger.error({ err: error }, 'stop failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => shutdown('SIGINT'));
      process.on('SIGTERM', () => shutdown('SIGTERM'));
    });
}
