-- Execution records: workflow runs, node executions and app logs, with the
-- columns of Dify's tables. JSON values are jsonb. Every row carries seq, its
-- version within the run; writers upsert with a guard so that only a version
-- that ranks higher replaces a row (see internal/repo, Supersedes):
-- a terminal status beats a non-terminal one, then the higher seq wins.
-- Record ids are UUIDs; app, tenant and workflow ids are opaque text.

-- flowrun_terminal mirrors repo.Status.Terminal.
CREATE FUNCTION flowrun_terminal(status text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT status IN ('succeeded', 'failed', 'stopped', 'partial-succeeded', 'exception') $$;

-- flowrun_conflict raises unique_violation: an upsert calls it when a record
-- id already belongs to another run or app, so the batch fails with
-- repo.ErrConflict instead of silently moving the record.
CREATE FUNCTION flowrun_conflict(tbl text, id uuid) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION USING
		ERRCODE = 'unique_violation',
		MESSAGE = format('%s %s belongs to another run or app', tbl, id),
		TABLE = tbl;
END
$$;

CREATE TABLE workflow_runs (
	id               uuid PRIMARY KEY,
	tenant_id        text NOT NULL DEFAULT '',
	app_id           text NOT NULL,
	workflow_id      text NOT NULL DEFAULT '',
	type             text NOT NULL DEFAULT '',
	triggered_from   text NOT NULL DEFAULT '',
	version          text NOT NULL DEFAULT '',
	graph            jsonb,
	inputs           jsonb,
	status           text NOT NULL,
	outputs          jsonb,
	error            text NOT NULL DEFAULT '',
	elapsed_time     double precision NOT NULL DEFAULT 0,
	total_tokens     bigint NOT NULL DEFAULT 0,
	total_steps      bigint NOT NULL DEFAULT 0,
	exceptions_count bigint NOT NULL DEFAULT 0,
	created_by_role  text NOT NULL DEFAULT '',
	created_by       text NOT NULL DEFAULT '',
	session_id       text NOT NULL DEFAULT '',
	created_at       timestamptz NOT NULL,
	finished_at      timestamptz,
	seq              bigint NOT NULL
);
-- Dify's workflow_run_triggerd_from_idx, for listing an app's runs.
CREATE INDEX workflow_runs_app_idx ON workflow_runs (app_id, triggered_from, created_at DESC);

CREATE TABLE workflow_node_executions (
	id                  uuid PRIMARY KEY,
	tenant_id           text NOT NULL DEFAULT '',
	app_id              text NOT NULL,
	workflow_id         text NOT NULL DEFAULT '',
	triggered_from      text NOT NULL DEFAULT '',
	workflow_run_id     uuid NOT NULL,
	index               bigint NOT NULL DEFAULT 0,
	predecessor_node_id text NOT NULL DEFAULT '',
	node_id             text NOT NULL DEFAULT '',
	node_type           text NOT NULL DEFAULT '',
	title               text NOT NULL DEFAULT '',
	inputs              jsonb,
	process_data        jsonb,
	outputs             jsonb,
	status              text NOT NULL,
	error               text NOT NULL DEFAULT '',
	elapsed_time        double precision NOT NULL DEFAULT 0,
	execution_metadata  jsonb,
	iteration_id        text NOT NULL DEFAULT '',
	loop_id             text NOT NULL DEFAULT '',
	created_by_role     text NOT NULL DEFAULT '',
	created_by          text NOT NULL DEFAULT '',
	created_at          timestamptz NOT NULL,
	finished_at         timestamptz,
	seq                 bigint NOT NULL
);
-- GET /workflows/run/{id}/node-executions: a run's executions by index.
CREATE INDEX workflow_node_executions_run_idx ON workflow_node_executions (workflow_run_id, index, created_at, id);

CREATE TABLE workflow_app_logs (
	id              uuid PRIMARY KEY,
	tenant_id       text NOT NULL DEFAULT '',
	app_id          text NOT NULL,
	workflow_id     text NOT NULL DEFAULT '',
	workflow_run_id uuid NOT NULL,
	created_from    text NOT NULL DEFAULT '',
	created_by_role text NOT NULL DEFAULT '',
	created_by      text NOT NULL DEFAULT '',
	session_id      text NOT NULL DEFAULT '',
	created_at      timestamptz NOT NULL,
	seq             bigint NOT NULL
);
-- GET /workflows/logs: an app's logs newest first, with created_at bounds.
CREATE INDEX workflow_app_logs_app_created_idx ON workflow_app_logs (app_id, created_at DESC, id DESC);
-- created_by_end_user_session_id filter.
CREATE INDEX workflow_app_logs_app_session_idx ON workflow_app_logs (app_id, session_id, created_at DESC, id DESC);
CREATE INDEX workflow_app_logs_run_idx ON workflow_app_logs (workflow_run_id);
