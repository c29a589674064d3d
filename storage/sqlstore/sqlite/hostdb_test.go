package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore/sqlite"
)

// A host's *sql.DB without the settings concurrent writers need is refused
// with sqlstore.ErrSQLiteSettings naming each missing one; WAL, which lives in
// the file, is switched on instead.
func TestOpenDBChecksSettings(t *testing.T) {
	ctx := t.Context()
	open := func(dsn string) *sql.DB {
		db, err := sql.Open("sqlite", dsn)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	dir := t.TempDir()

	plain := open(filepath.Join(dir, "plain.db"))
	_, err := sqlite.OpenDB(ctx, plain)
	require.ErrorIs(t, err, sqlstore.ErrSQLiteSettings)
	require.Contains(t, err.Error(), "busy_timeout is 0")
	require.Contains(t, err.Error(), "transactions begin DEFERRED")
	require.Contains(t, err.Error(), "sqlite.DSN(path)")
	require.NotContains(t, err.Error(), "journal_mode is")
	var mode string
	require.NoError(t, plain.QueryRow("PRAGMA journal_mode").Scan(&mode))
	require.Equal(t, "wal", mode, "WAL is stored in the file: switched on")

	timeoutOnly := open("file:" + filepath.Join(dir, "timeout.db") + "?_pragma=busy_timeout(5000)")
	_, err = sqlite.OpenDB(ctx, timeoutOnly)
	require.ErrorIs(t, err, sqlstore.ErrSQLiteSettings)
	require.NotContains(t, err.Error(), "busy_timeout is 0")
	require.Contains(t, err.Error(), "transactions begin DEFERRED")

	shared := open("file:shared?mode=memory&cache=shared")
	shared.SetMaxOpenConns(2)
	_, err = sqlite.OpenDB(ctx, shared)
	require.ErrorIs(t, err, sqlstore.ErrSQLiteSettings)
	require.Contains(t, err.Error(), "SetMaxOpenConns(1)")

	memory := open(":memory:")
	memory.SetMaxOpenConns(1)
	s, err := sqlite.OpenDB(ctx, memory)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	good := open(sqlite.DSN(filepath.Join(dir, "good.db")))
	s, err = sqlite.OpenDB(ctx, good)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, good.Ping(), "Close leaves the host's database open")
}

// The documented host path: the host opens its database with sqlite.DSN, owns
// its tables and transactions, and calls AfterActionTx in them, while other
// requests write the host's tables in transactions of their own and the
// engine's workers run the queued executions. No write fails with SQLITE_BUSY.
func TestHostDBConcurrentWrites(t *testing.T) {
	ctx := t.Context()
	db, err := sql.Open("sqlite", sqlite.DSN(filepath.Join(t.TempDir(), "host.db")))
	require.NoError(t, err)
	defer db.Close()
	for _, ddl := range []string{
		`CREATE TABLE expenses (id INTEGER PRIMARY KEY, title TEXT, amount REAL)`,
		`CREATE TABLE host_log (id INTEGER PRIMARY KEY, line TEXT)`,
	} {
		_, err := db.ExecContext(ctx, ddl)
		require.NoError(t, err)
	}
	st, err := sqlite.OpenDB(ctx, db)
	require.NoError(t, err)
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{Store: st, Collections: []flow.Collection{
		{Name: "expenses", Fields: []flow.Field{
			{Name: "id", Type: flow.FieldInteger}, {Name: "title", Type: flow.FieldString}, {Name: "amount", Type: flow.FieldNumber},
		}},
		{Name: "audit", Fields: []flow.Field{{Name: "id", Type: flow.FieldInteger}, {Name: "line", Type: flow.FieldString}}},
	}})
	require.NoError(t, err)
	_, err = eng.SaveWorkflow(ctx, flow.Workflow{
		Key: "audit", Enabled: true, Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{{Key: "log", Type: "create", Config: map[string]any{
			"collection": "audit", "params": map[string]any{"values": map[string]any{"line": "filed {{$context.data.title}}"}},
		}}},
	})
	require.NoError(t, err)
	require.NoError(t, eng.Start(ctx))
	defer func() { _ = eng.Stop(context.Background()) }()

	const goroutines, writes = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*writes)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range writes {
				title := fmt.Sprintf("g%d-%d", g, i)
				if i%2 == 0 {
					errs <- hostWrite(ctx, db, title)
					continue
				}
				errs <- hostAction(ctx, db, eng, title)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	actions := goroutines * writes / 2
	var logged int
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM host_log`).Scan(&logged))
	require.Equal(t, goroutines*writes-actions, logged)
	deadline := time.Now().Add(60 * time.Second)
	for {
		done, err := eng.Store().ListExecutions(ctx, storage.ExecutionFilter{Statuses: []flow.ExecutionStatus{flow.ExecutionResolved}})
		require.NoError(t, err)
		if len(done) == actions {
			break
		}
		require.True(t, time.Now().Before(deadline), "%d of %d executions resolved", len(done), actions)
		time.Sleep(20 * time.Millisecond)
	}
	audit, err := st.ListRecords(ctx, "audit", nil, nil)
	require.NoError(t, err)
	require.Len(t, audit, actions)
	for _, r := range audit {
		require.True(t, strings.HasPrefix(r["line"].(string), "filed g"), r["line"])
	}
}

// hostWrite is a request that writes only the host's own table.
func hostWrite(ctx context.Context, db *sql.DB, line string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("host write %s: begin: %w", line, err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `INSERT INTO host_log (line) VALUES (?)`, line); err != nil {
		return fmt.Errorf("host write %s: %w", line, err)
	}
	return tx.Commit()
}

// hostAction is a request that writes an expense and triggers its workflows
// in the same transaction.
func hostAction(ctx context.Context, db *sql.DB, eng *actiontrigger.Engine, title string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("action %s: begin: %w", title, err)
	}
	defer func() { _ = tx.Rollback() }()
	// A request reads before it writes (here: a duplicate check), which a
	// DEFERRED transaction cannot do safely next to other writers.
	var dup int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM expenses WHERE title = ?`, title).Scan(&dup); err != nil || dup != 0 {
		return fmt.Errorf("action %s: check: %d, %w", title, dup, err)
	}
	var id int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO expenses (title, amount) VALUES (?, ?) RETURNING id`, title, 12.5).Scan(&id); err != nil {
		return fmt.Errorf("action %s: insert: %w", title, err)
	}
	res, err := eng.AfterActionTx(ctx, tx, actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "audit"},
		flow.Record{"id": id, "title": title, "amount": 12.5}, actiontrigger.User{ID: 1})
	if err != nil {
		return fmt.Errorf("action %s: %w", title, err)
	}
	if len(res.Executions) != 1 {
		return fmt.Errorf("action %s: %d executions queued, want 1", title, len(res.Executions))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("action %s: commit: %w", title, err)
	}
	eng.Notify()
	return nil
}
