-- The CloudEvents `partitionkey` extension: consumers keep the events of one key in order.
ALTER TABLE aimesh_events ADD COLUMN IF NOT EXISTS partition_key TEXT COLLATE "C";
