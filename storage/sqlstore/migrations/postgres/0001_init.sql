CREATE TABLE actiontrigger_workflows (
	seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
	id TEXT PRIMARY KEY,
	wf_key TEXT NOT NULL,
	title TEXT NOT NULL DEFAULT '',
	description TEXT NOT NULL DEFAULT '',
	type TEXT NOT NULL DEFAULT '',
	sync BOOLEAN NOT NULL DEFAULT FALSE,
	enabled BOOLEAN NOT NULL DEFAULT FALSE,
	is_current BOOLEAN NOT NULL DEFAULT FALSE,
	config JSONB NOT NULL,
	options JSONB NOT NULL,
	nodes JSONB NOT NULL,
	version BIGINT NOT NULL DEFAULT 0,
	executed BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT,
	updated_at BIGINT
);
CREATE UNIQUE INDEX actiontrigger_workflows_current ON actiontrigger_workflows (wf_key) WHERE is_current;
CREATE INDEX actiontrigger_workflows_key ON actiontrigger_workflows (wf_key);

CREATE TABLE actiontrigger_workflow_key_counters (
	wf_key TEXT PRIMARY KEY,
	executed BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE actiontrigger_executions (
	seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
	id TEXT PRIMARY KEY,
	workflow_id TEXT NOT NULL,
	wf_key TEXT NOT NULL,
	event_key TEXT NOT NULL DEFAULT '',
	context JSONB,
	status BIGINT NOT NULL,
	reason TEXT NOT NULL DEFAULT '',
	sync BOOLEAN NOT NULL DEFAULT FALSE,
	manually BOOLEAN NOT NULL DEFAULT FALSE,
	stack JSONB,
	runnable BOOLEAN NOT NULL DEFAULT FALSE,
	resume_job_id TEXT NOT NULL DEFAULT '',
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until BIGINT,
	attempt BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT,
	updated_at BIGINT,
	started_at BIGINT,
	expires_at BIGINT,
	ended_at BIGINT
);
CREATE UNIQUE INDEX actiontrigger_executions_event ON actiontrigger_executions (workflow_id, event_key) WHERE event_key <> '';
CREATE INDEX actiontrigger_executions_runnable ON actiontrigger_executions (seq) WHERE runnable;
CREATE INDEX actiontrigger_executions_workflow ON actiontrigger_executions (workflow_id);
CREATE INDEX actiontrigger_executions_key ON actiontrigger_executions (wf_key);

CREATE TABLE actiontrigger_jobs (
	id TEXT PRIMARY KEY,
	execution_id TEXT NOT NULL,
	node_key TEXT NOT NULL DEFAULT '',
	node_type TEXT NOT NULL DEFAULT '',
	seq BIGINT NOT NULL DEFAULT 0,
	upstream_id TEXT NOT NULL DEFAULT '',
	status BIGINT NOT NULL,
	result JSONB,
	meta JSONB,
	log TEXT NOT NULL DEFAULT '',
	branch BIGINT,
	end_ BOOLEAN NOT NULL DEFAULT FALSE,
	created_at BIGINT,
	updated_at BIGINT,
	ord BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX actiontrigger_jobs_execution ON actiontrigger_jobs (execution_id, seq);

CREATE TABLE actiontrigger_tasks (
	seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
	id TEXT PRIMARY KEY,
	job_id TEXT NOT NULL DEFAULT '',
	execution_id TEXT NOT NULL DEFAULT '',
	workflow_id TEXT NOT NULL DEFAULT '',
	workflow_key TEXT NOT NULL DEFAULT '',
	node_key TEXT NOT NULL DEFAULT '',
	user_id TEXT NOT NULL DEFAULT '',
	title TEXT NOT NULL DEFAULT '',
	status BIGINT NOT NULL,
	result JSONB,
	created_at BIGINT,
	updated_at BIGINT
);
CREATE INDEX actiontrigger_tasks_user ON actiontrigger_tasks (user_id, status);
CREATE INDEX actiontrigger_tasks_job ON actiontrigger_tasks (job_id);
CREATE INDEX actiontrigger_tasks_execution ON actiontrigger_tasks (execution_id);
