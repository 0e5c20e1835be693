import { timingSafeEqual } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { forbidden, notFound, unauthorized } from '../kernel/errors.js';
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

/** Registration is a privilege (it attracts traffic): a token when configured, else loopback callers only. */
function assertMayRegister(request: FastifyRequest, token: string | undefined): void {
  if (!token) {
    const ip = request.socket.remoteAddress ?? '';
    if (ip === '127.0.0.1' || ip === '::1' || ip === '::ffff:127.0.0.1') return;
    throw forbidden('registration_forbidden', 'set discovery.token to accept registrations from other hosts');
  }
  const header = request.headers.authorization;
  const given = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : '';
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw unauthorized('invalid_token', 'registration needs Authorization: Bearer <discovery.token>');
  }
}

/** `/api/v1/discovery`: register, heartbeat and deregister instances over HTTP (non-aimesh upstreams). */
export function discoveryRoutes(directory: ServiceDirectory, token: string | undefined): FastifyPluginAsync {
  return async (app) => {
    app.addHook('onRequest', async (request) => assertMayRegister(request, token));
    app.post(
      '/instances',
      {
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
      { schema: { tags: ['discovery'], summary: 'Renew an instance’s TTL', params: IdParams } },
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
