import type { IncomingHttpHeaders } from 'node:http';

/** Who is calling: the user (or service) id, their team, and how they proved it. */
export interface Principal {
  id: string;
  team?: string;
  keyId?: string;
  via: 'api-key' | 'jwt';
}

/**
 * Turns request headers into a principal; throws (or rejects with) a 401 AimeshError for missing
 * or bad credentials. A principal it already knows (a cached API key) comes back at once rather
 * than as a promise, so the hot path awaits only real I/O.
 */
export interface Authenticator {
  authenticate(headers: IncomingHttpHeaders): Principal | Promise<Principal>;
}

/** Decides whether a principal may use a model; throws a 403 `model_forbidden` AimeshError when not. */
export interface AccessPolicy {
  assertModelAllowed(principal: Principal, model: { id: string; type: string }): void;
}
