import type { Clock } from '../../kernel/clock.js';
import { isAimeshError } from '../../kernel/errors.js';
import { newId } from '../../kernel/ids.js';
import type { Logger } from '../../kernel/logger.js';
import type { RegistryApi } from '../../registry/index.js';
import type { ExecutionFlow } from '../execution-flow.js';
import type { ExperimentRow, TrialRow } from './experiment-records.js';
import { type ExperimentService, experimentEvent } from './experiment-service.js';
import { epochValue, rungValue, strategyOf } from './experiment-spec.js';
import { paramsKey } from './search-space.js';
import { type KnownTrial, type Strategy, WAIT } from './strategy.js';
import { trialDefinition } from './trial-definition.js';

/** How the controller drives experiments. */
export interface RunnerOptions {
  /** This controller's identity (one per process). */
  owner: string;
  /** An experiment is driven by one controller at a time, for this long after its last tick. */
  leaseMs: number;
}

// A trial whose execution failed for one of these reasons lost its worker, not its argument:
// it runs again from its unfinished stages and is never counted as failed for it.
const WORKER_LOST = /lease expired|task process exited|worker stopping|lease was lost/;
// At most this many re-runs for lost workers per trial, so a trial that kills its worker every
// time (out of memory, say) fails in the end instead of running forever.
const MAX_RERUNS = 5;
// At most this many proposals per experiment and tick (duplicates included).
const MAX_PROPOSALS_PER_TICK = 200;

interface TaskState {
  type: string;
  status: string;
  metrics: Record<string, unknown> | null;
  output: Record<string, unknown> | null;
  error: string | null;
}
interface ExecutionState {
  id: string;
  status: string;
  error: string | null;
  tasks: TaskState[];
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * The experiment controller. Each tick it takes the lease of the running experiments no other
 * controller holds and, for each: reads its running trials' executions (their per-epoch metrics
 * as the workers report them), lets the strategy stop weak ones, settles finished ones (a trial
 * whose worker died re-runs), starts trials up to the experiment's parallelism, and once every
 * candidate has run registers the best trial's model and offers it to the promotion rules.
 * Everything it knows is in the database, so another controller (or this one after a restart)
 * continues where it stopped.
 */
export class ExperimentRunner {
  private readonly strategies = new Map<string, Strategy>();

  constructor(
    private readonly service: ExperimentService,
    private readonly flow: ExecutionFlow,
    private readonly registry: RegistryApi,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: RunnerOptions,
  ) {}

  private now = () => new Date(this.clock.now());

  /** Drives every running experiment this controller can hold, once. */
  async tick(): Promise<void> {
    const now = this.now();
    const candidates = await this.service.db.query<{ id: string }>(
      `SELECT id FROM pipeline_experiments WHERE status = 'RUNNING'
         AND (owner IS NULL OR owner = $1 OR owner_expires_at < $2) ORDER BY created_at LIMIT 100`,
      [this.options.owner, now],
    );
    for (const { id } of candidates.rows) {
      const held = await this.service.db.query<ExperimentRow>(
        `UPDATE pipeline_experiments SET owner = $2, owner_expires_at = $3
         WHERE id = $1 AND status = 'RUNNING' AND (owner IS NULL OR owner = $2 OR owner_expires_at < $4) RETURNING *`,
        [id, this.options.owner, new Date(now.getTime() + this.options.leaseMs), now],
      );
      if (!held.rows[0]) continue;
      try {
        await this.drive(held.rows[0]);
      } catch (error) {
        this.logger.warn(
          { err: error, experiment: id },
          'driving an experiment failed; the next tick retries',
        );
      }
    }
  }

  /** Lets go of every experiment this controller holds (on shutdown), so another takes them at once. */
  async release(): Promise<void> {
    await this.service.db.query(
      'UPDATE pipeline_experiments SET owner = NULL, owner_expires_at = NULL WHERE owner = $1',
      [this.options.owner],
    );
  }

  private strategy(experiment: ExperimentRow): Strategy {
    let strategy = this.strategies.get(experiment.id);
    if (!strategy) {
      strategy = strategyOf(experiment.spec);
      if (this.strategies.size >= 1_000) this.strategies.clear();
      this.strategies.set(experiment.id, strategy);
    }
    return strategy;
  }

  /** One step of one experiment. */
  async drive(experiment: ExperimentRow): Promise<void> {
    const strategy = this.strategy(experiment);
    const live = await this.service.db.query<TrialRow>(
      `SELECT * FROM pipeline_trials WHERE experiment_id = $1 AND status IN ('PENDING', 'RUNNING') ORDER BY number`,
      [experiment.id],
    );
    const executions = await this.executions(
      live.rows.flatMap((t) => (t.execution_id ? [t.execution_id] : [])),
    );
    const rungs = new Map<number, number[]>();
    for (const r of (
      await this.service.db.query<{ rung: number; value: number }>(
        'SELECT rung, value FROM pipeline_trial_rungs WHERE experiment_id = $1',
        [experiment.id],
      )
    ).rows)
      rungs.set(r.rung, [...(rungs.get(r.rung) ?? []), r.value]);

    let running = 0;
    for (const trial of live.rows.filter((t) => t.status === 'RUNNING')) {
      const execution = trial.execution_id ? executions.get(trial.execution_id) : undefined;
      if (await this.sync(experiment, strategy, trial, execution, rungs)) running++;
    }
    if (await this.failedTooOften(experiment)) return;
    for (const trial of live.rows.filter((t) => t.status === 'PENDING')) {
      if (running >= experiment.spec.parallel) break;
      await this.start(
        experiment,
        trial,
        trial.execution_id ? executions.get(trial.execution_id) : undefined,
      );
      running++;
    }
    let proposals = 0;
    let exhausted = experiment.exhausted;
    while (!exhausted && running < experiment.spec.parallel && proposals++ < MAX_PROPOSALS_PER_TICK) {
      const proposed = await this.propose(experiment, strategy);
      if (proposed === WAIT) break;
      if (proposed === 'exhausted') exhausted = true;
      else if (proposed) {
        await this.start(experiment, proposed, undefined);
        running++;
      }
    }
    if (exhausted && running === 0) {
      const left = await this.service.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pipeline_trials WHERE experiment_id = $1 AND status IN ('PENDING', 'RUNNING')`,
        [experiment.id],
      );
      if (left.rows[0].n === 0) await this.finish(experiment);
    }
  }

  private async executions(ids: string[]): Promise<Map<string, ExecutionState>> {
    const found = new Map<string, ExecutionState>();
    if (ids.length === 0) return found;
    const executions = await this.service.db.query<{ id: string; status: string; error: string | null }>(
      'SELECT id, status, error FROM pipeline_executions WHERE id = ANY ($1)',
      [ids],
    );
    for (const e of executions.rows) found.set(e.id, { ...e, tasks: [] });
    const tasks = await this.service.db.query<TaskState & { execution_id: string }>(
      'SELECT execution_id, type, status, metrics, output, error FROM pipeline_tasks WHERE execution_id = ANY ($1)',
      [ids],
    );
    for (const t of tasks.rows) found.get(t.execution_id)?.tasks.push(t);
    return found;
  }

  /** Settles a running trial from its execution; true while it still runs. */
  private async sync(
    experiment: ExperimentRow,
    strategy: Strategy,
    trial: TrialRow,
    execution: ExecutionState | undefined,
    rungs: Map<number, number[]>,
  ): Promise<boolean> {
    if (!execution) {
      // Recorded but never created (the controller stopped in between): create it now.
      await this.start(experiment, trial, undefined);
      return true;
    }
    const { metric } = experiment.spec;
    const train = execution.tasks.find((t) => t.type === 'train');
    const history = (Array.isArray(train?.metrics?.history) ? train.metrics.history : []) as Record<
      string,
      unknown
    >[];
    const values = history.map((e) => rungValue(e, experiment.spec)).filter((v): v is number => v !== null);
    if (history.length > trial.logged_epochs) await this.logEpochs(trial, history);
    const review =
      execution.status === 'SUCCEEDED'
        ? { record: [], stop: false }
        : strategy.review(values, trial.rungs, (k) => rungs.get(k) ?? []);
    for (const r of review.record) {
      await this.service.db.query(
        `INSERT INTO pipeline_trial_rungs (experiment_id, rung, trial_id, value) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING`,
        [experiment.id, r.rung, trial.id, r.value],
      );
      rungs.set(r.rung, [...(rungs.get(r.rung) ?? []), r.value]);
    }
    await this.service.db.query(
      'UPDATE pipeline_trials SET epochs = $2, logged_epochs = $3, rungs = rungs + $4 WHERE id = $1',
      [trial.id, history.length, Math.max(trial.logged_epochs, history.length), review.record.length],
    );
    if (review.stop && ['QUEUED', 'RUNNING', 'CREATED'].includes(execution.status)) {
      const last = review.record.at(-1)!;
      // A stopped trial shows the experiment's metric as training last reported it (its rung
      // value may be another metric, e.g. the validation loss).
      const shown = history.length > 0 ? epochValue(history[history.length - 1], metric) : null;
      await this.settle(experiment, trial, 'STOPPED', shown, null, 'ai.trial.stopped', {
        rung: last.rung,
        epochs: history.length,
      });
      await this.flow.cancel(execution.id).catch(() => {});
      await this.track(() => this.registry.endRun(trial.id, 'KILLED'));
      return false;
    }
    if (execution.status === 'SUCCEEDED') {
      // Recorded before the trial is settled, so no proposal sees it finished without its value.
      const rung = strategy.rungOf?.(trial.params) ?? null;
      if (rung !== null && values.length > 0)
        await this.service.db.query(
          `INSERT INTO pipeline_trial_rungs (experiment_id, rung, trial_id, value) VALUES ($1, $2, $3, $4)
           ON CONFLICT DO NOTHING`,
          [experiment.id, rung, trial.id, values[values.length - 1]],
        );
      const evaluation = execution.tasks.find((t) => t.type === 'evaluate');
      const value =
        num(evaluation?.metrics?.[metric]) ?? num(train?.metrics?.[metric]) ?? values.at(-1) ?? null;
      await this.settle(experiment, trial, 'SUCCEEDED', value, null, 'ai.trial.completed', {
        epochs: history.length,
      });
      await this.track(async () => {
        if (value !== null)
          await this.registry.logRun(trial.id, { metrics: [{ key: metric, value, step: history.length }] });
        await this.registry.endRun(trial.id, 'FINISHED', String(train?.output?.modelUri ?? '') || undefined);
      });
      return false;
    }
    if (execution.status === 'FAILED') {
      const error = execution.error ?? 'failed';
      if (WORKER_LOST.test(error) && trial.reruns < MAX_RERUNS) {
        await this.flow.transaction(async (tx, emit) => {
          await tx.query('UPDATE pipeline_trials SET reruns = reruns + 1 WHERE id = $1', [trial.id]);
          emit.push(
            experimentEvent(experiment.id, 'ai.trial.rerun', trial.id, {
              trial: trial.number,
              executionId: execution.id,
              reason: error,
            }),
          );
        });
        await this.flow.resume(execution.id);
        return true;
      }
      await this.settle(experiment, trial, 'FAILED', null, error, 'ai.trial.failed', { error });
      await this.track(() => this.registry.endRun(trial.id, 'FAILED'));
      return false;
    }
    if (execution.status === 'CANCELLED') {
      await this.settle(
        experiment,
        trial,
        'CANCELLED',
        null,
        'its execution was cancelled',
        'ai.trial.cancelled',
        {},
      );
      await this.track(() => this.registry.endRun(trial.id, 'KILLED'));
      return false;
    }
    return true;
  }

  /** Moves a running trial to a final status with its event, in one transaction. */
  private async settle(
    experiment: ExperimentRow,
    trial: TrialRow,
    status: string,
    metric: number | null,
    error: string | null,
    type: string,
    data: Record<string, unknown>,
  ): Promise<void> {
    await this.flow.transaction(async (tx, emit) => {
      const moved = await tx.query(
        `UPDATE pipeline_trials SET status = $2, metric = $3, error = $4, finished_at = $5
         WHERE id = $1 AND status = 'RUNNING'`,
        [trial.id, status, metric, error, this.now()],
      );
      if (moved.rowCount > 0)
        emit.push(
          experimentEvent(experiment.id, type, trial.id, {
            trial: trial.number,
            params: trial.params,
            executionId: trial.execution_id,
            metric,
            ...data,
          }),
        );
    });
  }

  /** Starts (or re-starts) a trial's execution and its registry run. */
  private async start(
    experiment: ExperimentRow,
    trial: TrialRow,
    execution: ExecutionState | undefined,
  ): Promise<void> {
    const executionId = trial.execution_id ?? newId(this.clock.now());
    await this.flow.transaction(async (tx, emit) => {
      await tx.query(
        `UPDATE pipeline_trials SET status = 'RUNNING', execution_id = $2, started_at = COALESCE(started_at, $3)
         WHERE id = $1`,
        [trial.id, executionId, this.now()],
      );
      emit.push(
        experimentEvent(experiment.id, 'ai.trial.started', trial.id, {
          trial: trial.number,
          params: trial.params,
          executionId,
        }),
      );
    });
    if (!execution) {
      const exists = await this.service.db.query('SELECT 1 FROM pipeline_executions WHERE id = $1', [
        executionId,
      ]);
      const warm = exists.rows.length === 0 ? await this.warmStart(experiment, trial) : null;
      if (exists.rows.length === 0)
        await this.flow.create(
          trialDefinition(experiment.definition, warm ? { ...trial.params, warmStart: warm } : trial.params),
          experiment.dataset_version,
          `experiment:${experiment.name}`,
          executionId,
        );
    } else if (execution.status === 'FAILED' || execution.status === 'CANCELLED')
      await this.flow.resume(executionId);
    if (experiment.tracking_experiment_id) {
      const trackingId = experiment.tracking_experiment_id;
      await this.track(() =>
        this.registry.ensureRun({
          id: trial.id,
          experimentId: trackingId,
          name: `${experiment.name}-trial-${trial.number}`,
          actor: `experiment:${experiment.name}`,
          params: trial.params,
          tags: { experimentId: experiment.id, executionId },
          datasetVersions: [
            { dataset: experiment.definition.dataset.name, version: experiment.dataset_version },
          ],
        }),
      );
    }
  }

  /** Records the next candidate as a PENDING trial; null when it repeated an earlier one. */
  private async propose(
    experiment: ExperimentRow,
    strategy: Strategy,
  ): Promise<TrialRow | null | 'exhausted' | typeof WAIT> {
    return this.flow.transaction(async (tx) => {
      const counted = await tx.query<{ n: number; next: number; exhausted: boolean }>(
        `SELECT (SELECT count(*)::int FROM pipeline_trials WHERE experiment_id = $1) AS n, next_candidate AS next, exhausted
         FROM pipeline_experiments WHERE id = $1 FOR UPDATE`,
        [experiment.id],
      );
      const { n, next, exhausted } = counted.rows[0];
      const params =
        exhausted || (strategy.total !== null && n >= strategy.total)
          ? null
          : strategy.candidate(next, strategy.rungOf ? await this.knownTrials(tx, experiment.id) : []);
      if (params === WAIT) return WAIT;
      if (params === null) {
        await tx.query('UPDATE pipeline_experiments SET exhausted = TRUE WHERE id = $1', [experiment.id]);
        return 'exhausted';
      }
      await tx.query('UPDATE pipeline_experiments SET next_candidate = $2 WHERE id = $1', [
        experiment.id,
        next + 1,
      ]);
      const inserted = await tx.query<TrialRow>(
        `INSERT INTO pipeline_trials (id, experiment_id, number, params, params_key, status, created_at)
         VALUES ($1, $2, $3, $4, $5, 'PENDING', $6) ON CONFLICT DO NOTHING RETURNING *`,
        [newId(this.clock.now()), experiment.id, next, JSON.stringify(params), paramsKey(params), this.now()],
      );
      return inserted.rows[0] ?? null;
    });
  }

  /** The experiment's trials with the value each finished one recorded at its rung (read under the proposal's lock). */
  private async knownTrials(
    tx: Pick<ExperimentService['db'], 'query'>,
    experimentId: string,
  ): Promise<KnownTrial[]> {
    const rows = await tx.query<{
      number: number;
      params: TrialRow['params'];
      status: string;
      metric: number | null;
      value: number | null;
    }>(
      `SELECT t.number, t.params, t.status, t.metric, min(r.value) AS value FROM pipeline_trials t
         LEFT JOIN pipeline_trial_rungs r ON r.experiment_id = t.experiment_id AND r.trial_id = t.id
       WHERE t.experiment_id = $1 GROUP BY t.id ORDER BY t.number`,
      [experimentId],
    );
    return rows.rows.map((r) => ({
      number: r.number,
      params: r.params,
      finished: r.status !== 'PENDING' && r.status !== 'RUNNING',
      metric: r.metric,
      rungValue: r.value,
    }));
  }

  /**
   * The train parameters that make a trial continue from the weights of the trial it extends
   * (ASHA's promotions): the checkpoint that trial's training saved, and how many epochs it holds.
   * None when the strategy starts every trial fresh or that trial left no checkpoint.
   */
  private async warmStart(
    experiment: ExperimentRow,
    trial: TrialRow,
  ): Promise<{ checkpointUri: string; epochs: number } | null> {
    const strategy = this.strategy(experiment);
    const from = strategy.continuesFrom?.(trial.params);
    if (!from) return null;
    const found = await this.service.db.query<{ output: Record<string, unknown> | null }>(
      `SELECT k.output FROM pipeline_trials t JOIN pipeline_tasks k ON k.execution_id = t.execution_id
       WHERE t.experiment_id = $1 AND t.params_key = $2 AND t.status = 'SUCCEEDED' AND k.type = 'train'
         AND k.status = 'SUCCEEDED'`,
      [experiment.id, paramsKey(from)],
    );
    const uri = found.rows[0]?.output?.checkpointUri;
    const epochs = num(from[experiment.spec.asha.resource]);
    return typeof uri === 'string' && epochs !== null ? { checkpointUri: uri, epochs } : null;
  }

  /** Fails the experiment when more trials failed than it allows; true when it did. */
  private async failedTooOften(experiment: ExperimentRow): Promise<boolean> {
    const failed = await this.service.db.query<{ n: number; last: string | null }>(
      `SELECT count(*)::int AS n, (SELECT error FROM pipeline_trials WHERE experiment_id = $1 AND status = 'FAILED'
         ORDER BY finished_at DESC LIMIT 1) AS last FROM pipeline_trials WHERE experiment_id = $1 AND status = 'FAILED'`,
      [experiment.id],
    );
    const { n, last } = failed.rows[0];
    if (n <= experiment.spec.maxFailedTrials) return false;
    const reason = `${n} trials failed, more than maxFailedTrials (${experiment.spec.maxFailedTrials}); the last: ${last}`;
    const live = await this.flow.transaction(async (tx, emit) => {
      const now = this.now();
      await tx.query(
        `UPDATE pipeline_experiments SET status = 'FAILED', error = $2, finished_at = $3, owner = NULL WHERE id = $1`,
        [experiment.id, reason, now],
      );
      const cut = await tx.query<{ execution_id: string | null }>(
        `UPDATE pipeline_trials SET status = 'CANCELLED', finished_at = $2
         WHERE experiment_id = $1 AND status IN ('PENDING', 'RUNNING') RETURNING execution_id`,
        [experiment.id, now],
      );
      emit.push(experimentEvent(experiment.id, 'ai.experiment.failed', experiment.id, { error: reason }));
      return cut.rows;
    });
    for (const t of live) if (t.execution_id) await this.flow.cancel(t.execution_id).catch(() => {});
    return true;
  }

  /** Every candidate ran: register the best trial's model, offer it to the promotion rules, and end the experiment. */
  private async finish(experiment: ExperimentRow): Promise<void> {
    const best = await this.service.best(experiment);
    const result = best ? await this.register(experiment, best) : null;
    await this.flow.transaction(async (tx, emit) => {
      const now = this.now();
      const status = best ? 'SUCCEEDED' : 'FAILED';
      const error = best ? null : 'no trial finished with the metric';
      const ended = await tx.query(
        `UPDATE pipeline_experiments SET status = $2, error = $3, best_trial_id = $4, result = $5, finished_at = $6,
           owner = NULL WHERE id = $1 AND status = 'RUNNING'`,
        [experiment.id, status, error, best?.id ?? null, result ? JSON.stringify(result) : null, now],
      );
      if (ended.rowCount === 0) return;
      emit.push(
        best
          ? experimentEvent(experiment.id, 'ai.experiment.completed', experiment.id, {
              bestTrial: { id: best.id, number: best.number, params: best.params, metric: best.metric },
              metric: experiment.spec.metric,
              ...result,
            })
          : experimentEvent(experiment.id, 'ai.experiment.failed', experiment.id, { error }),
      );
    });
  }

  /** Registers the best trial's trained model as a new version and offers it for promotion. */
  private async register(experiment: ExperimentRow, best: TrialRow): Promise<Record<string, unknown>> {
    const tasks = await this.service.db.query<{
      type: string;
      output: Record<string, unknown>;
      metrics: Record<string, unknown>;
    }>(`SELECT type, output, metrics FROM pipeline_tasks WHERE execution_id = $1 AND status = 'SUCCEEDED'`, [
      best.execution_id,
    ]);
    const train = tasks.rows.find((t) => t.type === 'train')?.output;
    if (!train?.modelUri) return { registered: false, reason: 'the best trial left no model' };
    const evaluation = tasks.rows.find((t) => t.type === 'evaluate')?.metrics ?? {};
    const metrics = Object.fromEntries(
      Object.entries(evaluation).filter((e): e is [string, number] => num(e[1]) !== null),
    );
    const { model } = experiment.definition;
    const actor = `experiment:${experiment.name}`;
    try {
      await this.registry.createModel({
        name: model.name,
        type: model.type,
        createdBy: actor,
        description: experiment.description,
      });
    } catch (error) {
      if (!(isAimeshError(error) && error.status === 409)) throw error;
    }
    const version = await this.registry.createModelVersion({
      model: model.name,
      format: 'tfjs',
      artifactUri: String(train.modelUri),
      artifacts: train.onnxUri ? [{ format: 'onnx', uri: String(train.onnxUri) }] : [],
      metrics,
      params: {
        ...(train.params as Record<string, unknown>),
        features: train.features,
        classes: train.classes,
      },
      runId: best.execution_id ?? undefined,
      experimentId: experiment.tracking_experiment_id ?? undefined,
      dataset: experiment.definition.dataset.name,
      datasetVersion: experiment.dataset_version,
      createdBy: actor,
    });
    const result: Record<string, unknown> = {
      model: version.model,
      version: version.version,
      promoted: false,
    };
    if (!experiment.spec.promote.enabled) return result;
    result.alias = experiment.spec.promote.alias;
    try {
      await this.registry.promote({
        model: version.model,
        version: version.version,
        alias: experiment.spec.promote.alias,
        actor,
      });
      result.promoted = true;
    } catch (error) {
      if (!(isAimeshError(error) && error.status === 422)) throw error;
      result.reason = error.message;
    }
    return result;
  }

  private async logEpochs(trial: TrialRow, history: Record<string, unknown>[]): Promise<void> {
    const metrics = history.slice(trial.logged_epochs).flatMap((epoch, i) =>
      ['loss', 'accuracy', 'valLoss', 'valAccuracy'].flatMap((key) => {
        const value = num(epoch[key]);
        return value === null ? [] : [{ key, value, step: trial.logged_epochs + i + 1 }];
      }),
    );
    if (metrics.length > 0) await this.track(() => this.registry.logRun(trial.id, { metrics }));
  }

  /** Experiment tracking in the registry is a record, not a gate: a failure there is logged, not fatal. */
  private async track(work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.logger.warn({ err: error }, 'recording a trial in the registry failed');
    }
  }
}
