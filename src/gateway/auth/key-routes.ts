import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { hasRole, ROLES, role } from '../../kernel/access.js';
import { forbidden } from '../../kernel/errors.js';
import type { ApiKeyRecord, ApiKeyStore } from './api-key-store.js';
import { parseExpiresIn } from './key-expiry.js';

const Name = Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\s].*$' });

const CreateKeyBody = Type.Object(
  {
    owner: { ...Name, description: 'User or service the key acts as (the principal id).' },
    roles: Type.Optional(
      Type.Array(Type.Union(ROLES.map((r) => Type.Literal(r))), {
        minItems: 1,
        maxItems: ROLES.length,
        description: 'What the key may do (caller, operator, service, admin); default [caller].',
      }),
    ),
    team: Type.Optional({ ...Name, description: 'Team, for team access rules.' }),
    name: Type.Optional({ ...Name, description: 'A label to tell keys apart.' }),
    expiresIn: Type.Optional(
      Type.String({ description: 'Lifetime like 30d, 12h, 15m; none = never expires.' }),
    ),
  },
  { additionalProperties: false },
);

const KeyParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const ListQuery = Type.Object({ owner: Type.Optional(Name) }, { additionalProperties: false });

/** What the key admin routes need. */
export interface KeyRoutesOptions {
  keys: ApiKeyStore;
}

/**
 * The API-key admin API (register under `/api/v1/admin/keys`): create (the key is in the
 * response this once) and revoke need `admin`; anyone may list their own keys, an operator
 * anyone's.
 */
export function apiKeyAdminRoutes(options: KeyRoutesOptions): FastifyPluginAsync {
  return async (app) => {
    const tags = ['gateway-admin'];
    const security = [{ bearer: [] }];

    app.post(
      '/',
      {
        config: role('admin'),
        schema: { tags, security, summary: 'Create an API key (shown once)', body: CreateKeyBody },
      },
      async (request, reply) => {
        const body = request.body as typeof CreateKeyBody.static;
        const created = await options.keys.create({
          owner: body.owner,
          roles: body.roles,
          team: body.team,
          name: body.name,
          expiresInMs: body.expiresIn === undefined ? undefined : parseExpiresIn(body.expiresIn),
        });
        return reply.status(201).send({ ...view(created), key: created.key });
      },
    );
    app.get(
      '/',
      {
        config: role('self'),
        schema: {
          tags,
          security,
          summary: 'List API keys (a caller sees its own; an operator anyone’s)',
          querystring: ListQuery,
        },
      },
      async (request) => {
        const { owner } = request.query as typeof ListQuery.static;
        const principal = request.principal!;
        if (hasRole(principal, 'operator')) return { keys: (await options.keys.list(owner)).map(view) };
        if (owner !== undefined && owner !== principal.id)
          throw forbidden(
            'not_owner',
            `${principal.id} may list only its own keys; reading ${owner}'s needs the operator role`,
          );
        return { keys: (await options.keys.list(principal.id)).map(view) };
      },
    );
    app.delete(
      '/:id',
      { config: role('admin'), schema: { tags, security, summary: 'Revoke an API key', params: KeyParams } },
      async (request) => view(await options.keys.revoke((request.params as typeof KeyParams.static).id)),
    );
  };
}

function view(record: ApiKeyRecord) {
  return {
    id: record.id,
    prefix: record.prefix,
    owner: record.owner,
    roles: record.roles,
    team: record.team ?? null,
    name: record.name ?? null,
    createdAt: record.createdAt.toISOString(),
    expiresAt: record.expiresAt?.toISOString() ?? null,
    revokedAt: record.revokedAt?.toISOString() ?? null,
  };
}
