-- Durable timers and node retries. run_after (Unix microseconds, NULL: none)
-- is the earliest time a runnable execution may be claimed. retries holds a
-- job's failed attempts and snoozes as JSON text (NULL: none, the common
-- case), read and written whole with the job.
ALTER TABLE actiontrigger_executions ADD COLUMN run_after INTEGER;
ALTER TABLE actiontrigger_jobs ADD COLUMN retries TEXT;
-- The claim reads two indexes: the runnable executions without a timer in
-- creation order, and those with one by due time, so that executions waiting
-- out a timer are never scanned before they are due.
DROP INDEX IF EXISTS actiontrigger_executions_runnable;
CREATE INDEX IF NOT EXISTS actiontrigger_executions_ready ON actiontrigger_executions (seq) WHERE runnable AND run_after IS NULL;
CREATE INDEX IF NOT EXISTS actiontrigger_executions_timers ON actiontrigger_executions (run_after) WHERE runnable AND run_after IS NOT NULL;
