import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { forbidden, unauthorized } from './errors.js';

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
  /** The service principal acting on this one's behalf (set from `X-Aimesh-Actor`). */
  onBehalfOf?: string;
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

/**
 * True when `principal` may read what others own (their runs, events, keys' listings): an
 * operator or a platform service (admin holds both). Anyone else reads only its own.
 */
export function readsAnyones(principal: Pick<Principal, 'roles'>): boolean {
  return hasRole(principal, 'operator') || hasRole(principal, 'service');
}

/**
 * Throws 403 `not_owner` unless `principal` is `owner` or reads anyone's: how a `self` route
 * keeps one principal's objects from another (`what` names the object in the message).
 */
export function assertReadable(principal: Principal | undefined, owner: string, what: string): void {
  if (principal && (principal.id === owner || readsAnyones(principal))) return;
  throw forbidden(
    'not_owner',
    `${what} belongs to another principal; ${principal?.id ?? 'anonymous'} may read only its own (reading others' needs the operator role)`,
  );
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

/** The role of a route: what it states, else `admin` (a route that forgot to say is closed, not open). */
export function routeRoleOf(config: { role?: RouteRole } | undefined): RouteRole {
  return config?.role ?? 'admin';
}

/** The bearer token of `Authorization`, or undefined. */
export function bearerOf(headers: IncomingHttpHeaders): string | undefined {
  const value = headers.authorization;
  if (typeof value !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match?.[1];
}

/** Compares two secrets in time that does not depend on where they differ (digests make lengths equal). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** The platform's own tokens: the admin token is an `admin` principal, the service token a `service` one. */
export function platformTokenResolver(tokens: {
  adminToken?: string;
  serviceToken?: string;
}): PrincipalResolver {
  return {
    async resolve(headers) {
      const given = bearerOf(headers) ?? single(headers['x-admin-token']);
      if (!given) return undefined;
      if (tokens.adminToken && sameSecret(given, tokens.adminToken))
        return { id: 'admin', roles: ['admin'], via: 'admin-token' };
      if (tokens.serviceToken && sameSecret(given, tokens.serviceToken))
        return { id: 'service', roles: ['service'], via: 'service-token' };
      return undefined;
    },
  };
}

function single(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** Roles named in a comma-separated header (unknown names are dropped). */
export function parseRoles(value: string | string[] | undefined): Role[] | undefined {
  if (typeof value !== 'string') return undefined;
  const roles = value
    .split(',')
    .map((r) => r.trim())
    .filter((r): r is Role => (ROLES as readonly string[]).includes(r));
  return [...new Set(roles)];
}

const ACTOR_MAX = 200;

/**
 * The principal a request acts as. A `service` principal may act on behalf of another: its
 * `X-Aimesh-Actor` names who, its `X-Aimesh-Roles` what that one may do (the gateway forwards a
 * caller this way, so a caller through the gateway has a caller's rights). From anyone else
 * both headers are ignored.
 */
export function actingPrincipal(principal: Principal, headers: IncomingHttpHeaders): Principal {
  if (!principal.roles.includes('service')) return principal;
  const actor = typeof headers['x-aimesh-actor'] === 'string' ? headers['x-aimesh-actor'].trim() : '';
  const roles = parseRoles(headers['x-aimesh-roles']);
  if (actor.length === 0 && roles === undefined) return principal;
  return {
    ...principal,
    id: actor.length > 0 && actor.length <= ACTOR_MAX ? actor : principal.id,
    roles: roles ?? principal.roles,
    onBehalfOf: principal.id,
  };
}

/** One route as the guard knows it, for listings and the test that every route states its role. */
export interface GuardedRoute {
  /** The listener serving it (`main`, or a module's own). */
  listener: string;
  method: string;
  url: string;
  role: RouteRole;
  /** True when the route stated its role (false: the `admin` default applies). */
  stated: boolean;
}

/**
 * Who may call what, for every listener of a process: the resolvers that turn credentials into
 * principals (the platform tokens; API keys and JWTs when the gateway runs here), shared by the
 * main listener and the modules' own, and the routes each one guards.
 */
export class AccessGuard {
  private readonly resolvers: PrincipalResolver[] = [];
  readonly routes: GuardedRoute[] = [];

  /** Adds a credential source; the first to recognise the credentials answers. */
  addResolver(resolver: PrincipalResolver): void {
    this.resolvers.push(resolver);
  }

  /** The principal the headers prove, or undefined when they carry no credentials. */
  async principalOf(headers: IncomingHttpHeaders): Promise<Principal | undefined> {
    for (const resolver of this.resolvers) {
      const principal = await resolver.resolve(headers);
      if (principal) return actingPrincipal(principal, headers);
    }
    if (headers.authorization !== undefined || headers['x-api-key'] !== undefined)
      throw unauthorized('invalid_credentials', 'the credentials sent are not valid here');
    return undefined;
  }

  /** Checks a request against the role its route needs; returns its principal. */
  async check(headers: IncomingHttpHeaders, needed: RouteRole): Promise<Principal | undefined> {
    if (needed === 'public') return undefined;
    const principal = await this.principalOf(headers);
    if (!principal)
      throw unauthorized(
        'missing_credentials',
        'this API needs credentials: an API key in X-API-Key, or Authorization: Bearer <key, JWT or token>',
      );
    if (needed !== 'self' && !hasRole(principal, needed))
      throw forbidden(
        'insufficient_role',
        `this API needs the ${needed} role; ${principal.id} has ${principal.roles.join(', ') || 'none'}`,
      );
    return principal;
  }
}
