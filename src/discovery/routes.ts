import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { role } from '../kernel/access.js';
import { notFound } from '../kernel/errors.js';
import type { ServiceDirectory } from './service-directory.js';

const Instance = Type.Object({
  id: Type.String(),
  service: Type.String(),
  url: Type.String(),
  metadata: Type.Record(Type.String(), Type.Unknown()),
  registeredAt: Type.String(),
  lastHeartbeatAt: Type.String(),
  ttlMs: Type.Integer(),
});

const RegisterBody = Type.Object(
  {
    service: Type.String({
      minLength: 1,
      maxLength: 128,
      description: 'Service name, e.g. model-inference.',
    }),
    url: Type.String({ minLength: 1, maxLength: 2048, description: 'Base URL the gateway calls.' }),
    metadata: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), { description: 'models ([{ id, version }]), zone, ...' }),
    ),
    ttlMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 3_600_000 })),
  },
  { additionalProperties: false },
);

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

/** `/api/v1/discovery`: register, heartbeat and deregister instances over HTTP (non-aimesh upstreams). */
/**
 * Registration is a privilege (it attracts traffic): every route needs the `service` role.
 */
export function discoveryRoutes(directory: ServiceDirectory): FastifyPluginAsync {
  return async (app) => {
    app.post(
      '/instances',
      {
        config: role('service'),
        schema: {
          tags: ['discovery'],
          summary: 'Register an instance; keep it alive with heartbeats within its TTL',
          body: RegisterBody,
          response: { 201: Type.Object({ instance: Instance }) },
        },
      },
      async (request, reply) => {
        const instance = await directory.registerOnce(request.body as typeof RegisterBody.static);
        return reply.status(201).send({ instance });
      },
    );
    app.put(
      '/instances/:id/heartbeat',
      {
        config: role('service'),
        schema: { tags: ['discovery'], summary: 'Renew an instance’s TTL', params: IdParams },
      },
      async (request) => {
        const { id } = request.params as typeof IdParams.static;
        const instance = await directory.heartbeat(id);
        if (!instance)
          throw notFound(
            'instance_not_found',
            `instance ${id} is not registered (expired or removed); register again`,
          );
        return { instance };
      },
    );
    app.delete(
      '/instances/:id',
      {
        config: role('service'),
        schema: {
          tags: ['discovery'],
          summary: 'Remove an instance (a live owner registers it again with its next heartbeat)',
          params: IdParams,
        },
      },
      async (request, reply) => {
        const { id } = request.params as typeof IdParams.static;
        if (!(await directory.remove(id)))
          throw notFound('instance_not_found', `instance ${id} is not registered`);
        return reply.status(204).send();
      },
    );
  };
}
