import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { DiscoveryModuleApi } from '../discovery/index.js';
import { role } from '../kernel/access.js';
import type { BreakerRegistry } from '../resilience/breaker-registry.js';

const ServiceQuery = Type.Object({
  service: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'Only this service.' })),
});

/** `/api/v1/admin`: the traffic side's admin views — discovered instances and breaker states. */
export function trafficAdminRoutes(options: {
  discovery: DiscoveryModuleApi;
  breakers: BreakerRegistry;
}): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/discovery/instances',
      {
        config: role('operator'),
        schema: {
          tags: ['admin'],
          summary: 'Live service instances, as this gateway sees them',
          querystring: ServiceQuery,
          security: [{ bearer: [] }],
        },
      },
      async (request) => {
        const { service } = request.query as typeof ServiceQuery.static;
        return { instances: options.discovery.list(service) };
      },
    );
    app.get(
      '/breakers',
      {
        config: role('operator'),
        schema: { tags: ['admin'], summary: 'Circuit breaker state per target', security: [{ bearer: [] }] },
      },
      async () => ({ breakers: options.breakers.list() }),
    );
  };
}
