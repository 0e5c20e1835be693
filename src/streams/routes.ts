import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { role } from '../kernel/access.js';
import type { Database } from '../ports/database.js';
import type { Explorer } from './explorer.js';
import { listWebhookFailures } from './webhooks.js';

const Name = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_-]+$' });
const Time = Type.String({ minLength: 1, maxLength: 64, description: 'RFC 3339 time.' });
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 512 }) });
const Limit = Type.Integer({ minimum: 1, maximum: 10_000, default: 1_000 });

const ReplayBody = Type.Object(
  {
    from: Time,
    to: Time,
    consumer: Name,
    type: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    limit: Type.Optional(Limit),
  },
  { additionalProperties: false },
);

const WindowQuery = Type.Object({
  key: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: '`userId:modelId`' })),
  from: Type.Optional(Time),
  to: Type.Optional(Time),
  limit: Type.Optional(Limit),
});

const FailureQuery = Type.Object({
  url: Type.Optional(Type.String({ minLength: 1, maxLength: 2_048 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000, default: 100 })),
});

/** The event explorer (causation trees, correlations, replays, window results) and webhook failures. */
export function streamRoutes(explorer: Explorer, db: Database): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/webhooks/failures',
      {
        config: role('operator'),
        schema: {
          tags: ['streams'],
          summary: 'Webhook deliveries that failed, newest first, with the attempts each made',
          querystring: FailureQuery,
        },
      },
      async (request) => {
        const q = request.query as typeof FailureQuery.static;
        return { failures: await listWebhookFailures(db, { url: q.url, limit: q.limit ?? 100 }) };
      },
    );
    app.get(
      '/events/:id/causation',
      {
        config: role('operator'),
        schema: {
          tags: ['streams'],
          summary: 'The causation tree holding an event, from its root',
          params: IdParams,
        },
      },
      async (request) => explorer.causation((request.params as typeof IdParams.static).id),
    );
    app.get(
      '/correlations/:id',
      {
        config: role('operator'),
        schema: {
          tags: ['streams'],
          summary: 'Every event of a correlation id, in order',
          params: IdParams,
          querystring: Type.Object({ limit: Type.Optional(Limit) }),
        },
      },
      async (request) => {
        const { id } = request.params as typeof IdParams.static;
        const { limit } = request.query as { limit?: number };
        return { events: await explorer.correlation(id, limit ?? 1_000) };
      },
    );
    app.post(
      '/replays',
      {
        config: role('operator'),
        schema: {
          tags: ['streams'],
          summary: "Replay a time range's events to a named consumer group",
          body: ReplayBody,
        },
      },
      async (request, reply) => {
        const body = request.body as typeof ReplayBody.static;
        return reply.status(202).send(await explorer.replay({ ...body, limit: body.limit ?? 1_000 }));
      },
    );
    app.get(
      '/windows',
      {
        config: role('caller'),
        schema: {
          tags: ['streams'],
          summary: 'Closed windows by key and start time',
          querystring: WindowQuery,
        },
      },
      async (request) => {
        const q = request.query as typeof WindowQuery.static;
        return { windows: await explorer.windows({ ...q, limit: q.limit ?? 1_000 }) };
      },
    );
  };
}
