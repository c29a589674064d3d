-- Execution counters split into shards (rows summed on read), so that
-- concurrent transactions counting executions of one workflow lock different
-- rows instead of queueing on one until each commits.
CREATE TABLE IF NOT EXISTS actiontrigger_workflow_counter_shards (
	workflow_id TEXT NOT NULL,
	shard INTEGER NOT NULL,
	executed INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (workflow_id, shard)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS actiontrigger_key_counter_shards (
	wf_key TEXT NOT NULL,
	shard INTEGER NOT NULL,
	executed INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (wf_key, shard)
) WITHOUT ROWID;
-- The counts so far move to shard 0.
INSERT INTO actiontrigger_workflow_counter_shards (workflow_id, shard, executed)
	SELECT id, 0, executed FROM actiontrigger_workflows WHERE executed <> 0 AND true
	ON CONFLICT (workflow_id, shard) DO NOTHING;
INSERT INTO actiontrigger_key_counter_shards (wf_key, shard, executed)
	SELECT wf_key, 0, executed FROM actiontrigger_workflow_key_counters WHERE executed <> 0 AND true
	ON CONFLICT (wf_key, shard) DO NOTHING;
-- Dropped rather than kept: code of schema 1 still running against this
-- database fails loudly instead of counting where nobody reads.
ALTER TABLE actiontrigger_workflows DROP COLUMN executed;
DROP TABLE IF EXISTS actiontrigger_workflow_key_counters;
