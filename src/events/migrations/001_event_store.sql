-- The event store is also the outbox: `position` is the store order the relay publishes in.
CREATE TABLE IF NOT EXISTS aimesh_events (
  position BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  source TEXT NOT NULL,
  subject TEXT,
  time TIMESTAMPTZ NOT NULL,
  target TEXT,
  correlation_id TEXT,
  causation_id TEXT,
  traceparent TEXT,
  schema_version INT NOT NULL,
  topic TEXT NOT NULL,
  data JSONB NOT NULL
);
CREATE INDEX IF NOT EXISTS aimesh_events_time ON aimesh_events (time);
CREATE INDEX IF NOT EXISTS aimesh_events_type_time ON aimesh_events (type, time);
CREATE INDEX IF NOT EXISTS aimesh_events_correlation ON aimesh_events (correlation_id) WHERE correlation_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS aimesh_events_causation ON aimesh_events (causation_id, time) WHERE causation_id IS NOT NULL;

-- How far each relay / consumer has got, durably.
CREATE TABLE IF NOT EXISTS aimesh_event_cursors (
  name TEXT PRIMARY KEY,
  position BIGINT NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
