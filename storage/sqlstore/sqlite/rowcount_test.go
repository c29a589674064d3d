package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore/sqlite"
)

// The store keeps the row count of the tables it created, whoever writes
// them (the host's own SQL included), and counts a host's table with
// COUNT(*). A table created before schema 5 gets its count at the next
// declaration.
func TestRowCounts(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "counts.db")
	s := fileStoreAt(t, path)
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
	_, err = db.ExecContext(ctx, `UPDATE actiontrigger_row_counts SET n = n + 1000 WHERE table_name = 'items'`)
	require.NoError(t, err)
	require.Equal(t, 1006, total("items"))
	_, n, err := s.ListRecordsPage(ctx, "items", storage.ListQuery{Limit: 1, Filter: storage.Filter{"title": "x"}}, nil)
	require.NoError(t, err)
	require.Equal(t, 5, n)
	_, err = db.ExecContext(ctx, `UPDATE actiontrigger_row_counts SET n = n - 1000 WHERE table_name = 'items'`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO hostitems (id, title) VALUES (1, 'a'), (2, 'b')`)
	require.NoError(t, err)
	require.Equal(t, 2, total("hostitems"), "a host table is counted with COUNT(*)")
	var triggers int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'hostitems'`).Scan(&triggers))
	require.Zero(t, triggers, "no trigger on a table the store did not create")

	// As if the table predated schema 5: no triggers, not counted.
	for _, stmt := range []string{
		`DROP TRIGGER "actiontrigger_count_ins_items"`, `DROP TRIGGER "actiontrigger_count_del_items"`,
		`DELETE FROM actiontrigger_row_counts`, `UPDATE actiontrigger_owned_tables SET counted = 0`,
	} {
		_, err = db.ExecContext(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	_, err = db.ExecContext(ctx, `INSERT INTO items (title) VALUES ('c')`)
	require.NoError(t, err)
	s2 := fileStoreAt(t, path)
	require.NoError(t, s2.DeclareCollections(ctx, cs))
	_, n, err = s2.ListRecordsPage(ctx, "items", storage.ListQuery{Limit: 1}, nil)
	require.NoError(t, err)
	require.Equal(t, 7, n, "counted again at the next declaration")
	_, err = db.ExecContext(ctx, `INSERT INTO items (title) VALUES ('d')`)
	require.NoError(t, err)
	_, n, err = s2.ListRecordsPage(ctx, "items", storage.ListQuery{Limit: 1}, nil)
	require.NoError(t, err)
	require.Equal(t, 8, n)
}

func fileStoreAt(t *testing.T, path string) *sqlstore.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// WithoutRowCounts leaves new tables without triggers; their lists count.
func TestWithoutRowCounts(t *testing.T) {
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "plain.db"), sqlstore.WithoutRowCounts())
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.DeclareCollections(ctx, []flow.Collection{{Name: "items", Fields: []flow.Field{{Name: "id", Type: flow.FieldInteger}, {Name: "title", Type: flow.FieldString}}}}))
	var triggers int
	require.NoError(t, s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'`).Scan(&triggers))
	require.Zero(t, triggers)
	_, err = s.DB().ExecContext(ctx, `INSERT INTO items (title) VALUES ('a'), ('b'), ('c')`)
	require.NoError(t, err)
	_, n, err := s.ListRecordsPage(ctx, "items", storage.ListQuery{Limit: 1}, nil)
	require.NoError(t, err)
	require.Equal(t, 3, n)
}
