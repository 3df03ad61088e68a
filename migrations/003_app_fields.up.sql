-- The app fields that 002 lacks: the workflow id (POST
-- /workflows/{workflow_id}/run must name it) and the GET /info fields. Plus
-- apps_seed, which records that the apps table was seeded from APPS_DIR (see
-- app.Postgres.SeedFrom), so the examples are imported once and do not come
-- back after every app has been deleted.
ALTER TABLE apps
	-- Rows written before this migration get a workflow id of their own
	-- (gen_random_uuid is volatile, so it is evaluated per row); the
	-- default is dropped below, so new rows must name one.
	ADD COLUMN workflow_id text NOT NULL DEFAULT gen_random_uuid()::text,
	ADD COLUMN tags        text[] NOT NULL DEFAULT '{}',
	ADD COLUMN author_name text NOT NULL DEFAULT '';
ALTER TABLE apps ALTER COLUMN workflow_id DROP DEFAULT;

-- At most one row, written by the first seeding attempt.
CREATE TABLE apps_seed (
	id        boolean PRIMARY KEY DEFAULT true CHECK (id),
	-- How many apps were imported: 0 when the table already had apps.
	apps      integer NOT NULL,
	seeded_at timestamptz NOT NULL DEFAULT now()
);
