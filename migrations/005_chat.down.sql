DROP TABLE IF EXISTS workflow_conversation_variables;
DROP TABLE IF EXISTS message_feedbacks;
DROP TABLE IF EXISTS messages;
DROP TABLE IF EXISTS conversations;
DROP FUNCTION IF EXISTS flowrun_conflict(text, text);
