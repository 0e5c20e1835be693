import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerKeysCommands } from '../../../src/cli/keys-command.js';
import { systemClock } from '../../../src/kernel/clock.js';
import { startAuthServer } from './auth-server.js';

const ADMIN = 'cli-admin-token-0123456789abcdef';

/** Runs `aimesh keys …` in this process against the server; returns what it printed. */
async function aimeshKeys(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  try {
    const program = new Command('aimesh').exitOverride();
    registerKeysCommands(program);
    await program.parseAsync(['keys', ...args], { from: 'user' });
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
  return { stdout: out.join('\n'), stderr: err.join('\n') };
}

describe('aimesh keys', () => {
  let server: Awaited<ReturnType<typeof startAuthServer>>;
  const saved = { url: process.env.AIMESH_URL, admin: process.env.AIMESH_ADMIN_TOKEN };

  beforeAll(async () => {
    server = await startAuthServer({ config: { adminToken: ADMIN }, clock: systemClock });
    process.env.AIMESH_URL = server.url;
    process.env.AIMESH_ADMIN_TOKEN = ADMIN;
  });
  afterEach(() => {
    process.env.AIMESH_ADMIN_TOKEN = ADMIN;
  });
  afterAll(async () => {
    process.env.AIMESH_URL = saved.url;
    process.env.AIMESH_ADMIN_TOKEN = saved.admin;
    await server?.stop();
  });

  it('creates a key that is printed once and works, lists it without the key, and revokes it', async () => {
    const created = await aimeshKeys([
      'create',
      '--owner',
      'cli-user',
      '--team',
      'ops',
      '--expires-in',
      '30d',
    ]);
    const key = created.stdout.trim();
    expect(key).toMatch(/^aim_/);
    expect(created.stderr).toContain('not shown again');
    const ok = await fetch(`${server.url}/guarded`, { headers: { 'x-api-key': key } });
    expect(await ok.json()).toMatchObject({ id: 'cli-user', team: 'ops' });

    const listed = await aimeshKeys(['list', '--owner', 'cli-user', '--json']);
    const [record] = JSON.parse(listed.stdout) as { id: string; key?: string }[];
    expect(record.key).toBeUndefined();

    expect((await aimeshKeys(['revoke', record.id])).stdout).toContain(`revoked ${record.id}`);
    const refused = await fetch(`${server.url}/guarded`, { headers: { 'x-api-key': key } });
    expect(refused.status).toBe(401);
  });

  it('gives a key the roles named by repeated --role, and a key made without any the caller role', async () => {
    const operator = (
      await aimeshKeys(['create', '--owner', 'ops-bot', '--role', 'operator', '--role', 'caller'])
    ).stdout.trim();
    const plain = (await aimeshKeys(['create', '--owner', 'plain-user'])).stdout.trim();
    const as = async (key: string) =>
      (await fetch(`${server.url}/guarded`, { headers: { 'x-api-key': key } })).json();
    expect(await as(operator)).toMatchObject({ id: 'ops-bot', roles: ['operator', 'caller'] });
    expect(await as(plain)).toMatchObject({ id: 'plain-user', roles: ['caller'] });
    await expect(aimeshKeys(['create', '--owner', 'x', '--role', 'root'])).rejects.toMatchObject({
      code: 'invalid_request',
      status: 400,
    });
  });

  it('fails with the server’s error code for a wrong admin token or a bad lifetime', async () => {
    process.env.AIMESH_ADMIN_TOKEN = 'a-wrong-admin-token-000000';
    await expect(aimeshKeys(['list'])).rejects.toMatchObject({ code: 'invalid_token', status: 401 });
    process.env.AIMESH_ADMIN_TOKEN = ADMIN;
    await expect(aimeshKeys(['create', '--owner', 'x', '--expires-in', 'tomorrow'])).rejects.toMatchObject({
      code: 'invalid_expiry',
    });
  });
});
