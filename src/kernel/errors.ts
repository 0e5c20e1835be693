/**
 * The one error type of aimesh: a stable snake_case `code`, the HTTP `status` it maps to,
 * and a message a person can act on. The HTTP layer renders it as
 * `{ "error": { "code", "message" } }`.
 */
export class AimeshError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'AimeshError';
  }
}

/** 400: the request itself is malformed or fails validation. */
export const badRequest = (code: string, message: string, details?: unknown) =>
  new AimeshError(code, 400, message, details);
/** 401: missing or bad credentials. */
export const unauthorized = (code: string, message: string) => new AimeshError(code, 401, message);
/** 403: authenticated but not allowed. */
export const forbidden = (code: string, message: string) => new AimeshError(code, 403, message);
/** 404: the named thing does not exist. */
export const notFound = (code: string, message: string) => new AimeshError(code, 404, message);
/** 409: conflicts with the current state (duplicate name, wrong status). */
export const conflict = (code: string, message: string) => new AimeshError(code, 409, message);
/** 422: well-formed but cannot be satisfied (e.g. no model meets the constraints). */
export const unprocessable = (code: string, message: string, details?: unknown) =>
  new AimeshError(code, 422, message, details);
/** 503: temporarily unable; callers may retry. */
export const unavailable = (code: string, message: string) => new AimeshError(code, 503, message);

/** True when `error` is an AimeshError (also across module copies). */
export function isAimeshError(error: unknown): error is AimeshError {
  return error instanceof AimeshError;
}

/** What a 503 for an unreachable dependency carries: which one, and when to try again. */
export interface DependencyDetails {
  dependency: string;
  retryAfterSeconds: number;
  /** True when the request may have been applied before the dependency went away. */
  outcomeUnknown?: boolean;
}

/**
 * 503 `<dependency>_unavailable`: a database, Redis, the bus or a key set is unreachable or
 * restarting. The HTTP layer sends `Retry-After`; a retry is safe where the request is idempotent.
 */
export function dependencyUnavailable(
  dependency: string,
  message: string,
  options: { retryAfterSeconds?: number; outcomeUnknown?: boolean } = {},
): AimeshError {
  const details: DependencyDetails = { dependency, retryAfterSeconds: options.retryAfterSeconds ?? 1 };
  if (options.outcomeUnknown) details.outcomeUnknown = true;
  return new AimeshError(`${dependency}_unavailable`, 503, message, details);
}

/** The seconds an error asks the caller to wait before retrying, when it says. */
export function retryAfterOf(error: unknown): number | undefined {
  if (!isAimeshError(error)) return undefined;
  const seconds = (error.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  return typeof seconds === 'number' && seconds > 0 ? Math.ceil(seconds) : undefined;
}
