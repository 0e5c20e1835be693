import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { forbidden, unauthorized } from '../../kernel/errors.js';

/** The bearer token of `Authorization`, or undefined. */
export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const value = headers.authorization;
  if (typeof value !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match?.[1];
}

/** Compares two secrets in time that does not depend on where they differ (digests make lengths equal). */
export function secretsEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/**
 * Guards the admin APIs: 401 `missing_credentials` without a token, 403 `invalid_admin_token` with a
 * wrong one, 403 `admin_disabled` when no admin token is configured.
 */
export function assertAdmin(headers: IncomingHttpHeaders, adminToken: string | undefined): void {
  const given = bearerToken(headers) ?? singleHeader(headers['x-admin-token']);
  if (!given)
    throw unauthorized('missing_credentials', 'the admin API needs Authorization: Bearer <admin token>');
  if (!adminToken)
    throw forbidden('admin_disabled', 'the admin API is disabled: set gateway.auth.adminToken to enable it');
  if (!secretsEqual(given, adminToken))
    throw forbidden('invalid_admin_token', 'the admin token is not valid');
}

function singleHeader(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}
