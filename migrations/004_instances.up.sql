-- API instances and their heartbeats. Each API process (sync and async
-- modes) registers a fresh id at start and refreshes heartbeat_at; runs
-- record the instance that executes them. When an instance stops
-- heartbeating, any instance closes its runs still "running" as failed
-- ("instance lost").
CREATE TABLE instances (
	id           uuid PRIMARY KEY,
	hostname     text NOT NULL DEFAULT '',
	started_at   timestamptz NOT NULL DEFAULT now(),
	heartbeat_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE workflow_runs ADD COLUMN instance_id uuid;
-- Finding the runs of a lost instance touches only running rows.
CREATE INDEX workflow_runs_running_idx ON workflow_runs (instance_id) WHERE status = 'running';
CREATE INDEX workflow_node_executions_running_idx ON workflow_node_executions (workflow_run_id) WHERE status IN ('running', 'retry');
