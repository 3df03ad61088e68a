DROP TABLE IF EXISTS workflow_app_logs;
DROP TABLE IF EXISTS workflow_node_executions;
DROP TABLE IF EXISTS workflow_runs;
DROP FUNCTION IF EXISTS flowrun_conflict(text, uuid);
DROP FUNCTION IF EXISTS flowrun_terminal(text);
