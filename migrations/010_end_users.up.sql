-- Dify's end_users, reduced to what GET /end-users/{id} answers: one row
-- per (app, user), its id the UUIDv5 that every record's created_by
-- carries (internal/record.EndUserID). Written with the app logs, so any
-- replica, and any process after a restart, finds the users another saw.
-- Rows outlive retention, as Dify's end_users do.
CREATE TABLE end_users (
	id         uuid PRIMARY KEY,
	app_id     text NOT NULL,
	session_id text NOT NULL,
	created_at timestamptz NOT NULL
);
