import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { role } from '../../kernel/access.js';
import { type ExperimentService, TRIAL_SORTS, type TrialSort } from './experiment-service.js';

const tags = ['experiments'];
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
const Paging = {
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }),
  offset: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 0 }),
};
const ExperimentStatus = Type.Union(
  ['RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'].map((s) => Type.Literal(s)),
);
const TrialStatus = Type.Union(
  ['PENDING', 'RUNNING', 'SUCCEEDED', 'STOPPED', 'FAILED', 'CANCELLED'].map((s) => Type.Literal(s)),
);

/**
 * Who is acting: the authenticated principal (a service acting on someone's behalf has already
 * been resolved to that one by the access guard; `X-Aimesh-Actor` from anyone else is ignored).
 */
function actorOf(request: FastifyRequest): string {
  return request.principal?.id ?? 'anonymous';
}

/** Experiments under /api/v1/training/experiments: create, list, trials (paged and sorted), analysis, cancel, resume. */
export function experimentRoutes(service: ExperimentService): FastifyPluginAsync {
  return async (app) => {
    app.post(
      '/experiments',
      {
        config: role('operator'),
        schema: {
          tags,
          summary: 'Start an experiment: a search (grid, random, asha) over a pipeline’s training parameters',
        },
      },
      async (request, reply) => reply.status(201).send(await service.create(request.body, actorOf(request))),
    );
    app.get(
      '/experiments',
      {
        config: role('caller'),
        schema: {
          tags,
          summary: 'List experiments, newest first',
          querystring: Type.Object({ ...Paging, status: Type.Optional(ExperimentStatus) }),
        },
      },
      async (request) => ({
        items: await service.list(request.query as { status?: string; limit: number; offset: number }),
      }),
    );
    app.get(
      '/experiments/:id',
      {
        config: role('caller'),
        schema: {
          tags,
          summary: 'An experiment: status, trial counts, best trial, result',
          params: IdParams,
        },
      },
      async (request) => service.get((request.params as { id: string }).id),
    );
    app.get(
      '/experiments/:id/trials',
      {
        config: role('caller'),
        schema: {
          tags,
          summary: 'A page of an experiment’s trials, sorted and filtered by the server',
          params: IdParams,
          querystring: Type.Object({
            ...Paging,
            status: Type.Optional(TrialStatus),
            sort: Type.Union(
              TRIAL_SORTS.map((s) => Type.Literal(s)),
              { default: 'number' },
            ),
            order: Type.Union([Type.Literal('asc'), Type.Literal('desc')], { default: 'asc' }),
          }),
        },
      },
      async (request) =>
        service.trials(
          (request.params as { id: string }).id,
          request.query as {
            status?: string;
            sort: TrialSort;
            order: 'asc' | 'desc';
            limit: number;
            offset: number;
          },
        ),
    );
    app.get(
      '/experiments/:id/analysis',
      {
        config: role('caller'),
        schema: {
          tags,
          summary: 'Trials ranked by the metric, and each parameter’s effect (mean metric per value)',
          params: IdParams,
          querystring: Type.Object({ top: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }) }),
        },
      },
      async (request) =>
        service.analysis((request.params as { id: string }).id, (request.query as { top: number }).top),
    );
    app.post(
      '/experiments/:id/cancel',
      {
        config: role('operator'),
        schema: { tags, summary: 'Cancel a running experiment', params: IdParams },
      },
      async (request) => service.cancel((request.params as { id: string }).id),
    );
    app.post(
      '/experiments/:id/resume',
      {
        config: role('operator'),
        schema: {
          tags,
          summary: 'Resume a cancelled or failed experiment; finished trials are kept',
          params: IdParams,
        },
      },
      async (request) => service.resume((request.params as { id: string }).id),
    );
  };
}
