import type { IncomingHttpHeaders } from 'node:http';
import type { PrincipalResolver } from '../../kernel/access.js';
import type { Clock } from '../../kernel/clock.js';
import { unauthorized } from '../../kernel/errors.js';
import { bearerToken } from './admin-token.js';
import { type ApiKeyRecord, type ApiKeyStore, looksLikeApiKey } from './api-key-store.js';
import type { JwtVerifier } from './jwt-verifier.js';
import type { Authenticator, Principal } from './principal.js';

/** What the authenticator needs: the key store, a JWT verifier when JWTs are configured, a clock. */
export interface CredentialAuthenticatorOptions {
  /** The store's two lookups: all the authenticator uses, so any key source can stand in. */
  keys: Pick<ApiKeyStore, 'cached' | 'find'>;
  jwt?: JwtVerifier;
  clock: Clock;
}

/**
 * Accepts an API key in `X-API-Key` or `Authorization: Bearer`, or a JWT in `Authorization: Bearer`
 * (told apart by shape: keys start with `aim_`). Each failure is a 401 with its own code.
 */
/** The gateway's credentials as a source of the access guard: undefined when the headers carry none. */
export function credentialResolver(authenticator: Authenticator): PrincipalResolver {
  return {
    resolve: (headers) =>
      headers['x-api-key'] === undefined && headers.authorization === undefined
        ? Promise.resolve(undefined)
        : authenticator.authenticate(headers),
  };
}

export function createCredentialAuthenticator(options: CredentialAuthenticatorOptions): Authenticator {
  return {
    async authenticate(headers: IncomingHttpHeaders): Promise<Principal> {
      const headerKey = headers['x-api-key'];
      if (typeof headerKey === 'string' && headerKey.length > 0) return apiKey(headerKey);
      if (Array.isArray(headerKey)) throw unauthorized('invalid_api_key', 'send one X-API-Key header');
      const bearer = bearerToken(headers);
      if (bearer) {
        if (looksLikeApiKey(bearer)) return apiKey(bearer);
        if (!options.jwt)
          throw unauthorized('invalid_token', 'bearer tokens are not accepted here; use an API key');
        return options.jwt.verify(bearer);
      }
      if (headers.authorization !== undefined)
        throw unauthorized('invalid_credentials', 'Authorization must be "Bearer <API key or JWT>"');
      throw unauthorized(
        'missing_credentials',
        'send an API key in X-API-Key or a bearer token in Authorization',
      );
    },
  };

  async function apiKey(key: string): Promise<Principal> {
    // Bound the work an attacker can make us do per request.
    if (key.length > 256 || !looksLikeApiKey(key))
      throw unauthorized('invalid_api_key', 'the API key is not valid');
    // A key seen lately is answered from the cache, without the database.
    const cached = options.keys.cached(key);
    return principalOf(cached === undefined ? await options.keys.find(key) : cached);
  }

  function principalOf(record: ApiKeyRecord | null): Principal {
    if (!record) throw unauthorized('invalid_api_key', 'the API key is not valid');
    if (record.revokedAt) throw unauthorized('revoked_api_key', `API key ${record.prefix}… has been revoked`);
    if (record.expiresAt && record.expiresAt.getTime() <= options.clock.now()) {
      throw unauthorized(
        'expired_api_key',
        `API key ${record.prefix}… expired at ${record.expiresAt.toISOString()}`,
      );
    }
    return { id: record.owner, roles: record.roles, team: record.team, keyId: record.id, via: 'api-key' };
  }
}

/**
 * The gateway's traffic authenticator that also knows the platform's own tokens (`platform`,
 * the kernel's resolver of the admin and service tokens), so the admin token is `admin` through
 * the gateway as on every API (the CLI's `pipeline run` goes through it to the training API).
 * An `X-API-Key` wins over a bearer token, as it does among the gateway's own credentials.
 */
export function withPlatformTokens(authenticator: Authenticator, platform: PrincipalResolver): Authenticator {
  return {
    async authenticate(headers) {
      if (headers['x-api-key'] !== undefined) return authenticator.authenticate(headers);
      return (await platform.resolve(headers)) ?? authenticator.authenticate(headers);
    },
  };
}
