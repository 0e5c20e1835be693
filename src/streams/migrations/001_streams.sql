-- Which events a consumer group has handled: a redelivery finds its row and is not handled twice.
-- Written in the handler's transaction, so a handler that fails leaves no row behind.
CREATE TABLE IF NOT EXISTS aimesh_stream_processed (
  consumer TEXT COLLATE "C" NOT NULL,
  event_id TEXT COLLATE "C" NOT NULL,
  processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);

-- Per-inference metrics the handlers store (the follow-up ai.inference.metrics event's data).
CREATE TABLE IF NOT EXISTS aimesh_stream_inference_metrics (
  event_id TEXT COLLATE "C" PRIMARY KEY,
  model_id TEXT NOT NULL,
  latency_ms DOUBLE PRECISION NOT NULL,
  at TIMESTAMPTZ NOT NULL
);

-- Training runs seen starting, and what was set aside for each.
CREATE TABLE IF NOT EXISTS aimesh_stream_training (
  execution_id TEXT PRIMARY KEY,
  event_id TEXT NOT NULL,
  started_at TIMESTAMPTZ NOT NULL,
  resources JSONB NOT NULL
);

-- Every evaluation and what auto-deploy decided, with the reason.
CREATE TABLE IF NOT EXISTS aimesh_stream_evaluations (
  event_id TEXT COLLATE "C" PRIMARY KEY,
  model TEXT NOT NULL,
  version INT NOT NULL,
  accuracy DOUBLE PRECISION NOT NULL,
  improvement DOUBLE PRECISION,
  promoted BOOLEAN NOT NULL,
  reason TEXT NOT NULL,
  at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Closed windows' aggregates, by key and start.
CREATE TABLE IF NOT EXISTS aimesh_stream_windows (
  key TEXT COLLATE "C" NOT NULL,
  window_start TIMESTAMPTZ NOT NULL,
  window_end TIMESTAMPTZ NOT NULL,
  count BIGINT NOT NULL,
  errors BIGINT NOT NULL,
  latency_mean DOUBLE PRECISION NOT NULL,
  latency_p50 DOUBLE PRECISION NOT NULL,
  latency_p95 DOUBLE PRECISION NOT NULL,
  latency_p99 DOUBLE PRECISION NOT NULL,
  tokens DOUBLE PRECISION NOT NULL,
  cost DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (key, window_start)
);
CREATE INDEX IF NOT EXISTS aimesh_stream_windows_start ON aimesh_stream_windows (window_start);

-- The stream processor's state as of its last commit: open windows, stream time, counters.
CREATE TABLE IF NOT EXISTS aimesh_stream_snapshots (
  name TEXT PRIMARY KEY,
  state JSONB NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Webhook deliveries that failed after every attempt.
CREATE TABLE IF NOT EXISTS aimesh_stream_webhook_failures (
  id BIGSERIAL PRIMARY KEY,
  url TEXT NOT NULL,
  event_id TEXT NOT NULL,
  attempts INT NOT NULL,
  error TEXT NOT NULL,
  at TIMESTAMPTZ NOT NULL DEFAULT now()
);
