-- The record tables DeclareCollections created. The store alters only these
-- (adding the columns a later declaration needs); any other table is the
-- host's and is never altered. Tables that exist when this migration runs are
-- not recorded: the store cannot tell its own from the host's, so from now on
-- it treats them as the host's (Store.AdoptTables records one as the store's).
CREATE TABLE IF NOT EXISTS actiontrigger_owned_tables (
	table_name TEXT PRIMARY KEY,
	collection TEXT NOT NULL,
	created_at BIGINT
);
