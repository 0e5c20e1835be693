import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningAimesh, type StartOptions, startAimesh } from '../../src/app/runtime.js';
import { type Config, deepMerge, loadConfig } from '../../src/kernel/config.js';
import { createLogger } from '../../src/kernel/logger.js';

/** The admin token every test config carries (`gateway.auth.adminToken`). */
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';
/** The service credential every test config carries, for calls platform processes make to each other. */
export const TEST_SERVICE_TOKEN = 'test-service-token-0123456789';

/** Headers that authenticate as the admin of a test config. */
export function adminHeaders(): Record<string, string> {
  return { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
}

/** Headers that authenticate as a platform service, optionally acting on behalf of `actor`. */
export function serviceHeaders(actor?: string): Record<string, string> {
  const headers: Record<string, string> = { authorization: `Bearer ${TEST_SERVICE_TOKEN}` };
  if (actor) headers['x-aimesh-actor'] = actor;
  return headers;
}

/** Headers that authenticate as a service acting for `actor` with `roles` (how the gateway forwards a caller). */
export function onBehalfHeaders(actor: string, roles: readonly string[]): Record<string, string> {
  return { ...serviceHeaders(actor), 'x-aimesh-roles': roles.join(',') };
}

/**
 * Creates an API key with `roles` for `owner` through the admin API of the aimesh at `url`
 * (the gateway must run there) and returns the headers that carry it.
 */
export async function userHeaders(
  url: string,
  roles: readonly string[] = ['caller'],
  owner = `user-${roles.join('-')}`,
): Promise<Record<string, string>> {
  const response = await fetch(`${url}/api/v1/admin/keys`, {
    method: 'POST',
    headers: { ...adminHeaders(), 'content-type': 'application/json' },
    body: JSON.stringify({ owner, roles }),
  });
  if (response.status !== 201)
    throw new Error(`key creation failed: ${response.status} ${await response.text()}`);
  const { key } = (await response.json()) as { key: string };
  return { 'x-api-key': key };
}

/** A config for tests: in-memory PGlite, in-process bus, any free port, silent logs; `overrides` deep-merge on top. */
export function testConfig(overrides: Record<string, unknown> = {}): Config {
  return loadConfig({
    env: {},
    overrides: deepMerge(
      {
        server: { port: 0, drainTimeoutMs: 2_000 },
        database: { adapter: 'pglite', dataDir: 'memory://' },
        bus: { adapter: 'memory' },
        artifacts: { dir: mkdtempSync(join(tmpdir(), 'aimesh-artifacts-')) },
        log: { level: 'silent' },
        gateway: { auth: { adminToken: TEST_ADMIN_TOKEN, serviceToken: TEST_SERVICE_TOKEN } },
      },
      overrides,
    ) as Record<string, unknown>,
  });
}

/** Starts a real aimesh process-in-a-test on loopback; stop it in afterAll/afterEach. */
export function startTestAimesh(
  options: Omit<StartOptions, 'config'> & { config?: Record<string, unknown> } = {},
): Promise<RunningAimesh> {
  const config = testConfig(options.config);
  return startAimesh({ ...options, config, logger: options.logger ?? createLogger('silent') });
}
