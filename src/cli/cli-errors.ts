import { CommanderError } from 'commander';
import { AimeshError, isAimeshError } from '../kernel/errors.js';

/** The CLI's exit codes; the README lists them. */
export const ExitCode = {
  ok: 0,
  /** A bad command, option or argument, or a local file that cannot be read. */
  usage: 1,
  /** The configuration is invalid or unsafe (an unprotected bind), or a port it names cannot be listened on. */
  configuration: 2,
  /** The server answered with an error. */
  refused: 3,
  /** The server, or a database, bus or store it needs, cannot be reached. */
  unreachable: 4,
  /** Anything else: a fault of aimesh itself. */
  internal: 5,
} as const;

/** An error answer from a running aimesh (the status and body are the server's). */
export class ServerRefusal extends AimeshError {}

/** An error that is the user's to fix locally: a bad argument, a missing file. */
export function usageError(code: string, message: string): AimeshError {
  return new AimeshError(code, 400, message);
}

const CONFIGURATION = new Set([
  'invalid_config',
  'config_not_found',
  'port_unavailable',
  'invalid_workers',
  'unprotected_bind',
]);

/** The exit code and the one line printed for an error that ended a command. */
export function describeCliError(error: unknown): { exitCode: number; line: string } {
  if (error instanceof CommanderError) return { exitCode: error.exitCode, line: '' };
  if (error instanceof ServerRefusal)
    return {
      exitCode: ExitCode.refused,
      line: `${oneLine(error.message)} (${error.code}, HTTP ${error.status})`,
    };
  if (isAimeshError(error)) {
    const line = `${oneLine(error.message)} (${error.code})`;
    if (CONFIGURATION.has(error.code)) return { exitCode: ExitCode.configuration, line };
    if (error.code === 'unreachable' || error.code.endsWith('_unavailable'))
      return { exitCode: ExitCode.unreachable, line };
    if (error.status < 500) return { exitCode: ExitCode.usage, line };
    return { exitCode: ExitCode.internal, line };
  }
  const system = error as NodeJS.ErrnoException & { input?: string };
  if (system?.code === 'ERR_INVALID_URL')
    return {
      exitCode: ExitCode.usage,
      line: `${JSON.stringify(system.input ?? '')} is not a URL; give one such as http://127.0.0.1:8080 (invalid_url)`,
    };
  if (typeof system?.code === 'string' && typeof system.syscall === 'string') {
    const what = system.path ? `${system.path}: ` : '';
    const hint = system.code === 'ENOENT' ? '; check the path' : '';
    return {
      exitCode: system.syscall.startsWith('connect') ? ExitCode.unreachable : ExitCode.usage,
      line: `${what}${system.message.replace(/^\w+: /, '').replace(/, \w+ '.*'$/, '')} (${system.code}${hint})`,
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return {
    exitCode: ExitCode.internal,
    line: `internal error: ${oneLine(message)} (set AIMESH_DEBUG=1 for the stack trace)`,
  };
}

/** Prints `error` as one line on stderr (the stack too when AIMESH_DEBUG=1) and returns the exit code. */
export function reportCliError(error: unknown): number {
  const { exitCode, line } = describeCliError(error);
  if (line) console.error(`aimesh: ${line}`);
  if (process.env.AIMESH_DEBUG === '1' && error instanceof Error) console.error(error.stack);
  return exitCode;
}

function oneLine(message: string): string {
  return message
    .split('\n')
    .map((part) => part.trim().replace(/^- /, ''))
    .filter((part) => part.length > 0)
    .join('; ')
    .replace(/:; /g, ': ');
}
