-- Datasets: a name, and content-addressed versions (the sha256 of the CSV is the version id).
CREATE TABLE registry_datasets (
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  created_by TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE registry_dataset_versions (
  dataset TEXT NOT NULL REFERENCES registry_datasets (name),
  version TEXT NOT NULL,
  uri TEXT NOT NULL,
  size_bytes BIGINT NOT NULL,
  row_count BIGINT NOT NULL,
  columns JSONB NOT NULL,
  created_by TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (dataset, version)
);
CREATE INDEX registry_dataset_versions_version ON registry_dataset_versions (version);

-- Experiment tracking in MLflow's shape.
CREATE TABLE registry_experiments (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'active',
  created_by TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  tags JSONB NOT NULL DEFAULT '{}'
);

CREATE TABLE registry_runs (
  id TEXT PRIMARY KEY,
  experiment_id TEXT NOT NULL REFERENCES registry_experiments (id),
  name TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL,
  created_by TEXT NOT NULL,
  start_time TIMESTAMPTZ NOT NULL,
  end_time TIMESTAMPTZ,
  artifact_uri TEXT,
  tags JSONB NOT NULL DEFAULT '{}',
  dataset_versions JSONB NOT NULL DEFAULT '[]'
);
-- Search pages newest first within an experiment.
CREATE INDEX registry_runs_experiment_start ON registry_runs (experiment_id, start_time DESC, id DESC);

-- Params are written once (primary key), as text like MLflow's; value_number holds the value
-- when it reads as a finite number, so `params.lr = 0.01` is an index lookup the planner can
-- estimate (a cast inside the query is neither).
CREATE TABLE registry_run_params (
  run_id TEXT NOT NULL REFERENCES registry_runs (id),
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  value_number DOUBLE PRECISION,
  PRIMARY KEY (run_id, key)
);
CREATE INDEX registry_run_params_key_value ON registry_run_params (key, value, run_id);
CREATE INDEX registry_run_params_key_number ON registry_run_params (key, value_number, run_id);

-- Every logged metric value, append-only.
CREATE TABLE registry_run_metric_history (
  seq BIGSERIAL PRIMARY KEY,
  run_id TEXT NOT NULL REFERENCES registry_runs (id),
  key TEXT NOT NULL,
  value DOUBLE PRECISION NOT NULL,
  step BIGINT NOT NULL,
  logged_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX registry_run_metric_history_run ON registry_run_metric_history (run_id, key, step);

-- The latest value per (run, metric), what search filters and orders on: one narrow row per
-- metric keeps `metrics.accuracy > 0.9` an index range scan over (key, value).
CREATE TABLE registry_run_metrics (
  run_id TEXT NOT NULL REFERENCES registry_runs (id),
  key TEXT NOT NULL,
  value DOUBLE PRECISION NOT NULL,
  step BIGINT NOT NULL,
  logged_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (run_id, key)
);
CREATE INDEX registry_run_metrics_key_value ON registry_run_metrics (key, value, run_id);

-- Registered models; last_version is bumped under the row lock, so numbering is race-free.
CREATE TABLE registry_models (
  name TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  tags JSONB NOT NULL DEFAULT '{}',
  last_version INT NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX registry_models_type ON registry_models (type);

CREATE TABLE registry_model_versions (
  model TEXT NOT NULL REFERENCES registry_models (name),
  version INT NOT NULL,
  format TEXT NOT NULL,
  artifact_uri TEXT NOT NULL,
  artifacts JSONB NOT NULL DEFAULT '[]',
  metrics JSONB NOT NULL DEFAULT '{}',
  params JSONB NOT NULL DEFAULT '{}',
  run_id TEXT,
  experiment_id TEXT,
  dataset TEXT,
  dataset_version TEXT,
  status TEXT NOT NULL DEFAULT 'ready',
  created_by TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (model, version)
);
CREATE INDEX registry_model_versions_experiment ON registry_model_versions (experiment_id);
CREATE INDEX registry_model_versions_created ON registry_model_versions (created_at DESC);

CREATE TABLE registry_model_aliases (
  model TEXT NOT NULL REFERENCES registry_models (name),
  alias TEXT NOT NULL,
  version INT NOT NULL,
  updated_by TEXT NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (model, alias),
  FOREIGN KEY (model, version) REFERENCES registry_model_versions (model, version)
);

-- Lineage, OpenLineage-style: nodes are datasets (namespace + name), jobs, runs, model versions;
-- edges say "node A was an input of / output of node B".
CREATE TABLE registry_lineage_runs (
  run_id TEXT PRIMARY KEY,
  job_namespace TEXT NOT NULL,
  job_name TEXT NOT NULL,
  state TEXT NOT NULL,
  event_time TIMESTAMPTZ NOT NULL,
  facets JSONB NOT NULL DEFAULT '{}'
);

CREATE TABLE registry_lineage_edges (
  source TEXT NOT NULL,
  target TEXT NOT NULL,
  run_id TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (source, target)
);
CREATE INDEX registry_lineage_edges_target ON registry_lineage_edges (target);
