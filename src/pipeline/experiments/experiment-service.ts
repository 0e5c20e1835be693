import type { Clock } from '../../kernel/clock.js';
import { badRequest, conflict, notFound } from '../../kernel/errors.js';
import { newId } from '../../kernel/ids.js';
import type { Database, Sql } from '../../ports/database.js';
import type { NewEvent } from '../../ports/event-log.js';
import type { RegistryApi } from '../../registry/index.js';
import { type PipelineDefinition, readDefinition } from '../definition.js';
import { EVENT_SOURCE, type ExecutionFlow } from '../execution-flow.js';
import {
  type ExperimentRecord,
  type ExperimentRow,
  type TrialCounts,
  type TrialRecord,
  type TrialRow,
  toTrial,
} from './experiment-records.js';
import { type ExperimentSpec, readExperimentInput, strategyOf } from './experiment-spec.js';

/** How trials may be sorted (server-side, with an index on the metric). */
export const TRIAL_SORTS = ['number', 'metric', 'epochs', 'status', 'created'] as const;
export type TrialSort = (typeof TRIAL_SORTS)[number];
const SORT_COLUMNS: Record<TrialSort, string> = {
  number: 'number',
  metric: 'metric',
  epochs: 'epochs',
  status: 'status',
  created: 'created_at',
};

/** A page of trials and how many match in all. */
export interface TrialPage {
  items: TrialRecord[];
  total: number;
  nextOffset: number | null;
}

/** The analysis of an experiment: trials ranked by the metric, and each parameter's effect. */
export interface ExperimentAnalysis {
  experimentId: string;
  metric: string;
  direction: 'maximize' | 'minimize';
  ranked: TrialRecord[];
  /** Per parameter and value: the mean, min and max metric of the finished trials with that value. */
  effects: { param: string; value: string; trials: number; mean: number; min: number; max: number }[];
}

/** An experiment event: correlated by the experiment's id. */
export function experimentEvent(
  experimentId: string,
  type: string,
  subject: string,
  data: Record<string, unknown>,
): NewEvent {
  return {
    type,
    source: EVENT_SOURCE,
    subject,
    correlationid: experimentId,
    data: { experimentId, ...data },
  };
}

const EMPTY_COUNTS = (): TrialCounts => ({
  PENDING: 0,
  RUNNING: 0,
  SUCCEEDED: 0,
  STOPPED: 0,
  FAILED: 0,
  CANCELLED: 0,
});

/** Experiments and their trials in SQL: what the API and the CLI read and change. */
export class ExperimentService {
  constructor(
    readonly db: Database,
    readonly flow: ExecutionFlow,
    private readonly registry: RegistryApi,
    private readonly clock: Clock,
    /** Reads a saved pipeline by name. */
    private readonly savedPipeline: (name: string) => Promise<PipelineDefinition>,
  ) {}

  /** Creates an experiment (RUNNING; the controller starts its trials) with its tracking experiment in the registry. */
  async create(input: unknown, actor: string): Promise<ExperimentRecord> {
    const experiment = readExperimentInput(input);
    const definition =
      experiment.definition !== undefined
        ? readDefinition(experiment.definition)
        : await this.savedPipeline(experiment.pipeline ?? '');
    if (!definition.stages.some((s) => s.type === 'train'))
      throw badRequest(
        'invalid_experiment',
        `pipeline ${definition.name} has no train stage for the trials to tune`,
      );
    const dataset = await this.registry.getDatasetVersion(
      definition.dataset.name,
      definition.dataset.version,
    );
    const tracking = await this.registry.ensureExperiment(
      `experiment-${experiment.name}`,
      experiment.description,
      actor,
    );
    const { name, description, definition: _d, pipeline: _p, ...rest } = experiment;
    const spec: ExperimentSpec = rest;
    const id = newId(this.clock.now());
    await this.flow.transaction(async (tx, emit) => {
      await tx.query(
        `INSERT INTO pipeline_experiments (id, name, description, status, spec, definition, dataset_version,
           tracking_experiment_id, created_by, created_at)
         VALUES ($1, $2, $3, 'RUNNING', $4, $5, $6, $7, $8, $9)`,
        [
          id,
          name,
          description,
          JSON.stringify(spec),
          JSON.stringify(definition),
          dataset.version,
          tracking,
          actor,
          new Date(this.clock.now()),
        ],
      );
      emit.push(
        experimentEvent(id, 'ai.experiment.started', id, {
          name,
          strategy: spec.strategy,
          metric: spec.metric,
          direction: spec.direction,
          pipeline: definition.name,
          datasetVersion: dataset.version,
        }),
      );
    });
    return this.get(id);
  }

  async row(id: string, tx: Sql = this.db): Promise<ExperimentRow> {
    const found = await tx.query<ExperimentRow>('SELECT * FROM pipeline_experiments WHERE id = $1', [id]);
    if (!found.rows[0]) throw notFound('experiment_not_found', `no experiment ${id}`);
    return found.rows[0];
  }

  /** An experiment with its trial counts and best trial so far. */
  async get(id: string): Promise<ExperimentRecord> {
    return (await this.describe([await this.row(id)]))[0];
  }

  /** Experiments, newest first. */
  async list(q: { status?: string; limit: number; offset: number }): Promise<ExperimentRecord[]> {
    const rows = await this.db.query<ExperimentRow>(
      `SELECT * FROM pipeline_experiments WHERE ($1::text IS NULL OR status = $1)
       ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3`,
      [q.status ?? null, q.limit, q.offset],
    );
    return this.describe(rows.rows);
  }

  private async describe(rows: ExperimentRow[]): Promise<ExperimentRecord[]> {
    const ids = rows.map((r) => r.id);
    const counts = await this.db.query<{ experiment_id: string; status: string; n: number; epochs: number }>(
      `SELECT experiment_id, status, count(*)::int AS n, COALESCE(sum(epochs), 0)::int AS epochs
       FROM pipeline_trials WHERE experiment_id = ANY ($1) GROUP BY experiment_id, status`,
      [ids],
    );
    const records: ExperimentRecord[] = [];
    for (const r of rows) {
      const trials = EMPTY_COUNTS();
      let epochs = 0;
      for (const c of counts.rows.filter((c) => c.experiment_id === r.id)) {
        trials[c.status as keyof TrialCounts] = c.n;
        epochs += c.epochs;
      }
      const best = await this.best(r);
      records.push({
        id: r.id,
        name: r.name,
        description: r.description,
        status: r.status,
        strategy: r.spec.strategy,
        metric: r.spec.metric,
        direction: r.spec.direction,
        parallel: r.spec.parallel,
        maxFailedTrials: r.spec.maxFailedTrials,
        space: r.spec.space,
        pipeline: r.definition.name,
        datasetVersion: r.dataset_version,
        trackingExperimentId: r.tracking_experiment_id,
        totalTrials: strategyOf(r.spec).total,
        trials,
        epochs,
        best: best ? toTrial(best) : null,
        result: r.result,
        error: r.error,
        createdBy: r.created_by,
        createdAt: r.created_at.toISOString(),
        finishedAt: r.finished_at?.toISOString() ?? null,
      });
    }
    return records;
  }

  /** The best finished trial: by the metric in the experiment's direction, the lower number on a tie. */
  async best(experiment: ExperimentRow, tx: Sql = this.db): Promise<TrialRow | undefined> {
    const order = experiment.spec.direction === 'maximize' ? 'DESC' : 'ASC';
    const found = await tx.query<TrialRow>(
      `SELECT * FROM pipeline_trials WHERE experiment_id = $1 AND status = 'SUCCEEDED' AND metric IS NOT NULL
       ORDER BY metric ${order}, number LIMIT 1`,
      [experiment.id],
    );
    return found.rows[0];
  }

  /** A page of an experiment's trials, sorted and filtered in the database. */
  async trials(
    id: string,
    q: { status?: string; sort: TrialSort; order: 'asc' | 'desc'; limit: number; offset: number },
  ): Promise<TrialPage> {
    await this.row(id);
    const column = SORT_COLUMNS[q.sort];
    const order = q.order === 'desc' ? 'DESC NULLS LAST' : 'ASC NULLS LAST';
    const rows = await this.db.query<TrialRow & { total: number }>(
      `SELECT *, count(*) OVER ()::int AS total FROM pipeline_trials
       WHERE experiment_id = $1 AND ($2::text IS NULL OR status = $2)
       ORDER BY ${column} ${order}, number LIMIT $3 OFFSET $4`,
      [id, q.status ?? null, q.limit, q.offset],
    );
    let total = rows.rows[0]?.total;
    if (total === undefined) {
      const counted = await this.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pipeline_trials WHERE experiment_id = $1 AND ($2::text IS NULL OR status = $2)`,
        [id, q.status ?? null],
      );
      total = counted.rows[0].n;
    }
    return {
      items: rows.rows.map(toTrial),
      total,
      nextOffset: q.offset + rows.rows.length < total ? q.offset + rows.rows.length : null,
    };
  }

  /** Trials ranked by the metric, and the mean metric per value of each parameter (finished trials only). */
  async analysis(id: string, top: number): Promise<ExperimentAnalysis> {
    const experiment = await this.row(id);
    const ranked = await this.trials(id, {
      status: 'SUCCEEDED',
      sort: 'metric',
      order: experiment.spec.direction === 'maximize' ? 'desc' : 'asc',
      limit: top,
      offset: 0,
    });
    const effects = await this.db.query<{
      param: string;
      value: string;
      trials: number;
      mean: number;
      min: number;
      max: number;
    }>(
      `SELECT p.key AS param, p.value AS value, count(*)::int AS trials, avg(t.metric)::float8 AS mean,
         min(t.metric)::float8 AS min, max(t.metric)::float8 AS max
       FROM pipeline_trials t, jsonb_each_text(t.params) AS p
       WHERE t.experiment_id = $1 AND t.status = 'SUCCEEDED' AND t.metric IS NOT NULL
       GROUP BY p.key, p.value ORDER BY p.key, mean DESC`,
      [id],
    );
    return {
      experimentId: id,
      metric: experiment.spec.metric,
      direction: experiment.spec.direction,
      ranked: ranked.items,
      effects: effects.rows,
    };
  }

  /** Cancels a running experiment: running trials' executions are cancelled, waiting trials dropped. */
  async cancel(id: string): Promise<ExperimentRecord> {
    const running = await this.flow.transaction(async (tx, emit) => {
      const experiment = await this.lock(tx, id);
      if (experiment.status !== 'RUNNING')
        throw conflict(
          'experiment_finished',
          `experiment ${id} is ${experiment.status}; only a running one can be cancelled`,
        );
      const now = new Date(this.clock.now());
      await tx.query(
        `UPDATE pipeline_experiments SET status = 'CANCELLED', finished_at = $2, owner = NULL WHERE id = $1`,
        [id, now],
      );
      const trials = await tx.query<{ id: string; execution_id: string | null }>(
        `UPDATE pipeline_trials SET status = 'CANCELLED', finished_at = $2
         WHERE experiment_id = $1 AND status IN ('PENDING', 'RUNNING') RETURNING id, execution_id`,
        [id, now],
      );
      emit.push(experimentEvent(id, 'ai.experiment.cancelled', id, { trials: trials.rows.length }));
      return trials.rows;
    });
    for (const trial of running)
      if (trial.execution_id) await this.flow.cancel(trial.execution_id).catch(() => {});
    return this.get(id);
  }

  /**
   * Resumes a cancelled or failed experiment: finished trials (succeeded or stopped early) are
   * kept; cancelled and failed ones run again from their unfinished stages.
   */
  async resume(id: string): Promise<ExperimentRecord> {
    await this.flow.transaction(async (tx, emit) => {
      const experiment = await this.lock(tx, id);
      if (experiment.status !== 'CANCELLED' && experiment.status !== 'FAILED')
        throw conflict(
          'experiment_not_resumable',
          `experiment ${id} is ${experiment.status}; only a cancelled or failed one resumes`,
        );
      await tx.query(
        `UPDATE pipeline_experiments SET status = 'RUNNING', finished_at = NULL, error = NULL, owner = NULL WHERE id = $1`,
        [id],
      );
      await tx.query(
        `UPDATE pipeline_trials SET status = 'PENDING', error = NULL, finished_at = NULL, reruns = reruns + 1
         WHERE experiment_id = $1 AND status IN ('CANCELLED', 'FAILED')`,
        [id],
      );
      emit.push(experimentEvent(id, 'ai.experiment.resumed', id, {}));
    });
    return this.get(id);
  }

  async lock(tx: Sql, id: string): Promise<ExperimentRow> {
    const found = await tx.query<ExperimentRow>(
      'SELECT * FROM pipeline_experiments WHERE id = $1 FOR UPDATE',
      [id],
    );
    if (!found.rows[0]) throw notFound('experiment_not_found', `no experiment ${id}`);
    return found.rows[0];
  }
}
