import type { Command } from 'commander';
import { callApi } from './client.js';

interface KeyView {
  id: string;
  prefix: string;
  owner: string;
  roles: string[];
  team: string | null;
  name: string | null;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  key?: string;
}

const PATH = '/api/v1/admin/keys';

/** `aimesh keys create|list|revoke`: the gateway's API keys, through the admin API (the admin token). */
export function registerKeysCommands(program: Command): void {
  const keys = program
    .command('keys')
    .description(
      'manage gateway API keys (needs the admin token: AIMESH_ADMIN_TOKEN, else on this host the one aimesh start generated; AIMESH_URL names the gateway)',
    )
    .addHelpText(
      'after',
      `
Examples:
  aimesh keys create --owner alice --team search --expires-in 30d
  aimesh keys create --owner ci --role operator          # registry and pipeline writes
  aimesh keys list --owner alice
  aimesh keys revoke 01936c0e-…`,
    );

  keys
    .command('create')
    .description('create a key; it is printed once and cannot be shown again')
    .requiredOption('--owner <user>', 'user or service the key acts as')
    .option(
      '--role <role>',
      'what the key may do: caller, operator, service or admin (repeatable; default caller)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--team <team>', 'team, for team access rules')
    .option('--name <label>', 'a label to tell keys apart')
    .option('--expires-in <duration>', 'lifetime such as 30d, 12h or 15m (default: never)')
    .option('--json', 'print the response as JSON')
    .action(
      async (opts: {
        owner: string;
        role?: string[];
        team?: string;
        name?: string;
        expiresIn?: string;
        json?: boolean;
      }) => {
        const created = await callApi<KeyView>('POST', PATH, {
          owner: opts.owner,
          roles: opts.role,
          team: opts.team,
          name: opts.name,
          expiresIn: opts.expiresIn,
        });
        if (opts.json) return console.log(JSON.stringify(created, null, 2));
        console.log(created.key);
        console.error(
          `key ${created.id} for ${created.owner}${created.team ? ` (team ${created.team})` : ''}` +
            ` with roles ${created.roles.join(', ')}, ` +
            `expires ${created.expiresAt ?? 'never'}; store it now, it is not shown again`,
        );
      },
    );

  keys
    .command('list')
    .description('list keys (never the keys themselves)')
    .option('--owner <user>', 'only this owner’s keys')
    .option('--json', 'print the response as JSON')
    .action(async (opts: { owner?: string; json?: boolean }) => {
      const query = opts.owner ? `?owner=${encodeURIComponent(opts.owner)}` : '';
      const { keys: list } = await callApi<{ keys: KeyView[] }>('GET', `${PATH}${query}`);
      if (opts.json) return console.log(JSON.stringify(list, null, 2));
      for (const k of list) {
        const state = k.revokedAt
          ? 'revoked'
          : k.expiresAt && Date.parse(k.expiresAt) < Date.now()
            ? 'expired'
            : 'active';
        console.log(
          `${k.id}  ${k.prefix}…  ${k.owner}  ${k.roles.join(',')}  ${k.team ?? '-'}  ${state}  expires ${k.expiresAt ?? 'never'}`,
        );
      }
    });

  keys
    .command('revoke <id>')
    .description('revoke a key; other gateway processes refuse it within the key cache lifetime')
    .action(async (id: string) => {
      const revoked = await callApi<KeyView>('DELETE', `${PATH}/${encodeURIComponent(id)}`);
      console.log(`revoked ${revoked.id} (${revoked.owner}) at ${revoked.revokedAt}`);
    });
}
