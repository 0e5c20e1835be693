import { badRequest, conflict, notFound } from '../kernel/errors.js';
import type { Sql } from '../ports/database.js';
import type { Page } from './page.js';
import { type RunSearch, runSearchQuery, windowable } from './run-search-sql.js';

/** An experiment: a named group of runs. */
export interface ExperimentRecord {
  id: string;
  name: string;
  description: string;
  status: string;
  createdBy: string;
  createdAt: string;
  tags: Record<string, string>;
}

/** A dataset version a run read. */
export interface DatasetInput {
  dataset: string;
  version: string;
}

/** A run (trial) of an experiment with its params, latest metrics and tags. */
export interface RunRecord {
  id: string;
  experimentId: string;
  name: string;
  status: string;
  createdBy: string;
  startTime: string;
  endTime: string | null;
  artifactUri: string | null;
  tags: Record<string, string>;
  datasetVersions: DatasetInput[];
  params: Record<string, string>;
  metrics: Record<string, number>;
}

/** One logged value of a metric. */
export interface MetricPoint {
  key: string;
  value: number;
  step: number;
  timestamp: string;
}

/** What a batch log carries: metrics appended, params written once, tags set. */
export interface RunBatch {
  metrics?: { key: string; value: number; step?: number; timestamp?: string }[];
  params?: Record<string, string | number | boolean>;
  tags?: Record<string, string>;
}

export type { RunSearch } from './run-search-sql.js';

// The window holds 50 runs per wanted row: a filter matching 2 % of runs still fills the page.
const WINDOW_FACTOR = 50;
const MAX_WINDOW = 20_000;

/** Run statuses, as MLflow names them. */
export const RUN_STATUSES = ['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'] as const;

interface ExperimentRow {
  id: string;
  name: string;
  description: string;
  status: string;
  created_by: string;
  created_at: Date;
  tags: Record<string, string>;
}
interface RunRow {
  id: string;
  experiment_id: string;
  name: string;
  status: string;
  created_by: string;
  start_time: Date;
  end_time: Date | null;
  artifact_uri: string | null;
  tags: Record<string, string>;
  dataset_versions: DatasetInput[];
}

const toExperiment = (r: ExperimentRow): ExperimentRecord => ({
  id: r.id,
  name: r.name,
  description: r.description,
  status: r.status,
  createdBy: r.created_by,
  createdAt: r.created_at.toISOString(),
  tags: r.tags,
});

const NUMERIC = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** The number a param's text reads as, or null (what `params.x > 1` compares with). */
export function numericValue(text: string): number | null {
  const n = NUMERIC.test(text.trim()) ? Number(text) : Number.NaN;
  return Number.isFinite(n) ? n : null;
}

/** Experiments, runs, params and metrics in SQL; runs on either database adapter. */
export class ExperimentRepository {
  constructor(private readonly sql: Sql) {}

  /** Creates an experiment; 409 when the name is taken. */
  async createExperiment(
    e: Omit<ExperimentRecord, 'createdAt' | 'status'> & { createdAt: Date },
  ): Promise<ExperimentRecord> {
    const { rows } = await this.sql.query<ExperimentRow>(
      `INSERT INTO registry_experiments (id, name, description, created_by, created_at, tags)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING RETURNING *`,
      [e.id, e.name, e.description, e.createdBy, e.createdAt, JSON.stringify(e.tags)],
    );
    if (rows.length === 0)
      throw conflict('experiment_exists', `an experiment named ${e.name} already exists`);
    return toExperiment(rows[0]);
  }

  /** An experiment by id or by name; throws 404. */
  async getExperiment(idOrName: string): Promise<ExperimentRecord> {
    const { rows } = await this.sql.query<ExperimentRow>(
      'SELECT * FROM registry_experiments WHERE id = $1 OR name = $1 ORDER BY (id = $1) DESC LIMIT 1',
      [idOrName],
    );
    if (rows.length === 0)
      throw notFound('experiment_not_found', `no experiment with id or name ${idOrName}`);
    return toExperiment(rows[0]);
  }

  /** Changes an experiment's description, status (`active`, `archived`) or tags (merged); throws 404. */
  async updateExperiment(
    idOrName: string,
    change: { description?: string; status?: string; tags?: Record<string, string> },
  ): Promise<ExperimentRecord> {
    const { id } = await this.getExperiment(idOrName);
    await this.sql.query(
      `UPDATE registry_experiments SET description = COALESCE($2, description), status = COALESCE($3, status),
         tags = tags || $4::jsonb WHERE id = $1`,
      [id, change.description ?? null, change.status ?? null, JSON.stringify(change.tags ?? {})],
    );
    return this.getExperiment(id);
  }

  /** Experiments, newest first. */
  async listExperiments(page: Page): Promise<ExperimentRecord[]> {
    const { rows } = await this.sql.query<ExperimentRow>(
      'SELECT * FROM registry_experiments ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2',
      [page.limit, page.offset],
    );
    return rows.map(toExperiment);
  }

  /** Starts a run in an experiment (404 for an unknown experiment) with its first params and tags. */
  async createRun(run: {
    id: string;
    experimentId: string;
    name?: string;
    createdBy: string;
    startTime: Date;
    tags?: Record<string, string>;
    params?: Record<string, string | number | boolean>;
    datasetVersions?: DatasetInput[];
    artifactUri?: string;
  }): Promise<RunRecord> {
    const experiment = await this.getExperiment(run.experimentId);
    if (experiment.status === 'archived') {
      throw conflict(
        'experiment_archived',
        `experiment ${experiment.name} is archived; set it active to add runs`,
      );
    }
    await this.sql.query(
      `INSERT INTO registry_runs (id, experiment_id, name, status, created_by, start_time, artifact_uri, tags, dataset_versions)
       VALUES ($1, $2, $3, 'RUNNING', $4, $5, $6, $7, $8)`,
      [
        run.id,
        experiment.id,
        run.name ?? '',
        run.createdBy,
        run.startTime,
        run.artifactUri ?? null,
        JSON.stringify(run.tags ?? {}),
        JSON.stringify(run.datasetVersions ?? []),
      ],
    );
    if (run.params) await this.logBatch(run.id, { params: run.params }, run.startTime);
    return this.getRun(run.id);
  }

  /** A run with its params and latest metrics; throws 404. */
  async getRun(id: string): Promise<RunRecord> {
    const { rows } = await this.sql.query<RunRow>('SELECT * FROM registry_runs WHERE id = $1', [id]);
    if (rows.length === 0) throw notFound('run_not_found', `no run with id ${id}`);
    const [run] = await this.hydrate(rows);
    return run;
  }

  /** Sets a run's status (and end time when it finishes), artifact URI or tags. */
  async updateRun(
    id: string,
    change: { status?: string; endTime?: Date; artifactUri?: string; tags?: Record<string, string> },
  ): Promise<RunRecord> {
    const { rowCount } = await this.sql.query(
      `UPDATE registry_runs SET status = COALESCE($2, status), end_time = COALESCE($3, end_time),
         artifact_uri = COALESCE($4, artifact_uri), tags = tags || $5::jsonb WHERE id = $1`,
      [
        id,
        change.status ?? null,
        change.endTime ?? null,
        change.artifactUri ?? null,
        JSON.stringify(change.tags ?? {}),
      ],
    );
    if (rowCount === 0) throw notFound('run_not_found', `no run with id ${id}`);
    return this.getRun(id);
  }

  /**
   * Logs metrics (appended, the latest per key kept for search), params (written once: the same
   * value again is a no-op, a different one is 409) and tags, in one call. Run it in a transaction.
   */
  async logBatch(runId: string, batch: RunBatch, now: Date): Promise<void> {
    const exists = await this.sql.query('SELECT 1 FROM registry_runs WHERE id = $1', [runId]);
    if (exists.rows.length === 0) throw notFound('run_not_found', `no run with id ${runId}`);
    const params = Object.entries(batch.params ?? {}).map(([k, v]) => [k, String(v)] as const);
    if (params.length > 0) {
      const existing = await this.sql.query<{ key: string; value: string }>(
        'SELECT key, value FROM registry_run_params WHERE run_id = $1 AND key = ANY($2::text[])',
        [runId, params.map(([k]) => k)],
      );
      for (const row of existing.rows) {
        const given = params.find(([k]) => k === row.key)?.[1];
        if (given !== row.value) {
          throw conflict(
            'param_already_logged',
            `param ${row.key} of run ${runId} is already ${row.value}; params are written once`,
          );
        }
      }
      await this.sql.query(
        `INSERT INTO registry_run_params (run_id, key, value, value_number)
         SELECT $1, k, v, n FROM unnest($2::text[], $3::text[], $4::float8[]) AS t(k, v, n) ON CONFLICT DO NOTHING`,
        [runId, params.map(([k]) => k), params.map(([, v]) => v), params.map(([, v]) => numericValue(v))],
      );
    }
    const metrics = (batch.metrics ?? []).map((m) => {
      if (!Number.isFinite(m.value))
        throw badRequest('invalid_metric', `metric ${m.key} must be a finite number`);
      const at = m.timestamp ? new Date(m.timestamp) : now;
      if (Number.isNaN(at.getTime()))
        throw badRequest('invalid_metric', `metric ${m.key} has a bad timestamp`);
      return { key: m.key, value: m.value, step: m.step ?? 0, at };
    });
    if (metrics.length > 0) await this.appendMetrics(runId, metrics);
    if (batch.tags && Object.keys(batch.tags).length > 0) {
      await this.sql.query('UPDATE registry_runs SET tags = tags || $2::jsonb WHERE id = $1', [
        runId,
        JSON.stringify(batch.tags),
      ]);
    }
  }

  private async appendMetrics(
    runId: string,
    metrics: { key: string; value: number; step: number; at: Date }[],
  ) {
    await this.sql.query(
      `INSERT INTO registry_run_metric_history (run_id, key, value, step, logged_at)
       SELECT $1, k, v, s, t FROM unnest($2::text[], $3::float8[], $4::int8[], $5::timestamptz[]) AS u(k, v, s, t)`,
      [
        runId,
        metrics.map((m) => m.key),
        metrics.map((m) => m.value),
        metrics.map((m) => m.step),
        metrics.map((m) => m.at),
      ],
    );
    // One row per key: an upsert may not touch the same row twice in one statement.
    const latest = new Map<string, (typeof metrics)[number]>();
    for (const m of metrics) {
      const seen = latest.get(m.key);
      if (!seen || m.step > seen.step || (m.step === seen.step && m.at >= seen.at)) latest.set(m.key, m);
    }
    const rows = [...latest.values()];
    await this.sql.query(
      `INSERT INTO registry_run_metrics (run_id, key, value, step, logged_at)
       SELECT $1, k, v, s, t FROM unnest($2::text[], $3::float8[], $4::int8[], $5::timestamptz[]) AS u(k, v, s, t)
       ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, step = excluded.step, logged_at = excluded.logged_at
       WHERE excluded.step > registry_run_metrics.step
          OR (excluded.step = registry_run_metrics.step AND excluded.logged_at >= registry_run_metrics.logged_at)`,
      [
        runId,
        rows.map((m) => m.key),
        rows.map((m) => m.value),
        rows.map((m) => m.step),
        rows.map((m) => m.at),
      ],
    );
  }

  /** Every logged value of one metric of a run, by step. */
  async metricHistory(runId: string, key: string, page: Page): Promise<MetricPoint[]> {
    await this.getRun(runId);
    const { rows } = await this.sql.query<{ key: string; value: number; step: number; logged_at: Date }>(
      `SELECT key, value, step, logged_at FROM registry_run_metric_history WHERE run_id = $1 AND key = $2
       ORDER BY step, seq LIMIT $3 OFFSET $4`,
      [runId, key, page.limit, page.offset],
    );
    return rows.map((r) => ({
      key: r.key,
      value: r.value,
      step: Number(r.step),
      timestamp: r.logged_at.toISOString(),
    }));
  }

  /** Runs of the given experiments matching the filter, ordered and paged (newest first by default). */
  async searchRuns(search: RunSearch): Promise<RunRecord[]> {
    if (windowable(search)) {
      // Newest first with a broad filter: the page is usually among the newest few thousand
      // runs, and probing those in index order is far cheaper than joining every match. A full
      // page from the window is exactly the full search's page (the window is a prefix of the
      // order); anything less falls through to the full search.
      const wanted = search.page.offset + search.page.limit;
      const window = runSearchQuery(search, Math.min(MAX_WINDOW, wanted * WINDOW_FACTOR));
      const found = await this.sql.query<RunRow>(window.text, window.params);
      if (found.rows.length === search.page.limit) return this.hydrate(found.rows);
    }
    const query = runSearchQuery(search);
    const { rows } = await this.sql.query<RunRow>(query.text, query.params);
    return this.hydrate(rows);
  }

  private async hydrate(rows: RunRow[]): Promise<RunRecord[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const [params, metrics] = await Promise.all([
      this.sql.query<{ run_id: string; key: string; value: string }>(
        'SELECT run_id, key, value FROM registry_run_params WHERE run_id = ANY($1::text[])',
        [ids],
      ),
      this.sql.query<{ run_id: string; key: string; value: number }>(
        'SELECT run_id, key, value FROM registry_run_metrics WHERE run_id = ANY($1::text[])',
        [ids],
      ),
    ]);
    const byRun = new Map(
      rows.map((r) => [
        r.id,
        {
          id: r.id,
          experimentId: r.experiment_id,
          name: r.name,
          status: r.status,
          createdBy: r.created_by,
          startTime: r.start_time.toISOString(),
          endTime: r.end_time?.toISOString() ?? null,
          artifactUri: r.artifact_uri,
          tags: r.tags,
          datasetVersions: r.dataset_versions,
          params: {} as Record<string, string>,
          metrics: {} as Record<string, number>,
        },
      ]),
    );
    for (const p of params.rows) byRun.get(p.run_id)!.params[p.key] = p.value;
    for (const m of metrics.rows) byRun.get(m.run_id)!.metrics[m.key] = m.value;
    return rows.map((r) => byRun.get(r.id)!);
  }
}
