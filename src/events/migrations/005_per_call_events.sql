-- Per-call events (one per proxied call or inference) are nearly all of the store. Two changes
-- make each of their appends cheaper for the server (measured together: 28 -> 20 µs of its CPU
-- a row on the development machine):
--
-- Data is JSON, kept as the text it came in: checked to be valid JSON, not converted to jsonb's
-- binary form on every append. Nothing in SQL looks inside it; reads parse it either way.
ALTER TABLE aimesh_events ALTER COLUMN data TYPE json USING data::json;

-- The type index leaves the per-call types out. A query for them is a walk over recent store
-- positions anyway (they are most rows), while every other type (promotions, trainings,
-- evaluations) stays a quick index lookup however large the store grows.
DROP INDEX IF EXISTS aimesh_events_type_time;
CREATE INDEX IF NOT EXISTS aimesh_events_type_time_rare ON aimesh_events (type, time)
  WHERE type NOT IN ('ai.inference.completed', 'ai.inference.failed', 'ai.inference.metrics');
