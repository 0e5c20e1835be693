-- The claim reads queued tasks per priority, oldest first (their aged priority order), instead
-- of computing the aged priority of every queued task on every claim.
CREATE INDEX pipeline_tasks_queued_priority ON pipeline_tasks (priority DESC, enqueued_at, id)
  WHERE status = 'QUEUED';
