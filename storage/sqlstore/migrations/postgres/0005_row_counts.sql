-- Row counts of the record tables the store created, kept by triggers
-- (installed by DeclareCollections on each such table, counted once they
-- are), so that an unfiltered list need not count its table. Writes through
-- the host's own SQL are counted too. Tables the store did not create are
-- never given triggers: their lists count with COUNT(*).
--
-- Each database session counts in a row of its own (shard = its backend
-- pid, unique among the sessions alive), so concurrent writers never wait
-- on one counter row and cannot deadlock on them; the count is the sum of a
-- table's rows. Now and then a writer folds the rows of other sessions into
-- its own, skipping any row a transaction in flight holds (SKIP LOCKED: it
-- waits for nobody), and only at READ COMMITTED (a fold at a stricter
-- isolation could fail the writer's transaction with a serialization error).
CREATE TABLE IF NOT EXISTS actiontrigger_row_counts (
	table_name TEXT NOT NULL,
	shard INTEGER NOT NULL,
	n BIGINT NOT NULL,
	PRIMARY KEY (table_name, shard)
);
ALTER TABLE actiontrigger_owned_tables ADD COLUMN IF NOT EXISTS counted BOOLEAN NOT NULL DEFAULT false;
-- The function keeps the search_path of the migration (the store's schema),
-- since the host's own sessions writing the tables may have another one.
CREATE OR REPLACE FUNCTION actiontrigger_count_rows() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
	d BIGINT;
	folded BIGINT;
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		DELETE FROM actiontrigger_row_counts WHERE table_name = TG_TABLE_NAME;
		RETURN NULL;
	ELSIF TG_OP = 'INSERT' THEN
		SELECT count(*) INTO d FROM new_rows;
	ELSE
		SELECT -count(*) INTO d FROM old_rows;
	END IF;
	IF random() < 0.01 AND current_setting('transaction_isolation') = 'read committed' THEN
		WITH mine AS (
			SELECT shard FROM actiontrigger_row_counts
			WHERE table_name = TG_TABLE_NAME AND shard <> pg_backend_pid()
			FOR UPDATE SKIP LOCKED
		), gone AS (
			DELETE FROM actiontrigger_row_counts c USING mine
			WHERE c.table_name = TG_TABLE_NAME AND c.shard = mine.shard
			RETURNING c.n
		)
		SELECT COALESCE(sum(n), 0) INTO folded FROM gone;
		d := d + folded;
	END IF;
	IF d <> 0 THEN
		INSERT INTO actiontrigger_row_counts AS c (table_name, shard, n) VALUES (TG_TABLE_NAME, pg_backend_pid(), d)
		ON CONFLICT (table_name, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
	END IF;
	RETURN NULL;
END
$$;
