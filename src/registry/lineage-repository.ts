import { badRequest } from '../kernel/errors.js';
import type { Sql } from '../ports/database.js';
import type { Page } from './page.js';

/** A lineage edge: `source` was an input of `target` (a dataset into a run, a run into its output). */
export interface LineageEdge {
  source: string;
  target: string;
  runId: string;
}

/** A run as lineage knows it: the job it ran and its last reported state. */
export interface LineageRun {
  runId: string;
  jobNamespace: string;
  jobName: string;
  state: string;
  eventTime: string;
  facets: Record<string, unknown>;
}

/** Deepest walk allowed; lineage graphs of a pipeline are shallow, and this bounds the query. */
export const MAX_LINEAGE_DEPTH = 20;

/** A run with the nodes it read and wrote. */
export type RecordedRun = LineageRun & { inputs: string[]; outputs: string[] };

interface RunRow {
  run_id: string;
  job_namespace: string;
  job_name: string;
  state: string;
  event_time: Date;
  facets: Record<string, unknown>;
}

/** Most edges one walk returns; a graph wider than this is cut off (in a stable order). */
export const MAX_WALK_EDGES = 10_000;

/** Lineage nodes and edges in SQL; runs on either database adapter. */
export class LineageRepository {
  constructor(private readonly sql: Sql) {}

  /** Records (or updates the state of) a run and adds its input and output edges; edges are idempotent. */
  async recordRun(run: RecordedRun): Promise<void> {
    await this.sql.query(
      `INSERT INTO registry_lineage_runs (run_id, job_namespace, job_name, state, event_time, facets)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (run_id) DO UPDATE SET state = excluded.state, event_time = excluded.event_time,
         facets = registry_lineage_runs.facets || excluded.facets`,
      [
        run.runId,
        run.jobNamespace,
        run.jobName,
        run.state,
        new Date(run.eventTime),
        JSON.stringify(run.facets),
      ],
    );
    const node = `run:${run.runId}`;
    const sources = [...run.inputs, node, ...run.outputs.map(() => node)];
    const targets = [...run.inputs.map(() => node), `job:${run.jobNamespace}/${run.jobName}`, ...run.outputs];
    await this.sql.query(
      `INSERT INTO registry_lineage_edges (source, target, run_id, created_at)
       SELECT s, t, $3, $4 FROM unnest($1::text[], $2::text[]) AS u(s, t) ON CONFLICT DO NOTHING`,
      [sources, targets, run.runId, new Date(run.eventTime)],
    );
  }

  /** Adds data-flow edges `[source, target]` recorded by `runId`; existing edges are kept. */
  async addEdges(edges: [string, string][], runId: string, at: Date): Promise<void> {
    await this.sql.query(
      `INSERT INTO registry_lineage_edges (source, target, run_id, created_at)
       SELECT s, t, $3, $4 FROM unnest($1::text[], $2::text[]) AS u(s, t) ON CONFLICT DO NOTHING`,
      [edges.map((e) => e[0]), edges.map((e) => e[1]), runId, at],
    );
  }

  /** A lineage run by id, or undefined. */
  async getRun(runId: string): Promise<RecordedRun | undefined> {
    const { rows } = await this.sql.query<RunRow>('SELECT * FROM registry_lineage_runs WHERE run_id = $1', [
      runId,
    ]);
    return rows.length === 0 ? undefined : this.withEdges(rows[0]);
  }

  /** Recorded runs, most recent event first. */
  async listRuns(page: Page): Promise<RecordedRun[]> {
    const { rows } = await this.sql.query<RunRow>(
      'SELECT * FROM registry_lineage_runs ORDER BY event_time DESC, run_id LIMIT $1 OFFSET $2',
      [page.limit, page.offset],
    );
    return Promise.all(rows.map((r) => this.withEdges(r)));
  }

  private async withEdges(r: RunRow): Promise<RecordedRun> {
    const node = `run:${r.run_id}`;
    const edges = await this.sql.query<{ source: string; target: string }>(
      'SELECT source, target FROM registry_lineage_edges WHERE (target = $1 OR source = $1) ORDER BY source, target',
      [node],
    );
    return {
      runId: r.run_id,
      jobNamespace: r.job_namespace,
      jobName: r.job_name,
      state: r.state,
      eventTime: r.event_time.toISOString(),
      facets: r.facets,
      inputs: edges.rows.filter((e) => e.target === node).map((e) => e.source),
      outputs: edges.rows
        .filter((e) => e.source === node && !e.target.startsWith('job:'))
        .map((e) => e.target),
    };
  }

  /**
   * The edges reachable from `node` going upstream (towards its inputs) or downstream (towards
   * what was made from it), up to `depth` hops, each edge once, in a stable order.
   */
  async walk(node: string, direction: 'upstream' | 'downstream', depth: number): Promise<LineageEdge[]> {
    if (!Number.isInteger(depth) || depth < 1 || depth > MAX_LINEAGE_DEPTH) {
      throw badRequest('invalid_depth', `depth must be an integer from 1 to ${MAX_LINEAGE_DEPTH}`);
    }
    const [from, to] = direction === 'upstream' ? ['target', 'source'] : ['source', 'target'];
    // Job edges describe which job a run belongs to, not data flow: the walk leaves them out.
    const { rows } = await this.sql.query<{ source: string; target: string; run_id: string }>(
      `WITH RECURSIVE reach(node, hops) AS (
         SELECT $1::text, 0
         UNION
         SELECT e.${to}, r.hops + 1 FROM registry_lineage_edges e JOIN reach r ON e.${from} = r.node
         WHERE r.hops < $2 AND e.target NOT LIKE 'job:%'
       )
       SELECT DISTINCT e.source, e.target, e.run_id FROM registry_lineage_edges e
       JOIN reach r ON e.${from} = r.node AND r.hops < $2
       WHERE e.target NOT LIKE 'job:%'
       ORDER BY e.source, e.target LIMIT ${MAX_WALK_EDGES}`,
      [node, depth],
    );
    return rows.map((r) => ({ source: r.source, target: r.target, runId: r.run_id }));
  }
}
