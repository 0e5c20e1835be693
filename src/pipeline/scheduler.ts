import type { Clock } from '../kernel/clock.js';
import { unavailable } from '../kernel/errors.js';
import type { Database, Sql } from '../ports/database.js';
import type { NewEvent } from '../ports/event-log.js';
import type { PipelineDefinition } from './definition.js';
import type { ExecutionFlow } from './execution-flow.js';
import {
  type Candidate,
  type Claimant,
  type Peer,
  type Placement,
  place,
  selects,
  type TeamBudget,
  withinQuota,
} from './placement.js';
import type { ClaimedTask, TaskRow, WorkerCapacity, WorkerRecord } from './records.js';

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

// A claim batch: the claims of every worker that asks while the previous batch is in flight
// are placed together, in one transaction of a handful of statements, instead of one
// transaction each (each worker still gets one task per claim). Placement order: the highest
// aged priority first (priority + waited/agingMs, floored so tasks of one band tie), then best
// fit — the task filling the most of the claimant's free capacity, so big tasks are not
// crowded out by small ones — then first come (src/pipeline/placement.ts decides, in memory).
//
// Within one priority the oldest task has the highest aged priority, so the candidates are the
// `window` oldest fitting tasks of each distinct priority (a skip scan over the
// (priority, enqueued_at) index finds the priorities), of which the `window` most urgent are
// read, without locks, with the batch's other context in one statement: the order above is
// applied to those, not to the whole queue, which keeps a batch's cost flat however many tasks
// wait. Only the placed tasks are locked, with SKIP LOCKED, so any number of processes claim at
// once, each row going to exactly one of them. When the window holds nothing lockable, or was
// full and left a claimant without a task, CANDIDATES_ALL orders the whole queue (for the
// claimants' labels), so a fitting task is never missed.
const CLAIM_WINDOW = 64;
// Claims waiting for a batch beyond this many are refused: a bound on the queue of callers.
const MAX_WAITING_CLAIMS = 10_000;
const MAX_BATCH = 256;
// Batches in flight at once (each holds one connection): the next batch gathers while the
// previous one waits on the database. Reading and placing take turns (see `placing`), so two
// batches never compete for the same rows.
const MAX_BATCHES_IN_FLIGHT = 2;

const AGED = `floor(priority + EXTRACT(EPOCH FROM ($1::timestamptz - enqueued_at)) * 1000 / $6)`;

const FITS = `status = 'QUEUED' AND available_at <= $1
    AND cpu <= $2 AND memory_mb <= $3 AND gpu <= $4 AND storage_mb <= $5`;

// What placement reads of a candidate (src/pipeline/placement.ts's Candidate), not the whole
// row: the take returns the full rows of the tasks actually placed.
const CANDIDATE = `id, priority, floor(EXTRACT(EPOCH FROM enqueued_at) * 1000)::float8 AS "enqueuedAt",
  cpu, memory_mb AS "memoryMb", gpu, storage_mb AS "storageMb", team, node_selector AS "nodeSelector",
  gang_size AS "gangSize"`;

// $1 now, $2-$5 the largest free capacity among the claimants, $6 agingMs, $7 how many,
// $8 the window per priority, $9 ids not to read (placed by this process's other batch).
const CANDIDATES = `
WITH RECURSIVE priorities AS (
  (SELECT priority FROM pipeline_tasks WHERE status = 'QUEUED' ORDER BY priority DESC LIMIT 1)
  UNION ALL
  SELECT (SELECT q.priority FROM pipeline_tasks q WHERE q.status = 'QUEUED' AND q.priority < p.priority
          ORDER BY q.priority DESC LIMIT 1)
  FROM priorities p WHERE p.priority IS NOT NULL)
SELECT ${CANDIDATE} FROM (
  SELECT c.* FROM priorities p CROSS JOIN LATERAL (
    SELECT * FROM pipeline_tasks WHERE ${FITS} AND priority = p.priority AND id <> ALL ($9::text[])
    ORDER BY enqueued_at, id LIMIT $8) c
  WHERE p.priority IS NOT NULL) c
ORDER BY ${AGED} DESC, enqueued_at, id
LIMIT $7`;

const CANDIDATES_ALL = `
SELECT ${CANDIDATE} FROM pipeline_tasks WHERE ${FITS} AND id <> ALL ($8::text[])
  AND EXISTS (SELECT 1 FROM unnest($9::jsonb[]) AS l(labels) WHERE node_selector <@ l.labels)
ORDER BY ${AGED} DESC, enqueued_at, id
LIMIT $7`;

// Each quota with what its team's running tasks hold (a gang counting each member). One pass
// over the running tasks of teams with a quota, grouped, rather than one per quota: the planner
// prices the latter at (estimated quotas × running tasks), which on an empty, never analysed
// quota table is enough to make PostgreSQL JIT-compile the statement on every claim (tens of ms).
const QUOTAS = `
SELECT q.team, q.cpu, q.memory_mb AS "memoryMb", q.gpu, q.tasks, COALESCE(u.cpu, 0)::float8 AS "usedCpu",
  COALESCE(u.memory_mb, 0)::float8 AS "usedMemoryMb", COALESCE(u.gpu, 0)::float8 AS "usedGpu",
  COALESCE(u.tasks, 0)::int AS "usedTasks"
FROM pipeline_quotas q LEFT JOIN (
  SELECT r.team, sum(r.cpu * r.gang_size) AS cpu, sum(r.memory_mb * r.gang_size) AS memory_mb,
    sum(r.gpu * r.gang_size) AS gpu, count(*) AS tasks
  FROM pipeline_tasks r WHERE r.status = 'RUNNING' AND r.team IN (SELECT team FROM pipeline_quotas)
  GROUP BY r.team) u ON u.team = q.team`;

// The batch's opening, in one round trip: gang members assigned to its workers earlier (picked
// up now), the workers' registered labels, the budgets of teams with a quota, and the first
// candidates (CANDIDATES' parameters, then $10 the batch's worker ids and $11 the lease's end).
// One snapshot: a candidate is read as the batch's other context is. Exported for its plan test.
export const CONTEXT = `
WITH picked AS (
  UPDATE pipeline_gang_members m SET picked_up_at = $1, lease_expires_at = $11
  WHERE m.worker_id = ANY ($10) AND m.picked_up_at IS NULL AND EXISTS (
    SELECT 1 FROM pipeline_tasks t WHERE t.id = m.task_id AND t.status = 'RUNNING' AND t.attempts = m.attempt)
  RETURNING m.task_id, m.worker_id)
SELECT
  (SELECT COALESCE(jsonb_agg(jsonb_build_object('taskId', task_id, 'workerId', worker_id)), '[]'::jsonb)
     FROM picked) AS picked,
  (SELECT COALESCE(jsonb_object_agg(id, labels), '{}'::jsonb) FROM pipeline_workers WHERE id = ANY ($10)) AS labels,
  (SELECT COALESCE(jsonb_agg(to_jsonb(q)), '[]'::jsonb) FROM (${QUOTAS}) q) AS quotas,
  (SELECT COALESCE(jsonb_agg(to_jsonb(c)), '[]'::jsonb) FROM (${CANDIDATES}) c) AS candidates`;

// Takes the placed tasks (one lease owner each: a gang's first rank) and records the attempts.
// `(status = 'QUEUED') IS TRUE` keeps the lookup on the primary key: written plainly, the
// planner may AND it with a scan of the whole queued-task partial index when that index's
// statistics are stale (a queue filled since the last ANALYZE), several ms per batch.
const TAKE = `
WITH locked AS (
  SELECT id FROM pipeline_tasks WHERE id = ANY ($1::text[]) AND (status = 'QUEUED') IS TRUE
  FOR UPDATE SKIP LOCKED),
taken AS (
  UPDATE pipeline_tasks t SET status = 'RUNNING', attempts = t.attempts + 1, lease_owner = x.worker,
    lease_expires_at = $4, started_at = $3, finished_at = NULL, wait_reason = NULL
  FROM unnest($1::text[], $2::text[]) AS x(id, worker)
  WHERE t.id = x.id AND t.id IN (SELECT id FROM locked) RETURNING t.*),
attempts AS (
  INSERT INTO pipeline_task_attempts (task_id, attempt, worker_id, started_at)
  SELECT id, attempts, lease_owner, $3 FROM taken),
started AS (
  UPDATE pipeline_executions e SET status = 'RUNNING', started_at = $3
  WHERE e.id IN (SELECT execution_id FROM taken) AND e.status = 'QUEUED' RETURNING e.id, e.pipeline),
numbered AS (
  SELECT taken.*, row_number() OVER (PARTITION BY taken.execution_id ORDER BY taken.id) AS nth FROM taken)
SELECT n.*, s.pipeline AS ctx_started,
  CASE WHEN n.nth = 1 THEN e.definition END AS ctx_definition,
  e.dataset_version AS ctx_dataset_version,
  CASE WHEN n.nth = 1 THEN (
    SELECT COALESCE(jsonb_object_agg(d.stage, COALESCE(d.output, '{}'::jsonb)), '{}'::jsonb)
    FROM pipeline_tasks d WHERE d.execution_id = n.execution_id AND d.status = 'SUCCEEDED') END AS ctx_outputs
FROM numbered n JOIN pipeline_executions e ON e.id = n.execution_id LEFT JOIN started s ON s.id = n.execution_id`;

/** A taken task with its execution's context (on the first row of each execution). */
interface TakenRow extends TaskRow {
  nth: string | number;
  ctx_started: string | null;
  ctx_definition: PipelineDefinition | null;
  ctx_dataset_version: string;
  ctx_outputs: Record<string, Record<string, unknown>> | null;
}

/** What a claimed task's worker needs of its execution. */
type ExecutionContext = {
  definition: PipelineDefinition;
  datasetVersion: string;
  outputs: Record<string, Record<string, unknown>>;
};

// Live workers outside the batch a gang may take as members: by what they last reported free,
// without a member they have not picked up yet.
const PEERS = `
SELECT id, labels, COALESCE(free_cpu, cpu) AS cpu, COALESCE(free_memory_mb, memory_mb) AS memory_mb,
  COALESCE(free_gpu, gpu) AS gpu, COALESCE(free_storage_mb, storage_mb) AS storage_mb
FROM pipeline_workers w WHERE heartbeat_at >= $1 AND id <> ALL ($2)
  AND NOT EXISTS (SELECT 1 FROM pipeline_gang_members m WHERE m.worker_id = w.id AND m.picked_up_at IS NULL)
ORDER BY heartbeat_at DESC LIMIT 1000`;

interface ClaimRequest {
  workerId: string;
  free: WorkerCapacity;
  labels?: Record<string, string>;
  resolve(task: ClaimedTask | null): void;
  reject(error: unknown): void;
}

interface QuotaRow {
  team: string;
  cpu: number | null;
  memoryMb: number | null;
  gpu: number | null;
  tasks: number | null;
  usedCpu: number;
  usedMemoryMb: number;
  usedGpu: number;
  usedTasks: number;
}

const budgetOf = (q: QuotaRow): TeamBudget => ({
  limit: {
    cpu: q.cpu,
    memoryMb: q.memoryMb === null ? null : Number(q.memoryMb),
    gpu: q.gpu,
    tasks: q.tasks,
  },
  used: { cpu: q.usedCpu, memoryMb: q.usedMemoryMb, gpu: q.usedGpu, tasks: q.usedTasks },
});

/** A quota as a person reads it: each limit against what runs. */
export function quotaText(budget: TeamBudget): string {
  const { limit, used } = budget;
  const parts: string[] = [];
  if (limit.cpu !== null) parts.push(`${used.cpu}/${limit.cpu} CPU`);
  if (limit.memoryMb !== null) parts.push(`${used.memoryMb}/${limit.memoryMb} MB memory`);
  if (limit.gpu !== null) parts.push(`${used.gpu}/${limit.gpu} GPU`);
  if (limit.tasks !== null) parts.push(`${used.tasks}/${limit.tasks} tasks`);
  return `${parts.join(', ')} in use`;
}

const toCandidate = (r: TaskRow): Candidate => ({
  id: r.id,
  priority: r.priority,
  enqueuedAt: r.enqueued_at!.getTime(),
  cpu: r.cpu,
  memoryMb: Number(r.memory_mb),
  gpu: r.gpu,
  storageMb: Number(r.storage_mb),
  team: r.team,
  nodeSelector: r.node_selector ?? {},
  gangSize: r.gang_size,
});

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

  /** A worker's heartbeat: it is alive, runs `running` tasks and has `free` left (gangs place members by it). */
  async heartbeatWorker(id: string, running: number, free?: WorkerCapacity): Promise<void> {
    await this.db.query(
      `UPDATE pipeline_workers SET heartbeat_at = $2, running = $3, free_cpu = $4, free_memory_mb = $5,
         free_gpu = $6, free_storage_mb = $7 WHERE id = $1`,
      [
        id,
        new Date(this.clock.now()),
        running,
        free?.cpu ?? null,
        free?.memoryMb ?? null,
        free?.gpu ?? null,
        free?.storageMb ?? null,
      ],
    );
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

  private readonly waiting: ClaimRequest[] = [];
  /** Tasks placed by a batch in flight, until it commits: the other batch does not consider them. */
  private readonly reserved = new Set<string>();
  private inFlight = 0;
  /**
   * The turn to read candidates and place them: one batch at a time, from its read until its
   * placements are reserved, so a batch in flight never reads what another is about to take.
   */
  private placing: Promise<void> = Promise.resolve();

  /**
   * Claims the best task that fits `free` (and whose node selector `labels` satisfies; default
   * the worker's registered labels), leased to `workerId`; null when none fits. Claims made
   * while batches are in flight are placed together in the next one.
   */
  claim(
    workerId: string,
    free: WorkerCapacity,
    labels?: Record<string, string>,
  ): Promise<ClaimedTask | null> {
    if (this.waiting.length >= MAX_WAITING_CLAIMS)
      return Promise.reject(
        unavailable('claims_overloaded', `more than ${MAX_WAITING_CLAIMS} claims wait for placement`),
      );
    return new Promise((resolve, reject) => {
      this.waiting.push({ workerId, free, labels, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.inFlight >= MAX_BATCHES_IN_FLIGHT || this.waiting.length === 0) return;
    this.inFlight++;
    void this.runBatch().finally(() => {
      this.inFlight--;
      this.pump();
    });
  }

  private async runBatch(): Promise<void> {
    // One turn of the event loop lets the callers answered by the last batch ask again, so
    // they join this batch instead of each starting one of their own.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const batch = this.waiting.splice(0, MAX_BATCH);
    if (batch.length === 0) return;
    try {
      const tasks = await this.claimBatch(batch);
      for (const [i, request] of batch.entries()) request.resolve(tasks[i]);
    } catch (error) {
      for (const request of batch) request.reject(error);
    }
  }

  /** Places one batch of claims in one transaction; the answer of each, in order. */
  private async claimBatch(batch: ClaimRequest[]): Promise<(ClaimedTask | null)[]> {
    const mine = new Set<string>();
    try {
      return await this.claimIn(batch, mine);
    } finally {
      for (const id of mine) this.reserved.delete(id);
    }
  }

  private claimIn(batch: ClaimRequest[], mine: Set<string>): Promise<(ClaimedTask | null)[]> {
    return this.flow.transaction(async (tx, emit: NewEvent[]) => {
      let endTurn!: () => void;
      const previous = this.placing;
      this.placing = new Promise<void>((resolve) => {
        endTurn = resolve;
      });
      try {
        await previous;
        return await this.claimInTurn(tx, emit, batch, mine, endTurn);
      } finally {
        endTurn();
      }
    });
  }

  private async claimInTurn(
    tx: Sql,
    emit: NewEvent[],
    batch: ClaimRequest[],
    mine: Set<string>,
    endTurn: () => void,
  ): Promise<(ClaimedTask | null)[]> {
    const now = new Date(this.clock.now());
    const lease = new Date(now.getTime() + this.options.leaseMs);
    const ids = [...new Set(batch.map((r) => r.workerId))];
    // Tasks this process's other batch placed are not read (seen); read ones join them.
    const seen = new Set(this.reserved);
    const window = this.window(
      now,
      batch.map((r) => r.free),
    );
    const context = (
      await tx.query<{
        picked: { taskId: string; workerId: string }[];
        labels: Record<string, Record<string, string>>;
        quotas: QuotaRow[];
        candidates: Candidate[];
      }>(CONTEXT, [...window.params, window.limit * 2, [...seen], ids, lease], {
        name: 'aimesh_claim_context',
      })
    ).rows[0];
    for (const c of context.candidates) seen.add(c.id);
    // A gang member assigned earlier is this worker's task now.
    const answer = new Map<ClaimRequest, string>();
    const pickedBy = new Map(context.picked.map((p) => [p.workerId, p.taskId]));
    for (const request of batch) {
      const taskId = pickedBy.get(request.workerId);
      if (taskId) {
        answer.set(request, taskId);
        pickedBy.delete(request.workerId);
      }
    }
    const claimants: (Claimant & { request: ClaimRequest })[] = batch
      .filter((r) => !answer.has(r))
      .map((r) => ({
        workerId: r.workerId,
        free: r.free,
        labels: r.labels ?? context.labels[r.workerId] ?? {},
        request: r,
      }));
    if (claimants.length === 0) endTurn();
    const { placed, taken, contexts } =
      claimants.length === 0
        ? { placed: [], taken: [], contexts: new Map<string, ExecutionContext>() }
        : await this.placeAndTake(
            tx,
            claimants,
            context,
            window.limit,
            seen,
            now,
            lease,
            mine,
            emit,
            endTurn,
          );
    const byWorker = new Map<string, Placement>();
    for (const p of placed) for (const w of p.claimants) byWorker.set(w, p);
    for (const c of claimants) {
      const p = byWorker.get(c.workerId);
      if (p) answer.set(c.request, p.taskId);
    }
    if (answer.size === 0) return batch.map(() => null);
    const gangs = placed.filter((p) => p.members.length > 1);
    if (gangs.length > 0) await this.assignGangs(tx, gangs, taken, now, lease);
    const pickedIds = context.picked.map((p) => p.taskId);
    const pickedRows =
      pickedIds.length === 0
        ? []
        : (await tx.query<TaskRow>('SELECT * FROM pipeline_tasks WHERE id = ANY ($1)', [pickedIds])).rows;
    const tasks = new Map([...taken, ...pickedRows].map((t) => [t.id, t]));
    const members = await this.gangMembers(
      tx,
      [...tasks.values()].filter((t) => t.gang_size > 1),
    );
    // Picked-up gang members' executions were not read by the take.
    const missing = [...new Set([...tasks.values()].map((t) => t.execution_id))].filter(
      (id) => !contexts.has(id),
    );
    if (missing.length > 0)
      for (const [id, c] of await this.flow.onClaimedMany(tx, missing, now, emit)) contexts.set(id, c);
    return batch.map((request) => {
      const task = tasks.get(answer.get(request) ?? '');
      if (!task) return null;
      const execution = contexts.get(task.execution_id)!;
      const gang = members.get(task.id);
      return {
        id: task.id,
        executionId: task.execution_id,
        stage: task.spec,
        attempt: task.attempts,
        leaseExpiresAt: lease.getTime(),
        definition: execution.definition,
        datasetVersion: execution.datasetVersion,
        outputs: execution.outputs,
        ...(gang
          ? { gang: { size: task.gang_size, rank: gang.indexOf(request.workerId), workers: gang } }
          : {}),
      };
    });
  }

  /** CANDIDATES' first parameters for claimants with these free capacities, and how many to read. */
  private window(now: Date, free: WorkerCapacity[]): { limit: number; params: unknown[] } {
    const limit = Math.max(CLAIM_WINDOW, free.length * 2);
    const largest = (pick: (f: WorkerCapacity) => number) => Math.max(...free.map(pick));
    return {
      limit,
      params: [
        now,
        largest((f) => f.cpu),
        largest((f) => f.memoryMb),
        largest((f) => f.gpu),
        largest((f) => f.storageMb),
        this.options.agingMs,
        limit,
      ],
    };
  }

  /**
   * Places the claimants on candidates read without locks, then takes the placed tasks, each
   * locked with SKIP LOCKED: a task another process took meanwhile is skipped, and its
   * claimants are placed again on what is left (a few rounds). Tasks placed by this process's
   * other batch in flight are not candidates at all.
   */
  private async placeAndTake(
    tx: Sql,
    claimants: (Claimant & { request: ClaimRequest })[],
    opening: { quotas: QuotaRow[]; candidates: Candidate[] },
    limit: number,
    seen: Set<string>,
    now: Date,
    lease: Date,
    mine: Set<string>,
    emit: NewEvent[],
    endTurn: () => void,
  ): Promise<{ placed: Placement[]; taken: TaskRow[]; contexts: Map<string, ExecutionContext> }> {
    const contexts = new Map<string, ExecutionContext>();
    const budgets = new Map(opening.quotas.map((q) => [q.team, budgetOf(q)]));
    const rows = new Map(opening.candidates.map((c) => [c.id, c]));
    // The whole queue, for the claimants still unserved (their labels).
    const readAll = async (who: Claimant[]) => {
      const window = this.window(
        now,
        who.map((c) => c.free),
      );
      const found = await tx.query<Candidate>(
        CANDIDATES_ALL,
        [...window.params, [...seen, ...this.reserved], who.map((c) => JSON.stringify(c.labels))],
        { name: 'aimesh_claim_candidates_all' },
      );
      for (const r of found.rows) {
        rows.set(r.id, r);
        seen.add(r.id);
      }
      return found.rows.length === window.limit;
    };
    let peers: Peer[] | undefined;
    const placed: Placement[] = [];
    const taken: TaskRow[] = [];
    let unserved = claimants;
    let full = opening.candidates.length === limit;
    let wholeQueue = false;
    for (let round = 0; round < 4 && unserved.length > 0; round++) {
      if (!peers && [...rows.values()].some((r) => r.gangSize > 1))
        peers = await this.peers(
          tx,
          now,
          claimants.map((c) => c.workerId),
        );
      const used = new Set(placed.flatMap((p) => p.members));
      const fresh = place(
        unserved,
        [...rows.values()],
        budgets,
        (peers ?? []).filter((p) => !used.has(p.workerId)),
        now.getTime(),
        this.options.agingMs,
      );
      for (const p of fresh) {
        rows.delete(p.taskId);
        this.reserved.add(p.taskId);
        mine.add(p.taskId);
      }
      endTurn();
      const got =
        fresh.length === 0
          ? []
          : (
              await tx.query<TakenRow>(
                TAKE,
                [fresh.map((p) => p.taskId), fresh.map((p) => p.members[0]), now, lease],
                { name: 'aimesh_claim_take' },
              )
            ).rows;
      for (const row of got) {
        if (row.ctx_definition === null || row.ctx_outputs === null) continue;
        if (row.ctx_started !== null) emit.push(this.flow.startedEvent(row.execution_id, row.ctx_started));
        contexts.set(row.execution_id, {
          definition: row.ctx_definition,
          datasetVersion: row.ctx_dataset_version,
          outputs: row.ctx_outputs,
        });
      }
      const gotIds = new Set(got.map((t) => t.id));
      for (const p of fresh) if (gotIds.has(p.taskId)) placed.push(p);
      taken.push(...got);
      const served = new Set(placed.flatMap((p) => p.claimants));
      unserved = unserved.filter((c) => !served.has(c.workerId));
      if (unserved.length === 0) break;
      // Nothing left to choose from here: read further, the whole queue once the window is spent.
      if (got.length === fresh.length) {
        if (wholeQueue || !full) break;
        wholeQueue = true;
        full = await readAll(unserved);
      }
    }
    return { placed, taken, contexts };
  }

  private async peers(tx: Sql, now: Date, exclude: string[]): Promise<Peer[]> {
    const found = await tx.query<WorkerRow & { labels: Record<string, string> }>(PEERS, [
      new Date(now.getTime() - this.options.workerTtlMs),
      exclude,
    ]);
    return found.rows.map((w) => ({
      workerId: w.id,
      labels: w.labels,
      free: { cpu: w.cpu, memoryMb: Number(w.memory_mb), gpu: w.gpu, storageMb: Number(w.storage_mb) },
    }));
  }

  /** Records the members of gangs placed in this batch; peers pick theirs up with their next claim. */
  private async assignGangs(tx: Sql, gangs: Placement[], taken: TaskRow[], now: Date, lease: Date) {
    const attempts = new Map(taken.map((t) => [t.id, t.attempts]));
    const rows = gangs.flatMap((g) =>
      g.members.map((worker, rank) => ({
        task: g.taskId,
        attempt: attempts.get(g.taskId)!,
        rank,
        worker,
        picked: g.claimants.includes(worker),
      })),
    );
    await tx.query(
      `INSERT INTO pipeline_gang_members (task_id, attempt, rank, worker_id, assigned_at, picked_up_at, lease_expires_at)
       SELECT x.task, x.attempt, x.rank, x.worker, $5, CASE WHEN x.picked THEN $5::timestamptz END, $6
       FROM unnest($1::text[], $2::int[], $3::int[], $4::text[], $7::boolean[]) AS x(task, attempt, rank, worker, picked)`,
      [
        rows.map((r) => r.task),
        rows.map((r) => r.attempt),
        rows.map((r) => r.rank),
        rows.map((r) => r.worker),
        now,
        lease,
        rows.map((r) => r.picked),
      ],
    );
  }

  /** Worker ids by rank of each gang task's current attempt. */
  private async gangMembers(tx: Sql, tasks: TaskRow[]): Promise<Map<string, string[]>> {
    if (tasks.length === 0) return new Map();
    const found = await tx.query<{ task_id: string; workers: string[] }>(
      `SELECT m.task_id, array_agg(m.worker_id ORDER BY m.rank) AS workers
       FROM pipeline_gang_members m JOIN pipeline_tasks t ON t.id = m.task_id AND t.attempts = m.attempt
       WHERE m.task_id = ANY ($1) GROUP BY m.task_id`,
      [tasks.map((t) => t.id)],
    );
    return new Map(found.rows.map((r) => [r.task_id, r.workers]));
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
       WHERE id = $1 AND status = 'RUNNING' AND lease_owner = $2 AND attempts = $3 AND gang_size = 1`,
      [taskId, workerId, attempt, lease, metrics ? JSON.stringify(metrics) : null],
    );
    if (updated.rowCount > 0) return true;
    // A gang member renews its own lease; the task's lease is the earliest of its members'.
    const member = await this.db.query(
      `WITH renewed AS (
         UPDATE pipeline_gang_members m SET lease_expires_at = $4
         FROM pipeline_tasks t WHERE m.task_id = $1 AND m.attempt = $3 AND m.worker_id = $2
           AND m.finished_at IS NULL AND t.id = m.task_id AND t.status = 'RUNNING' AND t.attempts = $3
         RETURNING m.task_id)
       UPDATE pipeline_tasks t SET lease_expires_at = (
           SELECT min(CASE WHEN o.worker_id = $2 THEN $4 ELSE o.lease_expires_at END)
           FROM pipeline_gang_members o WHERE o.task_id = $1 AND o.attempt = $3 AND o.finished_at IS NULL),
         metrics = CASE WHEN t.lease_owner = $2 THEN COALESCE($5::jsonb, t.metrics) ELSE t.metrics END
       WHERE t.id IN (SELECT task_id FROM renewed)`,
      [taskId, workerId, attempt, lease, metrics ? JSON.stringify(metrics) : null],
    );
    return member.rowCount > 0;
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
    const budgets = await this.budgets();
    for (const task of queued.rows) {
      const budget = budgets.get(task.team);
      const reason =
        waitReason(task, live) ??
        (withinQuota(toCandidate(task), budget ? structuredClone(budget) : undefined)
          ? null
          : `team ${task.team} is at its quota (${quotaText(budget!)})`);
      if (reason !== task.wait_reason)
        await this.db.query(
          `UPDATE pipeline_tasks SET wait_reason = $2 WHERE id = $1 AND status = 'QUEUED'`,
          [task.id, reason],
        );
    }
  }

  /** Each team with a quota: its limits and what its running tasks hold now. */
  async budgets(): Promise<Map<string, TeamBudget>> {
    const found = await this.db.query<QuotaRow>(`${QUOTAS} ORDER BY q.team LIMIT 10000`);
    return new Map(found.rows.map((q) => [q.team, budgetOf(q)]));
  }

  /** Sets (or, with every limit null, removes) a team's quota. */
  async setQuota(team: string, limit: TeamBudget['limit']): Promise<void> {
    if (Object.values(limit).every((v) => v === null)) {
      await this.db.query('DELETE FROM pipeline_quotas WHERE team = $1', [team]);
      return;
    }
    await this.db.query(
      `INSERT INTO pipeline_quotas (team, cpu, memory_mb, gpu, tasks, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (team) DO UPDATE SET cpu = $2, memory_mb = $3, gpu = $4, tasks = $5, updated_at = $6`,
      [team, limit.cpu, limit.memoryMb, limit.gpu, limit.tasks, new Date(this.clock.now())],
    );
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

/** Why no live worker can hold `task` (or, for a gang, enough of them); null when they can. */
export function waitReason(
  task: Pick<TaskRow, 'cpu' | 'memory_mb' | 'gpu' | 'storage_mb'> &
    Partial<Pick<TaskRow, 'node_selector' | 'gang_size'>>,
  live: (WorkerCapacity & { labels?: Record<string, string> })[],
): string | null {
  if (live.length === 0) return 'no live worker';
  const selector = task.node_selector ?? {};
  const need = task.gang_size ?? 1;
  const holds = (w: WorkerCapacity) =>
    w.cpu >= task.cpu && w.memoryMb >= task.memory_mb && w.gpu >= task.gpu && w.storageMb >= task.storage_mb;
  const labelled = live.filter((w) => selects(selector, w.labels ?? {}));
  const able = labelled.filter(holds).length;
  if (able >= need) return null;
  if (able > 0)
    return `a gang of ${need} needs ${need} live workers that can each hold a member; ${able} can`;
  if (labelled.length === 0)
    return `no live worker carries the labels ${Object.entries(selector)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`;
  const largest = (pick: (w: WorkerCapacity) => number) => Math.max(...labelled.map(pick));
  const short: string[] = [];
  if (largest((w) => w.cpu) < task.cpu)
    short.push(`${task.cpu} CPU (largest worker: ${largest((w) => w.cpu)})`);
  if (largest((w) => w.memoryMb) < task.memory_mb)
    short.push(`${task.memory_mb} MB memory (largest worker: ${largest((w) => w.memoryMb)})`);
  if (largest((w) => w.gpu) < task.gpu)
    short.push(`${task.gpu} GPU (largest worker: ${largest((w) => w.gpu)})`);
  if (largest((w) => w.storageMb) < task.storage_mb)
    short.push(`${task.storage_mb} MB storage (largest worker: ${largest((w) => w.storageMb)})`);
  const among = Object.keys(selector).length > 0 && labelled.length < live.length ? ' with the labels' : '';
  return short.length > 0
    ? `no live worker${among} has ${short.join(', ')}`
    : `no single live worker${among} has all the requested resources at once`;
}
