import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { role } from '../kernel/access.js';
import { badRequest } from '../kernel/errors.js';
import type { PipelineService } from './pipeline-service.js';

const tags = ['training'];
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 128 }) });
const Paging = {
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }),
  offset: Type.Integer({ minimum: 0, default: 0 }),
};
const RunBody = Type.Object(
  {
    definition: Type.Optional(
      Type.Unknown({ description: 'A pipeline definition (as a YAML/JSON file holds it).' }),
    ),
    pipeline: Type.Optional(Type.String({ minLength: 1, description: 'Or the name of a saved pipeline.' })),
  },
  { additionalProperties: false },
);
const Status = Type.Union(
  ['CREATED', 'QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'].map((s) => Type.Literal(s)),
);

/**
 * Who is acting: the authenticated principal (a service acting on someone's behalf has already
 * been resolved to that one by the access guard; `X-Aimesh-Actor` from anyone else is ignored).
 */
function actorOf(request: FastifyRequest): string {
  return request.principal?.id ?? 'anonymous';
}

/** The training API under /api/v1/training: pipelines, executions, their logs, and the workers. */
export function pipelineRoutes(service: PipelineService): FastifyPluginAsync {
  return async (app) => {
    app.post(
      '/pipelines',
      {
        config: role('operator'),
        schema: { tags, summary: 'Save (or replace) a named pipeline definition' },
      },
      async (request, reply) =>
        reply.status(201).send(await service.savePipeline(request.body, actorOf(request))),
    );
    app.get(
      '/pipelines',
      {
        config: role('caller'),
        schema: { tags, summary: 'List saved pipelines', querystring: Type.Object(Paging) },
      },
      async (request) => {
        const q = request.query as { limit: number; offset: number };
        return { items: await service.listPipelines(q.limit, q.offset) };
      },
    );
    app.get(
      '/pipelines/:name',
      {
        config: role('caller'),
        schema: { tags, summary: 'A saved pipeline definition', params: NameParams },
      },
      async (request) => service.getPipeline((request.params as { name: string }).name),
    );
    app.post(
      '/executions',
      {
        config: role('operator'),
        schema: { tags, summary: 'Run a pipeline: a definition, or a saved pipeline by name', body: RunBody },
      },
      async (request, reply) => {
        const body = request.body as typeof RunBody.static;
        if ((body.definition === undefined) === (body.pipeline === undefined))
          throw badRequest('invalid_request', 'give exactly one of definition or pipeline');
        return reply.status(201).send(await service.run(body, actorOf(request)));
      },
    );
    app.get(
      '/executions',
      {
        config: role('caller'),
        schema: {
          tags,
          summary: 'List executions, newest first',
          querystring: Type.Object({
            ...Paging,
            status: Type.Optional(Status),
            pipeline: Type.Optional(Type.String()),
          }),
        },
      },
      async (request) => ({
        items: await service.listExecutions(
          request.query as { status?: string; pipeline?: string; limit: number; offset: number },
        ),
      }),
    );
    app.get(
      '/executions/:id',
      {
        config: role('caller'),
        schema: { tags, summary: 'An execution: status, stages, timings, metrics', params: IdParams },
      },
      async (request) => service.getExecution((request.params as { id: string }).id),
    );
    app.post(
      '/executions/:id/cancel',
      { config: role('operator'), schema: { tags, summary: 'Cancel a live execution', params: IdParams } },
      async (request) => {
        const { id } = request.params as { id: string };
        await service.flow.cancel(id);
        return service.getExecution(id);
      },
    );
    app.post(
      '/executions/:id/resume',
      {
        config: role('operator'),
        schema: {
          tags,
          summary: 'Resume a failed or cancelled execution from its unfinished stages',
          params: IdParams,
        },
      },
      async (request) => {
        const { id } = request.params as { id: string };
        await service.flow.resume(id);
        return service.getExecution(id);
      },
    );
    app.get(
      '/executions/:id/logs',
      {
        config: role('caller'),
        schema: {
          tags,
          summary: 'Log lines of an execution after a line id',
          params: IdParams,
          querystring: Type.Object({
            after: Type.Integer({ minimum: 0, default: 0 }),
            limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 }),
          }),
        },
      },
      async (request) => {
        const q = request.query as { after: number; limit: number };
        return { items: await service.logs((request.params as { id: string }).id, q.after, q.limit) };
      },
    );
    app.get(
      '/workers',
      {
        config: role('operator'),
        schema: { tags, summary: 'Registered workers: capacity, running tasks, liveness' },
      },
      async () => ({ items: await service.scheduler.workers() }),
    );
    const TeamParams = Type.Object({ team: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,62}$' }) });
    // Absent: no limit on that resource. (A nullable number would be coerced: null becomes 0.)
    const Limit = (what: string) => Type.Optional(Type.Number({ minimum: 0, description: what }));
    const QuotaBody = Type.Object(
      {
        cpu: Limit('Cores its running tasks may hold at once; absent: no limit.'),
        memoryMb: Limit('Memory (MB) its running tasks may hold at once.'),
        gpu: Limit('GPUs its running tasks may hold at once.'),
        tasks: Limit('Tasks it may run at once (a gang counts once).'),
      },
      { additionalProperties: false },
    );
    const quotaList = async () =>
      [...(await service.scheduler.budgets()).entries()].map(([team, b]) => ({ team, ...b }));
    app.get(
      '/quotas',
      {
        config: role('caller'),
        schema: { tags, summary: 'Per-team quotas: limits and what each team runs now' },
      },
      async () => ({ items: await quotaList() }),
    );
    app.put(
      '/quotas/:team',
      {
        config: role('operator'),
        schema: {
          tags,
          summary:
            "Set a team's quota (no limit given removes it); tasks beyond it stay queued with the reason",
          params: TeamParams,
          body: QuotaBody,
        },
      },
      async (request) => {
        const { team } = request.params as { team: string };
        const given = request.body as { cpu?: number; memoryMb?: number; gpu?: number; tasks?: number };
        const body = {
          cpu: given.cpu ?? null,
          memoryMb: given.memoryMb ?? null,
          gpu: given.gpu ?? null,
          tasks: given.tasks ?? null,
        };
        for (const key of ['gpu', 'tasks', 'memoryMb'] as const)
          if (body[key] !== null && !Number.isInteger(body[key]))
            throw badRequest('invalid_quota', `${key} must be a whole number`);
        await service.scheduler.setQuota(team, body);
        return (
          (await quotaList()).find((q) => q.team === team) ?? {
            team,
            limit: { cpu: null, memoryMb: null, gpu: null, tasks: null },
            used: null,
          }
        );
      },
    );
    app.delete(
      '/quotas/:team',
      { config: role('operator'), schema: { tags, summary: "Remove a team's quota", params: TeamParams } },
      async (request, reply) => {
        const { team } = request.params as { team: string };
        await service.scheduler.setQuota(team, { cpu: null, memoryMb: null, gpu: null, tasks: null });
        return reply.status(204).send();
      },
    );
  };
}
