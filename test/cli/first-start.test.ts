import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { clientHeaders } from '../../src/cli/client.js';
import { runAimesh } from '../support/processes.js';

// Every start here runs in a folder of its own, so the token file lands there, never in the clone.
const dir = mkdtempSync(join(tmpdir(), 'aimesh-first-start-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// No credential from the environment the tests run in reaches these processes (the CLI takes
// an empty variable as unset; the server's config has no token unless one is set below).
const bare = { AIMESH_DATABASE__DATA_DIR: 'memory://', AIMESH_ADMIN_TOKEN: '', AIMESH_API_KEY: '' };
if (process.env.AIMESH_GATEWAY__AUTH__ADMIN_TOKEN !== undefined)
  throw new Error('these tests start aimesh with no admin token: unset AIMESH_GATEWAY__AUTH__ADMIN_TOKEN');

async function status(url: string, headers: Record<string, string> = {}): Promise<number> {
  const response = await request(url, { headers });
  await response.body.dump();
  return response.statusCode;
}

function cli(args: string[], env: Record<string, string>, cwd: string) {
  const child = runAimesh(args, { ...bare, ...env }, cwd);
  return child.exited.then((code) => ({ code, output: child.output() }));
}

describe('aimesh start with no admin token configured, on loopback', () => {
  const cwd = mkdtempSync(join(dir, 'loopback-'));
  const file = join(cwd, 'data', 'admin-token');

  it('generates the admin token into ./data/admin-token (0600), says where, never what; the CLI here uses it', async () => {
    const aimesh = runAimesh(['start', '--target', 'gateway', '--port', '0'], bare, cwd);
    try {
      const url = await aimesh.url(90_000);
      const token = readFileSync(file, 'utf8').trim();
      expect(token.length).toBeGreaterThanOrEqual(32);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(aimesh.output()).toContain(`admin token generated in ${file}`);
      expect(aimesh.output()).not.toContain(token);
      expect(await status(`${url}/api/v1/admin/keys`, { authorization: `Bearer ${token}` })).toBe(200);
      expect(await status(`${url}/api/v1/admin/keys`)).toBe(401);
      // The CLI in the same folder, with no token given, acts as the admin: by 127.0.0.1 and by localhost.
      for (const base of [url, url.replace('127.0.0.1', 'localhost')]) {
        const created = await cli(['keys', 'create', '--owner', 'alice'], { AIMESH_URL: base }, cwd);
        expect(created, created.output).toMatchObject({ code: 0 });
        expect(created.output).toContain('aim_');
      }
      // A key given explicitly is the only credential sent: a wrong one is refused, not overridden.
      const keyed = await cli(['keys', 'list'], { AIMESH_URL: url, AIMESH_API_KEY: 'aim_not-a-key' }, cwd);
      expect(keyed.code).toBe(3);
      expect(keyed.output).toContain('401');
    } finally {
      expect(await aimesh.stop()).toBe(0);
    }
  }, 180_000);

  it('reads the same token back at the next start', async () => {
    const before = readFileSync(file, 'utf8');
    const aimesh = runAimesh(['start', '--target', 'gateway', '--port', '0'], bare, cwd);
    try {
      const url = await aimesh.url(90_000);
      expect(aimesh.output()).toContain(`admin token read from ${file}`);
      expect(readFileSync(file, 'utf8')).toBe(before);
      expect(await status(`${url}/api/v1/admin/keys`, { authorization: `Bearer ${before.trim()}` })).toBe(
        200,
      );
    } finally {
      expect(await aimesh.stop()).toBe(0);
    }
  }, 180_000);
});

describe('aimesh start on a non-loopback address', () => {
  it.each([
    ['server.host 0.0.0.0', { AIMESH_HOST: '0.0.0.0' }],
    ['inference.server.host 0.0.0.0', { AIMESH_INFERENCE__SERVER__HOST: '0.0.0.0' }],
  ])(
    'refuses %s with no admin token configured: unprotected_bind, exit 2, nothing written',
    async (where, env) => {
      const cwd = mkdtempSync(join(dir, 'exposed-'));
      const refused = await cli(['start', '--port', '0'], env, cwd);
      expect(refused.code).toBe(2);
      expect(refused.output).toContain('(unprotected_bind)');
      expect(refused.output).toContain(where);
      expect(refused.output).toContain('set gateway.auth.adminToken (env AIMESH_GATEWAY__AUTH__ADMIN_TOKEN');
      expect(existsSync(join(cwd, 'data'))).toBe(false);
    },
    90_000,
  );

  it('starts there once an admin token is configured (checked on 127.0.0.1 only)', async () => {
    const cwd = mkdtempSync(join(dir, 'configured-'));
    const token = 'a-configured-admin-token-0123';
    const aimesh = runAimesh(
      ['start', '--target', 'gateway', '--port', '0'],
      { ...bare, AIMESH_HOST: '0.0.0.0', AIMESH_GATEWAY__AUTH__ADMIN_TOKEN: token },
      cwd,
    );
    try {
      const url = new URL(await aimesh.url(90_000));
      expect(url.hostname).toBe('0.0.0.0');
      const local = `http://127.0.0.1:${url.port}`;
      expect(await status(`${local}/api/v1/admin/keys`, { authorization: `Bearer ${token}` })).toBe(200);
      expect(existsSync(join(cwd, 'data', 'admin-token'))).toBe(false);
    } finally {
      expect(await aimesh.stop()).toBe(0);
    }
  }, 180_000);
});

describe('the CLI and the local admin token', () => {
  const saved = { ...process.env };
  afterAll(() => {
    for (const name of ['AIMESH_SERVER__ADMIN_TOKEN_FILE', 'AIMESH_ADMIN_TOKEN', 'AIMESH_API_KEY'])
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
  });

  it('sends the token file only to a loopback URL, and only when given no key or token', async () => {
    const cwd = mkdtempSync(join(dir, 'cli-'));
    const file = join(cwd, 'admin-token');
    const { readOrCreateToken } = await import('../../src/app/platform-credentials.js');
    const { token } = readOrCreateToken(file);
    process.env.AIMESH_SERVER__ADMIN_TOKEN_FILE = file;
    delete process.env.AIMESH_ADMIN_TOKEN;
    delete process.env.AIMESH_API_KEY;
    const bearer = `Bearer ${token}`;
    for (const url of ['http://127.0.0.1:8080', 'http://localhost:9', 'http://[::1]:8080'])
      expect(clientHeaders({ url }).authorization, url).toBe(bearer);
    for (const url of ['http://10.0.0.7:8080', 'http://aimesh.example:8080', 'http://0.0.0.0:8080'])
      expect(clientHeaders({ url }).authorization, url).toBeUndefined();
    expect(clientHeaders({ url: 'http://127.0.0.1:8080', apiKey: 'aim_x' })).not.toHaveProperty(
      'authorization',
    );
    expect(
      clientHeaders({ url: 'http://127.0.0.1:8080', adminToken: 'given-token-0123456789' }).authorization,
    ).toBe('Bearer given-token-0123456789');
  });
});
