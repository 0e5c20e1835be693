import type { Command } from 'commander';
import { clusterProblems, isClusterWorker, runClusterPrimary } from '../app/cluster.js';
import { moduleTable } from '../app/modules.js';
import {
  type AdminTokenSource,
  assertProtectedBind,
  newPlatformToken,
  platformTokens,
  withAdminToken,
} from '../app/platform-credentials.js';
import { stopOnSignals } from '../app/process-lifecycle.js';
import { startAimesh } from '../app/runtime.js';
import { GatewayConfig } from '../gateway/index.js';
import { type Config, loadConfig, readSection } from '../kernel/config.js';
import { AimeshError } from '../kernel/errors.js';
import { createLogger } from '../kernel/logger.js';
import { resolveTargets } from '../kernel/module-manager.js';

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
      const loaded = loadConfig({ file: opts.config, overrides: { server } });
      const modules = resolveTargets(moduleTable, [opts.target]).map((m) => m.name);
      assertProtectedBind(loaded, modules);
      if (loaded.server.workers > 1 && !isClusterWorker()) {
        const problems = clusterProblems({
          database: loaded.database,
          bus: loaded.bus,
          rateLimitStore: runsGateway(opts.target) ? gatewayRateLimitStore(loaded) : undefined,
        });
        if (problems.length > 0) {
          throw new AimeshError(
            'invalid_config',
            400,
            `${loaded.server.workers} workers need state every worker shares:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
          );
        }
      }
      const { config, source } = withAdminToken(loaded, modules);
      if (config.server.workers > 1 && !isClusterWorker()) {
        tellWhereTheTokenIs(source);
        runClusterPrimary(
          config.server.workers,
          createLogger(config.log.level),
          workerTokens(loaded, config),
        );
        return;
      }
      const running = await startAimesh({ config, targets: [opts.target] });
      const inference = running.manager.api('inference');
      if (!isClusterWorker()) tellWhereTheTokenIs(source);
      console.error(
        `aimesh listening on ${running.url} (${inference ? `inference on ${inference.url}; ` : ''}modules: ${running.manager.names().join(', ')})`,
      );
      // A worker stops when its primary says so: Ctrl-C reaches the whole process group, and the
      // primary's SIGTERM would otherwise count as a second signal.
      stopOnSignals({ stop: () => running.stop(), logger: running.logger, ignoreSigint: isClusterWorker() });
    });
}

/** Where the generated admin token is, once the start succeeded; never the token: terminals and logs are read by others. */
function tellWhereTheTokenIs(source: AdminTokenSource): void {
  if (source.kind !== 'file') return;
  console.error(
    `aimesh: admin token ${source.created ? 'generated in' : 'read from'} ${source.file} (mode 0600; the CLI on this host uses it; set gateway.auth.adminToken to choose one)`,
  );
}

/**
 * What every worker of a cluster must hold alike and would not read from the config on its own:
 * the admin token of the token file, and one service token made for this cluster's run when none
 * is configured, so a call one worker forwards is accepted by whichever worker the connection
 * reaches. Configured tokens reach the workers as they reach the primary.
 */
function workerTokens(configured: Config, config: Config): Record<string, string> {
  const env: Record<string, string> = {};
  if (!platformTokens(configured).serviceToken) env.AIMESH_GATEWAY__AUTH__SERVICE_TOKEN = newPlatformToken();
  const adminToken = platformTokens(config).adminToken;
  if (!platformTokens(configured).adminToken && adminToken)
    env.AIMESH_GATEWAY__AUTH__ADMIN_TOKEN = adminToken;
  return env;
}

function runsGateway(targets: string): boolean {
  return targets.split(',').some((t) => ['all', 'gateway'].includes(t.trim()));
}

function gatewayRateLimitStore(config: Config): string {
  return readSection(GatewayConfig, config.gateway, '/gateway').rateLimit.store;
}
