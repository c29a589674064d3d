package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore/sqlite"
	"github.com/actiontrigger/actiontrigger/storage/storagetest"
)

func fileStore(t testing.TB) *sqlstore.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "store.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var memN atomic.Int64

func memoryStore(t testing.TB) *sqlstore.Store {
	t.Helper()
	path := ":memory:"
	if memN.Add(1)%2 == 0 {
		path = "file:mem" + strconv.FormatInt(memN.Load(), 10) + "?mode=memory"
	}
	s, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformanceFile(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return fileStore(t) })
	storagetest.RunRecords(t, func(t *testing.T) storagetest.RecordsStore { return fileStore(t) })
}

func TestConformanceMemory(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return memoryStore(t) })
	storagetest.RunRecords(t, func(t *testing.T) storagetest.RecordsStore { return memoryStore(t) })
}

func BenchmarkFile(b *testing.B) {
	storagetest.Benchmark(b, func(b *testing.B) storage.Store { return fileStore(b) })
}

func BenchmarkMemory(b *testing.B) {
	storagetest.Benchmark(b, func(b *testing.B) storage.Store { return memoryStore(b) })
}

func TestDurable(t *testing.T) {
	require.True(t, memoryStore(t).Durable())
}

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "m.db")
	s := fileStore(t)
	require.NoError(t, s.Migrate(ctx))
	require.NoError(t, s.Migrate(ctx))

	// Two stores (two pools, as two processes would have) on a fresh file.
	db1, err := sql.Open("sqlite", sqlite.DSN(path))
	require.NoError(t, err)
	defer db1.Close()
	db2, err := sql.Open("sqlite", sqlite.DSN(path))
	require.NoError(t, err)
	defer db2.Close()
	s1, err := sqlstore.New(db1, sqlstore.SQLite)
	require.NoError(t, err)
	s2, err := sqlstore.New(db2, sqlstore.SQLite)
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, st := range []*sqlstore.Store{s1, s2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = st.Migrate(ctx)
		}()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	var n int
	require.NoError(t, db1.QueryRow("SELECT COUNT(*) FROM actiontrigger_schema_migrations").Scan(&n))
	require.Equal(t, s1.LatestSchemaVersion(), n)
}

func TestSchemaTooNew(t *testing.T) {
	s := fileStore(t)
	_, err := s.DB().Exec("INSERT INTO actiontrigger_schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)")
	require.NoError(t, err)
	err = s.Migrate(t.Context())
	require.Error(t, err)
	require.True(t, errors.Is(err, sqlstore.ErrSchemaTooNew), err)
}

func TestMappedHostTable(t *testing.T) {
	s := fileStore(t)
	ctx := t.Context()
	_, err := s.DB().Exec(`CREATE TABLE host_articles (article_id INTEGER PRIMARY KEY, headline TEXT)`)
	require.NoError(t, err)
	mapped := flow.Collection{
		Name:       "articles",
		Table:      "host_articles",
		PrimaryKey: []string{"id"},
		Fields: []flow.Field{
			{Name: "id", Type: flow.FieldInteger, Column: "article_id"},
			{Name: "title", Type: flow.FieldString, Column: "headline"},
		},
	}
	require.NoError(t, s.DeclareCollections(ctx, []flow.Collection{mapped}))
	r, err := s.CreateRecord(ctx, "articles", flow.Record{"title": "hello"})
	require.NoError(t, err)
	require.Equal(t, int64(1), r["id"])
	var headline string
	require.NoError(t, s.DB().QueryRow(`SELECT headline FROM host_articles WHERE article_id = 1`).Scan(&headline))
	require.Equal(t, "hello", headline)

	bad := mapped
	bad.Fields = append(append([]flow.Field(nil), mapped.Fields...), flow.Field{Name: "body", Type: flow.FieldText})
	err = s.DeclareCollections(ctx, []flow.Collection{bad})
	require.Error(t, err)
	require.Contains(t, err.Error(), `"host_articles"`)
	require.Contains(t, err.Error(), `"body"`)

	invalid := flow.Collection{Name: "x; DROP TABLE y", Fields: []flow.Field{{Name: "a", Type: flow.FieldString}}}
	require.Error(t, s.DeclareCollections(ctx, []flow.Collection{invalid}))
}

func TestBadPath(t *testing.T) {
	_, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "missing-dir", "sub", "x.db"))
	require.Error(t, err)
	require.Contains(t, err.Error(), "x.db")
}

func TestBindHostTx(t *testing.T) {
	s := fileStore(t)
	ctx := t.Context()
	require.NoError(t, s.DeclareCollections(ctx, storagetest.Collections()))
	for _, commit := range []bool{false, true} {
		tx, err := s.DB().BeginTx(ctx, nil)
		require.NoError(t, err)
		bound := s.BindTx(tx)
		var created flow.Record
		err = bound.InTx(ctx, func(ctx context.Context, in storage.Store) error {
			created, err = in.(storage.RecordStore).CreateRecord(ctx, "posts", flow.Record{"title": "host tx"})
			return err
		})
		require.NoError(t, err)
		if commit {
			require.NoError(t, tx.Commit())
			_, err = s.GetRecord(ctx, "posts", flow.Record{"id": created["id"]}, nil)
			require.NoError(t, err)
		} else {
			require.NoError(t, tx.Rollback())
			_, err = s.GetRecord(ctx, "posts", flow.Record{"id": created["id"]}, nil)
			require.True(t, errors.Is(err, flow.ErrNotFound), err)
		}
	}
}

func TestRedeclareAddsColumns(t *testing.T) {
	s := fileStore(t)
	ctx := t.Context()
	cs := storagetest.Collections()
	require.NoError(t, s.DeclareCollections(ctx, cs))
	create := func(values flow.Record) flow.Record {
		r, err := s.CreateRecord(ctx, "posts", values)
		require.NoError(t, err)
		return r
	}
	create(flow.Record{"title": "before"})
	for i := range cs {
		if cs[i].Name == "posts" {
			cs[i].Fields = append(cs[i].Fields, flow.Field{Name: "meta", Type: flow.FieldJSON})
		}
	}
	require.NoError(t, s.DeclareCollections(ctx, cs))
	r := create(flow.Record{"title": "after", "meta": map[string]any{"a": []any{1.0, "x"}}})
	got, err := s.GetRecord(ctx, "posts", flow.Record{"id": r["id"]}, nil)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"a": []any{1.0, "x"}}, got["meta"])
}

// TestMigrateKeepsCounts upgrades a database of schema 1, whose counters were
// columns, and checks its counts survive and keep counting.
func TestMigrateKeepsCounts(t *testing.T) {
	ctx := t.Context()
	db, err := sql.Open("sqlite", sqlite.DSN(filepath.Join(t.TempDir(), "v1.db")))
	require.NoError(t, err)
	defer db.Close()
	v1, err := os.ReadFile("../migrations/sqlite/0001_init.sql")
	require.NoError(t, err)
	for _, stmt := range strings.Split(string(v1), ";\n") {
		if strings.TrimSpace(stmt) != "" {
			_, err := db.Exec(stmt)
			require.NoError(t, err, stmt)
		}
	}
	for _, stmt := range []string{
		"CREATE TABLE actiontrigger_schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
		"INSERT INTO actiontrigger_schema_migrations VALUES (1, '0001_init.sql', 0)",
		`INSERT INTO actiontrigger_workflows (id, wf_key, is_current, config, options, nodes, version, executed)
			VALUES ('old', 'k', 0, '{}', '{}', '[]', 1, 2), ('cur', 'k', 1, '{}', '{}', '[]', 2, 5), ('idle', 'i', 1, '{}', '{}', '[]', 1, 0)`,
		"INSERT INTO actiontrigger_workflow_key_counters VALUES ('k', 7)",
	} {
		_, err := db.Exec(stmt)
		require.NoError(t, err, stmt)
	}
	s, err := sqlstore.New(db, sqlstore.SQLite)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx))
	require.NoError(t, s.Migrate(ctx))
	requireCounts := func(id string, executed, all int64) {
		t.Helper()
		w, err := s.GetWorkflow(ctx, id)
		require.NoError(t, err)
		require.Equal(t, []int64{executed, all}, []int64{w.Executed, w.AllExecuted}, id)
	}
	requireCounts("old", 2, 7)
	requireCounts("cur", 5, 7)
	requireCounts("idle", 0, 0)
	require.NoError(t, s.InsertExecution(ctx, &flow.Execution{ID: "e1", WorkflowID: "cur", Key: "k"}))
	requireCounts("cur", 6, 8)
	requireCounts("old", 2, 8)
}

// Processes starting together on a new file all come up: each opens its own
// pool, migrates and declares the same collections at once.
func TestConcurrentStartOnFreshDatabase(t *testing.T) {
	for round := range 3 {
		path := filepath.Join(t.TempDir(), "fresh"+strconv.Itoa(round)+".db")
		const n = 6
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := sqlite.Open(t.Context(), path)
				if err != nil {
					errs[i] = err
					return
				}
				defer s.Close()
				errs[i] = s.DeclareCollections(t.Context(), storagetest.Collections())
			}()
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "round %d, process %d", round, i)
		}
		s, err := sqlite.Open(t.Context(), path)
		require.NoError(t, err)
		require.NoError(t, s.DeclareCollections(t.Context(), storagetest.Collections()))
		_, err = s.CreateRecord(t.Context(), "posts", flow.Record{"title": "up"})
		require.NoError(t, err)
		require.NoError(t, s.Close())
	}
}

// With sqlstore.WithoutMigrate, opening a store checks the schema instead of
// migrating: an unmigrated database is refused with ErrSchemaOutdated, one
// migrated separately opens.
func TestOpenWithoutMigrate(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "separate.db")
	_, err := sqlite.Open(ctx, path, sqlstore.WithoutMigrate())
	require.ErrorIs(t, err, sqlstore.ErrSchemaOutdated)
	s, err := sqlite.Open(ctx, path) // the migration step
	require.NoError(t, err)
	v, err := s.SchemaVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, s.LatestSchemaVersion(), v)
	require.NoError(t, s.Close())
	s, err = sqlite.Open(ctx, path, sqlstore.WithoutMigrate())
	require.NoError(t, err)
	require.NoError(t, s.DeclareCollections(ctx, storagetest.Collections()))
	require.NoError(t, s.Close())
}

// TestMigrateAddsTimersAndRetries upgrades a database of schema 3: its
// executions and jobs read back without a timer or retries and stay
// claimable, and take RunAfter, Attempts and Snoozes from then on.
func TestMigrateAddsTimersAndRetries(t *testing.T) {
	ctx := t.Context()
	db, err := sql.Open("sqlite", sqlite.DSN(filepath.Join(t.TempDir(), "v3.db")))
	require.NoError(t, err)
	defer db.Close()
	stmts := []string{"CREATE TABLE actiontrigger_schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"}
	for v, name := range []string{"0001_init.sql", "0002_counter_shards.sql", "0003_owned_tables.sql"} {
		src, err := os.ReadFile("../migrations/sqlite/" + name)
		require.NoError(t, err)
		stmts = append(stmts, strings.Split(string(src), ";\n")...)
		stmts = append(stmts, fmt.Sprintf("INSERT INTO actiontrigger_schema_migrations VALUES (%d, '%s', 0)", v+1, name))
	}
	stmts = append(stmts,
		`INSERT INTO actiontrigger_workflows (id, wf_key, is_current, config, options, nodes, version) VALUES ('w', 'k', TRUE, '{}', '{}', '[]', 1)`,
		fmt.Sprintf(`INSERT INTO actiontrigger_executions (id, workflow_id, wf_key, status, runnable, created_at)
			VALUES ('queued', 'w', 'k', %d, TRUE, 1000), ('done', 'w', 'k', %d, FALSE, 2000)`, flow.ExecutionQueueing, flow.ExecutionResolved),
		fmt.Sprintf(`INSERT INTO actiontrigger_jobs (id, execution_id, node_key, node_type, seq, status, created_at)
			VALUES ('job', 'done', 'n', 'echo', 1, %d, 3000)`, flow.JobResolved))
	for _, stmt := range stmts {
		if strings.TrimSpace(stmt) != "" {
			_, err := db.Exec(stmt)
			require.NoError(t, err, stmt)
		}
	}
	s, err := sqlstore.New(db, sqlstore.SQLite)
	require.NoError(t, err)
	v, err := s.SchemaVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, v)
	require.NoError(t, s.Migrate(ctx))
	v, err = s.SchemaVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, s.LatestSchemaVersion(), v)

	var indexes []string
	rows, err := db.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'actiontrigger_executions' AND sql IS NOT NULL ORDER BY name")
	require.NoError(t, err)
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		indexes = append(indexes, name)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"actiontrigger_executions_event", "actiontrigger_executions_key", "actiontrigger_executions_ready",
		"actiontrigger_executions_timers", "actiontrigger_executions_workflow"}, indexes)

	checkUpgradedTimers(t, s)
}

// checkUpgradedTimers checks the rows written at schema 3 and the new fields
// on them.
func checkUpgradedTimers(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	e, err := s.GetExecution(ctx, "queued")
	require.NoError(t, err)
	require.True(t, e.RunAfter.IsZero())
	j, err := s.GetJob(ctx, "job")
	require.NoError(t, err)
	require.Nil(t, j.Attempts)
	require.Zero(t, j.Snoozes)

	now := time.UnixMicro(5000).UTC()
	claimed, err := s.ClaimExecutions(ctx, storage.ClaimParams{Owner: "A", Limit: 5, Now: now, LeaseUntil: now.Add(time.Minute)})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.Equal(t, "queued", claimed[0].ID)

	u := claimed[0].Clone()
	u.LeaseOwner, u.LeaseUntil = "", time.Time{}
	u.RunAfter = time.UnixMicro(9_000_001).UTC()
	require.NoError(t, s.UpdateExecution(ctx, u, storage.ExecutionExpect{Status: flow.ExecutionQueueing, LeaseOwner: "A"}))
	claimed, err = s.ClaimExecutions(ctx, storage.ClaimParams{Owner: "B", Limit: 5, Now: now, LeaseUntil: now.Add(time.Minute)})
	require.NoError(t, err)
	require.Empty(t, claimed)
	claimed, err = s.ClaimExecutions(ctx, storage.ClaimParams{Owner: "B", Limit: 5, Now: u.RunAfter, LeaseUntil: u.RunAfter.Add(time.Minute)})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.Equal(t, u.RunAfter, claimed[0].RunAfter)

	j.Attempts = []flow.Attempt{{N: 1, Error: "boom", At: time.UnixMicro(4_000_001).UTC()}}
	j.Snoozes = 2
	require.NoError(t, s.UpdateJob(ctx, j, flow.JobResolved))
	got, err := s.GetJob(ctx, "job")
	require.NoError(t, err)
	require.Equal(t, j, got)
}

// Every connection of an opened store keeps its temporary files in memory:
// the savepoint journal of each unit of a group commit (and of every write
// under a savepoint) would otherwise be written to a temporary file, a write
// system call per page, under the write lock (docs/benchmarks.md).
func TestTempStoreInMemory(t *testing.T) {
	s := fileStore(t)
	db := s.DB()
	ctx := t.Context()
	// Hold every connection of the pool at once, so each one is checked.
	conns := make([]*sql.Conn, 0, 4)
	for range 4 {
		c, err := db.Conn(ctx)
		require.NoError(t, err)
		conns = append(conns, c)
	}
	for i, c := range conns {
		var mode int
		require.NoError(t, c.QueryRowContext(ctx, "PRAGMA temp_store").Scan(&mode))
		require.Equal(t, 2, mode, "connection %d: temp_store is %d, want 2 (MEMORY)", i, mode)
		require.NoError(t, c.Close())
	}
	require.Contains(t, sqlite.DSN("x.db"), "_pragma=temp_store(MEMORY)")
}
