import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { role } from '../kernel/access.js';
import { newId } from '../kernel/ids.js';
import { type Page, PageQuery, paged } from './page.js';
import { checkName, type RegistryService } from './registry-service.js';
import { actorOf } from './request-actor.js';
import { IdParams, Tags, tags } from './tracking-schemas.js';

const CreateExperiment = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 128 }),
  description: Type.Optional(Type.String({ maxLength: 5000 })),
  tags: Type.Optional(Tags),
});
const UpdateExperiment = Type.Object({
  description: Type.Optional(Type.String({ maxLength: 5000 })),
  status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('archived')])),
  tags: Type.Optional(Tags),
});

/** Experiment tracking in MLflow's shape: experiments; their runs are in run-routes.ts. */
export function experimentRoutes(service: RegistryService): FastifyPluginAsync {
  return async (app) => {
    const now = () => new Date(service.clock.now());
    app.post(
      '/experiments',
      {
        config: role('operator'),
        schema: { tags, summary: 'Create an experiment (unique name)', body: CreateExperiment },
      },
      async (request, reply) => {
        const body = request.body as typeof CreateExperiment.static;
        checkName('experiment', body.name);
        const created = await service.experiments.createExperiment({
          id: newId(service.clock.now()),
          name: body.name,
          description: body.description ?? '',
          tags: body.tags ?? {},
          createdBy: actorOf(request),
          createdAt: now(),
        });
        return reply.status(201).send(created);
      },
    );
    app.get(
      '/experiments',
      {
        config: role('caller'),
        schema: { tags, summary: 'List experiments, newest first', querystring: Type.Object(PageQuery) },
      },
      async (request) => {
        const page = request.query as Page;
        return paged(await service.experiments.listExperiments(page), page);
      },
    );
    app.get(
      '/experiments/:id',
      { config: role('caller'), schema: { tags, summary: 'An experiment by id or name', params: IdParams } },
      async (request) => service.experiments.getExperiment((request.params as { id: string }).id),
    );
    app.patch(
      '/experiments/:id',
      {
        config: role('operator'),
        schema: {
          tags,
          summary: "Set an experiment's description, status or tags",
          params: IdParams,
          body: UpdateExperiment,
        },
      },
      async (request) =>
        service.experiments.updateExperiment(
          (request.params as { id: string }).id,
          request.body as typeof UpdateExperiment.static,
        ),
    );
  };
}
