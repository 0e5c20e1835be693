import type { Registry } from 'prom-client';
import type { Clock } from '../../kernel/clock.js';
import { ConfigError } from '../../kernel/config.js';
import type { Database } from '../../ports/database.js';
import { createAccessPolicy } from './access-policy.js';
import { ApiKeyStore } from './api-key-store.js';
import type { AuthConfig, JwtConfig } from './config.js';
import { createCredentialAuthenticator } from './credential-authenticator.js';
import { createJwtVerifier } from './jwt-verifier.js';
import { apiKeyAdminRoutes } from './key-routes.js';
import type { AccessPolicy, Authenticator } from './principal.js';

/** The gateway's auth components, wired from the `gateway.auth` section. */
export interface GatewayAuth {
  keys: ApiKeyStore;
  authenticator: Authenticator;
  access: AccessPolicy;
  /** The key admin plugin; register it with prefix `/api/v1/admin/keys`. */
  adminRoutes: ReturnType<typeof apiKeyAdminRoutes>;
}

/** Builds key store, authenticator (API keys + JWT when configured), access policy and key admin routes. */
export function createGatewayAuth(deps: {
  config: AuthConfig;
  db: Database;
  clock: Clock;
  metrics?: Registry;
}): GatewayAuth {
  const { config } = deps;
  const keys = new ApiKeyStore({
    db: deps.db,
    clock: deps.clock,
    cacheTtlMs: config.apiKeys.cacheTtlMs,
    staleIfErrorMs: config.apiKeys.staleIfErrorMs,
    cacheSize: config.apiKeys.cacheSize,
    metrics: deps.metrics,
  });
  const jwt = config.jwt ? createJwtVerifier(checkedJwtConfig(config.jwt)) : undefined;
  return {
    keys,
    authenticator: createCredentialAuthenticator({ keys, jwt, clock: deps.clock }),
    access: createAccessPolicy(config.access),
    adminRoutes: apiKeyAdminRoutes({ keys }),
  };
}

/** A JWT section that could never verify a token is a mistake worth failing the start for. */
function checkedJwtConfig(jwt: JwtConfig): JwtConfig {
  const symmetric = jwt.algorithms.some((a) => a.startsWith('HS'));
  const asymmetric = jwt.algorithms.some((a) => !a.startsWith('HS'));
  if (symmetric && !jwt.secret) {
    throw new ConfigError([
      { path: '/gateway/auth/jwt/secret', expected: 'a secret for the HS* algorithms', got: undefined },
    ]);
  }
  if (asymmetric && !jwt.jwksUrl && !jwt.jwksFile) {
    throw new ConfigError([
      {
        path: '/gateway/auth/jwt/jwksUrl',
        expected: 'a JWKS URL or file for the RS*/PS*/ES*/EdDSA algorithms',
        got: undefined,
      },
    ]);
  }
  return jwt;
}
