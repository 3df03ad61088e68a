-- Back to the plain tables of 005, with every row (the partitions' rows
-- move into one table each); `day` is dropped.

DO $$
DECLARE
	t text;
	cols text;
BEGIN
	FOREACH t IN ARRAY ARRAY['workflow_runs', 'workflow_node_executions', 'workflow_app_logs', 'messages'] LOOP
		EXECUTE format('ALTER TABLE %I RENAME TO %I', t, t || '_006');
		EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', t, t || '_006');
		EXECUTE format('ALTER TABLE %I DROP COLUMN day', t);
		SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
			FROM pg_attribute WHERE attrelid = t::regclass AND attnum > 0 AND NOT attisdropped;
		EXECUTE format('INSERT INTO %I (%s) SELECT %s FROM %I', t, cols, cols, t || '_006');
		EXECUTE format('DROP TABLE %I', t || '_006');
	END LOOP;
END
$$;

DROP FUNCTION flowrun_partition(text, date);
DROP FUNCTION flowrun_day(uuid, timestamptz);

ALTER TABLE workflow_runs ADD PRIMARY KEY (id);
CREATE INDEX workflow_runs_app_idx ON workflow_runs (app_id, triggered_from, created_at DESC);
CREATE INDEX workflow_runs_running_idx ON workflow_runs (instance_id) WHERE status = 'running';

ALTER TABLE workflow_node_executions ADD PRIMARY KEY (id);
CREATE INDEX workflow_node_executions_run_idx ON workflow_node_executions (workflow_run_id, index, created_at, id);
CREATE INDEX workflow_node_executions_running_idx ON workflow_node_executions (workflow_run_id) WHERE status IN ('running', 'retry');

ALTER TABLE workflow_app_logs ADD PRIMARY KEY (id);
CREATE INDEX workflow_app_logs_app_created_idx ON workflow_app_logs (app_id, created_at DESC, id DESC);
CREATE INDEX workflow_app_logs_app_session_idx ON workflow_app_logs (app_id, session_id, created_at DESC, id DESC);
CREATE INDEX workflow_app_logs_run_idx ON workflow_app_logs (workflow_run_id);

ALTER TABLE messages ADD PRIMARY KEY (id);
CREATE INDEX messages_conversation_idx ON messages (conversation_id, created_at DESC, id DESC);
