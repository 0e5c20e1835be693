import type { Clock } from '../kernel/clock.js';
import type { Database } from '../ports/database.js';
import type { NewEvent } from '../ports/event-log.js';
import type { ExecutionFlow } from './execution-flow.js';
import type { ClaimedTask, ExecutionRow, TaskRow, WorkerCapacity, WorkerRecord } from './records.js';

/** How the scheduler places tasks. */
export interface SchedulerOptions {
  /** A lease lasts this long unless its worker extends it. */
  leaseMs: number;
  /** A waiting task gains one priority point per this many ms (aging: nothing starves). */
  agingMs: number;
  /** A worker whose heartbeat is older than this is not counted as live. */
  workerTtlMs: number;
}

interface WorkerRow {
  id: string;
  name: string;
  cpu: number;
  memory_mb: number;
  gpu: number;
  storage_mb: number;
  labels: Record<string, string>;
  running: number;
  started_at: Date;
  heartbeat_at: Date;
}

// Claim one task: the highest aged priority first (priority + waited/agingMs, floored so tasks
// of one band tie), then best fit — the task filling the most of this worker's free capacity,
// so big tasks are not crowded out by small ones — then first come. SKIP LOCKED lets any
// number of workers claim at once, each row going to exactly one of them.
//
// Within one priority the oldest task has the highest aged priority, so the candidates are the
// CLAIM_WINDOW (64) oldest fitting tasks of each distinct priority (a skip scan over the
// (priority, enqueued_at) index finds the priorities): the order above is applied to those, not
// to the whole queue, which keeps a claim's cost flat however many tasks wait. Best fit thereby
// chooses among the most urgent CLAIM_WINDOW tasks of a priority. When every candidate is taken
// by a concurrent claim, CLAIM_ALL orders the whole queue, so a fitting task is never missed.
const CLAIM_WINDOW = 64;

const ORDER = `ORDER BY floor(priority + EXTRACT(EPOCH FROM ($1::timestamptz - enqueued_at)) * 1000 / $6) DESC,
    (cpu / GREATEST($2, 0.001) + memory_mb / GREATEST($3, 1)::float8 + gpu / GREATEST($4, 1)::float8
      + storage_mb / GREATEST($5, 1)::float8) DESC,
    enqueued_at, id`;

const FITS = `status = 'QUEUED' AND available_at <= $1
    AND cpu <= $2 AND memory_mb <= $3 AND gpu <= $4 AND storage_mb <= $5`;

const TAKE = `UPDATE pipeline_tasks t SET status = 'RUNNING', attempts = t.attempts + 1, lease_owner = $7,
  lease_expires_at = $8, started_at = $1, finished_at = NULL, wait_reason = NULL
FROM picked WHERE t.id = picked.id RETURNING t.*`;

const CLAIM = `
WITH RECURSIVE priorities AS (
  (SELECT priority FROM pipeline_tasks WHERE status = 'QUEUED' ORDER BY priority DESC LIMIT 1)
  UNION ALL
  SELECT (SELECT q.priority FROM pipeline_tasks q WHERE q.status = 'QUEUED' AND q.priority < p.priority
          ORDER BY q.priority DESC LIMIT 1)
  FROM priorities p WHERE p.priority IS NOT NULL),
candidates AS (
  SELECT c.id FROM priorities p CROSS JOIN LATERAL (
    SELECT id FROM pipeline_tasks WHERE ${FITS} AND priority = p.priority
    ORDER BY enqueued_at, id LIMIT ${CLAIM_WINDOW}) c
  WHERE p.priority IS NOT NULL),
picked AS (
  SELECT id FROM pipeline_tasks WHERE id = ANY (ARRAY(SELECT id FROM candidates)) AND ${FITS}
  ${ORDER}
  LIMIT 1
  FOR UPDATE SKIP LOCKED)
${TAKE}`;

const CLAIM_ALL = `
WITH picked AS (
  SELECT id FROM pipeline_tasks WHERE ${FITS}
  ${ORDER}
  LIMIT 1
  FOR UPDATE SKIP LOCKED)
${TAKE}`;

/** The task queue on the database: workers, claims, leases, and why a task waits. */
export class Scheduler {
  constructor(
    private readonly db: Database,
    private readonly flow: ExecutionFlow,
    private readonly clock: Clock,
    private readonly options: SchedulerOptions,
  ) {}

  /** Registers (or re-registers) a worker with its capacity. */
  async registerWorker(
    id: string,
    name: string,
    capacity: WorkerCapacity,
    labels: Record<string, string>,
  ): Promise<void> {
    const now = new Date(this.clock.now());
    await this.db.query(
      `INSERT INTO pipeline_workers (id, name, cpu, memory_mb, gpu, storage_mb, labels, started_at, heartbeat_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
       ON CONFLICT (id) DO UPDATE SET name = $2, cpu = $3, memory_mb = $4, gpu = $5, storage_mb = $6, labels = $7, heartbeat_at = $8`,
      [
        id,
        name,
        capacity.cpu,
        capacity.memoryMb,
        capacity.gpu,
        capacity.storageMb,
        JSON.stringify(labels),
        now,
      ],
    );
  }

  /** A worker's heartbeat: it is alive and runs `running` tasks. */
  async heartbeatWorker(id: string, running: number): Promise<void> {
    await this.db.query('UPDATE pipeline_workers SET heartbeat_at = $2, running = $3 WHERE id = $1', [
      id,
      new Date(this.clock.now()),
      running,
    ]);
  }

  async removeWorker(id: string): Promise<void> {
    await this.db.query('DELETE FROM pipeline_workers WHERE id = $1', [id]);
  }

  /** Registered workers, live ones first. */
  async workers(): Promise<WorkerRecord[]> {
    const rows = await this.db.query<WorkerRow>(
      'SELECT * FROM pipeline_workers ORDER BY heartbeat_at DESC LIMIT 1000',
    );
    const now = this.clock.now();
    return rows.rows.map((r) => ({
      id: r.id,
      name: r.name,
      cpu: r.cpu,
      memoryMb: r.memory_mb,
      gpu: r.gpu,
      storageMb: r.storage_mb,
      labels: r.labels,
      running: r.running,
      startedAt: r.started_at.toISOString(),
      heartbeatAt: r.heartbeat_at.toISOString(),
      live: now - r.heartbeat_at.getTime() <= this.options.workerTtlMs,
    }));
  }

  /** Claims the best task that fits `free`, leased to `workerId`; null when none fits. */
  async claim(workerId: string, free: WorkerCapacity): Promise<ClaimedTask | null> {
    return this.flow.transaction(async (tx, emit: NewEvent[]) => {
      const now = new Date(this.clock.now());
      const lease = new Date(now.getTime() + this.options.leaseMs);
      const params = [
        now,
        free.cpu,
        free.memoryMb,
        free.gpu,
        free.storageMb,
        this.options.agingMs,
        workerId,
        lease,
      ];
      const task =
        (await tx.query<TaskRow>(CLAIM, params)).rows[0] ??
        (await tx.query<TaskRow>(CLAIM_ALL, params)).rows[0];
      if (!task) return null;
      await this.flow.onClaimed(tx, task, workerId, now, emit);
      const execution = await tx.query<ExecutionRow>('SELECT * FROM pipeline_executions WHERE id = $1', [
        task.execution_id,
      ]);
      const done = await tx.query<{ stage: string; output: Record<string, unknown> }>(
        `SELECT stage, output FROM pipeline_tasks WHERE execution_id = $1 AND status = 'SUCCEEDED'`,
        [task.execution_id],
      );
      return {
        id: task.id,
        executionId: task.execution_id,
        stage: task.spec,
        attempt: task.attempts,
        leaseExpiresAt: lease.getTime(),
        definition: execution.rows[0].definition,
        datasetVersion: execution.rows[0].dataset_version,
        outputs: Object.fromEntries(done.rows.map((r) => [r.stage, r.output ?? {}])),
      };
    });
  }

  /**
   * Extends a lease and stores the task's metrics so far; false when the worker no longer
   * holds it (cancelled, or expired and reclaimed): the worker must stop the task.
   */
  async extendLease(
    taskId: string,
    workerId: string,
    attempt: number,
    metrics?: Record<string, unknown>,
  ): Promise<boolean> {
    const lease = new Date(this.clock.now() + this.options.leaseMs);
    const updated = await this.db.query(
      `UPDATE pipeline_tasks SET lease_expires_at = $4, metrics = COALESCE($5::jsonb, metrics)
       WHERE id = $1 AND status = 'RUNNING' AND lease_owner = $2 AND attempts = $3`,
      [taskId, workerId, attempt, lease, metrics ? JSON.stringify(metrics) : null],
    );
    return updated.rowCount > 0;
  }

  /** Tasks whose lease expired (their worker died or hung) are retried elsewhere, or fail when out of attempts. */
  async reapExpiredLeases(limit = 100): Promise<number> {
    let reaped = 0;
    for (let i = 0; i < limit; i++) {
      const found = await this.flow.transaction(async (tx, emit) => {
        const expired = await tx.query<TaskRow>(
          `SELECT * FROM pipeline_tasks WHERE status = 'RUNNING' AND lease_expires_at < $1
           ORDER BY lease_expires_at LIMIT 1 FOR UPDATE SKIP LOCKED`,
          [new Date(this.clock.now())],
        );
        const task = expired.rows[0];
        if (!task) return false;
        await this.flow.settleFailure(
          tx,
          task,
          `lease expired: worker ${task.lease_owner} stopped renewing it`,
          emit,
        );
        return true;
      });
      if (!found) break;
      reaped++;
    }
    return reaped;
  }

  /**
   * Writes on each queued task why it waits when no live worker could ever hold it (e.g. it asks
   * for more GPUs than any worker has), and clears the reason once one could.
   */
  async explainWaits(): Promise<void> {
    const live = (await this.workers()).filter((w) => w.live);
    const queued = await this.db.query<TaskRow>(
      `SELECT * FROM pipeline_tasks WHERE status = 'QUEUED' AND available_at <= $1 ORDER BY enqueued_at LIMIT 1000`,
      [new Date(this.clock.now())],
    );
    for (const task of queued.rows) {
      const reason = waitReason(task, live);
      if (reason !== task.wait_reason)
        await this.db.query(
          `UPDATE pipeline_tasks SET wait_reason = $2 WHERE id = $1 AND status = 'QUEUED'`,
          [task.id, reason],
        );
    }
  }

  /** Appends lines to an execution's log. */
  async appendLogs(executionId: string, stage: string, lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    const now = new Date(this.clock.now());
    await this.db.query(
      `INSERT INTO pipeline_task_logs (execution_id, stage, at, line)
       SELECT $1, $2, $3, line FROM unnest($4::text[]) AS line`,
      [executionId, stage, now, lines.map((l) => l.slice(0, 4000))],
    );
  }
}

/** Why no live worker can hold `task`; null when one can. */
export function waitReason(
  task: Pick<TaskRow, 'cpu' | 'memory_mb' | 'gpu' | 'storage_mb'>,
  live: WorkerCapacity[],
): string | null {
  if (live.length === 0) return 'no live worker';
  if (
    live.some(
      (w) =>
        w.cpu >= task.cpu &&
        w.memoryMb >= task.memory_mb &&
        w.gpu >= task.gpu &&
        w.storageMb >= task.storage_mb,
    )
  )
    return null;
  const largest = (pick: (w: WorkerCapacity) => number) => Math.max(...live.map(pick));
  const short: string[] = [];
  if (largest((w) => w.cpu) < task.cpu)
    short.push(`${task.cpu} CPU (largest worker: ${largest((w) => w.cpu)})`);
  if (largest((w) => w.memoryMb) < task.memory_mb)
    short.push(`${task.memory_mb} MB memory (largest worker: ${largest((w) => w.memoryMb)})`);
  if (largest((w) => w.gpu) < task.gpu)
    short.push(`${task.gpu} GPU (largest worker: ${largest((w) => w.gpu)})`);
  if (largest((w) => w.storageMb) < task.storage_mb)
    short.push(`${task.storage_mb} MB storage (largest worker: ${largest((w) => w.storageMb)})`);
  return short.length > 0
    ? `no live worker has ${short.join(', ')}`
    : 'no single live worker has all the requested resources at once';
}
