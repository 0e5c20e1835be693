import type { Clock } from '../kernel/clock.js';
import { conflict, notFound } from '../kernel/errors.js';
import { newId } from '../kernel/ids.js';
import type { Database, Sql } from '../ports/database.js';
import type { EventLog, NewEvent } from '../ports/event-log.js';
import type { PipelineDefinition } from './definition.js';
import type { ExecutionRow, TaskRow } from './records.js';

/** The `source` of the events the pipeline module appends. */
export const EVENT_SOURCE = 'aimesh/pipeline';

/** Backoff before attempt `failed + 1`: initial · 2^(failed-1), at most max. */
export function backoffMs(
  policy: { initialBackoffMs: number; maxBackoffMs: number },
  failed: number,
): number {
  return Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** Math.max(0, failed - 1));
}

/**
 * The state machine of executions and their tasks. Every transition runs in one transaction
 * with the events it causes (the event store is the outbox), so a crash between the two
 * cannot lose or invent an event. A finished task advances its execution: dependants whose
 * dependencies all succeeded are queued; the last success ends the execution.
 */
export class ExecutionFlow {
  constructor(
    private readonly db: Database,
    private readonly events: EventLog,
    private readonly clock: Clock,
  ) {}

  private now = () => new Date(this.clock.now());

  private event(executionId: string, type: string, data: Record<string, unknown>): NewEvent {
    return {
      type,
      source: EVENT_SOURCE,
      subject: executionId,
      correlationid: executionId,
      data: { executionId, ...data },
    };
  }

  private async inTx<T>(work: (tx: Sql, emit: NewEvent[]) => Promise<T>): Promise<T> {
    const emitted: NewEvent[] = [];
    const result = await this.db.transaction(async (tx) => {
      emitted.length = 0;
      const value = await work(tx, emitted);
      if (emitted.length > 0) await this.events.append(emitted, tx);
      return value;
    });
    if (emitted.length > 0) this.events.committed();
    return result;
  }

  /**
   * Creates an execution (CREATED) and submits it (QUEUED: stages without dependencies are queued).
   * A caller that records the id before creating (an experiment's trial) passes it in.
   */
  async create(
    definition: PipelineDefinition,
    datasetVersion: string,
    actor: string,
    id: string = newId(this.clock.now()),
  ): Promise<string> {
    await this.inTx(async (tx) => {
      const now = this.now();
      await tx.query(
        `INSERT INTO pipeline_executions (id, pipeline, definition, status, dataset_version, created_by, created_at, team)
         VALUES ($1, $2, $3, 'CREATED', $4, $5, $6, $7)`,
        [
          id,
          definition.name,
          JSON.stringify(definition),
          datasetVersion,
          actor,
          now,
          definition.team ?? 'default',
        ],
      );
      for (const stage of definition.stages) {
        await tx.query(
          `INSERT INTO pipeline_tasks (id, execution_id, stage, type, status, depends_on, spec, priority,
             cpu, memory_mb, gpu, storage_mb, max_attempts, team, node_selector, gang_size)
           VALUES ($1, $2, $3, $4, 'PENDING', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
          [
            `${id}/${stage.name}`,
            id,
            stage.name,
            stage.type,
            stage.dependsOn,
            JSON.stringify(stage),
            definition.priority,
            stage.resources.cpu,
            stage.resources.memoryMb,
            stage.resources.gpu,
            stage.resources.storageMb,
            stage.retry.maxAttempts,
            definition.team ?? 'default',
            JSON.stringify(stage.nodeSelector ?? {}),
            stage.gang ?? 1,
          ],
        );
      }
      await tx.query(`UPDATE pipeline_executions SET status = 'QUEUED', queued_at = $2 WHERE id = $1`, [
        id,
        now,
      ]);
      await this.queueReady(tx, id, now);
    });
    return id;
  }

  /** Queues every PENDING task of the execution whose dependencies all succeeded. */
  private async queueReady(tx: Sql, executionId: string, now: Date): Promise<void> {
    await tx.query(
      `UPDATE pipeline_tasks t SET status = 'QUEUED', enqueued_at = $2, available_at = $2, wait_reason = NULL
       WHERE t.execution_id = $1 AND t.status = 'PENDING' AND NOT EXISTS (
         SELECT 1 FROM pipeline_tasks d WHERE d.execution_id = t.execution_id
           AND d.stage = ANY (t.depends_on) AND d.status <> 'SUCCEEDED')`,
      [executionId, now],
    );
  }

  /** Called in the claim's transaction: the first claimed task starts the execution. */
  async onClaimed(tx: Sql, task: TaskRow, workerId: string, now: Date, emit: NewEvent[]): Promise<void> {
    await tx.query(
      `INSERT INTO pipeline_task_attempts (task_id, attempt, worker_id, started_at) VALUES ($1, $2, $3, $4)`,
      [task.id, task.attempts, workerId, now],
    );
    const started = await tx.query<{ pipeline: string }>(
      `UPDATE pipeline_executions SET status = 'RUNNING', started_at = $2
       WHERE id = $1 AND status = 'QUEUED' RETURNING pipeline`,
      [task.execution_id, now],
    );
    if (started.rows.length > 0)
      emit.push(this.event(task.execution_id, 'ai.training.started', { pipeline: started.rows[0].pipeline }));
  }

  /**
   * Called in a claim batch's transaction with the tasks it placed (their attempts already
   * recorded): executions that had not started start, with their event. Returns what each
   * claimed task's worker needs of its execution: the definition, the pinned dataset version
   * and the outputs of its finished stages.
   */
  async onClaimedMany(
    tx: Sql,
    executionIds: string[],
    now: Date,
    emit: NewEvent[],
  ): Promise<
    Map<
      string,
      {
        definition: PipelineDefinition;
        datasetVersion: string;
        outputs: Record<string, Record<string, unknown>>;
      }
    >
  > {
    const rows = await tx.query<{
      id: string;
      definition: PipelineDefinition;
      dataset_version: string;
      started: string | null;
      outputs: Record<string, Record<string, unknown>>;
    }>(
      `WITH started AS (
         UPDATE pipeline_executions SET status = 'RUNNING', started_at = $2
         WHERE id = ANY ($1) AND status = 'QUEUED' RETURNING id, pipeline)
       SELECT e.id, e.definition, e.dataset_version, s.pipeline AS started,
         (SELECT COALESCE(jsonb_object_agg(d.stage, COALESCE(d.output, '{}'::jsonb)), '{}'::jsonb)
            FROM pipeline_tasks d WHERE d.execution_id = e.id AND d.status = 'SUCCEEDED') AS outputs
       FROM pipeline_executions e LEFT JOIN started s ON s.id = e.id WHERE e.id = ANY ($1)`,
      [executionIds, now],
    );
    const contexts = new Map<
      string,
      {
        definition: PipelineDefinition;
        datasetVersion: string;
        outputs: Record<string, Record<string, unknown>>;
      }
    >();
    for (const r of rows.rows) {
      if (r.started !== null) emit.push(this.event(r.id, 'ai.training.started', { pipeline: r.started }));
      contexts.set(r.id, { definition: r.definition, datasetVersion: r.dataset_version, outputs: r.outputs });
    }
    return contexts;
  }

  /**
   * Records a task's success if `workerId` still holds its lease for `attempt`; false when the
   * lease was lost (the task was reclaimed or cancelled) and the result is dropped. A gang's
   * task succeeds when every member has reported success; the first rank's output is its output.
   */
  async complete(
    taskId: string,
    workerId: string,
    attempt: number,
    output: Record<string, unknown>,
    metrics: Record<string, unknown>,
  ): Promise<boolean> {
    return this.inTx(async (tx, emit) => {
      const now = this.now();
      const done = await tx.query<TaskRow>(
        `UPDATE pipeline_tasks SET status = 'SUCCEEDED', finished_at = $4, output = $5, metrics = $6,
           lease_owner = NULL, lease_expires_at = NULL, error = NULL
         WHERE id = $1 AND status = 'RUNNING' AND lease_owner = $2 AND attempts = $3 AND gang_size = 1 RETURNING *`,
        [taskId, workerId, attempt, now, JSON.stringify(output), JSON.stringify(metrics)],
      );
      const task = done.rows[0] ?? (await this.completeMember(tx, taskId, workerId, attempt, output, now));
      if (!task) return false;
      if (task.status !== 'SUCCEEDED') return true;
      await this.endAttempt(tx, task.id, attempt, now, 'succeeded');
      if (task.type === 'prepare')
        emit.push(
          this.event(task.execution_id, 'ai.data.preprocess.completed', { stage: task.stage, ...output }),
        );
      const execution = await this.lockExecution(tx, task.execution_id);
      if (execution.status !== 'RUNNING') return true;
      await this.queueReady(tx, task.execution_id, now);
      const left = await tx.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pipeline_tasks WHERE execution_id = $1 AND status <> 'SUCCEEDED'`,
        [task.execution_id],
      );
      if (left.rows[0].n === 0) {
        await tx.query(
          `UPDATE pipeline_executions SET status = 'SUCCEEDED', finished_at = $2, error = NULL WHERE id = $1`,
          [task.execution_id, now],
        );
        emit.push(this.event(task.execution_id, 'ai.training.completed', { pipeline: execution.pipeline }));
      }
      return true;
    });
  }

  /**
   * A gang member's success: recorded on its member row; when it was the last, the task
   * succeeds with the first rank's output and is returned (SUCCEEDED), else the task as it is
   * (RUNNING). Undefined when `workerId` is no member of this running attempt.
   */
  private async completeMember(
    tx: Sql,
    taskId: string,
    workerId: string,
    attempt: number,
    output: Record<string, unknown>,
    now: Date,
  ): Promise<TaskRow | undefined> {
    const member = await tx.query(
      `UPDATE pipeline_gang_members m SET finished_at = $4, output = $5
       FROM pipeline_tasks t WHERE m.task_id = $1 AND m.attempt = $3 AND m.worker_id = $2
         AND m.finished_at IS NULL AND t.id = m.task_id AND t.status = 'RUNNING' AND t.attempts = $3
       RETURNING m.rank`,
      [taskId, workerId, attempt, now, JSON.stringify(output)],
    );
    if (member.rowCount === 0) return undefined;
    const task = (await tx.query<TaskRow>('SELECT * FROM pipeline_tasks WHERE id = $1 FOR UPDATE', [taskId]))
      .rows[0];
    const members = await tx.query<{
      rank: number;
      finished_at: Date | null;
      output: Record<string, unknown>;
    }>(
      'SELECT rank, finished_at, output FROM pipeline_gang_members WHERE task_id = $1 AND attempt = $2 ORDER BY rank',
      [taskId, attempt],
    );
    if (members.rows.some((m) => m.finished_at === null)) return task;
    const first = { ...(members.rows[0].output ?? {}), gang: task.gang_size };
    const done = await tx.query<TaskRow>(
      `UPDATE pipeline_tasks SET status = 'SUCCEEDED', finished_at = $2, output = $3,
         lease_owner = NULL, lease_expires_at = NULL, error = NULL WHERE id = $1 RETURNING *`,
      [taskId, now, JSON.stringify(first)],
    );
    return done.rows[0];
  }

  /**
   * Records a failed attempt: queued again after its backoff while attempts remain, else the
   * task and its execution fail. Returns what happened; `lost` when the lease was not held.
   */
  async fail(
    taskId: string,
    workerId: string | null,
    attempt: number,
    error: string,
  ): Promise<'retrying' | 'failed' | 'lost'> {
    return this.inTx(async (tx, emit) => {
      const held = await tx.query<TaskRow>(
        `SELECT * FROM pipeline_tasks WHERE id = $1 AND status = 'RUNNING' AND attempts = $2
           AND ($3::text IS NULL OR lease_owner = $3 OR EXISTS (SELECT 1 FROM pipeline_gang_members m
             WHERE m.task_id = pipeline_tasks.id AND m.attempt = $2 AND m.worker_id = $3)) FOR UPDATE`,
        [taskId, attempt, workerId],
      );
      const task = held.rows[0];
      if (!task) return 'lost';
      return this.settleFailure(tx, task, error, emit);
    });
  }

  /** Within a transaction holding `task`'s row: retry with backoff or fail the execution. */
  async settleFailure(
    tx: Sql,
    task: TaskRow,
    error: string,
    emit: NewEvent[],
  ): Promise<'retrying' | 'failed'> {
    const now = this.now();
    await this.endAttempt(tx, task.id, task.attempts, now, `failed: ${error}`.slice(0, 2000));
    if (task.attempts < task.max_attempts) {
      const wait = backoffMs(task.spec.retry, task.attempts);
      await tx.query(
        `UPDATE pipeline_tasks SET status = 'QUEUED', available_at = $2, lease_owner = NULL, lease_expires_at = NULL,
           error = $3, wait_reason = $4 WHERE id = $1`,
        [
          task.id,
          new Date(now.getTime() + wait),
          error,
          `retrying after attempt ${task.attempts} failed (backoff ${wait} ms)`,
        ],
      );
      return 'retrying';
    }
    await tx.query(
      `UPDATE pipeline_tasks SET status = 'FAILED', finished_at = $2, lease_owner = NULL, lease_expires_at = NULL, error = $3
       WHERE id = $1`,
      [task.id, now, error],
    );
    const message = `stage ${task.stage} failed after ${task.attempts} attempt(s): ${error}`;
    const failed = await tx.query(
      `UPDATE pipeline_executions SET status = 'FAILED', finished_at = $2, error = $3
       WHERE id = $1 AND status IN ('QUEUED', 'RUNNING') RETURNING id`,
      [task.execution_id, now, message],
    );
    await tx.query(
      `UPDATE pipeline_tasks SET status = 'CANCELLED', wait_reason = NULL WHERE execution_id = $1 AND status IN ('PENDING', 'QUEUED')`,
      [task.execution_id],
    );
    if (failed.rows.length > 0)
      emit.push(this.event(task.execution_id, 'ai.training.failed', { stage: task.stage, error: message }));
    return 'failed';
  }

  /** Cancels an execution: waiting stages are cancelled, running ones lose their lease (their worker stops them). */
  async cancel(executionId: string): Promise<void> {
    await this.inTx(async (tx, emit) => {
      const execution = await this.lockExecution(tx, executionId);
      if (!['CREATED', 'QUEUED', 'RUNNING'].includes(execution.status))
        throw conflict(
          'execution_finished',
          `execution ${executionId} is ${execution.status}; only a live one can be cancelled`,
        );
      const now = this.now();
      await tx.query(`UPDATE pipeline_executions SET status = 'CANCELLED', finished_at = $2 WHERE id = $1`, [
        executionId,
        now,
      ]);
      await tx.query(
        `UPDATE pipeline_tasks SET status = 'CANCELLED', finished_at = $2, lease_owner = NULL, lease_expires_at = NULL, wait_reason = NULL
         WHERE execution_id = $1 AND status IN ('PENDING', 'QUEUED', 'RUNNING')`,
        [executionId, now],
      );
      emit.push(this.event(executionId, 'ai.training.failed', { error: 'cancelled', cancelled: true }));
    });
  }

  /** Resumes a FAILED or CANCELLED execution from the stages that did not succeed; finished stages keep their outputs. */
  async resume(executionId: string): Promise<void> {
    await this.inTx(async (tx) => {
      const execution = await this.lockExecution(tx, executionId);
      if (execution.status !== 'FAILED' && execution.status !== 'CANCELLED')
        throw conflict(
          'execution_not_resumable',
          `execution ${executionId} is ${execution.status}; only FAILED or CANCELLED resume`,
        );
      const now = this.now();
      await tx.query(
        `UPDATE pipeline_tasks SET status = 'PENDING', error = NULL,
           max_attempts = attempts + (spec->'retry'->>'maxAttempts')::int, started_at = NULL, finished_at = NULL,
           lease_owner = NULL, lease_expires_at = NULL WHERE execution_id = $1 AND status <> 'SUCCEEDED'`,
        [executionId],
      );
      await tx.query(
        `UPDATE pipeline_executions SET status = 'QUEUED', error = NULL, finished_at = NULL, queued_at = $2, started_at = NULL WHERE id = $1`,
        [executionId, now],
      );
      await this.queueReady(tx, executionId, now);
    });
  }

  private async lockExecution(tx: Sql, id: string): Promise<ExecutionRow> {
    const found = await tx.query<ExecutionRow>('SELECT * FROM pipeline_executions WHERE id = $1 FOR UPDATE', [
      id,
    ]);
    if (!found.rows[0]) throw notFound('execution_not_found', `no execution ${id}`);
    return found.rows[0];
  }

  private async endAttempt(
    tx: Sql,
    taskId: string,
    attempt: number,
    now: Date,
    outcome: string,
  ): Promise<void> {
    await tx.query(
      `UPDATE pipeline_task_attempts SET finished_at = $3, outcome = $4 WHERE task_id = $1 AND attempt = $2`,
      [taskId, attempt, now, outcome],
    );
  }

  /** Runs `work` in a transaction whose events are appended with it. */
  transaction<T>(work: (tx: Sql, emit: NewEvent[]) => Promise<T>): Promise<T> {
    return this.inTx(work);
  }
}
