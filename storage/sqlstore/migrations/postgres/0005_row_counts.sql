-- Row counts of the record tables the store created, kept by triggers
-- (installed by DeclareCollections on each such table, counted once they
-- are), so that an unfiltered list need not count its table. Writes through
-- the host's own SQL are counted too. Tables the store did not create are
-- never given triggers: their lists count with COUNT(*).
--
-- Each statement that inserts or deletes rows adds a row of its own (the
-- delta), so concurrent writers never wait on one counter row; the count is
-- the sum of a table's deltas. Now and then a writer folds them into one row,
-- under a try-lock so that only one folds at a time and nobody waits for it,
-- and only at READ COMMITTED (a fold at a stricter isolation could fail the
-- writer's transaction with a serialization error).
CREATE TABLE IF NOT EXISTS actiontrigger_row_counts (
	table_name TEXT NOT NULL,
	n BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS actiontrigger_row_counts_table ON actiontrigger_row_counts (table_name);
ALTER TABLE actiontrigger_owned_tables ADD COLUMN IF NOT EXISTS counted BOOLEAN NOT NULL DEFAULT false;
CREATE OR REPLACE FUNCTION actiontrigger_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	d BIGINT;
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		DELETE FROM actiontrigger_row_counts WHERE table_name = TG_TABLE_NAME;
		RETURN NULL;
	ELSIF TG_OP = 'INSERT' THEN
		SELECT count(*) INTO d FROM new_rows;
	ELSE
		SELECT -count(*) INTO d FROM old_rows;
	END IF;
	IF d <> 0 THEN
		INSERT INTO actiontrigger_row_counts (table_name, n) VALUES (TG_TABLE_NAME, d);
	END IF;
	IF random() < 0.02
		AND current_setting('transaction_isolation') = 'read committed'
		AND pg_try_advisory_xact_lock(1635017060, hashtext(TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME)) THEN
		WITH gone AS (DELETE FROM actiontrigger_row_counts WHERE table_name = TG_TABLE_NAME RETURNING n)
		INSERT INTO actiontrigger_row_counts (table_name, n) SELECT TG_TABLE_NAME, COALESCE(sum(n), 0) FROM gone;
	END IF;
	RETURN NULL;
END
$$;
