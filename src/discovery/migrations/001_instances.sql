-- Service instances known to discovery: one row per live registration, renewed by heartbeats.
CREATE TABLE IF NOT EXISTS aimesh_discovery_instances (
  id                TEXT PRIMARY KEY,
  service           TEXT NOT NULL,
  url               TEXT NOT NULL,
  metadata          JSONB NOT NULL DEFAULT '{}'::jsonb,
  registered_at     TIMESTAMPTZ NOT NULL,
  last_heartbeat_at TIMESTAMPTZ NOT NULL,
  ttl_ms            INTEGER NOT NULL,
  expires_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS aimesh_discovery_instances_service ON aimesh_discovery_instances (service, expires_at);
