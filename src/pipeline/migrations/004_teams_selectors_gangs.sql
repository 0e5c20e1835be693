-- Per-team quotas, node selectors and gang placement.

-- The team an execution runs for (its definition's `team`), copied to each task so a claim
-- can count a team's running tasks without joining the executions.
ALTER TABLE pipeline_executions ADD COLUMN team TEXT NOT NULL DEFAULT 'default';
ALTER TABLE pipeline_tasks ADD COLUMN team TEXT NOT NULL DEFAULT 'default';
-- Labels a worker must carry (all of them, equal values) to run the task.
ALTER TABLE pipeline_tasks ADD COLUMN node_selector JSONB NOT NULL DEFAULT '{}';
-- How many workers the task needs at once (1: an ordinary task).
ALTER TABLE pipeline_tasks ADD COLUMN gang_size INT NOT NULL DEFAULT 1;

-- What a worker last reported free (heartbeats); gang placement chooses members by it.
ALTER TABLE pipeline_workers ADD COLUMN free_cpu DOUBLE PRECISION;
ALTER TABLE pipeline_workers ADD COLUMN free_memory_mb BIGINT;
ALTER TABLE pipeline_workers ADD COLUMN free_gpu INT;
ALTER TABLE pipeline_workers ADD COLUMN free_storage_mb BIGINT;

-- The members of a placed gang: one row per worker of one attempt. A member is assigned when
-- the gang is placed (all at once) and picked up by its worker's next claim; each member
-- renews its own lease, and the task's lease is the earliest of them.
CREATE TABLE pipeline_gang_members (
  task_id TEXT NOT NULL REFERENCES pipeline_tasks (id),
  attempt INT NOT NULL,
  rank INT NOT NULL,
  worker_id TEXT NOT NULL,
  assigned_at TIMESTAMPTZ NOT NULL,
  picked_up_at TIMESTAMPTZ,
  lease_expires_at TIMESTAMPTZ NOT NULL,
  finished_at TIMESTAMPTZ,
  output JSONB,
  PRIMARY KEY (task_id, attempt, rank),
  UNIQUE (task_id, attempt, worker_id)
);
CREATE INDEX pipeline_gang_members_waiting ON pipeline_gang_members (worker_id) WHERE picked_up_at IS NULL;

-- At most this much may run at once for a team; NULL: no limit on that resource.
CREATE TABLE pipeline_quotas (
  team TEXT PRIMARY KEY,
  cpu DOUBLE PRECISION,
  memory_mb BIGINT,
  gpu INT,
  tasks INT,
  updated_at TIMESTAMPTZ NOT NULL
);
