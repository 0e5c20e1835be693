-- Experiments: a search over a pipeline's training parameters; each trial is one execution.
-- status: RUNNING, SUCCEEDED, FAILED, CANCELLED.
CREATE TABLE pipeline_experiments (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  status TEXT NOT NULL,
  spec JSONB NOT NULL,
  definition JSONB NOT NULL,
  dataset_version TEXT NOT NULL,
  tracking_experiment_id TEXT,
  next_candidate INT NOT NULL DEFAULT 0,
  exhausted BOOLEAN NOT NULL DEFAULT FALSE,
  best_trial_id TEXT,
  result JSONB,
  error TEXT,
  owner TEXT,
  owner_expires_at TIMESTAMPTZ,
  created_by TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  finished_at TIMESTAMPTZ
);
CREATE INDEX pipeline_experiments_created ON pipeline_experiments (created_at DESC, id DESC);
CREATE INDEX pipeline_experiments_live ON pipeline_experiments (status) WHERE status = 'RUNNING';

-- One row per trial. status: PENDING (no execution yet), RUNNING, SUCCEEDED, STOPPED (early,
-- by the strategy), FAILED, CANCELLED. A trial's parameters are unique within its experiment:
-- however many controllers propose at once, the database keeps one trial per point.
CREATE TABLE pipeline_trials (
  id TEXT PRIMARY KEY,
  experiment_id TEXT NOT NULL REFERENCES pipeline_experiments (id),
  number INT NOT NULL,
  params JSONB NOT NULL,
  params_key TEXT NOT NULL,
  status TEXT NOT NULL,
  execution_id TEXT,
  metric DOUBLE PRECISION,
  epochs INT NOT NULL DEFAULT 0,
  logged_epochs INT NOT NULL DEFAULT 0,
  rungs INT NOT NULL DEFAULT 0,
  reruns INT NOT NULL DEFAULT 0,
  error TEXT,
  created_at TIMESTAMPTZ NOT NULL,
  started_at TIMESTAMPTZ,
  finished_at TIMESTAMPTZ,
  CONSTRAINT pipeline_trials_unique_params UNIQUE (experiment_id, params_key),
  CONSTRAINT pipeline_trials_unique_number UNIQUE (experiment_id, number)
);
CREATE INDEX pipeline_trials_status ON pipeline_trials (experiment_id, status);
CREATE INDEX pipeline_trials_metric ON pipeline_trials (experiment_id, metric);

-- The values successive halving compared at each rung: kept, so a resumed experiment judges
-- later trials against the same table.
CREATE TABLE pipeline_trial_rungs (
  experiment_id TEXT NOT NULL REFERENCES pipeline_experiments (id),
  rung INT NOT NULL,
  trial_id TEXT NOT NULL,
  value DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (experiment_id, rung, trial_id)
);
