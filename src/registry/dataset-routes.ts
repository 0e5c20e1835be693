import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { role } from '../kernel/access.js';
import { badRequest } from '../kernel/errors.js';
import type { RegistryConfig } from './config.js';
import type { ExpectedColumn } from './dataset-profile.js';
import { type Page, PageQuery, paged } from './page.js';
import type { RegistryService } from './registry-service.js';
import { actorOf } from './request-actor.js';
import { readSample, SAMPLE_DATASETS } from './samples.js';

const NameParams = Type.Object({ name: Type.String() });
const VersionParams = Type.Object({
  name: Type.String(),
  version: Type.String({ description: 'sha256, a unique prefix of 8+ characters, or latest' }),
});
const PushQuery = Type.Object({ description: Type.Optional(Type.String({ maxLength: 2000 })) });
const ColumnType = Type.Union(['integer', 'number', 'boolean', 'string'].map((t) => Type.Literal(t)));
const ValidateBody = Type.Object({
  columns: Type.Array(
    Type.Object({
      name: Type.String({ minLength: 1 }),
      type: ColumnType,
      nullable: Type.Optional(Type.Boolean()),
    }),
    { minItems: 1, maxItems: 10_000 },
  ),
});
const tags = ['datasets'];

/** Datasets: CSV uploads as content-addressed versions, their profiles, contents and validation. */
export function datasetRoutes(service: RegistryService, config: RegistryConfig): FastifyPluginAsync {
  return async (app) => {
    // The raw bytes are needed: the version id is the sha256 of exactly what was sent.
    app.addContentTypeParser(
      ['text/csv', 'application/octet-stream'],
      { parseAs: 'buffer', bodyLimit: config.datasets.maxBytes },
      (_request, body, done) => done(null, body),
    );
    app.get(
      '/',
      {
        config: role('caller'),
        schema: { tags, summary: 'List datasets', querystring: Type.Object(PageQuery) },
      },
      async (request) => {
        const page = request.query as Page;
        return paged(await service.datasets.list(page), page);
      },
    );
    app.get(
      '/samples',
      { config: role('caller'), schema: { tags, summary: 'List the built-in sample data sets' } },
      async () => ({
        items: Object.entries(SAMPLE_DATASETS).map(([name, s]) => ({ name, description: s.description })),
      }),
    );
    app.post(
      '/samples/:name',
      {
        config: role('operator'),
        schema: { tags, summary: 'Push a built-in sample as a dataset of the same name', params: NameParams },
      },
      async (request, reply) => {
        const { name } = request.params as { name: string };
        const pushed = await service.pushDataset({
          name,
          data: await readSample(name),
          description: SAMPLE_DATASETS[name].description,
          actor: actorOf(request),
        });
        return reply.status(pushed.created ? 201 : 200).send(pushed);
      },
    );
    app.get(
      '/:name',
      { config: role('caller'), schema: { tags, summary: 'A dataset', params: NameParams } },
      async (request) => service.datasets.get((request.params as { name: string }).name),
    );
    app.post(
      '/:name/versions',
      {
        config: role('operator'),
        schema: {
          tags,
          summary: 'Push a CSV (Content-Type: text/csv); the same content again returns the existing version',
          params: NameParams,
          querystring: PushQuery,
        },
      },
      async (request, reply) => {
        if (!Buffer.isBuffer(request.body)) {
          throw badRequest(
            'invalid_content_type',
            'send the CSV as the request body with Content-Type: text/csv',
          );
        }
        const pushed = await service.pushDataset({
          name: (request.params as { name: string }).name,
          data: new Uint8Array(request.body),
          description: (request.query as { description?: string }).description,
          actor: actorOf(request),
        });
        return reply.status(pushed.created ? 201 : 200).send(pushed);
      },
    );
    app.get(
      '/:name/versions',
      {
        config: role('caller'),
        schema: {
          tags,
          summary: "A dataset's versions, newest first",
          params: NameParams,
          querystring: Type.Object(PageQuery),
        },
      },
      async (request) => {
        const page = request.query as Page;
        return paged(
          await service.datasets.listVersions((request.params as { name: string }).name, page),
          page,
        );
      },
    );
    app.get(
      '/:name/versions/:version',
      {
        config: role('caller'),
        schema: {
          tags,
          summary: 'A dataset version: schema, row count, per-column stats',
          params: VersionParams,
        },
      },
      async (request) => {
        const { name, version } = request.params as { name: string; version: string };
        return service.getDatasetVersion(name, version);
      },
    );
    app.get(
      '/:name/versions/:version/content',
      {
        config: role('caller'),
        schema: { tags, summary: 'The CSV of a dataset version', params: VersionParams },
      },
      async (request, reply) => {
        const { name, version } = request.params as { name: string; version: string };
        const found = await service.getDatasetVersion(name, version);
        return reply
          .type('text/csv; charset=utf-8')
          .send(Buffer.from(await service.artifacts.get(found.uri)));
      },
    );
    app.post(
      '/:name/versions/:version/validate',
      {
        config: role('operator'),
        schema: {
          tags,
          summary: 'Validate a dataset version against expected columns',
          params: VersionParams,
          body: ValidateBody,
        },
      },
      async (request) => {
        const { name, version } = request.params as { name: string; version: string };
        const { columns } = request.body as { columns: ExpectedColumn[] };
        return service.validateDataset(name, version, columns);
      },
    );
  };
}
