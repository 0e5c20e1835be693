import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { role } from '../kernel/access.js';
import { INT4_MAX, SafeInteger, SafeString } from '../kernel/input-schemas.js';
import { type Page, PageQuery, paged } from './page.js';
import type { RegistryService } from './registry-service.js';
import { actorOf } from './request-actor.js';

const tags = ['models'];
const NameParams = Type.Object({ name: Type.String() });
const RefParams = Type.Object({
  name: Type.String(),
  ref: Type.String({ description: 'Version number, alias, or latest' }),
});
const AliasParams = Type.Object({ name: Type.String(), alias: Type.String() });
const StringMap = Type.Record(
  Type.String({ minLength: 1, maxLength: 250 }),
  Type.String({ maxLength: 5000 }),
);

const CreateModel = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 128 }),
  type: Type.String({ minLength: 1, maxLength: 100, description: 'Task, e.g. classification, sentiment' }),
  description: Type.Optional(Type.String({ maxLength: 5000 })),
  tags: Type.Optional(StringMap),
});
const CreateVersion = Type.Object({
  format: Type.String({ minLength: 1, maxLength: 50, description: 'tfjs, onnx, ...' }),
  artifactUri: Type.String({ minLength: 1, maxLength: 2000 }),
  artifacts: Type.Optional(
    Type.Array(Type.Object({ format: SafeString({ maxLength: 50 }), uri: SafeString({ maxLength: 2000 }) }), {
      maxItems: 20,
    }),
  ),
  metrics: Type.Optional(Type.Record(Type.String(), Type.Number())),
  params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  runId: Type.Optional(SafeString()),
  experimentId: Type.Optional(SafeString()),
  dataset: Type.Optional(SafeString()),
  datasetVersion: Type.Optional(SafeString()),
  status: Type.Optional(Type.String({ maxLength: 50 })),
});
const Promote = Type.Object({
  version: SafeInteger({ minimum: 1, maximum: INT4_MAX }),
  causationId: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 512,
      description: 'Id of the event that triggered this promotion',
    }),
  ),
});
const CompareQuery = Type.Object({ a: Type.String(), b: Type.String() });
const ListQuery = Type.Object({ type: Type.Optional(Type.String()), ...PageQuery });
const VersionsQuery = Type.Object({ experimentId: Type.Optional(Type.String()), ...PageQuery });

/** Registered models, versions, aliases, promotion and comparison. */
export function modelRoutes(service: RegistryService): FastifyPluginAsync {
  return async (app) => {
    app.post(
      '/models',
      { config: role('operator'), schema: { tags, summary: 'Register a model name', body: CreateModel } },
      async (request, reply) => {
        const body = request.body as typeof CreateModel.static;
        return reply.status(201).send(await service.createModel({ ...body, createdBy: actorOf(request) }));
      },
    );
    app.get(
      '/models',
      { config: role('caller'), schema: { tags, summary: 'List registered models', querystring: ListQuery } },
      async (request) => {
        const q = request.query as Page & { type?: string };
        return paged(await service.models.listModels(q, q.type), q);
      },
    );
    app.get(
      '/models/:name',
      {
        config: role('caller'),
        schema: { tags, summary: 'A registered model with its aliases', params: NameParams },
      },
      async (request) => service.models.getModel((request.params as { name: string }).name),
    );
    app.post(
      '/models/:name/versions',
      {
        config: role('operator'),
        schema: {
          tags,
          summary: 'Add a version (numbered by the registry)',
          params: NameParams,
          body: CreateVersion,
        },
      },
      async (request, reply) => {
        const body = request.body as typeof CreateVersion.static;
        const created = await service.createModelVersion({
          ...body,
          model: (request.params as { name: string }).name,
          createdBy: actorOf(request),
        });
        return reply.status(201).send(created);
      },
    );
    app.get(
      '/models/:name/versions',
      {
        config: role('caller'),
        schema: {
          tags,
          summary: "A model's versions, newest first",
          params: NameParams,
          querystring: Type.Object(PageQuery),
        },
      },
      async (request) => {
        const page = request.query as Page;
        return paged(
          await service.models.listVersions({ model: (request.params as { name: string }).name }, page),
          page,
        );
      },
    );
    app.get(
      '/models/:name/versions/:ref',
      {
        config: role('caller'),
        schema: { tags, summary: 'A version by number, alias or latest', params: RefParams },
      },
      async (request) => {
        const { name, ref } = request.params as { name: string; ref: string };
        return service.getModelVersion(name, ref);
      },
    );
    app.put(
      '/models/:name/aliases/:alias',
      {
        config: role('operator'),
        schema: {
          tags,
          summary: 'Promote: point an alias at a version if the promotion rules pass',
          params: AliasParams,
          body: Promote,
        },
      },
      async (request) => {
        const { name, alias } = request.params as { name: string; alias: string };
        const body = request.body as typeof Promote.static;
        return service.promote({
          model: name,
          alias,
          version: body.version,
          causationId: body.causationId,
          actor: actorOf(request),
        });
      },
    );
    app.get(
      '/models/:name/compare',
      {
        config: role('caller'),
        schema: {
          tags,
          summary: 'Metric and param diff of two versions',
          params: NameParams,
          querystring: CompareQuery,
        },
      },
      async (request) => {
        const { a, b } = request.query as { a: string; b: string };
        return service.compare((request.params as { name: string }).name, a, b);
      },
    );
    app.get(
      '/model-versions',
      {
        config: role('caller'),
        schema: {
          tags,
          summary: 'Model versions across models, e.g. by experiment',
          querystring: VersionsQuery,
        },
      },
      async (request) => {
        const q = request.query as Page & { experimentId?: string };
        return paged(await service.models.listVersions({ experimentId: q.experimentId }, q), q);
      },
    );
    app.get(
      '/model-versions/latest',
      {
        config: role('caller'),
        schema: {
          tags,
          summary: 'The newest version of any model of a type',
          querystring: Type.Object({ type: Type.String({ minLength: 1 }) }),
        },
      },
      async (request) => service.latestModelOfType((request.query as { type: string }).type),
    );
  };
}
