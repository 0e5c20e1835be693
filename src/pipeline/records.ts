import type { PipelineDefinition, Resources, Stage } from './definition.js';

/** Execution statuses, in the order an execution moves through them. */
export type ExecutionStatus = 'CREATED' | 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
/** Task (stage) statuses; PENDING waits for the stages it depends on. */
export type TaskStatus = 'PENDING' | 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

/** One stage of an execution as the API shows it. */
export interface StageRecord {
  name: string;
  type: string;
  status: TaskStatus;
  attempts: number;
  maxAttempts: number;
  resources: Resources;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  /** Why a queued stage is not placed (no worker can hold it, backing off, ...). */
  waitReason: string | null;
  error: string | null;
  metrics: Record<string, unknown>;
  output: Record<string, unknown> | null;
}

/** An execution as the API shows it. */
export interface ExecutionRecord {
  id: string;
  pipeline: string;
  status: ExecutionStatus;
  error: string | null;
  dataset: { name: string; version: string };
  model: { name: string; type: string };
  createdBy: string;
  createdAt: string;
  queuedAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  stages: StageRecord[];
  definition: PipelineDefinition;
}

/** What a worker gets when it claims a task. */
export interface ClaimedTask {
  id: string;
  executionId: string;
  stage: Stage;
  attempt: number;
  leaseExpiresAt: number;
  definition: PipelineDefinition;
  datasetVersion: string;
  /** Outputs of the execution's finished stages, by stage name. */
  outputs: Record<string, Record<string, unknown>>;
  /** For a stage that runs on several workers at once: this worker's rank and every member by rank. */
  gang?: { size: number; rank: number; workers: string[] };
}

/** A worker's capacity as it registers it. */
export interface WorkerCapacity {
  cpu: number;
  memoryMb: number;
  gpu: number;
  storageMb: number;
}

/** A registered worker as the API shows it. */
export interface WorkerRecord extends WorkerCapacity {
  id: string;
  name: string;
  labels: Record<string, string>;
  running: number;
  startedAt: string;
  heartbeatAt: string;
  live: boolean;
}

/** A database row of pipeline_tasks. */
export interface TaskRow {
  id: string;
  execution_id: string;
  stage: string;
  type: string;
  status: TaskStatus;
  depends_on: string[];
  spec: Stage;
  priority: number;
  cpu: number;
  memory_mb: number;
  gpu: number;
  storage_mb: number;
  attempts: number;
  max_attempts: number;
  enqueued_at: Date | null;
  available_at: Date | null;
  lease_owner: string | null;
  lease_expires_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  output: Record<string, unknown> | null;
  metrics: Record<string, unknown>;
  error: string | null;
  wait_reason: string | null;
  team: string;
  node_selector: Record<string, string>;
  gang_size: number;
}

/** A database row of pipeline_executions. */
export interface ExecutionRow {
  id: string;
  pipeline: string;
  definition: PipelineDefinition;
  status: ExecutionStatus;
  error: string | null;
  dataset_version: string;
  created_by: string;
  created_at: Date;
  queued_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const span = (a: Date | null, b: Date | null) => (a && b ? b.getTime() - a.getTime() : null);

/** A task row as the API shows it. */
export function toStage(r: TaskRow): StageRecord {
  return {
    name: r.stage,
    type: r.type,
    status: r.status,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    resources: r.spec.resources,
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
    durationMs: span(r.started_at, r.finished_at),
    waitReason: r.status === 'QUEUED' ? r.wait_reason : null,
    error: r.error,
    metrics: r.metrics,
    output: r.output,
  };
}

/** An execution row and its tasks as the API shows them. */
export function toExecution(r: ExecutionRow, tasks: TaskRow[]): ExecutionRecord {
  const order = new Map(r.definition.stages.map((s, i) => [s.name, i]));
  return {
    id: r.id,
    pipeline: r.pipeline,
    status: r.status,
    error: r.error,
    dataset: { name: r.definition.dataset.name, version: r.dataset_version },
    model: r.definition.model,
    createdBy: r.created_by,
    createdAt: r.created_at.toISOString(),
    queuedAt: iso(r.queued_at),
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
    durationMs: span(r.started_at, r.finished_at),
    stages: tasks.map(toStage).sort((a, b) => (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0)),
    definition: r.definition,
  };
}
