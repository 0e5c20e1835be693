import type { Registry } from 'prom-client';
import { AccessGuard, platformTokenResolver, role } from '../kernel/access.js';
import { type Clock, systemClock } from '../kernel/clock.js';
import type { Config } from '../kernel/config.js';
import { AimeshError } from '../kernel/errors.js';
import { createHttpServer, type HttpServer, listenHttp } from '../kernel/http.js';
import { createLogger, type Logger } from '../kernel/logger.js';
import { createMetrics } from '../kernel/metrics.js';
import type { ModuleDefinition } from '../kernel/module.js';
import { ModuleManager, resolveTargets } from '../kernel/module-manager.js';
import { type Random, systemRandom } from '../kernel/random.js';
import type { ArtifactStore } from '../ports/artifact-store.js';
import type { Database } from '../ports/database.js';
import type { EventBus } from '../ports/event-bus.js';
import type { EventLog } from '../ports/event-log.js';
import { moduleAdapters, openArtifactStore, openBus, openDatabase } from './adapters.js';
import { workerNumber } from './cluster.js';
import { DependencyHealth } from './dependency-health.js';
import { migrate } from './migrations.js';
import { moduleTable } from './modules.js';
import {
  assertProtectedBind,
  newPlatformToken,
  platformTokens,
  withPlatformToken,
} from './platform-credentials.js';

export interface StartOptions {
  config: Config;
  /** Target list (`all`, or module names); default `all`. */
  targets?: string[];
  logger?: Logger;
  clock?: Clock;
  random?: Random;
  /** The module table; tests may pass a smaller one. */
  table?: ModuleDefinition[];
}

/** A started aimesh process. */
export interface RunningAimesh {
  url: string;
  port: number;
  config: Config;
  http: HttpServer;
  db: Database;
  bus: EventBus;
  /** The event log, when this process runs it (else reading it throws `module_not_running`). */
  readonly events: EventLog;
  artifacts: ArtifactStore;
  metrics: Registry;
  manager: ModuleManager;
  logger: Logger;
  /** Graceful stop: stop accepting, drain until the configured deadline, stop modules in reverse, close. */
  stop(): Promise<void>;
}

/** Opens the ports the config selects, migrates, starts the targets' modules, listens. */
export async function startAimesh(options: StartOptions): Promise<RunningAimesh> {
  const table = options.table ?? moduleTable;
  const targets = options.targets ?? ['all'];
  assertProtectedBind(
    options.config,
    resolveTargets(table, targets).map((m) => m.name),
  );
  const config = withServiceToken(options.config);
  const logger = options.logger ?? createLogger(config.log.level);
  const clock = options.clock ?? systemClock;
  const metrics = createMetrics();
  const db = await openDatabase(config.database);
  const opened: { close(): Promise<void> }[] = [db];
  try {
    await migrate(
      db,
      table.filter((m) => m.migrations).map((m) => ({ module: m.name, dir: m.migrations! })),
    );
    const bus = await openBus(config.bus);
    opened.push(bus);
    const artifacts = openArtifactStore(config.artifacts);
    const access = new AccessGuard();
    access.addResolver(platformTokenResolver(platformTokens(config)));
    const http = await createHttpServer({ logger, bodyLimitBytes: config.server.bodyLimitBytes, access });
    const manager = new ModuleManager(table);
    const health = new DependencyHealth(db, bus, config.server.healthCheckMs, logger);
    registerHealthRoutes(http, manager, health, metrics);
    await manager.start(targets, {
      config,
      logger,
      metrics,
      clock,
      random: options.random ?? systemRandom,
      db,
      bus,
      artifacts,
      http,
      adapters: moduleAdapters(config, clock, metrics),
    });
    health.start();
    const port = await listenHttp(
      http,
      config.server.host,
      config.server.port,
      'server.port (--port, AIMESH_PORT)',
    );
    const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
    logger.info({ modules: manager.names(), port, database: db.kind, bus: bus.kind }, 'aimesh started');
    let stopping: Promise<void> | undefined;
    return {
      url: `http://${host}:${port}`,
      port,
      config,
      http,
      db,
      bus,
      get events(): EventLog {
        const log = manager.api('eventlog');
        if (!log) throw new AimeshError('module_not_running', 500, 'the eventlog module does not run here');
        return log;
      },
      artifacts,
      metrics,
      manager,
      logger,
      stop: () => {
        stopping ??= (async () => {
          const deadline = Date.now() + config.server.drainTimeoutMs;
          await Promise.race([
            http.close(),
            new Promise((r) => setTimeout(r, config.server.drainTimeoutMs).unref()),
          ]);
          health.stop();
          const errors = await manager.stop(deadline);
          for (const error of errors) logger.error({ err: error }, 'module stop failed');
          await bus.close();
          await db.close();
          logger.info('aimesh stopped');
        })();
        return stopping;
      },
    };
  } catch (error) {
    for (const resource of opened.reverse()) await resource.close().catch(() => {});
    throw error;
  }
}

function registerHealthRoutes(
  http: HttpServer,
  manager: ModuleManager,
  health: DependencyHealth,
  metrics: Registry,
): void {
  // Under `--workers N`, which worker answered.
  const worker = workerNumber();
  http.get(
    '/healthz',
    { config: role('public'), schema: { tags: ['health'], summary: 'Liveness' } },
    async () => (worker === undefined ? { status: 'ok' } : { status: 'ok', worker }),
  );
  http.get(
    '/readyz',
    { config: role('public'), schema: { tags: ['health'], summary: 'Readiness of each module' } },
    async (_request, reply) => {
      const readiness = manager.readiness(health.down);
      const unreachable = Object.fromEntries(
        [...health.down].map(([name, outage]) => [name, outage.problem]),
      );
      const body = health.down.size > 0 ? { ...readiness, unreachable } : readiness;
      return reply.status(readiness.ready ? 200 : 503).send(body);
    },
  );
  http.get(
    '/metrics',
    { config: role('public'), schema: { tags: ['health'], summary: 'Prometheus metrics' } },
    async (_request, reply) => reply.type(metrics.contentType).send(await metrics.metrics()),
  );
}

/**
 * The config with a service token: the configured one, else one made for this run, which only
 * this process knows (enough when every module runs here; the workers of `--workers N` share the
 * one their primary passes them, and separate processes need it configured).
 */
function withServiceToken(config: Config): Config {
  if (platformTokens(config).serviceToken) return config;
  return withPlatformToken(config, 'serviceToken', newPlatformToken());
}
