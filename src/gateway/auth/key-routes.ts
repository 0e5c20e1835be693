import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { assertAdmin } from './admin-token.js';
import type { ApiKeyRecord, ApiKeyStore } from './api-key-store.js';
import { parseExpiresIn } from './key-expiry.js';

const Name = Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\s].*$' });

const CreateKeyBody = Type.Object(
  {
    owner: { ...Name, description: 'User or service the key acts as (the principal id).' },
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
  adminToken: string | undefined;
}

/**
 * The API-key admin API (register under `/api/v1/admin/keys`): create (the key is in the
 * response this once), list, revoke. Every route needs the admin token.
 */
export function apiKeyAdminRoutes(options: KeyRoutesOptions): FastifyPluginAsync {
  return async (app) => {
    app.addHook('onRequest', async (request) => assertAdmin(request.headers, options.adminToken));
    const tags = ['gateway-admin'];
    const security = [{ bearer: [] }];

    app.post(
      '/',
      { schema: { tags, security, summary: 'Create an API key (shown once)', body: CreateKeyBody } },
      async (request, reply) => {
        const body = request.body as typeof CreateKeyBody.static;
        const created = await options.keys.create({
          owner: body.owner,
          team: body.team,
          name: body.name,
          expiresInMs: body.expiresIn === undefined ? undefined : parseExpiresIn(body.expiresIn),
        });
        return reply.status(201).send({ ...view(created), key: created.key });
      },
    );
    app.get(
      '/',
      { schema: { tags, security, summary: 'List API keys', querystring: ListQuery } },
      async (request) => {
        const { owner } = request.query as typeof ListQuery.static;
        return { keys: (await options.keys.list(owner)).map(view) };
      },
    );
    app.delete(
      '/:id',
      { schema: { tags, security, summary: 'Revoke an API key', params: KeyParams } },
      async (request) => view(await options.keys.revoke((request.params as typeof KeyParams.static).id)),
    );
  };
}

function view(record: ApiKeyRecord) {
  return {
    id: record.id,
    prefix: record.prefix,
    owner: record.owner,
    team: record.team ?? null,
    name: record.name ?? null,
    createdAt: record.createdAt.toISOString(),
    expiresAt: record.expiresAt?.toISOString() ?? null,
    revokedAt: record.revokedAt?.toISOString() ?? null,
  };
}
