import { type Logger, pino } from 'pino';

export type { Logger };

/** The process logger: JSON lines on stdout; `silent` in tests. */
export function createLogger(level: string, name = 'aimesh'): Logger {
  return pino({ name, level });
}
