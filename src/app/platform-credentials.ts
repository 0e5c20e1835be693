import { resolve } from 'node:path';
import { AuthConfig } from '../gateway/index.js';
import { type Config, readSection } from '../kernel/config.js';
import { AimeshError } from '../kernel/errors.js';
import { isLoopbackHost, readOrCreateToken } from './token-file.js';

export { isLoopbackHost, newPlatformToken, readOrCreateToken, readTokenFile } from './token-file.js';

/** The admin and service tokens of `gateway.auth`, which every process accepts. */
export function platformTokens(config: Config): { adminToken?: string; serviceToken?: string } {
  const section = (config.gateway as { auth?: unknown } | undefined)?.auth ?? {};
  const auth = readSection(AuthConfig, section, '/gateway/auth');
  return { adminToken: auth.adminToken, serviceToken: auth.serviceToken };
}

/** `config` with `gateway.auth.<key>` set to `token`. */
export function withPlatformToken(config: Config, key: 'adminToken' | 'serviceToken', token: string): Config {
  const gateway = (config.gateway ?? {}) as { auth?: Record<string, unknown> };
  return { ...config, gateway: { ...gateway, auth: { ...(gateway.auth ?? {}), [key]: token } } };
}

/** The addresses this process will listen on: the main listener, and the inference one when it runs. */
export function listenerHosts(
  config: Config,
  modules: readonly string[],
): { setting: string; host: string }[] {
  const hosts = [{ setting: 'server.host', host: config.server.host }];
  if (modules.includes('inference')) {
    const inference = (config.inference ?? {}) as { server?: { host?: unknown } };
    const host = inference.server?.host;
    hosts.push({ setting: 'inference.server.host', host: typeof host === 'string' ? host : '127.0.0.1' });
  }
  return hosts;
}

/**
 * Refuses to listen beyond this host with no admin token configured, the way Redis's protected
 * mode does: an open platform on a network is one forgotten setting away, so that setting is
 * asked for at start rather than found missing later. A token generated into
 * `server.adminTokenFile` does not count: nobody chose it, and it exists only for the local start.
 */
export function assertProtectedBind(config: Config, modules: readonly string[]): void {
  if (platformTokens(config).adminToken) return;
  const exposed = listenerHosts(config, modules).filter((l) => !isLoopbackHost(l.host));
  if (exposed.length === 0) return;
  const where = exposed.map((l) => `${l.setting} ${l.host}`).join(' and ');
  throw new AimeshError(
    'unprotected_bind',
    400,
    `refusing to listen on ${where} with no admin token configured: set gateway.auth.adminToken (env AIMESH_GATEWAY__AUTH__ADMIN_TOKEN, 16+ characters), or listen on 127.0.0.1 (AIMESH_HOST, server.host)`,
  );
}

/** Where the admin token came from, for the start message. */
export type AdminTokenSource =
  | { kind: 'configured' }
  | { kind: 'file'; file: string; created: boolean }
  | { kind: 'none' };

/**
 * The config with an admin token: the configured one, else (listening on loopback only) the one
 * in `server.adminTokenFile`, made there at first start with mode 0600 so only this user reads it.
 * A non-loopback bind without a configured token is refused before this (`assertProtectedBind`).
 */
export function withAdminToken(
  config: Config,
  modules: readonly string[],
): { config: Config; source: AdminTokenSource } {
  if (platformTokens(config).adminToken) return { config, source: { kind: 'configured' } };
  if (!listenerHosts(config, modules).every((l) => isLoopbackHost(l.host)))
    return { config, source: { kind: 'none' } };
  const file = resolve(config.server.adminTokenFile);
  const { token, created } = readOrCreateToken(file);
  return { config: withPlatformToken(config, 'adminToken', token), source: { kind: 'file', file, created } };
}
