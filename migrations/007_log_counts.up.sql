-- Exact list totals at any size: counts of the app logs of closed days.
--
-- Dify's runs list (GET /workflows/logs) returns the exact `total` of the
-- logs that match. Counting them reads every matching log: at 133,000 logs
-- of one app that took 150–200 ms, and with a `status` filter, which joins
-- every log to its run, about a second. The logs of a day that has ended
-- hardly change, so their counts are kept here, per app, day and run
-- status, and a total is the sum of the counts of the sealed days plus a
-- count of the logs of the days after them (see internal/repo/sql's
-- RunList and docs/persistence.md, "Exact totals").
--
-- workflow_log_counts_sealed.day is the horizon: every day up to it is
-- sealed, its counts complete in workflow_log_counts (a missing row is a
-- count of 0). The partition maintainer seals each day once it is well
-- past (flowrun_log_seal); a write of a run or log of a sealed day, which
-- happens only when a record arrives days late, recounts that app's day
-- in the same transaction (flowrun_log_recount). Both take the same
-- transaction-level advisory lock and count after taking it, so a count
-- always sees every write that the other committed before it. Retention
-- deletes the counts of the days it drops in the same transaction.

CREATE TABLE workflow_log_counts (
	app_id text   NOT NULL,
	day    date   NOT NULL,
	-- status is the run's status, '' for a log whose run is not written.
	status text   NOT NULL,
	n      bigint NOT NULL,
	PRIMARY KEY (app_id, day, status)
);

CREATE TABLE workflow_log_counts_sealed (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	day date
);
INSERT INTO workflow_log_counts_sealed (day) VALUES (NULL);

-- flowrun_log_counts_lock keys the advisory lock of count changes.
CREATE FUNCTION flowrun_log_counts_lock() RETURNS bigint
LANGUAGE sql STABLE AS $$ SELECT hashtextextended('flowrun.log_counts:' || current_schema(), 0) $$;

-- flowrun_log_seal seals the days after the horizon up to upto: it counts
-- their logs and moves the horizon there. With no horizon yet it seals
-- every day up to upto. It returns the number of count rows written.
CREATE FUNCTION flowrun_log_seal(upto date) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	h date;
	written bigint;
BEGIN
	PERFORM pg_advisory_xact_lock(flowrun_log_counts_lock());
	SELECT day INTO h FROM workflow_log_counts_sealed;
	IF h >= upto THEN
		RETURN 0;
	END IF;
	INSERT INTO workflow_log_counts (app_id, day, status, n)
	SELECT l.app_id, l.day, coalesce(r.status, ''), count(*)
	FROM workflow_app_logs l
	LEFT JOIN workflow_runs r ON r.id = l.workflow_run_id AND r.day = l.day AND r.app_id = l.app_id
	WHERE l.day <= upto AND (h IS NULL OR l.day > h)
	GROUP BY 1, 2, 3
	ON CONFLICT (app_id, day, status) DO UPDATE SET n = excluded.n;
	GET DIAGNOSTICS written = ROW_COUNT;
	UPDATE workflow_log_counts_sealed SET day = upto;
	RETURN written;
END
$$;

-- flowrun_log_recount counts again the logs of each (apps[i], days[i])
-- whose day is sealed; the others are counted when they are read.
CREATE FUNCTION flowrun_log_recount(apps text[], days date[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	h date;
	a text;
	d date;
BEGIN
	PERFORM pg_advisory_xact_lock(flowrun_log_counts_lock());
	SELECT day INTO h FROM workflow_log_counts_sealed;
	IF h IS NULL THEN
		RETURN;
	END IF;
	FOR a, d IN SELECT DISTINCT x.a, x.d FROM unnest(apps, days) AS x (a, d) WHERE x.d <= h ORDER BY 1, 2 LOOP
		DELETE FROM workflow_log_counts c WHERE c.app_id = a AND c.day = d;
		INSERT INTO workflow_log_counts (app_id, day, status, n)
		SELECT a, d, coalesce(r.status, ''), count(*)
		FROM workflow_app_logs l
		LEFT JOIN workflow_runs r ON r.id = l.workflow_run_id AND r.day = l.day AND r.app_id = l.app_id
		WHERE l.app_id = a AND l.day = d
		GROUP BY 3;
	END LOOP;
END
$$;

-- The console's conversations of an app, newest first (per user, the
-- indexes of 005 serve GET /conversations).
CREATE INDEX conversations_app_updated_idx ON conversations (app_id, updated_at DESC, id DESC)
	WHERE NOT is_deleted AND NOT pending;
