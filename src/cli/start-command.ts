import type { Command } from 'commander';
import { clusterProblems, isClusterWorker, runClusterPrimary } from '../app/cluster.js';
import { stopOnSignals } from '../app/process-lifecycle.js';
import { startAimesh } from '../app/runtime.js';
import { GatewayConfig } from '../gateway/index.js';
import { type Config, loadConfig, readSection } from '../kernel/config.js';
import { AimeshError } from '../kernel/errors.js';
import { createLogger } from '../kernel/logger.js';

/** `aimesh start`: runs the chosen targets until SIGINT/SIGTERM, then stops gracefully. */
export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('start aimesh: every module (target "all") or the ones named')
    .option('-t, --target <targets>', 'comma-separated modules to run (all, gateway, inference, ...)', 'all')
    .option('-c, --config <file>', 'YAML config file (default: ./aimesh.yaml if present)')
    .option(
      '-p, --port <port>',
      'HTTP port (overrides config and AIMESH_PORT; 0 = any free port); the inference listener takes the next one',
    )
    .option(
      '-w, --workers <n>',
      'worker processes sharing the ports, one per core (needs postgres, nats and, with the gateway, redis)',
    )
    .addHelpText(
      'after',
      `
Examples:
  aimesh start                                   # everything, embedded (PGlite + in-process bus)
  aimesh start --target gateway --config examples/distributed.yaml
  AIMESH_PORT=9090 aimesh start --target inference,events
  aimesh start --target gateway --workers 4 --config examples/distributed.yaml`,
    )
    .action(async (opts: { target: string; config?: string; port?: string; workers?: string }) => {
      // Checked by the config schema, so a bad value names its setting (server.port, server.workers).
      const server: Record<string, number> = {};
      if (opts.port !== undefined) server.port = Number(opts.port);
      if (opts.workers !== undefined) server.workers = Number(opts.workers);
      const config = loadConfig({ file: opts.config, overrides: { server } });
      if (config.server.workers > 1 && !isClusterWorker()) {
        const problems = clusterProblems({
          database: config.database,
          bus: config.bus,
          rateLimitStore: runsGateway(opts.target) ? gatewayRateLimitStore(config) : undefined,
        });
        if (problems.length > 0) {
          throw new AimeshError(
            'invalid_config',
            400,
            `${config.server.workers} workers need state every worker shares:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
          );
        }
        runClusterPrimary(config.server.workers, createLogger(config.log.level));
        return;
      }
      const running = await startAimesh({ config, targets: [opts.target] });
      const inference = running.manager.api('inference');
      console.error(
        `aimesh listening on ${running.url} (${inference ? `inference on ${inference.url}; ` : ''}modules: ${running.manager.names().join(', ')})`,
      );
      // A worker stops when its primary says so: Ctrl-C reaches the whole process group, and the
      // primary's SIGTERM would otherwise count as a second signal.
      stopOnSignals({ stop: () => running.stop(), logger: running.logger, ignoreSigint: isClusterWorker() });
    });
}

function runsGateway(targets: string): boolean {
  return targets.split(',').some((t) => ['all', 'gateway'].includes(t.trim()));
}

function gatewayRateLimitStore(config: Config): string {
  return readSection(GatewayConfig, config.gateway, '/gateway').rateLimit.store;
}
