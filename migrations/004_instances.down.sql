DROP INDEX IF EXISTS workflow_node_executions_running_idx;
DROP INDEX IF EXISTS workflow_runs_running_idx;
ALTER TABLE workflow_runs DROP COLUMN IF EXISTS instance_id;
DROP TABLE IF EXISTS instances;
