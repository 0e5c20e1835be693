import type { Logger } from '../kernel/logger.js';

export interface LifecycleOptions {
  /** Graceful stop of whatever this process runs. */
  stop(): Promise<void>;
  logger: Logger;
  /** Leave SIGINT to someone else (a cluster worker stops when its primary says so). */
  ignoreSigint?: boolean;
  /** How often the parent process is checked (default 1000 ms). */
  parentCheckMs?: number;
}

/**
 * Runs until told to stop, then stops gracefully and exits: on SIGTERM (what a supervisor,
 * systemd or a container runtime sends), on SIGINT, and when the process that started this one
 * exits — a wrapper killed with SIGKILL cannot pass a signal on, and a server left behind
 * would keep its ports. A second signal exits at once (130).
 */
export function stopOnSignals(options: LifecycleOptions): void {
  const { logger } = options;
  let requests = 0;
  const shutdown = (reason: string) => {
    requests += 1;
    if (requests > 1) process.exit(130);
    clearInterval(parentWatch);
    logger.info({ reason }, 'stopping');
    options.stop().then(
      () => process.exit(0),
      (error) => {
        logger.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  if (options.ignoreSigint) process.on('SIGINT', () => {});
  else process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  // A parent that exits hands its children to init (or a subreaper): our parent pid changes.
  const parent = process.ppid;
  const parentWatch = setInterval(() => {
    if (parent > 1 && process.ppid !== parent) shutdown('parent process exited');
  }, options.parentCheckMs ?? 1000);
  parentWatch.unref();
}
