-- Apps and their API keys, for the sync and async modes (the memory mode
-- keeps them in process). Keys are stored only as their SHA-256 digest:
-- a request's bearer token is hashed and looked up by key_hash.
CREATE TABLE apps (
	id          text PRIMARY KEY,
	tenant_id   text NOT NULL DEFAULT '',
	name        text NOT NULL,
	mode        text NOT NULL DEFAULT 'workflow',
	description text NOT NULL DEFAULT '',
	-- The workflow DSL (YAML) as imported.
	dsl         text NOT NULL,
	created_at  timestamptz NOT NULL DEFAULT now(),
	updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
	id           uuid PRIMARY KEY,
	app_id       text NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
	-- sha256 of the whole key ("app-..."), 32 bytes.
	key_hash     bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
	-- A short prefix of the key, to show which key is which.
	key_prefix   text NOT NULL DEFAULT '',
	created_at   timestamptz NOT NULL DEFAULT now(),
	last_used_at timestamptz
);
CREATE INDEX api_keys_app_idx ON api_keys (app_id);
