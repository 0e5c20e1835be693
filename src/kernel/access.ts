import type { IncomingHttpHeaders } from 'node:http';

/**
 * What a principal may do on the platform.
 * - `caller`: call models, read what it owns.
 * - `service`: what platform processes do to each other (discovery, platform events); may act
 *   on behalf of another principal.
 * - `operator`: registry and pipeline writes, promotions, model load and unload, reads of
 *   anyone's keys, events and runs.
 * - `admin`: everything, API keys included.
 */
export type Role = 'caller' | 'service' | 'operator' | 'admin';

/**
 * What a route needs: a role, `public` (no credentials: health, metrics, docs, the data plane
 * behind the gateway) or `self` (any authenticated principal; the handler checks ownership).
 */
export type RouteRole = Role | 'public' | 'self';

export const ROLES: readonly Role[] = ['caller', 'service', 'operator', 'admin'];

/** Who is calling, as every module sees it. */
export interface Principal {
  /** The user or service id, recorded as the actor in events and registry records. */
  id: string;
  roles: readonly Role[];
  team?: string;
  /** How it proved who it is. */
  via: 'api-key' | 'jwt' | 'admin-token' | 'service-token';
  keyId?: string;
}

/** The route option that states a route's role: `{ config: role('operator') }`. */
export function role(needed: RouteRole): { role: RouteRole } {
  return { role: needed };
}

// What each role includes besides itself.
const INCLUDES: Record<Role, readonly Role[]> = {
  admin: ['admin', 'operator', 'service', 'caller'],
  operator: ['operator', 'caller'],
  service: ['service', 'caller'],
  caller: ['caller'],
};

/** True when `principal` holds `needed` (admin holds every role, operator and service hold caller). */
export function hasRole(principal: Pick<Principal, 'roles'>, needed: Role): boolean {
  for (const held of principal.roles) if (INCLUDES[held].includes(needed)) return true;
  return false;
}

/** Turns request headers into a principal, or undefined when they carry no credentials it knows. */
export interface PrincipalResolver {
  /** Rejects with a 401 AimeshError for credentials that are present but not valid. */
  resolve(headers: IncomingHttpHeaders): Promise<Principal | undefined>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The role this route needs; a route that states none needs `admin`. */
    role?: RouteRole;
  }
  interface FastifyRequest {
    /** The authenticated principal, once the access guard has run (undefined on public routes without credentials). */
    principal?: Principal;
  }
}
