DROP INDEX conversations_app_updated_idx;
DROP FUNCTION flowrun_log_recount(text[], date[]);
DROP FUNCTION flowrun_log_seal(date);
DROP FUNCTION flowrun_log_counts_lock();
DROP TABLE workflow_log_counts_sealed;
DROP TABLE workflow_log_counts;
