-- Row counts (schema 5) without deadlocks between folding writers.
--
-- Schema 5 let a writer fold the row of any other session whose row no
-- transaction held, before writing its own. Two writers folding at once
-- could each delete the other's row and then wait to write their own, each
-- behind the other's delete: a deadlock (SQLSTATE 40P01), seen at 16
-- concurrent requests. Now a writer writes (and so locks) its own row first,
-- and folds only the rows of sessions that no longer exist: a live session's
-- row is written by that session alone, so a fold never makes a writer wait,
-- and the rows of a table stay as many as the sessions that wrote it and are
-- alive, plus the dead ones not folded yet.
--
-- actiontrigger.count_fold_rate (a setting, 0.01 when unset or not a plain
-- decimal number, so that a mistyped value never fails the host's write) is
-- the share of statements that fold; tests set it to 1.
CREATE OR REPLACE FUNCTION actiontrigger_count_rows() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
	d BIGINT;
	folded BIGINT;
	fold BOOLEAN;
	rate TEXT;
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		DELETE FROM actiontrigger_row_counts WHERE table_name = TG_TABLE_NAME;
		RETURN NULL;
	ELSIF TG_OP = 'INSERT' THEN
		SELECT count(*) INTO d FROM new_rows;
	ELSE
		SELECT -count(*) INTO d FROM old_rows;
	END IF;
	rate := current_setting('actiontrigger.count_fold_rate', true);
	fold := random() < (CASE WHEN rate ~ '^[0-9]*\.?[0-9]+$' THEN rate::float8 ELSE 0.01 END)
		AND current_setting('transaction_isolation') = 'read committed';
	IF d = 0 AND NOT fold THEN
		RETURN NULL;
	END IF;
	INSERT INTO actiontrigger_row_counts AS c (table_name, shard, n) VALUES (TG_TABLE_NAME, pg_backend_pid(), d)
	ON CONFLICT (table_name, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
	IF fold THEN
		WITH dead AS (
			SELECT shard FROM actiontrigger_row_counts
			WHERE table_name = TG_TABLE_NAME
				AND shard NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)
			FOR UPDATE SKIP LOCKED
		), gone AS (
			DELETE FROM actiontrigger_row_counts c USING dead
			WHERE c.table_name = TG_TABLE_NAME AND c.shard = dead.shard
			RETURNING c.n
		)
		SELECT COALESCE(sum(n), 0) INTO folded FROM gone;
		IF folded <> 0 THEN
			UPDATE actiontrigger_row_counts SET n = n + folded
			WHERE table_name = TG_TABLE_NAME AND shard = pg_backend_pid();
		END IF;
	END IF;
	RETURN NULL;
END
$$;
