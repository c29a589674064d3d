package postgres_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore/postgres"
)

// The store keeps the row count of the tables it created, whoever writes
// them (the host's own SQL included), and counts a host's table with
// COUNT(*). A table created before schema 5 gets its count at the next
// declaration.
func TestRowCounts(t *testing.T) {
	ctx := t.Context()
	testDSN(t)
	dsn := freshSchema(t)
	s := pgStoreAt(t, dsn)
	db := s.DB()
	_, err := db.ExecContext(ctx, `CREATE TABLE hostitems (id BIGINT PRIMARY KEY, title TEXT)`)
	require.NoError(t, err)
	no := false
	cs := []flow.Collection{
		{Name: "items", Fields: []flow.Field{{Name: "id", Type: flow.FieldInteger}, {Name: "title", Type: flow.FieldString}}},
		{Name: "hostitems", AutoID: &no, Fields: []flow.Field{{Name: "id", Type: flow.FieldInteger}, {Name: "title", Type: flow.FieldString}}},
	}
	require.NoError(t, s.DeclareCollections(ctx, cs))
	total := func(c string) int {
		t.Helper()
		_, n, err := s.ListRecordsPage(ctx, c, storage.ListQuery{Limit: 1}, nil)
		require.NoError(t, err)
		return n
	}
	for i := 0; i < 5; i++ {
		_, err := s.CreateRecord(ctx, "items", flow.Record{"title": "x"})
		require.NoError(t, err)
	}
	require.Equal(t, 5, total("items"))
	_, err = db.ExecContext(ctx, `INSERT INTO items (title) VALUES ('a'), ('b')`)
	require.NoError(t, err)
	require.Equal(t, 7, total("items"), "the host's own inserts are counted")
	_, err = db.ExecContext(ctx, `DELETE FROM items WHERE title = 'a'`)
	require.NoError(t, err)
	require.Equal(t, 6, total("items"), "and its deletes")
	// The page reads the kept count, not the table (what makes it cost the
	// page): a count set by hand shows through. A filtered page counts.
	_, err = db.ExecContext(ctx, `INSERT INTO actiontrigger_row_counts (table_name, shard, n) VALUES ('items', -1, 1000)`)
	require.NoError(t, err)
	require.Equal(t, 1006, total("items"))
	_, n, err := s.ListRecordsPage(ctx, "items", storage.ListQuery{Limit: 1, Filter: storage.Filter{"title": "x"}}, nil)
	require.NoError(t, err)
	require.Equal(t, 5, n)
	_, err = db.ExecContext(ctx, `DELETE FROM actiontrigger_row_counts WHERE table_name = 'items' AND shard = -1`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO hostitems (id, title) VALUES (1, 'a'), (2, 'b')`)
	require.NoError(t, err)
	require.Equal(t, 2, total("hostitems"), "a host table is counted with COUNT(*)")
	var triggers int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid WHERE c.relname = 'hostitems' AND NOT g.tgisinternal`).Scan(&triggers))
	require.Zero(t, triggers, "no trigger on a table the store did not create")

	// As if the table predated schema 5: no triggers, not counted.
	for _, stmt := range []string{
		`DROP TRIGGER actiontrigger_count_ins ON items`, `DROP TRIGGER actiontrigger_count_del ON items`, `DROP TRIGGER actiontrigger_count_trunc ON items`,
		`DELETE FROM actiontrigger_row_counts`, `UPDATE actiontrigger_owned_tables SET counted = false`,
	} {
		_, err = db.ExecContext(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	_, err = db.ExecContext(ctx, `INSERT INTO items (title) VALUES ('c')`)
	require.NoError(t, err)
	s2 := pgStoreAt(t, dsn)
	require.NoError(t, s2.DeclareCollections(ctx, cs))
	_, n, err = s2.ListRecordsPage(ctx, "items", storage.ListQuery{Limit: 1}, nil)
	require.NoError(t, err)
	require.Equal(t, 7, n, "counted again at the next declaration")
	_, err = db.ExecContext(ctx, `INSERT INTO items (title) VALUES ('d')`)
	require.NoError(t, err)
	_, n, err = s2.ListRecordsPage(ctx, "items", storage.ListQuery{Limit: 1}, nil)
	require.NoError(t, err)
	require.Equal(t, 8, n)

	// Each session counts in a row of its own; writers fold other sessions'
	// rows now and then, and the sum stays exact.
	for i := 0; i < 400; i++ {
		_, err = db.ExecContext(ctx, `INSERT INTO items (title) VALUES ('e')`)
		require.NoError(t, err)
	}
	_, n, err = s2.ListRecordsPage(ctx, "items", storage.ListQuery{Limit: 1}, nil)
	require.NoError(t, err)
	require.Equal(t, 408, n)
	var shards int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT COUNT(*) FROM actiontrigger_row_counts WHERE table_name = 'items'`).Scan(&shards))
	require.Less(t, shards, 10, "a row per session, not per insert")

	// Concurrent transactions writing two counted tables in opposite
	// orders neither wait on a shared counter row nor deadlock, and the
	// counts stay exact.
	cs2 := append(cs, flow.Collection{Name: "others", Fields: []flow.Field{{Name: "id", Type: flow.FieldInteger}, {Name: "title", Type: flow.FieldString}}})
	require.NoError(t, s2.DeclareCollections(ctx, cs2))
	concurrentTxs(t, db, 16, 25, func(g, i int) []string {
		first, second := "items", "others"
		if (g+i)%2 == 1 {
			first, second = second, first
		}
		return []string{`INSERT INTO ` + first + ` (title) VALUES ('z')`, `INSERT INTO ` + second + ` (title) VALUES ('z')`}
	})
	_, n, err = s2.ListRecordsPage(ctx, "items", storage.ListQuery{Limit: 1}, nil)
	require.NoError(t, err)
	require.Equal(t, 408+400, n)
	_, n, err = s2.ListRecordsPage(ctx, "others", storage.ListQuery{Limit: 1}, nil)
	require.NoError(t, err)
	require.Equal(t, 400, n)
}

func pgStoreAt(t *testing.T, dsn string) *sqlstore.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Writers that fold at every statement (actiontrigger.count_fold_rate = 1)
// never deadlock: schema 5 let two folding writers delete each other's row
// and then wait for each other to write their own (40P01 within a few
// hundred transactions here). Sessions come and go (short-lived
// connections), so there are dead sessions' rows to fold, and the counts
// stay exact.
func TestRowCountFoldsDoNotDeadlock(t *testing.T) {
	ctx := t.Context()
	testDSN(t)
	dsn := freshSchema(t)
	s := pgStoreAt(t, dsn)
	cs := []flow.Collection{
		{Name: "items", Fields: []flow.Field{{Name: "id", Type: flow.FieldInteger}, {Name: "title", Type: flow.FieldString}}},
		{Name: "others", Fields: []flow.Field{{Name: "id", Type: flow.FieldInteger}, {Name: "title", Type: flow.FieldString}}},
	}
	require.NoError(t, s.DeclareCollections(ctx, cs))
	db := s.DB()
	db.SetMaxOpenConns(16)
	db.SetConnMaxLifetime(50 * time.Millisecond) // sessions die and leave rows to fold
	// A row of a session that no longer exists (no backend has pid -1):
	// the first fold takes it into the folding writer's row.
	_, err := db.ExecContext(ctx, `INSERT INTO actiontrigger_row_counts (table_name, shard, n) VALUES ('items', -1, 1000)`)
	require.NoError(t, err)
	const goroutines, txs = 16, 40
	concurrentTxs(t, db, goroutines, txs, func(g, i int) []string {
		stmts := []string{`SET LOCAL actiontrigger.count_fold_rate = '1'`,
			`INSERT INTO items (title) VALUES ('z')`, `INSERT INTO others (title) VALUES ('z'), ('y')`}
		if (g+i)%2 == 1 {
			stmts[1], stmts[2] = stmts[2], stmts[1]
		}
		return stmts
	})
	var gone int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT COUNT(*) FROM actiontrigger_row_counts WHERE shard = -1`).Scan(&gone))
	require.Zero(t, gone, "the dead session's row is folded")
	for c, want := range map[string]int{"items": 1000 + goroutines*txs, "others": 2 * goroutines * txs} {
		_, n, err := s.ListRecordsPage(ctx, c, storage.ListQuery{Limit: 1}, nil)
		require.NoError(t, err)
		require.Equal(t, want, n, c)
	}
	var dead, live int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT
		COUNT(*) FILTER (WHERE shard NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)),
		COUNT(*) FILTER (WHERE shard IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL))
		FROM actiontrigger_row_counts WHERE table_name = 'items'`).Scan(&dead, &live))
	require.LessOrEqual(t, live, 17, "a row per live session at most")
	t.Logf("rows of items: %d of live sessions, %d of dead ones not folded yet", live, dead)
}

// concurrentTxs runs txs transactions from each of goroutines goroutines
// at once, transaction i of goroutine g running the statements stmts(g, i),
// and fails the test with the first error.
func concurrentTxs(t *testing.T, db *sql.DB, goroutines, txs int, stmts func(g, i int) []string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < txs; i++ {
				if err := inTx(t.Context(), db, stmts(g, i)...); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// inTx runs stmts in one transaction of db and commits it.
func inTx(ctx context.Context, db *sql.DB, stmts ...string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// A mistyped actiontrigger.count_fold_rate never fails the host's write: the
// trigger falls back to its default rate, and the count stays exact.
func TestRowCountBadFoldRate(t *testing.T) {
	ctx := t.Context()
	testDSN(t)
	s := pgStoreAt(t, freshSchema(t))
	require.NoError(t, s.DeclareCollections(ctx, []flow.Collection{
		{Name: "items", Fields: []flow.Field{{Name: "id", Type: flow.FieldInteger}, {Name: "title", Type: flow.FieldString}}},
	}))
	for _, rate := range []string{"abc", "1e9", "-1", "", "0.5"} {
		require.NoError(t, inTx(ctx, s.DB(), `SET LOCAL actiontrigger.count_fold_rate = '`+rate+`'`, `INSERT INTO items (title) VALUES ('z')`), rate)
	}
	_, n, err := s.ListRecordsPage(ctx, "items", storage.ListQuery{Limit: 1}, nil)
	require.NoError(t, err)
	require.Equal(t, 5, n)
}
