-- Slots of APP_MAX_ACTIVE_REQUESTS in sync mode, shared by the replicas
-- (package cluster/viapg). A slot lives until its run ends or, when its
-- replica dies, until expires_at, which the replica pushes forward every
-- third of the lease. UNLOGGED: the rows are worth nothing after a crash
-- of PostgreSQL (every run they counted is over), so they skip the WAL.
CREATE UNLOGGED TABLE active_requests (
	app_id      text NOT NULL,
	slot        text NOT NULL,
	instance_id text NOT NULL,
	expires_at  timestamptz NOT NULL,
	PRIMARY KEY (app_id, slot)
);
CREATE INDEX active_requests_instance_idx ON active_requests (instance_id);
