-- Files uploaded through POST /files/upload (sync and async modes), so
-- that every replica reads a file uploaded to any other. A file's bytes
-- are stored in chunks of at most 1 MiB (upload_chunks, seq from 0), so
-- an upload is written and read a chunk at a time, never whole. The
-- record and its chunks are written in one transaction: a reader never
-- sees half a file. Every lookup names the app (app_id): an app never
-- reads another app's upload.
CREATE TABLE uploads (
	id          uuid PRIMARY KEY,
	app_id      text NOT NULL,
	end_user_id text NOT NULL DEFAULT '',
	session_id  text NOT NULL DEFAULT '',
	name        text NOT NULL,
	extension   text NOT NULL DEFAULT '',
	mime_type   text NOT NULL DEFAULT '',
	size        bigint NOT NULL,
	created_at  timestamptz NOT NULL
);

-- Retention deletes by age.
CREATE INDEX uploads_created_at ON uploads (created_at);

CREATE TABLE upload_chunks (
	-- Deferred: Put writes the chunks as they arrive and the record, whose
	-- size is known only then, last, in the same transaction.
	upload_id uuid NOT NULL REFERENCES uploads (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
	seq       integer NOT NULL,
	data      bytea NOT NULL,
	PRIMARY KEY (upload_id, seq)
);
-- Chunks are already compressed or incompressible more often than not
-- (images, PDFs, office files): storing them as they are saves the CPU
-- TOAST would spend trying.
ALTER TABLE upload_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
