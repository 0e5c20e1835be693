import cluster, { type Worker } from 'node:cluster';
import { AimeshError } from '../kernel/errors.js';
import type { Logger } from '../kernel/logger.js';

/** What decides whether several worker processes can share the work safely. */
export interface ClusterConfig {
  database: { adapter: string };
  bus: { adapter: string };
  /** The gateway's rate-limit store when the gateway runs, else undefined. */
  rateLimitStore?: string;
}

/**
 * Why `workers` processes cannot run this configuration, or [] when they can. Every worker must
 * see the same state: one database server (an embedded PGlite directory belongs to one process),
 * one bus (else an event relayed in one worker never reaches subscribers in another: live
 * streams, promotions, discovery changes), and one rate-limit store (else each worker would
 * grant the whole limit on its own).
 */
export function clusterProblems(config: ClusterConfig): string[] {
  const problems: string[] = [];
  if (config.database.adapter !== 'postgres')
    problems.push('database.adapter must be postgres (an embedded database belongs to one process)');
  if (config.bus.adapter !== 'nats')
    problems.push('bus.adapter must be nats (an in-process bus does not reach the other workers)');
  if (config.rateLimitStore !== undefined && config.rateLimitStore !== 'redis')
    problems.push(
      'gateway.rateLimit.store must be redis (in memory, each worker would grant the whole limit)',
    );
  return problems;
}

/** Whether this process is a worker that a cluster primary started. */
export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

/** This worker's number (1..N), or undefined outside a cluster. */
export function workerNumber(): number | undefined {
  const n = Number(process.env.AIMESH_WORKER_NUMBER);
  return cluster.isWorker && Number.isInteger(n) ? n : undefined;
}

const RESTART_WINDOW_MS = 60_000;
const MAX_RESTARTS_PER_WINDOW = 5;
const STOP_TIMEOUT_MS = 60_000;

/**
 * The primary of `aimesh start --workers N`: starts N workers running the same command (they share
 * the listening ports; the primary hands connections out in turn), starts a worker again when one
 * dies (at most five times a minute per worker), and on SIGINT/SIGTERM stops them all gracefully
 * and exits once they have. The primary itself serves nothing. `workerEnv` is added to every
 * worker's environment (the platform tokens they share).
 */
export function runClusterPrimary(
  workers: number,
  logger: Logger,
  workerEnv: Record<string, string> = {},
): void {
  if (!Number.isInteger(workers) || workers < 2)
    throw new AimeshError('invalid_workers', 400, `workers must be an integer of 2 or more, got ${workers}`);
  const restarts = new Map<number, number[]>();
  const byWorker = new Map<Worker, number>();
  let stopping = false;

  const fork = (n: number) => {
    const worker = cluster.fork({ ...workerEnv, AIMESH_WORKER_NUMBER: String(n) });
    byWorker.set(worker, n);
    worker.on('exit', (code, signal) => {
      byWorker.delete(worker);
      if (stopping) {
        if (byWorker.size === 0) process.exit(0);
        return;
      }
      const now = Date.now();
      const recent = (restarts.get(n) ?? []).filter((t) => now - t < RESTART_WINDOW_MS);
      if (recent.length >= MAX_RESTARTS_PER_WINDOW) {
        logger.error({ worker: n, code, signal }, 'worker keeps dying; not starting it again');
        if (byWorker.size === 0) process.exit(1);
        return;
      }
      recent.push(now);
      restarts.set(n, recent);
      logger.warn({ worker: n, code, signal }, 'worker died; starting it again');
      fork(n);
    });
  };
  for (let n = 1; n <= workers; n++) fork(n);
  logger.info({ workers, pid: process.pid }, 'aimesh cluster primary started');

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    logger.info({ signal }, 'stopping workers');
    if (byWorker.size === 0) process.exit(0);
    for (const worker of byWorker.keys()) worker.process.kill('SIGTERM');
    setTimeout(() => {
      logger.error('workers did not stop in time');
      process.exit(1);
    }, STOP_TIMEOUT_MS).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
