-- Execution records and chat messages partitioned by day (native
-- declarative partitioning, RANGE on a `day` column), so that retention
-- drops whole partitions instead of deleting rows (see docs/persistence.md,
-- "Partitions and retention").
--
-- The partition key must be the same for every version of a record: an
-- upsert's ON CONFLICT names the primary key, which on a partitioned table
-- includes the key, so a version with another day would be a second row.
-- `day` is therefore derived from an id that every version carries, never
-- from a time that versions may disagree on:
--
--   workflow_runs, workflow_node_executions, workflow_app_logs: the run's id
--     (a run, its node executions and its app log share one partition);
--   messages: the message's id.
--
-- flowrun_day(id, at) is the UTC day of the id's time when the id is a
-- time-ordered UUID (version 7, as flowrun makes every run, node execution
-- and message id), and otherwise the UTC day of `at`, the record's
-- created_at (ids made elsewhere, e.g. imported; their versions share
-- created_at). internal/repo/sql.Day is the same function in Go: writers
-- send `day` with each row.
--
-- Each table has a DEFAULT partition for rows of days that have no
-- partition yet, so a write never fails for want of one. flowrun_partition
-- creates a day's partition, moving that day's rows out of the default
-- partition; the partition maintainer (cmd/api) creates them ahead of time
-- and drops those older than RECORDS_RETENTION.
--
-- Conversations, conversation variables and feedback are not partitioned:
-- they grow per conversation or per rating, not per run.

CREATE FUNCTION flowrun_day(id uuid, at timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT CASE
		WHEN substr(id::text, 15, 1) = '7' AND substr(id::text, 20, 1) IN ('8', '9', 'a', 'b')
		THEN (to_timestamp(('x' || lpad(substr(id::text, 1, 8) || substr(id::text, 10, 4), 16, '0'))::bit(64)::bigint / 1000.0)
			AT TIME ZONE 'UTC')::date
		ELSE (at AT TIME ZONE 'UTC')::date
	END
$$;

-- flowrun_partition creates the partition of parent for one day, named
-- <parent>_pYYYYMMDD, unless it exists, moving the rows of that day out of
-- the default partition first. It returns whether it created one.
CREATE FUNCTION flowrun_partition(parent text, d date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
	part text := parent || '_p' || to_char(d, 'YYYYMMDD');
BEGIN
	IF to_regclass(quote_ident(part)) IS NOT NULL THEN
		RETURN false;
	END IF;
	EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', part, parent);
	EXECUTE format('WITH moved AS (DELETE FROM %I WHERE day = %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
		parent || '_default', d, part);
	EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', parent, part, d, d + 1);
	RETURN true;
END
$$;

ALTER TABLE workflow_runs RENAME TO workflow_runs_005;
ALTER TABLE workflow_node_executions RENAME TO workflow_node_executions_005;
ALTER TABLE workflow_app_logs RENAME TO workflow_app_logs_005;
ALTER TABLE messages RENAME TO messages_005;

CREATE TABLE workflow_runs (LIKE workflow_runs_005 INCLUDING DEFAULTS, day date NOT NULL) PARTITION BY RANGE (day);
CREATE TABLE workflow_node_executions (LIKE workflow_node_executions_005 INCLUDING DEFAULTS, day date NOT NULL) PARTITION BY RANGE (day);
CREATE TABLE workflow_app_logs (LIKE workflow_app_logs_005 INCLUDING DEFAULTS, day date NOT NULL) PARTITION BY RANGE (day);
CREATE TABLE messages (LIKE messages_005 INCLUDING DEFAULTS, day date NOT NULL) PARTITION BY RANGE (day);

CREATE TABLE workflow_runs_default PARTITION OF workflow_runs DEFAULT;
CREATE TABLE workflow_node_executions_default PARTITION OF workflow_node_executions DEFAULT;
CREATE TABLE workflow_app_logs_default PARTITION OF workflow_app_logs DEFAULT;
CREATE TABLE messages_default PARTITION OF messages DEFAULT;

-- A partition for every day that holds records (within ten years back) and
-- for the next week; rows of other days go to the default partitions.
DO $$
DECLARE
	d date;
	t text;
BEGIN
	FOR d IN
		SELECT DISTINCT x FROM (
			SELECT flowrun_day(id, created_at) FROM workflow_runs_005
			UNION SELECT flowrun_day(workflow_run_id, created_at) FROM workflow_node_executions_005
			UNION SELECT flowrun_day(workflow_run_id, created_at) FROM workflow_app_logs_005
			UNION SELECT flowrun_day(id, created_at) FROM messages_005
			UNION SELECT generate_series(current_date, current_date + 7, interval '1 day')::date
		) AS days (x)
		WHERE x BETWEEN current_date - 3653 AND current_date + 7
	LOOP
		FOREACH t IN ARRAY ARRAY['workflow_runs', 'workflow_node_executions', 'workflow_app_logs', 'messages'] LOOP
			PERFORM flowrun_partition(t, d);
		END LOOP;
	END LOOP;
END
$$;

INSERT INTO workflow_runs SELECT *, flowrun_day(id, created_at) FROM workflow_runs_005;
INSERT INTO workflow_node_executions SELECT *, flowrun_day(workflow_run_id, created_at) FROM workflow_node_executions_005;
INSERT INTO workflow_app_logs SELECT *, flowrun_day(workflow_run_id, created_at) FROM workflow_app_logs_005;
INSERT INTO messages SELECT *, flowrun_day(id, created_at) FROM messages_005;

DROP TABLE workflow_runs_005, workflow_node_executions_005, workflow_app_logs_005, messages_005;

-- The indexes of 001, 004 and 005, on every partition. A unique index on a
-- partitioned table must include the partition key.
ALTER TABLE workflow_runs ADD PRIMARY KEY (id, day);
CREATE INDEX workflow_runs_app_idx ON workflow_runs (app_id, triggered_from, created_at DESC);
CREATE INDEX workflow_runs_running_idx ON workflow_runs (instance_id) WHERE status = 'running';
-- The per-app summary (run count, error rate, latency percentiles over a
-- window) reads only this index; so does the count of a runs list
-- filtered by status, joined to the logs' index below by (id, day).
CREATE INDEX workflow_runs_app_created_idx ON workflow_runs (app_id, created_at) INCLUDE (status, elapsed_time, id, day);

ALTER TABLE workflow_node_executions ADD PRIMARY KEY (id, day);
CREATE INDEX workflow_node_executions_run_idx ON workflow_node_executions (workflow_run_id, index, created_at, id);
CREATE INDEX workflow_node_executions_running_idx ON workflow_node_executions (workflow_run_id) WHERE status IN ('running', 'retry');

ALTER TABLE workflow_app_logs ADD PRIMARY KEY (id, day);
-- The runs list; it carries the run's key, so that counting a list
-- filtered on the run reads no log row.
CREATE INDEX workflow_app_logs_app_created_idx ON workflow_app_logs (app_id, created_at DESC, id DESC) INCLUDE (workflow_run_id, day);
CREATE INDEX workflow_app_logs_app_session_idx ON workflow_app_logs (app_id, session_id, created_at DESC, id DESC);
CREATE INDEX workflow_app_logs_run_idx ON workflow_app_logs (workflow_run_id);

ALTER TABLE messages ADD PRIMARY KEY (id, day);
CREATE INDEX messages_conversation_idx ON messages (conversation_id, created_at DESC, id DESC);
