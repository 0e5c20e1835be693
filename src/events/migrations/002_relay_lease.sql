-- Who may run the outbox relay: one row per relay name, held by one process until it expires.
-- Times come from the database's clock, the one clock every process agrees on.
CREATE TABLE IF NOT EXISTS aimesh_event_leases (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL
);
