import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { role } from '../kernel/access.js';
import { notFound } from '../kernel/errors.js';
import { MAX_LINEAGE_DEPTH } from './lineage-repository.js';
import { parseNode, RunEvent, toRunEvent } from './openlineage.js';
import { type Page, PageQuery, paged } from './page.js';
import type { RegistryService } from './registry-service.js';

const tags = ['lineage'];
const WalkQuery = Type.Object({
  node: Type.String({
    description: 'model:<name>@<version>, dataset:<name>@<sha256>, run:<id>, or <model>@<version>',
  }),
  direction: Type.Union([Type.Literal('upstream'), Type.Literal('downstream'), Type.Literal('both')], {
    default: 'upstream',
  }),
  depth: Type.Integer({ minimum: 1, maximum: MAX_LINEAGE_DEPTH, default: 5 }),
});

/** Lineage: accepts OpenLineage RunEvents, walks the graph, emits a run as a RunEvent. */
export function lineageRoutes(service: RegistryService): FastifyPluginAsync {
  return async (app) => {
    app.post(
      '/',
      {
        config: role('operator'),
        schema: { tags, summary: 'Record an OpenLineage RunEvent', body: RunEvent },
      },
      async (request, reply) => {
        await service.recordLineage(request.body as RunEvent);
        return reply.status(201).send({ recorded: true });
      },
    );
    app.get(
      '/',
      {
        config: role('caller'),
        schema: { tags, summary: 'Walk the lineage graph from a node', querystring: WalkQuery },
      },
      async (request) => {
        const q = request.query as typeof WalkQuery.static;
        const node = parseNode(q.node);
        const upstream =
          q.direction !== 'downstream' ? await service.lineage.walk(node, 'upstream', q.depth) : [];
        const downstream =
          q.direction !== 'upstream' ? await service.lineage.walk(node, 'downstream', q.depth) : [];
        return { node, depth: q.depth, upstream, downstream };
      },
    );
    app.get(
      '/runs',
      {
        config: role('caller'),
        schema: {
          tags,
          summary: 'Recorded runs as OpenLineage RunEvents, most recent first',
          querystring: Type.Object(PageQuery),
        },
      },
      async (request) => {
        const page = request.query as Page;
        return paged((await service.lineage.listRuns(page)).map(toRunEvent), page);
      },
    );
    app.get(
      '/runs/:runId',
      {
        config: role('caller'),
        schema: {
          tags,
          summary: 'A run as an OpenLineage RunEvent (its latest state)',
          params: Type.Object({ runId: Type.String() }),
        },
      },
      async (request) => {
        const { runId } = request.params as { runId: string };
        const run = await service.lineage.getRun(runId);
        if (!run) throw notFound('lineage_run_not_found', `no lineage recorded for run ${runId}`);
        return toRunEvent(run);
      },
    );
  };
}
