-- Chat records of chatflow (advanced-chat) apps: conversations, their
-- messages, the end users' feedback on messages and the conversation
-- variables, with the columns of Dify's tables that flowrun keeps (see
-- internal/repo, Conversation). session_id is the API's `user`, as in
-- workflow_runs.
--
-- Versions: seq is the time of the change in microseconds. Writers upsert
-- with a guard, as for execution records: a row is replaced only by a
-- version that ranks higher, where a deleted version (is_deleted) ranks
-- above every other and then the higher seq wins. A record id that already
-- belongs to another app, user, conversation or message fails the batch
-- (flowrun_conflict).
--
-- Any record may arrive first. A message, variable or feedback whose
-- conversation has no row yet creates a pending one (pending, seq -1):
-- readers never see it, and the conversation's own record replaces it.
-- Every write of a record in a conversation goes through the
-- conversation's row first (and locks it), so records of a conversation
-- deleted meanwhile are dropped: the deletion removes what the
-- conversation held, and later records of it are not inserted.
-- flowrun_conflict for tables whose id is text (conversation variables).
CREATE FUNCTION flowrun_conflict(tbl text, id text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION USING
		ERRCODE = 'unique_violation',
		MESSAGE = format('%s %s belongs to another app', tbl, id),
		TABLE = tbl;
END
$$;

CREATE TABLE conversations (
	id              uuid PRIMARY KEY,
	app_id          text NOT NULL,
	session_id      text NOT NULL DEFAULT '',
	name            text NOT NULL DEFAULT '',
	inputs          jsonb,
	introduction    text NOT NULL DEFAULT '',
	status          text NOT NULL DEFAULT '',
	created_at      timestamptz NOT NULL,
	-- The record's updated_at, raised to last_message_at: a turn bumps
	-- it without rewriting the row's other columns (a rename that raced
	-- the turn stands).
	updated_at      timestamptz NOT NULL,
	is_deleted      boolean NOT NULL DEFAULT false,
	seq             bigint NOT NULL,
	-- The latest created_at of the messages written to the conversation.
	last_message_at timestamptz,
	pending         boolean NOT NULL DEFAULT false
);
-- GET /conversations: a user's conversations by updated_at or created_at,
-- either way (an index scans backwards too).
CREATE INDEX conversations_user_updated_idx ON conversations (app_id, session_id, updated_at DESC, id DESC)
	WHERE NOT is_deleted AND NOT pending;
CREATE INDEX conversations_user_created_idx ON conversations (app_id, session_id, created_at DESC, id DESC)
	WHERE NOT is_deleted AND NOT pending;

CREATE TABLE messages (
	id                        uuid PRIMARY KEY,
	app_id                    text NOT NULL,
	conversation_id           uuid NOT NULL,
	session_id                text NOT NULL DEFAULT '',
	workflow_run_id           uuid,
	inputs                    jsonb,
	query                     text NOT NULL DEFAULT '',
	answer                    text NOT NULL DEFAULT '',
	status                    text NOT NULL DEFAULT '',
	error                     text NOT NULL DEFAULT '',
	message_metadata          jsonb,
	-- Dify keeps a message's files in message_files rows; here they are
	-- one JSON array.
	message_files             jsonb,
	message_tokens            bigint NOT NULL DEFAULT 0,
	answer_tokens             bigint NOT NULL DEFAULT 0,
	-- A decimal string, kept as written (Dify: numeric(10,7)).
	total_price               text NOT NULL DEFAULT '',
	currency                  text NOT NULL DEFAULT '',
	provider_response_latency double precision NOT NULL DEFAULT 0,
	created_at                timestamptz NOT NULL,
	updated_at                timestamptz NOT NULL,
	seq                       bigint NOT NULL
);
-- GET /messages and a turn's history: a conversation's messages newest
-- first; the count of a conversation's messages.
CREATE INDEX messages_conversation_idx ON messages (conversation_id, created_at DESC, id DESC);

CREATE TABLE message_feedbacks (
	id              uuid PRIMARY KEY,
	app_id          text NOT NULL,
	conversation_id uuid NOT NULL,
	message_id      uuid NOT NULL,
	session_id      text NOT NULL DEFAULT '',
	rating          text NOT NULL DEFAULT '',
	content         text NOT NULL DEFAULT '',
	from_source     text NOT NULL DEFAULT '',
	created_at      timestamptz NOT NULL,
	updated_at      timestamptz NOT NULL,
	-- A withdrawn rating (Dify deletes the row).
	is_deleted      boolean NOT NULL DEFAULT false,
	seq             bigint NOT NULL
);
-- GET /app/feedbacks: an app's feedback newest first.
CREATE INDEX message_feedbacks_app_idx ON message_feedbacks (app_id, created_at DESC, id DESC) WHERE NOT is_deleted;
-- The feedback shown with each message of a page.
CREATE INDEX message_feedbacks_message_idx ON message_feedbacks (message_id);
-- Deleting a conversation's feedback.
CREATE INDEX message_feedbacks_conversation_idx ON message_feedbacks (conversation_id);

CREATE TABLE workflow_conversation_variables (
	-- The variable's id in the workflow: not unique across conversations.
	id              text NOT NULL,
	conversation_id uuid NOT NULL,
	app_id          text NOT NULL,
	name            text NOT NULL DEFAULT '',
	value_type      text NOT NULL DEFAULT '',
	description     text NOT NULL DEFAULT '',
	-- Dify keeps the whole variable as JSON in data; here its fields are
	-- columns and value its JSON value.
	value           jsonb,
	created_at      timestamptz NOT NULL,
	updated_at      timestamptz NOT NULL,
	seq             bigint NOT NULL,
	PRIMARY KEY (conversation_id, id)
);
-- GET /conversations/{id}/variables and a turn's variables, by creation.
CREATE INDEX workflow_conversation_variables_created_idx ON workflow_conversation_variables (conversation_id, created_at, id);
