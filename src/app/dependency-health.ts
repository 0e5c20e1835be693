import type { Logger } from '../kernel/logger.js';
import type { Dependency, Outage } from '../kernel/module.js';
import type { Database } from '../ports/database.js';
import type { EventBus } from '../ports/event-bus.js';

/**
 * Watches the shared services this process uses, in the background, so /readyz can say which
 * one is unreachable without waiting on it; recovers by itself when the service answers again.
 */
export class DependencyHealth {
  private readonly unreachable = new Map<Dependency, Outage>();
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(
    private readonly db: Database,
    private readonly bus: EventBus,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  /** The dependencies unreachable at the last check, with why and since when. */
  get down(): ReadonlyMap<Dependency, Outage> {
    return this.unreachable;
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One round: the database answers `SELECT 1` within the interval, the bus is connected. */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${this.intervalMs} ms`)),
          this.intervalMs,
        );
      });
      const database = await Promise.race([this.db.query('SELECT 1'), timeout]).then(
        () => undefined,
        (error: Error) => error.message,
      );
      clearTimeout(timer);
      this.mark('database', database);
      this.mark('bus', this.bus.connected() ? undefined : 'the connection to the broker is lost');
    } finally {
      this.checking = false;
    }
  }

  private mark(dependency: Dependency, problem: string | undefined): void {
    const was = this.unreachable.has(dependency);
    if (problem === undefined) {
      if (!was) return;
      this.unreachable.delete(dependency);
      this.logger.info({ dependency }, 'dependency reachable again');
    } else {
      const since = this.unreachable.get(dependency)?.since ?? Date.now();
      if (!was) this.logger.warn({ dependency, problem }, 'dependency unreachable');
      this.unreachable.set(dependency, { problem, since });
    }
  }
}
