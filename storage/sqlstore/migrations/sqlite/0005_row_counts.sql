-- Row counts of the record tables the store created, kept by triggers
-- (installed by DeclareCollections on each such table, counted = 1 once they
-- are), so that an unfiltered list need not count its table. Writes through
-- the host's own SQL are counted too. Tables the store did not create are
-- never given triggers: their lists count with COUNT(*).
CREATE TABLE IF NOT EXISTS actiontrigger_row_counts (
	table_name TEXT PRIMARY KEY,
	n INTEGER NOT NULL
);
ALTER TABLE actiontrigger_owned_tables ADD COLUMN counted INTEGER NOT NULL DEFAULT 0;
