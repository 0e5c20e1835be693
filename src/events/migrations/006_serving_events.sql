-- The model server records its part of each call as ai.serving.completed / ai.serving.failed
-- (the gateway keeps ai.inference.*), so these are per-call events too: most rows, each kept
-- out of the (type, time) index like the others, which spares every append that index's upkeep.
-- The new index is built before the old one goes, so lookups of the rare types always have one.
CREATE INDEX IF NOT EXISTS aimesh_events_type_time_rare_v2 ON aimesh_events (type, time)
  WHERE type NOT IN (
    'ai.inference.completed', 'ai.inference.failed', 'ai.inference.metrics',
    'ai.serving.completed', 'ai.serving.failed'
  );
DROP INDEX IF EXISTS aimesh_events_type_time_rare;
