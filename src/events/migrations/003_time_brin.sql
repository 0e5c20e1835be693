-- Events are appended in time order, so a BRIN index (a few bytes per range of blocks) answers
-- time-range queries at a fraction of a B-tree's upkeep on every append, the store's hot path.
DROP INDEX IF EXISTS aimesh_events_time;
CREATE INDEX IF NOT EXISTS aimesh_events_time_brin ON aimesh_events USING brin (time);
