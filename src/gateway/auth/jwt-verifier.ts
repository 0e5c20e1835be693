import { readFileSync } from 'node:fs';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  type JSONWebKeySet,
  type JWTPayload,
  jwtVerify,
} from 'jose';
import { ROLES, type Role } from '../../kernel/access.js';
import { dependencyUnavailable, unauthorized } from '../../kernel/errors.js';
import type { JwtConfig } from './config.js';
import type { Principal } from './principal.js';

type KeyResolver = Parameters<typeof jwtVerify>[1];

/** Verifies bearer JWTs into principals. */
export interface JwtVerifier {
  verify(token: string): Promise<Principal>;
}

/**
 * A jose-backed verifier. Symmetric (HS*) tokens are checked only against the shared secret and
 * asymmetric ones only against the JWKS, each with its own slice of the allow-list, so a token
 * "signed" with the RSA public key as an HMAC secret (algorithm confusion) can never verify.
 * `alg: none` is refused by jose and is absent from the allow-list anyway.
 */
export function createJwtVerifier(config: JwtConfig): JwtVerifier {
  const symmetric = config.algorithms.filter((a) => a.startsWith('HS'));
  const asymmetric = config.algorithms.filter((a) => !a.startsWith('HS'));
  const secret = config.secret ? new TextEncoder().encode(config.secret) : undefined;
  const jwks: KeyResolver | undefined = config.jwksUrl
    ? createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: 30_000, timeoutDuration: 5_000 })
    : config.jwksFile
      ? createLocalJWKSet(JSON.parse(readFileSync(config.jwksFile, 'utf8')) as JSONWebKeySet)
      : undefined;

  return {
    async verify(token) {
      let alg: string | undefined;
      try {
        alg = decodeProtectedHeader(token).alg;
      } catch {
        throw unauthorized('invalid_token', 'the bearer token is not a well-formed JWT');
      }
      const isSymmetric = alg?.startsWith('HS') ?? false;
      const key = isSymmetric ? secret : jwks;
      const algorithms = isSymmetric ? symmetric : asymmetric;
      if (!alg || !key || !algorithms.includes(alg as (typeof algorithms)[number])) {
        throw unauthorized('invalid_token', `tokens signed with '${alg ?? 'none'}' are not accepted`);
      }
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, key as Uint8Array, {
          algorithms,
          issuer: config.issuer,
          audience: config.audience,
          clockTolerance: config.clockToleranceSeconds,
          requiredClaims: ['sub', 'exp'],
        }));
      } catch (error) {
        // Our key source failing is not the caller's fault: say so, and let them retry.
        if (keySourceFailed(error)) {
          throw dependencyUnavailable(
            'jwks',
            `cannot check the token: the key set is unreachable (${(error as Error).message})`,
            { retryAfterSeconds: 5 },
          );
        }
        throw unauthorized('invalid_token', `the bearer token was rejected: ${reason(error)}`);
      }
      const team = payload[config.teamClaim];
      return {
        id: payload.sub!,
        roles: rolesOf(payload[config.rolesClaim]),
        team: typeof team === 'string' && team.length > 0 ? team : undefined,
        via: 'jwt',
      };
    },
  };
}

/** The roles a token's claim names (an array or a space/comma-separated string); none named: `caller`. */
function rolesOf(claim: unknown): Role[] {
  const names = Array.isArray(claim) ? claim : typeof claim === 'string' ? claim.split(/[\s,]+/) : [];
  const roles = names.filter(
    (r): r is Role => typeof r === 'string' && (ROLES as readonly string[]).includes(r),
  );
  return roles.length > 0 ? [...new Set(roles)] : ['caller'];
}

function keySourceFailed(error: unknown): boolean {
  const e = error as { code?: string; name?: string; message?: string };
  // fetch reports a network failure as TypeError('fetch failed'); other TypeErrors are about the token.
  const network = e?.name === 'TypeError' && e.message === 'fetch failed';
  return network || e?.code === 'ERR_JWKS_TIMEOUT' || e?.code === 'ERR_JWKS_INVALID';
}

function reason(error: unknown): string {
  const e = error as { code?: string; message?: string };
  switch (e?.code) {
    case 'ERR_JWT_EXPIRED':
      return 'it has expired';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'its signature does not verify';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return e.message ?? 'a claim is not acceptable';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'no key of the key set matches it';
    default:
      return e?.message ?? 'unknown reason';
  }
}
