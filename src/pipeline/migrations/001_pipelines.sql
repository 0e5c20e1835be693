-- Pipelines, their executions, and the task queue the scheduler places on workers.
CREATE TABLE pipeline_definitions (
  name TEXT PRIMARY KEY,
  definition JSONB NOT NULL,
  created_by TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE pipeline_executions (
  id TEXT PRIMARY KEY,
  pipeline TEXT NOT NULL,
  definition JSONB NOT NULL,
  status TEXT NOT NULL,
  error TEXT,
  dataset_version TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  queued_at TIMESTAMPTZ,
  started_at TIMESTAMPTZ,
  finished_at TIMESTAMPTZ
);
CREATE INDEX pipeline_executions_created ON pipeline_executions (created_at DESC);

-- One row per stage of an execution: the unit the scheduler places. status:
-- PENDING (waits for its dependencies), QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED.
CREATE TABLE pipeline_tasks (
  id TEXT PRIMARY KEY,
  execution_id TEXT NOT NULL REFERENCES pipeline_executions (id),
  stage TEXT NOT NULL,
  type TEXT NOT NULL,
  status TEXT NOT NULL,
  depends_on TEXT[] NOT NULL,
  spec JSONB NOT NULL,
  priority INT NOT NULL,
  cpu DOUBLE PRECISION NOT NULL,
  memory_mb BIGINT NOT NULL,
  gpu INT NOT NULL,
  storage_mb BIGINT NOT NULL,
  attempts INT NOT NULL DEFAULT 0,
  max_attempts INT NOT NULL,
  enqueued_at TIMESTAMPTZ,
  available_at TIMESTAMPTZ,
  lease_owner TEXT,
  lease_expires_at TIMESTAMPTZ,
  started_at TIMESTAMPTZ,
  finished_at TIMESTAMPTZ,
  output JSONB,
  metrics JSONB NOT NULL DEFAULT '{}',
  error TEXT,
  wait_reason TEXT,
  UNIQUE (execution_id, stage)
);
CREATE INDEX pipeline_tasks_queued ON pipeline_tasks (status, available_at) WHERE status = 'QUEUED';
CREATE INDEX pipeline_tasks_leases ON pipeline_tasks (lease_expires_at) WHERE status = 'RUNNING';

-- Every run of a task: which worker, when, how it ended; a claimed attempt is recorded once.
CREATE TABLE pipeline_task_attempts (
  task_id TEXT NOT NULL REFERENCES pipeline_tasks (id),
  attempt INT NOT NULL,
  worker_id TEXT NOT NULL,
  started_at TIMESTAMPTZ NOT NULL,
  finished_at TIMESTAMPTZ,
  outcome TEXT,
  PRIMARY KEY (task_id, attempt)
);

CREATE TABLE pipeline_task_logs (
  id BIGSERIAL PRIMARY KEY,
  execution_id TEXT NOT NULL,
  stage TEXT NOT NULL,
  at TIMESTAMPTZ NOT NULL,
  line TEXT NOT NULL
);
CREATE INDEX pipeline_task_logs_execution ON pipeline_task_logs (execution_id, id);

CREATE TABLE pipeline_workers (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  cpu DOUBLE PRECISION NOT NULL,
  memory_mb BIGINT NOT NULL,
  gpu INT NOT NULL,
  storage_mb BIGINT NOT NULL,
  labels JSONB NOT NULL,
  running INT NOT NULL DEFAULT 0,
  started_at TIMESTAMPTZ NOT NULL,
  heartbeat_at TIMESTAMPTZ NOT NULL
);
