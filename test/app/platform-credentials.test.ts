import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  assertProtectedBind,
  isLoopbackHost,
  platformTokens,
  readOrCreateToken,
  withAdminToken,
} from '../../src/app/platform-credentials.js';
import { loadConfig } from '../../src/kernel/config.js';
import type { AimeshError } from '../../src/kernel/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'aimesh-credentials-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = (overrides: Record<string, unknown>) => loadConfig({ env: {}, overrides });
const thrown = (f: () => unknown): AimeshError => {
  try {
    f();
  } catch (error) {
    return error as AimeshError;
  }
  throw new Error('expected an error');
};

describe('loopback addresses', () => {
  it.each(['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1'])(
    '%s is loopback',
    (host) => expect(isLoopbackHost(host)).toBe(true),
  );
  it.each(['0.0.0.0', '::', '10.0.0.5', '192.168.1.2', 'example.com', '128.0.0.1', '', '::ffff:10.0.0.1'])(
    '%s is not',
    (host) => expect(isLoopbackHost(host)).toBe(false),
  );
});

describe('the bind rule', () => {
  it('refuses a non-loopback server.host with no admin token: unprotected_bind saying what to set', () => {
    const error = thrown(() => assertProtectedBind(config({ server: { host: '0.0.0.0' } }), ['gateway']));
    expect(error.code).toBe('unprotected_bind');
    expect(error.message).toContain('server.host 0.0.0.0');
    expect(error.message).toContain('AIMESH_GATEWAY__AUTH__ADMIN_TOKEN');
    expect(error.message).toContain('127.0.0.1');
  });

  it('refuses a non-loopback inference listener when the inference module runs, not otherwise', () => {
    const exposed = config({ inference: { server: { host: '::' } } });
    expect(thrown(() => assertProtectedBind(exposed, ['registry', 'inference'])).message).toContain(
      'inference.server.host ::',
    );
    expect(() => assertProtectedBind(exposed, ['registry', 'gateway'])).not.toThrow();
  });

  it('lets any address through once an admin token is configured, and loopback always', () => {
    const token = { gateway: { auth: { adminToken: 'a-chosen-token-0123456789' } } };
    expect(() =>
      assertProtectedBind(config({ ...token, server: { host: '0.0.0.0' } }), ['gateway']),
    ).not.toThrow();
    expect(() => assertProtectedBind(config({ server: { host: '127.0.0.1' } }), ['gateway'])).not.toThrow();
  });
});

describe('the admin token of the first start', () => {
  it('is generated once into the token file, mode 0600, 32+ characters, and read back after', () => {
    const file = join(dir, 'first', 'admin-token');
    const first = readOrCreateToken(file);
    expect(first.created).toBe(true);
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(first.token);
    expect(readOrCreateToken(file)).toEqual({ token: first.token, created: false });
    expect(readOrCreateToken(join(dir, 'other-token')).token).not.toBe(first.token);
  });

  it('refuses a token file holding no usable token, naming server.adminTokenFile', () => {
    const file = join(dir, 'short-token');
    writeFileSync(file, 'short\n');
    const error = thrown(() => readOrCreateToken(file));
    expect(error.code).toBe('invalid_config');
    expect(error.message).toContain('/server/adminTokenFile');
    expect(error.message).toContain(`delete ${file}`);
  });

  it('is used when the platform listens on loopback only and no token is configured', () => {
    const file = join(dir, 'used', 'admin-token');
    const { config: withToken, source } = withAdminToken(config({ server: { adminTokenFile: file } }), [
      'gateway',
      'inference',
    ]);
    expect(source).toEqual({ kind: 'file', file, created: true });
    expect(platformTokens(withToken).adminToken).toBe(readFileSync(file, 'utf8').trim());
  });

  it('is neither made nor read when a token is configured, or when a listener is not on loopback', () => {
    const file = join(dir, 'unused', 'admin-token');
    const configured = config({
      server: { adminTokenFile: file },
      gateway: { auth: { adminToken: 'a-chosen-token-0123456789' } },
    });
    expect(withAdminToken(configured, ['gateway']).source).toEqual({ kind: 'configured' });
    const exposed = config({ server: { adminTokenFile: file, host: '0.0.0.0' } });
    expect(withAdminToken(exposed, ['gateway']).source).toEqual({ kind: 'none' });
    expect(() => statSync(file)).toThrow(/ENOENT/);
  });
});
