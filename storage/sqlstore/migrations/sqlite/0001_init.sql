CREATE TABLE actiontrigger_workflows (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	id TEXT NOT NULL UNIQUE,
	wf_key TEXT NOT NULL,
	title TEXT NOT NULL DEFAULT '',
	description TEXT NOT NULL DEFAULT '',
	type TEXT NOT NULL DEFAULT '',
	sync INTEGER NOT NULL DEFAULT 0,
	enabled INTEGER NOT NULL DEFAULT 0,
	is_current INTEGER NOT NULL DEFAULT 0,
	config TEXT NOT NULL,
	options TEXT NOT NULL,
	nodes TEXT NOT NULL,
	version INTEGER NOT NULL DEFAULT 0,
	executed INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER,
	updated_at INTEGER
);
CREATE UNIQUE INDEX actiontrigger_workflows_current ON actiontrigger_workflows (wf_key) WHERE is_current;
CREATE INDEX actiontrigger_workflows_key ON actiontrigger_workflows (wf_key);

CREATE TABLE actiontrigger_workflow_key_counters (
	wf_key TEXT PRIMARY KEY,
	executed INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE actiontrigger_executions (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	id TEXT NOT NULL UNIQUE,
	workflow_id TEXT NOT NULL,
	wf_key TEXT NOT NULL,
	event_key TEXT NOT NULL DEFAULT '',
	context TEXT,
	status INTEGER NOT NULL,
	reason TEXT NOT NULL DEFAULT '',
	sync INTEGER NOT NULL DEFAULT 0,
	manually INTEGER NOT NULL DEFAULT 0,
	stack TEXT,
	runnable INTEGER NOT NULL DEFAULT 0,
	resume_job_id TEXT NOT NULL DEFAULT '',
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until INTEGER,
	attempt INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER,
	updated_at INTEGER,
	started_at INTEGER,
	expires_at INTEGER,
	ended_at INTEGER
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
	seq INTEGER NOT NULL DEFAULT 0,
	upstream_id TEXT NOT NULL DEFAULT '',
	status INTEGER NOT NULL,
	result TEXT,
	meta TEXT,
	log TEXT NOT NULL DEFAULT '',
	branch INTEGER,
	end_ INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER,
	updated_at INTEGER
);
CREATE INDEX actiontrigger_jobs_execution ON actiontrigger_jobs (execution_id, seq);

CREATE TABLE actiontrigger_tasks (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	id TEXT NOT NULL UNIQUE,
	job_id TEXT NOT NULL DEFAULT '',
	execution_id TEXT NOT NULL DEFAULT '',
	workflow_id TEXT NOT NULL DEFAULT '',
	workflow_key TEXT NOT NULL DEFAULT '',
	node_key TEXT NOT NULL DEFAULT '',
	user_id TEXT NOT NULL DEFAULT '',
	title TEXT NOT NULL DEFAULT '',
	status INTEGER NOT NULL,
	result TEXT,
	created_at INTEGER,
	updated_at INTEGER
);
CREATE INDEX actiontrigger_tasks_user ON actiontrigger_tasks (user_id, status);
CREATE INDEX actiontrigger_tasks_job ON actiontrigger_tasks (job_id);
CREATE INDEX actiontrigger_tasks_execution ON actiontrigger_tasks (execution_id);
