import type { IncomingHttpHeaders } from 'node:http';
import type { Principal } from '../../kernel/access.js';

/** Who is calling: the platform's one principal (id, roles, team, how it proved it). */
export type { Principal };

/** Turns request headers into a principal; rejects with a 401 AimeshError for missing or bad credentials. */
export interface Authenticator {
  authenticate(headers: IncomingHttpHeaders): Promise<Principal>;
}

/** Decides whether a principal may use a model; throws a 403 `model_forbidden` AimeshError when not. */
export interface AccessPolicy {
  assertModelAllowed(principal: Principal, model: { id: string; type: string }): void;
}
