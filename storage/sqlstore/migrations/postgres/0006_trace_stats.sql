-- Observability. trace holds the trace context of the request that queued an
-- execution (flow.Execution.Trace, opaque text; NULL: none, the common case),
-- so that its runs on the workers join that trace.
ALTER TABLE actiontrigger_executions ADD COLUMN IF NOT EXISTS trace TEXT;
-- QueueStats counts the tasks waiting for a decision from this index alone,
-- whatever the number of decided tasks kept.
CREATE INDEX IF NOT EXISTS actiontrigger_tasks_pending ON actiontrigger_tasks (created_at) WHERE status = 0;
