import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { assertReadable, readsAnyones, role } from '../kernel/access.js';
import { newId } from '../kernel/ids.js';
import { SafeInteger } from '../kernel/input-schemas.js';
import { RUN_STATUSES, type RunBatch } from './experiment-repository.js';
import { LineageRepository } from './lineage-repository.js';
import { type Page, PageQuery, paged } from './page.js';
import type { RegistryService } from './registry-service.js';
import { actorOf } from './request-actor.js';
import { IdParams, Tags, tags } from './tracking-schemas.js';

const ParamValue = Type.Union([Type.String({ maxLength: 6000 }), Type.Number(), Type.Boolean()]);
const Params = Type.Record(Type.String({ minLength: 1, maxLength: 250 }), ParamValue);
const DatasetInputs = Type.Array(Type.Object({ dataset: Type.String(), version: Type.String() }), {
  maxItems: 100,
});
const RunParams = Type.Object({ runId: Type.String() });
const Status = Type.Union(RUN_STATUSES.map((s) => Type.Literal(s)));

const CreateRun = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 250 })),
  params: Type.Optional(Params),
  tags: Type.Optional(Tags),
  datasetVersions: Type.Optional(DatasetInputs),
  artifactUri: Type.Optional(Type.String({ maxLength: 2000 })),
});
const UpdateRun = Type.Object({
  status: Type.Optional(Status),
  artifactUri: Type.Optional(Type.String({ maxLength: 2000 })),
  tags: Type.Optional(Tags),
});
const LogBatch = Type.Object({
  metrics: Type.Optional(
    Type.Array(
      Type.Object({
        key: Type.String({ minLength: 1, maxLength: 250 }),
        value: Type.Number(),
        step: Type.Optional(SafeInteger({ minimum: 0 })),
        timestamp: Type.Optional(Type.String({ description: 'RFC 3339; default now' })),
      }),
      { maxItems: 1000 },
    ),
  ),
  params: Type.Optional(Params),
  tags: Type.Optional(Tags),
});
const SearchQuery = Type.Object({
  filter: Type.Optional(
    Type.String({
      maxLength: 4000,
      description: 'e.g. metrics.accuracy > 0.9 and params.learningRate = 0.01',
    }),
  ),
  orderBy: Type.Optional(
    Type.Array(Type.String(), { maxItems: 5, description: 'e.g. metrics.accuracy DESC' }),
  ),
  ...PageQuery,
});
const SearchBody = Type.Object({
  experimentIds: Type.Array(Type.String(), { minItems: 1, maxItems: 100 }),
  filter: Type.Optional(Type.String({ maxLength: 4000 })),
  orderBy: Type.Optional(Type.Array(Type.String(), { maxItems: 5 })),
  limit: Type.Optional(PageQuery.limit),
  offset: Type.Optional(PageQuery.offset),
});

/** The creator a search is limited to: none for those who read anyone's runs, else the principal itself. */
function ownRunsOnly(request: FastifyRequest): string | undefined {
  const principal = request.principal!;
  return readsAnyones(principal) ? undefined : principal.id;
}

const TERMINAL = new Set(['FINISHED', 'FAILED', 'KILLED']);

/** Runs of experiments, MLflow-style: params, metrics, tags, status, search. */
export function runRoutes(service: RegistryService): FastifyPluginAsync {
  return async (app) => {
    const now = () => new Date(service.clock.now());
    app.post(
      '/experiments/:id/runs',
      {
        config: role('operator'),
        schema: { tags, summary: 'Start a run', params: IdParams, body: CreateRun },
      },
      async (request, reply) => {
        const body = request.body as typeof CreateRun.static;
        const run = await service.db.transaction(async (tx) => {
          const created = await service.experimentsIn(tx).createRun({
            id: newId(service.clock.now()),
            experimentId: (request.params as { id: string }).id,
            createdBy: actorOf(request),
            startTime: now(),
            ...body,
          });
          // The data a run reads is its lineage input; a model registered from the run is its output.
          const inputs = created.datasetVersions.map((d): [string, string] => [
            `dataset:${d.dataset}@${d.version}`,
            `run:${created.id}`,
          ]);
          if (inputs.length > 0) await new LineageRepository(tx).addEdges(inputs, created.id, now());
          return created;
        });
        return reply.status(201).send(run);
      },
    );
    app.get(
      '/experiments/:id/runs',
      {
        config: role('self'),
        schema: {
          tags,
          summary: "Search an experiment's runs (a caller's own; an operator's or a service's, anyone's)",
          params: IdParams,
          querystring: SearchQuery,
        },
      },
      async (request) => {
        const q = request.query as typeof SearchQuery.static;
        const experiment = await service.experiments.getExperiment((request.params as { id: string }).id);
        const page = { limit: q.limit, offset: q.offset };
        const runs = await service.experiments.searchRuns({
          experimentIds: [experiment.id],
          filter: q.filter,
          orderBy: q.orderBy,
          createdBy: ownRunsOnly(request),
          page,
        });
        return paged(runs, page);
      },
    );
    app.post(
      '/runs/search',
      {
        config: role('self'),
        schema: {
          tags,
          summary:
            "Search runs of several experiments (a caller's own; an operator's or a service's, anyone's)",
          body: SearchBody,
        },
      },
      async (request) => {
        const body = request.body as typeof SearchBody.static;
        const page = { limit: body.limit ?? 50, offset: body.offset ?? 0 };
        const ids = await Promise.all(
          body.experimentIds.map(async (id) => (await service.experiments.getExperiment(id)).id),
        );
        return paged(
          await service.experiments.searchRuns({
            experimentIds: ids,
            filter: body.filter,
            orderBy: body.orderBy,
            createdBy: ownRunsOnly(request),
            page,
          }),
          page,
        );
      },
    );
    app.get(
      '/runs/:runId',
      {
        config: role('self'),
        schema: {
          tags,
          summary: 'A run with params and latest metrics (its creator, an operator or a service)',
          params: RunParams,
        },
      },
      async (request) => {
        const { runId } = request.params as { runId: string };
        const run = await service.experiments.getRun(runId);
        assertReadable(request.principal, run.createdBy, `run ${runId}`);
        return run;
      },
    );
    app.patch(
      '/runs/:runId',
      {
        config: role('operator'),
        schema: {
          tags,
          summary: "Set a run's status, artifact URI or tags",
          params: RunParams,
          body: UpdateRun,
        },
      },
      async (request) => {
        const body = request.body as typeof UpdateRun.static;
        const { runId } = request.params as { runId: string };
        const ended = body.status !== undefined && TERMINAL.has(body.status);
        // The run's end and its event commit together.
        return service.inTransaction(async (tx) => {
          const experiments = service.experimentsIn(tx);
          const before = await experiments.getRun(runId);
          const run = await experiments.updateRun(runId, {
            ...body,
            endTime: ended ? now() : undefined,
          });
          if (ended && before.status !== run.status) {
            await service.emit(tx, {
              type: 'ai.experiment.run.ended',
              subject: run.id,
              data: {
                experimentId: run.experimentId,
                runId: run.id,
                status: run.status,
                metrics: run.metrics,
                actor: actorOf(request),
              },
            });
          }
          return run;
        });
      },
    );
    app.post(
      '/runs/:runId/log-batch',
      {
        config: role('operator'),
        schema: {
          tags,
          summary: 'Log metrics (appended), params (written once) and tags together',
          params: RunParams,
          body: LogBatch,
        },
      },
      async (request, reply) => {
        const { runId } = request.params as { runId: string };
        await service.db.transaction((tx) =>
          service.experimentsIn(tx).logBatch(runId, request.body as RunBatch, now()),
        );
        return reply.status(204).send();
      },
    );
    app.get(
      '/runs/:runId/metrics/:key',
      {
        config: role('self'),
        schema: {
          tags,
          summary: "A metric's full history (the run's creator, an operator or a service)",
          params: Type.Object({ runId: Type.String(), key: Type.String() }),
          querystring: Type.Object(PageQuery),
        },
      },
      async (request) => {
        const { runId, key } = request.params as { runId: string; key: string };
        const page = request.query as Page;
        const run = await service.experiments.getRun(runId);
        assertReadable(request.principal, run.createdBy, `run ${runId}`);
        return paged(await service.experiments.metricHistory(runId, key, page), page);
      },
    );
  };
}
