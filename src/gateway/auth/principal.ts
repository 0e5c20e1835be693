import type { IncomingHttpHeaders } from 'node:http';

/** Who is calling: the user (or service) id, their team, and how they proved it. */
export interface Principal {
  id: string;
  team?: string;
  keyId?: string;
  via: 'api-key' | 'jwt';
}

/** Turns request headers into a principal; rejects with a 401 AimeshError for missing or bad credentials. */
export interface Authenticator {
  authenticate(headers: IncomingHttpHeaders): Promise<Principal>;
}

/** Decides whether a principal may use a model; throws a 403 `model_forbidden` AimeshError when not. */
export interface AccessPolicy {
  assertModelAllowed(principal: Principal, model: { id: string; type: string }): void;
}
